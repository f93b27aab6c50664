/**
 * What delivery writes to the memory table after each outcome: the sent-id record (the
 * conversation actor's echo filter), the history entry's status, and failure records.
 * Every write is idempotent (same key, same values), so a retried record can redo them.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../shared/clients.js';
import { DependencyError } from '../shared/errors.js';
import { conversationPk, failureSk, SENT_SK, sentPk } from '../shared/keys.js';
import type { OutboundPart } from '../shared/model.js';
import { redactSecrets } from '../shared/redact.js';

/** Sent ids live one day (DESIGN §2). */
export const SENT_TTL_SECONDS = 86_400;
/** Failure records live 14 days. */
export const FAILURE_TTL_SECONDS = 14 * 86_400;
/** Failed-attempt counters outlive the outbound queue's 4-day retention. */
export const ATTEMPTS_TTL_SECONDS = 5 * 86_400;

/**
 * Sort key of a part's failed-attempt counter, next to its failure record in the conversation's
 * partition (no reader of the partition queries this prefix).
 */
export const attemptsSk = (replyId: string): string => `attempts#${replyId}`;

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

/** Failure code recorded for replies not sent because the messaging window had closed. */
export const EXPIRED_CODE = 'WINDOW_CLOSED';

const dependency = (what: string, err: unknown): DependencyError =>
  new DependencyError(`Delivery: could not write ${what} (${(err as Error).name}).`, { cause: err });

/** Writes what an outcome requires. @throws DependencyError */
export async function recordOutcome(
  tableName: string,
  part: OutboundPart,
  outcome: DeliveryOutcome,
): Promise<void> {
  const client = documentClient();
  const seconds = Math.floor(outcome.at / 1000);
  if (outcome.status === 'delivered') {
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
  } else {
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
  }
  await markHistory(tableName, part, outcome);
}

/**
 * Sets the history entry's status. The entry is written by the conversation actor before the
 * part is queued; if it is missing (expired, or a part queued without history) nothing is
 * created: a bare status item would pollute the history.
 */
async function markHistory(tableName: string, part: OutboundPart, outcome: DeliveryOutcome): Promise<void> {
  if (!part.historySk) return;
  const values: Record<string, unknown> = { ':status': outcome.status };
  let set = '#status = :status';
  if (outcome.status === 'delivered') {
    set += ', deliveredAt = :at, platformMessageId = :pmid';
    values[':at'] = outcome.at;
    values[':pmid'] = outcome.platformMessageId;
  } else {
    set += ', failedAt = :at, failureCode = :code';
    values[':at'] = outcome.at;
    values[':code'] = outcome.status === 'expired' ? EXPIRED_CODE : outcome.code;
  }
  try {
    await documentClient().send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: conversationPk(part.conversationKey), sk: part.historySk },
        UpdateExpression: `SET ${set}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: values,
      }),
    );
  } catch (err) {
    if (
      err instanceof ConditionalCheckFailedException ||
      (err as Error).name === 'ConditionalCheckFailedException'
    ) {
      return;
    }
    throw dependency('the history status', err);
  }
}

/** Failure code of a part not sent again because a crash cut off an earlier send of it. */
export const AMBIGUOUS_AFTER_CRASH = 'AMBIGUOUS_AFTER_CRASH';

/**
 * Marks a part as being sent, right before its first platform call: one conditional write on its
 * attempts item. Every attempt that ends with a known result clears the mark ({@link countFailure},
 * {@link clearSending}) or records an outcome that stops any resend (idempotency), so a mark found
 * here means an earlier attempt died between starting the send and learning its result.
 * @returns false when the mark was already there (the part may have reached the platform)
 * @throws DependencyError
 */
export async function markSending(tableName: string, part: OutboundPart, now: number): Promise<boolean> {
  try {
    await documentClient().send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: conversationPk(part.conversationKey), sk: attemptsSk(part.replyId) },
        UpdateExpression: 'SET sending = :now, expiresAt = :exp',
        ConditionExpression: 'attribute_not_exists(sending)',
        ExpressionAttributeValues: { ':now': now, ':exp': Math.floor(now / 1000) + ATTEMPTS_TTL_SECONDS },
      }),
    );
    return true;
  } catch (err) {
    if (
      err instanceof ConditionalCheckFailedException ||
      (err as Error).name === 'ConditionalCheckFailedException'
    ) {
      return false;
    }
    throw dependency('the sending mark', err);
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
): Promise<number> {
  try {
    const out = await documentClient().send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: conversationPk(part.conversationKey), sk: attemptsSk(part.replyId) },
        UpdateExpression: `ADD failures :one SET expiresAt = :exp, lastFailureAt = :now${keepSending ? '' : ' REMOVE sending'}`,
        ExpressionAttributeValues: {
          ':one': 1,
          ':exp': Math.floor(now / 1000) + ATTEMPTS_TTL_SECONDS,
          ':now': now,
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
