/**
 * Drives a Lambda handler the way the SQS event source mapping does: receive up to 10
 * messages from a (fauxqs) queue, build Lambda-shaped `SQSEvent` records (with the FIFO
 * attributes), invoke the handler, delete the records that succeeded and leave the reported
 * failures for the queue to redeliver after their visibility timeout (and redrive to the DLQ).
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
// The same record builder the local stack's pollers use, so tests see what Lambda delivers.
import { type SqsHandler, toSqsRecord } from '../../bin/local/sqs-poller.js';

export type { SqsHandler };

/** A Lambda context whose remaining time is always `remainingMs`. */
export function lambdaContext(name = 'test-function', remainingMs = 60_000): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
    memoryLimitInMB: '512',
    awsRequestId: `req-${Math.random().toString(36).slice(2)}`,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** What one poll did. */
export interface PollResult {
  readonly received: number;
  readonly failed: number;
}

/** One queue → handler pairing. */
export interface Driver {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn?: string;
  readonly handler: SqsHandler;
  /** Long-poll wait per receive, seconds. @default 0 */
  readonly waitTimeSeconds?: number;
  /** Records per event. @default 10 */
  readonly batchSize?: number;
}

/** Receives one batch and runs the handler on it. Returns how many records came and failed. */
export async function pollOnce(driver: Driver): Promise<PollResult> {
  const received = await driver.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: driver.queueUrl,
      MaxNumberOfMessages: driver.batchSize ?? 10,
      WaitTimeSeconds: driver.waitTimeSeconds ?? 0,
      MessageSystemAttributeNames: ['All'],
    }),
  );
  const messages = received.Messages ?? [];
  if (messages.length === 0) return { received: 0, failed: 0 };
  const records = messages.map((m) => toSqsRecord(m, driver.queueArn ?? driver.queueUrl, 'us-east-1'));
  let failedIds = new Set<string>();
  try {
    const response = await driver.handler({ Records: records }, lambdaContext());
    failedIds = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  } catch {
    // A thrown invocation fails the whole batch, as in Lambda.
    failedIds = new Set(records.map((r) => r.messageId));
  }
  const succeeded = messages.filter((m) => !failedIds.has(m.MessageId ?? ''));
  for (let i = 0; i < succeeded.length; i += 10) {
    await driver.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: driver.queueUrl,
        Entries: succeeded
          .slice(i, i + 10)
          .map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
  return { received: messages.length, failed: failedIds.size };
}

/** Receives every message currently visible on a queue, deleting them; returns their bodies in order. */
export async function drainBodies(sqs: SQSClient, queueUrl: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const received = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    const messages = received.Messages ?? [];
    if (messages.length === 0) return bodies;
    for (const m of messages) bodies.push(m.Body ?? '');
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls several drivers in a loop (each with `concurrency` parallel pollers) until `done()`
 * is true or `timeoutMs` passes. Returns true when `done()` became true.
 */
export async function runUntil(
  drivers: readonly (Driver & { readonly concurrency?: number })[],
  done: () => boolean | Promise<boolean>,
  timeoutMs: number,
  idleMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let stop = false;
  const loops = drivers.flatMap((driver) =>
    Array.from({ length: driver.concurrency ?? 1 }, async () => {
      while (!stop && Date.now() < deadline) {
        const result = await pollOnce(driver);
        if (result.received === 0) await sleep(idleMs);
      }
    }),
  );
  let ok = false;
  while (Date.now() < deadline) {
    if (await done()) {
      ok = true;
      break;
    }
    await sleep(idleMs);
  }
  stop = true;
  await Promise.all(loops);
  return ok;
}

/** Messages on a queue, visible, in flight and delayed (the three approximate counts added up). */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const res = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  const a = res.Attributes ?? {};
  return (
    Number(a.ApproximateNumberOfMessages ?? 0) +
    Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}
