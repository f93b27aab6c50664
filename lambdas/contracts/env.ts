/**
 * Names of the environment variables the Lambda handlers, the media worker and the local stack
 * read. The CDK constructs set exactly these names. Only names live here (the parsing helpers are
 * runtime code in lambdas/shared/env.ts); only resource names and tuning values, never a token.
 */

/** Names of every environment variable chat-relay reads. */
export const ENV = {
  inboundQueueUrl: 'INBOUND_QUEUE_URL',
  inboundDlqUrl: 'INBOUND_DLQ_URL',
  outboundQueueUrl: 'OUTBOUND_QUEUE_URL',
  /** Where delivery moves a reply part after `MAX_SEND_ATTEMPTS` real failures. */
  outboundDlqUrl: 'OUTBOUND_DLQ_URL',
  timerQueueUrl: 'TIMER_QUEUE_URL',
  mediaJobsQueueUrl: 'MEDIA_JOBS_QUEUE_URL',
  memoryTable: 'MEMORY_TABLE',
  mediaBucket: 'MEDIA_BUCKET',
  tenantSecretPrefix: 'TENANT_SECRET_PREFIX',
  tenantCacheSeconds: 'TENANT_CACHE_SECONDS',
  maxBodyBytes: 'MAX_BODY_BYTES',
  enqueueBudgetMs: 'ENQUEUE_BUDGET_MS',
  debounceMs: 'DEBOUNCE_MS',
  maxTurnWaitMs: 'MAX_TURN_WAIT_MS',
  mediaTimeoutMs: 'MEDIA_TIMEOUT_MS',
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
  /** Meta Graph API version (`v25.0`) in Messenger, Instagram and WhatsApp send and media URLs. */
  graphApiVersion: 'GRAPH_API_VERSION',
  telegramApiBase: 'TELEGRAM_API_BASE',
  zaloApiBase: 'ZALO_API_BASE',
  /** Zalo's OAuth host (`https://oauth.zaloapp.com`): where access tokens are refreshed. */
  zaloOAuthBase: 'ZALO_OAUTH_BASE',
  sendTimeoutMs: 'SEND_TIMEOUT_MS',
  /** Real failed attempts of a reply part before delivery dead-letters it (deferrals excluded). */
  maxSendAttempts: 'MAX_SEND_ATTEMPTS',
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
  /** The Bedrock knowledge base the bedrock responder retrieves from (filtered by tenant). */
  knowledgeBaseId: 'KNOWLEDGE_BASE_ID',
  /** Local stack only: the folder of per-tenant knowledge files (`<dir>/<tenantId>/*.md|txt|csv`). */
  knowledgeDir: 'KNOWLEDGE_DIR',
  /** Most tenant-tool rounds in one bedrock answer (default 3). */
  toolMaxRounds: 'TOOL_MAX_ROUNDS',
  /** `true` lets tenant tools call plain `http://` URLs (the local stack sets it; deployed stacks do not). */
  toolAllowHttp: 'TOOL_ALLOW_HTTP',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];
