/**
 * The alarm set: one alarm per failure a customer would notice (dead-lettered messages, stuck
 * queues, webhook error rates platforms punish, rejected signatures, invalid tokens, per-channel
 * send failures, function errors and throttles, media failures), each notifying the alarm topic
 * through the facade's alarm factory. Created before the dashboard so it can open with their status.
 */
import {
  ComparisonOperator,
  type HorizontalAnnotation,
  type IAlarm,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { AlarmWithAnnotation } from 'cdk-monitoring-constructs';
import type { ChatRelayMonitoring } from './monitoring.js';
import type { ChatRelayMonitoredQueue, ChatRelayMonitoringProps } from './props.js';
import type { ResolvedThresholds } from './thresholds.js';

/** The alarms created, with what the dashboard needs to draw them. */
export interface AlarmSet {
  /** Every alarm, by key. */
  readonly alarms: { [key: string]: IAlarm };
  /** Every queue watched (the relay's and the media jobs queue), by key. */
  readonly allQueues: readonly [string, ChatRelayMonitoredQueue][];
  /** The API stage watched. */
  readonly stageName: string;
  /** The threshold line of an alarm, for its graph (none when the alarm does not exist). */
  annotation(key: string): HorizontalAnnotation[];
  /** The metric an alarm evaluates. */
  alarmMetric(key: string): Metric | MathExpression;
}

/** `webhookErrors` → `WebhookErrors`. */
export function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Creates every alarm of `m` (see the module comment). */
export function createAlarmSet(
  m: ChatRelayMonitoring,
  props: ChatRelayMonitoringProps,
  t: ResolvedThresholds,
): AlarmSet {
  const period = t.period;
  // ---- Alarms (created first so the dashboard can open with their status) ----
  const alarmFactory = m.facade.createAlarmFactory(m.namePrefix);
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
      alarmNameOverride: `${m.namePrefix}-${key}`,
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
  const allQueues: [string, ChatRelayMonitoredQueue][] = Object.entries(props.queues);
  if (props.media) allQueues.push(['mediaJobs', { queue: props.media.jobsQueue, dlq: props.media.jobsDlq }]);
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
    m.metricTotal('SignatureRejected', { label: 'Signatures rejected' }),
    t.signatureRejects,
    `${t.signatureRejects} or more webhook signatures were rejected in ${minutes}: a rotated app secret or token not updated in the tenant secret, or someone probing the endpoint.`,
  );
  addAlarm(
    'tokenInvalid',
    m.metricTotal('TokenInvalid', { label: 'Token invalid' }),
    t.tokenInvalid,
    'A platform refused a send because the access token is invalid or expired: replies to that page are lost until the tenant secret holds a fresh token.',
  );
  // Any refused refresh matters: Zalo replies stop within a day (the access token lives ~25 h).
  addAlarm(
    'zaloTokenRefreshFailed',
    m.metricTotal('ZaloTokenRefreshFailed', { label: 'Zalo token refresh failed' }),
    1,
    'Zalo refused to refresh an OA access token (the refresh token expired after 3 months unused, was revoked, or was already spent), or the new pair could not be written to the tenant secret. Zalo replies stop when the current access token expires (about 25 h). Fix: have the OA admin grant the app again, then run `npm run tenant -- zalo-authorize <tenant> --code <authorization code>` (docs/tenants.md); the tenant is in the delivery function\'s error log ("Zalo refused the refresh token").',
  );
  for (const channel of m.channels) {
    const ok = m.metric('SendSucceeded', { dimensions: { channel } });
    const failed = m.metric('SendFailedByChannel', { dimensions: { channel } });
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
      m.metricTotal('MediaFailed', { label: 'Media failures' }),
      t.mediaFailures,
      `${t.mediaFailures} or more media jobs ended with an error in ${minutes} (turns went on without transcripts). The MediaFailed widget shows the codes.`,
    );
  }
  const annotation = (key: string): HorizontalAnnotation[] => {
    const a = created[key];
    return a ? [a.annotation] : [];
  };
  const alarmMetric = (key: string): Metric | MathExpression => {
    const metric = alarmMetrics[key];
    if (!metric) throw new Error(`ChatRelayMonitoring: no alarm ${key}.`);
    return metric;
  };
  return { alarms, allQueues, stageName, annotation, alarmMetric };
}
