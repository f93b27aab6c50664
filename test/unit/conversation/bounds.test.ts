import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BOUNDS,
  boundText,
  epochMs,
  estimateBytes,
  isStorableNumber,
  prefixWithinBytes,
  STORED_TEXT_MARKER,
  seenDigest,
  storedMessageId,
  withStorableNumbers,
} from '../../../lambdas/conversation/bounds.js';
import {
  appendMessage,
  attachMedia,
  type ConversationState,
  emptyState,
  fitState,
  hasSeen,
  isTurnFull,
  type StoredReply,
  stateItem,
} from '../../../lambdas/conversation/turn.js';
import type { NormalisedMessage } from '../../../lambdas/shared/model.js';

/** DynamoDB's item size limit. */
const DYNAMO_ITEM_LIMIT = 400 * 1024;
const NOW = 1_700_000_000_000;
/** A BMP letter of 3 UTF-8 bytes (UTF-8's worst case per UTF-16 code unit). */
const WIDE = 'ệ';

const huge = (n: number) => WIDE.repeat(n);
const longId = huge(1360);
const ref = {
  tenantId: 't',
  channel: 'whatsapp' as const,
  conversationId: longId,
  conversationKey: `t#whatsapp#${longId}`,
};

/** A message with every field at (far past) its bound. */
function maximal(i: number): NormalisedMessage {
  return {
    tenantId: 't',
    channel: 'whatsapp',
    conversationId: longId,
    conversationKey: ref.conversationKey,
    messageId: `${i}${huge(3000)}`,
    pageId: huge(1365),
    customer: { id: huge(1365), name: huge(5000), phone: '1'.repeat(64) },
    timestamp: NOW,
    receivedAt: NOW,
    kind: 'audio',
    text: huge(300_000),
    postback: huge(300_000),
    commentId: huge(1365),
    surface: 'comment',
    attachments: Array.from({ length: 30 }, () => ({
      kind: 'audio' as const,
      url: `https://x/${huge(1300)}`,
      fileId: huge(300),
      mimeType: 'audio/ogg',
      name: huge(1000),
      voice: true,
    })),
  };
}

describe('state bounds', () => {
  it('keeps the largest possible state item under its bound and under 400 KB without shrinking', () => {
    let state: ConversationState = emptyState(ref);
    let i = 0;
    // Fill the turn as close to its byte budget as messages of decreasing size allow without
    // making it full, then one maximal message (with media) makes it full: the actor answers it then.
    for (const size of [20_000, 2000, 200, 20]) {
      for (;;) {
        const filler = {
          ...maximal(i),
          kind: 'text' as const,
          attachments: [],
          postback: undefined,
          text: huge(size),
        };
        const appended = appendMessage(state, filler, NOW, { mediaWorker: true });
        if (isTurnFull(appended.turn)) break;
        state = appended.state;
        i += 1;
      }
    }
    const fillerBytes = estimateBytes(state.turn);
    expect(fillerBytes).toBeGreaterThan(BOUNDS.turnFlushBytes - 1024);
    const appended = appendMessage(state, maximal(i), NOW, { mediaWorker: true });
    expect(isTurnFull(appended.turn)).toBe(true);
    state = appended.state;
    // Every pending media item comes back with the largest transcript and keyframes.
    const pending = state.turn?.pendingMedia ?? [];
    expect(pending.length).toBeGreaterThan(0);
    for (const media of pending) {
      const before = state;
      state =
        attachMedia(
          state,
          {
            turnId: state.turn?.turnId ?? '',
            messageId: maximal(i).messageId,
            attachmentIndex: media.attachmentIndex,
            transcript: huge(100_000),
            keyframes: Array.from({ length: 20 }, () => huge(340)),
          },
          NOW,
        ) ?? state;
      expect(state).not.toBe(before);
    }
    // The worst case: a state item of the earlier layout, which kept the reply's parts.
    const reply: StoredReply = {
      partCount: BOUNDS.replyParts,
      historySk: `hist#${'0'.repeat(15)}#t${'a'.repeat(31)}`,
      trigger: `f:1:media-timeout:${NOW}`,
      target: { surface: 'comment', replyToMessageId: huge(1360) },
      parts: Array.from({ length: BOUNDS.replyParts }, () => ({
        text: boundText(huge(4096), BOUNDS.replyText),
      })),
      historySks: Array.from(
        { length: BOUNDS.replyParts },
        (_, k) => `hist#${'0'.repeat(15)}#t${'a'.repeat(31)}:${k}`,
      ),
      answeredAt: NOW,
      handoff: false,
      outcome: 'regenerated',
      reason: 'media-timeout',
    };
    const answered: ConversationState = {
      ...state,
      turn: state.turn ? { ...state.turn, status: 'answered', reply } : undefined,
      lastBotReply: boundText(huge(50_000), BOUNDS.lastBotReply),
      seen: Array.from({ length: 200 }, (_, k) => seenDigest(String(k))).slice(-BOUNDS.seen),
      pausedUntil: NOW,
      rev: 123_456,
    };
    const bytes = estimateBytes(stateItem(answered));
    if (process.env.PRINT_BOUNDS) {
      process.stdout.write(`largest state: ${bytes} bytes; turn ${estimateBytes(answered.turn)} bytes\n`);
    }
    expect(bytes).toBeLessThanOrEqual(BOUNDS.stateItem);
    expect(bytes).toBeLessThan(DYNAMO_ITEM_LIMIT);
    expect(fitState(answered).shrunk).toBe(false);
    // And it was not small by accident: the turn is at its byte budget.
    expect(bytes).toBeGreaterThan(BOUNDS.turnFlushBytes);
  });

  it('for any sequence of messages, the open turn stays within its message and byte bounds once the actor flushes full turns', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            text: fc.oneof(
              fc.string({ maxLength: 20 }),
              fc.constant(huge(50_000)),
              fc.constant('a'.repeat(20_000)),
            ),
            id: fc.oneof(fc.string({ minLength: 1, maxLength: 10 }), fc.constant('x'.repeat(5000))),
            timestamp: fc.oneof(fc.constant(1e308), fc.constant(-1), fc.double(), fc.constant(NOW)),
          }),
          { minLength: 1, maxLength: 120 },
        ),
        (messages) => {
          let state: ConversationState = emptyState({
            ...ref,
            conversationId: 'c',
            conversationKey: 't#whatsapp#c',
          });
          messages.forEach((m, k) => {
            const appended = appendMessage(
              state,
              {
                ...maximal(0),
                messageId: `${k}:${m.id}`,
                text: m.text,
                timestamp: m.timestamp,
                attachments: [],
              },
              NOW,
              { mediaWorker: true },
            );
            state = appended.state;
            expect(appended.turn.messages.length).toBeLessThanOrEqual(BOUNDS.turnMessages);
            expect(estimateBytes(appended.turn)).toBeLessThan(BOUNDS.turnFlushBytes + 64 * 1024);
            for (const record of appended.turn.messages)
              expect(isStorableNumber(record.timestamp)).toBe(true);
            // The actor answers a full turn; model that by closing it.
            if (isTurnFull(appended.turn)) state = { ...state, turn: { ...appended.turn, status: 'done' } };
          });
          expect(state.seen.length).toBeLessThanOrEqual(BOUNDS.seen);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('remembers message ids as fixed-size digests and still recognises raw ids stored before them', () => {
    const state = appendMessage(emptyState(ref), { ...maximal(0), messageId: 'x'.repeat(2000) }, NOW, {
      mediaWorker: false,
    }).state;
    expect(state.seen).toEqual([`${seenDigest('x'.repeat(2000))}@${Math.floor(NOW / 1000).toString(36)}`]);
    expect(hasSeen(state, 'x'.repeat(2000))).toBe(true);
    expect(hasSeen({ ...state, seen: ['legacy-raw-id'] }, 'legacy-raw-id')).toBe(true);
    expect(hasSeen(state, 'other')).toBe(false);
  });

  it('digests message ids over the bound (and any starting with ~), keeps others as they are', () => {
    expect(storedMessageId('wamid.ABC')).toBe('wamid.ABC');
    const digested = storedMessageId('m'.repeat(BOUNDS.messageId + 1));
    expect(digested).toMatch(/^~[0-9a-f]{64}$/);
    expect(storedMessageId('~abc')).not.toBe('~abc');
  });

  it('shrinks a state over its bound as a last resort', () => {
    const base = emptyState(ref);
    const state: ConversationState = {
      ...base,
      lastBotReply: 'x'.repeat(500_000),
      turn: {
        turnId: 't1',
        version: 1,
        status: 'open',
        firstReceivedAt: NOW,
        openedAt: NOW,
        lastMessageAt: NOW,
        pendingMedia: [],
        messages: [
          {
            messageId: 'm',
            kind: 'text',
            text: 'y'.repeat(500_000),
            timestamp: NOW,
            receivedAt: NOW,
            attachments: [{ kind: 'image', url: 'https://x' }],
            surface: 'inbox',
          },
        ],
      },
    };
    const fitted = fitState(state);
    expect(fitted.shrunk).toBe(true);
    expect(estimateBytes(fitted.state)).toBeLessThan(BOUNDS.stateItem);
    expect(fitted.state.lastBotReply).toBeUndefined();
    expect(fitted.state.turn?.messages[0]?.text?.endsWith(STORED_TEXT_MARKER)).toBe(true);
  });
});

describe('bounded values', () => {
  it('cuts text to a byte bound at a code point, with the marker, and leaves text within it alone', () => {
    expect(boundText('short', 100)).toBe('short');
    const cut = boundText('😀'.repeat(1000), 100);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(100);
    expect(cut.endsWith(STORED_TEXT_MARKER)).toBe(true);
    expect(cut.slice(0, -STORED_TEXT_MARKER.length)).toMatch(/^(😀)+$/u);
    expect(prefixWithinBytes('aé😀', 6)).toBe('aé');
  });

  it('accepts plausible epoch-ms times only', () => {
    expect(epochMs(NOW, 1)).toBe(NOW);
    for (const bad of [1e308, -1, Number.NaN, Number.POSITIVE_INFINITY, '1', undefined]) {
      expect(epochMs(bad, 7)).toBe(7);
    }
  });

  it('drops every number DynamoDB cannot store, however deep', () => {
    const dropped: string[] = [];
    const out = withStorableNumbers(
      { a: 1, b: 1e308, c: [1, Number.NaN, { d: -1e200, e: 1e-200, f: 0, g: 'x' }], h: undefined },
      dropped,
    );
    expect(out).toEqual({ a: 1, c: [1, null, { f: 0, g: 'x' }] });
    expect(dropped).toEqual(['b', 'c[1]', 'c[2].d', 'c[2].e']);
    expect(isStorableNumber(9.9e125)).toBe(true);
    expect(isStorableNumber(1e126)).toBe(false);
  });
});
