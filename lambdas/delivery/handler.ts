/**
 * The delivery Lambda's logic: consumes `outbound.fifo` (one reply part per message), sends
 * each part through its channel's sender, and records the outcome.
 *
 * - Idempotent on the reply id: the part's delivery record (`attempts#{replyId}`, records.ts)
 *   stores its outcome once, and the conditional sending mark refuses a part whose outcome is
 *   stored, so a part that was delivered, refused or expired is never sent again, even when SQS
 *   delivers it twice. (Powertools idempotency would add a second item and 2 write units per
 *   part for the same guarantee: docs/delivery.md.)
 * - Batches go through `SqsFifoPartialProcessorAsync` with `skipGroupOnError`: a failure holds
 *   back only its own conversation, whose later parts wait (FIFO order).
 * - Retryable failures return the message with an exponential, jittered visibility timeout
 *   (honouring `Retry-After`); permanent ones are recorded and not retried; replies outside the
 *   messaging window are recorded as expired.
 * - A send that may have reached the platform without an answer (timeout after the request left,
 *   connection lost mid-request) counts `SendAmbiguous` and is retried only once the queue's
 *   visibility window has passed, never at once.
 * - A send cut off by a crash is never sent again: right before a part's first platform call a
 *   conditional write marks its attempts item as "sending"; every attempt that ends with a known
 *   result clears the mark or stores an outcome. A part redelivered with the mark still there was
 *   being sent when its process died: it may have reached the customer, so it is recorded as failed
 *   (`AMBIGUOUS_AFTER_CRASH`) and counted `SendAmbiguous` instead of risking a double reply.
 * - Only real failures count towards giving up: each is counted in the memory table, and the
 *   `MAX_SEND_ATTEMPTS`-th moves the part to the outbound DLQ (`OUTBOUND_DLQ_URL`) and records
 *   it as failed. Deferrals (a rate-limit wait longer than the in-process budget, too little
 *   invocation time left, a part in flight elsewhere) are not failures: SQS counts them as
 *   receives, which is why the queue's own `maxReceiveCount` is only a high backstop.
 * - Per-page rate limits are shared across instances through the memory table.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { createSender } from '../channels/send/index.js';
import type { ChannelSender, SendTarget } from '../channels/types.js';
import { DEFAULTS } from '../contracts/defaults.js';
import { sqsClient } from '../shared/clients.js';
import { boolEnv, ENV, intEnv, optionalEnv, requireEnv } from '../shared/env.js';
import {
  AmbiguousSendError,
  DependencyError,
  InvalidEventError,
  NotFoundError,
  PermanentSendError,
  RetryableSendError,
} from '../shared/errors.js';
import { CHANNELS, type ChannelName, type OutboundPart, outboundPartSchema } from '../shared/model.js';
import { emitMetric, logger, logSummary } from '../shared/powertools.js';
import { sendToQueue } from '../shared/queue.js';
import { redactSecrets } from '../shared/redact.js';
import type { TenantDocument } from '../shared/tenant.js';
import {
  loadTenant as loadTenantFromStore,
  refreshTenant as refreshTenantInStore,
} from '../shared/tenant-store.js';
import {
  type BackoffOptions,
  backoffSeconds,
  type TypingDelayOptions,
  typingDelayMs,
  windowClosed,
} from './policy.js';
import { RateLimiter, type RateLimitSettings, rateLimitsFromEnv, rateRules } from './rate-limit.js';
import {
  AMBIGUOUS_AFTER_CRASH,
  clearSending,
  countFailure,
  type DeliveryOutcome,
  markSending,
  recordOutcome,
} from './records.js';

/** The part's delivery record already holds an outcome: a replay, nothing is sent. */
class AlreadyHandled extends Error {
  constructor(readonly outcome: DeliveryOutcome) {
    super('The reply part was handled already.');
    this.name = 'AlreadyHandled';
  }
}

/**
 * A part handed back to the queue without being tried: not a failure, never counted towards
 * giving up. The message comes back after `retryAfterMs`.
 */
export class DeliveryDeferred extends RetryableSendError {
  constructor(reason: string, message: string, retryAfterMs: number) {
    super(reason, message, { retryAfterMs });
  }
}

/** Thrown by the rate limiter hook when the wait would be too long: the message comes back later. */
export class RateLimitDeferred extends DeliveryDeferred {
  constructor(retryAfterMs: number) {
    super('RATE_LIMITED', `Over our own rate limit: deferred for ${retryAfterMs} ms.`, retryAfterMs);
  }
}

/**
 * An earlier attempt of this part started a send whose result it never learnt (its process died
 * mid-send): the platform may have it, so it is not sent again.
 */
export class SendCutOffError extends PermanentSendError {
  constructor() {
    super(
      AMBIGUOUS_AFTER_CRASH,
      'A send may have reached the platform before the process stopped; not sent again.',
    );
  }
}

/** Time kept back after a send's timeout to record its outcome before the invocation ends. */
const RECORD_MARGIN_MS = 2000;

/** Options of {@link createDeliveryHandler} (tests and benchmarks tune these; the Lambda uses defaults). */
export interface DeliveryOptions {
  /** Backoff schedule of retryable failures. */
  readonly backoff?: BackoffOptions;
  /** Override platform limits (calls per second). */
  readonly rateLimits?: RateLimitSettings;
  /** Longest in-process wait for a rate-limit slot before returning the message. @default 10000 */
  readonly maxRateWaitMs?: number;
  /** Jitter margin of the limiter's windows. @default 100 */
  readonly rateMarginMs?: number;
  /** Typing-delay shape (used when `TYPING_DELAY=true`). */
  readonly typing?: TypingDelayOptions;
  /** Replaces the tenant store (tests). */
  readonly loadTenant?: (tenantId: string) => Promise<TenantDocument>;
  /**
   * Re-reads a tenant whose token a platform refused (tests inject the store's). @default the
   * tenant store's `refreshTenant`, or none when `loadTenant` is replaced
   */
  readonly refreshTenant?: (tenantId: string) => Promise<{ readonly changed: boolean }>;
  /** Replaces `fetch` in the senders (tests). */
  readonly fetch?: typeof fetch;
  /** Platform call timeout; overrides `SEND_TIMEOUT_MS`. @default 25000 */
  readonly sendTimeoutMs?: number;
  /** Real failures before the part goes to the DLQ; overrides `MAX_SEND_ATTEMPTS`. @default 12 */
  readonly maxSendAttempts?: number;
  /**
   * Visibility timeout after an ambiguous send (no answer after the request left). Unset, the
   * visibility is left alone: the part comes back when the queue's visibility window ends.
   */
  readonly ambiguousRetrySeconds?: number;
  readonly now?: () => number;
  /** Sleep of the typing pause and the rate limiter's waits (tests). */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Per-record state shared with the sender hooks through AsyncLocalStorage. */
interface RunState {
  readonly part: OutboundPart;
  readonly deadline: number;
  readonly controller: AbortController;
  timer: NodeJS.Timeout | undefined;
  /** The outcome produced by this invocation (not a replay of a stored one). */
  outcome: DeliveryOutcome | undefined;
  /** This attempt wrote the part's sending mark (its first platform call was about to start). */
  marked: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * The queue URL of a record: `OUTBOUND_QUEUE_URL` when it names the record's queue, else the
 * standard URL derived from the record's ARN.
 */
export function queueUrlFor(record: SQSRecord, env: NodeJS.ProcessEnv = process.env): string {
  const [, , , region, account, name] = record.eventSourceARN.split(':');
  const configured = env[ENV.outboundQueueUrl];
  if (configured && name && configured.endsWith(`/${name}`)) return configured;
  return `https://sqs.${region}.amazonaws.com/${account}/${name}`;
}

/** Creates the delivery Lambda handler. Environment variables are read on the first invocation. */
export function createDeliveryHandler(
  options: DeliveryOptions = {},
): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> {
  const now = options.now ?? Date.now;
  const pause = options.sleep ?? sleep;
  const store = new AsyncLocalStorage<RunState>();
  const loadTenant = options.loadTenant ?? loadTenantFromStore;
  const refreshTenant = options.refreshTenant ?? (options.loadTenant ? undefined : refreshTenantInStore);
  let state:
    | {
        memoryTable: string;
        sendTimeoutMs: number;
        maxSendAttempts: number;
        typingDelay: boolean;
        limiter: RateLimiter;
        senders: Record<ChannelName, ChannelSender>;
        deliver: (part: OutboundPart, run: RunState) => Promise<DeliveryOutcome>;
      }
    | undefined;

  const arm = (run: RunState, ms: number): void => {
    if (run.timer) clearTimeout(run.timer);
    run.timer = setTimeout(() => run.controller.abort(new DOMException('send timeout', 'TimeoutError')), ms);
  };

  const init = () => {
    const memoryTable = requireEnv(ENV.memoryTable);
    const sendTimeoutMs = options.sendTimeoutMs ?? intEnv(ENV.sendTimeoutMs, DEFAULTS.sendTimeoutMs);
    const maxSendAttempts = Math.max(
      1,
      options.maxSendAttempts ?? intEnv(ENV.maxSendAttempts, DEFAULTS.maxSendAttempts),
    );
    const rateLimits = options.rateLimits ?? rateLimitsFromEnv();
    const limiter = new RateLimiter({
      tableName: memoryTable,
      ...(options.rateMarginMs !== undefined ? { marginMs: options.rateMarginMs } : {}),
      now,
      ...(options.sleep ? { sleep: options.sleep } : {}),
    });
    const beforeCall = async (target: SendTarget): Promise<void> => {
      const run = store.getStore();
      // Never start a send the invocation could cut short: its outcome would be unknown.
      const spare = (run?.deadline ?? Number.POSITIVE_INFINITY) - now() - sendTimeoutMs - RECORD_MARGIN_MS;
      if (spare < 0) {
        throw new DeliveryDeferred('OUT_OF_TIME', 'Too little invocation time left for a send.', 1000);
      }
      const acquired = await limiter.acquire(
        rateRules(target.channel, target.pageId, target.recipientId, rateLimits),
        Math.min(options.maxRateWaitMs ?? 10_000, spare),
      );
      if (!acquired.ok) throw new RateLimitDeferred(acquired.retryAfterMs);
      if (acquired.delayed) emitMetric('RateLimited', 1, { channel: target.channel });
      // Last step before the request leaves, once per part (an image with a caption calls twice).
      if (run && !run.marked) {
        const mark = await markSending(memoryTable, run.part, now());
        if (!mark.marked) throw mark.outcome ? new AlreadyHandled(mark.outcome) : new SendCutOffError();
        run.marked = true;
      }
      // The send timeout covers the platform call, not the wait for a rate-limit slot.
      if (run) arm(run, sendTimeoutMs);
    };
    const senders = Object.fromEntries(
      CHANNELS.map((channel) => [
        channel,
        createSender(channel, { beforeCall, ...(options.fetch ? { fetch: options.fetch } : {}) }),
      ]),
    ) as Record<ChannelName, ChannelSender>;
    const typingDelay = boolEnv(ENV.typingDelay, false);

    const deliver = async (part: OutboundPart, run: RunState): Promise<DeliveryOutcome> => {
      const at = now();
      if (windowClosed(part.channel, part.customerLastMessageAt, at)) {
        run.outcome = { status: 'expired', customerLastMessageAt: part.customerLastMessageAt, at };
        return run.outcome;
      }
      let tenant: TenantDocument;
      try {
        tenant = await loadTenant(part.tenantId);
      } catch (err) {
        if (err instanceof NotFoundError) {
          run.outcome = {
            status: 'failed',
            code: 'TENANT_NOT_FOUND',
            message: err.message,
            tokenInvalid: false,
            at,
          };
          return run.outcome;
        }
        throw err;
      }
      const sender = senders[part.channel];
      const target: SendTarget = {
        tenant,
        channel: part.channel,
        pageId: part.pageId,
        conversationId: part.conversationId,
        recipientId: part.recipientId,
        surface: part.surface,
        ...(part.replyToMessageId !== undefined ? { replyToMessageId: part.replyToMessageId } : {}),
        ...(part.businessConnectionId !== undefined
          ? { businessConnectionId: part.businessConnectionId }
          : {}),
      };
      try {
        if (part.text === undefined && part.imageUrl === undefined) {
          throw new PermanentSendError('EMPTY_PART', 'The reply part has neither text nor an image.');
        }
        if (typingDelay && part.text) {
          // Its own signal: a typing call that times out must not abort the send that follows.
          const typing = AbortSignal.timeout(sendTimeoutMs);
          await sender.typing(target, typing);
          await pause(typingDelayMs(part.text, options.typing));
        }
        arm(run, sendTimeoutMs);
        // Quick replies and buttons ride on the text of a reply message's last part.
        const extras =
          part.quickReplies !== undefined || part.buttons !== undefined
            ? {
                ...(part.quickReplies !== undefined ? { quickReplies: part.quickReplies } : {}),
                ...(part.buttons !== undefined ? { buttons: part.buttons } : {}),
              }
            : undefined;
        let platformMessageId: string;
        if (part.imageUrl !== undefined) {
          platformMessageId = (await sender.sendImage(target, part.imageUrl, run.controller.signal))
            .platformMessageId;
          if (part.text) {
            platformMessageId = (await sender.sendText(target, part.text, run.controller.signal, extras))
              .platformMessageId;
          }
        } else {
          platformMessageId = (await sender.sendText(target, part.text ?? '', run.controller.signal, extras))
            .platformMessageId;
        }
        run.outcome = { status: 'delivered', platformMessageId, at: now() };
        return run.outcome;
      } catch (err) {
        if (err instanceof SendCutOffError) {
          emitMetric('SendAmbiguous', 1, { channel: part.channel });
          logger.warn({
            message: 'A send may have reached the platform before the process stopped; not sent again',
            tenant: part.tenantId,
            channel: part.channel,
            conversation: part.conversationKey,
            messageId: part.replyId,
          });
        }
        if (err instanceof PermanentSendError && err.tokenInvalid && refreshTenant) {
          // The token may have been rotated since this container read the tenant (an operator's
          // update, another container's Zalo refresh): re-read it, at most once a minute per
          // tenant, and retry the part with the new one when the secret changed.
          const refreshed = await refreshTenant(part.tenantId).catch(() => undefined);
          if (refreshed?.changed) {
            throw new RetryableSendError(
              err.platformCode,
              'The access token was refused and the tenant secret has changed since it was read; retrying with the new one.',
              { cause: err },
            );
          }
        }
        if (err instanceof PermanentSendError) {
          run.outcome = {
            status: 'failed',
            code: err.platformCode,
            // Platforms quote the token in some errors; this outcome is stored (failure item), not
            // only logged.
            message: redactSecrets(err.message),
            tokenInvalid: err.tokenInvalid,
            at: now(),
          };
          return run.outcome;
        }
        throw err;
      } finally {
        if (run.timer) clearTimeout(run.timer);
      }
    };

    state = { memoryTable, sendTimeoutMs, maxSendAttempts, typingDelay, limiter, senders, deliver };
    return state;
  };

  const changeVisibility = async (
    record: SQSRecord,
    seconds: number,
    keys: Record<string, string>,
  ): Promise<void> => {
    try {
      await sqsClient().send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrlFor(record),
          ReceiptHandle: record.receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    } catch (err) {
      // The queue's own visibility timeout still brings the message back.
      logger.warn({
        message: 'Could not change the visibility of a message',
        ...keys,
        error: (err as Error).name,
      });
    }
  };

  let deadLetterUrl: Promise<string | undefined> | undefined;
  /**
   * The outbound DLQ: `OUTBOUND_DLQ_URL`, else the queue's redrive target (the local stack and
   * tests set no variable). Undefined when neither is known: SQS's own redrive then applies.
   */
  const dlqUrl = (record: SQSRecord): Promise<string | undefined> => {
    deadLetterUrl ??= (async () => {
      const configured = optionalEnv(ENV.outboundDlqUrl, '');
      if (configured !== '') return configured;
      try {
        const attrs = await sqsClient().send(
          new GetQueueAttributesCommand({ QueueUrl: queueUrlFor(record), AttributeNames: ['RedrivePolicy'] }),
        );
        const target = JSON.parse(attrs.Attributes?.RedrivePolicy ?? '{}').deadLetterTargetArn;
        const [, , , , account, name] = String(target ?? '').split(':');
        if (!name) return undefined;
        const url = await sqsClient().send(
          new GetQueueUrlCommand({
            QueueName: name,
            ...(account ? { QueueOwnerAWSAccountId: account } : {}),
          }),
        );
        return url.QueueUrl;
      } catch (err) {
        logger.warn({ message: 'Outbound DLQ unknown; SQS redrive applies', error: (err as Error).name });
        deadLetterUrl = undefined;
        return undefined;
      }
    })();
    return deadLetterUrl;
  };

  /** Moves the record to the DLQ as it is (same group and dedup id). @throws DependencyError */
  const deadLetter = async (url: string, record: SQSRecord): Promise<void> => {
    const outcome = await sendToQueue(url, [
      {
        id: 'dead',
        body: record.body,
        ...(record.attributes?.MessageGroupId ? { groupId: record.attributes.MessageGroupId } : {}),
        dedupId: record.attributes?.MessageDeduplicationId ?? record.messageId,
      },
    ]);
    if (outcome.failed.length > 0) {
      throw new DependencyError(`Could not move the part to the DLQ: ${outcome.failed[0]?.error ?? ''}`);
    }
  };

  /**
   * Gives a record back to the queue. Deferrals are not failures; every other error counts
   * as one, and the `maxSendAttempts`-th moves the part to the DLQ (then the record succeeds).
   */
  const retryLater = async (
    s: NonNullable<typeof state>,
    record: SQSRecord,
    part: OutboundPart,
    err: unknown,
    keys: Record<string, string>,
    run: RunState,
  ): Promise<void> => {
    if (err instanceof DeliveryDeferred) {
      if (run.marked) {
        // Deferred after the mark (the caption of an image part): this attempt sent nothing more.
        try {
          await clearSending(s.memoryTable, part);
        } catch (clearErr) {
          logger.warn({
            message: 'Could not clear the sending mark',
            ...keys,
            error: (clearErr as Error).name,
          });
        }
      }
      const seconds = Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000));
      if (err instanceof RateLimitDeferred) emitMetric('RateLimited', 1, { channel: part.channel });
      logger.debug({
        message: 'Send deferred, not counted as a failure',
        ...keys,
        reason: err.platformCode,
        delaySeconds: seconds,
      });
      await changeVisibility(record, seconds, keys);
      throw err;
    }
    let attempt: number;
    try {
      // The attempt's result is known: clear its sending mark, unless the part was sent and only
      // the recording failed (then it must never be sent again).
      const code = err instanceof RetryableSendError ? err.platformCode : ((err as Error)?.name ?? 'ERROR');
      attempt = await countFailure(s.memoryTable, part, now(), run.outcome !== undefined, code);
    } catch (countErr) {
      // Without the count nothing is given up; SQS's backstop still applies.
      attempt = 1;
      logger.warn({ message: 'Could not count a failed attempt', ...keys, error: (countErr as Error).name });
    }
    if (attempt >= s.maxSendAttempts) {
      const url = await dlqUrl(record);
      if (url !== undefined) {
        await deadLetter(url, record);
        const code = err instanceof RetryableSendError ? err.platformCode : ((err as Error)?.name ?? 'ERROR');
        const outcome: DeliveryOutcome = {
          status: 'failed',
          code: 'DEAD_LETTERED',
          message: redactSecrets(
            `Moved to the DLQ after ${attempt} failed attempts; last: ${code}: ${(err as Error)?.message ?? ''}`,
          ).slice(0, 1000),
          tokenInvalid: false,
          at: now(),
        };
        try {
          // Also forgets the failed attempts: a part redriven from the DLQ starts afresh.
          await recordOutcome(s.memoryTable, part, outcome, { dead: true });
        } catch (recordErr) {
          logger.warn({
            message: 'Dead-lettered part not recorded',
            ...keys,
            error: (recordErr as Error).name,
          });
        }
        emitMetric('SendFailed', 1, { channel: part.channel, code: 'DEAD_LETTERED' });
        emitMetric('SendFailedByChannel', 1, { channel: part.channel });
        logger.error({
          message: 'Reply part failed for good; moved to the outbound DLQ',
          ...keys,
          attempt,
          code,
          error: (err as Error)?.message,
        });
        return;
      }
    }
    let seconds: number | undefined;
    if (err instanceof AmbiguousSendError) {
      // The platform may have delivered it: retry only after the visibility window, not at once.
      seconds = options.ambiguousRetrySeconds;
      emitMetric('SendAmbiguous', 1, { channel: part.channel });
      emitMetric('SendRetried', 1, { channel: part.channel, code: err.platformCode });
      logger.warn({
        message:
          'Send outcome unknown (no answer after the request left); retried after the visibility window',
        ...keys,
        code: err.platformCode,
        error: err.message,
        attempt,
      });
    } else if (err instanceof RetryableSendError) {
      seconds = backoffSeconds(attempt, err.retryAfterMs, options.backoff);
      emitMetric('SendRetried', 1, { channel: part.channel, code: err.platformCode });
      logger.warn({
        message: 'Send failed, will retry',
        ...keys,
        code: err.platformCode,
        error: err.message,
        attempt,
        delaySeconds: seconds,
      });
    } else {
      seconds = backoffSeconds(attempt, undefined, options.backoff);
      logger.error({
        message: 'Delivery failed, will retry',
        ...keys,
        errorName: (err as Error)?.name,
        error: (err as Error)?.message,
        attempt,
        delaySeconds: seconds,
      });
    }
    if (seconds !== undefined) await changeVisibility(record, seconds, keys);
    throw err instanceof Error ? err : new Error(String(err));
  };

  const processRecord = async (
    record: SQSRecord,
    context: Context | undefined,
    handled: Set<string>,
  ): Promise<void> => {
    const s = state ?? init();
    let part: OutboundPart;
    try {
      const parsed = outboundPartSchema.safeParse(JSON.parse(record.body));
      if (!parsed.success)
        throw new InvalidEventError(
          parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        );
      part = parsed.data;
    } catch (err) {
      // It can only fail again: drop it loudly rather than block the conversation.
      logger.error({
        message: 'Invalid outbound part dropped',
        sqsMessageId: record.messageId,
        error: (err as Error).message,
      });
      emitMetric('SendFailed', 1, { channel: 'unknown', code: 'INVALID_EVENT' });
      emitMetric('SendFailedByChannel', 1, { channel: 'unknown' });
      return;
    }
    const keys = {
      tenant: part.tenantId,
      channel: part.channel,
      conversation: part.conversationKey,
      messageId: part.replyId,
    };
    handled.add(record.messageId);
    const run: RunState = {
      part,
      deadline: context ? now() + context.getRemainingTimeInMillis() : Number.POSITIVE_INFINITY,
      controller: new AbortController(),
      timer: undefined,
      outcome: undefined,
      marked: false,
    };
    let outcome: DeliveryOutcome;
    try {
      outcome = await store.run(run, () => s.deliver(part, run));
    } catch (err) {
      if (err instanceof AlreadyHandled) {
        logger.debug({ message: 'Reply part already handled (replay)', ...keys, status: err.outcome.status });
        return;
      }
      return retryLater(s, record, part, err, keys, run);
    }
    let fresh: boolean;
    try {
      fresh = await recordOutcome(s.memoryTable, part, outcome);
    } catch (err) {
      if (outcome.status === 'delivered') {
        // Sent, but the outcome is not stored: the sending mark stays, so it is never sent again.
        logger.warn({
          message: 'Delivery record not saved after the send',
          ...keys,
          error: (err as Error).name,
        });
      }
      return retryLater(s, record, part, err, keys, run);
    }
    if (!fresh) {
      logger.debug({ message: 'Reply part already handled (replay)', ...keys, status: outcome.status });
      return;
    }
    if (outcome.status === 'delivered') {
      emitMetric('SendSucceeded', 1, { channel: part.channel });
      if (part.partIndex === 0)
        emitMetric('ReplyLatency', Math.max(0, outcome.at - part.receivedAt), { channel: part.channel });
      // The one INFO line of a part, on the invocation's EMF line when their keys agree. Tenant
      // and conversation only: the part's id and platform message id are in its delivery record
      // and the audit trail, and every WARN and ERROR line keeps all the keys.
      logSummary('Reply part delivered', {
        tenant: keys.tenant,
        channel: keys.channel,
        conversation: keys.conversation,
      });
    } else if (outcome.status === 'failed' && outcome.code === AMBIGUOUS_AFTER_CRASH) {
      // Counted and logged as SendAmbiguous where it was found: most likely delivered, not refused.
    } else if (outcome.status === 'failed') {
      emitMetric('SendFailed', 1, { channel: part.channel, code: outcome.code });
      // Per-channel total without the code dimension: the failure-rate alarm divides by it.
      emitMetric('SendFailedByChannel', 1, { channel: part.channel });
      if (outcome.tokenInvalid) emitMetric('TokenInvalid', 1, { channel: part.channel });
      logger.error({
        message: 'Reply part refused by the platform, not retried',
        ...keys,
        code: outcome.code,
        error: outcome.message,
      });
    } else {
      emitMetric('ReplyExpired', 1, { channel: part.channel });
      logger.warn({
        message: 'Reply part not sent: messaging window closed',
        ...keys,
        customerLastMessageAt: outcome.customerLastMessageAt,
      });
    }
  };

  return async (event, context) => {
    state ?? init();
    const handled = new Set<string>();
    // A processor per invocation: its state must not be shared by concurrent invocations.
    const processor = new SqsFifoPartialProcessorAsync();
    const response = await processPartialResponse(
      event,
      (record: SQSRecord) => processRecord(record, context, handled),
      processor,
      {
        ...(context ? { context } : {}),
        skipGroupOnError: true,
        throwOnFullBatchFailure: false,
      },
    );
    // Records skipped because an earlier part of their conversation failed: make them visible
    // again now. FIFO keeps them behind the failed part (a group with a message in flight
    // delivers nothing else), so they follow it after its backoff instead of waiting out the
    // queue's full visibility timeout.
    const skipped = event.Records.filter(
      (r) =>
        !handled.has(r.messageId) && response.batchItemFailures.some((f) => f.itemIdentifier === r.messageId),
    );
    if (skipped.length > 0) {
      const first = skipped[0] as SQSRecord;
      try {
        await sqsClient().send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: queueUrlFor(first),
            Entries: skipped.map((r, i) => ({
              Id: String(i),
              ReceiptHandle: r.receiptHandle,
              VisibilityTimeout: 0,
            })),
          }),
        );
      } catch (err) {
        logger.warn({ message: 'Could not release skipped messages', error: (err as Error).name });
      }
    }
    return response;
  };
}
