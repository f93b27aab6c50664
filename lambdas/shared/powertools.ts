/**
 * Powertools Logger and Metrics, one instance each per container. Every handler logs JSON with
 * the keys tenant, channel, conversation and messageId (never a token, never message text at
 * INFO) and publishes EMF metrics in the {@link METRICS_NAMESPACE} namespace.
 *
 * Every string value of every log line goes through {@link redactSecrets} on its way out (the
 * Logger's `jsonReplacerFn`, which Powertools calls for each key/value it serialises, error
 * messages, causes and stacks included): a token a platform quotes back in an error text is
 * written as `[REDACTED]` once its tenant was loaded (lambdas/shared/redact.ts).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DEFAULT_SERVICE_NAME } from '../contracts/defaults.js';
import { METRICS, METRICS_NAMESPACE, type MetricName } from './metrics-catalogue.js';
import { redactSecrets } from './redact.js';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME || DEFAULT_SERVICE_NAME;

/** JSON replacer of the shared logger: blanks known secrets out of every string value. */
export function redactingReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'string' ? redactSecrets(value) : value;
}

/** The shared logger. */
export const logger = new Logger({ serviceName, jsonReplacerFn: redactingReplacer });

/** The shared metrics instance (flush with `publishStoredMetrics()` or the handler wrapper). */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE,
  serviceName,
});

const UNITS = {
  Count: MetricUnit.Count,
  Milliseconds: MetricUnit.Milliseconds,
  Bytes: MetricUnit.Bytes,
  Seconds: MetricUnit.Seconds,
} as const;

/**
 * Publishes one catalogued metric with its dimensions. A separate EMF document per call keeps
 * per-dimension values apart (Powertools otherwise merges dimensions across metrics).
 */
export function emitMetric(
  name: MetricName,
  value: number,
  dimensions: Readonly<Record<string, string>> = {},
): void {
  const def = METRICS[name];
  const single = metrics.singleMetric();
  for (const dimension of def.dimensions) {
    const dimValue = dimensions[dimension];
    if (dimValue !== undefined) single.addDimension(dimension, dimValue);
  }
  single.addMetric(def.name, UNITS[def.unit], value);
}
