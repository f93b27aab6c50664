/**
 * The stored shapes the audit trail is read from (docs/conversation.md, "Memory items"), written
 * by writes the pipeline already makes:
 *
 * - the **turn item** (`conv#{key}` / `historySk(firstReceivedAt, turnId)`): the turn's customer
 *   messages and its reply, which is the conversation history the responder reads, plus the
 *   turn's audit (flush, media, responder, gates, outcome). One put per turn.
 * - the **delivery record** of each reply part (`conv#{key}` / `attempts#{replyId}`): delivery's
 *   crash-safe sending mark, its outcome (the part's idempotency), failed attempts and retry codes.
 * - **takeover items** (`conv#{key}` / `takeover#{at}#{by}`): a human or operator took the
 *   conversation over, or handed it back.
 *
 * Plain functions from items to the contracts' audit types, shared by the reader
 * (`lambdas/memory/trail.ts`) and the writers.
 */
import { numberedText } from '../channels/send/rich.js';
import type {
  AuditDelivery,
  AuditMessage,
  AuditTakeover,
  AuditTurn,
  DeliveryState,
  FlushReason,
} from '../contracts/audit.js';

/** A reply part as the turn item keeps it (the outbound part is rebuilt from it on a resume). */
export interface StoredReplyPart {
  readonly text?: string;
  readonly imageUrl?: string;
  readonly quickReplies?: readonly { readonly title: string; readonly payload?: string }[];
  readonly buttons?: readonly (
    | { readonly type: 'url'; readonly title: string; readonly url: string }
    | { readonly type: 'postback'; readonly title: string; readonly payload: string }
  )[];
}

/** A customer message in the turn item: its audit fields plus the text history keeps. */
export interface StoredTurnMessage extends AuditMessage {
  /** Text, transcript and media markers as the history keeps them (what the responder reads back). */
  readonly text?: string;
}

/**
 * The turn item's attributes (without `pk`/`sk`): the turn's audit fields as the contract
 * defines them, plus the history (messages with their text, the reply) and the TTL.
 */
export interface TurnItem
  extends Pick<
    AuditTurn,
    'turnId' | 'flushedAt' | 'flushReason' | 'media' | 'responder' | 'gates' | 'outcome'
  > {
  /** When the turn's first message was received (the history entry's time), epoch ms. */
  readonly at: number;
  readonly messages: readonly StoredTurnMessage[];
  readonly reply?: { readonly at: number; readonly parts: readonly StoredReplyPart[] };
  /** Epoch seconds (the table's TTL): the history TTL. */
  readonly expiresAt: number;
}

/** True when a stored history item is a turn item (older layouts kept one item per message). */
export function isTurnItem(item: Record<string, unknown>): boolean {
  return typeof item.turnId === 'string' && Array.isArray(item.messages);
}

/** A part's delivery record as stored on its attempts item. */
export interface DeliveryRecordItem {
  readonly replyId?: string;
  /** Set right before the part's first platform call (the crash-safe sending mark). */
  readonly sending?: number;
  /** Real failed attempts. */
  readonly failures?: number;
  /** Codes of the retried failures, oldest first (bounded). */
  readonly retryCodes?: readonly string[];
  /** The part's final outcome: `sent`, `failed`, `expired`, `dead-lettered`. Its idempotency. */
  readonly outcome?: string;
  readonly platformMessageId?: string;
  readonly code?: string;
  readonly at?: number;
  readonly lastFailureAt?: number;
}

/** Failure code of a part not sent again because a crash cut off an earlier send of it. */
export const AMBIGUOUS_AFTER_CRASH = 'AMBIGUOUS_AFTER_CRASH';
/** Failure code recorded for replies not sent because the messaging window had closed. */
export const EXPIRED_CODE = 'WINDOW_CLOSED';

/** The audit view of one part's delivery record (`undefined` record: queued, never tried). */
export function toAuditDelivery(
  replyId: string,
  part: number,
  record: DeliveryRecordItem | undefined,
  fallbackAt: number,
): AuditDelivery {
  const failures = num(record?.failures);
  const retryCodes = Array.isArray(record?.retryCodes) ? record.retryCodes.map(String) : [];
  const at = num(record?.at) || num(record?.lastFailureAt) || num(record?.sending) || fallbackAt;
  let state: DeliveryState = 'pending';
  let permanentCode: string | undefined;
  switch (record?.outcome) {
    case 'sent':
      state = 'sent';
      break;
    case 'expired':
      state = 'failed';
      permanentCode = record.code ?? EXPIRED_CODE;
      break;
    case 'dead-lettered':
      state = 'dead-lettered';
      permanentCode = record.code;
      break;
    case 'failed':
      state = record.code === AMBIGUOUS_AFTER_CRASH ? 'ambiguous' : 'failed';
      permanentCode = record.code;
      break;
    default:
      if (record?.sending !== undefined) state = 'sending';
      else if (failures > 0) state = 'retrying';
  }
  // A sent part was tried once more than it failed; a refused one's refusal is an attempt too.
  const attempts = failures + (record?.outcome === 'sent' || record?.outcome === 'failed' ? 1 : 0);
  return {
    replyId,
    part,
    state,
    ...(record?.platformMessageId !== undefined
      ? { platformMessageId: String(record.platformMessageId) }
      : {}),
    attempts: state === 'sending' ? Math.max(1, failures + 1) : attempts,
    retryCodes,
    ...(permanentCode !== undefined ? { permanentCode } : {}),
    at,
  };
}

/** The audit view of a turn item, its deliveries read from the parts' records. */
export function toAuditTurn(
  item: Record<string, unknown>,
  deliveries: ReadonlyMap<string, DeliveryRecordItem>,
): AuditTurn {
  const turn = item as unknown as TurnItem;
  const parts = turn.reply?.parts ?? [];
  const at = num(turn.reply?.at) || num(turn.flushedAt);
  return {
    turnId: turn.turnId,
    messages: (turn.messages ?? []).map((m) => ({
      messageId: String(m.messageId),
      kind: String(m.kind ?? 'text'),
      receivedAt: num(m.receivedAt),
      timestamp: num(m.timestamp),
    })),
    flushedAt: num(turn.flushedAt),
    flushReason: (turn.flushReason ?? 'quiet') as FlushReason,
    ...(Array.isArray(turn.media) && turn.media.length > 0 ? { media: turn.media } : {}),
    ...(turn.responder ? { responder: turn.responder } : {}),
    gates: Array.isArray(turn.gates) ? turn.gates : [],
    outcome: String(turn.outcome ?? 'answered'),
    deliveries: parts.map((_, i) => {
      const id = `${turn.turnId}:${i}`;
      return toAuditDelivery(id, i, deliveries.get(id), at);
    }),
  };
}

/** A takeover item as the audit trail shows it. */
export function toAuditTakeover(item: Record<string, unknown>): AuditTakeover {
  const by = String(item.by ?? 'human');
  return {
    kind: item.kind === 'end' ? 'end' : 'start',
    at: num(item.at),
    by: (['human', 'operator', 'handover', 'expired'].includes(by) ? by : 'human') as AuditTakeover['by'],
  };
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** The customer messages of a turn as the turn item keeps them (text as history keeps it). */
export function storedTurnMessages(
  messages: readonly {
    readonly messageId: string;
    readonly kind: string;
    readonly receivedAt: number;
    readonly timestamp: number;
    readonly text?: string;
    readonly transcript?: string;
    readonly mediaNote?: string;
  }[],
  bound: (text: string) => string,
): StoredTurnMessage[] {
  return messages.map((m) => {
    const text = [m.text, m.transcript, m.mediaNote].filter((t) => t !== undefined && t !== '').join(' ');
    return {
      messageId: m.messageId,
      kind: m.kind,
      receivedAt: m.receivedAt,
      timestamp: m.timestamp,
      ...(text !== '' ? { text: bound(text) } : {}),
    };
  });
}

/** The history entries (what the responder reads back) of a stored history item, oldest first. */
export function historyEntries(
  item: Record<string, unknown>,
): { role: 'customer' | 'bot' | 'human'; text: string; at: number }[] {
  if (!isTurnItem(item)) {
    return [
      { role: item.role as 'customer' | 'bot' | 'human', text: String(item.text ?? ''), at: num(item.at) },
    ];
  }
  const turn = item as unknown as TurnItem;
  const out: { role: 'customer' | 'bot' | 'human'; text: string; at: number }[] = [];
  for (const m of turn.messages ?? []) {
    out.push({ role: 'customer', text: String(m.text ?? ''), at: num(m.receivedAt) });
  }
  const replyAt = num(turn.reply?.at);
  (turn.reply?.parts ?? []).forEach((p, i) => {
    // With the choices the bot offered (as the numbered-text fallback lists them), so a customer
    // answering "2" or a button's title is understood on every channel.
    const text = p.text !== undefined ? numberedText(p.text, p) : p.imageUrl;
    if (text !== undefined) out.push({ role: 'bot', text, at: replyAt + i });
  });
  return out;
}
