import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { HttpApi, HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { MathExpression, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHANNELS } from '../../lambdas/shared/model.js';
import { ChatRelay, DlqName } from '../../lib/index.js';
import { ChatRelayMonitoring, type ChatRelayMonitoringProps } from '../../lib/monitoring/index.js';
import { type CfnResourceJson, logicalId, nagFindings, resourcesOf, TEST_ENV, testApp } from './synth.js';

/** A stack with real resources like ChatRelay's (inline-code functions: no bundling). */
function fixture(
  overrides: Partial<ChatRelayMonitoringProps> = {},
  options: { withMedia?: boolean } = {},
): {
  stack: Stack;
  template: Template;
  monitoring: ChatRelayMonitoring;
  ids: Record<string, string>;
} {
  const app = testApp();
  const stack = new Stack(app, 'RelayProd', { env: TEST_ENV });
  const fn = (id: string) =>
    new LambdaFunction(stack, id, {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async () => ({ statusCode: 200 });'),
    });
  const functions = {
    webhook: fn('Webhook'),
    conversation: fn('Conversation'),
    timer: fn('Timer'),
    delivery: fn('Delivery'),
  };
  const api = new HttpApi(stack, 'Api');
  api.addRoutes({
    path: '/webhooks/{channel}/{tenantId}',
    methods: [HttpMethod.GET, HttpMethod.POST],
    integration: new HttpLambdaIntegration('Webhook', functions.webhook),
  });
  const pair = (id: string, fifo: boolean) => {
    const dlq = new Queue(stack, `${id}QueueDlq`, fifo ? { fifo: true } : {});
    const queue = new Queue(stack, `${id}Queue`, {
      ...(fifo ? { fifo: true } : {}),
      deadLetterQueue: { queue: dlq, maxReceiveCount: 5 },
    });
    return { queue, dlq };
  };
  const queues = {
    inbound: pair('Inbound', true),
    timer: pair('Timer', false),
    outbound: pair('Outbound', true),
  };
  const table = (id: string) =>
    new Table(stack, id, {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
    });
  // A second table stands for one of the caller's own: every table passed in is watched.
  const tables = { memory: table('Memory'), own: table('Own') };
  const media = options.withMedia === false ? undefined : pair('MediaJobs', false);
  const monitoring = new ChatRelayMonitoring(stack, 'Monitoring', {
    api,
    functions,
    queues,
    tables,
    ...(media ? { media: { jobsQueue: media.queue, jobsDlq: media.dlq } } : {}),
    ...overrides,
  });
  const ids: Record<string, string> = { api: logicalId(stack, api) };
  for (const [k, f] of Object.entries(functions)) ids[`${k}Fn`] = logicalId(stack, f);
  for (const [k, { queue, dlq }] of Object.entries(queues)) {
    ids[k] = logicalId(stack, queue);
    ids[`${k}Dlq`] = logicalId(stack, dlq);
  }
  if (media) {
    ids.mediaJobs = logicalId(stack, media.queue);
    ids.mediaJobsDlq = logicalId(stack, media.dlq);
  }
  for (const [k, t] of Object.entries(tables)) ids[k] = logicalId(stack, t);
  ids.topic = logicalId(stack, monitoring.alarmTopic);
  ids.key = logicalId(stack, monitoring.alarmTopicKey);
  return { stack, template: Template.fromStack(stack), monitoring, ids };
}

type MetricQuery = {
  Id: string;
  Expression?: string;
  Period?: number;
  ReturnData?: boolean;
  MetricStat?: {
    Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: unknown }[] };
    Period: number;
    Stat: string;
  };
};

/** Alarms by AlarmName. */
function alarmsByName(template: Template): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const [, r] of resourcesOf(template, 'AWS::CloudWatch::Alarm')) {
    out.set(r.Properties.AlarmName as string, r.Properties);
  }
  return out;
}

/** The single metric an alarm watches (MetricStat form). */
function statOf(alarm: Record<string, unknown>): NonNullable<MetricQuery['MetricStat']> {
  const metrics = alarm.Metrics as MetricQuery[];
  expect(metrics).toHaveLength(1);
  const stat = metrics[0]?.MetricStat;
  if (!stat) throw new Error('not a single-metric alarm');
  return stat;
}

function dims(stat: NonNullable<MetricQuery['MetricStat']>): Record<string, unknown> {
  return Object.fromEntries(stat.Metric.Dimensions.map((d) => [d.Name, d.Value]));
}

/** The dashboard body with every Ref/GetAtt replaced by `<Id>` / `<Id.Attr>`, parsed. */
function dashboardBody(template: Template): {
  widgets: { type: string; properties: Record<string, unknown> }[];
  raw: string;
} {
  const [[, dash]] = resourcesOf(template, 'AWS::CloudWatch::Dashboard') as [[string, CfnResourceJson]];
  const body = dash.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] } | string;
  const flat =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1]
          .map((part) => {
            if (typeof part === 'string') return part;
            const o = part as Record<string, unknown>;
            if ('Ref' in o) return `<${String(o.Ref)}>`;
            if (Array.isArray(o['Fn::GetAtt'])) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
            return `<${JSON.stringify(o)}>`;
          })
          .join(body['Fn::Join'][0]);
  return {
    ...(JSON.parse(flat) as { widgets: { type: string; properties: Record<string, unknown> }[] }),
    raw: flat,
  };
}

function titles(widgets: { properties: Record<string, unknown> }[]): string[] {
  return widgets.map((w) => w.properties.title).filter((t): t is string => typeof t === 'string');
}

const PREFIX = 'RelayProd-chat-relay';

describe('alarms with default thresholds', () => {
  let f: ReturnType<typeof fixture>;
  let alarms: Map<string, Record<string, unknown>>;
  beforeAll(() => {
    f = fixture();
    alarms = alarmsByName(f.template);
  });

  it('creates exactly the documented alarms, each exposed by name', () => {
    const expected = [
      'inboundDlqMessages',
      'timerDlqMessages',
      'outboundDlqMessages',
      'mediaJobsDlqMessages',
      'inboundOldestMessageAge',
      'outboundOldestMessageAge',
      'webhook5xxRate',
      'webhook4xxRate',
      'signatureRejects',
      'tokenInvalid',
      'zaloTokenRefreshFailed',
      ...CHANNELS.map((c) => `sendFailureRate${c[0]?.toUpperCase()}${c.slice(1)}`),
      ...['webhook', 'conversation', 'timer', 'delivery'].flatMap((fn) => [`${fn}Errors`, `${fn}Throttles`]),
      'mediaFailures',
    ];
    expect(Object.keys(f.monitoring.alarms).sort()).toEqual([...expected].sort());
    expect([...alarms.keys()].sort()).toEqual(expected.map((k) => `${PREFIX}-${k}`).sort());
    f.template.resourceCountIs('AWS::CloudWatch::Alarm', expected.length);
  });

  it('sends every alarm and its recovery to the topic, evaluating one 5-minute period, missing data not breaching', () => {
    for (const [name, alarm] of alarms) {
      expect(alarm, name).toMatchObject({
        ActionsEnabled: true,
        AlarmActions: [{ Ref: f.ids.topic }],
        OKActions: [{ Ref: f.ids.topic }],
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        TreatMissingData: 'notBreaching',
      });
      expect(String(alarm.AlarmDescription).length, name).toBeGreaterThan(20);
      for (const q of alarm.Metrics as MetricQuery[]) {
        const period = q.MetricStat?.Period ?? q.Period;
        if (q.MetricStat || q.ReturnData !== false) {
          if (period !== undefined) expect(period, name).toBe(300);
        }
      }
    }
  });

  it('alarms on one message in every dead-letter queue, media jobs included', () => {
    for (const key of ['inbound', 'timer', 'outbound', 'mediaJobs']) {
      const alarm = alarms.get(`${PREFIX}-${key}DlqMessages`);
      if (!alarm) throw new Error(`no DLQ alarm for ${key}`);
      expect(alarm.Threshold).toBe(1);
      const stat = statOf(alarm);
      expect(stat).toMatchObject({
        Metric: { Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible' },
        Stat: 'Maximum',
        Period: 300,
      });
      expect(dims(stat)).toEqual({ QueueName: { 'Fn::GetAtt': [f.ids[`${key}Dlq`], 'QueueName'] } });
    }
  });

  it('alarms when the oldest message of inbound.fifo or outbound.fifo is 5 minutes old, not on the timer queue', () => {
    for (const key of ['inbound', 'outbound']) {
      const alarm = alarms.get(`${PREFIX}-${key}OldestMessageAge`);
      if (!alarm) throw new Error(`no age alarm for ${key}`);
      expect(alarm.Threshold).toBe(300);
      const stat = statOf(alarm);
      expect(stat).toMatchObject({
        Metric: { Namespace: 'AWS/SQS', MetricName: 'ApproximateAgeOfOldestMessage' },
        Stat: 'Maximum',
        Period: 300,
      });
      expect(dims(stat)).toEqual({ QueueName: { 'Fn::GetAtt': [f.ids[key], 'QueueName'] } });
    }
    expect(alarms.has(`${PREFIX}-timerOldestMessageAge`)).toBe(false);
  });

  it('alarms when half the webhook requests get a 4xx, since Pancake counts every non-2xx answer', () => {
    const alarm = alarms.get(`${PREFIX}-webhook4xxRate`);
    if (!alarm) throw new Error('no 4xx alarm');
    expect(alarm.Threshold).toBe(50);
    expect(alarm.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
    const metrics = alarm.Metrics as MetricQuery[];
    expect(metrics.find((m) => m.ReturnData !== false)?.Expression).toBe(
      'IF(requests >= 3, 100 * errors / requests, 0)',
    );
    expect(metrics.find((m) => m.Id === 'errors')?.MetricStat?.Metric.MetricName).toBe('4xx');
    expect(String(alarm.AlarmDescription)).toContain('Pancake');
  });

  it('alarms when 5% of webhook requests get a 5xx, counting only periods with at least 3 requests', () => {
    const alarm = alarms.get(`${PREFIX}-webhook5xxRate`);
    if (!alarm) throw new Error('no 5xx alarm');
    expect(alarm.Threshold).toBe(5);
    const metrics = alarm.Metrics as MetricQuery[];
    const expr = metrics.find((m) => m.ReturnData !== false);
    expect(expr?.Expression).toBe('IF(requests >= 3, 100 * errors / requests, 0)');
    const apiDims = [
      { Name: 'ApiId', Value: { Ref: f.ids.api } },
      { Name: 'Stage', Value: '$default' },
    ];
    expect(metrics.find((m) => m.Id === 'requests')?.MetricStat).toEqual({
      Metric: { Namespace: 'AWS/ApiGateway', MetricName: 'Count', Dimensions: apiDims },
      Period: 300,
      Stat: 'Sum',
    });
    expect(metrics.find((m) => m.Id === 'errors')?.MetricStat).toEqual({
      Metric: { Namespace: 'AWS/ApiGateway', MetricName: '5xx', Dimensions: apiDims },
      Period: 300,
      Stat: 'Sum',
    });
  });

  it('adds up signature rejects, invalid tokens and media failures over every dimension value with Metrics Insights', () => {
    const cases = [
      [
        'signatureRejects',
        50,
        `SELECT SUM(SignatureRejected) FROM SCHEMA("ChatRelay", channel, service) WHERE service = 'chat-relay'`,
      ],
      [
        'tokenInvalid',
        1,
        `SELECT SUM(TokenInvalid) FROM SCHEMA("ChatRelay", channel, service) WHERE service = 'chat-relay'`,
      ],
      [
        'mediaFailures',
        5,
        `SELECT SUM(MediaFailed) FROM SCHEMA("ChatRelay", code, kind, service) WHERE service = 'chat-relay-media'`,
      ],
      [
        'zaloTokenRefreshFailed',
        1,
        `SELECT SUM(ZaloTokenRefreshFailed) FROM SCHEMA("ChatRelay", reason, service) WHERE service = 'chat-relay'`,
      ],
    ] as const;
    for (const [key, threshold, expression] of cases) {
      const alarm = alarms.get(`${PREFIX}-${key}`);
      if (!alarm) throw new Error(`no alarm ${key}`);
      expect(alarm.Threshold).toBe(threshold);
      // A Metrics Insights alarm is one query carrying its own period.
      expect(alarm.Metrics).toEqual([
        { Id: 'expr_1', Expression: expression, Period: 300, ReturnData: true, Label: expect.any(String) },
      ]);
    }
  });

  it('alarms per channel when 10% of reply parts are refused, counting only periods with 5 finished parts', () => {
    for (const channel of CHANNELS) {
      const key = `sendFailureRate${channel[0]?.toUpperCase()}${channel.slice(1)}`;
      const alarm = alarms.get(`${PREFIX}-${key}`);
      if (!alarm) throw new Error(`no alarm ${key}`);
      expect(alarm.Threshold).toBe(10);
      const metrics = alarm.Metrics as MetricQuery[];
      expect(metrics.find((m) => m.ReturnData !== false)?.Expression).toBe(
        'IF(ok + failed >= 5, 100 * failed / (ok + failed), 0)',
      );
      const series = (id: string, metricName: string) =>
        expect(metrics.find((m) => m.Id === id)?.MetricStat).toEqual({
          Metric: {
            Namespace: 'ChatRelay',
            MetricName: metricName,
            Dimensions: [
              { Name: 'channel', Value: channel },
              { Name: 'service', Value: 'chat-relay' },
            ],
          },
          Period: 300,
          Stat: 'Sum',
        });
      series('ok', 'SendSucceeded');
      series('failed', 'SendFailedByChannel');
    }
  });

  it('alarms on any error and any throttle of every function', () => {
    for (const fn of ['webhook', 'conversation', 'timer', 'delivery']) {
      for (const [suffix, metricName] of [
        ['Errors', 'Errors'],
        ['Throttles', 'Throttles'],
      ] as const) {
        const alarm = alarms.get(`${PREFIX}-${fn}${suffix}`);
        if (!alarm) throw new Error(`no alarm ${fn}${suffix}`);
        expect(alarm.Threshold).toBe(1);
        const stat = statOf(alarm);
        expect(stat).toMatchObject({
          Metric: { Namespace: 'AWS/Lambda', MetricName: metricName },
          Stat: 'Sum',
        });
        expect(dims(stat)).toEqual({ FunctionName: { Ref: f.ids[`${fn}Fn`] } });
      }
    }
  });
});

describe('alarm topic', () => {
  it('encrypts the topic with a rotating customer key CloudWatch may use, and refuses publishing without TLS', () => {
    const f = fixture();
    f.template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [f.ids.key, 'Arn'] },
    });
    f.template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    f.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: {
              StringEquals: { 'aws:SourceAccount': TEST_ENV.account },
              ArnLike: {
                'aws:SourceArn': `arn:aws:cloudwatch:${TEST_ENV.region}:${TEST_ENV.account}:alarm:*`,
              },
            },
          }),
        ]),
      },
    });
    f.template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('subscribes the alarm email when one is given', () => {
    const f = fixture({ alarmEmail: 'oncall@example.com' });
    f.template.resourceCountIs('AWS::SNS::Subscription', 1);
    f.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: f.ids.topic },
    });
  });

  it('passes the AwsSolutions cdk-nag pack without acknowledgements', () => {
    const f = fixture({ alarmEmail: 'oncall@example.com' });
    expect(nagFindings(f.monitoring)).toEqual([]);
  });
});

describe('thresholds and options', () => {
  it('applies every threshold override, the period and extra queue-age alarms', () => {
    const f = fixture({
      thresholds: {
        period: Duration.minutes(1),
        dlqMessages: 3,
        oldestMessageAge: { inbound: Duration.minutes(2), timer: Duration.minutes(10) },
        webhook5xxPercent: 20,
        webhookMinRequests: 10,
        signatureRejects: 7,
        tokenInvalid: 2,
        sendFailurePercent: 25,
        sendMinParts: 20,
        lambdaErrors: 4,
        lambdaThrottles: 6,
        mediaFailures: 9,
      },
    });
    const alarms = alarmsByName(f.template);
    const threshold = (key: string) => alarms.get(`${PREFIX}-${key}`)?.Threshold;
    expect(threshold('inboundDlqMessages')).toBe(3);
    expect(threshold('inboundOldestMessageAge')).toBe(120);
    expect(threshold('outboundOldestMessageAge')).toBe(300);
    expect(threshold('timerOldestMessageAge')).toBe(600);
    expect(threshold('webhook5xxRate')).toBe(20);
    expect(threshold('signatureRejects')).toBe(7);
    expect(threshold('tokenInvalid')).toBe(2);
    expect(threshold('sendFailureRateZalo')).toBe(25);
    expect(threshold('deliveryErrors')).toBe(4);
    expect(threshold('deliveryThrottles')).toBe(6);
    expect(threshold('mediaFailures')).toBe(9);
    const rate = alarms.get(`${PREFIX}-webhook5xxRate`)?.Metrics as MetricQuery[];
    expect(rate.find((m) => m.ReturnData !== false)?.Expression).toBe(
      'IF(requests >= 10, 100 * errors / requests, 0)',
    );
    const send = alarms.get(`${PREFIX}-sendFailureRateZalo`)?.Metrics as MetricQuery[];
    expect(send.find((m) => m.ReturnData !== false)?.Expression).toContain('>= 20');
    for (const [name, alarm] of alarms) {
      for (const q of alarm.Metrics as MetricQuery[]) {
        const period = q.MetricStat?.Period ?? q.Period;
        if (period !== undefined) expect(period, name).toBe(60);
      }
    }
  });

  it('limits per-channel alarms and widgets to the given channels and uses the given service names', () => {
    const f = fixture({
      channels: ['telegram', 'zalo'],
      serviceName: 'acme-relay',
      mediaServiceName: 'acme-media',
    });
    const names = Object.keys(f.monitoring.alarms).filter((k) => k.startsWith('sendFailureRate'));
    expect(names.sort()).toEqual(['sendFailureRateTelegram', 'sendFailureRateZalo']);
    const alarms = alarmsByName(f.template);
    const query = (key: string) =>
      (alarms.get(`${PREFIX}-${key}`)?.Metrics as MetricQuery[] | undefined)?.[0];
    expect(query('tokenInvalid')?.Expression).toContain("WHERE service = 'acme-relay'");
    expect(query('mediaFailures')?.Expression).toContain("WHERE service = 'acme-media'");
    const { raw } = dashboardBody(f.template);
    expect(raw).toContain('"channel","telegram"');
    expect(raw).not.toContain('"channel","pancake"');
    expect(raw).toContain('service=\\"acme-relay\\"');
  });

  it('creates no media alarm or widgets without media', () => {
    const f = fixture({}, { withMedia: false });
    expect(Object.keys(f.monitoring.alarms).filter((k) => /media/i.test(k))).toEqual([]);
    expect(titles(dashboardBody(f.template).widgets).filter((t) => /media/i.test(t))).toEqual([]);
  });

  it('names the dashboard and alarms from namePrefix when given', () => {
    const f = fixture({ namePrefix: 'shop-eu' });
    f.template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'shop-eu' });
    expect([...alarmsByName(f.template).keys()].every((n) => n.startsWith('shop-eu-'))).toBe(true);
  });

  it('rejects invalid settings with every problem listed', () => {
    expect(() =>
      fixture({
        alarmEmail: 'not-an-email',
        channels: ['telegram', 'icq' as never],
        namePrefix: 'bad prefix!',
        serviceName: "x'y",
        thresholds: {
          webhook5xxPercent: 0,
          sendFailurePercent: 150,
          dlqMessages: 0.5,
          period: Duration.seconds(30),
          oldestMessageAge: { nosuch: Duration.minutes(5) },
        },
      }),
    ).toThrowError(
      expect.objectContaining({
        name: 'ValidationError',
        constructPath: 'RelayProd/Monitoring',
        problems: expect.arrayContaining([
          expect.stringContaining('alarmEmail'),
          expect.stringContaining('channels must be among'),
          expect.stringContaining('namePrefix'),
          expect.stringContaining('serviceName'),
          expect.stringContaining('thresholds.webhook5xxPercent'),
          expect.stringContaining('thresholds.sendFailurePercent'),
          expect.stringContaining('thresholds.dlqMessages'),
          expect.stringContaining('thresholds.period'),
          expect.stringContaining('thresholds.oldestMessageAge.nosuch names no queue'),
        ]),
      }),
    );
  });
});

describe('dashboard', () => {
  let f: ReturnType<typeof fixture>;
  let body: ReturnType<typeof dashboardBody>;
  beforeAll(() => {
    f = fixture();
    body = dashboardBody(f.template);
  });

  it('is one dashboard named after the stack', () => {
    f.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    f.template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: PREFIX });
    expect(f.monitoring.dashboard.node.path).toContain('Monitoring');
  });

  it('opens with the status of every alarm and the answered-customers overview', () => {
    const status = body.widgets.find((w) => w.type === 'alarm');
    const arns = status?.properties.alarms as string[];
    expect(arns).toHaveLength(Object.keys(f.monitoring.alarms).length);
    for (const id of Object.keys(f.template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(arns).toContain(`<${id}.Arn>`);
    }
    const overview = body.widgets.find((w) => w.properties.title === 'Customers answered (all channels)');
    const expressions = JSON.stringify(overview?.properties.metrics);
    for (const name of ['MessagesEnqueued', 'TurnsFlushed', 'SendSucceeded', 'SendFailed', 'TurnsFailed']) {
      expect(expressions).toContain(`SELECT SUM(${name}) FROM SCHEMA`);
    }
  });

  it('draws the API requests, 4xx/5xx and latency from cdk-monitoring-constructs', () => {
    const api = body.raw;
    for (const metric of ['"Count"', '"4xx"', '"5xx"', '"Latency"']) {
      expect(api).toContain(`"AWS/ApiGateway",${metric}`);
    }
    expect(api).toContain(`"ApiId","<${f.ids.api}>"`);
  });

  it('has a widget for every issue-listed figure', () => {
    const t = titles(body.widgets);
    const expected = [
      'Webhook 5xx rate',
      'Received',
      'Messages enqueued',
      'Signatures rejected',
      'Handshakes failed',
      'Events ignored (by channel and reason)',
      'Turns flushed',
      'Messages per turn (average)',
      'Responder latency p50 / p99 (ms)',
      'Gate outcomes (by gate and outcome)',
      'Sends succeeded',
      'Sends failed (by channel and code)',
      'Token invalid',
      'Reply latency p50 / p99 (ms)',
      'Media jobs (by kind)',
      'Media duration p50 / p99 (ms)',
      'Media failures (by kind and code)',
      ...CHANNELS.map((c) => `Send failure rate ${c} (%)`),
    ];
    for (const title of expected)
      expect(
        t.some((x) => x.startsWith(title)),
        title,
      ).toBe(true);
  });

  it('draws depth and oldest-message age of every queue and dead-letter queue', () => {
    const t = titles(body.widgets);
    for (const key of ['inbound', 'timer', 'outbound', 'mediaJobs']) {
      expect(
        t.some((x) => x.startsWith(`${key}: messages visible / in flight`)),
        key,
      ).toBe(true);
      expect(
        t.some((x) => x.startsWith(`${key}: oldest message (s)`)),
        key,
      ).toBe(true);
      expect(
        t.some((x) => x.startsWith(`${key} DLQ: messages`)),
        key,
      ).toBe(true);
      expect(
        t.some((x) => x.startsWith(`${key} DLQ: oldest message (s)`)),
        key,
      ).toBe(true);
      expect(body.raw).toContain(`"QueueName","<${f.ids[key]}.QueueName>"`);
      expect(body.raw).toContain(`"QueueName","<${f.ids[`${key}Dlq`]}.QueueName>"`);
    }
  });

  it('draws errors, throttles, duration p99 and concurrency of every function', () => {
    const t = titles(body.widgets);
    for (const fn of ['webhook', 'conversation', 'timer', 'delivery']) {
      for (const suffix of ['errors', 'throttles', 'duration p99 (ms)', 'concurrency']) {
        expect(
          t.some((x) => x.startsWith(`${fn}: ${suffix}`)),
          `${fn}: ${suffix}`,
        ).toBe(true);
      }
      expect(body.raw).toContain(`"FunctionName","<${f.ids[`${fn}Fn`]}>"`);
    }
    expect(body.raw).toContain('"AWS/Lambda","ConcurrentExecutions"');
    expect(body.raw).toContain('"stat":"p99"');
  });

  it('draws DynamoDB throttles of every table', () => {
    for (const table of ['memory', 'own']) {
      expect(body.raw).toContain(`"TableName","<${f.ids[table]}>"`);
    }
    expect(body.raw).toMatch(/ThrottledRequests|ReadThrottleEvents|WriteThrottleEvents/);
  });

  it('breaks SendFailed down by channel and code with a SEARCH expression (codes are unknown at synth time)', () => {
    expect(body.raw).toContain(
      `SEARCH('{ChatRelay,channel,code,service} MetricName=\\"SendFailed\\" service=\\"chat-relay\\"', 'Sum', 300)`,
    );
    expect(body.raw).toContain(
      `SEARCH('{ChatRelay,gate,outcome,service} MetricName=\\"GateOutcome\\" service=\\"chat-relay\\"', 'Sum', 300)`,
    );
    expect(body.raw).toContain(
      `SEARCH('{ChatRelay,code,kind,service} MetricName=\\"MediaFailed\\" service=\\"chat-relay-media\\"', 'Sum', 300)`,
    );
  });

  it('draws each alarm threshold on the widget of its metric', () => {
    const widget = body.widgets.find((w) => w.properties.title === 'Webhook 5xx rate');
    const annotations = JSON.stringify(widget?.properties.annotations);
    expect(annotations).toContain('"value":5');
  });
});

describe('on a real ChatRelay', () => {
  it('monitors every ChatRelay resource and stays cdk-nag clean', () => {
    const app = testApp();
    const stack = new Stack(app, 'Shop', { env: TEST_ENV });
    // The relay builds its own monitoring by default; this checks the standalone construct on it.
    const relay = new ChatRelay(stack, 'Relay', {
      monitoring: { enabled: false },
      media: { enabled: false },
    });
    const monitoring = new ChatRelayMonitoring(stack, 'Monitoring', {
      api: relay.api,
      stage: relay.stage,
      functions: {
        webhook: relay.webhookFunction,
        conversation: relay.conversationFunction,
        timer: relay.timerFunction,
        delivery: relay.deliveryFunction,
      },
      queues: {
        inbound: { queue: relay.inboundQueue, dlq: relay.inboundDlq },
        timer: { queue: relay.timerQueue, dlq: relay.timerDlq },
        outbound: { queue: relay.outboundQueue, dlq: relay.outboundDlq },
      },
      tables: { memory: relay.memoryTable },
      serviceName: relay.serviceName,
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', Object.keys(monitoring.alarms).length);
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'Shop-chat-relay' });
    const stage = alarmsByName(template).get('Shop-chat-relay-webhook5xxRate')?.Metrics as MetricQuery[];
    expect(stage.find((m) => m.Id === 'requests')?.MetricStat?.Metric.Dimensions).toContainEqual({
      Name: 'Stage',
      Value: '$default',
    });
    expect(nagFindings(monitoring)).toEqual([]);
  });

  it('is built by ChatRelay by default, media included, with the alarm e-mail from its props', () => {
    const app = testApp();
    const stack = new Stack(app, 'Shop', { env: TEST_ENV });
    const relay = new ChatRelay(stack, 'Relay', { monitoring: { alarmEmail: 'ops@example.com' } });
    expect(relay.monitoring).toBeDefined();
    expect(relay.media).toBeDefined();
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    const names = [...alarmsByName(template).keys()];
    expect(names).toContain('Shop-chat-relay-mediaJobsDlqMessages');
    expect(names).toContain('Shop-chat-relay-inboundDlqMessages');
    expect(nagFindings(relay)).toEqual([]);
  });

  it('is left out with monitoring: { enabled: false }', () => {
    const stack = new Stack(testApp(), 'Shop', { env: TEST_ENV });
    const relay = new ChatRelay(stack, 'Relay', {
      monitoring: { enabled: false },
      media: { enabled: false },
    });
    expect(relay.monitoring).toBeUndefined();
    Template.fromStack(stack).resourceCountIs('AWS::CloudWatch::Alarm', 0);
  });
});

describe('ChatRelay metric methods', () => {
  let relay: ChatRelay;
  let stack: Stack;
  beforeAll(() => {
    stack = new Stack(testApp(), 'Metrics', { env: TEST_ENV });
    relay = new ChatRelay(stack, 'Relay', {
      media: { enabled: false },
      monitoring: { enabled: false },
      serviceName: 'shop-relay',
    });
  });

  it('gives one series of a catalogued metric with the relay service name and the channel', () => {
    const latency = relay.metricReplyLatency('messenger') as Metric;
    expect(latency.namespace).toBe('ChatRelay');
    expect(latency.metricName).toBe('ReplyLatency');
    expect(latency.statistic).toBe('p99');
    expect(latency.dimensions).toEqual({ channel: 'messenger', service: 'shop-relay' });
    expect(relay.metricSendFailed('pancake').toMetricConfig().metricStat?.metricName).toBe(
      'SendFailedByChannel',
    );
    expect((relay.metricTurnsFlushed('zalo') as Metric).dimensions).toEqual({
      channel: 'zalo',
      service: 'shop-relay',
    });
  });

  it('applies the CloudWatch MetricOptions given to a metric… method', () => {
    const latency = relay.metricReplyLatency('messenger', {
      statistic: 'p50',
      period: Duration.minutes(1),
      label: 'median',
    }) as Metric;
    expect(latency.statistic).toBe('p50');
    expect(latency.period.toMinutes()).toBe(1);
    expect(latency.label).toBe('median');
    const total = relay.metricTokenInvalid(undefined, { period: Duration.minutes(15), label: 'all' });
    expect(total.toMetricConfig().renderingProperties?.label).toBe('all');
    expect((total as MathExpression).period.toMinutes()).toBe(15);
  });

  it('adds up every channel with a Metrics Insights query when no channel is given', () => {
    const total = relay.metricTokenInvalid().toMetricConfig().mathExpression;
    expect(total?.expression).toContain('SUM(TokenInvalid)');
    expect(total?.expression).toContain("service = 'shop-relay'");
  });

  it('refuses a metric without all its dimensions, saying how to fix it', () => {
    expect(() => relay.metric('SendFailed', { dimensions: { channel: 'telegram' } })).toThrow(/missing code/);
  });

  it('points queue metrics at the relay queues', () => {
    const depth = relay.metricDlqDepth(DlqName.INBOUND) as Metric;
    expect(depth.namespace).toBe('AWS/SQS');
    expect(depth.metricName).toBe('ApproximateNumberOfMessagesVisible');
    expect(stack.resolve(depth.dimensions?.QueueName)).toEqual({
      'Fn::GetAtt': [logicalId(stack, relay.inboundDlq), 'QueueName'],
    });
    expect(relay.metricOldestMessageAge(DlqName.OUTBOUND).metricName).toBe('ApproximateAgeOfOldestMessage');
    expect(() => relay.metricDlqDepth(DlqName.MEDIA_JOBS)).toThrow(
      /at Metrics\/Relay .*metricDlqDepth\(DlqName.MEDIA_JOBS\) needs the media worker/s,
    );
  });
});

describe('ChatRelay monitoring settings', () => {
  it('reports monitoring problems together with the relay props, each with its fix', () => {
    const stack = new Stack(testApp(), 'Bad', { env: TEST_ENV });
    let message = '';
    try {
      new ChatRelay(stack, 'Relay', {
        debounceMs: -1,
        media: { enabled: false },
        monitoring: { alarmEmail: 'nope', thresholds: { dlqMessages: 0 } },
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n')[0]).toBe('Invalid ChatRelay props at Bad/Relay (3 problems):');
    expect(message).toContain('debounceMs must be between 0 and 900000');
    expect(message).toContain(
      'monitoring.alarmEmail must be an email address; got "nope". Set it to an address such as ops@example.com, or leave it out.',
    );
    expect(message).toContain(
      'monitoring.thresholds.dlqMessages must be a whole number of at least 1; got 0. Set thresholds.dlqMessages to 1 or more, or leave it out for the default (1).',
    );
  });

  it('names the dashboards and alarms of two relays in one stack apart', () => {
    const app = testApp();
    const stack = new Stack(app, 'Shop', { env: TEST_ENV });
    const first = new ChatRelay(stack, 'Relay', { media: { enabled: false } });
    const second = new ChatRelay(stack, 'ShopRelay', { media: { enabled: false } });
    expect(first.monitoring?.namePrefix).toBe('Shop-chat-relay');
    expect(second.monitoring?.namePrefix).toBe('Shop-ShopRelay-chat-relay');
    const template = Template.fromStack(stack);
    const names = Object.values(template.findResources('AWS::CloudWatch::Dashboard')).map(
      (d) => (d as CfnResourceJson).Properties.DashboardName,
    );
    expect(names.sort()).toEqual(['Shop-ShopRelay-chat-relay', 'Shop-chat-relay']);
    const alarmNames = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
      (a) => (a as CfnResourceJson).Properties.AlarmName,
    );
    expect(new Set(alarmNames).size).toBe(alarmNames.length);
  });
});

describe('ChatRelayMonitoring per-tenant section', () => {
  it('queries the functions’ own log groups with Logs Insights, with no per-tenant metric', () => {
    const f = fixture();
    const { widgets, raw } = dashboardBody(f.template);
    const logWidgets = widgets.filter((w) => w.type === 'log');
    expect(titles(logWidgets)).toEqual([
      'Messages received by tenant',
      'Turns answered and responder latency (ms) by tenant',
      'Reply parts delivered by tenant',
      'Failures by tenant (ERROR and WARN lines)',
    ]);
    const query = (title: string) =>
      String(logWidgets.find((w) => w.properties.title === title)?.properties.query ?? '');
    // Each query names its source log groups (SOURCE '<group>') and groups by the logged `tenant`.
    expect(query('Messages received by tenant')).toMatch(/SOURCE '.*WebhookLogGroup.*'[\s\S]*by tenant/);
    expect(query('Messages received by tenant')).not.toContain('ConversationLogGroup');
    expect(query('Failures by tenant (ERROR and WARN lines)').match(/SOURCE '/g)).toHaveLength(4);
    for (const w of logWidgets) expect(String(w.properties.query)).toContain('by tenant');
    expect(raw).not.toMatch(/"tenant(Id)?","/);
  });
});
