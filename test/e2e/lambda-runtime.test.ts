/**
 * The local stack's stand-ins for AWS's managed glue, checked against the emulators: the SQS
 * event source mapping (record shape, FIFO group order, partial batch failures, visibility
 * timeouts, redrive to the DLQ) and API Gateway's HTTP API v2 event and response mapping.
 */
import { createHash } from 'node:crypto';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromApiGatewayResult, isTextContentType, toApiGatewayEvent } from '../../bin/local/api-gateway.js';
import { parseLocalConfig } from '../../bin/local/config.js';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { failedRecordIds, type SqsHandler, splitBatch, startSqsPoller } from '../../bin/local/sqs-poller.js';
import { handlerEnvironment } from '../../bin/local/stack.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let emulators: Emulators;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fn = { name: 'test-fn', timeoutMs: 5000 };

beforeAll(async () => {
  emulators = await startEmulators({
    prefix: 'rt',
    visibilityTimeoutSeconds: { inbound: 1, timer: 1 },
    maxReceiveCount: { inbound: 2, timer: 2 },
  });
});

afterAll(async () => {
  await emulators?.stop();
});

// Caps only a hang reaches (the test timeout is 60 s); nothing here asserts how long anything took.
async function until(check: () => boolean, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

async function sendFifo(group: string, bodies: string[], attributes = false): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    await emulators.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: emulators.queues.inbound.url,
        Entries: bodies.slice(i, i + 10).map((body, j) => ({
          Id: String(j),
          MessageBody: body,
          MessageGroupId: group,
          MessageDeduplicationId: createHash('sha256').update(`${group}:${body}`).digest('hex'),
          ...(attributes
            ? { MessageAttributes: { origin: { DataType: 'String', StringValue: 'test' } } }
            : {}),
        })),
      }),
    );
  }
}

function poller(handler: SqsHandler, concurrency = 1) {
  return startSqsPoller({
    sqs: emulators.sqs,
    queueUrl: emulators.queues.inbound.url,
    queueArn: emulators.queues.inbound.arn,
    region: emulators.region,
    fn,
    handler,
    concurrency,
    waitTimeSeconds: 1,
  });
}

describe('the SQS event source stand-in', () => {
  it('hands the handler records shaped exactly as Lambda builds them, with a Lambda context', async () => {
    const events: { event: SQSEvent; context: Context; remaining: number }[] = [];
    const p = poller(async (event, context) => {
      events.push({ event, context, remaining: context.getRemainingTimeInMillis() });
      return { batchItemFailures: [] };
    });
    await sendFifo('shape', ['{"n":1}'], true);
    await until(() => events.length > 0);
    await p.stop();
    const { event, context, remaining } = events[0]!;
    const record = event.Records[0]!;
    expect(record.body).toBe('{"n":1}');
    expect(record.eventSource).toBe('aws:sqs');
    expect(record.eventSourceARN).toBe(emulators.queues.inbound.arn);
    expect(record.awsRegion).toBe(emulators.region);
    expect(record.md5OfBody).toBe(createHash('md5').update('{"n":1}').digest('hex'));
    expect(record.receiptHandle).not.toBe('');
    expect(record.attributes.MessageGroupId).toBe('shape');
    expect(record.attributes.ApproximateReceiveCount).toBe('1');
    expect(record.attributes.SequenceNumber).toMatch(/^\d+$/);
    expect(Number(record.attributes.SentTimestamp)).toBeGreaterThan(Date.now() - 60_000);
    expect(record.attributes.MessageDeduplicationId).toMatch(/^[0-9a-f]{64}$/);
    expect(record.messageAttributes.origin).toMatchObject({ dataType: 'String', stringValue: 'test' });
    expect(context.functionName).toBe('test-fn');
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(5000);
  });

  it('keeps each message group in order and never runs two batches of one group at once', async () => {
    const seen = new Map<string, number[]>();
    const active = new Set<string>();
    let overlaps = 0;
    const p = poller(async (event) => {
      const groups = new Set(event.Records.map((r) => r.attributes.MessageGroupId!));
      for (const g of groups) {
        if (active.has(g)) overlaps += 1;
        active.add(g);
      }
      await sleep(15);
      for (const r of event.Records) {
        const { g, n } = JSON.parse(r.body) as { g: string; n: number };
        seen.set(g, [...(seen.get(g) ?? []), n]);
      }
      for (const g of groups) active.delete(g);
      return undefined;
    }, 3);
    const groups = ['order-a', 'order-b', 'order-c', 'order-d'];
    await Promise.all(
      groups.map((g) =>
        sendFifo(
          g,
          Array.from({ length: 8 }, (_, n) => JSON.stringify({ g, n })),
        ),
      ),
    );
    await until(() => groups.every((g) => (seen.get(g)?.length ?? 0) >= 8));
    await p.stop();
    for (const g of groups) expect(seen.get(g), g).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(overlaps).toBe(0);
  });

  it('keeps one receive outstanding whatever its concurrency, and runs batches of different groups at once', async () => {
    // Several long polls would all be woken by each send and all but one come back empty.
    let receiving = 0;
    let maxReceiving = 0;
    const counting = {
      send: async (command: unknown, options?: unknown) => {
        const isReceive = command instanceof ReceiveMessageCommand;
        if (isReceive) {
          receiving += 1;
          maxReceiving = Math.max(maxReceiving, receiving);
        }
        try {
          return await emulators.sqs.send(command as never, options as never);
        } finally {
          if (isReceive) receiving -= 1;
        }
      },
    } as unknown as typeof emulators.sqs;
    let running = 0;
    let maxRunning = 0;
    const release: (() => void)[] = [];
    const bodies: string[] = [];
    const p = startSqsPoller({
      sqs: counting,
      queueUrl: emulators.queues.inbound.url,
      queueArn: emulators.queues.inbound.arn,
      region: emulators.region,
      fn,
      concurrency: 3,
      waitTimeSeconds: 1,
      handler: async (event) => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        bodies.push(...event.Records.map((r) => r.body));
        // Held until three batches run together: only a poller that runs them at once gets there.
        if (running < 3) await new Promise<void>((r) => release.push(r));
        else for (const r of release.splice(0)) r();
        running -= 1;
        return { batchItemFailures: [] };
      },
    });
    for (const g of ['one-a', 'one-b', 'one-c']) await sendFifo(g, [g]);
    await until(() => bodies.length === 3);
    await p.stop();
    expect(bodies.sort()).toEqual(['one-a', 'one-b', 'one-c']);
    expect(maxRunning).toBe(3);
    expect(maxReceiving).toBe(1);
  });

  it('reads LOCAL_FUNCTION_THREADS as on (1) or off (0), and leaves it unset for the caller to choose', () => {
    expect(parseLocalConfig({}, []).functionThreads).toBeUndefined();
    expect(parseLocalConfig({ LOCAL_FUNCTION_THREADS: '1' }, []).functionThreads).toBe(true);
    expect(parseLocalConfig({ LOCAL_FUNCTION_THREADS: '0' }, []).functionThreads).toBe(false);
    expect(() => parseLocalConfig({ LOCAL_FUNCTION_THREADS: '2' }, [])).toThrow(/LOCAL_FUNCTION_THREADS/);
  });

  it('splits one receive over the free invocations, each message group whole and in order', () => {
    const m = (id: string, group?: string) => ({
      MessageId: id,
      ...(group ? { Attributes: { MessageGroupId: group } } : {}),
    });
    const received = [m('a1', 'a'), m('b1', 'b'), m('a2', 'a'), m('c1', 'c'), m('a3', 'a')];
    const ids = (batches: ReturnType<typeof splitBatch>) => batches.map((b) => b.map((x) => x.MessageId));
    expect(ids(splitBatch(received, 1))).toEqual([['a1', 'a2', 'a3', 'b1', 'c1']]);
    expect(ids(splitBatch(received, 2))).toEqual([['a1', 'a2', 'a3', 'c1'], ['b1']]);
    expect(ids(splitBatch(received, 10))).toEqual([['a1', 'a2', 'a3'], ['b1'], ['c1']]);
    // A standard queue's messages are independent of each other.
    expect(ids(splitBatch([m('x'), m('y')], 4))).toEqual([['x'], ['y']]);
    expect(ids(splitBatch([m('x'), m('y')], 0))).toEqual([['x', 'y']]);
  });

  it('deletes the records that succeeded and redelivers only the reported failures after the visibility timeout', async () => {
    const deliveries: { body: string; count: string }[] = [];
    const p = poller(async (event) => {
      const failures: { itemIdentifier: string }[] = [];
      for (const r of event.Records) {
        deliveries.push({ body: r.body, count: r.attributes.ApproximateReceiveCount });
        if (r.body === 'flaky' && r.attributes.ApproximateReceiveCount === '1') {
          failures.push({ itemIdentifier: r.messageId });
        }
      }
      return { batchItemFailures: failures };
    }, 2);
    await sendFifo('partial-ok', ['fine']);
    await sendFifo('partial-flaky', ['flaky']);
    await until(() => deliveries.filter((d) => d.body === 'flaky').length >= 2);
    // Once both records are deleted (none visible or in flight) nothing can be delivered again.
    for (let empty = false; !empty; ) {
      const attrs = await emulators.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: emulators.queues.inbound.url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      empty =
        Number(attrs.Attributes?.ApproximateNumberOfMessages ?? 0) +
          Number(attrs.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) ===
        0;
      if (!empty) await sleep(50);
    }
    await p.stop();
    expect(deliveries.filter((d) => d.body === 'fine')).toEqual([{ body: 'fine', count: '1' }]);
    expect(deliveries.filter((d) => d.body === 'flaky')).toEqual([
      { body: 'flaky', count: '1' },
      { body: 'flaky', count: '2' },
    ]);
    const left = await emulators.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: emulators.queues.inbound.url, WaitTimeSeconds: 0 }),
    );
    expect(left.Messages ?? []).toEqual([]);
  });

  it('retries the whole batch when the handler throws and moves it to the DLQ after maxReceiveCount', async () => {
    let calls = 0;
    const p = startSqsPoller({
      sqs: emulators.sqs,
      queueUrl: emulators.queues.timer.url,
      queueArn: emulators.queues.timer.arn,
      region: emulators.region,
      fn,
      handler: async () => {
        calls += 1;
        throw new Error('boom');
      },
      waitTimeSeconds: 1,
    });
    await emulators.sqs.send(
      new SendMessageCommand({ QueueUrl: emulators.queues.timer.url, MessageBody: 'doomed' }),
    );
    await until(() => calls >= 2);
    // The third receive finds the count exceeded and redrives the message instead.
    let dead: string[] = [];
    const deadline = Date.now() + 45_000;
    while (dead.length === 0 && Date.now() < deadline) {
      const res = await emulators.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: emulators.queues.timer.dlqUrl, WaitTimeSeconds: 1 }),
      );
      dead = (res.Messages ?? []).map((m) => m.Body ?? '');
    }
    await p.stop();
    expect(calls).toBe(2);
    expect(dead).toEqual(['doomed']);
  });

  it('treats an empty, unknown or malformed batchItemFailures identifier as a failed batch', () => {
    const records = [{ messageId: 'a' }, { messageId: 'b' }] as SQSRecord[];
    expect(failedRecordIds(records, undefined)).toEqual(new Set());
    expect(failedRecordIds(records, { batchItemFailures: [] })).toEqual(new Set());
    expect(failedRecordIds(records, { batchItemFailures: [{ itemIdentifier: 'b' }] })).toEqual(
      new Set(['b']),
    );
    expect(failedRecordIds(records, { batchItemFailures: [{ itemIdentifier: '' }] })).toBe('all');
    expect(failedRecordIds(records, { batchItemFailures: [{ itemIdentifier: 'zzz' }] })).toBe('all');
    expect(failedRecordIds(records, { batchItemFailures: 'x' } as never)).toBe('all');
  });
});

describe('the API Gateway (HTTP API v2) stand-in', () => {
  const base = {
    method: 'POST',
    sourceIp: '203.0.113.9',
    httpVersion: '1.1',
    routePath: '/webhooks/{channel}/{tenantId}',
    pathParameters: { channel: 'pancake', tenantId: 'acme' },
  };

  it('builds the v2 event with raw path and query, lower-cased headers, cookies and a text body', () => {
    const body = Buffer.from('{"text":"xin chào"}', 'utf8');
    const event = toApiGatewayEvent({
      ...base,
      url: '/webhooks/pancake/acme?token=a%2Bb&x=1&x=2',
      rawHeaders: ['Content-Type', 'application/json', 'X-Dup', 'one', 'x-dup', 'two', 'Cookie', 'a=1; b=2'],
      body,
      receivedAt: 1_700_000_000_000,
    });
    expect(event.version).toBe('2.0');
    expect(event.routeKey).toBe('POST /webhooks/{channel}/{tenantId}');
    expect(event.rawPath).toBe('/webhooks/pancake/acme');
    expect(event.rawQueryString).toBe('token=a%2Bb&x=1&x=2');
    expect(event.queryStringParameters).toEqual({ token: 'a+b', x: '1,2' });
    expect(event.pathParameters).toEqual({ channel: 'pancake', tenantId: 'acme' });
    expect(event.headers['content-type']).toBe('application/json');
    expect(event.headers['x-dup']).toBe('one,two');
    expect(event.headers.cookie).toBeUndefined();
    expect(event.cookies).toEqual(['a=1', 'b=2']);
    expect(event.requestContext.http).toMatchObject({
      method: 'POST',
      sourceIp: '203.0.113.9',
      path: event.rawPath,
    });
    expect(event.requestContext.timeEpoch).toBe(1_700_000_000_000);
    expect(event.requestContext.time).toBe('14/Nov/2023:22:13:20 +0000');
    expect(event.isBase64Encoded).toBe(false);
    expect(event.body).toBe('{"text":"xin chào"}');
  });

  it('base64-encodes bodies of non-text content types and omits empty bodies', () => {
    const raw = Buffer.from([0, 255, 1, 2]);
    const binary = toApiGatewayEvent({
      ...base,
      url: '/webhooks/pancake/acme',
      rawHeaders: ['content-type', 'application/octet-stream'],
      body: raw,
    });
    expect(binary.isBase64Encoded).toBe(true);
    expect(Buffer.from(binary.body!, 'base64')).toEqual(raw);
    const form = toApiGatewayEvent({
      ...base,
      url: '/x',
      rawHeaders: ['content-type', 'application/x-www-form-urlencoded'],
      body: Buffer.from('a=1'),
    });
    expect(form.isBase64Encoded).toBe(true);
    const empty = toApiGatewayEvent({
      ...base,
      method: 'GET',
      url: '/x',
      rawHeaders: [],
      body: Buffer.alloc(0),
    });
    expect(empty.body).toBeUndefined();
    expect(empty.isBase64Encoded).toBe(false);
    expect(empty.queryStringParameters).toBeUndefined();
    expect(isTextContentType('application/vnd.api+json; charset=utf-8')).toBe(true);
    expect(isTextContentType('image/png')).toBe(false);
  });

  it('maps structured, base64 and inferred Lambda results to responses as HTTP APIs do', () => {
    const structured = fromApiGatewayResult({
      statusCode: 401,
      headers: { 'Content-Type': 'application/json' },
      body: '{"error":{"code":"INVALID_SIGNATURE"}}',
      cookies: ['s=1'],
    });
    expect(structured.statusCode).toBe(401);
    expect(structured.headers['content-type']).toBe('application/json');
    expect(structured.cookies).toEqual(['s=1']);
    expect(structured.body.toString()).toBe('{"error":{"code":"INVALID_SIGNATURE"}}');
    const b64 = fromApiGatewayResult({
      statusCode: 200,
      body: Buffer.from('challenge').toString('base64'),
      isBase64Encoded: true,
    });
    expect(b64.body.toString()).toBe('challenge');
    const inferred = fromApiGatewayResult({ ok: true } as never);
    expect(inferred.statusCode).toBe(200);
    expect(inferred.headers['content-type']).toBe('application/json');
    expect(inferred.body.toString()).toBe('{"ok":true}');
    expect(fromApiGatewayResult('plain').body.toString()).toBe('plain');
  });
});

describe('the environment the local stack gives the handlers', () => {
  const emulatorEnv = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:1',
    AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:2',
  };
  const config = parseLocalConfig({});

  it('points every sender at the sandbox unless a base URL is given, and keeps local credentials', () => {
    const env = handlerEnvironment(
      parseLocalConfig({ GRAPH_API_BASE: 'https://graph.facebook.com/' }),
      emulatorEnv,
      'http://127.0.0.1:3000/sandbox',
      { AWS_PROFILE: 'prod', AWS_SESSION_TOKEN: 'real' },
    );
    expect(env.PANCAKE_API_BASE).toBe('http://127.0.0.1:3000/sandbox/pancake');
    expect(env.GRAPH_API_BASE).toBe('https://graph.facebook.com');
    expect(env.TELEGRAM_API_BASE).toBe('http://127.0.0.1:3000/sandbox/telegram');
    expect(env.ZALO_API_BASE).toBe('http://127.0.0.1:3000/sandbox/zalo');
    expect(env.AWS_ACCESS_KEY_ID).toBe('local');
    // Blanked (then removed from process.env) so a local run never reaches a real account.
    expect(env.AWS_PROFILE).toBe('');
    expect(env.AWS_SESSION_TOKEN).toBe('');
    expect(env.RESPONDER).toBe('echo');
    expect(env.DEBOUNCE_MS).toBe('1000');
    expect(env.POWERTOOLS_LOG_LEVEL).toBe('WARN');
    expect(env.POWERTOOLS_METRICS_DISABLED).toBe('true');
  });

  it('leaves the user’s AWS credentials and region to Bedrock and redirects only the emulated services', () => {
    const env = handlerEnvironment(
      parseLocalConfig({ RESPONDER: 'bedrock', LOG_LEVEL: 'debug' }),
      emulatorEnv,
      'http://127.0.0.1:3000/sandbox',
      { AWS_REGION: 'ap-southeast-1' },
    );
    expect(env.AWS_ACCESS_KEY_ID).toBeUndefined();
    expect(env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
    expect(env.AWS_REGION).toBeUndefined();
    expect(env.AWS_PROFILE).toBeUndefined();
    expect(Object.keys(env).filter((k) => k.startsWith('AWS_ENDPOINT_URL_BEDROCK'))).toEqual([]);
    expect(env.AWS_ENDPOINT_URL_SQS).toBe('http://127.0.0.1:1');
    expect(env.RESPONDER).toBe('bedrock');
    expect(env.POWERTOOLS_LOG_LEVEL).toBe('DEBUG');
    expect(env.POWERTOOLS_METRICS_DISABLED).toBe('false');
    expect(config.responder).toBe('echo');
  });
});
