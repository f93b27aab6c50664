/**
 * A stand-in for the Fargate media worker: reads MediaJobs from the media-jobs queue and
 * answers each with a `media-ready` event on inbound.fifo, as the real worker does. Tests
 * script the answer per job: a transcript, an error, or silence (never answers).
 */
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { mediaReadyDedupId, mediaReadyEvent } from '../../lambdas/media/worker.js';
import { messageGroupId } from '../../lambdas/shared/keys.js';
import { type MediaJob, mediaJobSchema } from '../../lambdas/shared/model.js';

/** What the fake worker answers to one job; `undefined` = never answer. */
export type FakeMediaAnswer =
  | { readonly transcript: string }
  | { readonly keyframes: readonly string[] }
  | { readonly error: { readonly code: string; readonly message: string } }
  | undefined;

export interface FakeMediaWorker {
  /** Jobs received so far, in order. */
  readonly jobs: MediaJob[];
  /** Receives and answers every visible job once. Returns how many jobs it took. */
  pollOnce(): Promise<number>;
}

export function fakeMediaWorker(options: {
  readonly sqs: SQSClient;
  readonly mediaJobsUrl: string;
  readonly inboundUrl: string;
  readonly answer: (job: MediaJob) => FakeMediaAnswer;
}): FakeMediaWorker {
  const jobs: MediaJob[] = [];
  return {
    jobs,
    async pollOnce() {
      const received = await options.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.mediaJobsUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
        }),
      );
      const messages = received.Messages ?? [];
      for (const m of messages) {
        const job = mediaJobSchema.parse(JSON.parse(m.Body ?? ''));
        jobs.push(job);
        const answer = options.answer(job);
        if (answer === undefined) continue;
        // The real worker's builders: the fake differs only in how the answer is produced.
        const event = mediaReadyEvent(job, {
          ...('transcript' in answer ? { result: { transcript: { text: answer.transcript } } } : {}),
          ...('keyframes' in answer ? { result: { keyframes: [...answer.keyframes] } } : {}),
          ...('error' in answer ? { error: answer.error } : {}),
        });
        await options.sqs.send(
          new SendMessageCommand({
            QueueUrl: options.inboundUrl,
            MessageBody: JSON.stringify(event),
            MessageGroupId: messageGroupId(job.conversationKey),
            MessageDeduplicationId: mediaReadyDedupId(job),
          }),
        );
      }
      if (messages.length > 0) {
        await options.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: options.mediaJobsUrl,
            Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        );
      }
      return messages.length;
    },
  };
}
