/**
 * The timer Lambda's logic: ticks come off the standard timer queue after their delay and go
 * back into inbound.fifo as `flush` events, in the conversation's group, with a dedup id that
 * drops the timer queue's occasional duplicate deliveries. A tick still ahead of its due time
 * (waits longer than SQS's 900 s maximum delay) goes back on the timer queue for the rest.
 *
 * Why a Lambda and not EventBridge Pipes: a pipe cannot compute a per-message group id and
 * dedup id from the body's fields without an enrichment Lambda anyway, and cannot re-delay a
 * tick whose wait exceeds 900 s.
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { sqsClient } from '../shared/clients.js';
import { DependencyError } from '../shared/errors.js';
import { messageGroupId } from '../shared/keys.js';
import { logger } from '../shared/powertools.js';
import { sendTick } from './aws.js';
import { tickDedupId, timerDecision, timerTickSchema } from './debounce.js';

/** What the timer did with one record. */
export type TimerOutcome = 'forwarded' | 'delayed' | 'invalid';

/** Handles one timer-queue record. @throws DependencyError when SQS fails (the record is retried) */
export async function handleTimerRecord(
  record: Pick<SQSRecord, 'body' | 'messageId'>,
  urls: { readonly inbound: string; readonly timer: string },
  now: number = Date.now(),
): Promise<TimerOutcome> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(record.body);
  } catch {
    parsed = undefined;
  }
  const result = timerTickSchema.safeParse(parsed);
  if (!result.success) {
    // Can never succeed: acknowledge instead of cycling it to the DLQ.
    logger.error('Invalid timer tick dropped', {
      sqsMessageId: record.messageId,
      issues: result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    });
    return 'invalid';
  }
  const tick = result.data;
  const decision = timerDecision(tick, now);
  if (decision.action === 'delay') {
    await sendTick(urls.timer, tick, decision.delaySeconds);
    return 'delayed';
  }
  try {
    await sqsClient().send(
      new SendMessageCommand({
        QueueUrl: urls.inbound,
        MessageBody: JSON.stringify(tick.event),
        MessageGroupId: messageGroupId(tick.event.conversationKey),
        MessageDeduplicationId: tickDedupId(tick.event),
      }),
    );
  } catch (err) {
    throw new DependencyError('Could not forward the flush tick to inbound.fifo.', { cause: err });
  }
  return 'forwarded';
}
