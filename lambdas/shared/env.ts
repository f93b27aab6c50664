/**
 * Environment variables read by the Lambda handlers and the local stack. Only resource names
 * and tuning values live here, never a token. The CDK constructs set exactly these names.
 */
import { ConfigurationError } from './errors.js';

/** Names of every environment variable chat-relay reads. */
export const ENV = {
  inboundQueueUrl: 'INBOUND_QUEUE_URL',
  inboundDlqUrl: 'INBOUND_DLQ_URL',
  outboundQueueUrl: 'OUTBOUND_QUEUE_URL',
  timerQueueUrl: 'TIMER_QUEUE_URL',
  mediaJobsQueueUrl: 'MEDIA_JOBS_QUEUE_URL',
  idempotencyTable: 'IDEMPOTENCY_TABLE',
  memoryTable: 'MEMORY_TABLE',
  mediaBucket: 'MEDIA_BUCKET',
  tenantSecretPrefix: 'TENANT_SECRET_PREFIX',
  tenantCacheSeconds: 'TENANT_CACHE_SECONDS',
  maxBodyBytes: 'MAX_BODY_BYTES',
  enqueueBudgetMs: 'ENQUEUE_BUDGET_MS',
  debounceMs: 'DEBOUNCE_MS',
  maxTurnWaitMs: 'MAX_TURN_WAIT_MS',
  mediaTimeoutMs: 'MEDIA_TIMEOUT_MS',
  dedupTtlSeconds: 'DEDUP_TTL_SECONDS',
  historyTtlDays: 'HISTORY_TTL_DAYS',
  historyLimit: 'HISTORY_LIMIT',
  summaryEveryTurns: 'SUMMARY_EVERY_TURNS',
  maxReceiveCount: 'MAX_RECEIVE_COUNT',
  sendFallbackOnFailure: 'SEND_FALLBACK_ON_FAILURE',
  humanTakeoverMinutes: 'HUMAN_TAKEOVER_MINUTES',
  responder: 'RESPONDER',
  bedrockModelId: 'BEDROCK_MODEL_ID',
  bedrockTimeoutMs: 'BEDROCK_TIMEOUT_MS',
  responderFunctionName: 'RESPONDER_FUNCTION_NAME',
  pancakeApiBase: 'PANCAKE_API_BASE',
  graphApiBase: 'GRAPH_API_BASE',
  telegramApiBase: 'TELEGRAM_API_BASE',
  zaloApiBase: 'ZALO_API_BASE',
  sendTimeoutMs: 'SEND_TIMEOUT_MS',
  typingDelay: 'TYPING_DELAY',
  rateLimits: 'RATE_LIMITS',
  maxMediaBytes: 'MAX_MEDIA_BYTES',
  whisperCppBin: 'WHISPER_CPP_BIN',
  whisperModel: 'WHISPER_MODEL',
  keyframeCount: 'KEYFRAME_COUNT',
  /** Path of the ffmpeg binary used by the media worker (else the npm one, else `ffmpeg` on PATH). */
  ffmpegPath: 'FFMPEG_PATH',
  /** How many media jobs one worker processes at once. */
  mediaConcurrency: 'MEDIA_CONCURRENCY',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];

/** The value of a required variable; throws a ConfigurationError naming it when unset. */
export function requireEnv(name: EnvName, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new ConfigurationError(`Environment variable ${name} is not set.`);
  }
  return value;
}

/** The value of an optional variable, or `fallback`. */
export function optionalEnv(name: EnvName, fallback: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

/** An integer variable, or `fallback` when unset; throws a ConfigurationError when malformed. */
export function intEnv(name: EnvName, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigurationError(
      `Environment variable ${name} must be a non-negative integer, got "${raw}".`,
    );
  }
  return value;
}

/** A boolean variable (`true`/`1`/`yes` are true), or `fallback` when unset. */
export function boolEnv(name: EnvName, fallback: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  return ['true', '1', 'yes'].includes(raw.toLowerCase());
}
