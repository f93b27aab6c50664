/**
 * `ChatRelayMonitoring`: the CloudWatch dashboard and alarms of one chat-relay, plus metric
 * accessors for the catalogued metrics (`lambdas/contracts/metrics.ts`).
 *
 * The dashboard is built with cdk-monitoring-constructs (`MonitoringFacade`); its alarms are
 * created by the facade's `AlarmFactory` and notify one SNS topic (KMS-encrypted, TLS only).
 * The parts live beside this file, one concern each: the alarm topic (alarm-topic.ts), the
 * alarm set (alarms.ts), the dashboard sections (dashboard.ts), the thresholds (thresholds.ts),
 * the metric helpers (metrics.ts) and the validation (validation.ts).
 */
import { type Duration, Stack } from 'aws-cdk-lib';
import type {
  Dashboard,
  IAlarm,
  IMetric,
  MathExpression,
  Metric,
  MetricOptions,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { Key } from 'aws-cdk-lib/aws-kms';
import type { Topic } from 'aws-cdk-lib/aws-sns';
import { DefaultDashboardFactory, MonitoringFacade, SnsAlarmActionStrategy } from 'cdk-monitoring-constructs';
import { Construct } from 'constructs';
import { CHANNELS } from '../../lambdas/contracts/channels.js';
import type { MetricName } from '../../lambdas/contracts/metrics.js';
import { createAlarmTopic } from './alarm-topic.js';
import { createAlarmSet } from './alarms.js';
import { addDashboardSections } from './dashboard.js';
import {
  type ChatRelayMetricOptions,
  type ChatRelayMetricSearchOptions,
  type ChatRelayMetricTotalOptions,
  chatRelayChannelMetric,
  chatRelayMetric,
  chatRelayMetricSearch,
  chatRelayMetricTotal,
  DEFAULT_MEDIA_SERVICE_NAME,
  DEFAULT_SERVICE_NAME,
  serviceOf,
  withMetricOptions,
} from './metrics.js';
import type { ChatRelayMonitoringProps } from './props.js';
import { resolveThresholds } from './validation.js';

/** The dashboard and alarms of one chat-relay. */
export class ChatRelayMonitoring extends Construct {
  /** The dashboard, named `{namePrefix}` (default `${stackName}-chat-relay`). */
  public readonly dashboard: Dashboard;
  /** Every alarm notifies this topic (on ALARM and back to OK). */
  public readonly alarmTopic: Topic;
  /** The customer-managed key encrypting the topic (CloudWatch may use it; AWS-managed SNS keys do not allow that). */
  public readonly alarmTopicKey: Key;
  /** Every alarm, by name (see docs/metrics.md for the list). */
  public readonly alarms: { [name: string]: IAlarm };
  /** The cdk-monitoring-constructs facade the dashboard is built with (add your own segments to it). */
  public readonly facade: MonitoringFacade;
  /** The prefix of the dashboard and alarm names. */
  public readonly namePrefix: string;
  /** Channels drawn and alarmed per channel. */
  public readonly channels: string[];
  /** The period of the alarms and of the chat-relay metrics the instance methods return. */
  public readonly period: Duration;
  private readonly serviceNames: { readonly lambda: string; readonly media: string };

  constructor(scope: Construct, id: string, props: ChatRelayMonitoringProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.namePrefix = props.namePrefix ?? `${stack.stackName}-chat-relay`;
    this.channels = [...(props.channels ?? CHANNELS)];
    this.serviceNames = {
      lambda: props.serviceName ?? DEFAULT_SERVICE_NAME,
      media: props.mediaServiceName ?? DEFAULT_MEDIA_SERVICE_NAME,
    };
    const t = resolveThresholds(this, props, this.namePrefix, this.channels, this.serviceNames);
    const period = t.period;
    this.period = period;

    const topic = createAlarmTopic(this, this.namePrefix, props.alarmEmail);
    this.alarmTopicKey = topic.key;
    this.alarmTopic = topic.topic;

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
    const alarmSet = createAlarmSet(this, props, t);
    this.alarms = alarmSet.alarms;
    addDashboardSections(this, props, alarmSet);
  }

  /**
   * One series of a catalogued metric (see the README's metric catalogue), under this relay's
   * service names: every dimension of the metric must be given in `options.dimensions`.
   */
  public metric(name: string, options: ChatRelayMetricOptions = {}): Metric {
    const metricName = name as MetricName;
    return chatRelayMetric(metricName, {
      ...options,
      period: options.period ?? this.period,
      service: options.service ?? serviceOf(metricName, this.serviceNames),
    });
  }

  /** Every series of a catalogued metric added up (Metrics Insights; alarm-capable). */
  public metricTotal(name: string, options: ChatRelayMetricTotalOptions = {}): MathExpression {
    const metricName = name as MetricName;
    return chatRelayMetricTotal(metricName, {
      ...options,
      period: options.period ?? this.period,
      service: options.service ?? serviceOf(metricName, this.serviceNames),
    });
  }

  /** One line per dimension value of a catalogued metric (SEARCH; graphs only). */
  public metricSearch(name: string, options: ChatRelayMetricSearchOptions = {}): MathExpression {
    const metricName = name as MetricName;
    return chatRelayMetricSearch(metricName, {
      ...options,
      period: options.period ?? this.period,
      service: options.service ?? serviceOf(metricName, this.serviceNames),
    });
  }

  /** Customer messages put on inbound.fifo: one channel, or all of them. */
  public metricMessagesEnqueued(channel?: string, props?: MetricOptions): IMetric {
    return withMetricOptions(this.channelMetric('MessagesEnqueued', channel), props);
  }

  /** Reply parts refused permanently (all channels and codes, or one channel). */
  public metricSendFailed(channel?: string, props?: MetricOptions): IMetric {
    return withMetricOptions(this.channelMetric('SendFailedByChannel', channel, 'SendFailed'), props);
  }

  /** Webhook received-at to send acknowledged, for one channel (statistic `p99` unless `props` says otherwise). */
  public metricReplyLatency(channel: string, props?: MetricOptions): IMetric {
    const metric = this.metric('ReplyLatency', { dimensions: { channel }, statistic: 'p99' });
    return withMetricOptions(metric, props);
  }

  /** Sends refused for an invalid token (all channels, or one). */
  public metricTokenInvalid(channel?: string, props?: MetricOptions): IMetric {
    return withMetricOptions(this.channelMetric('TokenInvalid', channel), props);
  }

  private channelMetric(name: MetricName, channel: string | undefined, totalName?: MetricName): IMetric {
    return chatRelayChannelMetric(name, channel, {
      period: this.period,
      service: serviceOf(name, this.serviceNames),
      ...(totalName !== undefined ? { totalName } : {}),
    });
  }
}
