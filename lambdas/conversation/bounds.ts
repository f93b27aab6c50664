/**
 * Size bounds of everything the actor stores (docs/conversation.md, "Bounds"). DynamoDB refuses
 * an item over 400 KB and a number it cannot represent; a write that can never succeed would
 * hold the conversation until its event reached the DLQ. So every stored value is bounded by
 * construction here, whatever the turn holds, and the state item's size is estimated (as JSON
 * UTF-8 bytes, never less than DynamoDB's own count for these shapes) before every write.
 *
 * The channel parsers bound inbound values too (lambdas/channels/limits.ts), but the actor
 * does not rely on them: an event that reaches it with larger values is still stored bounded.
 */
import { sha256Hex } from '../shared/keys.js';

/** Bytes and counts of the stored state. Sizes are UTF-8 bytes. */
export const BOUNDS = {
  /** Messages in one open turn: the turn is answered early (reason `size`) when it has this many. */
  turnMessages: 50,
  /**
   * Estimated bytes of the open turn (messages, pending media, plus {@link BOUNDS.mediaReserve}
   * per message still waiting for media) at which it is answered early (reason `size`).
   */
  turnFlushBytes: 96 * 1024,
  /** One message's text, postback and the history entry of a message while paused. */
  messageText: 8 * 1024,
  /** A message's transcripts (all its media together). */
  transcript: 8 * 1024,
  /** A message's media markers. */
  mediaNote: 1024,
  /** Keyframes kept per message, and bytes per keyframe (longer ones are dropped). */
  keyframes: 8,
  keyframe: 1024,
  /** Bytes of a message's attachments together (the first ones that fit are kept). */
  attachments: 8 * 1024,
  /** Attachment URL / file id / MIME type / name: longer URLs, ids and types are dropped, names cut. */
  attachmentUrl: 4096,
  attachmentFileId: 1024,
  attachmentMime: 255,
  attachmentName: 256,
  /** Message ids: longer ones are stored as `~` + a sha256 digest (they only identify). */
  messageId: 256,
  /** Comment ids (a reply answers them, so they are kept verbatim or dropped). */
  commentId: 4096,
  /** Customer id (the reply's recipient: kept verbatim or dropped), name and phone. */
  customerId: 4 * 1024,
  customerName: 256,
  customerPhone: 64,
  /** Conversation id, key and tenant id attributes (the key is also the item's partition). */
  refId: 4 * 1024,
  /** Stored reply: parts (the length gate makes at most 10) and bytes per part text / image URL. */
  replyParts: 10,
  replyText: 12 * 1024,
  replyImageUrl: 4096,
  /** The previous bot reply kept for the repeat gate. */
  lastBotReply: 8 * 1024,
  /**
   * Message ids remembered (the duplicate guard), each a {@link SEEN_DIGEST_CHARS}-long digest and
   * the second it was sent (a `seen` entry, lambdas/conversation/turn.ts `seenEntry`).
   */
  seen: 16,
  /** Reserve per message waiting for media (its transcript, keyframes and marker to come). */
  mediaReserve: 8 * 1024 + 8 * 1024 + 1024,
  /** Largest estimated state item: past it the turn's stored texts are shrunk before the write. */
  stateItem: 360_000,
  /** History entry text (customer turn, bot part, human marker). */
  historyText: 20 * 1024,
  /** Episode summary text. */
  summary: 8 * 1024,
  /** Facts written per turn, and bytes per fact name / value. */
  facts: 50,
  factName: 128,
  factValue: 1024,
} as const;

/**
 * Characters of a `seen` digest (48 bits of sha256: the chance that a new id matches one of the
 * 16 remembered is about 16 / 2^48, not a practical concern).
 */
export const SEEN_DIGEST_CHARS = 12;

/** What ends a text cut to its bound. */
export const STORED_TEXT_MARKER = '… [truncated]';

/** UTF-8 bytes of `text` (a lone surrogate counts 3, as U+FFFD). */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Estimated stored size of a value: its JSON in UTF-8 bytes (an over-estimate of DynamoDB's count). */
export function estimateBytes(value: unknown): number {
  return utf8Bytes(JSON.stringify(value) ?? '');
}

const isHigh = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;
const isLow = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff;

/**
 * The longest prefix of `text` of at most `maxBytes` UTF-8 bytes, never splitting a surrogate
 * pair. Linear in the prefix, not in `text`.
 */
export function prefixWithinBytes(text: string, maxBytes: number): string {
  let bytes = 0;
  let i = 0;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    let units = 1;
    let size: number;
    if (code < 0x80) size = 1;
    else if (code < 0x800) size = 2;
    else if (isHigh(code) && i + 1 < text.length && isLow(text.charCodeAt(i + 1))) {
      size = 4;
      units = 2;
    } else size = 3;
    if (bytes + size > maxBytes) break;
    bytes += size;
    i += units;
  }
  return text.slice(0, i);
}

/** `text` itself when within `maxBytes`, else cut to fit with {@link STORED_TEXT_MARKER} at the end. */
export function boundText(text: string, maxBytes: number): string {
  // Fast path: 3 bytes per code unit is UTF-8's worst case for UTF-16 input.
  if (text.length * 3 <= maxBytes || utf8Bytes(text) <= maxBytes) return text;
  const room = Math.max(0, maxBytes - utf8Bytes(STORED_TEXT_MARKER));
  return `${prefixWithinBytes(text, room)}${STORED_TEXT_MARKER}`;
}

/** `value` when at most `maxBytes`, else undefined (values that cannot be cut usefully: ids, URLs). */
export function keptOrDropped(value: string | undefined, maxBytes: number): string | undefined {
  if (value === undefined) return undefined;
  return value.length * 3 <= maxBytes || utf8Bytes(value) <= maxBytes ? value : undefined;
}

/** A message id as stored: itself when within {@link BOUNDS.messageId}, else `~` + its sha256. */
export function storedMessageId(messageId: string): string {
  if (!messageId.startsWith('~') && keptOrDropped(messageId, BOUNDS.messageId) !== undefined)
    return messageId;
  return `~${sha256Hex(messageId)}`;
}

/** The fixed-size digest a message id is remembered by in `seen`. */
export function seenDigest(messageId: string): string {
  return sha256Hex('seen', messageId).slice(0, SEEN_DIGEST_CHARS);
}

/** Largest epoch ms a stored time may be (year 5138; past JavaScript dates stays far off). */
export const MAX_EPOCH_MS = 100_000_000_000_000;

/**
 * `value` (floored to whole milliseconds) when it is a plausible epoch-ms time (finite,
 * 0 ≤ value ≤ {@link MAX_EPOCH_MS}), else `fallback`.
 */
export function epochMs(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_EPOCH_MS
    ? Math.floor(value)
    : fallback;
}

/**
 * True when DynamoDB can store `value` as a Number: finite, zero or of magnitude within
 * 1e-130 … 9.99e125 (its documented range; JavaScript doubles never exceed its 38 digits).
 */
export function isStorableNumber(value: number): boolean {
  if (!Number.isFinite(value)) return false;
  const magnitude = Math.abs(value);
  return magnitude === 0 || (magnitude >= 1e-130 && magnitude < 1e126);
}

/**
 * A copy of `value` without any number DynamoDB cannot store (NaN, ±Infinity, 1e308…): such
 * attributes are dropped (in a list, replaced by null). `dropped` collects their paths.
 */
export function withStorableNumbers<T>(value: T, dropped: string[] = [], path = ''): T {
  if (typeof value === 'number') return (isStorableNumber(value) ? value : undefined) as T;
  if (Array.isArray(value)) {
    return value.map((item, i) => {
      const next = withStorableNumbers(item, dropped, `${path}[${i}]`);
      if (next === undefined && typeof item === 'number') {
        dropped.push(`${path}[${i}]`);
        return null;
      }
      return next;
    }) as T;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (item === undefined) continue;
      const next = withStorableNumbers(item, dropped, path === '' ? key : `${path}.${key}`);
      if (next === undefined && typeof item === 'number') {
        dropped.push(path === '' ? key : `${path}.${key}`);
        continue;
      }
      out[key] = next;
    }
    return out as T;
  }
  return value;
}
