/**
 * SQS queues built from `QUEUE_DEFINITIONS` (lambdas/contracts/definitions.ts), the definition the local
 * stack uses too: each queue with its dead-letter queue, SQS-managed encryption, a TLS-only
 * policy, high-throughput FIFO where the definition asks for it, and a visibility timeout of
 * at least six times its consumer's timeout (the AWS recommendation for Lambda event sources).
 */
import { Duration } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { QUEUE_DEFINITIONS, type QueueDefinition, queueName } from '../lambdas/contracts/definitions.js';

/** AWS recommends a visibility timeout of at least six times the consuming function's timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

/** Options for one queue pair. */
export interface RelayQueueOptions {
  /** The timeout of the Lambda consuming the queue (visibility = max(definition, 6 × this)). */
  readonly consumerTimeout?: Duration;
  /** Receives before a message moves to the DLQ. @default the definition's `maxReceiveCount` */
  readonly maxReceiveCount?: number;
  /** Physical name prefix; CloudFormation generates names when unset. */
  readonly namePrefix?: string;
  /** A customer-managed KMS key for the queue and its DLQ. @default - SQS-managed encryption */
  readonly encryptionKey?: IKey;
}

/** The visibility timeout (seconds) for a queue given its definition and consumer timeout. */
export function visibilityTimeoutSeconds(def: QueueDefinition, consumerTimeout?: Duration): number {
  const fromConsumer = consumerTimeout ? consumerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR : 0;
  // SQS caps the visibility timeout at 12 hours.
  return Math.min(Math.max(def.visibilityTimeoutSeconds, fromConsumer), 43_200);
}

/** A queue and its dead-letter queue, built from one {@link QueueDefinition}. */
export class RelayQueue extends Construct {
  /** The work queue. */
  public readonly queue: Queue;
  /** Its dead-letter queue (FIFO when the queue is FIFO), kept 14 days. */
  public readonly deadLetterQueue: Queue;
  /** The receive count that moves a message to the DLQ. */
  public readonly maxReceiveCount: number;

  constructor(scope: Construct, id: string, def: QueueDefinition, options: RelayQueueOptions = {}) {
    super(scope, id);
    if (!def.dlq) throw new Error(`Queue definition "${def.name}" has no dead-letter queue.`);
    const fifoProps = (highThroughput: boolean) =>
      def.fifo
        ? {
            fifo: true,
            ...(highThroughput
              ? {
                  fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
                  deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
                }
              : {}),
          }
        : {};
    this.maxReceiveCount = options.maxReceiveCount ?? def.dlq.maxReceiveCount;
    const encryption = options.encryptionKey
      ? { encryption: QueueEncryption.KMS, encryptionMasterKey: options.encryptionKey }
      : { encryption: QueueEncryption.SQS_MANAGED };
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      queueName: options.namePrefix ? queueName(options.namePrefix, def.dlq.name, def.fifo) : undefined,
      ...fifoProps(false),
      retentionPeriod: Duration.days(def.dlq.retentionDays),
      ...encryption,
      enforceSSL: true,
    });
    this.queue = new Queue(this, 'Queue', {
      queueName: options.namePrefix ? queueName(options.namePrefix, def.name, def.fifo) : undefined,
      ...fifoProps(def.highThroughput),
      retentionPeriod: Duration.days(def.retentionDays),
      visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds(def, options.consumerTimeout)),
      ...encryption,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: this.maxReceiveCount },
    });
  }
}

/** Options for the relay's core queues. */
export interface RelayQueuesProps {
  readonly namePrefix?: string;
  readonly encryptionKey?: IKey;
  readonly maxReceiveCount: { readonly inbound: number; readonly timer: number; readonly outbound: number };
  readonly consumerTimeouts: {
    readonly inbound: Duration;
    readonly timer: Duration;
    readonly outbound: Duration;
  };
}

/** The core queues: inbound.fifo, the timer queue and outbound.fifo, each with its DLQ. */
export class RelayQueues extends Construct {
  public readonly inbound: RelayQueue;
  public readonly timer: RelayQueue;
  public readonly outbound: RelayQueue;

  constructor(scope: Construct, id: string, props: RelayQueuesProps) {
    super(scope, id);
    const common = { namePrefix: props.namePrefix, encryptionKey: props.encryptionKey };
    this.inbound = new RelayQueue(this, 'Inbound', QUEUE_DEFINITIONS.inbound, {
      ...common,
      consumerTimeout: props.consumerTimeouts.inbound,
      maxReceiveCount: props.maxReceiveCount.inbound,
    });
    this.timer = new RelayQueue(this, 'Timer', QUEUE_DEFINITIONS.timer, {
      ...common,
      consumerTimeout: props.consumerTimeouts.timer,
      maxReceiveCount: props.maxReceiveCount.timer,
    });
    this.outbound = new RelayQueue(this, 'Outbound', QUEUE_DEFINITIONS.outbound, {
      ...common,
      consumerTimeout: props.consumerTimeouts.outbound,
      maxReceiveCount: props.maxReceiveCount.outbound,
    });
  }
}
