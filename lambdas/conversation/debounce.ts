/**
 * Debounce ("chunk buffering") with a timer queue. Every message bumps its turn's version and
 * arms a delayed tick carrying that version; a tick whose version is no longer current is
 * stale. A cap (`maxTurnWaitMs`) flushes a customer who never stops typing: a stale tick that
 * arrives once the turn has been open that long flushes it anyway (reason `max-wait`).
 *
 * Ticks travel through the standard SQS timer queue as a {@link TimerTick}: the flush event
 * plus its exact due time. SQS delays are whole seconds and at most 900, so a tick is armed
 * with `ceil(ms / 1000)` seconds (never early; a sub-second debounce rounds up to 1 s) and the
 * timer Lambda re-delays a tick whose due time is still ahead (waits longer than 900 s).
 */
import * as z from 'zod';
import { sha256Hex } from '../shared/keys.js';
import { type FlushEvent, flushEventSchema } from '../shared/model.js';
import type { ConversationState } from './turn.js';

/** SQS's largest per-message delay, in seconds. */
export const MAX_DELAY_SECONDS = 900;

/** What travels on the timer queue. */
export const timerTickSchema = z.object({
  v: z.literal(1),
  /** When the flush is due, epoch ms. */
  dueAt: z.number(),
  event: flushEventSchema,
});
export type TimerTick = z.infer<typeof timerTickSchema>;

/** SQS DelaySeconds for a wait of `ms` milliseconds: rounded up, capped at 900. */
export function delaySecondsFor(ms: number): number {
  if (ms <= 0) return 0;
  return Math.min(MAX_DELAY_SECONDS, Math.ceil(ms / 1000));
}

/**
 * The FIFO dedup id of a tick forwarded into inbound.fifo. A duplicate delivery of one timer
 * message (standard queues deliver at least once) carries the same `armedAt` and is dropped by
 * SQS; a deliberate re-arm of the same version has a new `armedAt` and is not.
 */
export function tickDedupId(event: Pick<FlushEvent, 'turnId' | 'version' | 'reason' | 'armedAt'>): string {
  return sha256Hex(event.turnId, String(event.version), event.reason, String(event.armedAt));
}

/** What the timer Lambda does with a tick. */
export type TimerDecision =
  | { readonly action: 'forward' }
  | { readonly action: 'delay'; readonly delaySeconds: number };

/** Forward a due tick into inbound.fifo, or put it back on the timer queue for the time left. */
export function timerDecision(tick: TimerTick, now: number): TimerDecision {
  const remaining = tick.dueAt - now;
  // SQS never delivers a delayed message early, so only a capped (>900 s) wait is still ahead
  // by a second or more; sub-second leftovers are clock skew and go through.
  if (remaining >= 1000) return { action: 'delay', delaySeconds: delaySecondsFor(remaining) };
  return { action: 'forward' };
}

/** Timing settings of one conversation (tenant settings over environment defaults). */
export interface TurnTiming {
  readonly debounceMs: number;
  /** 0 disables the cap. */
  readonly maxTurnWaitMs: number;
  readonly mediaTimeoutMs: number;
}

/** What the actor does with a flush tick. */
export type FlushDecision =
  | { readonly action: 'flush'; readonly reason: FlushEvent['reason']; readonly expireMedia: boolean }
  /** The turn's reply was decided but may not all be queued: queue it (idempotently). */
  | { readonly action: 'resume' }
  | { readonly action: 'wait-media' }
  | { readonly action: 'stale'; readonly why: string };

/** Decides what a flush tick means for the current state. Pure. */
export function evaluateFlush(
  state: ConversationState,
  tick: Pick<FlushEvent, 'turnId' | 'version' | 'reason'>,
  now: number,
  timing: TurnTiming,
): FlushDecision {
  const turn = state.turn;
  if (!turn || turn.turnId !== tick.turnId) return { action: 'stale', why: 'other-turn' };
  if (turn.status === 'answered') return { action: 'resume' };
  if (turn.status !== 'open') return { action: 'stale', why: `turn-${turn.status}` };
  if (tick.reason === 'media-timeout') {
    if (turn.pendingMedia.length === 0) return { action: 'stale', why: 'media-done' };
    // Each media item gets its full wait: a voice note sent after another waits for its own tick.
    // (A second of slack covers clock differences between Lambda instances; items recorded
    // before `since` existed count as overdue.)
    const overdue = turn.pendingMedia.every((m) => now - (m.since ?? 0) >= timing.mediaTimeoutMs - 1000);
    return overdue
      ? { action: 'flush', reason: 'media-timeout', expireMedia: true }
      : { action: 'wait-media' };
  }
  if (turn.pendingMedia.length > 0) return { action: 'wait-media' };
  if (tick.version === turn.version) return { action: 'flush', reason: tick.reason, expireMedia: false };
  if (timing.maxTurnWaitMs > 0 && now - turn.openedAt >= timing.maxTurnWaitMs) {
    return { action: 'flush', reason: 'max-wait', expireMedia: false };
  }
  return { action: 'stale', why: 'newer-version' };
}
