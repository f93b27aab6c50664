import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { batchedMetrics } from '../../../lambdas/ingest/metrics.js';

interface EmfDocument {
  _aws: {
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

/** Everything Powertools writes (EMF on stdout, its warnings on stderr), captured per test. */
let stdout: string[];
let stderr: string[];

beforeEach(() => {
  // The suite runs with metrics disabled; these tests read the EMF Powertools would print.
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.stubEnv('POWERTOOLS_DEV', 'false');
  stdout = [];
  stderr = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

function newMetrics(): Metrics {
  return new Metrics({ namespace: 'ChatRelay', serviceName: 'chat-relay' });
}

function documents(): EmfDocument[] {
  return stdout
    .join('')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as EmfDocument);
}

describe('webhook metric batching', () => {
  it('puts channel-only metrics of a request into one EMF document with the channel dimension', () => {
    const direct: string[] = [];
    const batch = batchedMetrics(newMetrics(), (name) => direct.push(name));
    batch.metric('WebhookReceived', 1, { channel: 'telegram' });
    batch.metric('MessagesEnqueued', 3, { channel: 'telegram' });
    expect(stdout).toEqual([]);
    batch.flush();
    const docs = documents();
    expect(docs).toHaveLength(1);
    const directive = docs[0]!._aws.CloudWatchMetrics[0]!;
    expect(directive.Namespace).toBe('ChatRelay');
    expect(directive.Dimensions).toEqual([['service', 'channel']]);
    expect(directive.Metrics.map((m) => [m.Name, m.Unit])).toEqual([
      ['WebhookReceived', 'Count'],
      ['MessagesEnqueued', 'Count'],
    ]);
    expect(docs[0]).toMatchObject({
      service: 'chat-relay',
      channel: 'telegram',
      WebhookReceived: 1,
      MessagesEnqueued: 3,
    });
    expect(direct).toEqual([]);
  });

  it('sends metrics with a reason dimension through their own document', () => {
    const metrics = newMetrics();
    const direct: [string, Record<string, string>][] = [];
    const batch = batchedMetrics(metrics, (name, _value, dims) => direct.push([name, dims]));
    batch.metric('EventsIgnored', 2, { channel: 'messenger', reason: 'echo' });
    batch.metric('WebhookRejected', 1, { channel: 'messenger', reason: 'too-large' });
    expect(direct).toEqual([
      ['EventsIgnored', { channel: 'messenger', reason: 'echo' }],
      ['WebhookRejected', { channel: 'messenger', reason: 'too-large' }],
    ]);
    batch.flush();
    expect(stdout).toEqual([]);
    expect(metrics.hasStoredMetrics()).toBe(false);
  });

  it('publishes nothing and warns nothing when a request counted no channel metric', () => {
    const batch = batchedMetrics(newMetrics(), () => {});
    batch.flush();
    expect(stdout).toEqual([]);
    expect(stderr).toEqual([]);
  });

  it('starts each request from an empty document once the previous one was flushed', () => {
    const metrics = newMetrics();
    const batch = batchedMetrics(metrics, () => {});
    batch.metric('WebhookReceived', 1, { channel: 'zalo' });
    batch.flush();
    batch.metric('WebhookReceived', 1, { channel: 'pancake' });
    batch.flush();
    expect(metrics.hasStoredMetrics()).toBe(false);
    expect(documents().map((d) => [d.channel, d.WebhookReceived])).toEqual([
      ['zalo', 1],
      ['pancake', 1],
    ]);
    expect(stderr.join('')).not.toContain('already been added');
  });

  it('keeps channels apart and never warns when requests of several channels are in flight at once', () => {
    // The local stack runs one webhook module for every request: their metric calls interleave.
    const batch = batchedMetrics(newMetrics(), () => {});
    for (let i = 0; i < 20; i += 1) {
      batch.metric('WebhookReceived', 1, { channel: 'telegram' });
      batch.metric('WebhookReceived', 1, { channel: 'messenger' });
      batch.metric('MessagesEnqueued', 1, { channel: 'telegram' });
      // Every other request ends here; the others end at the next flush.
      if (i % 2 === 1) batch.flush();
      batch.metric('MessagesEnqueued', 2, { channel: 'messenger' });
    }
    batch.flush();

    expect(stderr.join('')).not.toContain('already been added');
    const totals = new Map<string, number>();
    for (const doc of documents()) {
      expect(doc._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'channel']]);
      for (const { Name } of doc._aws.CloudWatchMetrics[0]!.Metrics) {
        const values = doc[Name] as number | number[];
        const sum = Array.isArray(values) ? values.reduce((a, b) => a + b, 0) : values;
        const key = `${String(doc.channel)}/${Name}`;
        totals.set(key, (totals.get(key) ?? 0) + sum);
      }
    }
    expect(Object.fromEntries(totals)).toEqual({
      'telegram/WebhookReceived': 20,
      'telegram/MessagesEnqueued': 20,
      'messenger/WebhookReceived': 20,
      'messenger/MessagesEnqueued': 40,
    });
  });
});
