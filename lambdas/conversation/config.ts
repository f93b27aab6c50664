/**
 * Actor configuration: environment defaults (set by the CDK construct) overridden per tenant
 * by the tenant document's settings.
 */
import { DEFAULTS, QUEUE_DEFINITIONS } from '../contracts/index.js';
import { boolEnv, ENV, intEnv, optionalEnv } from '../shared/env.js';
import { DEFAULT_SETTINGS, type TenantSettings } from '../shared/tenant.js';
import type { TurnTiming } from './debounce.js';

/** Environment-level settings of the actor. */
export interface ActorConfig {
  readonly debounceMs: number;
  readonly maxTurnWaitMs: number;
  readonly mediaTimeoutMs: number;
  readonly historyLimit: number;
  readonly historyTtlDays: number;
  /** Ask the responder for an episode summary every this many turns (0 = never). */
  readonly summaryEveryTurns: number;
  /** The inbound queue's maxReceiveCount: the attempt that fails this many times goes to the DLQ. */
  readonly maxReceiveCount: number;
  readonly sendFallbackOnFailure: boolean;
  /** How long a human agent's reply pauses the bot, unless the tenant says otherwise. */
  readonly humanTakeoverMinutes: number;
  /** True when MEDIA_JOBS_QUEUE_URL is set: audio and video wait for the media worker. */
  readonly mediaWorker: boolean;
  /** Typing indicator timeout. */
  readonly typingTimeoutMs: number;
}

export const DEFAULT_MEDIA_TIMEOUT_MS = DEFAULTS.mediaTimeoutMs;
export const DEFAULT_HISTORY_LIMIT = DEFAULTS.historyLimit;
export const DEFAULT_HISTORY_TTL_DAYS = DEFAULTS.historyTtlDays;
export const DEFAULT_SUMMARY_EVERY_TURNS = DEFAULTS.summaryEveryTurns;

/** Reads the actor's settings from the environment. @throws ConfigurationError on malformed values */
export function actorConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ActorConfig {
  return {
    debounceMs: intEnv(ENV.debounceMs, DEFAULT_SETTINGS.debounceMs, env),
    maxTurnWaitMs: intEnv(ENV.maxTurnWaitMs, DEFAULT_SETTINGS.maxTurnWaitMs, env),
    mediaTimeoutMs: intEnv(ENV.mediaTimeoutMs, DEFAULT_MEDIA_TIMEOUT_MS, env),
    historyLimit: intEnv(ENV.historyLimit, DEFAULT_HISTORY_LIMIT, env),
    historyTtlDays: intEnv(ENV.historyTtlDays, DEFAULT_HISTORY_TTL_DAYS, env),
    summaryEveryTurns: intEnv(ENV.summaryEveryTurns, DEFAULT_SUMMARY_EVERY_TURNS, env),
    maxReceiveCount: intEnv(ENV.maxReceiveCount, QUEUE_DEFINITIONS.inbound.dlq.maxReceiveCount, env),
    sendFallbackOnFailure: boolEnv(ENV.sendFallbackOnFailure, DEFAULTS.sendFallbackOnFailure, env),
    humanTakeoverMinutes: intEnv(ENV.humanTakeoverMinutes, DEFAULT_SETTINGS.humanTakeoverMinutes, env),
    mediaWorker: optionalEnv(ENV.mediaJobsQueueUrl, '', env) !== '',
    typingTimeoutMs: 1500,
  };
}

/** Timing for one tenant: its settings win over the environment. */
export function timingFor(config: ActorConfig, settings: TenantSettings): TurnTiming {
  return {
    debounceMs: settings.debounceMs ?? config.debounceMs,
    maxTurnWaitMs: settings.maxTurnWaitMs ?? config.maxTurnWaitMs,
    mediaTimeoutMs: config.mediaTimeoutMs,
  };
}
