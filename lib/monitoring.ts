/**
 * `ChatRelayMonitoring`: the CloudWatch dashboard and alarms of one chat-relay, plus metric
 * accessors for the catalogued metrics (`lambdas/shared/metrics-catalogue.ts`).
 *
 * The dashboard is built with cdk-monitoring-constructs (`MonitoringFacade`); its alarms are
 * created by the facade's `AlarmFactory` and notify one SNS topic (KMS-encrypted, TLS only).
 *
 * How chat-relay metrics are addressed: handlers publish every metric through `emitMetric`,
 * which writes exactly the catalogued dimensions plus `service` (`POWERTOOLS_SERVICE_NAME`:
 * one value shared by the Lambda functions, another for the Fargate media worker). A
 * CloudWatch metric only matches when every dimension is given, so:
 * - {@link chatRelayMetric} names one series (every dimension given, e.g. one channel);
 * - {@link chatRelayMetricTotal} adds up every series of a metric with a Metrics Insights query
 *   (usable in alarms, e.g. `SendFailed` across channels and codes that are unknown at synth time);
 * - {@link chatRelayMetricSearch} draws one line per dimension value with a `SEARCH` expression
 *   (graphs only: CloudWatch alarms cannot use SEARCH).
 */
import { ArnFormat, Duration, Stack, Token } from 'aws-cdk-lib';
import type { IHttpApi, IHttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  AlarmStatusWidget,
  ComparisonOperator,
  type Dashboard,
  GraphWidget,
  type HorizontalAnnotation,
  type IAlarm,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { BillingMode, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { FargateService } from 'aws-cdk-lib/aws-ecs';
import type { QueueProcessingFargateService } from 'aws-cdk-lib/aws-ecs-patterns';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import {
  type AlarmWithAnnotation,
  DefaultDashboardFactory,
  MonitoringFacade,
  SnsAlarmActionStrategy,
} from 'cdk-monitoring-constructs';
import { Construct } from 'constructs';
import { CHANNELS, type ChannelName } from '../lambdas/contracts/channels.js';
import {
  METRICS,
  METRICS_NAMESPACE,
  type MetricDefinition,
  type MetricName,
} from '../lambdas/contracts/metrics.js';

/** `POWERTOOLS_SERVICE_NAME` of the Lambda functions (ChatRelay's `serviceName` default). */
export const DEFAULT_SERVICE_NAME = 'chat-relay';
/** `POWERTOOLS_SERVICE_NAME` of the Fargate media worker (lib/media.ts). */
export const DEFAULT_MEDIA_SERVICE_NAME = 'chat-relay-media';
/** The metrics the media worker publishes (under the media service name); all others come from the Lambdas. */
export const MEDIA_WORKER_METRICS: readonly MetricName[] = ['MediaJobs', 'MediaDuration', 'MediaFailed'];
/** Default aggregation period of metrics and alarms. */
export const DEFAULT_METRIC_PERIOD = Duration.minutes(5);

/** Thrown at synth time for invalid monitoring props or metric options; lists every problem. */
export class ChatRelayMonitoringError extends Error {
  constructor(public readonly problems: readonly string[]) {
    super(
      `Invalid chat-relay monitoring settings (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'ChatRelayMonitoringError';
  }
}

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

function checkQueryValue(what: string, value: string, problems: string[]): void {
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
  /** A value for every catalogued dimension of the metric (e.g. `{ channel: 'telegram' }`). */
  readonly dimensions?: Readonly<Record<string, string>>;
  /** `Sum`, `Average`, `p99`… @default `Sum` for counts, `Average` for durations */
  readonly statistic?: string;
  /** @default 5 minutes */
  readonly period?: Duration;
  /** The `service` dimension. @default `chat-relay` (`chat-relay-media` for the media metrics) */
  readonly service?: string;
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
  channel: ChannelName | undefined,
  options: { readonly service?: string; readonly period?: Duration; readonly totalName?: MetricName } = {},
): IMetric {
  const common = {
    ...(options.service !== undefined ? { service: options.service } : {}),
    ...(options.period !== undefined ? { period: options.period } : {}),
  };
  return channel
    ? chatRelayMetric(name, { ...common, dimensions: { channel } })
    : chatRelayMetricTotal(options.totalName ?? name, common);
}

/** Metrics Insights aggregate functions. */
export type MetricsInsightsFunction = 'SUM' | 'AVG' | 'MIN' | 'MAX' | 'COUNT';

/** Options of {@link chatRelayMetricTotal}. */
export interface ChatRelayMetricTotalOptions {
  /** Keep only series with these dimension values (e.g. `{ channel: 'zalo' }`); other dimensions are added up. */
  readonly where?: Readonly<Record<string, string>>;
  /** @default 'SUM' */
  readonly aggregate?: MetricsInsightsFunction;
  /** @default 5 minutes */
  readonly period?: Duration;
  /** The `service` dimension. @default `chat-relay` (`chat-relay-media` for the media metrics) */
  readonly service?: string;
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
  const fn = options.aggregate ?? 'SUM';
  return new MathExpression({
    expression: `SELECT ${fn}(${def.name}) FROM SCHEMA(${schemaOf(def)}) WHERE ${conditions.join(' AND ')}`,
    usingMetrics: {},
    period: options.period ?? DEFAULT_METRIC_PERIOD,
    label: options.label ?? `${def.name} (${fn.toLowerCase()})`,
  });
}

/** Options of {@link chatRelayMetricSearch}. */
export interface ChatRelayMetricSearchOptions {
  /** Keep only series with these dimension values. */
  readonly where?: Readonly<Record<string, string>>;
  /** @default `Sum` for counts, `Average` for durations */
  readonly statistic?: string;
  /** @default 5 minutes */
  readonly period?: Duration;
  /** The `service` dimension. @default `chat-relay` (`chat-relay-media` for the media metrics) */
  readonly service?: string;
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
  readonly oldestMessageAge?: Readonly<Record<string, Duration>>;
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
  oldestMessageAge: { inbound: Duration.minutes(5), outbound: Duration.minutes(5) } as Readonly<
    Record<string, Duration>
  >,
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

/** The media pipeline to watch. */
export interface ChatRelayMonitoringMedia {
  /** The worker: `ChatRelayMedia.service` (queue-processing pattern) or its ECS service. */
  readonly service?: QueueProcessingFargateService | FargateService;
  readonly jobsQueue: IQueue;
  readonly jobsDlq: IQueue;
}

/** Props of {@link ChatRelayMonitoring}. */
export interface ChatRelayMonitoringProps {
  /** The webhook HTTP API. */
  readonly api: IHttpApi;
  /** Its stage. @default the `$default` stage */
  readonly stage?: IHttpStage;
  /** The functions to watch, by short name (webhook, conversation, timer, delivery…). */
  readonly functions: Readonly<Record<string, IFunction>>;
  /** The queues to watch, by short name (inbound, timer, outbound…), each with its DLQ. */
  readonly queues: Readonly<Record<string, { readonly queue: IQueue; readonly dlq?: IQueue }>>;
  /** The tables to watch, by short name (on-demand billing assumed). */
  readonly tables: Readonly<Record<string, ITable>>;
  /** The media pipeline, when deployed. */
  readonly media?: ChatRelayMonitoringMedia;
  /** Channels drawn and alarmed per channel. @default all six */
  readonly channels?: readonly ChannelName[];
  /**
   * Subscribe this address to the alarm topic (the subscription must be confirmed from the email).
   * @default - no subscription (subscribe to `alarmTopic` yourself)
   */
  readonly alarmEmail?: string;
  /** Alarm thresholds. @default {@link DEFAULT_MONITORING_THRESHOLDS} */
  readonly thresholds?: ChatRelayMonitoringThresholds;
  /** `POWERTOOLS_SERVICE_NAME` of the Lambdas (ChatRelay's `serviceName`). @default 'chat-relay' */
  readonly serviceName?: string;
  /** `POWERTOOLS_SERVICE_NAME` of the media worker. @default 'chat-relay-media' */
  readonly mediaServiceName?: string;
  /**
   * Prefix of the dashboard name and of every alarm name (both unique per account and region).
   * @default `${stackName}-chat-relay`
   */
  readonly namePrefix?: string;
}

const NAME_PREFIX = /^[A-Za-z0-9_-]{1,200}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The dashboard and alarms of one chat-relay. */
export class ChatRelayMonitoring extends Construct {
  /** The dashboard, named `{namePrefix}` (default `${stackName}-chat-relay`). */
  public readonly dashboard: Dashboard;
  /** Every alarm notifies this topic (on ALARM and back to OK). */
  public readonly alarmTopic: Topic;
  /** The customer-managed key encrypting the topic (CloudWatch may use it; AWS-managed SNS keys do not allow that). */
  public readonly alarmTopicKey: Key;
  /** Every alarm, by name (see docs/metrics.md for the list). */
  public readonly alarms: Readonly<Record<string, IAlarm>>;
  /** The cdk-monitoring-constructs facade the dashboard is built with (add your own segments to it). */
  public readonly facade: MonitoringFacade;
  /** The prefix of the dashboard and alarm names. */
  public readonly namePrefix: string;
  /** Channels drawn and alarmed per channel. */
  public readonly channels: readonly ChannelName[];
  /** The period of the alarms and of the chat-relay metrics the instance methods return. */
  public readonly period: Duration;
  private readonly serviceNames: { readonly lambda: string; readonly media: string };

  constructor(scope: Construct, id: string, props: ChatRelayMonitoringProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.namePrefix = props.namePrefix ?? `${stack.stackName}-chat-relay`;
    this.channels = props.channels ?? CHANNELS;
    this.serviceNames = {
      lambda: props.serviceName ?? DEFAULT_SERVICE_NAME,
      media: props.mediaServiceName ?? DEFAULT_MEDIA_SERVICE_NAME,
    };
    const t = resolveThresholds(props, this.namePrefix, this.channels, this.serviceNames);
    const period = t.period;
    this.period = period;

    // The topic: a customer-managed key CloudWatch may use, TLS-only publishing.
    this.alarmTopicKey = new Key(this, 'AlarmTopicKey', {
      description: `Encrypts the alarm topic of ${this.namePrefix}`,
      enableKeyRotation: true,
    });
    this.alarmTopicKey.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarms',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.alarmTopic = new Topic(this, 'AlarmTopic', {
      displayName: `${this.namePrefix} alarms`,
      masterKey: this.alarmTopicKey,
      enforceSSL: true,
    });
    this.alarmTopic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        effect: Effect.ALLOW,
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    if (props.alarmEmail !== undefined) {
      this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));
    }

    this.facade = new MonitoringFacade(this, 'Facade', {
      alarmFactoryDefaults: {
        alarmNamePrefix: this.namePrefix,
        actionsEnabled: true,
        action: new SnsAlarmActionStrategy({ onAlarmTopic: this.alarmTopic, onOkTopic: this.alarmTopic }),
        datapointsToAlarm: 1,
        evaluationPeriods: 1,
      },
      metricFactoryDefaults: { period },
      dashboardFactory: new DefaultDashboardFactory(this, 'Dashboards', {
        dashboardNamePrefix: this.namePrefix,
        createDashboard: true,
        createSummaryDashboard: false,
        createAlarmDashboard: false,
      }),
    });
    const dashboard = this.facade.dashboardFactory?.getDashboard('Detail');
    if (!dashboard) throw new Error('ChatRelayMonitoring: cdk-monitoring-constructs created no dashboard.');
    this.dashboard = dashboard;

    // ---- Alarms (created first so the dashboard can open with their status) ----
    const alarmFactory = this.facade.createAlarmFactory(this.namePrefix);
    const alarms: Record<string, IAlarm> = {};
    const created: Record<string, AlarmWithAnnotation> = {};
    const alarmMetrics: Record<string, Metric | MathExpression> = {};
    const addAlarm = (
      key: string,
      metric: Metric | MathExpression,
      threshold: number,
      description: string,
    ): void => {
      created[key] = alarmFactory.addAlarm(metric, {
        alarmNameSuffix: key,
        alarmNameOverride: `${this.namePrefix}-${key}`,
        alarmDescription: description,
        threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        datapointsToAlarm: 1,
        evaluationPeriods: 1,
      });
      alarms[key] = created[key].alarm;
      alarmMetrics[key] = metric;
    };
    const minutes = `${period.toMinutes()} min`;

    // Dead-letter queues: any message is a conversation or reply that was given up on.
    const allQueues: [string, { queue: IQueue; dlq?: IQueue }][] = Object.entries(props.queues);
    if (props.media)
      allQueues.push(['mediaJobs', { queue: props.media.jobsQueue, dlq: props.media.jobsDlq }]);
    for (const [key, { dlq }] of allQueues) {
      if (!dlq) continue;
      addAlarm(
        `${key}DlqMessages`,
        dlq.metricApproximateNumberOfMessagesVisible({
          statistic: 'Maximum',
          period,
          label: `${key} DLQ messages`,
        }),
        t.dlqMessages,
        `Messages are waiting in the ${key} dead-letter queue: they exhausted their retries and were not processed. Inspect them, fix the cause, then redrive.`,
      );
    }
    // Oldest message age: the pipeline is stuck or falling behind.
    for (const [key, age] of Object.entries(t.oldestMessageAge)) {
      const queue = allQueues.find(([k]) => k === key)?.[1].queue;
      if (!queue) continue;
      addAlarm(
        `${key}OldestMessageAge`,
        queue.metricApproximateAgeOfOldestMessage({
          statistic: 'Maximum',
          period,
          label: `${key} oldest message (s)`,
        }),
        age.toSeconds(),
        `The oldest message in the ${key} queue is ${age.toHumanString()} old or more: its consumer is failing or falling behind, so customers wait.`,
      );
    }
    // Webhook 5xx rate: platforms suspend webhooks that keep failing (Pancake > 80% over 30 min, Meta after 1 h).
    const stageName = props.stage?.stageName ?? '$default';
    const apiDims = { ApiId: props.api.apiId, Stage: stageName };
    const apiCount = new Metric({
      namespace: 'AWS/ApiGateway',
      metricName: 'Count',
      dimensionsMap: apiDims,
      statistic: 'Sum',
      period,
    });
    const api5xx = new Metric({
      namespace: 'AWS/ApiGateway',
      metricName: '5xx',
      dimensionsMap: apiDims,
      statistic: 'Sum',
      period,
    });
    addAlarm(
      'webhook5xxRate',
      new MathExpression({
        expression: `IF(requests >= ${t.webhookMinRequests}, 100 * errors / requests, 0)`,
        usingMetrics: { requests: apiCount, errors: api5xx },
        period,
        label: 'Webhook 5xx (%)',
      }),
      t.webhook5xxPercent,
      `${t.webhook5xxPercent}% or more of webhook requests were answered 5xx in ${minutes}. Platforms retry, then suspend the webhook (Pancake above 80% errors over 30 min, Meta after 1 h of failures): act now.`,
    );
    const api4xx = new Metric({
      namespace: 'AWS/ApiGateway',
      metricName: '4xx',
      dimensionsMap: apiDims,
      statistic: 'Sum',
      period,
    });
    addAlarm(
      'webhook4xxRate',
      new MathExpression({
        expression: `IF(requests >= ${t.webhookMinRequests}, 100 * errors / requests, 0)`,
        usingMetrics: { requests: apiCount, errors: api4xx },
        period,
        label: 'Webhook 4xx (%)',
      }),
      t.webhook4xxPercent,
      `${t.webhook4xxPercent}% or more of webhook requests were answered 4xx in ${minutes}: a platform still calls for a removed tenant or channel (404), sends bodies we cannot parse, is throttled (429) or fails signatures (401). Pancake counts every non-2xx answer and suspends the webhook above 80% errors over 30 min.`,
    );
    addAlarm(
      'signatureRejects',
      this.metricTotal('SignatureRejected', { label: 'Signatures rejected' }),
      t.signatureRejects,
      `${t.signatureRejects} or more webhook signatures were rejected in ${minutes}: a rotated app secret or token not updated in the tenant secret, or someone probing the endpoint.`,
    );
    addAlarm(
      'tokenInvalid',
      this.metricTotal('TokenInvalid', { label: 'Token invalid' }),
      t.tokenInvalid,
      'A platform refused a send because the access token is invalid or expired: replies to that page are lost until the tenant secret holds a fresh token.',
    );
    for (const channel of this.channels) {
      const ok = this.metric('SendSucceeded', { dimensions: { channel } });
      const failed = this.metric('SendFailedByChannel', { dimensions: { channel } });
      addAlarm(
        `sendFailureRate${capitalise(channel)}`,
        new MathExpression({
          expression: `IF(ok + failed >= ${t.sendMinParts}, 100 * failed / (ok + failed), 0)`,
          usingMetrics: { ok, failed },
          period,
          label: `${channel} send failures (%)`,
        }),
        t.sendFailurePercent,
        `${t.sendFailurePercent}% or more of the reply parts to ${channel} were refused permanently in ${minutes}. The SendFailed widget shows the platform codes.`,
      );
    }
    for (const [key, fn] of Object.entries(props.functions)) {
      addAlarm(
        `${key}Errors`,
        fn.metricErrors({ statistic: 'Sum', period, label: `${key} errors` }),
        t.lambdaErrors,
        `The ${key} function failed ${t.lambdaErrors} or more times in ${minutes}. See its log group.`,
      );
      addAlarm(
        `${key}Throttles`,
        fn.metricThrottles({ statistic: 'Sum', period, label: `${key} throttles` }),
        t.lambdaThrottles,
        `The ${key} function was throttled ${t.lambdaThrottles} or more times in ${minutes}: raise the account concurrency quota or its reserved concurrency.`,
      );
    }
    if (props.media) {
      addAlarm(
        'mediaFailures',
        this.metricTotal('MediaFailed', { label: 'Media failures' }),
        t.mediaFailures,
        `${t.mediaFailures} or more media jobs ended with an error in ${minutes} (turns went on without transcripts). The MediaFailed widget shows the codes.`,
      );
    }
    this.alarms = alarms;
    const annotation = (key: string): HorizontalAnnotation[] => {
      const a = created[key];
      return a ? [a.annotation] : [];
    };
    const alarmMetric = (key: string): Metric | MathExpression => {
      const metric = alarmMetrics[key];
      if (!metric) throw new Error(`ChatRelayMonitoring: no alarm ${key}.`);
      return metric;
    };

    // ---- Dashboard ----
    const f = this.facade;
    f.addLargeHeader(`chat-relay — ${this.namePrefix}`);
    f.addWidget(
      new TextWidget({
        markdown:
          'Are customers being answered? Compare **messages enqueued**, **turns answered** and **reply parts delivered** below; any alarm in red needs action. Metric catalogue: docs/metrics.md.',
        width: 24,
        height: 2,
      }),
    );
    f.addWidget(
      new AlarmStatusWidget({
        title: 'Alarms',
        alarms: Object.values(alarms),
        width: 24,
        height: Math.min(12, 2 + Math.ceil(Object.keys(alarms).length / 4)),
      }),
    );
    f.addWidget(
      new GraphWidget({
        title: 'Customers answered (all channels)',
        width: 24,
        height: 6,
        left: [
          this.metricTotal('MessagesEnqueued', { label: 'Messages enqueued' }),
          this.metricTotal('TurnsFlushed', { label: 'Turns answered' }),
          this.metricTotal('SendSucceeded', { label: 'Reply parts delivered' }),
          this.metricTotal('SendFailed', { label: 'Reply parts refused' }),
          this.metricTotal('TurnsFailed', { label: 'Turns failed' }),
        ],
      }),
    );

    // Webhook: API Gateway, then the webhook outcomes per channel.
    f.addMediumHeader('Webhooks');
    f.monitorApiGatewayV2HttpApi({
      api: props.api,
      apiStage: stageName,
      humanReadableName: 'Webhook API',
      alarmFriendlyName: 'WebhookApi',
    });
    const perChannel = (name: MetricName, label = name): Metric[] =>
      this.channels.map((channel) =>
        this.metric(name, { dimensions: { channel }, label: `${label} ${channel}` }),
      );
    f.monitorCustom({
      humanReadableName: 'Webhook outcomes',
      alarmFriendlyName: 'WebhookOutcomes',
      metricGroups: [
        {
          title: 'Webhook 5xx rate',
          metrics: [alarmMetric('webhook5xxRate')],
          horizontalAnnotations: annotation('webhook5xxRate'),
        },
        { title: 'Received', metrics: perChannel('WebhookReceived') },
        { title: 'Messages enqueued', metrics: perChannel('MessagesEnqueued') },
        {
          title: 'Signatures rejected',
          metrics: [
            ...perChannel('SignatureRejected'),
            this.metricTotal('SignatureRejected', { label: 'all channels' }),
          ],
          horizontalAnnotations: annotation('signatureRejects'),
        },
        { title: 'Handshakes failed', metrics: perChannel('HandshakeFailed') },
        { title: 'Events ignored (by channel and reason)', metrics: [this.metricSearch('EventsIgnored')] },
        {
          title: 'Not found / rejected / enqueue failed',
          metrics: [
            this.metricSearch('WebhookNotFound'),
            this.metricSearch('WebhookRejected'),
            this.metricSearch('EnqueueFailed'),
          ],
        },
      ],
    });

    // Conversations.
    f.addMediumHeader('Conversations');
    f.monitorCustom({
      humanReadableName: 'Turns, responder and gates',
      alarmFriendlyName: 'Conversations',
      metricGroups: [
        { title: 'Turns flushed', metrics: perChannel('TurnsFlushed') },
        {
          title: 'Messages per turn (average)',
          metrics: this.channels.map((channel) =>
            this.metric('MessagesPerTurn', { dimensions: { channel }, statistic: 'Average', label: channel }),
          ),
        },
        {
          title: 'Responder latency p50 / p99 (ms)',
          metrics: [
            this.metricSearch('ResponderLatency', { statistic: 'p50' }),
            this.metricSearch('ResponderLatency', { statistic: 'p99' }),
          ],
        },
        { title: 'Responder failures', metrics: [this.metricSearch('ResponderFailed')] },
        { title: 'Gate outcomes (by gate and outcome)', metrics: [this.metricSearch('GateOutcome')] },
        {
          title: 'Turns failed, duplicates, takeovers',
          metrics: [
            this.metricTotal('TurnsFailed', { label: 'Turns failed' }),
            this.metricTotal('DuplicateMessages', { label: 'Duplicates dropped' }),
            this.metricTotal('HumanTakeover', { label: 'Human takeovers' }),
            this.metricTotal('MediaTimeouts', { label: 'Media timeouts' }),
            this.metricTotal('InvalidEvents', { label: 'Invalid queue records' }),
          ],
        },
      ],
    });

    // Delivery.
    f.addMediumHeader('Delivery');
    f.monitorCustom({
      humanReadableName: 'Sends',
      alarmFriendlyName: 'Delivery',
      metricGroups: [
        { title: 'Sends succeeded', metrics: perChannel('SendSucceeded') },
        { title: 'Sends failed (by channel and code)', metrics: [this.metricSearch('SendFailed')] },
        ...this.channels.map((channel) => ({
          title: `Send failure rate ${channel} (%)`,
          metrics: [alarmMetric(`sendFailureRate${capitalise(channel)}`)],
          horizontalAnnotations: annotation(`sendFailureRate${capitalise(channel)}`),
        })),
        {
          title: 'Token invalid',
          metrics: [
            ...perChannel('TokenInvalid'),
            this.metricTotal('TokenInvalid', { label: 'all channels' }),
          ],
          horizontalAnnotations: annotation('tokenInvalid'),
        },
        {
          title: 'Reply latency p50 / p99 (ms)',
          metrics: this.channels.flatMap((channel) => [
            this.metric('ReplyLatency', {
              dimensions: { channel },
              statistic: 'p50',
              label: `${channel} p50`,
            }),
            this.metric('ReplyLatency', {
              dimensions: { channel },
              statistic: 'p99',
              label: `${channel} p99`,
            }),
          ]),
        },
        {
          title: 'Retries, expired windows, rate limiting',
          metrics: [
            this.metricSearch('SendRetried'),
            this.metricTotal('ReplyExpired', { label: 'Replies expired' }),
            this.metricTotal('RateLimited', { label: 'Rate limited' }),
          ],
        },
      ],
    });

    // Media.
    if (props.media) {
      f.addMediumHeader('Media');
      f.monitorCustom({
        humanReadableName: 'Media jobs',
        alarmFriendlyName: 'Media',
        metricGroups: [
          { title: 'Media jobs (by kind)', metrics: [this.metricSearch('MediaJobs')] },
          {
            title: 'Media duration p50 / p99 (ms)',
            metrics: [
              this.metricSearch('MediaDuration', { statistic: 'p50' }),
              this.metricSearch('MediaDuration', { statistic: 'p99' }),
            ],
          },
          {
            title: 'Media failures (by kind and code)',
            metrics: [this.metricSearch('MediaFailed'), this.metricTotal('MediaFailed', { label: 'all' })],
            horizontalAnnotations: annotation('mediaFailures'),
          },
        ],
      });
      const service = props.media.service;
      if (service) {
        f.monitorSimpleFargateService({
          // The queue-processing pattern wraps the ECS service; its queue is drawn below.
          fargateService: 'sqsQueue' in service ? service.service : service,
          humanReadableName: 'Media worker',
          alarmFriendlyName: 'MediaWorker',
        });
      }
    }

    // Queues: depth and oldest-message age of every queue and DLQ.
    f.addMediumHeader('Queues');
    for (const [key, { queue, dlq }] of allQueues) {
      const ageKey = `${key}OldestMessageAge`;
      const dlqKey = `${key}DlqMessages`;
      f.monitorCustom({
        humanReadableName: `Queue ${key}`,
        alarmFriendlyName: `Queue${capitalise(key)}`,
        metricGroups: [
          {
            title: `${key}: messages visible / in flight`,
            metrics: [
              queue.metricApproximateNumberOfMessagesVisible({
                statistic: 'Maximum',
                period,
                label: 'visible',
              }),
              queue.metricApproximateNumberOfMessagesNotVisible({
                statistic: 'Maximum',
                period,
                label: 'in flight',
              }),
            ],
          },
          {
            title: `${key}: oldest message (s)`,
            metrics: [
              queue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period, label: 'age' }),
            ],
            horizontalAnnotations: annotation(ageKey),
          },
          ...(dlq
            ? [
                {
                  title: `${key} DLQ: messages`,
                  metrics: [
                    dlq.metricApproximateNumberOfMessagesVisible({
                      statistic: 'Maximum',
                      period,
                      label: 'messages',
                    }),
                  ],
                  horizontalAnnotations: annotation(dlqKey),
                },
                {
                  title: `${key} DLQ: oldest message (s)`,
                  metrics: [
                    dlq.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period, label: 'age' }),
                  ],
                },
              ]
            : []),
        ],
      });
    }

    // Lambda functions: errors, throttles, duration p99, concurrency.
    f.addMediumHeader('Functions');
    for (const [key, fn] of Object.entries(props.functions)) {
      f.monitorCustom({
        humanReadableName: `Function ${key}`,
        alarmFriendlyName: `Function${capitalise(key)}`,
        metricGroups: [
          {
            title: `${key}: errors`,
            metrics: [fn.metricErrors({ statistic: 'Sum', period, label: 'errors' })],
            horizontalAnnotations: annotation(`${key}Errors`),
          },
          {
            title: `${key}: throttles`,
            metrics: [fn.metricThrottles({ statistic: 'Sum', period, label: 'throttles' })],
            horizontalAnnotations: annotation(`${key}Throttles`),
          },
          {
            title: `${key}: duration p99 (ms)`,
            metrics: [fn.metricDuration({ statistic: 'p99', period, label: 'p99' })],
          },
          {
            title: `${key}: concurrency`,
            metrics: [
              fn.metric('ConcurrentExecutions', {
                statistic: 'Maximum',
                period,
                label: 'concurrent executions',
              }),
            ],
          },
        ],
      });
    }

    // DynamoDB: throttles and consumed capacity.
    f.addMediumHeader('Tables');
    for (const [key, table] of Object.entries(props.tables)) {
      f.monitorDynamoTable({
        table,
        billingMode: BillingMode.PAY_PER_REQUEST,
        humanReadableName: `Table ${key}`,
        alarmFriendlyName: `Table${capitalise(key)}`,
      });
    }
  }

  /** One series of a catalogued metric, under this relay's service names. */
  public metric(name: MetricName, options: ChatRelayMetricOptions = {}): Metric {
    return chatRelayMetric(name, {
      ...options,
      period: options.period ?? this.period,
      service: options.service ?? serviceOf(name, this.serviceNames),
    });
  }

  /** Every series of a catalogued metric added up (Metrics Insights; alarm-capable). */
  public metricTotal(name: MetricName, options: ChatRelayMetricTotalOptions = {}): MathExpression {
    return chatRelayMetricTotal(name, {
      ...options,
      period: options.period ?? this.period,
      service: options.service ?? serviceOf(name, this.serviceNames),
    });
  }

  /** One line per dimension value of a catalogued metric (SEARCH; graphs only). */
  public metricSearch(name: MetricName, options: ChatRelayMetricSearchOptions = {}): MathExpression {
    return chatRelayMetricSearch(name, {
      ...options,
      period: options.period ?? this.period,
      service: options.service ?? serviceOf(name, this.serviceNames),
    });
  }

  /** Customer messages put on inbound.fifo: one channel, or all of them. */
  public metricMessagesEnqueued(channel?: ChannelName): IMetric {
    return this.channelMetric('MessagesEnqueued', channel);
  }

  /** Reply parts refused permanently (all channels and codes, or one channel). */
  public metricSendFailed(channel?: ChannelName): IMetric {
    return this.channelMetric('SendFailedByChannel', channel, 'SendFailed');
  }

  /** Webhook received-at to send acknowledged, for one channel (`p99` by default). */
  public metricReplyLatency(channel: ChannelName, statistic = 'p99'): Metric {
    return this.metric('ReplyLatency', { dimensions: { channel }, statistic });
  }

  /** Sends refused for an invalid token (all channels, or one). */
  public metricTokenInvalid(channel?: ChannelName): IMetric {
    return this.channelMetric('TokenInvalid', channel);
  }

  private channelMetric(name: MetricName, channel: ChannelName | undefined, totalName?: MetricName): IMetric {
    return chatRelayChannelMetric(name, channel, {
      period: this.period,
      service: serviceOf(name, this.serviceNames),
      ...(totalName !== undefined ? { totalName } : {}),
    });
  }
}

interface ResolvedThresholds {
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

/** Applies defaults and checks every setting; throws one error listing every problem. */
/** What {@link resolveThresholds} needs to know besides the thresholds. */
interface ThresholdInputs {
  readonly thresholds?: ChatRelayMonitoringThresholds;
  readonly alarmEmail?: string;
  readonly queueKeys: readonly string[];
}

function resolveThresholds(
  props: ChatRelayMonitoringProps,
  namePrefix: string,
  channels: readonly ChannelName[],
  serviceNames: { readonly lambda: string; readonly media: string },
): ResolvedThresholds {
  const { resolved, problems } = collectThresholds(
    {
      thresholds: props.thresholds,
      alarmEmail: props.alarmEmail,
      queueKeys: [...Object.keys(props.queues), ...(props.media ? ['mediaJobs'] : [])],
    },
    namePrefix,
    channels,
    serviceNames,
  );
  if (problems.length > 0) throw new ChatRelayMonitoringError(problems);
  return resolved;
}

/**
 * Every problem with monitoring settings, each saying the fix, without building anything:
 * `ChatRelay` reports them together with its own props' problems.
 */
export function validateMonitoringSettings(
  settings: Pick<ChatRelayMonitoringProps, 'thresholds' | 'alarmEmail' | 'channels'>,
  context: {
    readonly queueKeys: readonly string[];
    readonly namePrefix: string;
    readonly serviceName: string;
    readonly mediaServiceName: string;
  },
): string[] {
  return collectThresholds(
    { thresholds: settings.thresholds, alarmEmail: settings.alarmEmail, queueKeys: context.queueKeys },
    context.namePrefix,
    settings.channels ?? CHANNELS,
    { lambda: context.serviceName, media: context.mediaServiceName },
  ).problems;
}

function collectThresholds(
  props: ThresholdInputs,
  namePrefix: string,
  channels: readonly ChannelName[],
  serviceNames: { readonly lambda: string; readonly media: string },
): { resolved: ResolvedThresholds; problems: string[] } {
  const d = DEFAULT_MONITORING_THRESHOLDS;
  const given = props.thresholds ?? {};
  const problems: string[] = [];
  const count = (
    key: keyof ChatRelayMonitoringThresholds,
    value: number | undefined,
    fallback: number,
  ): number => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < 1) {
      problems.push(
        `thresholds.${key} must be a whole number of at least 1; got ${String(v)}. Set thresholds.${key} to 1 or more, or leave it out for the default (${fallback}).`,
      );
    }
    return v;
  };
  const percent = (
    key: keyof ChatRelayMonitoringThresholds,
    value: number | undefined,
    fallback: number,
  ): number => {
    const v = value ?? fallback;
    if (!(Number.isFinite(v) && v > 0 && v <= 100)) {
      problems.push(
        `thresholds.${key} must be a percentage above 0 and at most 100; got ${String(v)}. Set thresholds.${key} between 0 and 100, or leave it out for the default (${fallback}).`,
      );
    }
    return v;
  };
  const period = given.period ?? d.period;
  if (!period.isUnresolved()) {
    const s = period.toSeconds({ integral: false });
    if (!(s >= 60 && s % 60 === 0 && s <= 86_400)) {
      problems.push(
        `thresholds.period must be a whole number of minutes between 1 minute and 1 day; got ${period.toHumanString()}. Use Duration.minutes(n) with n from 1 to 1440.`,
      );
    }
  }
  const queueKeys = new Set(props.queueKeys);
  const ages: Record<string, Duration> = {};
  for (const [key, age] of Object.entries({ ...d.oldestMessageAge, ...(given.oldestMessageAge ?? {}) })) {
    const explicit = given.oldestMessageAge?.[key] !== undefined;
    if (!queueKeys.has(key)) {
      if (explicit) {
        problems.push(
          `thresholds.oldestMessageAge.${key} names no queue; the queues are ${[...queueKeys].join(', ') || '(none)'}. Use one of those keys.`,
        );
      }
      continue;
    }
    if (
      !age.isUnresolved() &&
      (age.toSeconds({ integral: false }) < 60 || age.toSeconds({ integral: false }) > 1_209_600)
    ) {
      problems.push(
        `thresholds.oldestMessageAge.${key} must be between 1 minute and 14 days; got ${age.toHumanString()}. Set a duration in that range.`,
      );
    }
    ages[key] = age;
  }
  const resolved: ResolvedThresholds = {
    period,
    dlqMessages: count('dlqMessages', given.dlqMessages, d.dlqMessages),
    oldestMessageAge: ages,
    webhook5xxPercent: percent('webhook5xxPercent', given.webhook5xxPercent, d.webhook5xxPercent),
    webhookMinRequests: count('webhookMinRequests', given.webhookMinRequests, d.webhookMinRequests),
    webhook4xxPercent: percent('webhook4xxPercent', given.webhook4xxPercent, d.webhook4xxPercent),
    signatureRejects: count('signatureRejects', given.signatureRejects, d.signatureRejects),
    tokenInvalid: count('tokenInvalid', given.tokenInvalid, d.tokenInvalid),
    sendFailurePercent: percent('sendFailurePercent', given.sendFailurePercent, d.sendFailurePercent),
    sendMinParts: count('sendMinParts', given.sendMinParts, d.sendMinParts),
    lambdaErrors: count('lambdaErrors', given.lambdaErrors, d.lambdaErrors),
    lambdaThrottles: count('lambdaThrottles', given.lambdaThrottles, d.lambdaThrottles),
    mediaFailures: count('mediaFailures', given.mediaFailures, d.mediaFailures),
  };
  if (!Token.isUnresolved(namePrefix) && !NAME_PREFIX.test(namePrefix)) {
    problems.push(
      `namePrefix must be 1–200 letters, digits, "-" or "_" (dashboard names allow no other characters); got ${JSON.stringify(namePrefix)}. Remove the other characters.`,
    );
  }
  if (
    props.alarmEmail !== undefined &&
    !Token.isUnresolved(props.alarmEmail) &&
    !EMAIL.test(props.alarmEmail)
  ) {
    problems.push(
      `alarmEmail must be an email address; got ${JSON.stringify(props.alarmEmail)}. Set it to an address such as ops@example.com, or leave it out.`,
    );
  }
  const unknownChannels = channels.filter((c) => !(CHANNELS as readonly string[]).includes(c));
  if (unknownChannels.length > 0) {
    problems.push(
      `channels must be among ${CHANNELS.join(', ')}; got ${unknownChannels.join(', ')}. Remove or fix the unknown channel names.`,
    );
  }
  if (channels.length === 0)
    problems.push(
      'channels must list at least one channel. List the channels you use, or leave channels out for all six.',
    );
  checkQueryValue('serviceName', serviceNames.lambda, problems);
  checkQueryValue('mediaServiceName', serviceNames.media, problems);
  return { resolved, problems };
}
