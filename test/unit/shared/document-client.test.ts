/**
 * The fast document client against lib-dynamodb's own, side by side on a recording request
 * handler: for every command the same request goes on the wire and the same output (or error)
 * comes back. DynamoDB behaviour itself (conditions, pagination on real data) is in
 * test/integration/document-client.test.ts.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactGetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { FastDocumentClient } from '../../../lambdas/shared/document-client.js';

/** What DynamoDB answers per operation in these tests (attribute-value JSON). */
const ANSWERS: Record<string, { status?: number; body: unknown }> = {
  GetItem: { body: { Item: { pk: { S: 'a' }, n: { N: '12345678901234567890' }, tags: { SS: ['x', 'y'] } } } },
  PutItem: { body: { Attributes: { pk: { S: 'a' }, old: { BOOL: true } } } },
  UpdateItem: {
    body: { Attributes: { pk: { S: 'a' }, m: { M: { deep: { L: [{ N: '1' }, { NULL: true }] } } } } },
  },
  DeleteItem: { body: { Attributes: { pk: { S: 'a' }, b: { B: 'AQID' } } } },
  Query: {
    body: {
      Items: [
        { pk: { S: 'a' }, sk: { S: '1' } },
        { pk: { S: 'a' }, sk: { S: '2' }, ns: { NS: ['1', '2.5'] } },
      ],
      Count: 2,
      ScannedCount: 2,
      LastEvaluatedKey: { pk: { S: 'a' }, sk: { S: '2' } },
    },
  },
  Scan: {
    body: { Items: [{ pk: { S: 'b' } }], Count: 1, ScannedCount: 1, LastEvaluatedKey: { pk: { S: 'b' } } },
  },
  BatchGetItem: {
    body: {
      Responses: { t: [{ pk: { S: 'a' }, v: { N: '1' } }] },
      UnprocessedKeys: { t: { Keys: [{ pk: { S: 'c' } }], ConsistentRead: true } },
    },
  },
  BatchWriteItem: {
    body: {
      UnprocessedItems: {
        t: [
          { PutRequest: { Item: { pk: { S: 'p' }, v: { N: '2' } } } },
          { DeleteRequest: { Key: { pk: { S: 'd' } } } },
        ],
      },
    },
  },
  TransactGetItems: { body: { Responses: [{ Item: { pk: { S: 'a' } } }, {}] } },
  TransactWriteItems: { body: {} },
};

const FAILURE = {
  status: 400,
  body: {
    __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
    message: 'The conditional request failed',
    Item: { pk: { S: 'a' }, next: { N: '1700000000000' } },
  },
};

interface Sent {
  readonly target: string;
  readonly body: unknown;
}

/** A request handler that records each request and answers from {@link ANSWERS}. */
function recordingHandler(sent: Sent[], fail = false) {
  return {
    handle: async (request: { headers: Record<string, string>; body?: unknown }) => {
      const target = request.headers['x-amz-target'] ?? '';
      sent.push({ target, body: JSON.parse(String(request.body)) });
      const answer = fail ? FAILURE : ANSWERS[target.replace('DynamoDB_20120810.', '')];
      if (!answer) throw new Error(`no answer for ${target}`);
      return {
        response: {
          statusCode: answer.status ?? 200,
          headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: Buffer.from(JSON.stringify(answer.body)),
        },
      };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
    destroy() {},
  };
}

const TRANSLATE = { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true } };

function lowLevel(sent: Sent[], fail = false): DynamoDBClient {
  return new DynamoDBClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    maxAttempts: 1,
    requestHandler: recordingHandler(sent, fail) as never,
  });
}

/** lib-dynamodb's client and ours, each on its own recording handler. */
function pair(fail = false) {
  const sentByLib: Sent[] = [];
  const sentByFast: Sent[] = [];
  return {
    lib: DynamoDBDocumentClient.from(lowLevel(sentByLib, fail), structuredClone(TRANSLATE)),
    fast: new FastDocumentClient(lowLevel(sentByFast, fail), structuredClone(TRANSLATE)),
    sentByLib,
    sentByFast,
  };
}

class Money {
  readonly currency = 'VND';
  constructor(readonly amount: number) {}
}

// Every value shape the code stores: huge and fractional numbers, bigints, sets, binary,
// nested maps and lists, nulls, empty strings, undefined members (dropped), class instances.
const ITEM = {
  pk: 'conv#a',
  sk: 'state',
  n: 2 ** 53 - 1,
  small: -0.000001,
  large: 1.5e15,
  big: 12345678901234567890n,
  tags: new Set(['x', 'y']),
  counts: new Set([1, 2.5]),
  bytes: new Uint8Array([1, 2, 3]),
  nested: { list: [1, 'two', null, { three: true, gone: undefined }], empty: '', none: null },
  gone: undefined,
  price: new Money(120_000),
};

// The commands the code sends, with inputs that exercise every key node of each.
const COMMANDS = {
  Get: () => new GetCommand({ TableName: 't', Key: { pk: 'a', sk: 's' }, ConsistentRead: true }),
  Put: () =>
    new PutCommand({
      TableName: 't',
      Item: ITEM,
      ConditionExpression: 'attribute_not_exists(pk) OR #v < :v',
      ExpressionAttributeNames: { '#v': 'v' },
      ExpressionAttributeValues: { ':v': 3, ':unused': undefined },
      ReturnValues: 'ALL_OLD',
    }),
  Update: () =>
    new UpdateCommand({
      TableName: 't',
      Key: { pk: 'a', sk: 's' },
      UpdateExpression: 'SET m = :m, #s = list_append(if_not_exists(#s, :empty), :seen) ADD c :one',
      ExpressionAttributeNames: { '#s': 'seen' },
      ExpressionAttributeValues: { ':m': { deep: [1, null] }, ':empty': [], ':seen': ['x'], ':one': 1 },
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    }),
  Delete: () =>
    new DeleteCommand({
      TableName: 't',
      Key: { pk: 'a', sk: 's' },
      ConditionExpression: 'v = :v',
      ExpressionAttributeValues: { ':v': 2 },
      ReturnValues: 'ALL_OLD',
    }),
  Query: () =>
    new QueryCommand({
      TableName: 't',
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      FilterExpression: 'v > :min',
      ExpressionAttributeValues: { ':pk': 'a', ':p': 'fact#', ':min': 0 },
      ExclusiveStartKey: { pk: 'a', sk: '0' },
      Limit: 2,
      ScanIndexForward: false,
    }),
  Scan: () =>
    new ScanCommand({
      TableName: 't',
      FilterExpression: 'contains(tags, :t)',
      ExpressionAttributeValues: { ':t': 'x' },
      ExclusiveStartKey: { pk: 'a' },
    }),
  BatchGet: () =>
    new BatchGetCommand({ RequestItems: { t: { Keys: [{ pk: 'a' }, { pk: 'c' }], ConsistentRead: true } } }),
  BatchWrite: () =>
    new BatchWriteCommand({
      RequestItems: {
        t: [
          { PutRequest: { Item: { pk: 'p', v: 2, gone: undefined } } },
          { DeleteRequest: { Key: { pk: 'd' } } },
        ],
      },
    }),
  TransactGet: () =>
    new TransactGetCommand({
      TransactItems: [
        { Get: { TableName: 't', Key: { pk: 'a' } } },
        { Get: { TableName: 't', Key: { pk: 'z' } } },
      ],
    }),
  TransactWrite: () =>
    new TransactWriteCommand({
      // Fixed: the SDK would fill in a random idempotency token per call.
      ClientRequestToken: 'token-1',
      TransactItems: [
        { Put: { TableName: 't', Item: { pk: 'a', v: 1 } } },
        {
          Update: {
            TableName: 't',
            Key: { pk: 'b' },
            UpdateExpression: 'SET v = :v',
            ExpressionAttributeValues: { ':v': 2 },
          },
        },
        { Delete: { TableName: 't', Key: { pk: 'c' } } },
        {
          ConditionCheck: {
            TableName: 't',
            Key: { pk: 'd' },
            ConditionExpression: 'v = :v',
            ExpressionAttributeValues: { ':v': 3 },
          },
        },
      ],
    }),
};

describe('FastDocumentClient', () => {
  for (const [name, make] of Object.entries(COMMANDS)) {
    it(`sends the same ${name} request as lib-dynamodb and returns the same output`, async () => {
      const { lib, fast, sentByLib, sentByFast } = pair();
      const fromLib = await lib.send(make() as never);
      const fromFast = await fast.send(make() as never);
      expect(sentByFast).toHaveLength(1);
      expect(sentByFast).toEqual(sentByLib);
      expect(fromFast).toEqual(fromLib);
      // A second call of the same class goes through the cached handler and still sends its own input.
      const again = make() as { input: Record<string, unknown> };
      again.input.TableName = 'other';
      await fast.send(again as never);
      if ('TableName' in (make() as { input: object }).input) {
        expect(sentByFast[1]?.body).toMatchObject({ TableName: 'other' });
      } else {
        expect(sentByFast[1]).toEqual(sentByFast[0]);
      }
    });
  }

  it('converts huge numbers as lib-dynamodb does: a bigint result for a 20-digit number, an error for an unsafe integer', async () => {
    const { lib, fast } = pair();
    const got = (await fast.send(COMMANDS.Get())) as { Item?: Record<string, unknown> };
    expect(got.Item?.n).toBe(12345678901234567890n);
    for (const n of [2 ** 53 + 2, 1e308]) {
      const unsafe = () => new PutCommand({ TableName: 't', Item: { pk: 'a', n } });
      const libError = await lib.send(unsafe()).catch((e: unknown) => e);
      const fastError = await fast.send(unsafe()).catch((e: unknown) => e);
      expect(fastError).toBeInstanceOf(Error);
      expect((fastError as Error).message).toBe((libError as Error).message);
    }
  });

  it('rejects a nested undefined value the way lib-dynamodb does when removeUndefinedValues is off', async () => {
    const sent: Sent[] = [];
    const lib = DynamoDBDocumentClient.from(lowLevel([]));
    const fast = new FastDocumentClient(lowLevel(sent));
    const make = () => new PutCommand({ TableName: 't', Item: { pk: 'a', nested: { gone: undefined } } });
    const libError = (await lib.send(make()).catch((e: unknown) => e)) as Error;
    const fastError = (await fast.send(make()).catch((e: unknown) => e)) as Error;
    expect(fastError.message).toBe(libError.message);
    expect(sent).toEqual([]);
  });

  it('throws a ConditionalCheckFailedException whose Item keeps the attribute-value form, as lib-dynamodb does', async () => {
    const { lib, fast } = pair(true);
    const libError = (await lib.send(COMMANDS.Update()).catch((e: unknown) => e)) as Record<string, unknown>;
    const fastError = (await fast.send(COMMANDS.Update()).catch((e: unknown) => e)) as Record<
      string,
      unknown
    >;
    expect(fastError.name).toBe('ConditionalCheckFailedException');
    expect(fastError.constructor).toBe(libError.constructor);
    expect(fastError.Item).toEqual({ pk: { S: 'a' }, next: { N: '1700000000000' } });
    expect(fastError.Item).toEqual(libError.Item);
    expect(fastError.message).toBe(libError.message);
  });

  it('applies middleware added to the wrapped client after the first call, and stops when it is removed', async () => {
    const sent: Sent[] = [];
    const client = lowLevel(sent);
    const fast = new FastDocumentClient(client, TRANSLATE);
    await fast.send(COMMANDS.Get());
    const seen: string[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        seen.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'testCounter' },
    );
    await fast.send(COMMANDS.Get());
    await fast.send(COMMANDS.Put());
    client.middlewareStack.remove('testCounter');
    await fast.send(COMMANDS.Get());
    expect(seen).toEqual(['GetItemCommand', 'PutItemCommand']);
    expect(sent).toHaveLength(4);
  });

  it("runs a command's own middleware as lib-dynamodb does, by sending it the SDK's way", async () => {
    const { lib, fast, sentByFast } = pair();
    const runs = async (client: DynamoDBDocumentClient) => {
      const command = COMMANDS.Get();
      let ran = 0;
      // Unnamed: lib-dynamodb puts a command's own stack into the resolved one twice, so a
      // named middleware fails there with a duplicate name.
      command.middlewareStack.add(
        (next) => async (args) => {
          ran += 1;
          return next(args);
        },
        { step: 'initialize' },
      );
      const out = (await client.send(command)) as { Item?: Record<string, unknown> };
      expect(out.Item?.pk).toBe('a');
      return ran;
    };
    const byLib = await runs(lib);
    expect(await runs(fast)).toBe(byLib);
    expect(byLib).toBeGreaterThan(0);
    expect(sentByFast).toHaveLength(1);
  });

  it('passes per-call options to the request handler and answers the callback form', async () => {
    const options: unknown[] = [];
    const handler = recordingHandler([]);
    const client = new DynamoDBClient({
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      requestHandler: {
        ...handler,
        handle: (request: never, opts: unknown) => {
          options.push(opts);
          return handler.handle(request);
        },
      } as never,
    });
    const fast = new FastDocumentClient(client, TRANSLATE);
    const signal = new AbortController().signal;
    await fast.send(COMMANDS.Get(), { abortSignal: signal, requestTimeout: 1234 });
    await fast.send(COMMANDS.Get());
    expect(options[0]).toMatchObject({ abortSignal: signal, requestTimeout: 1234 });
    expect(options[1]).not.toHaveProperty('abortSignal');
    const viaCallback = await new Promise((resolve, reject) =>
      fast.send(COMMANDS.Get(), (err: unknown, data: unknown) => (err ? reject(err) : resolve(data))),
    );
    expect(viaCallback).toMatchObject({ Item: { pk: 'a', tags: new Set(['x', 'y']) } });
  });

  it('is intercepted by mockClient on the DynamoDBDocumentClient class and on the instance', async () => {
    const { fast, sentByFast } = pair();
    const classMock = mockClient(DynamoDBDocumentClient);
    try {
      classMock.on(GetCommand).resolves({ Item: { pk: 'mocked by class' } });
      expect(await fast.send(COMMANDS.Get())).toEqual({ Item: { pk: 'mocked by class' } });
      expect(classMock.commandCalls(GetCommand)).toHaveLength(1);
    } finally {
      classMock.restore();
    }
    const instanceMock = mockClient(fast);
    try {
      instanceMock.on(PutCommand).rejects(new Error('injected'));
      await expect(fast.send(COMMANDS.Put())).rejects.toThrow('injected');
    } finally {
      instanceMock.restore();
    }
    expect(sentByFast).toEqual([]);
    await fast.send(COMMANDS.Get());
    expect(sentByFast).toHaveLength(1);
  });
});
