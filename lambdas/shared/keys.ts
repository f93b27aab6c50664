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
// ---------------------------------------------------------------------------------------------

/** Partition of everything about one conversation: state, history, summaries, failures. */
export const conversationPk = (key: string): string => `conv#${key}`;
/** Sort key of the conversation state item (its open turn lives inside it). */
export const STATE_SK = 'state';
/** Sort key of a history entry; zero-padded time keeps entries in order. */
export const historySk = (epochMs: number, id: string): string =>
  `hist#${String(epochMs).padStart(15, '0')}#${id}`;
export const HISTORY_PREFIX = 'hist#';
/** Sort key of an episode summary (layer 3). */
export const summarySk = (epochMs: number): string => `summary#${String(epochMs).padStart(15, '0')}`;
export const SUMMARY_PREFIX = 'summary#';
/** Sort key of a delivery failure record. */
export const failureSk = (id: string): string => `failure#${id}`;

/** Partition of a customer's profile (layer 1) and durable facts (layer 4). */
export const customerPk = (tenantId: string, channel: ChannelName, customerId: string): string =>
  `cust#${tenantId}#${channel}#${customerId}`;
export const PROFILE_SK = 'profile';
export const factSk = (name: string): string => `fact#${name}`;
export const FACT_PREFIX = 'fact#';

/** Ids of messages we sent (echo filter): one item per platform message id, TTL one day. */
export const sentPk = (tenantId: string, channel: ChannelName, platformMessageId: string): string =>
  `sent#${tenantId}#${channel}#${platformMessageId}`;
export const SENT_SK = 'sent';

/** Rate-limit window of a scope (page, chat, bot, number) for one time slot. */
export const ratePk = (scope: string): string => `rate#${scope}`;
export const rateSk = (windowStartMs: number): string => `w#${windowStartMs}`;

/**
 * Sort key of a media result (transcript, keyframes) written by the media worker. The worker
 * never writes the conversation state: the actor is its only writer and attaches results
 * when their `media-ready` event arrives.
 */
export const mediaSk = (turnId: string, messageId: string, attachmentIndex: number): string =>
  `media#${turnId}#${messageId}#${attachmentIndex}`;
