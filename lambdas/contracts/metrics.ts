/**
 * The metric catalogue: every metric chat-relay emits, with unit, dimensions and meaning.
 * Handlers take metric names from here (never string literals), the monitoring construct
 * builds its dashboard and alarms from here, and the README's catalogue table is checked
 * against this list by a test, so the three cannot drift. Part of the contracts: imports nothing.
 */

/** The CloudWatch namespace every chat-relay metric is published in (`POWERTOOLS_METRICS_NAMESPACE`). */
export const METRICS_NAMESPACE = 'ChatRelay';

export type MetricUnit = 'Count' | 'Milliseconds' | 'Bytes' | 'Seconds';

export interface MetricDefinition {
  readonly name: string;
  /**
   * What the value counts or measures. EMF documents carry no `Unit` (bytes on every log line),
   * so CloudWatch records `None`; the monitoring construct's alarms and graphs name no unit.
   */
  readonly unit: MetricUnit;
  /** Dimensions besides `service` (Powertools adds `service` to every metric). */
  readonly dimensions: readonly string[];
  readonly meaning: string;
}

function m(name: string, unit: MetricUnit, dimensions: readonly string[], meaning: string): MetricDefinition {
  return { name, unit, dimensions, meaning };
}

/** Every metric, keyed by its name. */
export const METRICS = {
  // Webhook (issue: ingest)
  WebhookReceived: m(
    'WebhookReceived',
    'Count',
    ['channel'],
    'Webhook requests received (any method, any outcome).',
  ),
  SignatureRejected: m(
    'SignatureRejected',
    'Count',
    ['channel'],
    'POSTs rejected with 401 INVALID_SIGNATURE.',
  ),
  HandshakeFailed: m('HandshakeFailed', 'Count', ['channel'], 'GET verification handshakes answered 403.'),
  HandshakeSucceeded: m(
    'HandshakeSucceeded',
    'Count',
    ['channel'],
    'GET verification handshakes answered with the challenge.',
  ),
  WebhookNotFound: m(
    'WebhookNotFound',
    'Count',
    ['channel'],
    'Requests for an unknown tenant or a channel the tenant has not configured (404).',
  ),
  WebhookRejected: m(
    'WebhookRejected',
    'Count',
    ['channel', 'reason'],
    'Requests rejected before enqueueing: body too large or too many events (413), or unparseable (400).',
  ),
  MessagesEnqueued: m(
    'MessagesEnqueued',
    'Count',
    ['channel'],
    'Customer messages and human-activity events put on inbound.fifo.',
  ),
  EventsIgnored: m(
    'EventsIgnored',
    'Count',
    ['channel', 'reason'],
    'Well-formed events acknowledged but not acted on (echo, receipt, reaction, non-message, oversized…).',
  ),
  EnqueueFailed: m(
    'EnqueueFailed',
    'Count',
    ['channel'],
    'Messages that could not be enqueued within the time budget (the request got a 5xx).',
  ),
  // Conversation actor
  TurnsFlushed: m('TurnsFlushed', 'Count', ['channel'], 'Turns answered (one responder call each).'),
  MessagesPerTurn: m(
    'MessagesPerTurn',
    'Count',
    ['channel'],
    'Customer messages merged into one turn by debounce.',
  ),
  DuplicateMessages: m(
    'DuplicateMessages',
    'Count',
    ['channel'],
    'Platform re-deliveries dropped by idempotency.',
  ),
  StaleTicks: m('StaleTicks', 'Count', ['channel'], 'Debounce ticks ignored because the turn moved on.'),
  ResponderLatency: m(
    'ResponderLatency',
    'Milliseconds',
    ['responder'],
    'Time the responder took to produce a reply.',
  ),
  ResponderFailed: m(
    'ResponderFailed',
    'Count',
    ['responder'],
    'Responder calls that failed (the turn is retried).',
  ),
  GateOutcome: m(
    'GateOutcome',
    'Count',
    ['gate', 'outcome'],
    'Gate failures per reply: outcome is fail, regenerated or fallback. Passes are not counted (the audit trail lists them): pass rate = 1 − fail / TurnsFlushed.',
  ),
  // Knowledge and tools (bedrock responder)
  KnowledgeRetrievalLatency: m(
    'KnowledgeRetrievalLatency',
    'Milliseconds',
    [],
    'Time to retrieve the knowledge passages of one answer.',
  ),
  KnowledgeRetrievalFailed: m(
    'KnowledgeRetrievalFailed',
    'Count',
    [],
    'Retrievals that failed: the turn was answered without knowledge (never a failed turn).',
  ),
  ResponderTokens: m(
    'ResponderTokens',
    'Count',
    ['kind'],
    'Model tokens per answer, summed over its calls: kind is input, output, cacheRead or cacheWrite.',
  ),
  ToolCalls: m(
    'ToolCalls',
    'Count',
    ['outcome'],
    'Tenant tool calls made by the bedrock responder: outcome is ok or failed (after its retry).',
  ),
  HumanTakeover: m(
    'HumanTakeover',
    'Count',
    ['channel'],
    'Conversations paused because a human agent replied.',
  ),
  MessagesWhilePaused: m(
    'MessagesWhilePaused',
    'Count',
    ['channel'],
    'Customer messages recorded unanswered during a human takeover.',
  ),
  TurnsFailed: m(
    'TurnsFailed',
    'Count',
    ['channel'],
    'Turns that exhausted their retries (sent to the DLQ).',
  ),
  InvalidEvents: m(
    'InvalidEvents',
    'Count',
    ['queue'],
    'Queue records that failed schema validation: logged and acknowledged (they can never succeed).',
  ),
  MediaTimeouts: m(
    'MediaTimeouts',
    'Count',
    ['channel'],
    'Turns flushed without media results after mediaTimeoutMs.',
  ),
  // Delivery
  SendSucceeded: m('SendSucceeded', 'Count', ['channel'], 'Reply parts delivered to the platform.'),
  SendFailed: m(
    'SendFailed',
    'Count',
    ['channel', 'code'],
    'Reply parts the platform refused permanently, by platform code.',
  ),
  SendFailedByChannel: m(
    'SendFailedByChannel',
    'Count',
    ['channel'],
    'SendFailed without the code breakdown (emitted alongside it), so the send-failure-rate alarm can add it up per channel.',
  ),
  SendRetried: m(
    'SendRetried',
    'Count',
    ['channel', 'code'],
    'Retryable send failures returned to the queue with backoff.',
  ),
  SendAmbiguous: m(
    'SendAmbiguous',
    'Count',
    ['channel'],
    'Sends with an unknown outcome: timed out or cut off after the request left (retried only after the visibility window), or found half-done after a crash (recorded AMBIGUOUS_AFTER_CRASH, not sent again).',
  ),
  TokenInvalid: m(
    'TokenInvalid',
    'Count',
    ['channel'],
    'Sends refused because the access token is invalid (401, Meta 190).',
  ),
  ZaloTokenRefreshFailed: m(
    'ZaloTokenRefreshFailed',
    'Count',
    ['reason'],
    'Zalo access-token refreshes that failed for good: reason refused (the refresh token expired, was revoked or already spent) or write (refreshed, but the new pair could not be written to the tenant secret).',
  ),
  ReplyExpired: m(
    'ReplyExpired',
    'Count',
    ['channel'],
    'Replies not sent because the platform messaging window had closed.',
  ),
  ReplyLatency: m('ReplyLatency', 'Milliseconds', ['channel'], 'Webhook received-at to send acknowledged.'),
  RateLimited: m('RateLimited', 'Count', ['channel'], 'Sends delayed by our per-page rate limiter.'),
  // Media
  MediaJobs: m('MediaJobs', 'Count', ['kind'], 'Media jobs processed (audio or video).'),
  MediaDuration: m('MediaDuration', 'Milliseconds', ['kind'], 'Time to process one media job.'),
  MediaFailed: m(
    'MediaFailed',
    'Count',
    ['kind', 'code'],
    'Media jobs that ended with a typed error (the turn goes on with a marker).',
  ),
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRICS;

/** All metric definitions, in catalogue order. */
export const METRIC_LIST: readonly MetricDefinition[] = Object.values(METRICS);
