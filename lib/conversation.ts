/**
 * The conversation actor and its debounce timer.
 *
 * - conversation Lambda on `inbound.fifo` (batch 10, partial batch failures, no batching
 *   window — Lambda allows none on FIFO sources);
 * - timer Lambda on the standard timer queue: a tick delayed by `DelaySeconds` comes back into
 *   `inbound.fifo` as a `flush` event. A small Lambda rather than EventBridge Pipes: a Pipe
 *   SQS→SQS FIFO cannot derive the per-message group and dedup ids from our message body as
 *   cleanly, and the local stack could not run it.
 *
 * Each function gets exactly the grants matching the environment variables it receives.
 */
import type { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CONVERSATION_BATCH_SIZE } from '../lambdas/contracts/defaults.js';
import { ENV } from '../lambdas/contracts/env.js';
import { bedrockTarget, grantBedrockInvoke } from './bedrock.js';
import { RelayFunction, type RelayFunctionDefaults } from './function-defaults.js';
import { type Responder, ResponderType } from './responder.js';

/** Properties of {@link RelayConversation} (resolved values; defaults live in ChatRelay). */
export interface RelayConversationProps {
  readonly functionDefaults: RelayFunctionDefaults;
  readonly inboundQueue: IQueue;
  /** inbound.fifo's DLQ: the actor dead-letters a turn that failed for good itself. */
  readonly inboundDlq: IQueue;
  readonly timerQueue: IQueue;
  readonly outboundQueue: IQueue;
  readonly memoryTable: ITable;
  readonly responder: Responder;
  /** The Bedrock model id (used when the responder is Bedrock). */
  readonly bedrockModelId: string;
  readonly bedrockTimeout: Duration;
  /** Shared environment (secret prefix, cache, API bases…). */
  readonly environment: Readonly<Record<string, string>>;
  readonly conversation: { readonly memorySize: number; readonly timeout: Duration };
  readonly timer: { readonly memorySize: number; readonly timeout: Duration };
}

/** The conversation Lambda (actor) and the timer Lambda, with their event sources. */
export class RelayConversation extends Construct {
  public readonly conversation: RelayFunction;
  public readonly timer: RelayFunction;
  public readonly conversationEventSource: SqsEventSource;
  public readonly timerEventSource: SqsEventSource;
  /** Foundation-model ARNs (with a region wildcard) reachable through the configured inference profile. */
  public readonly bedrockRoutedModelArns: readonly string[];

  constructor(scope: Construct, id: string, props: RelayConversationProps) {
    super(scope, id);
    const responderEnv: Record<string, string> = { [ENV.responder]: props.responder.type };
    const responderFunction = props.responder.lambdaFunction;
    if (props.responder.type === ResponderType.BEDROCK) {
      responderEnv[ENV.bedrockModelId] = props.bedrockModelId;
      responderEnv[ENV.bedrockTimeoutMs] = String(props.bedrockTimeout.toMilliseconds());
    } else if (props.responder.type === ResponderType.LAMBDA && responderFunction) {
      responderEnv[ENV.responderFunctionName] = responderFunction.functionArn;
    }

    this.conversation = new RelayFunction(this, 'Conversation', props.functionDefaults, {
      entry: 'conversation',
      description: 'chat-relay conversation actor: turns, debounce, memory, responder, gates',
      memorySize: props.conversation.memorySize,
      timeout: props.conversation.timeout,
      environment: {
        // The actor holds a turn's last message record in flight as its debounce tick
        // (ChangeMessageVisibility, part of the event source's consume grant).
        [ENV.inboundQueueUrl]: props.inboundQueue.queueUrl,
        [ENV.timerQueueUrl]: props.timerQueue.queueUrl,
        [ENV.outboundQueueUrl]: props.outboundQueue.queueUrl,
        [ENV.inboundDlqUrl]: props.inboundDlq.queueUrl,
        [ENV.memoryTable]: props.memoryTable.tableName,
        ...props.environment,
        ...responderEnv,
      },
    });
    const fn = this.conversation.function;
    // The event source grants consume on inbound (incl. ChangeMessageVisibility, which holds a
    // record as its tick); the actor arms timers for longer waits and queues replies
    // (an inline flush with debounceMs 0 happens in the same invocation, not through inbound).
    props.timerQueue.grantSendMessages(fn);
    props.outboundQueue.grantSendMessages(fn);
    // A turn that failed for good is moved to the DLQ by the actor (so later messages of the
    // same conversation are not dragged there with it).
    props.inboundDlq.grantSendMessages(fn);
    props.memoryTable.grantReadWriteData(fn);
    this.bedrockRoutedModelArns = [];
    if (props.responder.type === ResponderType.BEDROCK) {
      grantBedrockInvoke(this, fn, props.bedrockModelId);
      this.bedrockRoutedModelArns = bedrockTarget(this, props.bedrockModelId).routedModelArns;
    } else if (responderFunction) {
      responderFunction.grantInvoke(fn);
    }
    this.conversationEventSource = new SqsEventSource(props.inboundQueue, {
      batchSize: CONVERSATION_BATCH_SIZE,
      reportBatchItemFailures: true,
    });
    fn.addEventSource(this.conversationEventSource);

    this.timer = new RelayFunction(this, 'Timer', props.functionDefaults, {
      entry: 'timer',
      description: 'chat-relay debounce timer: moves due ticks from the timer queue into inbound.fifo',
      memorySize: props.timer.memorySize,
      timeout: props.timer.timeout,
      environment: {
        [ENV.inboundQueueUrl]: props.inboundQueue.queueUrl,
        [ENV.timerQueueUrl]: props.timerQueue.queueUrl,
      },
    });
    props.inboundQueue.grantSendMessages(this.timer.function);
    // Waits longer than SQS's 900 s maximum delay go back onto the timer queue for another hop.
    props.timerQueue.grantSendMessages(this.timer.function);
    this.timerEventSource = new SqsEventSource(props.timerQueue, {
      batchSize: 10,
      reportBatchItemFailures: true,
    });
    this.timer.function.addEventSource(this.timerEventSource);
  }

  /**
   * Lets the actor hand audio/video to the media worker: sets `MEDIA_JOBS_QUEUE_URL` and
   * grants `sqs:SendMessage` on the queue (called when media processing is enabled).
   */
  public addMediaJobsQueue(queue: IQueue): void {
    this.conversation.function.addEnvironment(ENV.mediaJobsQueueUrl, queue.queueUrl);
    queue.grantSendMessages(this.conversation.function);
  }
}
