/**
 * The local stack survives a crash: 200 signed messages over many conversations, the process
 * SIGKILLed mid-burst (just as a reply reaches the platform: the hardest moment), restarted on
 * the same data directory, the messages it did not acknowledge retried as platforms do. Every
 * message acknowledged (200) is answered, in order per conversation, and exactly once: a reply
 * the killed process had sent but not yet recorded keeps its "sending" mark, so the restarted
 * stack records it as AMBIGUOUS_AFTER_CRASH instead of sending it again. The platform is a
 * separate server in this process that records every send, so nothing it saw is lost with the
 * stack.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../bin/local/sandbox.js';
import { createDemoTenant } from '../../bin/local/tenants.js';
import { type BuiltWebhook, buildWebhook, webhookUrl } from '../../bin/local/webhook-builder.js';
import type { ChannelName } from '../../lambdas/shared/model.js';
import { type LocalStackProcess, startLocalStackProcess } from '../helpers/local-stack.js';

const CONVERSATIONS = 25;
const PER_CONVERSATION = 8;
/**
 * The stack is killed once this many messages have been acknowledged and this many answered:
 * mid-burst, while webhooks, turns and deliveries are all in flight.
 */
const KILL_AFTER_ACKS = 70;
const KILL_AFTER_ANSWERS = 15;
/** Delivery pollers of the stack (LOCAL_FIFO_POLLERS): how many sends can be in flight at once. */
const FIFO_POLLERS = 4;

const dir = mkdtempSync(join(tmpdir(), 'chat-relay-crash-'));
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

interface Planned {
  readonly conversation: string;
  readonly text: string;
  readonly built: BuiltWebhook;
}

/** Posts `built`; undefined when the connection failed (the stack is down). */
async function post(url: string, built: BuiltWebhook): Promise<number | undefined> {
  try {
    const res = await fetch(webhookUrl(url, built), {
      method: built.method,
      headers: built.headers,
      body: built.body,
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}

/** Every message text an echo reply answers (`echo: a | b` answers a and b), with when the platform got it. */
function answeredTexts(sandbox: Sandbox): { conversation: string; text: string; at: number }[] {
  const out: { conversation: string; text: string; at: number }[] = [];
  for (const r of sandbox.messages()) {
    if (!r.delivered || r.kind !== 'text' || !r.text?.startsWith('echo: ')) continue;
    for (const text of r.text.slice('echo: '.length).split(' | ')) {
      out.push({ conversation: r.recipientId ?? '', text, at: r.at });
    }
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the local stack after a SIGKILL', () => {
  // Debounce 0 answers each message inline; the deployed 2500 ms holds each turn's last record in
  // flight as its tick, so the kill also lands on held records.
  it.each([
    ['0', 'answering each message at once'],
    ['2500', "holding each turn's last record as its debounce tick"],
  ])(
    'answers every acknowledged message once, in order per conversation, even the sends the kill cut off (debounce %s ms: %s)',
    async (debounceMs) => {
      const dataDir = join(dir, `data-${debounceMs}`);
      const tenant = createDemoTenant();
      const tenantsFile = join(dir, `tenants-${debounceMs}.json`);
      writeFileSync(tenantsFile, JSON.stringify([tenant]));
      const sandbox = await startSandbox({ pancakeRateLimit: 0 });
      cleanups.push(() => sandbox.stop());
      const env = {
        ...sandbox.env,
        CHAT_RELAY_TENANTS_FILE: tenantsFile,
        DEBOUNCE_MS: debounceMs,
        LOCAL_FIFO_POLLERS: String(FIFO_POLLERS),
        // WARN: the restarted stack's "not sent again" lines are counted below.
        LOG_LEVEL: 'WARN',
      };

      const channels: ChannelName[] = ['telegram', 'messenger'];
      const plans: Planned[][] = Array.from({ length: CONVERSATIONS }, (_, c) => {
        const channel = channels[c % channels.length]!;
        const conversation =
          channel === 'telegram' ? String(880_000_000 + c) : String(7_100_000_000_000_000 + c);
        return Array.from({ length: PER_CONVERSATION }, (_, m) => {
          const text = `c${c}-m${m}`;
          return { conversation, text, built: buildWebhook({ tenant, channel, conversation, text }) };
        });
      });
      const total = CONVERSATIONS * PER_CONVERSATION;
      /** Runs of consecutive unanswered messages, over every conversation (one per lost reply part). */
      const missingRunsOf = (answered: readonly { text: string }[]): number => {
        const got = new Set(answered.map((a) => a.text));
        return plans.flatMap((plan) => {
          const gone = plan.map((p) => !got.has(p.text));
          return gone.filter((g, i) => g && !gone[i - 1]);
        }).length;
      };

      const t0 = Date.now();
      const phases: string[] = [];
      const phase = (name: string): void => {
        phases.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      };
      let stack: LocalStackProcess = await startLocalStackProcess({ dataDir, env });
      phase('started');
      cleanups.push(() => stack.stop('SIGKILL'));
      // Per conversation: the next message to post, and the acknowledged ones in order.
      const next = plans.map(() => 0);
      const acked: Planned[] = [];
      let killed = false;
      let ackedBeforeKill = 0;
      let answeredBeforeKill = 0;

      const burst = async (url: string, stopOnFailure: boolean): Promise<void> => {
        await Promise.all(
          plans.map(async (plan, c) => {
            while (next[c]! < plan.length) {
              const item = plan[next[c]!]!;
              const status = await post(url, item.built);
              if (status !== 200) {
                // The stack is down (killed): this burst is over.
                if (status === undefined && stopOnFailure) return;
                // A platform retries until it gets a 200 (a loaded machine may answer 503).
                await sleep(200);
                continue;
              }
              acked.push(item);
              next[c]! += 1;
              // Paced like a chat before the crash, so the kill lands while messages still arrive.
              if (stopOnFailure) await sleep(750);
            }
          }),
        );
      };
      const killer = async (): Promise<void> => {
        while (acked.length < KILL_AFTER_ACKS || answeredTexts(sandbox).length < KILL_AFTER_ANSWERS) {
          await sleep(20);
        }
        killed = true;
        ackedBeforeKill = acked.length;
        answeredBeforeKill = answeredTexts(sandbox).length;
        stack.child.kill('SIGKILL');
      };

      await Promise.all([burst(stack.url, true), killer()]);
      phase('killed');
      expect(killed).toBe(true);
      await stack.stop('SIGKILL');
      const inFlightAtKill = total - acked.length;

      stack = await startLocalStackProcess({ dataDir, env });
      phase('restarted');
      await burst(stack.url, false);
      phase('all acknowledged');
      expect(acked).toHaveLength(total);

      // Done when every message is answered and nothing is left on any queue (a part whose
      // delivery was interrupted comes back only after its visibility timeout).
      const deadline = Date.now() + 300_000;
      let answered = answeredTexts(sandbox);
      for (;;) {
        answered = answeredTexts(sandbox);
        // In flight included: a record held as its turn's debounce tick is not answered yet.
        const depth =
          (await stack.queueDepth('inbound', true)) +
          (await stack.queueDepth('outbound', true)) +
          (await stack.queueDepth('timer', true));
        const cut =
          stack.output().split('A send may have reached the platform before the process stopped').length - 1;
        const all = missingRunsOf(answered) <= cut;
        if (all && !phases.some((p) => p.startsWith('all answered'))) phase('all answered');
        if (all && depth === 0) break;
        if (Date.now() > deadline) break;
        await sleep(250);
      }

      phase('drained');
      const counts = new Map<string, number>();
      for (const a of answered) counts.set(a.text, (counts.get(a.text) ?? 0) + 1);
      const repeated = [...counts.entries()].filter(([, n]) => n > 1).map(([text]) => text);
      const missing = acked.filter((a) => !counts.has(a.text)).map((a) => a.text);
      // Parts the restarted stack found marked "sending" (cut off by the kill): not sent again.
      const cutOff =
        stack.output().split('A send may have reached the platform before the process stopped').length - 1;
      console.log(
        `crash: ${ackedBeforeKill} acknowledged and ${answeredBeforeKill} answered before SIGKILL, ` +
          `${inFlightAtKill} retried after restart, ${counts.size}/${total} answered, ` +
          `${repeated.length} sent twice, ${cutOff} cut off by the kill and not sent again (${phases.join(', ')})`,
      );
      // The documented guarantee (docs/delivery.md): a part the kill cut off mid-send is recorded
      // AMBIGUOUS_AFTER_CRASH and not sent again, so it is answered at most once; it is missing only
      // when the kill landed after its "sending" mark and before the request left (seen once in
      // five runs, on a heavily loaded machine). Every other acknowledged message is answered.
      // One part answers a whole turn (with a debounce, or debounce 0 when a turn left open by the
      // kill takes the next message in): the messages such a part answered are missing together,
      // one run of consecutive messages of one conversation per cut-off part.
      const missingRuns = missingRunsOf(answered);
      expect(missingRuns, `missing ${JSON.stringify(missing)}`).toBeLessThanOrEqual(cutOff);
      // Not even a send the kill cut off between the platform's answer and its record.
      expect(repeated).toEqual([]);
      for (const plan of plans) {
        const firsts = answered
          .filter(
            (a, i) =>
              a.conversation === plan[0]!.conversation && answered.findIndex((b) => b.text === a.text) === i,
          )
          .map((a) => a.text);
        // In order; a part the kill cut off (bounded above) is simply absent.
        expect(firsts).toEqual(plan.map((p) => p.text).filter((text) => !missing.includes(text)));
      }
      expect(await stack.queueDepth('inbound', true)).toBe(0);
      expect(await stack.queueDepth('outbound', true)).toBe(0);
    },
    420_000,
  );
});
