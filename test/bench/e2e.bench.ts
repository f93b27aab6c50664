/**
 * Local end-to-end benchmark: the local stack (`bin/local.ts`, a child process) with
 * DEBOUNCE_MS=0 and the echo responder, driven over HTTP with signed webhooks.
 *
 * - load: N conversations × M messages (default 200 × 5 = 1000), conversations concurrent,
 *   each posting its messages one after another as a platform does → answered N/total,
 *   messages in each DLQ, our own rate-limit deferrals (every page here sends far under its
 *   platform limit, so each deferral is a wasted SQS receive), conversations out of order,
 *   throughput and webhook → sandbox latency (POST sent → reply recorded by the sandbox).
 * - light: one message at a time (each after the previous reply) → the pipeline's own latency.
 *
 * Conversations are spread over Messenger, Instagram, WhatsApp and Zalo, whose documented
 * platform limits (300/s per page, 80/s per number, none) are above the offered load; Pancake
 * (5 sends per page per second) and Telegram (1 per chat per second) would measure the
 * platforms' limits rather than chat-relay.
 *
 * - paced (`--rate R`): the same N × M messages offered open-loop at R messages per second
 *   (message i is posted at start + i/R, whatever the stack's answers; a conversation's next
 *   message waits only for its previous POST's answer, as a platform's does) → sustained
 *   throughput and webhook → sandbox latency at that offered rate. Replaces the load run.
 *
 * Flags (`npm run bench -- e2e --hogs 2 --conversations 20`): `--conversations N`,
 * `--messages M`, `--rate R`, `--hogs H` (H CPU-bound processes beside the stack, as on a busy
 * machine), `--stall-seconds S` (stop waiting once no reply arrived for S seconds; default 120),
 * `--pollers P` (LOCAL_FIFO_POLLERS of the stack), `--threads 0|1` (LOCAL_FUNCTION_THREADS),
 * `--inproc 0|1` (LOCAL_INPROC_TRANSPORT: the handlers' SDK clients reach the emulators in
 * process, the default, or over loopback HTTP),
 * `--cpu-prof DIR` (the stack process and its
 * emulator thread write V8 CPU profiles to DIR; summarise them with
 * `npx tsx test/bench/cpu-profile.ts DIR`).
 */

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { SandboxRecord } from '../../bin/local/sandbox.js';
import { webhookUrl } from '../../bin/local/webhook-builder.js';
import { customerWebhook, e2eTenant, newCustomer, repliesTo } from '../e2e/support.js';
import { startHogs } from '../helpers/hogs.js';
import { startLocalStackProcess } from '../helpers/local-stack.js';

const { values: flags } = parseArgs({
  options: {
    conversations: { type: 'string' },
    messages: { type: 'string' },
    hogs: { type: 'string' },
    'stall-seconds': { type: 'string' },
    rate: { type: 'string' },
    pollers: { type: 'string' },
    threads: { type: 'string' },
    inproc: { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
  strict: true,
});
const intFlag = (value: string | undefined, env: string | undefined, fallback: number): number => {
  const n = Number(value ?? env ?? fallback);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`expected a non-negative integer, got "${value ?? env}"`);
  return n;
};
const CONVERSATIONS = intFlag(flags.conversations, process.env.BENCH_CONVERSATIONS, 200);
const MESSAGES = intFlag(flags.messages, process.env.BENCH_MESSAGES, 5);
const HOGS = intFlag(flags.hogs, process.env.BENCH_HOGS, 0);
const STALL_MS = intFlag(flags['stall-seconds'], undefined, 120) * 1000;
/** Offered messages per second of the paced run; 0 = the load run (everything at once). */
const RATE = intFlag(flags.rate, process.env.BENCH_RATE, 0);
const POLLERS = flags.pollers === undefined ? undefined : intFlag(flags.pollers, undefined, 4);
const PROFILE_DIR = flags['cpu-prof'];
if (PROFILE_DIR !== undefined) mkdirSync(PROFILE_DIR, { recursive: true });
const THREADS = flags.threads === undefined ? undefined : intFlag(flags.threads, undefined, 1);
const INPROC = flags.inproc === undefined ? undefined : intFlag(flags.inproc, undefined, 1);
const LIGHT_MESSAGES = 20;
const TARGET_P99_MS = 300;
const CHANNELS = ['messenger', 'instagram', 'whatsapp', 'zalo'] as const;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

const loadAtStart = loadavg()[0]!;
const hogs = startHogs(HOGS);
const tenant = e2eTenant('bench', { debounceMs: 0 });
// INFO: the delivery Lambda logs each deferral ("Send deferred, not counted as a failure").
const stack = await startLocalStackProcess({
  tenants: [tenant],
  env: {
    DEBOUNCE_MS: '0',
    RESPONDER: 'echo',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'INFO',
    ...(POLLERS !== undefined ? { LOCAL_FIFO_POLLERS: String(POLLERS) } : {}),
    ...(THREADS !== undefined ? { LOCAL_FUNCTION_THREADS: String(THREADS) } : {}),
    ...(INPROC !== undefined ? { LOCAL_INPROC_TRANSPORT: String(INPROC) } : {}),
    // A terminated worker writes no --cpu-prof profile; the emulator thread writes its own.
    ...(PROFILE_DIR !== undefined
      ? { LOCAL_EMULATOR_CPU_PROFILE: resolve(PROFILE_DIR, 'emulator-thread.cpuprofile') }
      : {}),
  },
  nodeArgs: [
    ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
    ...(PROFILE_DIR !== undefined ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : []),
  ],
});

/**
 * CPU seconds (user + system) the stack process has used: its main thread, and every other
 * thread (the emulator thread, LevelDB's and libuv's pools, V8's GC helpers). Read from
 * /proc, so a busy machine does not inflate it the way it inflates wall-clock figures.
 */
function stackCpu(pid: number): { main: number; others: number; threads: Map<string, number> } {
  const threads = new Map<string, number>();
  const ticks = (tid: string): number => {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return Number(fields[11]) + Number(fields[12]);
    } catch {
      return 0; // a thread that ended meanwhile
    }
  };
  let main = 0;
  let others = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const t = ticks(tid);
      threads.set(tid, t / 100);
      if (tid === String(pid)) main += t;
      else others += t;
    }
  } catch {
    return { main: Number.NaN, others: Number.NaN, threads }; // not Linux
  }
  // USER_HZ is 100 on Linux.
  return { main: main / 100, others: others / 100, threads };
}

/**
 * The threads that used the most CPU between two readings, as `tid name: ms per message`
 * (thread ids grow in creation order: the main thread, V8's and libuv's helpers, then the
 * emulator thread and the function threads as the stack starts them).
 */
function busiestThreads(
  pid: number,
  before: Map<string, number>,
  after: Map<string, number>,
  messages: number,
): string {
  const rows: { tid: string; ms: number }[] = [];
  for (const [tid, s] of after) {
    const ms = ((s - (before.get(tid) ?? 0)) * 1000) / Math.max(messages, 1);
    if (ms >= 0.5) rows.push({ tid, ms });
  }
  const name = (tid: string): string => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    } catch {
      return '?';
    }
  };
  return rows
    .sort((a, b) => Number(a.tid) - Number(b.tid))
    .map((r) => `${r.tid} ${name(r.tid)} ${r.ms.toFixed(1)}`)
    .join(', ');
}

interface Sent {
  readonly text: string;
  readonly postedAt: number;
}

/**
 * Waits until every text has its echo reply, or until no new reply came for `stallMs`;
 * returns the reply arrival time per text found.
 */
/** The newest sandbox record seq the replies were polled up to. */
let polledSeq = 0;

async function waitForReplies(
  texts: readonly string[],
  stallMs: number,
  pollMs = 250,
): Promise<Map<string, number>> {
  const wanted = new Set(texts.map((t) => `echo: ${t}`));
  const found = new Map<string, number>();
  let lastProgress = Date.now();
  while (found.size < wanted.size && Date.now() - lastProgress < stallMs) {
    // Latency is taken from the sandbox's own arrival time, so polling less often does not
    // change it; it only spares the stack serialising every record four times a second.
    await sleep(pollMs);
    // Only what is new since the last poll (`?after=`): listing every record each time costs
    // both the driver and the stack's main thread more as the run goes on.
    const records = (await (
      await fetch(`${stack.url}/sandbox/messages?after=${polledSeq}`)
    ).json()) as SandboxRecord[];
    for (const r of records) polledSeq = Math.max(polledSeq, r.seq);
    const before = found.size;
    for (const r of records) {
      if (r.delivered && r.kind !== 'typing' && r.text && wanted.has(r.text) && !found.has(r.text)) {
        found.set(r.text, r.at);
      }
    }
    if (found.size > before) lastProgress = Date.now();
  }
  return new Map([...found].map(([text, at]) => [text.slice('echo: '.length), at]));
}

let retried = 0;
/** Posts like a platform: a 5xx is retried (up to 5 attempts); returns the last answer. */
async function post(built: Parameters<typeof stack.post>[0]): Promise<{ status: number; body: string }> {
  let res = await httpPost(built);
  for (let attempt = 1; attempt < 5 && res.status >= 500; attempt += 1) {
    retried += 1;
    res = await httpPost(built);
  }
  return res;
}

/**
 * The driver's own HTTP client: node:http with kept-alive connections, which costs the shared
 * two cores about half of what `fetch` does per request (the driver's CPU is reported apart).
 */
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
function httpPost(built: Parameters<typeof stack.post>[0]): Promise<{ status: number; body: string }> {
  const target = new URL(webhookUrl(stack.url, built));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      target,
      {
        method: built.method,
        headers: { ...built.headers, 'content-length': String(Buffer.byteLength(built.body)) },
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(built.body);
  });
}

/** Deferral log lines of the delivery Lambda with `reason` (e.g. RATE_LIMITED). */
function deferrals(reason: string): number {
  return stack
    .output()
    .split('\n')
    .filter(
      (line) => line.includes('Send deferred, not counted as a failure') && line.includes(`"${reason}"`),
    ).length;
}

try {
  // Warm-up: the first turn loads and caches everything (tenant secret, SDK clients).
  const warm = newCustomer('messenger');
  await stack.post(customerWebhook(tenant, warm, 'warm-up'));
  await waitForReplies(['warm-up'], 30_000);
  const deferredBefore = deferrals('RATE_LIMITED');

  // load
  const customers = Array.from({ length: CONVERSATIONS }, (_, i) =>
    newCustomer(CHANNELS[i % CHANNELS.length]!),
  );
  const sent: Sent[] = [];
  const refused: string[] = [];
  const cpuBefore = stackCpu(stack.child.pid!);
  const driverCpuBefore = process.cpuUsage();
  const outputBefore = stack.output().length;
  const started = Date.now();
  await Promise.all(
    customers.map(async (c, ci) => {
      for (let m = 1; m <= MESSAGES; m += 1) {
        if (RATE > 0) {
          // Open loop: message k (round robin over conversations) is due at start + k/RATE.
          const due = started + (((m - 1) * CONVERSATIONS + ci) * 1000) / RATE;
          const wait = due - Date.now();
          if (wait > 0) await sleep(wait);
        }
        const text = `${c.id} m${m}`;
        const built = customerWebhook(tenant, c, text);
        const postedAt = Date.now();
        const res = await post(built);
        if (res.status !== 200) refused.push(`${res.status} ${res.body.slice(0, 120)}`);
        else sent.push({ text, postedAt });
      }
    }),
  );
  const postedIn = (Date.now() - started) / 1000;
  const replies = await waitForReplies(
    sent.map((s) => s.text),
    STALL_MS,
    1000,
  );
  const cpuAfter = stackCpu(stack.child.pid!);
  const driverCpu = process.cpuUsage(driverCpuBefore);
  const outputBytes = stack.output().length - outputBefore;
  const lastReply = replies.size > 0 ? Math.max(...replies.values()) : Date.now();
  const seconds = (lastReply - started) / 1000;
  const throughput = replies.size / seconds;
  const loadLatency = sent
    .filter((s) => replies.has(s.text))
    .map((s) => replies.get(s.text)! - s.postedAt)
    .sort((a, b) => a - b);
  if (process.env.BENCH_LATENCY_FILE) {
    // One line per answered message: ms since the first post, then its webhook → sandbox latency.
    writeFileSync(
      process.env.BENCH_LATENCY_FILE,
      sent
        .filter((s) => replies.has(s.text))
        .map((s) => `${s.postedAt - started} ${replies.get(s.text)! - s.postedAt}`)
        .join('\n'),
    );
  }

  // Order and duplicates: every conversation's replies are exactly its messages' echoes, in order.
  const records = await stack.messages();
  const outOfOrder = customers.filter((c) => {
    const got = repliesTo(records, c);
    const want = Array.from({ length: MESSAGES }, (_, i) => `echo: ${c.id} m${i + 1}`);
    const answered = want.filter((w) => got.includes(w));
    return got.join('\n') !== answered.join('\n');
  }).length;
  const rateDeferrals = deferrals('RATE_LIMITED') - deferredBefore;
  const dlq = {
    inbound: await stack.queueDepth('inbound', true),
    timer: await stack.queueDepth('timer', true),
    outbound: await stack.queueDepth('outbound', true),
  };
  // Offered sends per page per second: every conversation here is on its own page's share.
  const perPage = replies.size / Math.max(seconds, 0.001) / CHANNELS.length;

  // light
  const lightCustomer = newCustomer('messenger');
  const lightLatency: number[] = [];
  for (let m = 1; m <= LIGHT_MESSAGES; m += 1) {
    const text = `light ${lightCustomer.id} ${m}`;
    const postedAt = Date.now();
    const res = await post(customerWebhook(tenant, lightCustomer, text));
    if (res.status !== 200) continue;
    const at = await waitForReplies([text], 30_000);
    if (at.has(text)) lightLatency.push(at.get(text)! - postedAt);
  }
  lightLatency.sort((a, b) => a - b);

  const total = CONVERSATIONS * MESSAGES;
  const verdict = (p99: number): string =>
    p99 <= TARGET_P99_MS
      ? `meets (${(p99 / TARGET_P99_MS).toFixed(2)}× target)`
      : `misses (${(p99 / TARGET_P99_MS).toFixed(1)}× target)`;
  const ms = (n: number): string => `${Math.round(n)} ms`;
  console.log(
    `Local stack, ${availableParallelism()} cores, ${HOGS} CPU hog(s) beside it, load average ${loadAtStart.toFixed(1)} at the start and ${loadavg()[0]!.toFixed(1)} at the end, DEBOUNCE_MS=0, echo responder, ${POLLERS ?? '64 (default)'} batches in flight per FIFO queue, handlers ${THREADS === 1 ? 'in worker threads' : 'on the main thread'}, SDK clients ${INPROC === 0 ? 'over loopback HTTP' : 'in process'}, channels ${CHANNELS.join('/')}.\n`,
  );
  console.log('| load | value |');
  console.log('|---|---|');
  console.log(
    `| messages | ${CONVERSATIONS} conversations × ${MESSAGES} = ${total}, ${RATE > 0 ? `offered open-loop at ${RATE} msg/s` : 'all conversations at once'} |`,
  );
  console.log(
    `| accepted (200) | ${sent.length}/${total}${refused.length ? ` (refused: ${refused.slice(0, 3).join('; ')})` : ''} |`,
  );
  console.log(`| answered | ${replies.size}/${total} |`);
  console.log(`| webhook 5xx retried by the "platform" (both runs) | ${retried} |`);
  console.log(`| in DLQs (inbound / timer / outbound) | ${dlq.inbound} / ${dlq.timer} / ${dlq.outbound} |`);
  console.log(
    `| rate-limit deferrals (pages at ~${perPage.toFixed(1)} sends/s, limits 80–300/s) | ${rateDeferrals} |`,
  );
  console.log(`| conversations out of order or duplicated | ${outOfOrder}/${CONVERSATIONS} |`);
  console.log(`| posting took | ${postedIn.toFixed(1)} s |`);
  const perMessage = (seconds: number): string =>
    `${((1000 * seconds) / Math.max(1, replies.size)).toFixed(1)} ms`;
  console.log(
    `| stack output (LOG_LEVEL=INFO) per answered message | ${Math.round(outputBytes / Math.max(1, replies.size))} characters |`,
  );
  console.log(
    `| stack CPU per answered message: main thread + other threads (emulators, pools, GC) | ${perMessage(cpuAfter.main - cpuBefore.main)} + ${perMessage(cpuAfter.others - cpuBefore.others)} |`,
  );
  console.log(
    `| this benchmark's own CPU per answered message (signing and posting webhooks, polling the sandbox) | ${perMessage((driverCpu.user + driverCpu.system) / 1e6)} |`,
  );
  console.log(
    `| stack CPU per answered message by thread (tid name ms) | ${busiestThreads(stack.child.pid!, cpuBefore.threads, cpuAfter.threads, replies.size)} |`,
  );
  console.log(`| throughput (answered / first post → last reply) | ${throughput.toFixed(1)} msg/s |`);
  if (RATE > 0) {
    // Sustained: replies per second over the middle of the run (the first and last tenth
    // are ramp-up and drain), against the offered rate.
    const times = [...replies.values()].sort((a, b) => a - b);
    const from = times[Math.floor(times.length / 10)];
    const to = times[Math.floor((times.length * 9) / 10)];
    const middle =
      from !== undefined && to !== undefined && to > from
        ? (times.length * 0.8) / ((to - from) / 1000)
        : Number.NaN;
    console.log(
      `| sustained reply rate (middle 80% of replies) / offered | ${middle.toFixed(1)} / ${RATE} msg/s |`,
    );
  }
  console.log(
    `| p50 / p99 webhook → sandbox | ${ms(percentile(loadLatency, 50))} / ${ms(percentile(loadLatency, 99))} (${verdict(percentile(loadLatency, 99))}) |`,
  );
  console.log(
    `| light: one message at a time, p50 / p99 (${lightLatency.length}/${LIGHT_MESSAGES} answered) | ${ms(percentile(lightLatency, 50))} / ${ms(percentile(lightLatency, 99))} (${verdict(percentile(lightLatency, 99))}) |`,
  );
} finally {
  if (process.env.BENCH_OUTPUT_FILE) writeFileSync(process.env.BENCH_OUTPUT_FILE, stack.output());
  await stack.stop();
  await hogs.stop();
}
