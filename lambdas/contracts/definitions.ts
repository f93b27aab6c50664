/**
 * The one definition of chat-relay's queues and tables. The CDK constructs (lib/), the runtime
 * (lambdas/) and the local stack (bin/local) all build on these objects, so the deployed stack
 * and the local one cannot drift. Plain data: no aws-cdk-lib import here, no import at all.
 */

export interface QueueDefinition {
  /** Logical name; the physical name is `{prefix}-{name}` (+ `.fifo`). */
  readonly name: string;
  readonly fifo: boolean;
  /** High-throughput FIFO: dedup scope per message group, throughput limit per group. */
  readonly highThroughput: boolean;
  /** Default visibility timeout in seconds (CDK derives it from the consumer's timeout when larger). */
  readonly visibilityTimeoutSeconds: number;
  readonly retentionDays: number;
  /** The dead-letter queue and the receive count that moves a message there. */
  readonly dlq?: { readonly name: string; readonly retentionDays: number; readonly maxReceiveCount: number };
}

export interface TableDefinition {
  readonly name: string;
  readonly partitionKey: string;
  readonly sortKey?: string;
  /** TTL attribute (epoch seconds). */
  readonly ttlAttribute: string;
}

/** Every queue chat-relay creates. */
export const QUEUE_DEFINITIONS = {
  inbound: {
    name: 'inbound',
    fifo: true,
    highThroughput: true,
    visibilityTimeoutSeconds: 60,
    retentionDays: 4,
    dlq: { name: 'inbound-dlq', retentionDays: 14, maxReceiveCount: 5 },
  },
  timer: {
    name: 'timer',
    fifo: false,
    highThroughput: false,
    visibilityTimeoutSeconds: 30,
    retentionDays: 1,
    dlq: { name: 'timer-dlq', retentionDays: 14, maxReceiveCount: 5 },
  },
  outbound: {
    name: 'outbound',
    fifo: true,
    highThroughput: true,
    visibilityTimeoutSeconds: 60,
    retentionDays: 4,
    // A backstop only: delivery dead-letters a part itself after MAX_SEND_ATTEMPTS (12) real
    // failures, since SQS also counts rate-limit deferrals and skipped group members as receives.
    dlq: { name: 'outbound-dlq', retentionDays: 14, maxReceiveCount: 100 },
  },
  mediaJobs: {
    name: 'media-jobs',
    fifo: false,
    highThroughput: false,
    visibilityTimeoutSeconds: 300,
    retentionDays: 1,
    dlq: { name: 'media-jobs-dlq', retentionDays: 14, maxReceiveCount: 3 },
  },
} as const satisfies Record<string, QueueDefinition>;

export type QueueKey = keyof typeof QUEUE_DEFINITIONS;

/** Every table chat-relay creates. */
export const TABLE_DEFINITIONS = {
  /** Conversation state, history, summaries, profiles, facts, sent ids, rate windows. */
  memory: { name: 'memory', partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt' },
} as const satisfies Record<string, TableDefinition>;

export type TableKey = keyof typeof TABLE_DEFINITIONS;

/** Physical queue name for a definition and prefix (`.fifo` added for FIFO queues). */
export function queueName(prefix: string, name: string, fifo: boolean): string {
  return `${prefix}-${name}${fifo ? '.fifo' : ''}`;
}
