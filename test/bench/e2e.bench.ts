/**
 * Local end-to-end benchmark: the local stack (`bin/local.ts`, a child process) with
 * DEBOUNCE_MS=0 and the echo responder, driven over HTTP with signed webhooks.
 *
 * - load: 200 conversations × 5 messages, conversations concurrent, each posting its messages
 *   one after another as a platform does → throughput (messages/s) and webhook → sandbox
 *   latency (POST sent → reply recorded by the sandbox), which includes queueing.
 * - paced: the same 200 × 5 offered evenly at half the load throughput → latency under a
 *   sustained load the stack can keep up with.
 * - light: one message at a time (each after the previous reply) → the pipeline's own latency.
 *
 * Conversations are spread over Messenger, Instagram, WhatsApp and Zalo, whose documented
 * platform limits (300/s per page, 80/s per number, none) are above the offered load; Pancake
 * (5 sends per page per second) and Telegram (1 per chat per second) would measure the
 * platforms' limits rather than chat-relay.
 */
import { availableParallelism, loadavg } from 'node:os';
import type { SandboxRecord } from '../../bin/local/sandbox.js';
import { customerWebhook, e2eTenant, newCustomer, repliesTo } from '../e2e/support.js';
import { startLocalStackProcess } from '../helpers/local-stack.js';

const CONVERSATIONS = Number(process.env.BENCH_CONVERSATIONS ?? 200);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 5);
const LIGHT_MESSAGES = 20;
const TARGET_P99_MS = 300;
const CHANNELS = ['messenger', 'instagram', 'whatsapp', 'zalo'] as const;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

const tenant = e2eTenant('bench', { debounceMs: 0 });
const stack = await startLocalStackProcess({
  tenants: [tenant],
  env: { DEBOUNCE_MS: '0', RESPONDER: 'echo', LOG_LEVEL: 'ERROR' },
});

interface Sent {
  readonly text: string;
  readonly postedAt: number;
}

/** Waits until every text has its echo reply; returns the reply arrival time per text. */
async function waitForReplies(texts: readonly string[], timeoutMs: number): Promise<Map<string, number>> {
  const wanted = new Set(texts.map((t) => `echo: ${t}`));
  const found = new Map<string, number>();
  const deadline = Date.now() + timeoutMs;
  while (found.size < wanted.size) {
    if (Date.now() > deadline) {
      throw new Error(`only ${found.size} of ${wanted.size} replies after ${timeoutMs} ms`);
    }
    await sleep(250);
    const records: SandboxRecord[] = await stack.messages();
    for (const r of records) {
      if (r.delivered && r.kind !== 'typing' && r.text && wanted.has(r.text) && !found.has(r.text)) {
        found.set(r.text, r.at);
      }
    }
  }
  return new Map([...found].map(([text, at]) => [text.slice('echo: '.length), at]));
}

try {
  // Warm-up: the first turn loads and caches everything (tenant secret, SDK clients).
  const warm = newCustomer('messenger');
  await stack.post(customerWebhook(tenant, warm, 'warm-up'));
  await waitForReplies(['warm-up'], 30_000);

  // load
  const customers = Array.from({ length: CONVERSATIONS }, (_, i) =>
    newCustomer(CHANNELS[i % CHANNELS.length]!),
  );
  const sent: Sent[] = [];
  const started = Date.now();
  await Promise.all(
    customers.map(async (c) => {
      for (let m = 1; m <= MESSAGES; m += 1) {
        const text = `${c.id} m${m}`;
        const built = customerWebhook(tenant, c, text);
        const postedAt = Date.now();
        const res = await stack.post(built);
        if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${res.body}`);
        sent.push({ text, postedAt });
      }
    }),
  );
  const replies = await waitForReplies(
    sent.map((s) => s.text),
    600_000,
  );
  const lastReply = Math.max(...replies.values());
  const seconds = (lastReply - started) / 1000;
  const throughput = sent.length / seconds;
  const loadLatency = sent.map((s) => replies.get(s.text)! - s.postedAt).sort((a, b) => a - b);

  // Order check: every conversation's replies arrived in the order its messages were sent.
  const records = await stack.messages();
  const outOfOrder = customers.filter((c) => {
    const got = repliesTo(records, c);
    return (
      got.join('\n') !== Array.from({ length: MESSAGES }, (_, i) => `echo: ${c.id} m${i + 1}`).join('\n')
    );
  }).length;

  // paced: the same 200 × 5 offered at half the measured throughput, spread evenly in time
  // (message k of every conversation goes out before message k + 1 of any).
  const rate = Math.max(1, throughput / 2);
  const pacedCustomers = Array.from({ length: CONVERSATIONS }, (_, i) =>
    newCustomer(CHANNELS[i % CHANNELS.length]!),
  );
  const pacedSent: Sent[] = [];
  const pacedStart = Date.now() + 100;
  await Promise.all(
    pacedCustomers.flatMap((c, ci) =>
      Array.from({ length: MESSAGES }, async (_, k) => {
        const index = k * CONVERSATIONS + ci;
        await sleep(Math.max(0, pacedStart + (index * 1000) / rate - Date.now()));
        const text = `${c.id} p${k + 1}`;
        const postedAt = Date.now();
        const res = await stack.post(customerWebhook(tenant, c, text));
        if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${res.body}`);
        pacedSent.push({ text, postedAt });
      }),
    ),
  );
  const pacedReplies = await waitForReplies(
    pacedSent.map((s) => s.text),
    600_000,
  );
  const pacedLatency = pacedSent.map((s) => pacedReplies.get(s.text)! - s.postedAt).sort((a, b) => a - b);

  // light
  const lightCustomer = newCustomer('messenger');
  const lightLatency: number[] = [];
  for (let m = 1; m <= LIGHT_MESSAGES; m += 1) {
    const text = `light ${lightCustomer.id} ${m}`;
    const postedAt = Date.now();
    const res = await stack.post(customerWebhook(tenant, lightCustomer, text));
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
    const at = await waitForReplies([text], 30_000);
    lightLatency.push(at.get(text)! - postedAt);
  }
  lightLatency.sort((a, b) => a - b);

  const verdict = (p99: number): string =>
    p99 <= TARGET_P99_MS
      ? `meets (${(p99 / TARGET_P99_MS).toFixed(2)}× target)`
      : `misses (${(p99 / TARGET_P99_MS).toFixed(1)}× target)`;
  const ms = (n: number): string => `${Math.round(n)} ms`;
  console.log(
    `Local stack, ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(1)} at the end, DEBOUNCE_MS=0, echo responder, channels ${CHANNELS.join('/')}.\n`,
  );
  console.log(
    '| run | messages | throughput | p50 webhook → sandbox | p99 webhook → sandbox | target p99 ≤ 300 ms |',
  );
  console.log('|---|---|---|---|---|---|');
  console.log(
    `| load: ${CONVERSATIONS} conversations × ${MESSAGES}, concurrent | ${sent.length} | ${throughput.toFixed(1)} msg/s | ${ms(percentile(loadLatency, 50))} | ${ms(percentile(loadLatency, 99))} | ${verdict(percentile(loadLatency, 99))} |`,
  );
  console.log(
    `| paced: ${CONVERSATIONS} conversations × ${MESSAGES} at ${rate.toFixed(1)} msg/s (half the load throughput) | ${pacedSent.length} | ${rate.toFixed(1)} msg/s offered | ${ms(percentile(pacedLatency, 50))} | ${ms(percentile(pacedLatency, 99))} | ${verdict(percentile(pacedLatency, 99))} |`,
  );
  console.log(
    `| light: one message at a time | ${LIGHT_MESSAGES} | — | ${ms(percentile(lightLatency, 50))} | ${ms(percentile(lightLatency, 99))} | ${verdict(percentile(lightLatency, 99))} |`,
  );
  console.log(`\nConversations answered out of order: ${outOfOrder} of ${CONVERSATIONS}.`);
} finally {
  await stack.stop();
}
