/**
 * Timeouts of the shared AWS SDK clients. Without them a connection that hangs (a dead
 * keep-alive socket, a stalled endpoint) holds the caller until the Lambda times out. Each
 * SDK attempt is bounded; the SDK retries a timed-out attempt like any transient error (up to
 * 3 attempts). Callers with a tighter deadline pass their own `abortSignal` (and, for SQS
 * sends, a per-call `requestTimeout`): the webhook does, see lambdas/ingest/webhook.ts.
 *
 * A timed-out write may still have happened. Every write chat-relay makes is safe to repeat:
 * SQS FIFO sends carry a deduplication id, DynamoDB writes are conditional or idempotent.
 */

/** `requestHandler` options of one client (NodeHttpHandler options). */
export interface ClientTimeouts {
  /** Time to open the TCP/TLS connection, ms. */
  readonly connectionTimeout: number;
  /** Time for the whole request and its answer, ms (each attempt). */
  readonly requestTimeout: number;
  /** Without it the SDK only logs a warning when `requestTimeout` passes. */
  readonly throwOnRequestTimeout: true;
}

/**
 * Values per service. Typical latencies inside a region are tens of milliseconds; these are
 * far above any healthy p99 and far below the shortest Lambda timeout (10 s), so a timeout
 * means the connection is dead, not that the service is slow.
 */
export const CLIENT_TIMEOUTS = {
  /** SQS sends (and every other SQS call but long polls, which get WaitTimeSeconds + 5 s). */
  sqs: { connectionTimeout: 1000, requestTimeout: 5000, throwOnRequestTimeout: true },
  /** DynamoDB: generous, because a retried conditional write after a timeout can be refused. */
  dynamodb: { connectionTimeout: 1000, requestTimeout: 5000, throwOnRequestTimeout: true },
  /** Secrets Manager (tenant documents, cached an hour; lambdas/shared/tenant-store.ts). */
  secretsManager: { connectionTimeout: 1000, requestTimeout: 3000, throwOnRequestTimeout: true },
} as const satisfies Record<string, ClientTimeouts>;

/** Extra time a ReceiveMessage long poll gets beyond its WaitTimeSeconds. */
export const LONG_POLL_MARGIN_MS = 5000;
