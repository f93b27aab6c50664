/**
 * Powertools Logger and Metrics, one instance each per container. Every handler logs JSON with
 * the keys tenant, channel, conversation and messageId (never a token, never message text at
 * INFO) and publishes EMF metrics in the {@link METRICS_NAMESPACE} namespace.
 *
 * Both are sized for CloudWatch Logs ingestion, which is billed per byte (docs/cost.md):
 * - log lines are compact ({@link CompactLogFormatter}): INFO and DEBUG lines carry their level,
 *   message and keys only; WARN and ERROR lines add the request id, cold start, function name
 *   and trace id that help an investigation. In Lambda (JSON log format) no `timestamp` key:
 *   CloudWatch stamps every event.
 * - metrics emitted inside {@link withMetrics} (every handler's invocation) are held and
 *   published once at its end: one EMF document per dimension combination, the same metric
 *   repeated in one document as a list of values, instead of one document per call, with no
 *   `Unit`; an invocation's INFO summary ({@link logSummary}) rides on that document.
 *
 * Every string value of every log line goes through {@link redactSecrets} on its way out (the
 * Logger's `jsonReplacerFn`, which Powertools calls for each key/value it serialises, error
 * messages, causes and stacks included): a token a platform quotes back in an error text is
 * written as `[REDACTED]` once its tenant was loaded (lambdas/shared/redact.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { LogFormatter, Logger, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DEFAULT_SERVICE_NAME } from '../contracts/defaults.js';
import { METRICS, METRICS_NAMESPACE, type MetricName } from './metrics-catalogue.js';
import { redactSecrets } from './redact.js';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME || DEFAULT_SERVICE_NAME;

/** JSON replacer of the shared logger: blanks known secrets out of every string value. */
export function redactingReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'string' ? redactSecrets(value) : value;
}

/**
 * The relay's log line: `level` (Lambda's JSON log filter reads it), `message`, then the keys.
 * WARN and ERROR lines add `requestId`, `coldStart`, `function`, `service` and `traceId`.
 * `timestamp` only outside Lambda's JSON log format (the local stack, tests), where nothing
 * else stamps the line.
 */
export class CompactLogFormatter extends LogFormatter {
  readonly #timestamps: boolean | undefined;

  /** @param timestamps whether lines carry a `timestamp` key @default not in Lambda's JSON log format (read per line) */
  constructor(timestamps?: boolean) {
    super();
    this.#timestamps = timestamps;
  }

  /** @inheritdoc */
  formatAttributes(attributes: UnformattedAttributes, additionalLogAttributes: LogAttributes): LogItem {
    const base: LogAttributes = { level: attributes.logLevel, message: attributes.message };
    if (this.#timestamps ?? process.env.AWS_LAMBDA_LOG_FORMAT !== 'JSON')
      base.timestamp = this.formatTimestamp(attributes.timestamp);
    if (
      attributes.logLevel === 'WARN' ||
      attributes.logLevel === 'ERROR' ||
      attributes.logLevel === 'CRITICAL'
    ) {
      const context = attributes.lambdaContext;
      if (context) {
        base.requestId = context.awsRequestId;
        base.coldStart = context.coldStart;
        base.function = context.functionName;
      }
      base.service = attributes.serviceName;
      if (attributes.xRayTraceId) base.traceId = attributes.xRayTraceId;
    }
    return new LogItem({ attributes: base }).addAttributes(additionalLogAttributes);
  }
}

/** The relay's logger: Powertools' with {@link logSummary} as a method, for modules that hold only the logger. */
export class RelayLogger extends Logger {
  /**
   * Logs the INFO summary of an invocation (or of one record of it) on the invocation's EMF
   * document when their keys agree, else as an INFO line: see {@link logSummary}.
   */
  summary(message: string, fields: Readonly<Record<string, unknown>> = {}): void {
    logSummary(message, fields);
  }
}

/** The shared logger. */
export const logger = new RelayLogger({
  serviceName,
  jsonReplacerFn: redactingReplacer,
  logFormatter: new CompactLogFormatter(),
});

/** An EMF document as Powertools serialises it. */
type EmfDocument = ReturnType<Metrics['serializeMetrics']>;

const TRUTHY = new Set(['1', 'y', 'yes', 't', 'true', 'on']);

/**
 * Powertools' rule for disabled metrics (`POWERTOOLS_METRICS_DISABLED`, else `POWERTOOLS_DEV`),
 * read when writing: the local stack sets the variables after this module may have loaded, and
 * a document must follow them as Powertools' own single-metric instances did.
 */
function metricsDisabledByEnv(): boolean {
  const flag = process.env.POWERTOOLS_METRICS_DISABLED;
  if (flag !== undefined && flag.trim() !== '') return TRUTHY.has(flag.trim().toLowerCase());
  return TRUTHY.has((process.env.POWERTOOLS_DEV ?? '').trim().toLowerCase());
}

/** Powertools Metrics that can also write documents it serialised and the relay merged. */
class RelayMetrics extends Metrics {
  /** Whether documents are written (POWERTOOLS_METRICS_DISABLED, POWERTOOLS_DEV). */
  isEnabled(): boolean {
    return !metricsDisabledByEnv();
  }

  /** Writes EMF documents to stdout (not through `console`, which Lambda's JSON format would wrap). */
  write(documents: readonly EmfDocument[]): void {
    if (!this.isEnabled()) return;
    for (const doc of documents) process.stdout.write(`${JSON.stringify(doc)}\n`);
  }
}

/** The shared metrics instance (flush with `publishStoredMetrics()` or the handler wrapper). */
export const metrics = new RelayMetrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE,
  serviceName,
});

const UNITS = {
  Count: MetricUnit.Count,
  Milliseconds: MetricUnit.Milliseconds,
  Bytes: MetricUnit.Bytes,
  Seconds: MetricUnit.Seconds,
} as const;

/** One metric value waiting for the end of its invocation. */
interface HeldMetric {
  readonly name: MetricName;
  readonly value: number;
  readonly dimensions: Readonly<Record<string, string>>;
}

/** The metrics of one invocation; `open` turns false when they are published. */
interface MetricScope {
  readonly held: HeldMetric[];
  readonly summaries: Summary[];
  open: boolean;
}

const scopes = new AsyncLocalStorage<MetricScope>();

/** The catalogued dimensions of `name` that `dimensions` gives a value, in catalogue order. */
function dimensionsOf(name: MetricName, dimensions: Readonly<Record<string, string>>): [string, string][] {
  const out: [string, string][] = [];
  for (const dimension of METRICS[name].dimensions) {
    const value = dimensions[dimension];
    if (value !== undefined) out.push([dimension, value]);
  }
  return out;
}

/** A log summary riding on an invocation's EMF document. */
interface Summary {
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/**
 * Merges `doc` into `into` when their top-level keys agree (the same dimension value, no metric
 * twice): EMF allows several metric directives in one document, each naming its dimensions.
 */
function mergeInto(into: EmfDocument, doc: EmfDocument): boolean {
  const target = into as Record<string, unknown>;
  for (const [key, value] of Object.entries(doc)) {
    if (key !== '_aws' && key in target && target[key] !== value) return false;
  }
  into._aws.CloudWatchMetrics.push(...doc._aws.CloudWatchMetrics);
  for (const [key, value] of Object.entries(doc)) if (key !== '_aws') target[key] = value;
  return true;
}

/**
 * Removes `Unit` from a document's metric directives: EMF's unit is optional and CloudWatch then
 * records `None`, which the relay's alarms and dashboards accept (they name no unit:
 * lib/monitoring/metrics.ts); the catalogue's unit says what the value counts or measures.
 * 15 to 21 bytes per metric of every document (docs/cost.md).
 */
function dropUnits(doc: EmfDocument): void {
  for (const directive of doc._aws.CloudWatchMetrics) {
    for (const metric of directive.Metrics as { Unit?: string }[]) delete metric.Unit;
  }
}

/**
 * Publishes metrics as few EMF documents as possible: Powertools serialises one directive per
 * dimension combination (the same metric repeated becomes a list of values), and directives
 * whose dimension values agree share one document (EMF allows several per document). A summary
 * rides on the first document it does not conflict with, as its `message` and fields, without
 * `level` (one line instead of a log line and a metric document); when none fits it is logged
 * apart. Directives carry no `Unit` ({@link dropUnits}).
 * Synchronous on the shared instance, so invocations in flight together in one process (the
 * local stack) never mix their dimensions.
 */
export function publishMetrics(held: readonly HeldMetric[], summaries: readonly Summary[] = []): void {
  const groups = new Map<string, { dims: [string, string][]; metrics: HeldMetric[] }>();
  for (const metric of held) {
    const dims = dimensionsOf(metric.name, metric.dimensions);
    const key = JSON.stringify(dims);
    const group = groups.get(key);
    if (group) group.metrics.push(metric);
    else groups.set(key, { dims, metrics: [metric] });
  }
  const documents: EmfDocument[] = [];
  for (const { dims, metrics: group } of groups.values()) {
    metrics.clearDimensions();
    for (const [dimension, value] of dims) metrics.addDimension(dimension, value);
    for (const m of group) metrics.addMetric(METRICS[m.name].name, UNITS[METRICS[m.name].unit], m.value);
    const doc = metrics.serializeMetrics();
    metrics.clearMetrics();
    metrics.clearDimensions();
    dropUnits(doc);
    if (!documents.some((into) => mergeInto(into, doc))) documents.push(doc);
  }
  for (const summary of summaries) {
    // No `level`: Lambda's JSON log filter takes a line without one as INFO, which a summary is.
    const line = JSON.parse(
      JSON.stringify({ message: summary.message, ...summary.fields }, redactingReplacer),
    ) as Record<string, unknown>;
    const fits = (doc: EmfDocument): boolean =>
      Object.entries(line).every(([k, v]) => !(k in doc) || (doc as Record<string, unknown>)[k] === v);
    const doc = metrics.isEnabled() ? documents.find(fits) : undefined;
    if (doc) Object.assign(doc, line);
    else logger.info(summary.message, { ...summary.fields });
  }
  metrics.write(documents);
}

/**
 * Runs one invocation with its metrics held, and publishes them when it ends (one EMF
 * document per dimension combination; see {@link publishMetrics}). A metric emitted after
 * the end (a late callback) is published at once.
 */
export function withMetrics<E, C, R>(
  handler: (event: E, context: C) => Promise<R>,
): (event: E, context: C) => Promise<R> {
  // Two declared parameters: callers tell a handler (event, context) from a factory by its length.
  return async (event, context) => {
    const scope: MetricScope = { held: [], summaries: [], open: true };
    try {
      return await scopes.run(scope, () => handler(event, context));
    } finally {
      scope.open = false;
      if (scope.held.length > 0 || scope.summaries.length > 0) {
        publishMetrics(scope.held.splice(0), scope.summaries.splice(0));
      }
    }
  };
}

/**
 * Publishes one catalogued metric with its dimensions: held until the end of the invocation
 * inside {@link withMetrics}, at once outside it.
 */
export function emitMetric(
  name: MetricName,
  value: number,
  dimensions: Readonly<Record<string, string>> = {},
): void {
  const scope = scopes.getStore();
  if (scope?.open) {
    scope.held.push({ name, value, dimensions });
    return;
  }
  publishMetrics([{ name, value, dimensions }]);
}

/** Whether the shared logger writes INFO lines. */
function infoEnabled(): boolean {
  const level = logger.getLevelName();
  return level === 'INFO' || level === 'DEBUG' || level === 'TRACE';
}

/**
 * Logs the INFO summary of an invocation (or of one record of it). Inside {@link withMetrics}
 * it is written with the invocation's EMF document, as that document's `message` and fields
 * (no `level`: Lambda's JSON log filter takes a line without one as INFO), when their keys agree (a field named like a dimension must have its value): one line
 * instead of two, the keys shared once. Otherwise, and outside an invocation, it is an ordinary
 * `logger.info` line. Fields go through the same redaction as every log line.
 */
export function logSummary(message: string, fields: Readonly<Record<string, unknown>> = {}): void {
  if (!infoEnabled()) return;
  const scope = scopes.getStore();
  if (scope?.open) {
    scope.summaries.push({ message, fields });
    return;
  }
  logger.info(message, { ...fields });
}
