import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { RateLimiter } from '../../lambdas/delivery/rate-limit.js';
import { resetClients } from '../../lambdas/shared/clients.js';

let emulators: Emulators;
let limiter: RateLimiter;

beforeAll(async () => {
  emulators = await startEmulators({ prefix: 'rate' });
  Object.assign(process.env, emulators.env);
  resetClients();
  limiter = new RateLimiter({ tableName: emulators.tables.memory });
});

afterAll(async () => {
  resetClients();
  await emulators.stop();
});

/** The most sends inside any window of `windowMs` (sorted times). */
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
  it('lets a send to an idle chat go at once', async () => {
    const acquired = await limiter.acquire([{ scope: 'telegram#chat#idle', limit: 1 }], 5000);
    expect(acquired.ok).toBe(true);
    // No slot wait at all (a fixed-window limiter would hold it up to 1.1 s): what remains is
    // the two DynamoDB calls, generously bounded for a loaded CI machine.
    expect(acquired.ok && acquired.delayed).toBe(false);
    expect(acquired.ok && acquired.waitedMs).toBeLessThan(500);
  });

  it('never lets more than the limit through in any second, however many senders race', async () => {
    const rule = { scope: 'pancake#page#race', limit: 5 };
    const sentAt: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const acquired = await limiter.acquire([rule], 5000);
        if (acquired.ok) sentAt.push(Date.now());
        return acquired.ok;
      }),
    );
    expect(results.every(Boolean)).toBe(true);
    sentAt.sort((a, b) => a - b);
    expect(maxInWindow(sentAt, 1000)).toBeLessThanOrEqual(5);
    // Twelve sends at five per 1.1 s need a little over two seconds (2.4 s of slots), not much more.
    expect(sentAt.at(-1)! - sentAt[0]!).toBeLessThan(4500);
  });

  it('spaces one chat to one message per second while the bot limit holds for every chat', async () => {
    const rules = (chat: string) => [
      { scope: `telegram#chat#b1:${chat}`, limit: 1 },
      { scope: 'telegram#bot#b1', limit: 30 },
    ];
    const chatTimes: number[] = [];
    const started = Date.now();
    for (let i = 0; i < 3; i += 1) {
      const acquired = await limiter.acquire(rules('c1'), 5000);
      expect(acquired.ok).toBe(true);
      chatTimes.push(Date.now());
    }
    expect(chatTimes[1]! - chatTimes[0]!).toBeGreaterThanOrEqual(1000);
    expect(chatTimes[2]! - chatTimes[1]!).toBeGreaterThanOrEqual(1000);
    // Another chat of the same bot is not held up by c1's spacing.
    const other = await limiter.acquire(rules('c2'), 5000);
    expect(other.ok && other.delayed).toBe(false);
    expect(other.ok && other.waitedMs).toBeLessThan(500);
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it('says when to come back instead of waiting past the allowed wait', async () => {
    const rule = { scope: 'telegram#chat#busy', limit: 1 };
    expect((await limiter.acquire([rule], 0)).ok).toBe(true);
    const deferred = await limiter.acquire([rule], 100);
    expect(deferred.ok).toBe(false);
    expect(!deferred.ok && deferred.retryAfterMs).toBeGreaterThan(800);
    expect(!deferred.ok && deferred.retryAfterMs).toBeLessThanOrEqual(1100);
    // The refused call claimed nothing: after the interval the chat is idle again.
    await new Promise((resolve) => setTimeout(resolve, 1150));
    const later = await limiter.acquire([rule], 0);
    expect(later.ok && later.delayed).toBe(false);
  });
});
