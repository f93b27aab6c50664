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
          // No Unit: CloudWatch records None, and the relay's alarms name no unit.
          Metrics: [{ Name: 'SendSucceeded' }],
        },
      ]);
      expect(succeeded).toMatchObject({ service: 'chat-relay', channel: 'telegram', SendSucceeded: 1 });
      expect(latency!._aws.CloudWatchMetrics[0]!.Metrics).toEqual([{ Name: 'ReplyLatency' }]);
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

describe('withMetrics', () => {
  it("publishes an invocation's metrics at its end in one EMF document, one directive per dimension combination", async () => {
    const { emitMetric, withMetrics } = await import('../../../lambdas/shared/powertools.js');
    const invocation = withMetrics(async () => {
      for (let record = 0; record < 5; record += 1) {
        emitMetric('SendSucceeded', 1, { channel: 'telegram' });
        emitMetric('ReplyLatency', 100 + record, { channel: 'telegram' });
        emitMetric('SendFailed', 1, { channel: 'telegram', code: 'RATE_LIMITED' });
      }
      expect(stdout.join('')).toBe('');
      return 'done';
    });
    expect(await invocation(undefined, undefined)).toBe('done');
    expect(stderr.join('')).toBe('');
    const docs = documents();
    expect(docs).toHaveLength(1);
    expect(docs[0]!._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'ChatRelay',
        Dimensions: [['service', 'channel']],
        Metrics: [{ Name: 'SendSucceeded' }, { Name: 'ReplyLatency' }],
      },
      {
        Namespace: 'ChatRelay',
        Dimensions: [['service', 'channel', 'code']],
        Metrics: [{ Name: 'SendFailed' }],
      },
    ]);
    expect(docs[0]).toMatchObject({
      service: 'chat-relay',
      channel: 'telegram',
      code: 'RATE_LIMITED',
      SendSucceeded: [1, 1, 1, 1, 1],
      ReplyLatency: [100, 101, 102, 103, 104],
      SendFailed: [1, 1, 1, 1, 1],
    });
  });

  it('keeps dimension combinations whose values disagree in documents of their own', async () => {
    const { emitMetric, withMetrics } = await import('../../../lambdas/shared/powertools.js');
    await withMetrics(async () => {
      emitMetric('GateOutcome', 1, { gate: 'non-empty', outcome: 'pass' });
      emitMetric('GateOutcome', 1, { gate: 'no-leak', outcome: 'fail' });
      emitMetric('TurnsFlushed', 1, { channel: 'zalo' });
      emitMetric('ResponderLatency', 40, { responder: 'echo' });
    })(undefined, undefined);
    const docs = documents();
    expect(docs.map((d) => [d.gate, d.outcome, d.GateOutcome, d.channel, d.responder])).toEqual([
      ['non-empty', 'pass', 1, 'zalo', 'echo'],
      ['no-leak', 'fail', 1, undefined, undefined],
    ]);
    expect(docs[0]!._aws.CloudWatchMetrics.map((d) => d.Dimensions)).toEqual([
      [['service', 'gate', 'outcome']],
      [['service', 'channel']],
      [['service', 'responder']],
    ]);
  });

  it("writes an invocation's summary on its EMF document, or apart when their keys disagree", async () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
    const { emitMetric, logSummary, withMetrics } = await import('../../../lambdas/shared/powertools.js');
    await withMetrics(async () => {
      emitMetric('WebhookReceived', 1, { channel: 'zalo' });
      logSummary('Webhook accepted', { channel: 'zalo', conversation: 'c1', messageId: 'm1' });
      logSummary('Second record', { channel: 'zalo', messageId: 'm2' });
    })(undefined, undefined);
    const lines = stdout
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    const onDocument = lines.find((l) => '_aws' in l);
    expect(onDocument).toMatchObject({
      message: 'Webhook accepted',
      channel: 'zalo',
      conversation: 'c1',
      messageId: 'm1',
      WebhookReceived: 1,
    });
    // No level on a metrics document: Lambda's log filter takes a line without one as INFO.
    expect(onDocument).not.toHaveProperty('level');
    expect(lines.find((l) => !('_aws' in l))).toMatchObject({
      level: 'INFO',
      message: 'Second record',
      messageId: 'm2',
    });
  });

  it("puts the logger's summary on the invocation's EMF document, as logSummary does", async () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
    const { emitMetric, logger, withMetrics } = await import('../../../lambdas/shared/powertools.js');
    await withMetrics(async () => {
      emitMetric('TurnsFlushed', 1, { channel: 'zalo' });
      logger.summary('Turn answered', { tenant: 'acme', channel: 'zalo', messages: 2, ms: 40 });
    })(undefined, undefined);
    const docs = documents() as unknown as Record<string, unknown>[];
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({
      message: 'Turn answered',
      tenant: 'acme',
      channel: 'zalo',
      messages: 2,
      ms: 40,
      TurnsFlushed: 1,
    });
  });

  it('writes no summary at WARN, and the metrics still', async () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'WARN');
    const { emitMetric, logSummary, withMetrics } = await import('../../../lambdas/shared/powertools.js');
    await withMetrics(async () => {
      emitMetric('WebhookReceived', 1, { channel: 'zalo' });
      logSummary('Webhook accepted', { channel: 'zalo' });
    })(undefined, undefined);
    const docs = documents();
    expect(docs).toHaveLength(1);
    expect(docs[0]).not.toHaveProperty('message');
    expect(docs[0]).toMatchObject({ WebhookReceived: 1 });
  });

  it('keeps invocations in flight together apart and never warns', async () => {
    const { emitMetric, withMetrics } = await import('../../../lambdas/shared/powertools.js');
    const run = (channel: string, gate: () => Promise<void>) =>
      withMetrics(async () => {
        emitMetric('SendSucceeded', 1, { channel });
        await gate();
        emitMetric('SendSucceeded', 1, { channel });
      })(undefined, undefined);
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const first = run('zalo', () => held);
    const second = run('telegram', async () => {});
    await second;
    release();
    await first;
    expect(stderr.join('')).toBe('');
    const docs = documents();
    expect(docs.map((d) => [d.channel, d.SendSucceeded])).toEqual([
      ['telegram', [1, 1]],
      ['zalo', [1, 1]],
    ]);
  });

  it('publishes a metric emitted after its invocation ended at once', async () => {
    const { emitMetric, withMetrics } = await import('../../../lambdas/shared/powertools.js');
    let late: () => void = () => {};
    await withMetrics(async () => {
      late = () => emitMetric('SendSucceeded', 1, { channel: 'zalo' });
    })(undefined, undefined);
    expect(documents()).toHaveLength(0);
    late();
    expect(documents().map((d) => d.SendSucceeded)).toEqual([1]);
  });
});

describe('log lines', () => {
  const context = {
    awsRequestId: 'req-1',
    functionName: 'chat-relay-delivery',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:chat-relay-delivery',
    memoryLimitInMB: '256',
    functionVersion: '$LATEST',
  } as Parameters<import('@aws-lambda-powertools/logger').Logger['addContext']>[0];

  const lines = (): Record<string, unknown>[] =>
    [...stdout, ...stderr]
      .join('')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('writes INFO lines with the level, the message and the keys only', async () => {
    vi.stubEnv('AWS_LAMBDA_LOG_FORMAT', 'JSON');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
    const { logger } = await import('../../../lambdas/shared/powertools.js');
    logger.addContext(context);
    logger.info('Reply part delivered', { tenant: 'acme', messageId: 'r1' });
    expect(lines()).toEqual([
      { level: 'INFO', message: 'Reply part delivered', tenant: 'acme', messageId: 'r1' },
    ]);
  });

  it('adds the request id, cold start, function and service to WARN and ERROR lines', async () => {
    vi.stubEnv('AWS_LAMBDA_LOG_FORMAT', 'JSON');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
    const { logger } = await import('../../../lambdas/shared/powertools.js');
    logger.addContext(context);
    logger.warn('Send retried', { tenant: 'acme' });
    expect(lines()[0]).toMatchObject({
      level: 'WARN',
      message: 'Send retried',
      requestId: 'req-1',
      function: 'chat-relay-delivery',
      service: 'chat-relay',
      tenant: 'acme',
    });
    expect(lines()[0]).not.toHaveProperty('timestamp');
  });

  it("stamps lines with a timestamp outside Lambda's JSON log format", async () => {
    vi.stubEnv('AWS_LAMBDA_LOG_FORMAT', '');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
    const { logger } = await import('../../../lambdas/shared/powertools.js');
    logger.info('Webhook accepted');
    expect(lines()[0]).toMatchObject({ level: 'INFO', message: 'Webhook accepted' });
    expect(typeof lines()[0]!.timestamp).toBe('string');
  });
});

describe('disabled metrics', () => {
  it('follows POWERTOOLS_METRICS_DISABLED when it is set after the module loaded', async () => {
    const { emitMetric, withMetrics } = await import('../../../lambdas/shared/powertools.js');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    emitMetric('SendSucceeded', 1, { channel: 'zalo' });
    await withMetrics(async () => emitMetric('SendSucceeded', 1, { channel: 'zalo' }))(undefined, undefined);
    expect(stdout.join('')).toBe('');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    emitMetric('SendSucceeded', 1, { channel: 'zalo' });
    expect(documents()).toHaveLength(1);
  });
});
