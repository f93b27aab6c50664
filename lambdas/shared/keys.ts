/**
 * Keys and ids derived from messages (DESIGN §2). Pure functions: the webhook, the actor,
 * delivery and the local stack all derive the same ids from the same inputs.
 */
import { createHash } from 'node:crypto';
import type { ChannelName } from './model.js';

/** SQS allows at most 128 characters in MessageGroupId and MessageDeduplicationId. */
export const SQS_ID_MAX = 128;
const SQS_ID_ALLOWED = /^[\x21-\x7e]+$/;

/** sha256 hex of the given parts joined with a separator that cannot occur in them ambiguously. */
export function sha256Hex(...parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    hash.update(String(part.length));
    hash.update(':');
    hash.update(part);
  }
  return hash.digest('hex');
}

/** `{tenantId}#{channel}#{conversationId}`. */
export function conversationKey(tenantId: string, channel: ChannelName, conversationId: string): string {
  return `${tenantId}#${channel}#${conversationId}`;
}

/** Splits a conversation key back into its parts (the conversation id may itself contain `#`). */
export function parseConversationKey(
  key: string,
): { tenantId: string; channel: string; conversationId: string } | undefined {
  const first = key.indexOf('#');
  const second = first < 0 ? -1 : key.indexOf('#', first + 1);
  if (first <= 0 || second <= first + 1 || second === key.length - 1) return undefined;
  return {
    tenantId: key.slice(0, first),
    channel: key.slice(first + 1, second),
    conversationId: key.slice(second + 1),
  };
}

/**
 * The FIFO group id of a conversation: the key itself when SQS accepts it (≤ 128 printable
 * ASCII characters), else `h-` + sha256 of the key, so every conversation keeps one group.
 */
export function messageGroupId(key: string): string {
  if (key.length <= SQS_ID_MAX && SQS_ID_ALLOWED.test(key)) return key;
  return `h-${sha256Hex(key)}`;
}

/** The FIFO dedup id of a platform message: hash of tenant, channel and platform message id. */
export function inboundDedupId(tenantId: string, channel: ChannelName, platformMessageId: string): string {
  return sha256Hex(tenantId, channel, platformMessageId);
}

/** The idempotency key of a platform message (same inputs as the dedup id, readable). */
export function messageIdempotencyKey(
  tenantId: string,
  channel: ChannelName,
  platformMessageId: string,
): string {
  return `${tenantId}#${channel}#${platformMessageId}`;
}

/** Reply id of one part of a turn's reply: `{turnId}:{index}`. */
export function replyId(turnId: string, partIndex: number): string {
  return `${turnId}:${partIndex}`;
}

/** FIFO dedup id for a reply part (reply ids can exceed 128 characters). */
export function outboundDedupId(id: string): string {
  return id.length <= SQS_ID_MAX && SQS_ID_ALLOWED.test(id) ? id : sha256Hex(id);
}

// ---------------------------------------------------------------------------------------------
// Memory table keys (one table, `pk` / `sk`, TTL attribute `expiresAt` in epoch seconds).
//
// Every key is bounded whatever the ids it is built from: DynamoDB refuses a partition key over
// 2048 bytes or a sort key over 1024 bytes (UTF-8), and platforms can sign ids of any length.
// A key that fits is the readable `{prefix}{value}`; one that does not (or whose value is not
// well-formed UTF-16, or starts with the hash marker `~`) is `{prefix}~{sha256 hex of the value's
// UTF-16 code units}`. The marker keeps the two forms apart, so distinct values always give
// distinct keys, and keys that fit are unchanged from before the bound existed.
// ---------------------------------------------------------------------------------------------

/** DynamoDB's largest partition key value, in UTF-8 bytes. */
export const PK_MAX_BYTES = 2048;
/** DynamoDB's largest sort key value, in UTF-8 bytes. */
export const SK_MAX_BYTES = 1024;
/** Marks a key part replaced by its hash (raw key parts never start with it). */
export const HASHED_MARKER = '~';

/** A lone surrogate: UTF-8 cannot hold it (DynamoDB would store U+FFFD, merging distinct ids). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const ANY_SURROGATE = /[\uD800-\uDFFF]/;

/** True when `value` is well-formed UTF-16 (no lone surrogate). */
export function isWellFormed(value: string): boolean {
  return !ANY_SURROGATE.test(value) || !LONE_SURROGATE.test(value);
}

/**
 * `prefix + value` when it fits in `maxBytes` (UTF-8), else `prefix + '~' + sha256(value)`.
 * The hash covers the value's UTF-16 code units, so it is lossless for any string.
 */
export function boundedKey(prefix: string, value: string, maxBytes: number): string {
  if (
    !value.startsWith(HASHED_MARKER) &&
    Buffer.byteLength(prefix) + Buffer.byteLength(value) <= maxBytes &&
    isWellFormed(value)
  ) {
    return prefix + value;
  }
  return `${prefix}${HASHED_MARKER}${createHash('sha256').update(value, 'utf16le').digest('hex')}`;
}

/**
 * Epoch ms as the 15 zero-padded digits sort keys order by. Inputs outside 0…10^15−1 (or not
 * integers) are clamped and floored rather than thrown on: a key must never fail a turn.
 */
function paddedMs(epochMs: number): string {
  const ms = Number.isFinite(epochMs) ? Math.min(Math.max(Math.floor(epochMs), 0), 999_999_999_999_999) : 0;
  return String(ms).padStart(15, '0');
}

/** Partition of everything about one conversation: state, history, summaries, failures. */
export const conversationPk = (key: string): string => boundedKey('conv#', key, PK_MAX_BYTES);
/** Sort key of the conversation state item (its open turn lives inside it). */
export const STATE_SK = 'state';
/** Sort key of a history entry; zero-padded time keeps entries in order. */
export const historySk = (epochMs: number, id: string): string =>
  boundedKey(`hist#${paddedMs(epochMs)}#`, id, SK_MAX_BYTES);
export const HISTORY_PREFIX = 'hist#';
/** Sort key of an episode summary (layer 3). */
export const summarySk = (epochMs: number): string => `summary#${paddedMs(epochMs)}`;
export const SUMMARY_PREFIX = 'summary#';
/** Sort key of a delivery failure record. */
export const failureSk = (id: string): string => boundedKey('failure#', id, SK_MAX_BYTES);

/**
 * Partition of a customer's profile (layer 1) and durable facts (layer 4). Tenant ids never
 * contain `#` (TENANT_ID_PATTERN) and channels are fixed names, so the parts stay apart.
 */
export const customerPk = (tenantId: string, channel: ChannelName, customerId: string): string =>
  boundedKey('cust#', `${tenantId}#${channel}#${customerId}`, PK_MAX_BYTES);
export const PROFILE_SK = 'profile';
/** Sort key of a durable fact (the item also holds the name itself). */
export const factSk = (name: string): string => boundedKey('fact#', name, SK_MAX_BYTES);
export const FACT_PREFIX = 'fact#';

/** Ids of messages we sent (echo filter): one item per platform message id, TTL one day. */
export const sentPk = (tenantId: string, channel: ChannelName, platformMessageId: string): string =>
  boundedKey('sent#', `${tenantId}#${channel}#${platformMessageId}`, PK_MAX_BYTES);
export const SENT_SK = 'sent';

/** Rate-limit window of a scope (page, chat, bot, number) for one time slot. */
export const ratePk = (scope: string): string => boundedKey('rate#', scope, PK_MAX_BYTES);
export const rateSk = (windowStartMs: number): string => `w#${windowStartMs}`;

/**
 * Sort key of a media result (transcript, keyframes) written by the media worker. The worker
 * never writes the conversation state: the actor is its only writer and attaches results
 * when their `media-ready` event arrives.
 */
export const mediaSk = (turnId: string, messageId: string, attachmentIndex: number): string =>
  boundedKey('media#', `${turnId}#${messageId}#${attachmentIndex}`, SK_MAX_BYTES);

/**
 * Sort key of a reply part's delivery record (sending mark, outcome, failed attempts, retry codes):
 * next to its turn in the conversation's partition, read by the audit trail (`lambdas/memory/trail.ts`).
 */
export const attemptsSk = (replyId: string): string => boundedKey('attempts#', replyId, SK_MAX_BYTES);
export const ATTEMPTS_PREFIX = 'attempts#';

/** Sort key of a takeover event (a human or operator took the conversation, or handed it back). */
export const takeoverSk = (epochMs: number, by: string): string => `takeover#${paddedMs(epochMs)}#${by}`;
export const TAKEOVER_PREFIX = 'takeover#';
/** Sort key prefix of delivery failure records. */
export const FAILURE_PREFIX = 'failure#';
