/**
 * Metric helpers for the catalogued chat-relay metrics (lambdas/contracts/metrics.ts).
 *
 * Handlers publish every metric through `emitMetric`, which writes exactly the catalogued
 * dimensions plus `service` (`POWERTOOLS_SERVICE_NAME`: one value shared by the Lambda
 * functions, another for the Fargate media worker). A CloudWatch metric only matches when every
 * dimension is given, so:
 * - {@link chatRelayMetric} names one series (every dimension given, e.g. one channel);
 * - {@link chatRelayMetricTotal} adds up every series of a metric with a Metrics Insights query
 *   (usable in alarms, e.g. `SendFailed` across channels and codes that are unknown at synth time);
 * - {@link chatRelayMetricSearch} draws one line per dimension value with a `SEARCH` expression
 *   (graphs only: CloudWatch alarms cannot use SEARCH).
 */
import { Duration, Token } from 'aws-cdk-lib';
import { type IMetric, MathExpression, Metric, type MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
import { CHANNELS, isChannelName } from '../../lambdas/contracts/channels.js';
import {
  DEFAULT_MEDIA_SERVICE_NAME as DEFAULT_MEDIA_SERVICE_NAME_CONTRACT,
  DEFAULT_SERVICE_NAME as DEFAULT_SERVICE_NAME_CONTRACT,
} from '../../lambdas/contracts/defaults.js';
import {
  METRICS,
  METRICS_NAMESPACE,
  type MetricDefinition,
  type MetricName,
} from '../../lambdas/contracts/metrics.js';
import { ChatRelayMonitoringError } from '../errors.js';

/** `POWERTOOLS_SERVICE_NAME` of the Lambda functions (ChatRelay's `serviceName` default). */
export const DEFAULT_SERVICE_NAME = DEFAULT_SERVICE_NAME_CONTRACT;
/** `POWERTOOLS_SERVICE_NAME` of the Fargate media worker (lib/media.ts). */
export const DEFAULT_MEDIA_SERVICE_NAME = DEFAULT_MEDIA_SERVICE_NAME_CONTRACT;
/** The metrics the media worker publishes (under the media service name); all others come from the Lambdas. */
export const MEDIA_WORKER_METRICS: readonly MetricName[] = ['MediaJobs', 'MediaDuration', 'MediaFailed'];
/** Default aggregation period of metrics and alarms. */
export const DEFAULT_METRIC_PERIOD = Duration.minutes(5);

function definitionOf(name: MetricName): MetricDefinition {
  const def = (METRICS as Record<string, MetricDefinition | undefined>)[name];
  if (!def) {
    throw new ChatRelayMonitoringError([
      `"${String(name)}" is not a catalogued metric. Use one of: ${Object.keys(METRICS).join(', ')}.`,
    ]);
  }
  return def;
}

/** The `service` dimension value a metric is published under, given the configured service names. */
export function serviceOf(
  name: MetricName,
  serviceNames: { readonly lambda?: string; readonly media?: string } = {},
): string {
  return MEDIA_WORKER_METRICS.includes(name)
    ? (serviceNames.media ?? DEFAULT_MEDIA_SERVICE_NAME)
    : (serviceNames.lambda ?? DEFAULT_SERVICE_NAME);
}

/** The statistic used when none is given: `Sum` for counts, `Average` otherwise. */
export function defaultStatistic(name: MetricName): string {
  return definitionOf(name).unit === 'Count' ? 'Sum' : 'Average';
}

// Values go inside quoted query strings: keep them to characters that need no escaping.
const QUERY_VALUE = /^[A-Za-z0-9_.:#@+=/ -]{1,255}$/;

export function checkQueryValue(what: string, value: string, problems: string[]): void {
  if (Token.isUnresolved(value)) {
    problems.push(`${what} must be a plain string in a query expression; got an unresolved token.`);
  } else if (!QUERY_VALUE.test(value)) {
    problems.push(
      `${what} must be 1–255 letters, digits, spaces or _.:#@+=/- (no quotes or backslashes); got ${JSON.stringify(value)}.`,
    );
  }
}

/** Options of {@link chatRelayMetric}. */
export interface ChatRelayMetricOptions {
  /**
   * A value for every catalogued dimension of the metric (e.g. `{ channel: 'telegram' }`).
   * @default - none (only for metrics without dimensions besides `service`)
   */
  readonly dimensions?: { [name: string]: string };
  /** `Sum`, `Average`, `p99`… @default `Sum` for counts, `Average` for durations */
  readonly statistic?: string;
  /** @default 5 minutes */
  readonly period?: Duration;
  /** The `service` dimension. @default `chat-relay` (`chat-relay-media` for the media metrics) */
  readonly service?: string;
  /** @default - the metric name */
  readonly label?: string;
}

/**
 * One series of a catalogued metric: every dimension of the catalogue must be given, since
 * CloudWatch only matches a metric with all its dimensions. Usable in graphs and alarms.
 */
export function chatRelayMetric(name: MetricName, options: ChatRelayMetricOptions = {}): Metric {
  const def = definitionOf(name);
  const given = options.dimensions ?? {};
  const problems: string[] = [];
  const missing = def.dimensions.filter((d) => given[d] === undefined);
  if (missing.length > 0) {
    problems.push(
      `${name} is published with dimensions ${def.dimensions.join(', ')} (plus service); missing ${missing.join(', ')}. Pass dimensions.${missing[0]}, or use chatRelayMetricTotal('${name}') to add up every value.`,
    );
  }
  const unknown = Object.keys(given).filter((d) => !def.dimensions.includes(d));
  if (unknown.length > 0) {
    problems.push(
      `${name} has no dimension ${unknown.join(', ')}; its dimensions are ${def.dimensions.join(', ') || '(none besides service)'}. Remove ${unknown.join(', ')}.`,
    );
  }
  if (problems.length > 0) throw new ChatRelayMonitoringError(problems);
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: def.name,
    dimensionsMap: { ...given, service: options.service ?? serviceOf(name) },
    statistic: options.statistic ?? defaultStatistic(name),
    period: options.period ?? DEFAULT_METRIC_PERIOD,
    unit: undefined,
    label: options.label,
  });
}

/**
 * A channel metric: the one series of `channel` when given, else the sum over every channel
 * (`totalName`, default the same metric, through Metrics Insights). Shared by the `metric…()`
 * methods of ChatRelay and ChatRelayMonitoring.
 */
export function chatRelayChannelMetric(
  name: MetricName,
  channel: string | undefined,
  options: { readonly service?: string; readonly period?: Duration; readonly totalName?: MetricName } = {},
): IMetric {
  if (channel !== undefined && !isChannelName(channel)) {
    throw new ChatRelayMonitoringError([
      `channel must be one of ${CHANNELS.join(', ')}; got ${JSON.stringify(channel)}. Fix the channel name, or leave it out for all channels.`,
    ]);
  }
  const common = {
    ...(options.service !== undefined ? { service: options.service } : {}),
    ...(options.period !== undefined ? { period: options.period } : {}),
  };
  return channel
    ? chatRelayMetric(name, { ...common, dimensions: { channel } })
    : chatRelayMetricTotal(options.totalName ?? name, common);
}

/**
 * `metric` with the CloudWatch `MetricOptions` of a `metric…(props?)` method applied: all of them
 * for a metric; label, color and period for an expression (the others do not apply to one).
 */
export function withMetricOptions(metric: IMetric, props?: MetricOptions): IMetric {
  if (props === undefined) return metric;
  if (metric instanceof Metric) return metric.with(props);
  if (metric instanceof MathExpression) {
    return metric.with({
      ...(props.label !== undefined ? { label: props.label } : {}),
      ...(props.color !== undefined ? { color: props.color } : {}),
      ...(props.period !== undefined ? { period: props.period } : {}),
    });
  }
  return metric;
}

/** Metrics Insights aggregate functions. */
export enum MetricsInsightsFunction {
  SUM = 'SUM',
  AVG = 'AVG',
  MIN = 'MIN',
  MAX = 'MAX',
  COUNT = 'COUNT',
}

/** Options of {@link chatRelayMetricTotal}. */
export interface ChatRelayMetricTotalOptions {
  /**
   * Keep only series with these dimension values (e.g. `{ channel: 'zalo' }`); other dimensions are added up.
   * @default - every series
   */
  readonly where?: { [name: string]: string };
  /** @default MetricsInsightsFunction.SUM */
  readonly aggregate?: MetricsInsightsFunction;
  /** @default 5 minutes */
  readonly period?: Duration;
  /** The `service` dimension. @default `chat-relay` (`chat-relay-media` for the media metrics) */
  readonly service?: string;
  /** @default - the metric name */
  readonly label?: string;
}

function schemaOf(def: MetricDefinition): string {
  return [`"${METRICS_NAMESPACE}"`, ...[...def.dimensions, 'service'].sort()].join(', ');
}

/** The metric, service and filters of a query expression, checked (every problem at once). */
function queryInputs(
  name: MetricName,
  options: { readonly service?: string; readonly where?: Readonly<Record<string, string>> },
): { def: MetricDefinition; service: string; where: Readonly<Record<string, string>> } {
  const def = definitionOf(name);
  const service = options.service ?? serviceOf(name);
  const where = options.where ?? {};
  const problems: string[] = [];
  checkQueryValue('service', service, problems);
  for (const [key, value] of Object.entries(where)) {
    if (!def.dimensions.includes(key)) {
      problems.push(`${name} has no dimension ${key}; its dimensions are ${def.dimensions.join(', ')}.`);
    }
    checkQueryValue(`where.${key}`, value, problems);
  }
  if (problems.length > 0) throw new ChatRelayMonitoringError(problems);
  return { def, service, where };
}

/**
 * Every series of a catalogued metric added up (or averaged…) by one CloudWatch Metrics
 * Insights query — usable in an alarm on its own (Metrics Insights alarms evaluate the last
 * 3 hours of data), and in graphs.
 */
export function chatRelayMetricTotal(
  name: MetricName,
  options: ChatRelayMetricTotalOptions = {},
): MathExpression {
  const { def, service, where } = queryInputs(name, options);
  const conditions = [
    `service = '${service}'`,
    ...Object.keys(where)
      .sort()
      .map((k) => `${k} = '${where[k]}'`),
  ];
  const fn: string = options.aggregate ?? MetricsInsightsFunction.SUM;
  return new MathExpression({
    expression: `SELECT ${fn}(${def.name}) FROM SCHEMA(${schemaOf(def)}) WHERE ${conditions.join(' AND ')}`,
    usingMetrics: {},
    period: options.period ?? DEFAULT_METRIC_PERIOD,
    label: options.label ?? `${def.name} (${fn.toLowerCase()})`,
  });
}

/** Options of {@link chatRelayMetricSearch}. */
export interface ChatRelayMetricSearchOptions {
  /**
   * Keep only series with these dimension values.
   * @default - every series
   */
  readonly where?: { [name: string]: string };
  /** @default `Sum` for counts, `Average` for durations */
  readonly statistic?: string;
  /** @default 5 minutes */
  readonly period?: Duration;
  /** The `service` dimension. @default `chat-relay` (`chat-relay-media` for the media metrics) */
  readonly service?: string;
  /** @default - the metric name */
  readonly label?: string;
}

/**
 * One line per dimension value (e.g. `SendFailed` per channel and platform code) with a
 * CloudWatch `SEARCH` expression: for graphs only — alarms cannot use SEARCH.
 */
export function chatRelayMetricSearch(
  name: MetricName,
  options: ChatRelayMetricSearchOptions = {},
): MathExpression {
  const { def, service, where } = queryInputs(name, options);
  const schema = `{${[METRICS_NAMESPACE, ...[...def.dimensions, 'service'].sort()].join(',')}}`;
  const terms = [
    `MetricName="${def.name}"`,
    `service="${service}"`,
    ...Object.keys(where)
      .sort()
      .map((k) => `${k}="${where[k]}"`),
  ];
  const period = options.period ?? DEFAULT_METRIC_PERIOD;
  const statistic = options.statistic ?? defaultStatistic(name);
  return new MathExpression({
    expression: `SEARCH('${schema} ${terms.join(' ')}', '${statistic}', ${period.toSeconds()})`,
    usingMetrics: {},
    period,
    // SEARCH names each line after its dimensions; a label would overwrite them all.
    label: options.label ?? ' ',
  });
}
