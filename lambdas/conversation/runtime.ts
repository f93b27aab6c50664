/**
 * Wires the actor to AWS and to Powertools for the conversation and timer Lambdas. The
 * handlers in lambdas/handlers are one line each; tests build handlers here with a fake clock,
 * a scripted responder or a fake typing indicator.
 *
 * Record handling (inbound.fifo): parse and validate the event (an invalid one is logged,
 * counted as `InvalidEvents` and acknowledged: it can never succeed, and retrying it would
 * hold its conversation's group until it reached the DLQ). Every event is idempotent by the
 * actor's state machine itself: a message by the state's `seen` digests and the conditional
 * (versioned) state write, a human takeover by its keyed history entry, ticks and media results
 * by the turn's version and status (docs/conversation.md, "Idempotency without an idempotency
 * table").
 */
import {
  BatchProcessor,
  EventType,
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
} from '@aws-lambda-powertools/batch';
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { CONVERSATION_BATCH_SIZE } from '../contracts/defaults.js';
import { maxReplyLength } from '../gates/limits.js';
import { produceReply } from '../gates/pipeline.js';
import { DynamoMemoryStore, DynamoStateStore } from '../memory/store.js';
import { responderFromEnv } from '../responders/index.js';
import type { Responder } from '../responders/types.js';
import { welcomePlan } from '../responders/welcome.js';
import { documentClient, sqsClient } from '../shared/clients.js';
import { ENV, optionalEnv, requireEnv } from '../shared/env.js';
import { DependencyError } from '../shared/errors.js';
import { type ConversationEvent, conversationEventSchema } from '../shared/model.js';
import { emitMetric, logger } from '../shared/powertools.js';
import { sendToQueue } from '../shared/queue.js';
import { loadTenant } from '../shared/tenant-store.js';
import { type Attempt, ConversationActor, type Outcome, TurnFailedError } from './actor.js';
import { sqsQueues } from './aws.js';
import { type ActorConfig, actorConfigFromEnv } from './config.js';
import type { ActorDeps, MetricSink } from './ports.js';
import { handleTimerRecord } from './timer.js';

/**
 * The channel senders, loaded on the first typing indicator (not at cold start) and kept: an
 * `import()` per call costs a module resolution each time (under the local stack's TypeScript
 * loader, a round trip to its thread).
 */
let senders: Promise<typeof import('../channels/send/index.js')> | undefined;
function loadSenders(): Promise<typeof import('../channels/send/index.js')> {
  senders ??= import('../channels/send/index.js').catch((err: unknown) => {
    senders = undefined; // a failed load is tried again at the next call
    throw err;
  });
  return senders;
}

/** Overrides for {@link createConversationHandler} (tests, custom stacks). */
export interface ConversationHandlerOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => number;
  readonly responder?: Responder;
  readonly typing?: ActorDeps['typing'] | null;
  readonly metric?: MetricSink;
  /** Replace any actor dependency (unit tests of the processor). */
  readonly deps?: Partial<ActorDeps>;
  readonly config?: Partial<ActorConfig>;
  /** Told each record's outcome (tests and custom stacks; `held` records are reported failed). */
  readonly onOutcome?: (record: SQSRecord, outcome: Outcome | 'invalid' | 'dead-lettered') => void;
}

/** Where a record sits in its batch, which decides how its debounce is kept. */
export interface RecordPlace {
  /** The next valid record of the same conversation in the batch is a customer message. */
  readonly more: boolean;
  /** No valid record of the same conversation follows in the batch. */
  readonly last: boolean;
  /** The previous record of the same conversation in the batch returned `deferred`. */
  readonly settle: boolean;
  /** The record ends a full batch (SQS may have left more of its conversation behind). */
  readonly cut?: boolean;
}

/** The processing of one inbound.fifo record. */
export interface RecordProcessor {
  (record: SQSRecord, place?: RecordPlace): Promise<Outcome | 'invalid' | 'dead-lettered'>;
  /** Registers the Lambda context (the responder's deadline follows the remaining time). */
  registerContext(context: Context): void;
}

/** Builds the actor and the per-record function from the environment. */
export function createRecordProcessor(options: ConversationHandlerOptions = {}): RecordProcessor {
  const env = options.env ?? process.env;
  const config = { ...actorConfigFromEnv(env), ...options.config };
  const metric = options.metric ?? emitMetric;
  const table = options.deps?.state && options.deps.memory ? '' : requireEnv(ENV.memoryTable, env);
  const responder = options.responder ?? (options.deps?.reply ? undefined : responderFromEnv(env));
  const mediaJobs = optionalEnv(ENV.mediaJobsQueueUrl, '', env);
  const deps: ActorDeps = {
    state: options.deps?.state ?? new DynamoStateStore(documentClient(), table, config.historyTtlDays),
    memory: options.deps?.memory ?? new DynamoMemoryStore(documentClient(), table),
    queues:
      options.deps?.queues ??
      sqsQueues({
        timer: requireEnv(ENV.timerQueueUrl, env),
        outbound: requireEnv(ENV.outboundQueueUrl, env),
        ...(mediaJobs !== '' ? { mediaJobs } : {}),
      }),
    reply: options.deps?.reply ?? {
      responderName: responder!.name,
      // A Get Started turn of a tenant with a welcome reply is answered with it, responder not called.
      produce: (context, produceOptions) =>
        welcomePlan(context) ?? produceReply(responder!, context, produceOptions),
      maxReplyLength,
    },
    loadTenant: options.deps?.loadTenant ?? loadTenant,
    ...(options.typing === null
      ? {}
      : {
          typing:
            options.typing ??
            options.deps?.typing ??
            (async (target, signal) => {
              const { senderFor } = await loadSenders();
              await senderFor(target.channel).typing(target, signal);
            }),
        }),
    metric,
    now: options.now ?? options.deps?.now ?? Date.now,
  };
  const actor = new ConversationActor(deps, config);

  let lambdaContext: Context | undefined;
  const deadLetterUrl = optionalEnv(ENV.inboundDlqUrl, '', env);
  const inboundUrl = optionalEnv(ENV.inboundQueueUrl, '', env);
  const handleRecord = async (
    record: SQSRecord,
    place: RecordPlace = { more: false, last: true, settle: false },
  ): Promise<Outcome | 'invalid' | 'dead-lettered'> => {
    const event = parseRecord(record, metric);
    if (!event) return 'invalid';
    const remaining = lambdaContext?.getRemainingTimeInMillis();
    const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? '1') || 1;
    const attempt: Attempt = {
      receiveCount,
      // Leave time to record the outcome (state, history, outbound) after a cancelled responder.
      ...(remaining !== undefined ? { deadline: Date.now() + remaining - RESPONDER_MARGIN_MS } : {}),
      ...(place.more ? { more: true } : {}),
      ...(place.last ? {} : { followed: true }),
      ...(place.settle ? { settle: true } : {}),
      ...(place.cut ? { mayBeCut: true } : {}),
      // Held only as the last record of its conversation (a held record fails, and FIFO fails
      // every later record of the group with it) and with two receives left for the flush.
      ...(place.last &&
      inboundUrl !== '' &&
      record.receiptHandle &&
      receiveCount <= config.maxReceiveCount - 2
        ? {
            hold: (delaySeconds: number) => holdRecord(inboundUrl, record, delaySeconds, keysOf(event)),
          }
        : {}),
    };
    const keys = keysOf(event);
    try {
      let outcome: Outcome;
      switch (event.type) {
        case 'message':
          outcome = await actor.onMessage(event, attempt);
          break;
        case 'human-active':
          outcome = await actor.onHumanActive(event);
          break;
        case 'flush':
          outcome = await actor.onFlush(event, attempt);
          break;
        case 'media-ready':
          outcome = await actor.onMediaReady(event, attempt);
          break;
      }
      logger.debug('Event handled', { ...keys, type: event.type, outcome });
      // `held` only when the hold succeeded (the actor arms a timer tick otherwise).
      if (outcome === 'held') {
        // Reported as a batch item failure: the record stays in flight for the delay set and
        // comes back as the turn's tick, holding the conversation's group until then.
        throw new RecordHeld();
      }
      return outcome;
    } catch (err) {
      if (err instanceof RecordHeld) throw err;
      const last = attempt.receiveCount >= config.maxReceiveCount;
      if (last && err instanceof TurnFailedError && deadLetterUrl !== '') {
        // Dead-letter the failed turn's record ourselves and acknowledge it: left to SQS's
        // redrive, the same conversation's later messages (returned with it on every attempt by
        // skipGroupOnError, so received as often) would follow it into the DLQ unanswered.
        await deadLetter(deadLetterUrl, record);
        logger.error('Turn failed for good; its event was moved to the DLQ', {
          ...keys,
          type: event.type,
          attempt: attempt.receiveCount,
          error: err,
        });
        return 'dead-lettered';
      }
      if (last && !(err instanceof TurnFailedError)) metric('TurnsFailed', 1, { channel: event.channel });
      logger.error('Event failed; it returns to the queue', {
        ...keys,
        type: event.type,
        attempt: attempt.receiveCount,
        last,
        error: err as Error,
      });
      throw err;
    }
  };
  return Object.assign(handleRecord, {
    registerContext: (context: Context) => {
      lambdaContext = context;
    },
  });
}

/** Thrown for a record kept in flight as its turn's debounce tick (not an error). */
export class RecordHeld extends Error {
  constructor() {
    super('Record held in flight as the debounce tick');
    this.name = 'RecordHeld';
  }
}

function keysOf(event: ConversationEvent): Record<string, string> {
  return { tenant: event.tenantId, channel: event.channel, conversation: event.conversationKey };
}

/**
 * Sets the record's visibility timeout to `delaySeconds` (it comes back then, whoever receives
 * it). False when SQS refused: the caller arms a timer tick instead, and the record succeeds.
 */
async function holdRecord(
  queueUrl: string,
  record: SQSRecord,
  delaySeconds: number,
  keys: Record<string, string>,
): Promise<boolean> {
  try {
    await sqsClient().send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: record.receiptHandle,
        VisibilityTimeout: delaySeconds,
      }),
    );
    return true;
  } catch (err) {
    logger.warn('Could not hold the record as the debounce tick; a timer tick is armed instead', {
      ...keys,
      error: err as Error,
    });
    return false;
  }
}

/**
 * Where each record of a batch sits among its conversation's records: whether the next valid
 * one is a customer message, and whether it is the last. Records are parsed once here; invalid
 * ones do not count (they are acknowledged without processing).
 */
export function recordPlaces(
  records: readonly SQSRecord[],
  parse: (record: SQSRecord) => ConversationEvent | undefined,
): Map<string, Omit<RecordPlace, 'settle'>> {
  const places = new Map<string, Omit<RecordPlace, 'settle'>>();
  const nextOfGroup = new Map<string, ConversationEvent>();
  for (let i = records.length - 1; i >= 0; i -= 1) {
    const record = records[i]!;
    const event = parse(record);
    if (!event) continue;
    const next = nextOfGroup.get(event.conversationKey);
    const cut = i === records.length - 1 && records.length >= CONVERSATION_BATCH_SIZE;
    places.set(record.messageId, {
      more: next?.type === 'message',
      last: next === undefined,
      ...(cut ? { cut: true } : {}),
    });
    nextOfGroup.set(event.conversationKey, event);
  }
  return places;
}

/** Sends `record` as it is (same group and dedup id) to the dead-letter queue. */
async function deadLetter(queueUrl: string, record: SQSRecord): Promise<void> {
  const outcome = await sendToQueue(queueUrl, [
    {
      id: 'dead',
      body: record.body,
      ...(record.attributes?.MessageGroupId ? { groupId: record.attributes.MessageGroupId } : {}),
      dedupId: record.attributes?.MessageDeduplicationId ?? record.messageId,
    },
  ]);
  if (outcome.failed.length > 0) {
    // Let SQS's own redrive move it instead.
    throw new DependencyError(
      `Could not move the failed event to the DLQ: ${outcome.failed[0]?.error ?? ''}`,
    );
  }
}

/** Time kept back from the Lambda's remaining time when a responder runs. */
export const RESPONDER_MARGIN_MS = 5000;

/** Each record's validation, done once per record (the batch is scanned before it is processed). */
const validated = new WeakMap<SQSRecord, ReturnType<typeof conversationEventSchema.safeParse>>();

function validate(record: SQSRecord): ReturnType<typeof conversationEventSchema.safeParse> {
  let result = validated.get(record);
  if (!result) {
    let json: unknown;
    try {
      json = JSON.parse(record.body);
    } catch {
      json = undefined;
    }
    result = conversationEventSchema.safeParse(json);
    validated.set(record, result);
  }
  return result;
}

/** The event of a record, or undefined when it is not a valid one (no logging, no metric). */
function peekEvent(record: SQSRecord): ConversationEvent | undefined {
  const result = validate(record);
  return result.success ? result.data : undefined;
}

function parseRecord(record: SQSRecord, metric: MetricSink): ConversationEvent | undefined {
  const result = validate(record);
  if (result.success) return result.data;
  metric('InvalidEvents', 1, { queue: 'inbound' });
  // ERROR level so the operator can recover it from the logs; it is never retried.
  logger.error('Invalid conversation event acknowledged without processing', {
    sqsMessageId: record.messageId,
    group: record.attributes?.MessageGroupId,
    issues: result.error?.issues.slice(0, 10).map((i) => `${i.path.join('.')}: ${i.message}`) ?? ['not JSON'],
    body: record.body.slice(0, 4096),
  });
  return undefined;
}

/** The conversation Lambda handler (inbound.fifo, batch ≤ 10, ReportBatchItemFailures). */
export function createConversationHandler(
  options: ConversationHandlerOptions = {},
): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> {
  let processRecord: RecordProcessor | undefined;
  return async (event, context) => {
    // One processor per invocation: it keeps the batch's records and outcomes, and the local
    // stack runs several invocations of one handler at once (Lambda runs one per container).
    const processor = new SqsFifoPartialProcessorAsync();
    // Built on first use so the environment (and the tests' emulator endpoints) is read then.
    processRecord ??= createRecordProcessor(options);
    processRecord.registerContext(context);
    const recordHandler = processRecord;
    const places = recordPlaces(event.Records, peekEvent);
    // Records of a group run in order (FIFO processor): the previous outcome of each group.
    const deferred = new Set<string>();
    return processPartialResponse(
      event,
      async (record: SQSRecord) => {
        const place = places.get(record.messageId) ?? { more: false, last: true };
        const group = record.attributes?.MessageGroupId ?? '';
        const settle = deferred.delete(group);
        let outcome: Outcome | 'invalid' | 'dead-lettered';
        try {
          outcome = await recordHandler(record, { ...place, settle });
        } catch (err) {
          if (err instanceof RecordHeld) options.onOutcome?.(record, 'held');
          throw err;
        }
        options.onOutcome?.(record, outcome);
        if (outcome === 'deferred') deferred.add(group);
        return outcome;
      },
      processor,
      { context, skipGroupOnError: true, throwOnFullBatchFailure: false },
    );
  };
}

/** The timer Lambda handler (standard timer queue → inbound.fifo). */
export function createTimerHandler(
  options: { readonly env?: NodeJS.ProcessEnv; readonly now?: () => number } = {},
): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> {
  return async (event, context) => {
    // One processor per invocation (the local stack runs invocations of one handler at once).
    const processor = new BatchProcessor(EventType.SQS);
    const env = options.env ?? process.env;
    const urls = { inbound: requireEnv(ENV.inboundQueueUrl, env), timer: requireEnv(ENV.timerQueueUrl, env) };
    const now = options.now ?? Date.now;
    return processPartialResponse(
      event,
      async (record: SQSRecord) => {
        const outcome = await handleTimerRecord(record, urls, now());
        if (outcome === 'invalid') emitMetric('InvalidEvents', 1, { queue: 'timer' });
        return outcome;
      },
      processor,
      { context, throwOnFullBatchFailure: false },
    );
  };
}
