/**
 * The local stack's in-process transport (bin/local/inproc-transport.ts, inproc-server.ts):
 * real SDK commands sent over it to the emulators in their thread answer exactly what the
 * same commands answer over loopback HTTP — results, error types and messages, FIFO order —
 * and the shared clients of lambdas/shared/clients.ts use it once the local stack's hook is
 * installed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type EmulatorThread, startEmulatorThread } from '../../bin/local/emulator-thread.js';
import { LOCAL_CREDENTIALS } from '../../bin/local/emulators.js';
import {
  InprocHttpHandler,
  InprocTransportError,
  inprocClientConfig,
  inprocTransportEnabled,
} from '../../bin/local/inproc-transport.js';
import { documentClient, setLocalClientHook, sqsClient } from '../../lambdas/shared/clients.js';

const dir = mkdtempSync(join(tmpdir(), 'chat-relay-inproc-'));
let emulators: EmulatorThread;
let port: MessagePort;
let handler: InprocHttpHandler;

interface Clients {
  readonly doc: DynamoDBDocumentClient;
  readonly dynamo: DynamoDBClient;
  readonly sqs: SQSClient;
}
let http: Clients;
let inproc: Clients;

function clients(extra: Record<string, unknown>): Clients {
  const base = { region: emulators.region, credentials: LOCAL_CREDENTIALS, ...extra };
  const dynamo = new DynamoDBClient({ ...base, endpoint: emulators.dynamoEndpoint });
  return {
    dynamo,
    doc: DynamoDBDocumentClient.from(dynamo),
    sqs: new SQSClient({ ...base, endpoint: emulators.sqsEndpoint, useQueueUrlAsEndpoint: false }),
  };
}

beforeAll(async () => {
  // Journalled (a data directory), as the local stack runs them: fauxqs is served in process then.
  emulators = await startEmulatorThread({ dataDir: join(dir, 'state') });
  port = emulators.connect();
  handler = new InprocHttpHandler({ port, routes: emulators.inprocRoutes, region: emulators.region });
  http = clients({});
  inproc = clients(inprocClientConfig(handler));
});

afterAll(async () => {
  for (const c of [http, inproc]) {
    c?.dynamo.destroy();
    c?.sqs.destroy();
  }
  port?.close();
  await emulators?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** What an SDK call gave: its output without request ids, or its error's name and message. */
async function outcome(call: () => Promise<object>): Promise<unknown> {
  try {
    const { $metadata: _metadata, ...output } = (await call()) as { $metadata?: unknown };
    return { ok: output };
  } catch (err) {
    const e = err as {
      name?: string;
      message?: string;
      $fault?: string;
      $metadata?: { httpStatusCode?: number };
    };
    return { error: e.name, message: e.message, fault: e.$fault, status: e.$metadata?.httpStatusCode };
  }
}

/** Replaces the run's tag, and the ids each emulator makes up per message, by placeholders. */
function normalise(value: unknown, tag: string): unknown {
  return JSON.parse(JSON.stringify(value), (key, v: unknown) => {
    if (
      ['MessageId', 'ReceiptHandle', 'SequenceNumber', 'MD5OfMessageBody', 'MD5OfMessageAttributes'].includes(
        key,
      )
    )
      return '<id>';
    if (['SentTimestamp', 'ApproximateFirstReceiveTimestamp'].includes(key)) return '<time>';
    return typeof v === 'string' ? v.split(tag).join('<tag>') : v;
  });
}

describe('DynamoDB over the in-process transport', () => {
  async function script(c: Clients, tag: string): Promise<unknown[]> {
    const table = emulators.tables.memory;
    const pk = `conv#${tag}`;
    return [
      await outcome(() =>
        c.doc.send(
          new PutCommand({ TableName: table, Item: { pk, sk: 'state', turns: 1, text: 'xin chào 👋' } }),
        ),
      ),
      await outcome(() =>
        c.doc.send(
          new PutCommand({
            TableName: table,
            Item: { pk, sk: 'state', turns: 9 },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      ),
      await outcome(() =>
        c.doc.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk, sk: 'state' },
            UpdateExpression: 'SET turns = turns + :one',
            ConditionExpression: 'turns = :expected',
            ExpressionAttributeValues: { ':one': 1, ':expected': 1 },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      ),
      await outcome(() =>
        c.doc.send(
          new BatchWriteCommand({
            RequestItems: {
              [table]: [1, 2, 3].map((n) => ({ PutRequest: { Item: { pk, sk: `turn#${n}`, n } } })),
            },
          }),
        ),
      ),
      await outcome(() => c.doc.send(new GetCommand({ TableName: table, Key: { pk, sk: 'state' } }))),
      await outcome(() =>
        c.doc.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :turn)',
            ExpressionAttributeValues: { ':pk': pk, ':turn': 'turn#' },
            ScanIndexForward: false,
            Limit: 2,
          }),
        ),
      ),
      await outcome(() =>
        c.dynamo.send(new GetItemCommand({ TableName: 'no-such-table', Key: { pk: { S: pk } } })),
      ),
      await outcome(() =>
        c.doc.send(new QueryCommand({ TableName: table, KeyConditionExpression: 'nonsense(' })),
      ),
    ];
  }

  it('answers Put, conditional failures, Update, BatchWrite, Get, Query and errors as HTTP does', async () => {
    const overHttp = normalise(await script(http, 'http-run'), 'http-run');
    const inProcess = normalise(await script(inproc, 'inproc-run'), 'inproc-run');
    expect(inProcess).toEqual(overHttp);
    // The script's own expectations, so that two equally broken paths cannot pass.
    const [, conditional, updated, , got, queried, noTable, badQuery] = inProcess as Record<
      string,
      unknown
    >[];
    expect(conditional).toMatchObject({ error: 'ConditionalCheckFailedException', status: 400 });
    expect(updated).toMatchObject({ ok: { Attributes: { turns: 2 } } });
    expect(got).toMatchObject({ ok: { Item: { pk: 'conv#<tag>', turns: 2, text: 'xin chào 👋' } } });
    expect(queried).toMatchObject({ ok: { Count: 2, Items: [{ sk: 'turn#3' }, { sk: 'turn#2' }] } });
    expect(noTable).toMatchObject({ error: 'ResourceNotFoundException' });
    expect(badQuery).toMatchObject({ error: 'ValidationException' });
  });
});

describe('SQS over the in-process transport', () => {
  async function script(c: Clients, tag: string): Promise<unknown[]> {
    const fifo = emulators.queues.inbound.url;
    const standard = emulators.queues.timer.url;
    const out: unknown[] = [];
    out.push(
      await outcome(() =>
        c.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: fifo,
            Entries: [1, 2, 3].map((n) => ({
              Id: `e${n}`,
              MessageBody: JSON.stringify({ tag, n, text: 'tiếng Việt' }),
              MessageGroupId: `group-${tag}`,
              MessageDeduplicationId: `${tag}-${n}`,
            })),
          }),
        ),
      ),
    );
    // A duplicate inside the deduplication interval is accepted and not delivered again.
    out.push(
      await outcome(() =>
        c.sqs.send(
          new SendMessageCommand({
            QueueUrl: fifo,
            MessageBody: JSON.stringify({ tag, n: 1, text: 'tiếng Việt' }),
            MessageGroupId: `group-${tag}`,
            MessageDeduplicationId: `${tag}-1`,
          }),
        ),
      ),
    );
    const receive = () =>
      c.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: fifo,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: [
            'MessageGroupId',
            'MessageDeduplicationId',
            'ApproximateReceiveCount',
          ],
        }),
      );
    const bodies = (messages: { Body?: string; Attributes?: object }[] | undefined) =>
      messages?.map((m) => ({ body: m.Body, attributes: m.Attributes }));
    const first = await receive();
    out.push({ received: bodies(first.Messages) });
    // The group is in flight: nothing more from it until what was received is deleted.
    out.push(
      await outcome(() => c.sqs.send(new ReceiveMessageCommand({ QueueUrl: fifo, WaitTimeSeconds: 0 }))),
    );
    out.push(
      await outcome(() =>
        c.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: fifo,
            Entries: (first.Messages ?? []).map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
          }),
        ),
      ),
    );
    for (let round = 0; round < 5; round += 1) {
      const next = await receive();
      if (!next.Messages?.length) break;
      out.push({ received: bodies(next.Messages) });
      for (const m of next.Messages) {
        out.push(
          await outcome(() =>
            c.sqs.send(new DeleteMessageCommand({ QueueUrl: fifo, ReceiptHandle: m.ReceiptHandle })),
          ),
        );
      }
    }
    out.push(
      await outcome(() =>
        c.sqs.send(
          new SendMessageCommand({ QueueUrl: standard, MessageBody: `{"tag":"${tag}"}`, DelaySeconds: 0 }),
        ),
      ),
    );
    const timer = await c.sqs.send(new ReceiveMessageCommand({ QueueUrl: standard, WaitTimeSeconds: 1 }));
    out.push({ timer: timer.Messages?.map((m) => m.Body) });
    out.push(
      await outcome(() =>
        c.sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: standard,
            ReceiptHandle: timer.Messages?.[0]?.ReceiptHandle,
            VisibilityTimeout: 0,
          }),
        ),
      ),
    );
    const again = await c.sqs.send(new ReceiveMessageCommand({ QueueUrl: standard, WaitTimeSeconds: 1 }));
    out.push(
      await outcome(() =>
        c.sqs.send(
          new DeleteMessageCommand({ QueueUrl: standard, ReceiptHandle: again.Messages?.[0]?.ReceiptHandle }),
        ),
      ),
    );
    // Errors: a FIFO send without a group, an unknown queue, a made-up receipt handle.
    out.push(await outcome(() => c.sqs.send(new SendMessageCommand({ QueueUrl: fifo, MessageBody: '{}' }))));
    out.push(
      await outcome(() =>
        c.sqs.send(
          new SendMessageCommand({
            QueueUrl: `${emulators.sqsEndpoint}/000000000000/nope`,
            MessageBody: '{}',
          }),
        ),
      ),
    );
    out.push(
      await outcome(() =>
        c.sqs.send(new DeleteMessageCommand({ QueueUrl: standard, ReceiptHandle: 'made-up' })),
      ),
    );
    out.push(
      await outcome(() =>
        c.sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: fifo,
            AttributeNames: [
              'QueueArn',
              'ApproximateNumberOfMessages',
              'ApproximateNumberOfMessagesNotVisible',
            ],
          }),
        ),
      ),
    );
    return out;
  }

  it('answers FIFO and standard sends, receives, deletes and errors as HTTP does', async () => {
    const overHttp = normalise(await script(http, 'http-run'), 'http-run');
    const inProcess = normalise(await script(inproc, 'inproc-run'), 'inproc-run');
    expect(inProcess).toEqual(overHttp);
    const results = inProcess as Record<string, unknown>[];
    const received = results.filter((r) => 'received' in r).flatMap((r) => r.received as unknown[]);
    // In order, once each (the duplicate dropped), text intact.
    expect(received).toMatchObject(
      [1, 2, 3].map((n) => ({
        body: JSON.stringify({ tag: '<tag>', n, text: 'tiếng Việt' }),
        attributes: { MessageGroupId: 'group-<tag>', ApproximateReceiveCount: '1' },
      })),
    );
    expect(received).toHaveLength(3);
    expect(results[3]).toEqual({ ok: {} });
    expect(results.find((r) => 'timer' in r)).toEqual({ timer: ['{"tag":"<tag>"}'] });
    const [noGroup, noQueue, , attributes] = results.slice(-4);
    expect(noGroup).toMatchObject({ error: 'AWS.SimpleQueueService.MissingParameter' });
    expect(noQueue).toMatchObject({ error: 'QueueDoesNotExist' });
    // The region the unsigned requests name is the one fauxqs puts in ARNs; the queue is empty.
    expect(attributes).toMatchObject({
      ok: {
        Attributes: {
          QueueArn: expect.stringContaining(`:${emulators.region}:`),
          ApproximateNumberOfMessages: '0',
          ApproximateNumberOfMessagesNotVisible: '0',
        },
      },
    });
  });

  it('rejects an aborted long poll with the abort error', async () => {
    const queue = emulators.queues.timer.url;
    const controller = new AbortController();
    const polling = inproc.sqs.send(new ReceiveMessageCommand({ QueueUrl: queue, WaitTimeSeconds: 20 }), {
      abortSignal: controller.signal,
    });
    controller.abort();
    await expect(polling).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('the transport outside the emulators it serves', () => {
  it('refuses a request for a port no emulator is served on', async () => {
    const stray = new DynamoDBClient({
      region: emulators.region,
      credentials: LOCAL_CREDENTIALS,
      endpoint: 'http://127.0.0.1:9',
      maxAttempts: 1,
      ...inprocClientConfig(handler),
    });
    await expect(
      stray.send(new GetItemCommand({ TableName: emulators.tables.memory, Key: { pk: { S: 'x' } } })),
    ).rejects.toBeInstanceOf(InprocTransportError);
    stray.destroy();
  });

  it('rejects the requests in flight, and the next ones, once the emulator side closes its port', async () => {
    const { port1, port2 } = new MessageChannel();
    const dynamoPort = Number(new URL(emulators.dynamoEndpoint).port);
    const orphan = new InprocHttpHandler({
      port: port2,
      routes: { [dynamoPort]: { service: 'dynamodb' } },
      region: emulators.region,
    });
    const client = new DynamoDBClient({
      region: emulators.region,
      credentials: LOCAL_CREDENTIALS,
      endpoint: emulators.dynamoEndpoint,
      maxAttempts: 1,
      ...inprocClientConfig(orphan),
    });
    const received = new Promise<void>((resolve) => port1.once('message', () => resolve()));
    const inFlight = client.send(
      new GetItemCommand({ TableName: emulators.tables.memory, Key: { pk: { S: 'x' } } }),
    );
    await received;
    port1.close();
    await expect(inFlight).rejects.toBeInstanceOf(InprocTransportError);
    await expect(
      client.send(new GetItemCommand({ TableName: emulators.tables.memory, Key: { pk: { S: 'y' } } })),
    ).rejects.toThrow('closed the in-process transport');
    client.destroy();
  });

  it('is on unless LOCAL_INPROC_TRANSPORT is 0 or false', () => {
    expect(inprocTransportEnabled({})).toBe(true);
    expect(inprocTransportEnabled({ LOCAL_INPROC_TRANSPORT: '1' })).toBe(true);
    expect(inprocTransportEnabled({ LOCAL_INPROC_TRANSPORT: '0' })).toBe(false);
    expect(inprocTransportEnabled({ LOCAL_INPROC_TRANSPORT: 'False' })).toBe(false);
  });
});

describe('the shared clients with the local hook', () => {
  it('send through the transport once the hook is installed, and over HTTP again once removed', async () => {
    const saved = {
      dynamo: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      sqs: process.env.AWS_ENDPOINT_URL_SQS,
    };
    process.env.AWS_ENDPOINT_URL_DYNAMODB = emulators.dynamoEndpoint;
    process.env.AWS_ENDPOINT_URL_SQS = emulators.sqsEndpoint;
    const handle = vi.spyOn(handler, 'handle');
    try {
      setLocalClientHook({ config: inprocClientConfig(handler) });
      await documentClient().send(
        new PutCommand({ TableName: emulators.tables.memory, Item: { pk: 'hook', sk: 'state', v: 1 } }),
      );
      await sqsClient().send(
        new SendMessageCommand({ QueueUrl: emulators.queues.timer.url, MessageBody: '{}' }),
      );
      expect(handle).toHaveBeenCalledTimes(2);

      setLocalClientHook(undefined);
      const item = await documentClient().send(
        new GetCommand({ TableName: emulators.tables.memory, Key: { pk: 'hook', sk: 'state' } }),
      );
      expect(item.Item).toEqual({ pk: 'hook', sk: 'state', v: 1 });
      expect(handle).toHaveBeenCalledTimes(2);
    } finally {
      handle.mockRestore();
      setLocalClientHook(undefined);
      for (const [name, value] of [
        ['AWS_ENDPOINT_URL_DYNAMODB', saved.dynamo],
        ['AWS_ENDPOINT_URL_SQS', saved.sqs],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
