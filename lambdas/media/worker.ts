/**
 * The media worker: long-polls the media-jobs queue, processes jobs with bounded concurrency,
 * and answers every job with a `media-ready` event on inbound.fifo in the conversation's group
 * (after writing the result to the memory table). Runs in the Fargate container
 * (`main.ts`) and in-process in the local stack.
 *
 * Delivery rules:
 * - a typed media failure is an answer, not a retry: `media-ready` carries the error;
 * - a dependency failure (S3, Secrets Manager, SQS, DynamoDB) leaves the job on the queue to be
 *   retried with a growing delay; on its last attempt the job is answered with `MEDIA_FAILED`,
 *   so a turn never waits forever;
 * - a long job keeps its message invisible with a heartbeat;
 * - on shutdown (the signal aborts) polling stops, jobs in hand get `drainTimeoutMs` to finish,
 *   then are killed and released (visibility 0) for another worker.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { type ApiBases, apiBases } from '../channels/endpoints.js';
import { DEFAULTS } from '../contracts/defaults.js';
import { QUEUE_DEFINITIONS } from '../contracts/definitions.js';
import { documentClient, sqsClient } from '../shared/clients.js';
import { ENV, intEnv, requireEnv } from '../shared/env.js';
import { DependencyError, InvalidEventError } from '../shared/errors.js';
import { conversationPk, mediaSk, messageGroupId, sha256Hex } from '../shared/keys.js';
import {
  type MediaJob,
  type MediaReadyEvent,
  mediaJobSchema,
  mediaReadyEventSchema,
} from '../shared/model.js';
import { emitMetric, logger } from '../shared/powertools.js';
import type { TenantDocument } from '../shared/tenant.js';
import { loadTenant as loadTenantFromSecrets } from '../shared/tenant-store.js';
import { DEFAULT_MAX_MEDIA_BYTES } from './download.js';
import { type TranscriptionEngine, WhisperCppEngine } from './engine.js';
import { jobLogKeys, type MediaOutcome, type PutObject, processMediaJob, redact } from './process.js';

/** Default number of keyframes per video (`KEYFRAME_COUNT`). */
export const DEFAULT_KEYFRAME_COUNT = DEFAULTS.keyframeCount;
/** Media results live one day in the memory table (like the media bucket's objects). */
export const MEDIA_RESULT_TTL_SECONDS = 86_400;

/** Options of {@link runMediaWorker}. Everything but `signal` defaults from the environment. */
export interface MediaWorkerOptions {
  /** Aborting it stops the worker (SIGTERM in the container). */
  readonly signal: AbortSignal;
  /** @default MEDIA_JOBS_QUEUE_URL */
  readonly queueUrl?: string;
  /** @default INBOUND_QUEUE_URL */
  readonly inboundQueueUrl?: string;
  /** @default MEMORY_TABLE */
  readonly memoryTable?: string;
  /** @default MEDIA_BUCKET */
  readonly bucket?: string;
  /** Jobs processed at once. @default MEDIA_CONCURRENCY or 1 */
  readonly concurrency?: number;
  /** Long-poll wait. @default 20 */
  readonly waitTimeSeconds?: number;
  /** The queue's visibility timeout: the heartbeat extends by this much every third of it. @default 300 */
  readonly visibilityTimeoutSeconds?: number;
  /** Receives before a job is answered with MEDIA_FAILED instead of being retried. @default 3 (the DLQ's maxReceiveCount) */
  readonly maxAttempts?: number;
  /** A job that hit a dependency failure is retried after this many seconds × its receive count. @default 15 */
  readonly retryBaseSeconds?: number;
  /** On shutdown, how long jobs in hand may take to finish before they are released. @default 20000 */
  readonly drainTimeoutMs?: number;
  /** Budget of a whole job. @default 600000 */
  readonly jobTimeoutMs?: number;
  /** @default MAX_MEDIA_BYTES or 25 MB */
  readonly maxBytes?: number;
  /** @default KEYFRAME_COUNT or 4 */
  readonly keyframeCount?: number;
  /** @default whisper.cpp from WHISPER_CPP_BIN / WHISPER_MODEL */
  readonly engine?: TranscriptionEngine;
  /** @default loadTenant() from Secrets Manager */
  readonly loadTenant?: (tenantId: string) => Promise<TenantDocument>;
  /** @default apiBases() */
  readonly bases?: ApiBases;
  /** @default a PutObject to `bucket` */
  readonly putObject?: PutObject;
  /** Called after each job is settled (tests and the local stack use it). */
  readonly onJobSettled?: (info: {
    messageId: string;
    outcome: 'answered' | 'retry' | 'released' | 'invalid';
  }) => void;
}

let s3: S3Client | undefined;
/** The S3 client (path-style when pointed at an emulator). */
function s3Client(): S3Client {
  s3 ??= new S3Client(process.env.AWS_ENDPOINT_URL_S3 ? { forcePathStyle: true } : {});
  return s3;
}

/** A PutObject into `bucket`, SDK errors translated to DependencyError. */
export function s3PutObject(bucket: string): PutObject {
  return async (key, body, contentType) => {
    try {
      await s3Client().send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }),
      );
    } catch (err) {
      throw new DependencyError(`Could not store ${key} in the media bucket.`, { cause: err });
    }
  };
}

/** Builds the `media-ready` event for a job's outcome (validated against the shared schema). */
export function mediaReadyEvent(
  job: MediaJob,
  outcome: Pick<MediaOutcome, 'result' | 'error'>,
): MediaReadyEvent {
  return mediaReadyEventSchema.parse({
    v: 1,
    type: 'media-ready',
    tenantId: job.tenantId,
    channel: job.channel,
    conversationId: job.conversationId,
    conversationKey: job.conversationKey,
    turnId: job.turnId,
    messageId: job.messageId,
    attachmentIndex: job.attachmentIndex,
    ...(outcome.result ? { result: outcome.result } : {}),
    ...(outcome.error ? { error: outcome.error } : {}),
  });
}

/** The FIFO dedup id of a job's `media-ready`: one per attachment of a turn. */
export function mediaReadyDedupId(job: Pick<MediaJob, 'turnId' | 'messageId' | 'attachmentIndex'>): string {
  return sha256Hex(job.turnId, job.messageId, String(job.attachmentIndex));
}

/**
 * Writes the outcome to the memory table (`pk = conversationPk`, `sk = mediaSk`, one-day TTL)
 * and sends `media-ready` to inbound.fifo in the conversation's group.
 * @throws DependencyError when either write failed (the job is retried; both are idempotent)
 */
export async function publishOutcome(
  job: MediaJob,
  outcome: Pick<MediaOutcome, 'kind' | 'result' | 'error'>,
  target: { inboundQueueUrl: string; memoryTable: string },
): Promise<void> {
  const event = mediaReadyEvent(job, outcome);
  const now = Date.now();
  try {
    await documentClient().send(
      new PutCommand({
        TableName: target.memoryTable,
        Item: {
          pk: conversationPk(job.conversationKey),
          sk: mediaSk(job.turnId, job.messageId, job.attachmentIndex),
          type: 'media',
          tenantId: job.tenantId,
          channel: job.channel,
          conversationKey: job.conversationKey,
          turnId: job.turnId,
          messageId: job.messageId,
          attachmentIndex: job.attachmentIndex,
          kind: outcome.kind,
          result: event.result,
          error: event.error,
          createdAt: now,
          expiresAt: Math.floor(now / 1000) + MEDIA_RESULT_TTL_SECONDS,
        },
      }),
    );
  } catch (err) {
    throw new DependencyError('Could not write the media result to the memory table.', { cause: err });
  }
  try {
    await sqsClient().send(
      new SendMessageCommand({
        QueueUrl: target.inboundQueueUrl,
        MessageBody: JSON.stringify(event),
        MessageGroupId: messageGroupId(job.conversationKey),
        MessageDeduplicationId: mediaReadyDedupId(job),
      }),
    );
  } catch (err) {
    throw new DependencyError('Could not send media-ready to the inbound queue.', { cause: err });
  }
}

/** The fields of a job needed to answer it, when the full job does not validate. */
function salvageJob(body: unknown): MediaJob | undefined {
  const partial = mediaJobSchema
    .pick({
      tenantId: true,
      channel: true,
      conversationId: true,
      conversationKey: true,
      turnId: true,
      messageId: true,
      attachmentIndex: true,
    })
    .safeParse(body);
  if (!partial.success) return undefined;
  return { ...partial.data, v: 1, pageId: '-', attachment: { kind: 'other' }, enqueuedAt: 0 };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class Shutdown extends Error {
  constructor() {
    super('The worker is shutting down.');
    this.name = 'Shutdown';
  }
}

/**
 * Runs the worker until `options.signal` aborts and the jobs in hand are finished or released.
 * Never rejects for a single job's failure; configuration errors (no queue URL…) reject at once.
 */
export async function runMediaWorker(options: MediaWorkerOptions): Promise<void> {
  const queueUrl = options.queueUrl ?? requireEnv(ENV.mediaJobsQueueUrl);
  const inboundQueueUrl = options.inboundQueueUrl ?? requireEnv(ENV.inboundQueueUrl);
  const memoryTable = options.memoryTable ?? requireEnv(ENV.memoryTable);
  const putObject = options.putObject ?? s3PutObject(options.bucket ?? requireEnv(ENV.mediaBucket));
  const concurrency = Math.max(1, options.concurrency ?? (intEnv(ENV.mediaConcurrency, 1) || 1));
  const waitTimeSeconds = options.waitTimeSeconds ?? 20;
  const visibility = options.visibilityTimeoutSeconds ?? QUEUE_DEFINITIONS.mediaJobs.visibilityTimeoutSeconds;
  const maxAttempts = options.maxAttempts ?? QUEUE_DEFINITIONS.mediaJobs.dlq.maxReceiveCount;
  const drainTimeoutMs = options.drainTimeoutMs ?? 20_000;
  const retryBaseSeconds = options.retryBaseSeconds ?? 15;
  const jobTimeoutMs = options.jobTimeoutMs ?? 600_000;
  const deps = {
    engine: options.engine ?? WhisperCppEngine.fromEnv(),
    putObject,
    loadTenant: options.loadTenant ?? loadTenantFromSecrets,
    maxBytes: options.maxBytes ?? intEnv(ENV.maxMediaBytes, DEFAULT_MAX_MEDIA_BYTES),
    keyframeCount: options.keyframeCount ?? intEnv(ENV.keyframeCount, DEFAULT_KEYFRAME_COUNT),
    bases: options.bases ?? apiBases(),
    downloadTimeoutMs: Math.min(60_000, jobTimeoutMs),
  };
  const sqs = sqsClient();
  const { signal } = options;
  // Fires after the drain period: kills the work still in progress so it can be released.
  const force = new AbortController();
  const inFlight = new Set<Promise<void>>();

  const setVisibility = async (message: Message, seconds: number): Promise<void> => {
    try {
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    } catch (err) {
      logger.warn('Could not change a media job visibility', { error: (err as Error).name });
    }
  };

  const settle = (messageId: string, outcome: 'answered' | 'retry' | 'released' | 'invalid'): void => {
    options.onJobSettled?.({ messageId, outcome });
  };

  const handle = async (message: Message): Promise<void> => {
    const sqsMessageId = message.MessageId ?? '';
    const receiveCount = Number(message.Attributes?.ApproximateReceiveCount ?? '1');
    let body: unknown;
    try {
      body = JSON.parse(message.Body ?? '');
    } catch {
      body = undefined;
    }
    const parsed = mediaJobSchema.safeParse(body);
    if (!parsed.success) {
      const salvaged = salvageJob(body);
      if (salvaged) {
        // Answerable: tell the turn rather than let it wait for its media timeout.
        const error = new InvalidEventError(
          `Invalid media job: ${parsed.error.issues[0]?.message ?? 'bad shape'}.`,
        );
        try {
          await publishOutcome(
            salvaged,
            { kind: 'audio', error: { code: error.code, message: error.message } },
            { inboundQueueUrl, memoryTable },
          );
          await sqs.send(
            new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
          );
        } catch (err) {
          logger.error('Could not answer an invalid media job', { error: (err as Error).name });
        }
      } else {
        // Not even answerable: let the redrive policy move it to the DLQ (where an alarm sees it).
        logger.error('Unparseable media job left for the dead-letter queue', { sqsMessageId });
        await setVisibility(message, 0);
      }
      emitMetric('MediaFailed', 1, { kind: 'unknown', code: 'INVALID_EVENT' });
      settle(sqsMessageId, 'invalid');
      return;
    }
    const job = parsed.data;
    const logKeys = jobLogKeys(job);
    const started = Date.now();
    const heartbeat = setInterval(
      () => void setVisibility(message, visibility),
      Math.max(1000, (visibility * 1000) / 3),
    );
    const jobSignal = AbortSignal.any([force.signal, AbortSignal.timeout(jobTimeoutMs)]);
    try {
      let outcome: MediaOutcome;
      try {
        outcome =
          receiveCount > maxAttempts
            ? {
                kind: job.attachment.kind === 'video' ? 'video' : 'audio',
                error: { code: 'MEDIA_FAILED', message: `The media job failed ${maxAttempts} times.` },
              }
            : await processMediaJob(job, deps, jobSignal);
      } catch (err) {
        if (force.signal.aborted) throw new Shutdown();
        if (!(err instanceof DependencyError) && jobSignal.aborted) {
          outcome = {
            kind: job.attachment.kind === 'video' ? 'video' : 'audio',
            error: { code: 'MEDIA_TIMEOUT', message: `The media job took longer than ${jobTimeoutMs} ms.` },
          };
        } else if (receiveCount >= maxAttempts) {
          // Last attempt: answer with the failure so the turn goes on.
          outcome = {
            kind: job.attachment.kind === 'video' ? 'video' : 'audio',
            error: {
              code: 'MEDIA_FAILED',
              message: `The media job failed ${receiveCount} times: ${redact((err as Error).message)}`,
            },
          };
        } else throw err;
      }
      if (force.signal.aborted) throw new Shutdown();
      await publishOutcome(job, outcome, { inboundQueueUrl, memoryTable });
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
      const kind = outcome.kind;
      emitMetric('MediaJobs', 1, { kind });
      emitMetric('MediaDuration', Date.now() - started, { kind });
      if (outcome.error) emitMetric('MediaFailed', 1, { kind, code: outcome.error.code });
      logger.info('Media job answered', {
        ...logKeys,
        kind,
        durationMs: Date.now() - started,
        keyframes: outcome.result?.keyframes?.length ?? 0,
        transcribed: outcome.result?.transcript !== undefined,
        ...(outcome.error ? { errorCode: outcome.error.code } : {}),
      });
      settle(sqsMessageId, 'answered');
    } catch (err) {
      if (err instanceof Shutdown || force.signal.aborted) {
        await setVisibility(message, 0);
        logger.info('Media job released on shutdown', logKeys);
        settle(sqsMessageId, 'released');
        return;
      }
      // Retry later, a little later each time.
      const delay = Math.min(visibility, retryBaseSeconds * receiveCount);
      logger.warn('Media job will be retried', {
        ...logKeys,
        receiveCount,
        error: (err as Error).name,
        reason: redact((err as Error).message),
      });
      await setVisibility(message, delay);
      settle(sqsMessageId, 'retry');
    } finally {
      clearInterval(heartbeat);
    }
  };

  const start = (message: Message): void => {
    const task = handle(message).catch((err: unknown) => {
      logger.error('Media job handler crashed', { error: (err as Error)?.name });
    });
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
  };

  logger.info('Media worker started', { concurrency });
  while (!signal.aborted) {
    if (inFlight.size >= concurrency) {
      await Promise.race([
        ...inFlight,
        new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true })),
      ]);
      continue;
    }
    try {
      const received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, concurrency - inFlight.size),
          WaitTimeSeconds: waitTimeSeconds,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
        { abortSignal: signal },
      );
      for (const message of received.Messages ?? []) {
        if (signal.aborted) await setVisibility(message, 0);
        else start(message);
      }
    } catch (err) {
      if (signal.aborted) break;
      logger.error('Receiving media jobs failed', { error: (err as Error).name });
      await sleep(2000);
    }
  }

  // Draining: give the jobs in hand a chance to finish, then kill and release them.
  if (inFlight.size > 0) {
    logger.info('Media worker draining', { jobs: inFlight.size, drainTimeoutMs });
    const all = Promise.allSettled([...inFlight]);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), drainTimeoutMs);
    });
    if ((await Promise.race([all, expired])) === 'timeout') force.abort(new Shutdown());
    clearTimeout(timer);
    await all;
  }
  logger.info('Media worker stopped');
}
