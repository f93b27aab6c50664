/**
 * The dashboard, one section per concern (the layout of cdk-monitoring-constructs: a header,
 * then one segment group per part of the pipeline). Each section draws the alarm thresholds of
 * the alarm set on the graphs they belong to.
 */
import {
  AlarmStatusWidget,
  GraphWidget,
  LogQueryVisualizationType,
  LogQueryWidget,
  type Metric,
  Row,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import { BillingMode } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import type { MetricName } from '../../lambdas/contracts/metrics.js';
import { type AlarmSet, capitalise } from './alarms.js';
import type { ChatRelayMonitoring } from './monitoring.js';
import type { ChatRelayMonitoringProps } from './props.js';

/** One series per watched channel of a channel metric. */
function perChannelOf(m: ChatRelayMonitoring): (name: MetricName, label?: string) => Metric[] {
  return (name, label = name) =>
    m.channels.map((channel) => m.metric(name, { dimensions: { channel }, label: `${label} ${channel}` }));
}

/** Draws every section, in order. */
export function addDashboardSections(
  m: ChatRelayMonitoring,
  props: ChatRelayMonitoringProps,
  a: AlarmSet,
): void {
  addOverview(m, props, a);
  addWebhookSection(m, props, a);
  addConversationSection(m, props, a);
  addDeliverySection(m, props, a);
  addTenantSection(m, props, a);
  addMediaSection(m, props, a);
  addQueueSection(m, props, a);
  addFunctionSection(m, props, a);
  addTableSection(m, props, a);
}

/** The header, the alarm status and the customers-answered graph. */
export function addOverview(m: ChatRelayMonitoring, _props: ChatRelayMonitoringProps, a: AlarmSet): void {
  const f = m.facade;
  const alarms = a.alarms;
  f.addLargeHeader(`chat-relay — ${m.namePrefix}`);
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
        m.metricTotal('MessagesEnqueued', { label: 'Messages enqueued' }),
        m.metricTotal('TurnsFlushed', { label: 'Turns answered' }),
        m.metricTotal('SendSucceeded', { label: 'Reply parts delivered' }),
        m.metricTotal('SendFailed', { label: 'Reply parts refused' }),
        m.metricTotal('TurnsFailed', { label: 'Turns failed' }),
      ],
    }),
  );
}

/** Webhook: API Gateway, then the webhook outcomes per channel. */
export function addWebhookSection(
  m: ChatRelayMonitoring,
  props: ChatRelayMonitoringProps,
  a: AlarmSet,
): void {
  const perChannel = perChannelOf(m);
  const f = m.facade;
  const stageName = a.stageName;
  const annotation = (key: string) => a.annotation(key);
  const alarmMetric = (key: string) => a.alarmMetric(key);
  f.addMediumHeader('Webhooks');
  f.monitorApiGatewayV2HttpApi({
    api: props.api,
    apiStage: stageName,
    humanReadableName: 'Webhook API',
    alarmFriendlyName: 'WebhookApi',
  });
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
          m.metricTotal('SignatureRejected', { label: 'all channels' }),
        ],
        horizontalAnnotations: annotation('signatureRejects'),
      },
      { title: 'Handshakes failed', metrics: perChannel('HandshakeFailed') },
      { title: 'Events ignored (by channel and reason)', metrics: [m.metricSearch('EventsIgnored')] },
      {
        title: 'Not found / rejected / enqueue failed',
        metrics: [
          m.metricSearch('WebhookNotFound'),
          m.metricSearch('WebhookRejected'),
          m.metricSearch('EnqueueFailed'),
        ],
      },
    ],
  });
}

/** Conversations: turns, responder and gates. */
export function addConversationSection(
  m: ChatRelayMonitoring,
  _props: ChatRelayMonitoringProps,
  _a: AlarmSet,
): void {
  const perChannel = perChannelOf(m);
  const f = m.facade;
  f.addMediumHeader('Conversations');
  f.monitorCustom({
    humanReadableName: 'Turns, responder and gates',
    alarmFriendlyName: 'Conversations',
    metricGroups: [
      { title: 'Turns flushed', metrics: perChannel('TurnsFlushed') },
      {
        title: 'Messages per turn (average)',
        metrics: m.channels.map((channel) =>
          m.metric('MessagesPerTurn', { dimensions: { channel }, statistic: 'Average', label: channel }),
        ),
      },
      {
        title: 'Responder latency p50 / p99 (ms)',
        metrics: [
          m.metricSearch('ResponderLatency', { statistic: 'p50' }),
          m.metricSearch('ResponderLatency', { statistic: 'p99' }),
        ],
      },
      { title: 'Responder failures', metrics: [m.metricSearch('ResponderFailed')] },
      { title: 'Gate outcomes (by gate and outcome)', metrics: [m.metricSearch('GateOutcome')] },
      {
        title: 'Turns failed, duplicates, takeovers',
        metrics: [
          m.metricTotal('TurnsFailed', { label: 'Turns failed' }),
          m.metricTotal('DuplicateMessages', { label: 'Duplicates dropped' }),
          m.metricTotal('HumanTakeover', { label: 'Human takeovers' }),
          m.metricTotal('MediaTimeouts', { label: 'Media timeouts' }),
          m.metricTotal('InvalidEvents', { label: 'Invalid queue records' }),
        ],
      },
    ],
  });
}

/** Delivery: sends, failure rates, token problems, reply latency. */
export function addDeliverySection(
  m: ChatRelayMonitoring,
  _props: ChatRelayMonitoringProps,
  a: AlarmSet,
): void {
  const perChannel = perChannelOf(m);
  const f = m.facade;
  const annotation = (key: string) => a.annotation(key);
  const alarmMetric = (key: string) => a.alarmMetric(key);
  f.addMediumHeader('Delivery');
  f.monitorCustom({
    humanReadableName: 'Sends',
    alarmFriendlyName: 'Delivery',
    metricGroups: [
      { title: 'Sends succeeded', metrics: perChannel('SendSucceeded') },
      { title: 'Sends failed (by channel and code)', metrics: [m.metricSearch('SendFailed')] },
      ...m.channels.map((channel) => ({
        title: `Send failure rate ${channel} (%)`,
        metrics: [alarmMetric(`sendFailureRate${capitalise(channel)}`)],
        horizontalAnnotations: annotation(`sendFailureRate${capitalise(channel)}`),
      })),
      {
        title: 'Token invalid',
        metrics: [...perChannel('TokenInvalid'), m.metricTotal('TokenInvalid', { label: 'all channels' })],
        horizontalAnnotations: annotation('tokenInvalid'),
      },
      {
        title: 'Reply latency p50 / p99 (ms)',
        metrics: m.channels.flatMap((channel) => [
          m.metric('ReplyLatency', {
            dimensions: { channel },
            statistic: 'p50',
            label: `${channel} p50`,
          }),
          m.metric('ReplyLatency', {
            dimensions: { channel },
            statistic: 'p99',
            label: `${channel} p99`,
          }),
        ]),
      },
      {
        title: 'Retries, ambiguous sends, expired windows, rate limiting',
        metrics: [
          m.metricSearch('SendRetried'),
          m.metricTotal('SendAmbiguous', { label: 'Ambiguous sends (timed out after leaving)' }),
          m.metricTotal('ReplyExpired', { label: 'Replies expired' }),
          m.metricTotal('RateLimited', { label: 'Rate limited' }),
        ],
      },
    ],
  });
}

/** Media: jobs, durations, failures and the worker service (when media is watched). */
export function addMediaSection(m: ChatRelayMonitoring, props: ChatRelayMonitoringProps, a: AlarmSet): void {
  const f = m.facade;
  const annotation = (key: string) => a.annotation(key);
  if (props.media) {
    f.addMediumHeader('Media');
    f.monitorCustom({
      humanReadableName: 'Media jobs',
      alarmFriendlyName: 'Media',
      metricGroups: [
        { title: 'Media jobs (by kind)', metrics: [m.metricSearch('MediaJobs')] },
        {
          title: 'Media duration p50 / p99 (ms)',
          metrics: [
            m.metricSearch('MediaDuration', { statistic: 'p50' }),
            m.metricSearch('MediaDuration', { statistic: 'p99' }),
          ],
        },
        {
          title: 'Media failures (by kind and code)',
          metrics: [m.metricSearch('MediaFailed'), m.metricTotal('MediaFailed', { label: 'all' })],
          horizontalAnnotations: annotation('mediaFailures'),
        },
      ],
    });
    const service = props.media.service;
    if (service) {
      f.monitorSimpleFargateService({
        // The ECS service of the queue-processing pattern; its queue is drawn with the queues.
        fargateService: service,
        humanReadableName: 'Media worker',
        alarmFriendlyName: 'MediaWorker',
      });
    }
  }
}

/** Queues: depth and oldest-message age of every queue and DLQ. */
export function addQueueSection(m: ChatRelayMonitoring, _props: ChatRelayMonitoringProps, a: AlarmSet): void {
  const f = m.facade;
  const period = m.period;
  const allQueues = a.allQueues;
  const annotation = (key: string) => a.annotation(key);
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
}

/** Lambda functions: errors, throttles, duration p99, concurrency. */
export function addFunctionSection(
  m: ChatRelayMonitoring,
  props: ChatRelayMonitoringProps,
  a: AlarmSet,
): void {
  const f = m.facade;
  const period = m.period;
  const annotation = (key: string) => a.annotation(key);
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
}

/** DynamoDB: throttles and consumed capacity. */
export function addTableSection(m: ChatRelayMonitoring, props: ChatRelayMonitoringProps, _a: AlarmSet): void {
  const f = m.facade;
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

/**
 * Logs Insights queries of the per-tenant section, over the handlers' structured log lines
 * (Powertools JSON: `message`, `level`, `tenant`, and the line's own fields). Per-tenant metric
 * dimensions would cost a custom metric per tenant per month; these cost only the bytes a
 * query scans, when someone looks.
 */
export const TENANT_QUERIES = {
  /** Webhook: `Webhook accepted` carries `tenant` and `accepted` (events enqueued). */
  messages: [
    'fields tenant, accepted',
    'filter message = "Webhook accepted"',
    'stats sum(accepted) as messages, count(*) as requests by tenant',
    'sort messages desc',
    'limit 50',
  ],
  /** Conversation: `Turn answered` carries `tenant`, `messages` and `ms` (the responder's latency). */
  turns: [
    'fields tenant, ms',
    'filter message = "Turn answered"',
    'stats count(*) as turns, sum(messages) as messages_in_turns, avg(ms) as avg_ms, pct(ms, 95) as p95_ms, max(ms) as max_ms by tenant',
    'sort turns desc',
    'limit 50',
  ],
  /** Delivery: `Reply part delivered` carries `tenant`. */
  delivered: [
    'fields tenant',
    'filter message = "Reply part delivered"',
    'stats count(*) as parts_delivered by tenant',
    'sort parts_delivered desc',
    'limit 50',
  ],
  /** Every function: ERROR and WARN lines that name a tenant, by what went wrong. */
  failures: [
    'fields tenant, message',
    'filter ispresent(tenant) and level in ["ERROR", "WARN"]',
    'stats count(*) as lines by tenant, level, message',
    'sort lines desc',
    'limit 50',
  ],
} as const;

/** The function's log group name (the relay's functions log to a group of their own). */
function logGroupName(fn: IFunction): string {
  const group = (fn as IFunction & { readonly logGroup?: ILogGroup }).logGroup;
  return group?.logGroupName ?? `/aws/lambda/${fn.functionName}`;
}

/** Per tenant, from Logs Insights over the structured logs: messages, turns, failures, latency. */
export function addTenantSection(
  m: ChatRelayMonitoring,
  props: ChatRelayMonitoringProps,
  _a: AlarmSet,
): void {
  const f = m.facade;
  const groups = Object.fromEntries(
    Object.entries(props.functions).map(([key, fn]) => [key, logGroupName(fn)]),
  ) as Record<string, string>;
  const of = (...keys: string[]): string[] => keys.flatMap((k) => (groups[k] ? [groups[k]] : []));
  const table = (title: string, logGroupNames: string[], queryLines: readonly string[], width = 12) =>
    new LogQueryWidget({
      title,
      logGroupNames,
      queryLines: [...queryLines],
      view: LogQueryVisualizationType.TABLE,
      width,
      height: 6,
    });
  f.addMediumHeader('Tenants');
  f.addWidget(
    new TextWidget({
      markdown:
        "Per tenant, from Logs Insights over the functions' structured logs for the dashboard's time range (no per-tenant metrics: each would cost a custom metric per month). One conversation in detail: `npm run ops -- show <tenant> <channel> <conversationId>` (docs/operations.md).",
      width: 24,
      height: 2,
    }),
  );
  const sections: [string, string[], readonly string[]][] = [
    ['Messages received by tenant', of('webhook'), TENANT_QUERIES.messages],
    ['Turns answered and responder latency (ms) by tenant', of('conversation'), TENANT_QUERIES.turns],
    ['Reply parts delivered by tenant', of('delivery'), TENANT_QUERIES.delivered],
    ['Failures by tenant (ERROR and WARN lines)', Object.values(groups), TENANT_QUERIES.failures],
  ];
  // A construct watching other functions may lack one of them: no query over no log group.
  const widgets = sections
    .filter(([, logGroupNames]) => logGroupNames.length > 0)
    .map(([title, logGroupNames, queryLines]) => table(title, logGroupNames, queryLines));
  for (let i = 0; i < widgets.length; i += 2) f.addWidget(new Row(...widgets.slice(i, i + 2)));
}
