/**
 * SQS adapters of the actor's {@link Queues} port: the timer queue (delayed ticks),
 * outbound.fifo (reply parts) and the media-jobs queue.
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { sqsClient } from '../shared/clients.js';
import { DependencyError } from '../shared/errors.js';
import { messageGroupId, outboundDedupId } from '../shared/keys.js';
import type { MediaJob, OutboundPart } from '../shared/model.js';
import { sendToQueue } from '../shared/queue.js';
import type { TimerTick } from './debounce.js';
import type { Queues } from './ports.js';

/** Queue URLs the actor writes to. */
export interface QueueUrls {
  readonly timer: string;
  readonly outbound: string;
  /** Unset: no media worker; audio and video get a marker at once. */
  readonly mediaJobs?: string;
}

/** Puts a tick on the timer queue. */
export async function sendTick(timerQueueUrl: string, tick: TimerTick, delaySeconds: number): Promise<void> {
  try {
    await sqsClient().send(
      new SendMessageCommand({
        QueueUrl: timerQueueUrl,
        MessageBody: JSON.stringify(tick),
        DelaySeconds: delaySeconds,
      }),
    );
  } catch (err) {
    throw new DependencyError('Could not arm the flush tick on the timer queue.', { cause: err });
  }
}

/** The SQS-backed {@link Queues}. */
export function sqsQueues(urls: QueueUrls): Queues {
  return {
    armTick: (tick, delaySeconds) => sendTick(urls.timer, tick, delaySeconds),
    enqueueOutbound: async (parts: readonly OutboundPart[]) => {
      // One at a time, in order: a batch whose first entry failed and second succeeded would
      // put the parts out of order once the first is retried.
      for (const part of parts) {
        try {
          await sqsClient().send(
            new SendMessageCommand({
              QueueUrl: urls.outbound,
              MessageBody: JSON.stringify(part),
              MessageGroupId: messageGroupId(part.conversationKey),
              MessageDeduplicationId: outboundDedupId(part.replyId),
            }),
          );
        } catch (err) {
          throw new DependencyError(`Could not queue reply part ${part.replyId}.`, { cause: err });
        }
      }
    },
    ...(urls.mediaJobs
      ? {
          enqueueMediaJobs: async (jobs: readonly MediaJob[]) => {
            const mediaJobs = urls.mediaJobs as string;
            const outcome = await sendToQueue(
              mediaJobs,
              jobs.map((job, i) => ({ id: `j${i}`, body: JSON.stringify(job) })),
            );
            if (outcome.failed.length > 0) {
              throw new DependencyError(`Could not queue ${outcome.failed.length} media job(s).`);
            }
          },
        }
      : {}),
  };
}
