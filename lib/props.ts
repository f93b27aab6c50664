/**
 * `ChatRelayProps`, their defaults and their synth-time validation. Validation is a pure
 * function returning every problem at once, each message naming the prop, the allowed range,
 * the value given and the fix.
 */

import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  DEFAULT_BEDROCK_MODEL_ID,
  DEFAULTS,
  GRAPH_API_VERSION_PATTERN,
} from '../lambdas/contracts/defaults.js';
import { BEDROCK_MODEL_ID_PATTERN } from './bedrock.js';
import { FUNCTION_DEFAULTS } from './function-defaults.js';
import { type ChatRelayKnowledgeSettings, validateKnowledgeSettings } from './knowledge.js';
import type { ChatRelayMediaSettings } from './media.js';
import type { ChatRelayMonitoringSettings } from './monitoring/index.js';
import { Responder, ResponderType } from './responder.js';
import { SECRET_PREFIX_PATTERN } from './tenant-secrets.js';

export { ChatRelayPropsError } from './errors.js';

/** `POWERTOOLS_LOG_LEVEL` of the functions. */
export enum LogLevel {
  DEBUG = 'DEBUG',
  INFO = 'INFO',
  WARN = 'WARN',
  ERROR = 'ERROR',
}

/** Memory and timeout of one function. */
export interface FunctionSizing {
  /**
   * Memory in MB (128–10240).
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * Function timeout. Webhook at most 29 s (the HTTP API integration limit), others at most 15 min.
   * @default webhook 10 s, conversation 60 s, timer 10 s, delivery 60 s
   */
  readonly timeout?: Duration;
}

/** Outbound API base URLs (for staging, sandboxes and tests). Unset → the real hosts. */
export interface ApiBaseUrls {
  /** Pancake (`PANCAKE_API_BASE`). @default https://pages.fm */
  readonly pancake?: string;
  /** Meta Graph API for Messenger, Instagram and WhatsApp (`GRAPH_API_BASE`). @default https://graph.facebook.com */
  readonly graph?: string;
  /** Telegram Bot API (`TELEGRAM_API_BASE`). @default https://api.telegram.org */
  readonly telegram?: string;
  /** Zalo OA API (`ZALO_API_BASE`). @default https://openapi.zalo.me */
  readonly zalo?: string;
}

/** Receive counts before a message moves to its dead-letter queue (1–1000). */
export interface MaxReceiveCounts {
  /** inbound.fifo: attempts at a turn before the actor dead-letters it. @default 5 */
  readonly inbound?: number;
  /** The timer queue. @default 5 */
  readonly timer?: number;
  /**
   * outbound.fifo: only a backstop (crashes, poison records). Delivery dead-letters a reply part
   * itself after `MAX_SEND_ATTEMPTS` (12) real failed sends; rate-limit deferrals, which SQS also
   * counts as receives, do not count towards those.
   * @default 100
   */
  readonly outbound?: number;
}

/** Per-function sizing. */
export interface FunctionSizings {
  /** @default 256 MB, 10 s */
  readonly webhook?: FunctionSizing;
  /** @default 256 MB, 60 s */
  readonly conversation?: FunctionSizing;
  /** @default 256 MB, 10 s */
  readonly timer?: FunctionSizing;
  /** @default 256 MB, 60 s */
  readonly delivery?: FunctionSizing;
}

/** Properties of the `ChatRelay` construct. Every prop is optional. */
export interface ChatRelayProps {
  /**
   * Tenant secrets are read from `{secretPrefix}/tenants/{tenantId}`; the functions may read
   * those secrets and nothing else.
   * @default 'chat-relay'
   */
  readonly secretPrefix?: string;
  /**
   * Physical name prefix for queues (`{prefix}-inbound.fifo`…) and tables (`{prefix}-memory`…).
   * @default - CloudFormation generates unique names
   */
  readonly namePrefix?: string;
  /**
   * What happens to the tables and log groups when the stack is deleted. Use `DESTROY` only for dev stacks.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Retention of the function log groups and the API access log group.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * `POWERTOOLS_LOG_LEVEL` of every function.
   * @default LogLevel.INFO
   */
  readonly logLevel?: LogLevel;
  /**
   * `POWERTOOLS_SERVICE_NAME`: the `service` key in every log line and dimension of every metric.
   * @default 'chat-relay'
   */
  readonly serviceName?: string;
  /**
   * X-Ray active tracing on every function.
   * @default false
   */
  readonly tracing?: boolean;
  /**
   * Steady-state request rate limit of the webhook API's default stage (requests per second).
   * @default 100
   */
  readonly throttleRateLimit?: number;
  /**
   * Burst limit of the webhook API's default stage.
   * @default 200
   */
  readonly throttleBurstLimit?: number;
  /**
   * Largest webhook body accepted; larger requests get 413 (`MAX_BODY_BYTES`).
   * @default 1048576 (1 MiB)
   */
  readonly maxBodyBytes?: number;
  /**
   * The webhook's answer deadline, counted from the start of a request (`ENQUEUE_BUDGET_MS`):
   * the tenant lookup and the enqueue (with its retries of partial failures) must finish within it,
   * or the request is answered 503 at the deadline, even when a dependency hangs. Must be shorter
   * than the webhook timeout. Keep it well inside the platforms' answer deadlines (Zalo 2 s, Meta
   * 5 s): a 5xx in time lets the platform retry.
   * @default Duration.millis(1500)
   */
  readonly enqueueBudget?: Duration;
  /**
   * How long a function uses a cached tenant document before re-reading it
   * (`TENANT_CACHE_SECONDS`). A webhook signature, token or channel the cached document refuses
   * re-reads it sooner, at most once a minute per tenant (docs/tenants.md).
   * @default Duration.hours(1)
   */
  readonly tenantCacheTtl?: Duration;
  /**
   * Receives before a message is moved to its dead-letter queue. For outbound it is only a
   * backstop: delivery dead-letters a part itself after 12 real failed attempts (rate-limit
   * deferrals, which SQS also counts as receives, do not count).
   * @default { inbound: 5, timer: 5, outbound: 100 }
   */
  readonly maxReceiveCount?: MaxReceiveCounts;
  /**
   * Quiet time after a customer's last message before the turn is answered (0 flushes inline,
   * no timer). A tenant's `settings.debounceMs` overrides it. At most 900000 (SQS DelaySeconds max).
   * @default 2500
   */
  readonly debounceMs?: number;
  /**
   * Longest a turn waits for a customer who keeps typing. At least `debounceMs`, at most 900000.
   * @default 15000
   */
  readonly maxTurnWaitMs?: number;
  /**
   * Longest a turn waits for media results (transcripts, keyframes) before answering with a marker.
   * @default 120000
   */
  readonly mediaTimeoutMs?: number;
  /**
   * How long conversation history is kept (whole days).
   * @default Duration.days(30)
   */
  readonly historyTtl?: Duration;
  /**
   * History entries given to the responder.
   * @default 20
   */
  readonly historyLimit?: number;
  /**
   * Write an episode summary every this many turns (0 disables summaries).
   * @default 10
   */
  readonly summaryEveryTurns?: number;
  /**
   * Send the tenant's fallback reply when a turn exhausts its retries.
   * @default false
   */
  readonly sendFallbackOnFailure?: boolean;
  /**
   * How long a human agent's reply from the platform inbox pauses the bot in that conversation
   * (`HUMAN_TAKEOVER_MINUTES`); a tenant's `settings.humanTakeoverMinutes` overrides it.
   * @default 30
   */
  readonly humanTakeoverMinutes?: number;
  /**
   * Who answers: `Responder.bedrock({ modelId?, timeout? })` (Amazon Bedrock Converse),
   * `Responder.lambda(fn)` (your own function) or `Responder.echo()` (deterministic, for tests).
   * @default Responder.bedrock() — model 'global.anthropic.claude-haiku-4-5-20251001-v1:0' (Claude Haiku 4.5, global inference profile)
   */
  readonly responder?: Responder;
  /**
   * Outbound API base URLs.
   * @default - the real hosts
   */
  readonly apiBaseUrls?: ApiBaseUrls;
  /**
   * Meta Graph API version of the Messenger, Instagram and WhatsApp sends and WhatsApp media
   * downloads (`GRAPH_API_VERSION` on the conversation, delivery and media worker). Meta supports a
   * version for about two years; raise it here when Meta retires the one you use.
   * @default 'v25.0'
   */
  readonly graphApiVersion?: string;
  /**
   * Timeout of one platform send call (`SEND_TIMEOUT_MS`). Must be shorter than the delivery timeout.
   * A send that times out may have been delivered; it is retried only after the outbound visibility
   * window, so keep this above the platforms' slowest normal answers.
   * @default Duration.seconds(25)
   */
  readonly sendTimeout?: Duration;
  /**
   * Wait before sending, proportional to the reply length and capped, so replies feel typed (`TYPING_DELAY`).
   * @default false
   */
  readonly typingDelay?: boolean;
  /**
   * Reserved concurrency of the delivery function.
   * @default - unreserved
   */
  readonly deliveryReservedConcurrency?: number;
  /**
   * Send rates the delivery function keeps to, in calls per second, shared by all its instances
   * (`RATE_LIMITS`). Lower them for a smaller WhatsApp tier or a Pancake plan with other limits.
   * @default { pancakePage: 5, telegramChat: 1, telegramBot: 30, whatsappNumber: 80, metaPage: 300 }
   */
  readonly rateLimits?: RateLimits;
  /**
   * Memory and timeout per function.
   * @default see {@link FunctionSizings}
   */
  readonly functions?: FunctionSizings;
  /**
   * Voice notes and videos: the media-jobs queue, the media bucket and the Fargate worker
   * (ffmpeg + whisper.cpp) that transcribes audio and extracts video keyframes. `false` leaves
   * media out: audio and video turns are then answered with a marker instead of a transcript.
   * Deploying media builds a container image, so `cdk deploy` needs Docker (or Finch) — or pass
   * a prebuilt `image`. `{ enabled: false }` leaves media out. Pass `vpc` to run the worker in
   * your own VPC.
   * @default - enabled, with ChatRelayMedia's defaults: 0–2 tasks, 1 vCPU, 2 GB, model `base`, a new VPC
   */
  readonly media?: ChatRelayMediaOptions;
  /**
   * The CloudWatch dashboard and alarms (to an SNS topic). `{ enabled: false }` leaves them out.
   * @default - enabled, default thresholds, no e-mail subscription
   */
  readonly monitoring?: ChatRelayMonitoringOptions;
  /**
   * A customer-managed KMS key encrypting the queues (and their dead-letter queues), the tables
   * and the media bucket. The functions and the media worker are granted its use.
   * @default - SQS-managed, AWS-managed (DynamoDB) and S3-managed encryption
   */
  readonly encryptionKey?: IKey;
  /**
   * The tenants' knowledge base: an Amazon Bedrock Knowledge Base over S3 Vectors, documents in
   * S3 under `knowledge/{tenantId}/`, retrieval filtered by tenant (docs/knowledge.md). The
   * conversation function may retrieve from it (`KNOWLEDGE_BASE_ID`), not write to it. Only the
   * bedrock responder uses it. `{ enabled: false }` leaves it out.
   * @default - enabled with the bedrock responder (Cohere Embed Multilingual v3, 300-token chunks), off with the others
   */
  readonly knowledge?: ChatRelayKnowledgeOptions;
  /**
   * Most rounds of tenant tool calls in one bedrock answer (`TOOL_MAX_ROUNDS`, 0–10; 0 offers no
   * tools). Only the bedrock responder calls tools.
   * @default 3
   */
  readonly toolMaxRounds?: number;
  /**
   * Functions of your stack that tenants may declare as `lambda` tools: the conversation function
   * is granted `lambda:InvokeFunction` on each (the same as calling `grantToolInvoke(fn)`).
   * @default - none
   */
  readonly toolFunctions?: IFunction[];
}

/** Knowledge settings of {@link ChatRelayProps.knowledge}: the knowledge base's settings, and whether to deploy it. */
export interface ChatRelayKnowledgeOptions extends ChatRelayKnowledgeSettings {
  /**
   * Deploy the knowledge base. Only the bedrock responder retrieves from it, so `true` with a
   * `lambda` or `echo` responder is reported at synth.
   * @default - true with the bedrock responder, false with the others
   */
  readonly enabled?: boolean;
}

/**
 * Whether the knowledge base is deployed: `knowledge.enabled` when given (`false` from JavaScript
 * callers too), else on exactly when the responder is bedrock.
 */
export function isKnowledgeEnabled(props: ChatRelayProps): boolean {
  if ((props.knowledge as unknown) === false) return false;
  if (props.knowledge?.enabled !== undefined) return props.knowledge.enabled;
  return !(props.responder instanceof Responder) || props.responder.type === ResponderType.BEDROCK;
}

/** Media settings of {@link ChatRelayProps.media}: ChatRelayMedia's settings, and whether to deploy it. */
export interface ChatRelayMediaOptions extends ChatRelayMediaSettings {
  /**
   * Deploy the media worker. `false` leaves it out: audio and video turns are then answered
   * with a marker instead of a transcript.
   * @default true
   */
  readonly enabled?: boolean;
}

/** Monitoring settings of {@link ChatRelayProps.monitoring}: ChatRelayMonitoring's settings, and whether to deploy it. */
export interface ChatRelayMonitoringOptions extends ChatRelayMonitoringSettings {
  /**
   * Deploy the dashboard, the alarms and their topic.
   * @default true
   */
  readonly enabled?: boolean;
}

/** True unless `options` turns the feature off (`{ enabled: false }`, or `false` from JavaScript callers of 0.1). */
export function isEnabled(options: { readonly enabled?: boolean } | undefined): boolean {
  return (options as unknown) !== false && options?.enabled !== false;
}

/** Fargate CPU units and the task memory sizes (MiB) each allows. */
const FARGATE_MEMORY: Readonly<Record<number, readonly [number, number, number]>> = {
  256: [512, 2048, 1024],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

/** Per-destination send rates (calls per second); see {@link ChatRelayProps.rateLimits}. */
export interface RateLimits {
  /** Per Pancake page. @default 5 */
  readonly pancakePage?: number;
  /** Per Telegram chat. @default 1 */
  readonly telegramChat?: number;
  /** Per Telegram bot. @default 30 */
  readonly telegramBot?: number;
  /** Per WhatsApp phone number. @default 80 */
  readonly whatsappNumber?: number;
  /** Per Messenger page / Instagram account. @default 300 */
  readonly metaPage?: number;
}

/**
 * Every default of the construct, taken from the one definition in lambdas/contracts/defaults.ts
 * (which the runtime and the local stack use too), with durations as `Duration`s.
 */
export const CHAT_RELAY_DEFAULTS = {
  secretPrefix: DEFAULTS.secretPrefix,
  removalPolicy: RemovalPolicy.RETAIN,
  logRetention: RetentionDays.ONE_MONTH,
  logLevel: LogLevel.INFO,
  serviceName: DEFAULTS.serviceName,
  tracing: DEFAULTS.tracing,
  throttleRateLimit: DEFAULTS.throttleRateLimit,
  throttleBurstLimit: DEFAULTS.throttleBurstLimit,
  maxBodyBytes: DEFAULTS.maxBodyBytes,
  enqueueBudget: Duration.millis(DEFAULTS.enqueueBudgetMs),
  tenantCacheTtl: Duration.seconds(DEFAULTS.tenantCacheSeconds),
  maxReceiveCount: DEFAULTS.maxReceiveCount,
  debounceMs: DEFAULTS.debounceMs,
  maxTurnWaitMs: DEFAULTS.maxTurnWaitMs,
  mediaTimeoutMs: DEFAULTS.mediaTimeoutMs,
  historyTtl: Duration.days(DEFAULTS.historyTtlDays),
  historyLimit: DEFAULTS.historyLimit,
  summaryEveryTurns: DEFAULTS.summaryEveryTurns,
  sendFallbackOnFailure: DEFAULTS.sendFallbackOnFailure,
  humanTakeoverMinutes: DEFAULTS.humanTakeoverMinutes,
  bedrockModelId: DEFAULTS.bedrockModelId,
  bedrockTimeout: Duration.millis(DEFAULTS.bedrockTimeoutMs),
  sendTimeout: Duration.millis(DEFAULTS.sendTimeoutMs),
  typingDelay: DEFAULTS.typingDelay,
  graphApiVersion: DEFAULTS.graphApiVersion,
  /** Tool rounds per bedrock answer; the runtime's fallback for an unset `TOOL_MAX_ROUNDS` is the same 3. */
  toolMaxRounds: 3,
} as const;

/** SQS DelaySeconds maximum, in ms: the debounce and media ticks ride on it. */
const MAX_DELAY_MS = 900_000;
const LOG_LEVELS: readonly string[] = Object.values(LogLevel);
const NAME_PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,40}$/;
const SERVICE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const known = (v: unknown): boolean => !Token.isUnresolved(v);

function show(value: unknown): string {
  if (value instanceof Duration) return value.toHumanString();
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

/**
 * Every problem with `props`, as messages saying what is wrong and how to fix it; empty when
 * the props are valid. Unresolved tokens are not checked.
 */
export function validateChatRelayProps(props: ChatRelayProps = {}): string[] {
  const problems: string[] = [];
  const intIn = (name: string, value: number | undefined, min: number, max: number, why = ''): void => {
    if (value === undefined || !known(value)) return;
    if (!Number.isInteger(value)) {
      problems.push(`${name} must be a whole number; got ${show(value)}. Set ${name} to a whole number.`);
    } else if (value < min || value > max) {
      const hint = value > max ? 'smaller' : 'larger';
      problems.push(
        `${name} must be between ${min} and ${max}${why}; got ${show(value)}. Set ${name} to a ${hint} value.`,
      );
    }
  };
  const durationIn = (
    name: string,
    value: Duration | undefined,
    min: Duration,
    max: Duration,
    unit: 'milliseconds' | 'seconds' | 'days' = 'seconds',
    why = '',
  ): void => {
    if (value === undefined || value.isUnresolved()) return;
    const ms = value.toMilliseconds();
    const whole =
      unit === 'days' ? ms % 86_400_000 === 0 : unit === 'seconds' ? ms % 1000 === 0 : Number.isInteger(ms);
    if (ms < min.toMilliseconds() || ms > max.toMilliseconds()) {
      const hint = ms > max.toMilliseconds() ? 'shorter' : 'longer';
      problems.push(
        `${name} must be between ${min.toHumanString()} and ${max.toHumanString()}${why}; got ${show(value)}. Set ${name} to a ${hint} duration.`,
      );
    } else if (!whole) {
      problems.push(
        `${name} must be a whole number of ${unit}; got ${show(value)}. Set ${name} to whole ${unit}.`,
      );
    }
  };

  // Names
  if (props.secretPrefix !== undefined && known(props.secretPrefix)) {
    if (!SECRET_PREFIX_PATTERN.test(props.secretPrefix) || props.secretPrefix.length > 400) {
      problems.push(
        `secretPrefix must be 1–400 characters of letters, digits and _+=.@- separated by single "/" (no leading or trailing "/"); got ${show(props.secretPrefix)}. Set secretPrefix to a value like "chat-relay" or "prod/chat-relay".`,
      );
    }
  }
  if (
    props.namePrefix !== undefined &&
    known(props.namePrefix) &&
    !NAME_PREFIX_PATTERN.test(props.namePrefix)
  ) {
    problems.push(
      `namePrefix must be 1–40 characters of letters, digits, "-" or "_" (queue names are limited to 80 characters); got ${show(props.namePrefix)}. Set namePrefix to a shorter plain name such as "chat-relay-prod", or leave it unset for generated names.`,
    );
  }
  if (
    props.serviceName !== undefined &&
    known(props.serviceName) &&
    !SERVICE_NAME_PATTERN.test(props.serviceName)
  ) {
    problems.push(
      `serviceName must be 1–64 characters of letters, digits, ".", "-" or "_"; got ${show(props.serviceName)}. Set serviceName to a plain name such as "chat-relay".`,
    );
  }
  if (props.logLevel !== undefined && !LOG_LEVELS.includes(props.logLevel)) {
    problems.push(
      `logLevel must be one of ${LOG_LEVELS.join(', ')}; got ${show(props.logLevel)}. Set logLevel to "INFO" (or "DEBUG" while investigating).`,
    );
  }

  // API
  intIn('throttleRateLimit', props.throttleRateLimit, 1, 10_000, ' (requests per second)');
  intIn('throttleBurstLimit', props.throttleBurstLimit, 1, 5_000);
  if (
    props.throttleRateLimit !== undefined &&
    props.throttleBurstLimit !== undefined &&
    known(props.throttleRateLimit) &&
    known(props.throttleBurstLimit) &&
    props.throttleBurstLimit < props.throttleRateLimit
  ) {
    problems.push(
      `throttleBurstLimit must be at least throttleRateLimit; got burst ${props.throttleBurstLimit} < rate ${props.throttleRateLimit}. Raise throttleBurstLimit to ${props.throttleRateLimit} or more.`,
    );
  }
  intIn('maxBodyBytes', props.maxBodyBytes, 1024, 10_485_760, ' (API Gateway HTTP API payload limit 10 MiB)');
  durationIn('tenantCacheTtl', props.tenantCacheTtl, Duration.seconds(0), Duration.hours(1));

  // Functions
  const sizing = props.functions ?? {};
  for (const key of ['webhook', 'conversation', 'timer', 'delivery'] as const) {
    const s = sizing[key];
    if (!s) continue;
    intIn(`functions.${key}.memorySize`, s.memorySize, 128, 10_240, ' MB');
    const max = key === 'webhook' ? Duration.seconds(29) : Duration.minutes(15);
    const why = key === 'webhook' ? ' (HTTP API integrations time out after 30 s)' : ' (Lambda maximum)';
    durationIn(`functions.${key}.timeout`, s.timeout, Duration.seconds(1), max, 'seconds', why);
  }
  const timeoutOf = (key: keyof FunctionSizings): Duration =>
    sizing[key]?.timeout ?? FUNCTION_DEFAULTS[key].timeout;
  const webhookTimeout = timeoutOf('webhook');
  if (props.enqueueBudget !== undefined) {
    durationIn(
      'enqueueBudget',
      props.enqueueBudget,
      Duration.millis(100),
      Duration.seconds(28),
      'milliseconds',
    );
  }
  const budget = props.enqueueBudget ?? CHAT_RELAY_DEFAULTS.enqueueBudget;
  if (
    !budget.isUnresolved() &&
    !webhookTimeout.isUnresolved() &&
    budget.toMilliseconds() >= webhookTimeout.toMilliseconds()
  ) {
    problems.push(
      `enqueueBudget must be shorter than the webhook timeout (${webhookTimeout.toHumanString()}); got ${budget.toHumanString()}. Lower enqueueBudget or raise functions.webhook.timeout.`,
    );
  }

  // Queues
  const mrc = props.maxReceiveCount ?? {};
  intIn('maxReceiveCount.inbound', mrc.inbound, 1, 1000);
  intIn('maxReceiveCount.timer', mrc.timer, 1, 1000);
  intIn('maxReceiveCount.outbound', mrc.outbound, 1, 1000);

  // Conversation timing
  intIn('debounceMs', props.debounceMs, 0, MAX_DELAY_MS, ' (SQS DelaySeconds max 900 s)');
  intIn('maxTurnWaitMs', props.maxTurnWaitMs, 0, MAX_DELAY_MS, ' (SQS DelaySeconds max 900 s)');
  intIn('mediaTimeoutMs', props.mediaTimeoutMs, 1000, MAX_DELAY_MS, ' (SQS DelaySeconds max 900 s)');
  const debounce = props.debounceMs ?? CHAT_RELAY_DEFAULTS.debounceMs;
  const maxWait = props.maxTurnWaitMs ?? CHAT_RELAY_DEFAULTS.maxTurnWaitMs;
  if (known(debounce) && known(maxWait) && Number.isInteger(debounce) && Number.isInteger(maxWait)) {
    if (maxWait < debounce && debounce <= MAX_DELAY_MS && maxWait >= 0) {
      problems.push(
        `maxTurnWaitMs must be at least debounceMs (${debounce}); got ${maxWait}. Raise maxTurnWaitMs or lower debounceMs.`,
      );
    }
  }
  durationIn('historyTtl', props.historyTtl, Duration.days(1), Duration.days(3650), 'days');
  intIn('historyLimit', props.historyLimit, 1, 200);
  intIn('summaryEveryTurns', props.summaryEveryTurns, 0, 1000, ' (0 disables summaries)');

  // Responder
  const responder = props.responder;
  if (responder !== undefined) {
    if (!(responder instanceof Responder)) {
      problems.push(
        `responder must be made with Responder.bedrock({ modelId }), Responder.lambda(fn) or Responder.echo(); got ${JSON.stringify(responder)}. Replace the object with one of those factories.`,
      );
    } else if (responder.type === ResponderType.BEDROCK) {
      const modelId = responder.modelId;
      if (modelId !== undefined && known(modelId) && !BEDROCK_MODEL_ID_PATTERN.test(modelId)) {
        problems.push(
          `responder.modelId must be a Bedrock model id (e.g. "anthropic.claude-3-haiku-20240307-v1:0"), an inference profile id (e.g. "${DEFAULT_BEDROCK_MODEL_ID}") or an ARN; got ${show(modelId)}. Copy the id from the Bedrock console's model catalog.`,
        );
      }
      durationIn('responder.timeout', responder.timeout, Duration.seconds(1), Duration.minutes(14));
      const convTimeout = timeoutOf('conversation');
      const bedrockTimeout = responder.timeout ?? CHAT_RELAY_DEFAULTS.bedrockTimeout;
      if (
        !convTimeout.isUnresolved() &&
        !bedrockTimeout.isUnresolved() &&
        bedrockTimeout.toMilliseconds() * 2 > convTimeout.toMilliseconds()
      ) {
        problems.push(
          `responder.timeout must be at most half the conversation timeout (${convTimeout.toHumanString()}) so a regeneration still fits; got ${bedrockTimeout.toHumanString()}. Lower the timeout of Responder.bedrock({ timeout }) or raise functions.conversation.timeout.`,
        );
      }
    } else if (responder.type === ResponderType.LAMBDA && !responder.lambdaFunction) {
      problems.push(
        'Responder.lambda(fn) needs a function; got none. Pass the function to invoke, e.g. Responder.lambda(myResponderFn).',
      );
    }
  }

  // Delivery
  for (const [key, url] of Object.entries(props.apiBaseUrls ?? {})) {
    if (url === undefined || !known(url)) continue;
    let ok = false;
    try {
      const parsed = new URL(url);
      ok = (parsed.protocol === 'https:' || parsed.protocol === 'http:') && !parsed.search && !parsed.hash;
    } catch {
      ok = false;
    }
    if (!ok) {
      problems.push(
        `apiBaseUrls.${key} must be an absolute http(s) URL without query or fragment; got ${show(url)}. Set it like "https://sandbox.example.com" or leave it unset for the real host.`,
      );
    }
  }
  if (props.graphApiVersion !== undefined && known(props.graphApiVersion)) {
    if (!GRAPH_API_VERSION_PATTERN.test(props.graphApiVersion)) {
      problems.push(
        `graphApiVersion must be a Graph API version like "${DEFAULTS.graphApiVersion}" (v, major, dot, minor); got ${show(props.graphApiVersion)}. Set it like "${DEFAULTS.graphApiVersion}" or leave it unset for the default.`,
      );
    }
  }
  if (props.sendTimeout !== undefined) {
    durationIn('sendTimeout', props.sendTimeout, Duration.seconds(1), Duration.minutes(14), 'seconds');
  }
  const send = props.sendTimeout ?? CHAT_RELAY_DEFAULTS.sendTimeout;
  const deliveryTimeout = timeoutOf('delivery');
  if (
    !send.isUnresolved() &&
    !deliveryTimeout.isUnresolved() &&
    send.toMilliseconds() >= deliveryTimeout.toMilliseconds()
  ) {
    problems.push(
      `sendTimeout must be shorter than the delivery timeout (${deliveryTimeout.toHumanString()}); got ${send.toHumanString()}. Lower sendTimeout or raise functions.delivery.timeout.`,
    );
  }
  intIn('deliveryReservedConcurrency', props.deliveryReservedConcurrency, 1, 1000);
  intIn('humanTakeoverMinutes', props.humanTakeoverMinutes, 0, 10_080, ' (up to a week)');
  for (const [key, value] of Object.entries(props.rateLimits ?? {})) {
    if (!['pancakePage', 'telegramChat', 'telegramBot', 'whatsappNumber', 'metaPage'].includes(key)) {
      problems.push(
        `rateLimits.${key} is not a rate limit; the keys are pancakePage, telegramChat, telegramBot, whatsappNumber, metaPage. Fix or remove it.`,
      );
    } else if (typeof value === 'number' && known(value) && !(value > 0 && value <= 10_000)) {
      problems.push(
        `rateLimits.${key} must be above 0 and at most 10000 calls per second; got ${show(value)}. Set a positive rate.`,
      );
    }
  }
  // Knowledge and tools (bedrock responder only)
  const bedrock = !(responder instanceof Responder) || responder.type === ResponderType.BEDROCK;
  const responderName =
    responder instanceof Responder ? `Responder.${String(responder.type).toLowerCase()}()` : 'the responder';
  if (!bedrock && props.knowledge?.enabled === true) {
    problems.push(
      `knowledge.enabled is true but the responder is ${responderName}; only Responder.bedrock() retrieves from the knowledge base. Use Responder.bedrock() or set knowledge: { enabled: false }.`,
    );
  }
  if (isKnowledgeEnabled(props))
    problems.push(...validateKnowledgeSettings(props.knowledge ?? {}, 'knowledge.'));
  intIn('toolMaxRounds', props.toolMaxRounds, 0, 10, ' (0 offers no tools)');
  if (!bedrock && props.toolMaxRounds !== undefined) {
    problems.push(
      `toolMaxRounds is set but the responder is ${responderName}; only Responder.bedrock() calls tenant tools. Remove toolMaxRounds or use Responder.bedrock().`,
    );
  }
  if (!bedrock && (props.toolFunctions ?? []).length > 0) {
    problems.push(
      `toolFunctions lists ${props.toolFunctions?.length} function(s) but the responder is ${responderName}; only Responder.bedrock() calls lambda tools. Remove toolFunctions or use Responder.bedrock().`,
    );
  }
  if (props.media && isEnabled(props.media)) {
    const m = props.media;
    intIn('media.minTasks', m.minTasks, 0, 100);
    intIn('media.maxTasks', m.maxTasks, 1, 100);
    if (
      m.minTasks !== undefined &&
      m.maxTasks !== undefined &&
      known(m.minTasks) &&
      known(m.maxTasks) &&
      m.maxTasks < m.minTasks
    ) {
      problems.push(
        `media.maxTasks must be at least media.minTasks (${m.minTasks}); got ${m.maxTasks}. Raise media.maxTasks or lower media.minTasks.`,
      );
    }
    const cpu = m.cpu ?? 1024;
    const memory = m.memoryLimitMiB ?? 2048;
    const range = known(cpu) ? FARGATE_MEMORY[cpu] : undefined;
    if (known(cpu) && !range) {
      problems.push(
        `media.cpu must be a Fargate CPU size (${Object.keys(FARGATE_MEMORY).join(', ')}); got ${show(cpu)}. Set media.cpu to one of them.`,
      );
    } else if (range && known(memory)) {
      const [min, max, step] = range;
      if (memory < min || memory > max || memory % step !== 0) {
        problems.push(
          `media.memoryLimitMiB must be between ${min} and ${max} in steps of ${step} for media.cpu ${cpu} (Fargate rule); got ${show(memory)}. Pick a memory size Fargate allows for that CPU.`,
        );
      }
    }
    if (m.whisperModel !== undefined && !/^[a-z0-9][a-z0-9.-]*$/.test(m.whisperModel)) {
      problems.push(
        `media.whisperModel must name a whisper.cpp ggml model such as "base", "small" or "base.en"; got ${show(m.whisperModel)}. Use a model name from whisper.cpp's models/download-ggml-model.sh.`,
      );
    }
    intIn(
      'media.maxMediaBytes',
      m.maxMediaBytes,
      1024,
      100 * 1024 * 1024,
      ' (WhatsApp refuses inbound files over 100 MB)',
    );
    intIn('media.keyframeCount', m.keyframeCount, 1, 20);
    intIn('media.concurrency', m.concurrency, 1, 16);
  }
  return problems;
}
