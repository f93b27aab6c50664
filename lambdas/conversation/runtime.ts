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
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { maxReplyLength } from '../gates/limits.js';
import { produceReply } from '../gates/pipeline.js';
import { DynamoMemoryStore, DynamoStateStore } from '../memory/store.js';
import { responderFromEnv } from '../responders/index.js';
import type { Responder } from '../responders/types.js';
import { welcomePlan } from '../responders/welcome.js';
import { documentClient } from '../shared/clients.js';
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
}

/** The processing of one inbound.fifo record. */
export interface RecordProcessor {
  (record: SQSRecord): Promise<Outcome | 'invalid' | 'dead-lettered'>;
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
              const { senderFor } = await import('../channels/send/index.js');
              await senderFor(target.channel).typing(target, signal);
            }),
        }),
    metric,
    now: options.now ?? options.deps?.now ?? Date.now,
  };
  const actor = new ConversationActor(deps, config);

  let lambdaContext: Context | undefined;
  const deadLetterUrl = optionalEnv(ENV.inboundDlqUrl, '', env);
  const handleRecord = async (record: SQSRecord): Promise<Outcome | 'invalid' | 'dead-lettered'> => {
    const event = parseRecord(record, metric);
    if (!event) return 'invalid';
    const remaining = lambdaContext?.getRemainingTimeInMillis();
    const attempt: Attempt = {
      receiveCount: Number(record.attributes?.ApproximateReceiveCount ?? '1') || 1,
      // Leave time to record the outcome (state, history, outbound) after a cancelled responder.
      ...(remaining !== undefined ? { deadline: Date.now() + remaining - RESPONDER_MARGIN_MS } : {}),
    };
    const keys = { tenant: event.tenantId, channel: event.channel, conversation: event.conversationKey };
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
      return outcome;
    } catch (err) {
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

function parseRecord(record: SQSRecord, metric: MetricSink): ConversationEvent | undefined {
  let json: unknown;
  try {
    json = JSON.parse(record.body);
  } catch {
    json = undefined;
  }
  const result = conversationEventSchema.safeParse(json);
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
  const processor = new SqsFifoPartialProcessorAsync();
  return async (event, context) => {
    // Built on first use so the environment (and the tests' emulator endpoints) is read then.
    processRecord ??= createRecordProcessor(options);
    processRecord.registerContext(context);
    const recordHandler = processRecord;
    return processPartialResponse(event, (record: SQSRecord) => recordHandler(record), processor, {
      context,
      skipGroupOnError: true,
      throwOnFullBatchFailure: false,
    });
  };
}

/** The timer Lambda handler (standard timer queue → inbound.fifo). */
export function createTimerHandler(
  options: { readonly env?: NodeJS.ProcessEnv; readonly now?: () => number } = {},
): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> {
  const processor = new BatchProcessor(EventType.SQS);
  return async (event, context) => {
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
