/**
 * Every default of chat-relay, defined once. The construct's props docs and defaults
 * (lib/props.ts), the `cdk.json` context parsing (lib/stack.ts), the environment the functions
 * fall back to when a variable is unset (lambdas/) and the local stack all take their values
 * from here. Plain numbers and strings (durations in the unit their name says): no imports.
 */
import { QUEUE_DEFINITIONS } from './definitions.js';

/**
 * The default Bedrock model: Claude Haiku 4.5 through its *global* cross-region inference
 * profile, which works from every commercial region (many chat-relay shops deploy in
 * ap-southeast-1, where a `us.` profile would fail). To keep data in one geography set the
 * model id to `us.`, `eu.`, `apac.`, `jp.` or `au.anthropic.claude-haiku-4-5-20251001-v1:0`.
 * Model access must be enabled in the Bedrock console either way.
 */
export const DEFAULT_BEDROCK_MODEL_ID = 'global.anthropic.claude-haiku-4-5-20251001-v1:0';
/** Default deadline of one Bedrock answer (all attempts and image loads), in ms. */
export const DEFAULT_BEDROCK_TIMEOUT_MS = 20_000;
/** `POWERTOOLS_SERVICE_NAME` of every function and the media worker. */
export const DEFAULT_SERVICE_NAME = 'chat-relay';
/**
 * Records per batch of the conversation function's event source: the actor treats a record that
 * ends a full batch as possibly cut from the rest of its conversation (docs/conversation.md).
 */
export const CONVERSATION_BATCH_SIZE = 10;
/** `POWERTOOLS_SERVICE_NAME` of the Fargate media worker (its metrics carry this `service`). */
export const DEFAULT_MEDIA_SERVICE_NAME = 'chat-relay-media';
/** Tenant secrets live at `{secretPrefix}/tenants/{tenantId}`. */
export const DEFAULT_SECRET_PREFIX = 'chat-relay';

/** Shape of a Meta Graph API version (`v25.0`): lib validates `graphApiVersion` with it, the runtime `GRAPH_API_VERSION`. */
export const GRAPH_API_VERSION_PATTERN = /^v\d+\.\d+$/;

/** Per-destination send rates (calls per second) the delivery function keeps to. */
export const DEFAULT_RATE_LIMITS = {
  /** Pancake: 5 calls per page per second. */
  pancakePage: 5,
  /** Telegram: about 1 message per second per chat. */
  telegramChat: 1,
  /** Telegram: about 30 messages per second per bot. */
  telegramBot: 30,
  /** WhatsApp Cloud API: 80 messages per second per phone number (default tier). */
  whatsappNumber: 80,
  /** Messenger and Instagram: 300 text messages per second per page. */
  metaPage: 300,
} as const;

/**
 * The defaults of every tunable value, in plain units. `lib/props.ts` wraps the durations in
 * `Duration`s; the runtime uses these as the fallback of the matching `ENV` variable.
 */
export const DEFAULTS = {
  serviceName: DEFAULT_SERVICE_NAME,
  secretPrefix: DEFAULT_SECRET_PREFIX,
  /** Meta Graph API version of Messenger, Instagram and WhatsApp calls (`GRAPH_API_VERSION`). */
  graphApiVersion: 'v25.0',
  logLevel: 'INFO',
  tracing: false,
  /** Webhook API default stage, requests per second. */
  throttleRateLimit: 100,
  throttleBurstLimit: 200,
  /** Largest webhook body accepted (`MAX_BODY_BYTES`): 1 MiB. */
  maxBodyBytes: 1_048_576,
  /** Time the webhook may spend retrying partial enqueue failures before answering 5xx (`ENQUEUE_BUDGET_MS`). */
  enqueueBudgetMs: 1500,
  /** How long a function uses a cached tenant document before re-reading it (`TENANT_CACHE_SECONDS`); a refused signature, token or channel re-reads it sooner, at most once a minute. */
  tenantCacheSeconds: 3600,
  /** Receives before a message moves to its dead-letter queue (from the queue definitions). */
  maxReceiveCount: {
    inbound: QUEUE_DEFINITIONS.inbound.dlq.maxReceiveCount,
    timer: QUEUE_DEFINITIONS.timer.dlq.maxReceiveCount,
    outbound: QUEUE_DEFINITIONS.outbound.dlq.maxReceiveCount,
  },
  /** Quiet time after a customer's last message before the turn is answered (`DEBOUNCE_MS`). */
  debounceMs: 2500,
  /** Longest a turn waits for a customer who keeps typing (`MAX_TURN_WAIT_MS`). */
  maxTurnWaitMs: 15_000,
  /** Longest a turn waits for media results (`MEDIA_TIMEOUT_MS`). */
  mediaTimeoutMs: 120_000,
  /** How long conversation history is kept (`HISTORY_TTL_DAYS`). */
  historyTtlDays: 30,
  /** History entries given to the responder (`HISTORY_LIMIT`). */
  historyLimit: 20,
  /** Write an episode summary every this many turns, 0 disables (`SUMMARY_EVERY_TURNS`). */
  summaryEveryTurns: 10,
  /** Send the tenant's fallback reply when a turn exhausts its retries (`SEND_FALLBACK_ON_FAILURE`). */
  sendFallbackOnFailure: false,
  /** How long a human agent's reply pauses the bot (`HUMAN_TAKEOVER_MINUTES`). */
  humanTakeoverMinutes: 30,
  bedrockModelId: DEFAULT_BEDROCK_MODEL_ID,
  bedrockTimeoutMs: DEFAULT_BEDROCK_TIMEOUT_MS,
  /**
   * Timeout of one platform send call (`SEND_TIMEOUT_MS`): above the platforms' p99, so that a
   * timed-out send — which may still have been delivered, and is retried only after the outbound
   * visibility window — is rare. Below the delivery timeout, which leaves room for it.
   */
  sendTimeoutMs: 25_000,
  /** Real failed attempts of a reply part before delivery moves it to the DLQ (`MAX_SEND_ATTEMPTS`). */
  maxSendAttempts: 12,
  /** Typing-like delay before sends (`TYPING_DELAY`). */
  typingDelay: false,
  rateLimits: DEFAULT_RATE_LIMITS,
  /** Largest media file the worker downloads (`MAX_MEDIA_BYTES`): 25 MiB. */
  maxMediaBytes: 25 * 1024 * 1024,
  /** Keyframes extracted from a video (`KEYFRAME_COUNT`). */
  keyframeCount: 4,
  /** Media jobs one worker processes at once (`MEDIA_CONCURRENCY`). */
  mediaConcurrency: 1,
} as const;
