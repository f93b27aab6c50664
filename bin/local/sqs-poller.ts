/**
 * What Lambda's SQS event source mapping does, in-process: long-poll a queue, hand each batch
 * to the handler as an `SQSEvent` shaped exactly as Lambda builds it, then delete the records
 * that succeeded. Partial batch responses (`ReportBatchItemFailures`) are honoured: records in
 * `batchItemFailures` stay on the queue and come back after the visibility timeout (and go to
 * the DLQ after maxReceiveCount, which the emulator enforces). A thrown error, a timeout or a
 * malformed response fails the whole batch, as in Lambda.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import { type LocalFunction, lambdaContext } from './lambda-context.js';

/** An SQS-triggered Lambda handler. */
export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;

/** How the poller reports what it does (the local stack's console logger). */
export interface PollerLog {
  warn(message: string): void;
  debug(message: string): void;
}

export interface SqsPollerOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly region: string;
  readonly fn: LocalFunction;
  /** Resolves the handler lazily (a dynamic import), once. */
  readonly handler: SqsHandler | (() => Promise<SqsHandler>);
  /**
   * Batches in flight at once (Lambda scales out the same way: for a FIFO queue, never two
   * batches of one message group). One receiver fills them.
   */
  readonly concurrency?: number;
  /** Batch size (Lambda's maximum for FIFO queues is 10). @default 10 */
  readonly batchSize?: number;
  /** Long-poll wait. @default 2 */
  readonly waitTimeSeconds?: number;
  readonly log?: PollerLog;
}

/** Counters of a running poller. */
export interface PollerStats {
  readonly invocations: number;
  readonly records: number;
  readonly deleted: number;
  readonly failedRecords: number;
  readonly failedBatches: number;
  readonly inFlight: number;
}

/** A running poller. */
export interface SqsPoller {
  readonly stats: () => PollerStats;
  /** Stops receiving; waits for batches in flight (up to `graceMs`) before resolving. */
  readonly stop: (graceMs?: number) => Promise<void>;
}

const SYSTEM_ATTRIBUTES = [
  'ApproximateReceiveCount',
  'SentTimestamp',
  'SenderId',
  'ApproximateFirstReceiveTimestamp',
  'SequenceNumber',
  'MessageGroupId',
  'MessageDeduplicationId',
  'AWSTraceHeader',
] as const;

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/** Converts a received SQS message into the record Lambda would deliver. */
export function toSqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const source = message.Attributes ?? {};
  const attributes: Record<string, string> = {};
  for (const name of SYSTEM_ATTRIBUTES) {
    const value = source[name];
    if (value !== undefined) attributes[name] = value;
  }
  attributes.ApproximateFirstReceiveTimestamp ??= String(Date.now());
  attributes.SenderId ??= '000000000000';
  const messageAttributes: SQSRecord['messageAttributes'] = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined
        ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }
        : {}),
      stringListValues: (value.StringListValues ?? []) as never,
      binaryListValues: [] as never,
    };
  }
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: attributes as unknown as SQSRecordAttributes,
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  } as SQSRecord;
}

/**
 * The message ids to keep on the queue given a handler outcome, or `'all'` when Lambda would
 * treat the whole batch as failed (thrown error, or an item identifier that is empty or not
 * in the batch).
 */
export function failedRecordIds(
  records: readonly SQSRecord[],
  response: SQSBatchResponse | undefined,
): Set<string> | 'all' {
  const failures = response?.batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return 'all';
  const ids = new Set(records.map((r) => r.messageId));
  const failed = new Set<string>();
  for (const item of failures) {
    const id = item?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !ids.has(id)) return 'all';
    failed.add(id);
  }
  return failed;
}

/**
 * Splits one receive over up to `slots` invocations, so that idle capacity serves several
 * conversations at once instead of one invocation working through them in turn. Messages of
 * one FIFO group stay together and in order (a standard queue's messages are independent).
 */
export function splitBatch(messages: readonly Message[], slots: number): Message[][] {
  const groups = new Map<string, Message[]>();
  messages.forEach((m, i) => {
    const key = m.Attributes?.MessageGroupId ?? `#${i}`;
    const group = groups.get(key);
    if (group) group.push(m);
    else groups.set(key, [m]);
  });
  const count = Math.max(1, Math.min(slots, groups.size));
  const batches: Message[][] = Array.from({ length: count }, () => []);
  let next = 0;
  for (const group of groups.values()) {
    batches[next]!.push(...group);
    next = (next + 1) % count;
  }
  return batches;
}

/** Starts polling `queueUrl` and invoking the handler. */
export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  const controller = new AbortController();
  const { signal } = controller;
  const concurrency = options.concurrency ?? 1;
  const batchSize = options.batchSize ?? 10;
  const waitTimeSeconds = options.waitTimeSeconds ?? 2;
  const stats = { invocations: 0, records: 0, deleted: 0, failedRecords: 0, failedBatches: 0, inFlight: 0 };
  let resolved: SqsHandler | undefined;
  const resolveHandler = async (): Promise<SqsHandler> => {
    if (resolved) return resolved;
    const h = options.handler;
    // A factory takes no arguments; a handler takes (event, context).
    resolved = h.length === 0 ? await (h as () => Promise<SqsHandler>)() : (h as SqsHandler);
    return resolved;
  };

  const invoke = async (records: SQSRecord[]): Promise<Set<string> | 'all'> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const handler = await resolveHandler();
      const context = lambdaContext(options.fn, options.region);
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), options.fn.timeoutMs);
      });
      const outcome = await Promise.race([handler({ Records: records }, context), timeout]);
      if (outcome === 'timeout') {
        options.log?.warn(
          `${options.fn.name}: task timed out after ${options.fn.timeoutMs} ms; the batch of ${records.length} will be retried`,
        );
        return 'all';
      }
      const failed = failedRecordIds(records, outcome);
      if (failed === 'all') {
        options.log?.warn(`${options.fn.name}: malformed batchItemFailures; the whole batch will be retried`);
      }
      return failed;
    } catch (err) {
      options.log?.warn(
        `${options.fn.name}: invocation failed (${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}); the batch of ${records.length} will be retried`,
      );
      return 'all';
    } finally {
      clearTimeout(timer);
    }
  };

  let stopping = false;
  const release = async (messages: readonly Message[]): Promise<void> => {
    try {
      await options.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: options.queueUrl,
          Entries: messages.map((m, i) => ({
            Id: String(i),
            ReceiptHandle: m.ReceiptHandle,
            VisibilityTimeout: 0,
          })),
        }),
      );
    } catch {
      // They come back after their visibility timeout instead.
    }
  };

  /** Invokes the handler with one batch and deletes the records that succeeded. */
  const runBatch = async (messages: readonly Message[]): Promise<void> => {
    stats.invocations += 1;
    stats.records += messages.length;
    const records = messages.map((m) => toSqsRecord(m, options.queueArn, options.region));
    const failed = await invoke(records);
    const toDelete = failed === 'all' ? [] : records.filter((r) => !failed.has(r.messageId));
    const failedCount = records.length - toDelete.length;
    if (failedCount > 0) {
      stats.failedRecords += failedCount;
      if (failed === 'all') stats.failedBatches += 1;
      options.log?.debug(`${options.fn.name}: ${failedCount} of ${records.length} records left for retry`);
    }
    for (let i = 0; i < toDelete.length; i += 10) {
      const chunk = toDelete.slice(i, i + 10);
      try {
        const result = await options.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: options.queueUrl,
            Entries: chunk.map((r, index) => ({ Id: String(index), ReceiptHandle: r.receiptHandle })),
          }),
        );
        stats.deleted += chunk.length - (result.Failed?.length ?? 0);
      } catch (err) {
        // Lambda retries deletes; if they still fail the records reappear (at-least-once).
        options.log?.warn(
          `${options.fn.name}: DeleteMessageBatch failed (${err instanceof Error ? err.message : String(err)})`,
        );
      }
    }
  };

  // One receiver per queue hands batches to up to `concurrency` invocations at once, and
  // receives only while one of them is free. Several independent long polls would all be woken
  // by each send (the emulator wakes every waiter), and all but one would come back empty: two
  // to three wasted ReceiveMessage round trips per message and queue, each costing SDK and
  // emulator CPU that the handlers need.
  const running = new Set<Promise<void>>();
  let slotFreed: (() => void) | undefined;
  const freeSlot = (): Promise<void> =>
    new Promise((resolve) => {
      slotFreed = resolve;
    });
  const dispatch = (batch: readonly Message[]): void => {
    stats.inFlight += 1;
    const task = runBatch(batch).finally(() => {
      stats.inFlight -= 1;
      running.delete(task);
      const wake = slotFreed;
      slotFreed = undefined;
      wake?.();
    });
    running.add(task);
  };

  const receive = async (): Promise<void> => {
    while (!signal.aborted && !stopping) {
      if (stats.inFlight >= concurrency) {
        // The sleep gets its own signal, aborted once a slot frees: otherwise each wait left a
        // 60 s timer and an abort listener on the poller's signal behind (Node warned
        // MaxListenersExceeded under load).
        const woken = new AbortController();
        await Promise.race([freeSlot(), sleep(60_000, AbortSignal.any([signal, woken.signal]))]);
        woken.abort();
        continue;
      }
      let messages: Message[];
      try {
        const received = await options.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: options.queueUrl,
            MaxNumberOfMessages: batchSize,
            WaitTimeSeconds: waitTimeSeconds,
            MessageSystemAttributeNames: ['All'],
            AttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: signal },
        );
        messages = received.Messages ?? [];
      } catch (err) {
        if (signal.aborted) break;
        options.log?.warn(
          `${options.fn.name}: ReceiveMessage failed (${err instanceof Error ? err.message : String(err)})`,
        );
        await sleep(500, signal);
        continue;
      }
      if (messages.length === 0) continue;
      if (stopping) {
        // Received while stopping: hand them straight back rather than hide them for a visibility timeout.
        await release(messages);
        break;
      }
      for (const batch of splitBatch(messages, concurrency - stats.inFlight)) dispatch(batch);
    }
    while (running.size > 0) await Promise.allSettled([...running]);
  };

  const receiver = receive();
  return {
    stats: () => ({ ...stats }),
    stop: async (graceMs = 3000) => {
      // Let receives in flight finish (an aborted long poll can still take a message on the
      // server side and hide it for a visibility timeout); abort only past the grace period.
      stopping = true;
      const timer = setTimeout(() => controller.abort(), graceMs);
      await Promise.race([receiver, sleep(graceMs + 500)]);
      clearTimeout(timer);
    },
  };
}
