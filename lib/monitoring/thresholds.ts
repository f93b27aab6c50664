/**
 * Alarm thresholds of the monitoring construct: the settings, their defaults (see
 * docs/metrics.md for the reasoning) and their resolved form.
 */
import { Duration } from 'aws-cdk-lib';
import { DEFAULT_METRIC_PERIOD } from './metrics.js';

/** Alarm thresholds; every one has a default (see docs/metrics.md for the reasoning). */
export interface ChatRelayMonitoringThresholds {
  /** Period every alarm evaluates. @default 5 minutes */
  readonly period?: Duration;
  /** Messages visible in any dead-letter queue. @default 1 */
  readonly dlqMessages?: number;
  /**
   * Age of the oldest message, per queue key of `queues` (and `mediaJobs`). Keys not given keep
   * their default; a queue without an entry gets no age alarm.
   * @default { inbound: 5 minutes, outbound: 5 minutes }
   */
  readonly oldestMessageAge?: { [queue: string]: Duration };
  /** Percentage of webhook requests answered 5xx in one period. @default 5 */
  readonly webhook5xxPercent?: number;
  /** Fewest webhook requests in a period for its 5xx rate to count. @default 3 */
  readonly webhookMinRequests?: number;
  /**
   * Percentage of webhook requests answered 4xx in one period (Pancake counts every non-2xx
   * answer towards suspending the webhook: a removed tenant's 404s, unparseable bodies,
   * throttling). Uses webhookMinRequests too. @default 50
   */
  readonly webhook4xxPercent?: number;
  /** Rejected webhook signatures (all channels) in one period. @default 50 */
  readonly signatureRejects?: number;
  /** Sends refused for an invalid access token (all channels) in one period. @default 1 */
  readonly tokenInvalid?: number;
  /** Percentage of reply parts refused permanently, per channel, in one period. @default 10 */
  readonly sendFailurePercent?: number;
  /** Fewest finished reply parts of a channel in a period for its failure rate to count. @default 5 */
  readonly sendMinParts?: number;
  /** Errors of one Lambda function in one period. @default 1 */
  readonly lambdaErrors?: number;
  /** Throttled invocations of one Lambda function in one period. @default 1 */
  readonly lambdaThrottles?: number;
  /** Media jobs ending with a typed error (all kinds and codes) in one period. @default 5 */
  readonly mediaFailures?: number;
}

/** The defaults of {@link ChatRelayMonitoringThresholds}. */
export const DEFAULT_MONITORING_THRESHOLDS = {
  period: DEFAULT_METRIC_PERIOD,
  dlqMessages: 1,
  oldestMessageAge: { inbound: Duration.minutes(5), outbound: Duration.minutes(5) } as {
    readonly [queue: string]: Duration;
  },
  webhook5xxPercent: 5,
  webhookMinRequests: 3,
  webhook4xxPercent: 50,
  signatureRejects: 50,
  tokenInvalid: 1,
  sendFailurePercent: 10,
  sendMinParts: 5,
  lambdaErrors: 1,
  lambdaThrottles: 1,
  mediaFailures: 5,
} as const;

/** Thresholds with every default applied. */
export interface ResolvedThresholds {
  readonly period: Duration;
  readonly dlqMessages: number;
  readonly oldestMessageAge: Readonly<Record<string, Duration>>;
  readonly webhook5xxPercent: number;
  readonly webhookMinRequests: number;
  readonly webhook4xxPercent: number;
  readonly signatureRejects: number;
  readonly tokenInvalid: number;
  readonly sendFailurePercent: number;
  readonly sendMinParts: number;
  readonly lambdaErrors: number;
  readonly lambdaThrottles: number;
  readonly mediaFailures: number;
}
