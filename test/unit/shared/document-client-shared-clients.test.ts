/**
 * The shared clients' per-call savings keep their behaviour: the SQS client reuses resolved
 * handlers (`cacheMiddleware`) yet sends each command's own input, middleware added to a shared
 * client later still applies, per-call options still reach the request handler, and the no-op
 * logger middleware is gone only when no logger was configured.
 */
import { createHash } from 'node:crypto';
import { GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import {
  documentClient,
  dynamoClient,
  resetClients,
  setLocalClientHook,
  sqsClient,
} from '../../../lambdas/shared/clients.js';
import { onMiddlewareStackChange } from '../../../lambdas/shared/sqs-client.js';

interface Seen {
  readonly target: string;
  readonly body: Record<string, unknown>;
  readonly options: Record<string, unknown>;
}

/** A request handler answering SQS and DynamoDB JSON calls, recording each request. */
function recorder(seen: Seen[]) {
  return {
    handle: async (request: { headers: Record<string, string>; body?: unknown }, options: object = {}) => {
      const target = request.headers['x-amz-target'] ?? '';
      const body = JSON.parse(String(request.body)) as Record<string, unknown>;
      seen.push({ target, body, options: options as Record<string, unknown> });
      let answer: unknown = {};
      if (target === 'AmazonSQS.SendMessage') {
        const md5 = createHash('md5').update(String(body.MessageBody)).digest('hex');
        answer = { MessageId: `m${seen.length}`, MD5OfMessageBody: md5 };
      } else if (target === 'AmazonSQS.GetQueueUrl') {
        answer = { QueueUrl: `http://127.0.0.1:1/000000000000/${String(body.QueueName)}` };
      } else if (target.endsWith('.GetItem')) {
        answer = { Item: { pk: { S: 'a' }, n: { N: String(seen.length) } } };
      }
      return {
        response: {
          statusCode: 200,
          headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: Buffer.from(JSON.stringify(answer)),
        },
      };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
    destroy() {},
  };
}

function install(
  seen: Seen[],
  extra: Record<string, unknown> = {},
  removeMiddleware?: readonly string[],
): void {
  setLocalClientHook({
    config: {
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      requestHandler: recorder(seen),
      ...extra,
    },
    ...(removeMiddleware ? { removeMiddleware } : {}),
  });
}

const QUEUE = 'http://127.0.0.1:1/000000000000/q.fifo';
const send = (text: string) =>
  new SendMessageCommand({ QueueUrl: QUEUE, MessageBody: JSON.stringify({ text }), MessageGroupId: text });

afterEach(() => setLocalClientHook(undefined));

describe('shared SDK clients', () => {
  it('sends each SQS command with its own input while reusing the handler resolved for its class', async () => {
    const seen: Seen[] = [];
    install(seen);
    expect(sqsClient().config.cacheMiddleware).toBe(true);
    await sqsClient().send(send('first'));
    await sqsClient().send(new GetQueueUrlCommand({ QueueName: 'other' }));
    await sqsClient().send(send('second ệ'));
    expect(seen.map((s) => s.target)).toEqual([
      'AmazonSQS.SendMessage',
      'AmazonSQS.GetQueueUrl',
      'AmazonSQS.SendMessage',
    ]);
    expect(seen[0]?.body).toMatchObject({ MessageBody: '{"text":"first"}', MessageGroupId: 'first' });
    expect(seen[1]?.body).toEqual({ QueueName: 'other' });
    // The body-rewriting middleware still runs on the cached handler.
    expect(seen[2]?.body).toMatchObject({
      MessageBody: '{"text":"second \\u1ec7"}',
      MessageGroupId: 'second ệ',
    });
  });

  it('applies middleware added to the SQS client after its first sends, and stops when it is removed', async () => {
    const seen: Seen[] = [];
    install(seen);
    await sqsClient().send(send('before'));
    const counted: string[] = [];
    sqsClient().middlewareStack.add(
      (next, context) => async (args) => {
        counted.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'testCounter' },
    );
    await sqsClient().send(send('during'));
    sqsClient().middlewareStack.remove('testCounter');
    await sqsClient().send(send('after'));
    expect(counted).toEqual(['SendMessageCommand']);
    expect(seen).toHaveLength(3);
  });

  it('passes per-call options of an SQS send to the request handler, then caches again', async () => {
    const seen: Seen[] = [];
    install(seen);
    const signal = new AbortController().signal;
    await sqsClient().send(send('a'));
    await sqsClient().send(send('b'), { abortSignal: signal, requestTimeout: 4321 });
    await sqsClient().send(send('c'));
    expect(seen[1]?.options).toMatchObject({ abortSignal: signal, requestTimeout: 4321 });
    expect(seen[2]?.options.requestTimeout).toBeUndefined();
    expect(seen.map((s) => (s.body as { MessageGroupId?: string }).MessageGroupId)).toEqual(['a', 'b', 'c']);
  });

  it('drops the logger middleware only when no logger is configured', () => {
    install([]);
    expect(
      sqsClient()
        .middlewareStack.identify()
        .some((m) => m.startsWith('loggerMiddleware')),
    ).toBe(false);
    expect(
      dynamoClient()
        .middlewareStack.identify()
        .some((m) => m.startsWith('loggerMiddleware')),
    ).toBe(false);
    const messages: unknown[] = [];
    const logger = { debug() {}, info: (m: unknown) => messages.push(m), warn() {}, error() {} };
    install([], { logger });
    expect(
      sqsClient()
        .middlewareStack.identify()
        .some((m) => m.startsWith('loggerMiddleware')),
    ).toBe(true);
    expect(
      dynamoClient()
        .middlewareStack.identify()
        .some((m) => m.startsWith('loggerMiddleware')),
    ).toBe(true);
  });

  it("takes the local hook's removeMiddleware off both shared clients, and nothing without it", async () => {
    const has = (stack: { identify(): string[] }, name: string): boolean =>
      stack.identify().some((m) => m.startsWith(name));
    install([]);
    expect(has(sqsClient().middlewareStack, 'getUserAgentMiddleware')).toBe(true);
    expect(has(dynamoClient().middlewareStack, 'getUserAgentMiddleware')).toBe(true);
    const seen: Seen[] = [];
    install(seen, {}, ['getUserAgentMiddleware', 'recursionDetectionMiddleware']);
    for (const stack of [sqsClient().middlewareStack, dynamoClient().middlewareStack]) {
      expect(has(stack, 'getUserAgentMiddleware')).toBe(false);
      expect(has(stack, 'recursionDetectionMiddleware')).toBe(false);
      expect(has(stack, 'retryMiddleware')).toBe(true);
    }
    // Calls still go out.
    await documentClient().send(new PutCommand({ TableName: 't', Item: { pk: 'a' } }));
    expect(seen.map((s) => s.target)).toEqual(['DynamoDB_20120810.PutItem']);
  });

  it('logs through a configured logger as the SDK does', async () => {
    const messages: { commandName?: string }[] = [];
    const logger = {
      debug() {},
      info: (m: { commandName?: string }) => messages.push(m),
      warn() {},
      error() {},
    };
    install([], { logger });
    await documentClient().send(new GetCommand({ TableName: 't', Key: { pk: 'a' } }));
    await sqsClient().send(send('logged'));
    expect(messages.map((m) => m.commandName)).toEqual(['GetItemCommand', 'SendMessageCommand']);
  });

  it('gives documentClient() middleware added to dynamoClient() after its first calls', async () => {
    const seen: Seen[] = [];
    install(seen);
    const first = await documentClient().send(new GetCommand({ TableName: 't', Key: { pk: 'a' } }));
    expect(first.Item).toEqual({ pk: 'a', n: 1 });
    const counted: string[] = [];
    dynamoClient().middlewareStack.add(
      (next, context) => async (args) => {
        counted.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'testCounter' },
    );
    await documentClient().send(new PutCommand({ TableName: 't', Item: { pk: 'b', v: 1 } }));
    const second = await documentClient().send(new GetCommand({ TableName: 't', Key: { pk: 'a' } }));
    expect(second.Item).toEqual({ pk: 'a', n: 3 });
    expect(counted).toEqual(['PutItemCommand', 'GetItemCommand']);
    resetClients();
  });

  it('notifies every listener of a stack change, once per change', () => {
    const client = new SQSClient({ region: 'us-east-1' });
    const calls: string[] = [];
    onMiddlewareStackChange(client.middlewareStack, () => calls.push('one'));
    onMiddlewareStackChange(client.middlewareStack, () => calls.push('two'));
    client.middlewareStack.add((next) => next, { step: 'build', name: 'x' });
    client.middlewareStack.remove('x');
    expect(calls).toEqual(['one', 'two', 'one', 'two']);
    client.destroy();
  });
});
