import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Alarm, ComparisonOperator } from 'aws-cdk-lib/aws-cloudwatch';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Cluster, ContainerImage } from 'aws-cdk-lib/aws-ecs';
import { QueueProcessingFargateService } from 'aws-cdk-lib/aws-ecs-patterns';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { ChatRelayMonitoringError } from '../../lib/errors.js';
import {
  ChatRelayMonitoring,
  chatRelayMetric,
  chatRelayMetricSearch,
  chatRelayMetricTotal,
  defaultStatistic,
  MetricsInsightsFunction,
  serviceOf,
} from '../../lib/monitoring/index.js';
import { TEST_ENV, testApp } from './synth.js';

describe('chatRelayMetric', () => {
  it('names one series with every catalogued dimension plus service', () => {
    const m = chatRelayMetric('SendFailed', { dimensions: { channel: 'zalo', code: '-216' } });
    expect(m.namespace).toBe('ChatRelay');
    expect(m.metricName).toBe('SendFailed');
    expect(m.dimensions).toEqual({ channel: 'zalo', code: '-216', service: 'chat-relay' });
    expect(m.statistic).toBe('Sum');
    expect(m.period.toSeconds()).toBe(300);
  });

  it('defaults counts to Sum, durations to Average and media metrics to the media service', () => {
    expect(defaultStatistic('MessagesEnqueued')).toBe('Sum');
    expect(defaultStatistic('ReplyLatency')).toBe('Average');
    expect(serviceOf('MediaDuration')).toBe('chat-relay-media');
    expect(serviceOf('TurnsFlushed', { lambda: 'acme' })).toBe('acme');
    const m = chatRelayMetric('MediaDuration', {
      dimensions: { kind: 'audio' },
      statistic: 'p99',
      period: Duration.minutes(1),
    });
    expect(m.dimensions).toEqual({ kind: 'audio', service: 'chat-relay-media' });
    expect(m.statistic).toBe('p99');
    expect(m.period.toSeconds()).toBe(60);
  });

  it('refuses a missing or unknown dimension, pointing to chatRelayMetricTotal', () => {
    expect(() => chatRelayMetric('SendFailed', { dimensions: { channel: 'zalo' } })).toThrow(
      /missing code.*chatRelayMetricTotal\('SendFailed'\)/s,
    );
    expect(() => chatRelayMetric('TokenInvalid', { dimensions: { channel: 'zalo', page: '1' } })).toThrow(
      /no dimension page/,
    );
    expect(() => chatRelayMetric('Nope' as never)).toThrow(ChatRelayMonitoringError);
  });
});

describe('chatRelayMetricTotal and chatRelayMetricSearch', () => {
  it('adds up every series with a Metrics Insights query, optionally filtered', () => {
    const all = chatRelayMetricTotal('SendFailed');
    expect(all.expression).toBe(
      `SELECT SUM(SendFailed) FROM SCHEMA("ChatRelay", channel, code, service) WHERE service = 'chat-relay'`,
    );
    const one = chatRelayMetricTotal('SendFailed', {
      where: { channel: 'telegram' },
      aggregate: MetricsInsightsFunction.MAX,
      service: 'acme',
    });
    expect(one.expression).toBe(
      `SELECT MAX(SendFailed) FROM SCHEMA("ChatRelay", channel, code, service) WHERE service = 'acme' AND channel = 'telegram'`,
    );
    expect(() => chatRelayMetricTotal('SendFailed', { where: { channel: "x' OR 1=1" } })).toThrow(
      /no quotes/,
    );
    expect(() => chatRelayMetricTotal('SendFailed', { where: { page: 'x' } })).toThrow(/no dimension page/);
  });

  it('can be alarmed on: CDK renders the query with its period', () => {
    const stack = new Stack(testApp(), 'S', { env: TEST_ENV });
    new Alarm(stack, 'A', {
      metric: chatRelayMetricTotal('TokenInvalid', { period: Duration.minutes(1) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: [
        {
          Expression: `SELECT SUM(TokenInvalid) FROM SCHEMA("ChatRelay", channel, service) WHERE service = 'chat-relay'`,
          Period: 60,
          ReturnData: true,
        },
      ],
    });
  });

  it('draws one line per dimension value with a SEARCH expression', () => {
    const s = chatRelayMetricSearch('GateOutcome', { statistic: 'Sum', where: { outcome: 'fallback' } });
    expect(s.expression).toBe(
      `SEARCH('{ChatRelay,gate,outcome,service} MetricName="GateOutcome" service="chat-relay" outcome="fallback"', 'Sum', 300)`,
    );
    expect(s.period.toSeconds()).toBe(300);
  });
});

describe('ChatRelayMonitoring with the media worker', () => {
  it('draws the Fargate worker of a queue-processing service and alarms on its queues', () => {
    const stack = new Stack(testApp(), 'MediaStack', { env: TEST_ENV });
    const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
    const jobsDlq = new Queue(stack, 'JobsDlq');
    const jobsQueue = new Queue(stack, 'JobsQueue', {
      deadLetterQueue: { queue: jobsDlq, maxReceiveCount: 3 },
    });
    const service = new QueueProcessingFargateService(stack, 'Worker', {
      cluster: new Cluster(stack, 'Cluster', { vpc }),
      image: ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest'),
      queue: jobsQueue,
      memoryLimitMiB: 512,
    });
    const monitoring = new ChatRelayMonitoring(stack, 'Monitoring', {
      api: new HttpApi(stack, 'Api'),
      functions: {},
      queues: {},
      tables: {},
      media: { service: service.service, jobsQueue, jobsDlq },
      thresholds: { oldestMessageAge: { mediaJobs: Duration.minutes(15) } },
    });
    expect(Object.keys(monitoring.alarms).sort()).toEqual(
      [
        'mediaFailures',
        'mediaJobsDlqMessages',
        'mediaJobsOldestMessageAge',
        'signatureRejects',
        'tokenInvalid',
        'zaloTokenRefreshFailed',
        'webhook4xxRate',
        'webhook5xxRate',
        ...['Pancake', 'Messenger', 'Instagram', 'Whatsapp', 'Telegram', 'Zalo'].map(
          (c) => `sendFailureRate${c}`,
        ),
      ].sort(),
    );
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'MediaStack-chat-relay-mediaJobsOldestMessageAge',
      Threshold: 900,
    });
    const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(body).toContain('AWS/ECS');
    expect(body).toContain('CPUUtilization');
    expect(body).toContain('Media worker');
  });
});
