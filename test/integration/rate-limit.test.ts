/**
 * The shared rate limiter against DynamoDB (dynalite). Time is a virtual clock the tests move
 * (sleeps and injected DynamoDB latency advance it), so nothing depends on how fast this machine
 * is; the slow-DynamoDB cases add real latency and stalls and assert only on counts and slots.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { intervalOf, RateLimiter, type RateRule } from '../../lambdas/delivery/rate-limit.js';
import { dynamoClient, resetClients } from '../../lambdas/shared/clients.js';

let emulators: Emulators;
let run = 0;

/** A clock that moves only when told: by sleeps, and by the latency injected into each call. */
class VirtualClock {
  t = 1_900_000_000_000;
  readonly sleeps: number[] = [];
  readonly now = (): number => this.t;
  readonly sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.t += Math.max(0, ms);
  };
}

/** What the DynamoDB middleware does to each call: counts it, and adds latency. */
const dynamo = {
  calls: [] as { command: string; condition: string | undefined }[],
  /** Virtual latency added to the clock of the test that set it. */
  clock: undefined as VirtualClock | undefined,
  virtualMs: 0,
  /** Real latency (ms) per call, and a stall every `stallEvery`-th call. */
  realMs: 0,
  stallEvery: 0,
  stallMs: 0,
  /**
   * Real DynamoDB returns the item with a failed condition when asked (ALL_OLD); dynalite does
   * not, so the middleware adds it the way DynamoDB would (read by a client it does not count).
   */
  allOld: true,
};
let plainClient: DynamoDBClient;

const sleepReal = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function installMiddleware(client: DynamoDBClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { ConditionExpression?: string };
      dynamo.calls.push({ command: String(context.commandName), condition: input.ConditionExpression });
      const n = dynamo.calls.length;
      if (dynamo.realMs > 0) await sleepReal(dynamo.realMs);
      if (dynamo.stallEvery > 0 && n % dynamo.stallEvery === 0) await sleepReal(dynamo.stallMs);
      try {
        return await next(args);
      } catch (err) {
        const raw = args.input as {
          TableName?: string;
          Key?: never;
          ReturnValuesOnConditionCheckFailure?: string;
        };
        const failed = err as { name?: string; Item?: unknown };
        if (
          dynamo.allOld &&
          failed.name === 'ConditionalCheckFailedException' &&
          raw.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' &&
          failed.Item === undefined
        ) {
          // At this step a document-client command still holds plain values.
          const key: Record<string, unknown> = raw.Key ?? {};
          const marshalled = typeof key.pk === 'string' ? marshall(key) : (key as never);
          const current = await plainClient.send(
            new GetItemCommand({ TableName: raw.TableName, Key: marshalled, ConsistentRead: true }),
          );
          if (current.Item) failed.Item = current.Item;
        }
        throw err;
      } finally {
        // The answer arrives late: the caller sees the time move while it waited.
        if (dynamo.clock) dynamo.clock.t += dynamo.virtualMs;
      }
    },
    { step: 'initialize', name: 'rateLimitTestLatency' },
  );
}

beforeAll(async () => {
  emulators = await startEmulators({ prefix: 'rate' });
  Object.assign(process.env, emulators.env);
  resetClients();
  installMiddleware(dynamoClient());
  plainClient = new DynamoDBClient({});
});

afterAll(async () => {
  plainClient?.destroy();
  resetClients();
  await emulators.stop();
});

beforeEach(() => {
  run += 1;
  dynamo.calls.length = 0;
  dynamo.clock = undefined;
  dynamo.virtualMs = 0;
  dynamo.realMs = 0;
  dynamo.stallEvery = 0;
  dynamo.allOld = true;
});

const scope = (name: string): string => `${name}#${run}#${process.pid}`;

function limiterOn(clock: VirtualClock, marginMs = 100): RateLimiter {
  return new RateLimiter({
    tableName: emulators.tables.memory,
    now: clock.now,
    sleep: clock.sleep,
    marginMs,
  });
}

/** The most times inside any half-open window of `windowMs` (sorted times). */
function maxInWindow(times: readonly number[], windowMs: number): number {
  let most = 0;
  for (let i = 0; i < times.length; i += 1) {
    let j = i;
    while (j < times.length && times[j]! - times[i]! < windowMs) j += 1;
    most = Math.max(most, j - i);
  }
  return most;
}

describe('the shared rate limiter against DynamoDB', () => {
  it('lets a send to an idle chat go at once for exactly one conditional write, however slow DynamoDB answers', async () => {
    const clock = new VirtualClock();
    dynamo.clock = clock;
    dynamo.virtualMs = 200;
    const limiter = limiterOn(clock);
    const began = clock.t;
    const acquired = await limiter.acquire([{ scope: scope('telegram#chat#idle'), limit: 1 }], 5000);
    expect(acquired).toMatchObject({ ok: true, delayed: false, sendAt: began, calls: 1 });
    expect(dynamo.calls.map((c) => c.command)).toEqual(['UpdateItemCommand']);
    // The write took 200 ms: the slot is used late rather than given up, and nothing waits.
    expect(clock.sleeps.filter((ms) => ms > 0)).toEqual([]);
    // The idle chat after its interval is idle again: one write again.
    clock.t = began + 1100;
    const again = await limiter.acquire([{ scope: scope('telegram#chat#idle'), limit: 1 }], 5000);
    expect(again).toMatchObject({ ok: true, delayed: false, sendAt: began + 1100, calls: 1 });
  });

  it('costs one write on a scope this instance knows is busy, and two when another instance made it busy', async () => {
    const clock = new VirtualClock();
    const rule = { scope: scope('pancake#page#busy'), limit: 5 };
    const interval = intervalOf(5, 100);
    const t0 = clock.t;
    // Instance A claims twice without waiting for its slots: idle (1 write), then busy (1 write).
    const a = new RateLimiter({ tableName: emulators.tables.memory, now: clock.now, sleep: async () => {} });
    expect(await a.acquire([rule], 5000)).toMatchObject({ ok: true, sendAt: t0, calls: 1 });
    expect(await a.acquire([rule], 5000)).toMatchObject({ ok: true, sendAt: t0 + interval, calls: 1 });
    // B has never seen the scope: its idle guess fails and returns the item, the busy write follows.
    dynamo.calls.length = 0;
    const b = limiterOn(clock);
    const b1 = await b.acquire([rule], 5000);
    expect(b1).toMatchObject({ ok: true, delayed: true, sendAt: t0 + 2 * interval, calls: 2 });
    expect(dynamo.calls.map((c) => c.command)).toEqual(['UpdateItemCommand', 'UpdateItemCommand']);
    // B now knows the scope is busy: one write.
    clock.t = t0;
    expect(await b.acquire([rule], 5000)).toMatchObject({ ok: true, sendAt: t0 + 3 * interval, calls: 1 });
  });

  it('reads the scope when the service returns no item with a failed condition (dynalite)', async () => {
    dynamo.allOld = false;
    const clock = new VirtualClock();
    const rule = { scope: scope('pancake#page#noitem'), limit: 5 };
    const a = new RateLimiter({ tableName: emulators.tables.memory, now: clock.now, sleep: async () => {} });
    const t0 = clock.t;
    expect(await a.acquire([rule], 5000)).toMatchObject({ ok: true, calls: 1 });
    dynamo.calls.length = 0;
    const b1 = await limiterOn(clock).acquire([rule], 5000);
    expect(b1).toMatchObject({ ok: true, delayed: true, sendAt: t0 + intervalOf(5, 100), calls: 3 });
    expect(dynamo.calls.map((c) => c.command)).toEqual([
      'UpdateItemCommand',
      'GetItemCommand',
      'UpdateItemCommand',
    ]);
  });

  it('never gives up a claimed slot or defers a page under its limit when DynamoDB is slow and stalls', async () => {
    // Real latency: 200 ms per call and a 1 s stall every seventh call; the limiter runs on the
    // real clock here. 24 sends from 4 instances to a WhatsApp number (80/s) and a Pancake page
    // (5/s), each far under its limit over the time they take.
    dynamo.realMs = 200;
    dynamo.stallEvery = 7;
    dynamo.stallMs = 1000;
    const instances = Array.from(
      { length: 4 },
      () => new RateLimiter({ tableName: emulators.tables.memory }),
    );
    const wa: RateRule = { scope: scope('whatsapp#number#slow'), limit: 80 };
    const results = await Promise.all(
      instances.map(async (limiter) => {
        const out = [];
        for (let i = 0; i < 6; i += 1) out.push(await limiter.acquire([wa], 10_000));
        return out;
      }),
    );
    const all = results.flat();
    expect(all.filter((r) => !r.ok)).toEqual([]);
    const slots = all.flatMap((r) => (r.ok ? [r.sendAt] : [])).sort((x, y) => x - y);
    expect(slots).toHaveLength(24);
    // Every claim became a send (one slot each), and the slots keep the spacing.
    for (let i = 1; i < slots.length; i += 1) {
      expect(slots[i]! - slots[i - 1]!).toBeGreaterThanOrEqual(intervalOf(80, 100) - 1e-6);
    }
    // No claim needed more than the writes of one wrong guess (no abandon-and-reclaim rounds).
    expect(Math.max(...all.map((r) => r.calls))).toBeLessThanOrEqual(3);
  }, 60_000);

  it('never lets more than the limit into any window of 1 s plus the margin, however many senders race', async () => {
    const rule = { scope: scope('pancake#page#race'), limit: 5 };
    // Sleeps return at once: only the schedule the racing claims build is under test.
    const limiters = Array.from(
      { length: 4 },
      () => new RateLimiter({ tableName: emulators.tables.memory, sleep: async () => {} }),
    );
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => limiters[i % 4]!.acquire([rule], 60_000)),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    const slots = results.flatMap((r) => (r.ok ? [r.sendAt] : [])).sort((a, b) => a - b);
    expect(new Set(slots).size).toBe(12);
    expect(maxInWindow(slots, 1100)).toBeLessThanOrEqual(5);
    for (let i = 1; i < slots.length; i += 1)
      expect(slots[i]! - slots[i - 1]!).toBeGreaterThanOrEqual(220 - 1e-6);
  });

  it('spaces one Telegram chat by its real send time when the bot limit pushed a send later', async () => {
    const clock = new VirtualClock();
    const limiter = limiterOn(clock);
    const bot = { scope: scope('telegram#bot#b1'), limit: 1 };
    const chat = (c: string) => ({ scope: scope(`telegram#chat#b1:${c}`), limit: 1 });
    const t0 = clock.t;
    // Chat c0 takes the bot's only slot of this second (a 1/s bot, to make it tight).
    expect(await limiter.acquire([chat('c0'), bot], 5000)).toMatchObject({ ok: true, sendAt: t0 });
    // Chat c1 is idle (slot t0) but the bot is not (slot t0 + 1.1 s): the send goes at t0 + 1.1 s,
    // and c1's reservation moves there with it (one more write).
    clock.t = t0;
    const pushed = await limiter.acquire([chat('c1'), bot], 5000);
    expect(pushed).toMatchObject({ ok: true, delayed: true, sendAt: t0 + 1100, calls: 3 });
    // c1's next send is spaced from that real send, not from its original slot.
    const next = await limiter.acquire([chat('c1'), bot], 5000);
    expect(next.ok && next.sendAt).toBe(t0 + 2200);
    // Another chat of a roomier bot is not held up by c1.
    const roomy = { scope: scope('telegram#bot#b2'), limit: 30 };
    const other = await limiter.acquire([{ scope: scope('telegram#chat#b2:c9'), limit: 1 }, roomy], 5000);
    expect(other).toMatchObject({ ok: true, delayed: false, calls: 2 });
  });

  it('spreads slots that a stalled event loop woke together instead of sending them in a burst', async () => {
    const clock = new VirtualClock();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Sleeps end at their target, but none before the gate opens: the stall.
    const sleep = async (ms: number): Promise<void> => {
      const target = clock.t + ms;
      await gate;
      clock.t = Math.max(clock.t, target);
    };
    const limiter = new RateLimiter({ tableName: emulators.tables.memory, now: clock.now, sleep });
    const rule = { scope: scope('pancake#page#stall'), limit: 5 };
    const t0 = clock.t;
    const sentAt: number[] = [];
    const sends = [0, 1, 2].map(async () => {
      const acquired = await limiter.acquire([rule], 5000);
      sentAt.push(clock.t);
      return acquired;
    });
    // Let the three claims land (slots t0, t0 + 220, t0 + 440), then stall until t0 + 600.
    while (dynamo.calls.length < 5) await sleepReal(5);
    await sleepReal(20);
    clock.t = t0 + 600;
    release();
    const results = await Promise.all(sends);
    expect(results.map((r) => r.ok && r.sendAt).sort()).toEqual([t0, t0 + 220, t0 + 440]);
    // Both late slots are used (none given up), an interval apart rather than together.
    expect(sentAt).toEqual([t0, t0 + 600, t0 + 820]);
  });

  it('says when to come back instead of waiting past the allowed wait, and claims nothing then', async () => {
    const clock = new VirtualClock();
    const limiter = limiterOn(clock);
    const rule = { scope: scope('telegram#chat#busy'), limit: 1 };
    const t0 = clock.t;
    expect(await limiter.acquire([rule], 0)).toMatchObject({ ok: true, sendAt: t0 });
    clock.t = t0 + 200;
    const deferred = await limiter.acquire([rule], 100);
    // The next slot is t0 + 1100; the caller may wait until t0 + 300: come back 800 ms later.
    expect(deferred).toEqual({ ok: false, retryAfterMs: 800, calls: 1 });
    // The refused call claimed nothing: at t0 + 1100 the chat is idle again, one write.
    clock.t = t0 + 1100;
    expect(await limiter.acquire([rule], 0)).toMatchObject({
      ok: true,
      delayed: false,
      sendAt: t0 + 1100,
      calls: 1,
    });
  });
});
