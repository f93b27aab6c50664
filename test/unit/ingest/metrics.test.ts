import { Metrics } from '@aws-lambda-powertools/metrics';
import { describe, expect, it } from 'vitest';
import { batchedMetricSink, flushMetrics } from '../../../lambdas/ingest/metrics.js';

describe('webhook metric batching', () => {
  it('puts channel-only metrics of a request into one EMF document with the channel dimension', () => {
    const metrics = new Metrics({ namespace: 'ChatRelay', serviceName: 'chat-relay' });
    const direct: string[] = [];
    const sink = batchedMetricSink(metrics, (name) => direct.push(name));
    sink('WebhookReceived', 1, { channel: 'telegram' });
    sink('MessagesEnqueued', 3, { channel: 'telegram' });
    const emf = metrics.serializeMetrics();
    const directive = emf._aws.CloudWatchMetrics[0]!;
    expect(directive.Namespace).toBe('ChatRelay');
    expect(directive.Dimensions).toEqual([['service', 'channel']]);
    expect(directive.Metrics.map((m) => [m.Name, m.Unit])).toEqual([
      ['WebhookReceived', 'Count'],
      ['MessagesEnqueued', 'Count'],
    ]);
    expect(emf).toMatchObject({ channel: 'telegram', WebhookReceived: 1, MessagesEnqueued: 3 });
    expect(direct).toEqual([]);
  });

  it('sends metrics with a reason dimension through their own document', () => {
    const metrics = new Metrics({ namespace: 'ChatRelay', serviceName: 'chat-relay' });
    const direct: [string, Record<string, string>][] = [];
    const sink = batchedMetricSink(metrics, (name, _value, dims) => direct.push([name, dims]));
    sink('EventsIgnored', 2, { channel: 'messenger', reason: 'echo' });
    sink('WebhookRejected', 1, { channel: 'messenger', reason: 'too-large' });
    expect(direct).toEqual([
      ['EventsIgnored', { channel: 'messenger', reason: 'echo' }],
      ['WebhookRejected', { channel: 'messenger', reason: 'too-large' }],
    ]);
    expect(metrics.hasStoredMetrics()).toBe(false);
  });

  it('clears the stored metrics and dimensions on flush', () => {
    const metrics = new Metrics({ namespace: 'ChatRelay', serviceName: 'chat-relay' });
    const sink = batchedMetricSink(metrics, () => {});
    sink('WebhookReceived', 1, { channel: 'zalo' });
    flushMetrics(metrics);
    expect(metrics.hasStoredMetrics()).toBe(false);
    sink('WebhookReceived', 1, { channel: 'pancake' });
    expect(metrics.serializeMetrics()).toMatchObject({ channel: 'pancake' });
  });

  it('adds the channel dimension once per document, so Powertools never warns about a duplicate', () => {
    const warnings: string[] = [];
    const logger = {
      warn: (message: string) => warnings.push(message),
      debug: () => {},
      info: () => {},
      error: () => {},
    };
    const metrics = new Metrics({ namespace: 'ChatRelay', serviceName: 'chat-relay', logger } as never);
    const sink = batchedMetricSink(metrics, () => {});
    sink('WebhookReceived', 1, { channel: 'messenger' });
    sink('MessagesEnqueued', 2, { channel: 'messenger' });
    sink('EnqueueFailed', 0, { channel: 'messenger' });
    flushMetrics(metrics);
    sink('WebhookReceived', 1, { channel: 'messenger' });
    expect(metrics.serializeMetrics()).toMatchObject({ channel: 'messenger', WebhookReceived: 1 });
    expect(warnings.filter((m) => m.includes('already been added'))).toEqual([]);
  });
});
