/**
 * Keys derived from platform ids (lambdas/shared/keys.ts) stay within DynamoDB's and SQS's
 * limits whatever the ids hold, are deterministic, and never merge two distinct inputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  conversationKey,
  conversationPk,
  customerPk,
  factSk,
  failureSk,
  HASHED_MARKER,
  historySk,
  inboundDedupId,
  isWellFormed,
  mediaSk,
  messageGroupId,
  outboundDedupId,
  PK_MAX_BYTES,
  ratePk,
  SK_MAX_BYTES,
  SQS_ID_MAX,
  sentPk,
  summarySk,
} from '../../../lambdas/shared/keys.js';
import { CHANNELS, type ChannelName } from '../../../lambdas/shared/model.js';

const RUNS = 300;

/** Any UTF-16 code unit, lone surrogates included (JSON `\ud800` escapes produce them). */
const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Short strings of any units, of any code points, and long repeated ones past every limit. */
const anyId = fc.oneof(
  fc.string({ unit: anyUnit, maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).map((s) => `${HASHED_MARKER}${s}`),
  fc
    .tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }), fc.integer({ min: 150, max: 1200 }))
    .map(([s, n]) => s.repeat(n)),
  fc
    .tuple(fc.string({ unit: anyUnit, minLength: 1, maxLength: 3 }), fc.integer({ min: 300, max: 2500 }))
    .map(([s, n]) => s.repeat(n)),
);
const tenantId = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/);
const channel = fc.constantFrom<ChannelName>(...CHANNELS);
const epochMs = fc.integer({ min: 0, max: 999_999_999_999_999 });

const bytes = (s: string): number => Buffer.byteLength(s);

/** A key function of one string, with its byte limit. */
const SINGLE: readonly [string, (id: string) => string, number][] = [
  ['conversationPk', conversationPk, PK_MAX_BYTES],
  ['ratePk', ratePk, PK_MAX_BYTES],
  ['failureSk', failureSk, SK_MAX_BYTES],
  ['factSk', factSk, SK_MAX_BYTES],
  ['historySk at a fixed time', (id) => historySk(1_718_000_000_000, id), SK_MAX_BYTES],
  ['mediaSk of a turn', (id) => mediaSk('t0123456789abcdef0123456789abcde', id, 0), SK_MAX_BYTES],
  ['sentPk of a tenant', (id) => sentPk('acme', 'messenger', id), PK_MAX_BYTES],
  ['customerPk of a tenant', (id) => customerPk('acme', 'telegram', id), PK_MAX_BYTES],
];

describe.each(SINGLE)('%s', (_name, key, maxBytes) => {
  it('stays within the byte limit and well-formed, and is the same for the same input', () => {
    fc.assert(
      fc.property(anyId, (id) => {
        const k = key(id);
        expect(bytes(k)).toBeLessThanOrEqual(maxBytes);
        expect(isWellFormed(k)).toBe(true);
        expect(key(id)).toBe(k);
      }),
      { numRuns: RUNS },
    );
  });

  it('gives distinct inputs distinct keys, including inputs that look like hashed keys', () => {
    fc.assert(
      fc.property(anyId, anyId, (a, b) => {
        fc.pre(a !== b);
        expect(key(a)).not.toBe(key(b));
      }),
      { numRuns: RUNS },
    );
    // The hashed form fed back as a raw id is hashed again, never mistaken for the original.
    fc.assert(
      fc.property(anyId, (id) => {
        const k = key(id);
        const hashed = /~[0-9a-f]{64}$/.exec(k);
        if (!hashed) return;
        expect(key(hashed[0])).not.toBe(k);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('memory keys', () => {
  it('leave keys that fit exactly as they were before the bound', () => {
    expect(conversationPk('acme#messenger#1:2')).toBe('conv#acme#messenger#1:2');
    expect(historySk(1_718_000_000_000, 'mid.1')).toBe('hist#001718000000000#mid.1');
    expect(summarySk(1_718_000_000_000)).toBe('summary#001718000000000');
    expect(customerPk('acme', 'zalo', 'u1')).toBe('cust#acme#zalo#u1');
    expect(sentPk('acme', 'zalo', 'mid-1')).toBe('sent#acme#zalo#mid-1');
    expect(failureSk('t1:0')).toBe('failure#t1:0');
    expect(factSk('size')).toBe('fact#size');
    expect(ratePk('telegram#chat#1:2')).toBe('rate#telegram#chat#1:2');
    expect(mediaSk('t1', 'wamid.1', 2)).toBe('media#t1#wamid.1#2');
  });

  it('hash the 3000-character sender and the 2000-character mid of the issue', () => {
    const sender = `9${'8'.repeat(2999)}`;
    const key = conversationKey('acme', 'messenger', `110000000000001:${sender}`);
    expect(bytes(`conv#${key}`)).toBeGreaterThan(PK_MAX_BYTES);
    expect(conversationPk(key)).toMatch(/^conv#~[0-9a-f]{64}$/);
    expect(customerPk('acme', 'messenger', sender)).toMatch(/^cust#~[0-9a-f]{64}$/);
    const mid = `m_${'M'.repeat(1998)}`;
    expect(historySk(1_718_000_000_000, mid)).toMatch(/^hist#001718000000000#~[0-9a-f]{64}$/);
  });

  it('keep history and summaries in time order whatever the ids', () => {
    fc.assert(
      fc.property(epochMs, epochMs, anyId, anyId, (t1, t2, a, b) => {
        fc.pre(t1 !== t2);
        const [early, late] = t1 < t2 ? [t1, t2] : [t2, t1];
        expect(historySk(early, a) < historySk(late, b)).toBe(true);
        expect(summarySk(early) < summarySk(late)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('never throw on an impossible time: it is clamped into the 15 digits', () => {
    for (const t of [Number.NaN, Number.POSITIVE_INFINITY, -5, 1e308, 1.5]) {
      const sk = historySk(t, 'x');
      expect(sk).toMatch(/^hist#\d{15}#x$/);
      expect(summarySk(t)).toMatch(/^summary#\d{15}$/);
    }
  });

  it('keep the parts of customer and sent-id keys apart for valid tenant ids', () => {
    fc.assert(
      fc.property(tenantId, channel, anyId, tenantId, channel, anyId, (t1, c1, id1, t2, c2, id2) => {
        fc.pre(t1 !== t2 || c1 !== c2 || id1 !== id2);
        expect(customerPk(t1, c1, id1)).not.toBe(customerPk(t2, c2, id2));
        expect(sentPk(t1, c1, id1)).not.toBe(sentPk(t2, c2, id2));
        expect(bytes(customerPk(t1, c1, id1))).toBeLessThanOrEqual(PK_MAX_BYTES);
        expect(bytes(sentPk(t1, c1, id1))).toBeLessThanOrEqual(PK_MAX_BYTES);
      }),
      { numRuns: RUNS },
    );
  });

  it('keep history keys of distinct (time, id) pairs distinct', () => {
    fc.assert(
      fc.property(epochMs, anyId, epochMs, anyId, (t1, a, t2, b) => {
        fc.pre(t1 !== t2 || a !== b);
        expect(historySk(t1, a)).not.toBe(historySk(t2, b));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('SQS ids', () => {
  it('are at most 128 printable ASCII characters whatever the conversation key or reply id', () => {
    fc.assert(
      fc.property(tenantId, channel, anyId, anyId, (t, c, conversation, id) => {
        const key = conversationKey(t, c, conversation);
        for (const sqsId of [messageGroupId(key), inboundDedupId(t, c, id), outboundDedupId(`${id}:0`)]) {
          expect(sqsId.length).toBeLessThanOrEqual(SQS_ID_MAX);
          expect(sqsId).toMatch(/^[\x21-\x7e]+$/);
        }
        expect(messageGroupId(key)).toBe(messageGroupId(conversationKey(t, c, conversation)));
      }),
      { numRuns: RUNS },
    );
  });
});
