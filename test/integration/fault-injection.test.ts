/**
 * Fault injection: the whole pipeline (webhook → conversation actor → delivery → sandbox
 * platform) against the emulators, with every DynamoDB and SQS call of the handlers slowed by
 * 200 ms and a seeded 5 % of them stalled a further second. Conversations on every channel run
 * concurrently, each posting its messages one after another as a platform does (and retrying
 * a 5xx as a platform does). Whatever the timing, every accepted message is answered exactly
 * once and in order, and nothing is dead-lettered.
 *
 * `CHAT_RELAY_TEST_HOGS=2` also runs two CPU-bound processes beside it. Assertions are on counts
 * and order only; the drive cap (4 minutes) is only ever reached by a hang.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHANNELS,
  type Customer,
  customerWebhook,
  e2eTenant,
  newCustomer,
  repliesTo,
} from '../e2e/support.js';
import type { FaultProfile } from '../helpers/fault-proxy.js';
import { type Hogs, hogsFromEnv, startHogs } from '../helpers/hogs.js';
import { PIPELINE_QUEUES, type Pipeline, startPipeline, type WebhookAnswer } from '../helpers/pipeline.js';

const tenant = e2eTenant('faults', { debounceMs: 0 });
const SLOW: Omit<FaultProfile, 'seed'> = { latencyMs: 200, stallMs: 1000, stallProbability: 0.05 };
const CONVERSATIONS_PER_CHANNEL = Number(process.env.FAULT_CONVERSATIONS ?? 2);
const MESSAGES_PER_CONVERSATION = 3;

let pipeline: Pipeline;
let hogs: Hogs;

beforeAll(async () => {
  hogs = startHogs(hogsFromEnv());
  pipeline = await startPipeline({
    tenants: [tenant],
    faults: { dynamodb: { seed: 20_261_0, ...SLOW }, sqs: { seed: 20_261_1, ...SLOW } },
    // As deployed, a record stays invisible well past the slowest batch here.
    visibilityTimeoutSeconds: 60,
  });
});

afterAll(async () => {
  await pipeline?.stop();
  await hogs?.stop();
});

describe('the pipeline with slow and stalling DynamoDB and SQS', () => {
  it('answers every accepted message once, in order, on every channel, and dead-letters nothing', async () => {
    const customers: Customer[] = CHANNELS.flatMap((channel) =>
      Array.from({ length: CONVERSATIONS_PER_CHANNEL }, (_, i) => newCustomer(channel, i)),
    );
    const texts = (c: Customer): string[] =>
      Array.from({ length: MESSAGES_PER_CONVERSATION }, (_, i) => `${c.channel} ${c.id} m${i + 1}`);
    const answers = new Map<string, WebhookAnswer[]>();
    let posted = false;
    const posting = Promise.all(
      customers.map(async (c) => {
        for (const text of texts(c)) {
          answers.set(text, await pipeline.postUntilAnswered(customerWebhook(tenant, c, text)));
        }
      }),
    ).finally(() => {
      posted = true;
    });

    const finished = await pipeline.drive(
      () =>
        posted && customers.every((c) => repliesTo(pipeline.sandbox.messages(), c).length >= texts(c).length),
      Number(process.env.FAULT_CAP_MS ?? 240_000),
    );
    await posting;

    const retried = [...answers.values()].reduce((n, a) => n + a.filter((x) => x.status >= 500).length, 0);
    console.info(
      `fault injection: ${retried} webhook 5xx answers retried; proxies ${pipeline.proxies
        .map((p) => `${p.requests()} requests / ${p.stalls()} stalls`)
        .join(', ')}`,
    );
    // The faults were really there.
    for (const proxy of pipeline.proxies) expect(proxy.stalls()).toBeGreaterThan(0);

    // Every message was finally accepted (a 503 while a dependency stalls is fine: the platform retries).
    for (const c of customers) {
      for (const text of texts(c)) {
        const last = answers.get(text)?.at(-1);
        const answered = answers.get(text) ?? [];
        expect(last?.status, `${text} after ${answered.length} tries: ${last?.body}`).toBe(200);
        expect(last?.accepted, text).toBe(1);
      }
    }
    const progress = async (): Promise<string> =>
      JSON.stringify({
        depths: await pipeline.depths(),
        trouble: pipeline.trouble(),
        replies: customers.map((c) => `${c.channel}:${repliesTo(pipeline.sandbox.messages(), c).length}`),
        sandbox: pipeline.sandbox.messages().length,
      });
    expect(finished, `the pipeline did not drain: ${finished ? '' : await progress()}`).toBe(true);

    // Exactly once, in order, per conversation.
    const records = pipeline.sandbox.messages();
    const wrong = customers
      .map((c) => ({ c, got: repliesTo(records, c), want: texts(c).map((t) => `echo: ${t}`) }))
      .filter(({ got, want }) => got.join('\n') !== want.join('\n'))
      .map(({ c, got }) => `${c.channel} ${c.id}: ${JSON.stringify(got)}`);
    expect(wrong, 'conversations answered out of order, twice or not at all').toEqual([]);

    // Nothing dead-lettered, nothing left behind.
    const depths = await pipeline.depths();
    for (const q of PIPELINE_QUEUES) expect(depths[q], q).toEqual({ queue: 0, dlq: 0 });
    expect(pipeline.trouble().thrown).toEqual([]);
  }, 300_000);
});
