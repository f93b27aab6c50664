/**
 * What delivery writes to the memory table: one **delivery record** per reply part
 * (`conv#{key}` / `attempts#{replyId}`), which is at once
 *
 * - the part's idempotency: its `outcome` (sent, failed, expired, dead-lettered) is stored once,
 *   and a part whose record holds one is never sent again;
 * - the crash-safe sending mark (`sending`), set right before the first platform call;
 * - the failed-attempt counter and the retry codes (giving up after `MAX_SEND_ATTEMPTS`);
 * - the part's entry in the audit trail (`lambdas/memory/trail.ts`), kept for the history TTL.
 *
 * Plus, only where it is needed, the sent-id record (the echo filter of channels whose webhooks
 * cannot tell our own sends from a human's) and failure records. Every write is idempotent (same
 * key, same values), so a retried record can redo them.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DEFAULTS } from '../contracts/defaults.js';
import { AMBIGUOUS_AFTER_CRASH, EXPIRED_CODE } from '../memory/turn-item.js';
import { documentClient } from '../shared/clients.js';
import { DependencyError } from '../shared/errors.js';
import { attemptsSk, conversationPk, failureSk, SENT_SK, sentPk } from '../shared/keys.js';
import type { ChannelName, OutboundPart } from '../shared/model.js';
import { redactSecrets } from '../shared/redact.js';

export { AMBIGUOUS_AFTER_CRASH, attemptsSk, EXPIRED_CODE };

/**
 * Channels whose webhooks report a send of ours like a human's reply (no app id or sender mark
 * to tell them apart): Pancake (page messages of its inbox) and WhatsApp (message echoes). The
 * other parsers drop our echoes themselves (Messenger and Instagram by `app_id`, Telegram by
 * `is_bot`, Zalo by the missing `admin_id`), so they need no sent-id record.
 */
export const ECHOING_CHANNELS: ReadonlySet<ChannelName> = new Set<ChannelName>(['pancake', 'whatsapp']);

/** Sent ids live one day (DESIGN §2). */
export const SENT_TTL_SECONDS = 86_400;
/** Failure records live 14 days. */
export const FAILURE_TTL_SECONDS = 14 * 86_400;
/**
 * Delivery records live as long as the history (the audit trail shows them beside their turn)
 * and at least beyond the outbound queue's 4-day retention (they are the parts' idempotency).
 */
export const ATTEMPTS_TTL_SECONDS = Math.max(5, DEFAULTS.historyTtlDays) * 86_400;

/** The outcome of delivering one part (stored by the idempotency layer, so plain JSON). */
export type DeliveryOutcome =
  | { readonly status: 'delivered'; readonly platformMessageId: string; readonly at: number }
  | {
      readonly status: 'failed';
      readonly code: string;
      readonly message: string;
      readonly tokenInvalid: boolean;
      readonly at: number;
    }
  | { readonly status: 'expired'; readonly customerLastMessageAt: number; readonly at: number };

const dependency = (what: string, err: unknown): DependencyError =>
  new DependencyError(`Delivery: could not write ${what} (${(err as Error).name}).`, { cause: err });

/**
 * Stores a part's outcome on its delivery record (once: a record that already holds one keeps
 * it) and writes what else the outcome requires: the sent-id record on echoing channels, the
 * failure record of a refused part.
 * @returns false when the record already held an outcome (a replay: nothing was written)
 * @throws DependencyError
 */
export async function recordOutcome(
  tableName: string,
  part: OutboundPart,
  outcome: DeliveryOutcome,
  options: { readonly dead?: boolean } = {},
): Promise<boolean> {
  const client = documentClient();
  const seconds = Math.floor(outcome.at / 1000);
  const values: Record<string, unknown> = {
    ':outcome': options.dead ? 'dead-lettered' : outcome.status === 'delivered' ? 'sent' : outcome.status,
    ':at': outcome.at,
    ':exp': seconds + ATTEMPTS_TTL_SECONDS,
    ':rid': part.replyId,
  };
  let set = '#outcome = :outcome, #at = :at, expiresAt = :exp, replyId = :rid';
  if (outcome.status === 'delivered') {
    set += ', platformMessageId = :pmid';
    values[':pmid'] = outcome.platformMessageId;
  } else {
    set += ', code = :code';
    values[':code'] = outcome.status === 'expired' ? EXPIRED_CODE : outcome.code;
  }
  try {
    await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: conversationPk(part.conversationKey), sk: attemptsSk(part.replyId) },
        // A dead-lettered part starts afresh when it is redriven: its count and mark go.
        UpdateExpression: `SET ${set}${options.dead ? ' REMOVE failures, sending' : ''}`,
        // The first outcome stands (a replay of a handled part never overwrites it), except the
        // dead-lettering of a part that is later redriven.
        ...(options.dead
          ? {}
          : { ConditionExpression: 'attribute_not_exists(#outcome) OR #outcome = :dead' }),
        ExpressionAttributeNames: { '#outcome': 'outcome', '#at': 'at' },
        ExpressionAttributeValues: options.dead ? values : { ...values, ':dead': 'dead-lettered' },
      }),
    );
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw dependency('the delivery record', err);
  }
  if (outcome.status === 'delivered') {
    if (!ECHOING_CHANNELS.has(part.channel)) return true;
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            pk: sentPk(part.tenantId, part.channel, outcome.platformMessageId),
            sk: SENT_SK,
            replyId: part.replyId,
            conversationKey: part.conversationKey,
            sentAt: outcome.at,
            expiresAt: seconds + SENT_TTL_SECONDS,
          },
        }),
      );
    } catch (err) {
      throw dependency('the sent-id record', err);
    }
    return true;
  }
  try {
    await client.send(
      new PutCommand({
        TableName: tableName,
        Item: {
          pk: conversationPk(part.conversationKey),
          sk: failureSk(part.replyId),
          channel: part.channel,
          code: outcome.status === 'expired' ? EXPIRED_CODE : outcome.code,
          replyId: part.replyId,
          message:
            outcome.status === 'expired'
              ? `Not sent: the customer's last message (${new Date(outcome.customerLastMessageAt).toISOString()}) is outside the ${part.channel} messaging window.`
              : redactSecrets(outcome.message),
          at: outcome.at,
          expiresAt: seconds + FAILURE_TTL_SECONDS,
        },
      }),
    );
  } catch (err) {
    throw dependency('the failure record', err);
  }
  return true;
}

const isConditionFailure = (err: unknown): boolean =>
  err instanceof ConditionalCheckFailedException ||
  (err as Error)?.name === 'ConditionalCheckFailedException';

/** The outcome a delivery record holds, as a {@link DeliveryOutcome}; undefined when none. */
export function storedOutcome(item: Record<string, unknown> | undefined): DeliveryOutcome | undefined {
  if (!item || typeof item.outcome !== 'string') return undefined;
  const at = typeof item.at === 'number' ? item.at : 0;
  if (item.outcome === 'sent') {
    return { status: 'delivered', platformMessageId: String(item.platformMessageId ?? ''), at };
  }
  if (item.outcome === 'expired') return { status: 'expired', customerLastMessageAt: 0, at };
  return { status: 'failed', code: String(item.code ?? ''), message: '', tokenInvalid: false, at };
}

/** The part's delivery record (strongly consistent), or undefined. @throws DependencyError */
export async function readRecord(
  tableName: string,
  part: OutboundPart,
): Promise<Record<string, unknown> | undefined> {
  try {
    const out = await documentClient().send(
      new GetCommand({
        TableName: tableName,
        Key: { pk: conversationPk(part.conversationKey), sk: attemptsSk(part.replyId) },
        ConsistentRead: true,
      }),
    );
    return out.Item as Record<string, unknown> | undefined;
  } catch (err) {
    throw dependency('the delivery record', err);
  }
}

/** What {@link markSending} found. */
export type MarkResult =
  | { readonly marked: true }
  /** An earlier attempt died mid-send (the mark was there, no outcome). */
  | { readonly marked: false; readonly outcome?: undefined }
  /** The part was handled already (its record holds an outcome): a replay, nothing to send. */
  | { readonly marked: false; readonly outcome: DeliveryOutcome };

/**
 * Marks a part as being sent, right before its first platform call: one conditional write on its
 * delivery record, which also refuses a part whose outcome is stored (its idempotency). Every
 * attempt that ends with a known result clears the mark ({@link countFailure},
 * {@link clearSending}) or stores an outcome, so a mark found here without an outcome means an
 * earlier attempt died between starting the send and learning its result.
 * @throws DependencyError
 */
export async function markSending(tableName: string, part: OutboundPart, now: number): Promise<MarkResult> {
  try {
    await documentClient().send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: conversationPk(part.conversationKey), sk: attemptsSk(part.replyId) },
        UpdateExpression: 'SET sending = :now, expiresAt = :exp, replyId = :rid',
        ConditionExpression:
          'attribute_not_exists(sending) AND (attribute_not_exists(#outcome) OR #outcome = :dead)',
        ExpressionAttributeNames: { '#outcome': 'outcome' },
        ExpressionAttributeValues: {
          ':dead': 'dead-lettered',
          ':now': now,
          ':exp': Math.floor(now / 1000) + ATTEMPTS_TTL_SECONDS,
          ':rid': part.replyId,
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { marked: true };
  } catch (err) {
    if (!isConditionFailure(err)) throw dependency('the sending mark', err);
    // DynamoDB returns the item that failed the condition; an emulator may not: read it then.
    const old =
      ((err as { Item?: Record<string, unknown> }).Item as Record<string, unknown> | undefined) ??
      (await readRecord(tableName, part));
    const outcome = old?.outcome === 'dead-lettered' ? undefined : storedOutcome(old);
    return outcome ? { marked: false, outcome } : { marked: false };
  }
}

/**
 * Removes a part's sending mark when the attempt stops for a reason known not to have sent it
 * (a deferral after the mark). @throws DependencyError
 */
export async function clearSending(tableName: string, part: OutboundPart): Promise<void> {
  try {
    await documentClient().send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: conversationPk(part.conversationKey), sk: attemptsSk(part.replyId) },
        UpdateExpression: 'REMOVE sending',
      }),
    );
  } catch (err) {
    throw dependency('the sending mark', err);
  }
}

/**
 * Counts one real failed attempt of a part (deferrals are not counted) and returns how many
 * there have been. SQS's ApproximateReceiveCount cannot tell the two apart. The same write
 * removes the sending mark (the attempt's result is known), unless `keepSending`: the part was
 * sent but its outcome could not be stored, so it must never be sent again.
 * @throws DependencyError
 */
export async function countFailure(
  tableName: string,
  part: OutboundPart,
  now: number,
  keepSending = false,
  code = 'ERROR',
): Promise<number> {
  try {
    const out = await documentClient().send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: conversationPk(part.conversationKey), sk: attemptsSk(part.replyId) },
        UpdateExpression: `ADD failures :one SET expiresAt = :exp, lastFailureAt = :now, replyId = :rid, retryCodes = list_append(if_not_exists(retryCodes, :empty), :code)${keepSending ? '' : ' REMOVE sending'}`,
        ExpressionAttributeValues: {
          ':one': 1,
          ':exp': Math.floor(now / 1000) + ATTEMPTS_TTL_SECONDS,
          ':now': now,
          ':rid': part.replyId,
          ':empty': [],
          ':code': [code.slice(0, 64)],
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes?.failures ?? 1);
  } catch (err) {
    throw dependency('the attempt counter', err);
  }
}

/** Forgets a part's failed attempts (a part redriven from the DLQ starts afresh). @throws DependencyError */
export async function clearFailures(tableName: string, part: OutboundPart): Promise<void> {
  try {
    await documentClient().send(
      new DeleteCommand({
        TableName: tableName,
        Key: { pk: conversationPk(part.conversationKey), sk: attemptsSk(part.replyId) },
      }),
    );
  } catch (err) {
    throw dependency('the attempt counter', err);
  }
}
