import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

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

let stdout: string[];
let stderr: string[];

beforeEach(() => {
  // The suite runs with metrics disabled; this one reads the EMF a Lambda would print.
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.stubEnv('POWERTOOLS_DEV', 'false');
  vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', '');
  vi.stubEnv('POWERTOOLS_SERVICE_NAME', '');
  vi.resetModules();
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

function documents(): EmfDocument[] {
  return stdout
    .join('')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as EmfDocument);
}

describe('emitMetric', () => {
  it('writes one correct EMF line per record and no duplicate-dimension warning when a batch repeats a metric', async () => {
    const { emitMetric } = await import('../../../lambdas/shared/powertools.js');
    // One delivery invocation of five records, all on the same channel.
    for (let record = 0; record < 5; record += 1) {
      emitMetric('SendSucceeded', 1, { channel: 'telegram' });
      emitMetric('ReplyLatency', 100 + record, { channel: 'telegram' });
      emitMetric('SendFailed', 1, { channel: 'telegram', code: 'RATE_LIMITED' });
    }

    expect(stderr.join('')).toBe('');
    const docs = documents();
    expect(docs).toHaveLength(15);
    for (let record = 0; record < 5; record += 1) {
      const [succeeded, latency, failed] = docs.slice(record * 3, record * 3 + 3);
      expect(succeeded!._aws.CloudWatchMetrics).toEqual([
        {
          Namespace: 'ChatRelay',
          Dimensions: [['service', 'channel']],
          Metrics: [{ Name: 'SendSucceeded', Unit: 'Count' }],
        },
      ]);
      expect(succeeded).toMatchObject({ service: 'chat-relay', channel: 'telegram', SendSucceeded: 1 });
      expect(latency!._aws.CloudWatchMetrics[0]!.Metrics).toEqual([
        { Name: 'ReplyLatency', Unit: 'Milliseconds' },
      ]);
      expect(latency).toMatchObject({ channel: 'telegram', ReplyLatency: 100 + record });
      expect(failed!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'channel', 'code']]);
      expect(failed).toMatchObject({ channel: 'telegram', code: 'RATE_LIMITED', SendFailed: 1 });
    }
  });

  it('drops a dimension the catalogue does not list for the metric', async () => {
    const { emitMetric } = await import('../../../lambdas/shared/powertools.js');
    emitMetric('SendSucceeded', 1, { channel: 'zalo', tenant: 't-1' });
    emitMetric('SendSucceeded', 1, { channel: 'zalo', tenant: 't-2' });
    const docs = documents();
    expect(docs.map((d) => d._aws.CloudWatchMetrics[0]!.Dimensions)).toEqual([
      [['service', 'channel']],
      [['service', 'channel']],
    ]);
    expect(docs.some((d) => 'tenant' in d)).toBe(false);
    expect(stderr.join('')).toBe('');
  });
});
