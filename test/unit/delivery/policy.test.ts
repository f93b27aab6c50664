import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  backoffSeconds,
  MAX_VISIBILITY_SECONDS,
  typingDelayMs,
  windowClosed,
} from '../../../lambdas/delivery/policy.js';
import { intervalOf, rateLimitsFromEnv, rateRules } from '../../../lambdas/delivery/rate-limit.js';

const HOUR = 3_600_000;

describe('backoff schedule', () => {
  it('doubles from the base up to the cap, with jitter within the upper half', () => {
    const top = { random: () => 0.999999 };
    expect([1, 2, 3, 4, 5].map((a) => backoffSeconds(a, undefined, top))).toEqual([2, 4, 8, 16, 32]);
    expect(backoffSeconds(30, undefined, top)).toBe(900);
    expect(backoffSeconds(1, undefined, { random: () => 0 })).toBe(1);
  });

  it('never waits less than Retry-After asks, nor more than SQS allows', () => {
    expect(backoffSeconds(1, 30_000, { random: () => 0 })).toBe(30);
    expect(backoffSeconds(1, 10 ** 9)).toBe(MAX_VISIBILITY_SECONDS);
  });

  it('stays between half and all of the exponential delay for any attempt and random value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 0.9999, noNaN: true }),
        (attempt, r) => {
          const exp = Math.min(900_000, 2000 * 2 ** (attempt - 1));
          const s = backoffSeconds(attempt, undefined, { random: () => r });
          return s >= Math.max(1, Math.floor(exp / 2000)) && s <= Math.ceil(exp / 1000);
        },
      ),
    );
  });
});

describe('messaging windows', () => {
  it('closes after 24 hours on Meta channels and WhatsApp and after 48 hours on Zalo', () => {
    const now = Date.now();
    for (const channel of ['messenger', 'instagram', 'whatsapp'] as const) {
      expect(windowClosed(channel, now - 23 * HOUR, now)).toBe(false);
      expect(windowClosed(channel, now - 25 * HOUR, now)).toBe(true);
    }
    expect(windowClosed('zalo', now - 47 * HOUR, now)).toBe(false);
    expect(windowClosed('zalo', now - 49 * HOUR, now)).toBe(true);
  });

  it('has no window on Pancake and Telegram', () => {
    const now = Date.now();
    expect(windowClosed('pancake', now - 100 * HOUR, now)).toBe(false);
    expect(windowClosed('telegram', now - 100 * HOUR, now)).toBe(false);
  });
});

describe('typing delay', () => {
  it('grows with the reply length and is capped', () => {
    expect(typingDelayMs('hello')).toBe(150);
    expect(typingDelayMs('x'.repeat(1000))).toBe(3000);
    expect(typingDelayMs(undefined)).toBe(0);
    expect(typingDelayMs('ab', { msPerChar: 10, capMs: 15 })).toBe(15);
  });
});

describe('rate rules', () => {
  it('limits Pancake per page, Telegram per chat and per bot, WhatsApp per number and Meta per page', () => {
    expect(rateRules('pancake', 'p1', 'c1')).toEqual([{ scope: 'pancake#page#p1', limit: 5 }]);
    expect(rateRules('telegram', '42', '-100')).toEqual([
      { scope: 'telegram#chat#42:-100', limit: 1 },
      { scope: 'telegram#bot#42', limit: 30 },
    ]);
    expect(rateRules('whatsapp', 'n1', 'w')).toEqual([{ scope: 'whatsapp#number#n1', limit: 80 }]);
    expect(rateRules('messenger', 'fb', 'u')).toEqual([{ scope: 'messenger#page#fb', limit: 300 }]);
    expect(rateRules('zalo', 'oa', 'u')).toEqual([]);
  });

  it('spaces slots so that limit slots span one second plus the margin', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 500 }), (limit, margin) => {
        const interval = intervalOf(limit, margin);
        // limit consecutive slots cover [t, t + limit × interval) = one second plus the margin.
        return Math.abs(interval * limit - (1000 + margin)) < 1e-6 && interval > 0;
      }),
    );
  });
});

describe('rate limits from the environment', () => {
  it('reads overrides from RATE_LIMITS and applies them to the rules', () => {
    const limits = rateLimitsFromEnv({ RATE_LIMITS: '{"pancakePage":3,"telegramBot":20}' });
    expect(limits).toEqual({ pancakePage: 3, telegramBot: 20 });
    expect(rateRules('pancake', 'p1', 'c1', limits)).toEqual([{ scope: 'pancake#page#p1', limit: 3 }]);
    expect(rateRules('telegram', '42', '7', limits)[1]).toEqual({ scope: 'telegram#bot#42', limit: 20 });
    expect(rateLimitsFromEnv({})).toEqual({});
  });

  it('refuses malformed overrides with the variable and the key named', () => {
    expect(() => rateLimitsFromEnv({ RATE_LIMITS: 'fast' })).toThrow(/RATE_LIMITS is not valid JSON/);
    expect(() => rateLimitsFromEnv({ RATE_LIMITS: '{"zaloOa":3}' })).toThrow(/unknown key "zaloOa"/);
    expect(() => rateLimitsFromEnv({ RATE_LIMITS: '{"metaPage":0}' })).toThrow(
      /RATE_LIMITS.metaPage must be a positive number/,
    );
  });
});
