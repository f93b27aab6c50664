import { describe, expect, it } from 'vitest';
import {
  delaySecondsFor,
  evaluateFlush,
  type TimerTick,
  tickDedupId,
  timerDecision,
} from '../../../lambdas/conversation/debounce.js';
import { appendMessage, attachMedia, emptyState, mediaMarker } from '../../../lambdas/conversation/turn.js';
import type { NormalisedMessage } from '../../../lambdas/shared/model.js';

const ids = {
  tenantId: 't',
  channel: 'telegram' as const,
  conversationId: '1:2',
  conversationKey: 't#telegram#1:2',
};
const timing = { debounceMs: 2500, maxTurnWaitMs: 15_000, mediaTimeoutMs: 120_000 };

function message(id: string, extra: Partial<NormalisedMessage> = {}): NormalisedMessage {
  return {
    ...ids,
    messageId: id,
    pageId: '1',
    customer: { id: '2' },
    timestamp: 0,
    receivedAt: 0,
    kind: 'text',
    text: id,
    attachments: [],
    surface: 'inbox',
    ...extra,
  };
}

describe('debounce', () => {
  it('rounds delays up to whole seconds and caps them at 900', () => {
    expect(delaySecondsFor(0)).toBe(0);
    expect(delaySecondsFor(1)).toBe(1);
    expect(delaySecondsFor(2500)).toBe(3);
    expect(delaySecondsFor(3_600_000)).toBe(900);
  });

  it('re-delays a tick still a second or more ahead and forwards a due one', () => {
    const tick = { v: 1, dueAt: 1_000_000, event: {} } as unknown as TimerTick;
    expect(timerDecision(tick, 1_000_000 - 1_200_000)).toEqual({ action: 'delay', delaySeconds: 900 });
    expect(timerDecision(tick, 1_000_000 - 5_000)).toEqual({ action: 'delay', delaySeconds: 5 });
    expect(timerDecision(tick, 1_000_000 - 300)).toEqual({ action: 'forward' });
    expect(timerDecision(tick, 1_000_500)).toEqual({ action: 'forward' });
  });

  it('gives re-armed ticks of one version different dedup ids but duplicates the same one', () => {
    const base = { turnId: 'tx', version: 2, reason: 'debounce' as const };
    expect(tickDedupId({ ...base, armedAt: 1 })).toBe(tickDedupId({ ...base, armedAt: 1 }));
    expect(tickDedupId({ ...base, armedAt: 1 })).not.toBe(tickDedupId({ ...base, armedAt: 2 }));
    expect(tickDedupId({ ...base, armedAt: 1 }).length).toBeLessThanOrEqual(128);
  });

  it('flushes the current version, ignores older ones until maxTurnWaitMs, then flushes anyway', () => {
    let s = appendMessage(emptyState(ids), message('a'), 1000, { mediaWorker: true }).state;
    s = appendMessage(s, message('b'), 2000, { mediaWorker: true }).state;
    const turnId = s.turn?.turnId ?? '';
    expect(evaluateFlush(s, { turnId, version: 2, reason: 'debounce' }, 4000, timing)).toMatchObject({
      action: 'flush',
      reason: 'debounce',
    });
    expect(evaluateFlush(s, { turnId, version: 1, reason: 'debounce' }, 4000, timing)).toMatchObject({
      action: 'stale',
    });
    expect(evaluateFlush(s, { turnId, version: 1, reason: 'debounce' }, 16_000, timing)).toMatchObject({
      action: 'flush',
      reason: 'max-wait',
    });
    expect(
      evaluateFlush(s, { turnId, version: 1, reason: 'debounce' }, 99_000, { ...timing, maxTurnWaitMs: 0 }),
    ).toMatchObject({ action: 'stale' });
    expect(evaluateFlush(s, { turnId: 'other', version: 2, reason: 'debounce' }, 4000, timing)).toMatchObject(
      {
        action: 'stale',
      },
    );
  });

  it('gives a voice note sent after another its own full media wait', () => {
    const first = message('v1', {
      kind: 'audio',
      text: undefined,
      attachments: [{ kind: 'audio', voice: true }],
    });
    const second = message('v2', {
      kind: 'audio',
      text: undefined,
      attachments: [{ kind: 'audio', voice: true }],
    });
    const one = appendMessage(emptyState(ids), first, 0, { mediaWorker: true }).state;
    const later = timing.mediaTimeoutMs - 10_000;
    const two = appendMessage(one, second, later, { mediaWorker: true }).state;
    const turnId = two.turn?.turnId ?? '';
    // The first note's timeout tick arrives: the second note has waited only 10 s.
    expect(
      evaluateFlush(two, { turnId, version: 2, reason: 'media-timeout' }, timing.mediaTimeoutMs, timing),
    ).toEqual({
      action: 'wait-media',
    });
    // The second note's own tick gives up on both.
    expect(
      evaluateFlush(
        two,
        { turnId, version: 2, reason: 'media-timeout' },
        later + timing.mediaTimeoutMs,
        timing,
      ),
    ).toMatchObject({ action: 'flush', expireMedia: true });
  });

  it('waits for pending media unless the tick is the media timeout', () => {
    const voice = message('v', {
      kind: 'audio',
      text: undefined,
      attachments: [{ kind: 'audio', voice: true }],
    });
    const s = appendMessage(emptyState(ids), voice, 0, { mediaWorker: true }).state;
    const turnId = s.turn?.turnId ?? '';
    expect(evaluateFlush(s, { turnId, version: 1, reason: 'debounce' }, 5000, timing)).toEqual({
      action: 'wait-media',
    });
    expect(
      evaluateFlush(s, { turnId, version: 1, reason: 'media-timeout' }, timing.mediaTimeoutMs, timing),
    ).toMatchObject({
      action: 'flush',
      expireMedia: true,
    });
    const ready = attachMedia(s, { turnId, messageId: 'v', attachmentIndex: 0, transcript: 'hi' }, 10);
    expect(ready?.turn).toMatchObject({ version: 2, pendingMedia: [] });
    expect(ready?.turn?.messages[0]?.transcript).toBe('hi');
    expect(attachMedia(s, { turnId: 'old', messageId: 'v', attachmentIndex: 0 }, 10)).toBeUndefined();
    expect(mediaMarker({ kind: 'audio' }, 'MEDIA_TIMEOUT')).toBe(
      '[voice note could not be transcribed: MEDIA_TIMEOUT]',
    );
  });
});
