/**
 * The shared document client (lambdas/shared/document-client.ts behind `documentClient()`)
 * against dynalite, beside lib-dynamodb's own client on the same tables: what one writes the
 * other reads back identically, conditions fail the same way, pages chain, batches and aborts
 * behave as before.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { documentClient, dynamoClient, resetClients } from '../../lambdas/shared/clients.js';
import { FastDocumentClient } from '../../lambdas/shared/document-client.js';

let emu: Emulators;
let table: string;
/** lib-dynamodb's client with the options `documentClient()` uses. */
let reference: DynamoDBDocumentClient;
let seq = 0;
const pk = () => `doc#${process.pid}#${++seq}`;

class Money {
  readonly currency = 'VND';
  constructor(readonly amount: number) {}
}

beforeAll(async () => {
  emu = await startEmulators({ prefix: `doc${process.pid}` });
  Object.assign(process.env, emu.env);
  resetClients();
  table = emu.tables.memory;
  reference = DynamoDBDocumentClient.from(emu.dynamo, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
});

afterAll(async () => {
  resetClients();
  await emu.stop();
});

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error & Record<string, unknown>,
  );

describe('documentClient() against dynalite', () => {
  it('is a FastDocumentClient on the shared low-level client', () => {
    expect(documentClient()).toBeInstanceOf(FastDocumentClient);
    expect(documentClient()).toBeInstanceOf(DynamoDBDocumentClient);
    expect(documentClient().middlewareStack).toBe(dynamoClient().middlewareStack);
  });

  it('stores every value shape the code writes and reads it back as lib-dynamodb does', async () => {
    const key = { pk: pk(), sk: 'state' };
    await documentClient().send(
      new PutCommand({
        TableName: table,
        Item: {
          ...key,
          safe: 2 ** 53 - 1,
          fraction: -0.125,
          big: 12345678901234567890n,
          tags: new Set(['x', 'y']),
          counts: new Set([1, 2.5]),
          bytes: new Uint8Array([1, 2, 3]),
          nested: { list: [1, 'two', null, { three: true, gone: undefined }], empty: '', none: null },
          gone: undefined,
          price: new Money(120_000),
        },
      }),
    );
    const expected = {
      ...key,
      safe: 2 ** 53 - 1,
      fraction: -0.125,
      big: 12345678901234567890n,
      tags: new Set(['x', 'y']),
      counts: new Set([1, 2.5]),
      bytes: new Uint8Array([1, 2, 3]),
      nested: { list: [1, 'two', null, { three: true }], empty: '', none: null },
      price: { currency: 'VND', amount: 120_000 },
    };
    const fast = await documentClient().send(
      new GetCommand({ TableName: table, Key: key, ConsistentRead: true }),
    );
    const lib = await reference.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }));
    expect(fast.Item).toEqual(expected);
    expect(fast.Item).toEqual(lib.Item);
    expect(fast.Item?.gone).toBeUndefined();
    expect('gone' in (fast.Item ?? {})).toBe(false);
  });

  it('rejects a number DynamoDB cannot store with the message lib-dynamodb gives, writing nothing', async () => {
    const key = { pk: pk(), sk: 'n' };
    const fast = await errorOf(
      documentClient().send(new PutCommand({ TableName: table, Item: { ...key, at: 1e308 } })),
    );
    const lib = await errorOf(
      reference.send(new PutCommand({ TableName: table, Item: { ...key, at: 1e308 } })),
    );
    expect(fast?.message).toBe(lib?.message);
    expect(fast?.message).toContain('MAX_SAFE_INTEGER');
    expect((await reference.send(new GetCommand({ TableName: table, Key: key }))).Item).toBeUndefined();
  });

  it('returns updated and deleted attributes as plain values', async () => {
    const key = { pk: pk(), sk: 'c' };
    const updated = await documentClient().send(
      new UpdateCommand({
        TableName: table,
        Key: key,
        UpdateExpression: 'SET #m = :m, seen = list_append(if_not_exists(seen, :empty), :seen) ADD n :one',
        ExpressionAttributeNames: { '#m': 'map' },
        ExpressionAttributeValues: { ':m': { a: [1, { b: 'c' }] }, ':empty': [], ':seen': ['m1'], ':one': 1 },
        ReturnValues: 'ALL_NEW',
      }),
    );
    expect(updated.Attributes).toEqual({ ...key, map: { a: [1, { b: 'c' }] }, seen: ['m1'], n: 1 });
    const old = await documentClient().send(
      new UpdateCommand({
        TableName: table,
        Key: key,
        UpdateExpression: 'ADD n :one',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_OLD',
      }),
    );
    expect(old.Attributes).toEqual({ n: 1 });
    const deleted = await documentClient().send(
      new DeleteCommand({ TableName: table, Key: key, ReturnValues: 'ALL_OLD' }),
    );
    expect(deleted.Attributes).toEqual({ ...key, map: { a: [1, { b: 'c' }] }, seen: ['m1'], n: 2 });
    expect((await reference.send(new GetCommand({ TableName: table, Key: key }))).Item).toBeUndefined();
  });

  it('fails a conditional write with the same ConditionalCheckFailedException as lib-dynamodb', async () => {
    const key = { pk: pk(), sk: 'rate' };
    await reference.send(new PutCommand({ TableName: table, Item: { ...key, next: 5 } }));
    const write = () =>
      new UpdateCommand({
        TableName: table,
        Key: key,
        UpdateExpression: 'SET #n = :n',
        ConditionExpression: 'attribute_not_exists(pk) OR #n < :now',
        ExpressionAttributeNames: { '#n': 'next' },
        ExpressionAttributeValues: { ':n': 9, ':now': 1 },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
    const fast = await errorOf(documentClient().send(write()));
    const lib = await errorOf(reference.send(write()));
    expect(fast).toBeInstanceOf(ConditionalCheckFailedException);
    expect(fast?.name).toBe('ConditionalCheckFailedException');
    expect(fast?.message).toBe(lib?.message);
    // Whatever dynalite returns as Item, it comes out as lib-dynamodb lets it through (not unmarshalled).
    expect(fast?.Item).toEqual(lib?.Item);
    const after = await reference.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }));
    expect(after.Item).toEqual({ ...key, next: 5 });
  });

  it('chains query and scan pages through plain LastEvaluatedKey values', async () => {
    const partition = pk();
    for (let i = 0; i < 5; i += 1) {
      await documentClient().send(
        new PutCommand({ TableName: table, Item: { pk: partition, sk: `fact#${i}`, v: i } }),
      );
    }
    const queried: unknown[] = [];
    let start: Record<string, unknown> | undefined;
    let pages = 0;
    do {
      const input = {
        TableName: table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': partition, ':p': 'fact#' },
        Limit: 2,
        ...(start ? { ExclusiveStartKey: start } : {}),
      };
      const page = await documentClient().send(new QueryCommand(input));
      const same = await reference.send(new QueryCommand(input));
      expect(page.Items).toEqual(same.Items);
      expect(page.LastEvaluatedKey).toEqual(same.LastEvaluatedKey);
      if (page.LastEvaluatedKey) expect(typeof page.LastEvaluatedKey.sk).toBe('string');
      queried.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
      pages += 1;
    } while (start);
    expect(pages).toBe(3);
    expect(queried).toEqual([0, 1, 2, 3, 4].map((i) => ({ pk: partition, sk: `fact#${i}`, v: i })));

    const scanned: unknown[] = [];
    let scanStart: Record<string, unknown> | undefined;
    do {
      const page = await documentClient().send(
        new ScanCommand({
          TableName: table,
          FilterExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': partition },
          Limit: 3,
          ...(scanStart ? { ExclusiveStartKey: scanStart } : {}),
        }),
      );
      scanned.push(...(page.Items ?? []));
      scanStart = page.LastEvaluatedKey;
    } while (scanStart);
    expect(scanned).toHaveLength(5);
  });

  it('writes and reads batches, with no unprocessed entries left as lib-dynamodb reports them', async () => {
    const partition = pk();
    const items = Array.from({ length: 25 }, (_, i) => ({
      pk: partition,
      sk: `h#${String(i).padStart(2, '0')}`,
      n: i,
      gone: undefined,
    }));
    const written = await documentClient().send(
      new BatchWriteCommand({ RequestItems: { [table]: items.map((Item) => ({ PutRequest: { Item } })) } }),
    );
    const keys = items.map(({ pk: p, sk }) => ({ pk: p, sk }));
    const fast = await documentClient().send(
      new BatchGetCommand({ RequestItems: { [table]: { Keys: keys, ConsistentRead: true } } }),
    );
    const lib = await reference.send(
      new BatchGetCommand({ RequestItems: { [table]: { Keys: keys, ConsistentRead: true } } }),
    );
    expect(written.UnprocessedItems ?? {}).toEqual({});
    expect(fast.UnprocessedKeys).toEqual(lib.UnprocessedKeys);
    const byKey = (a: { sk?: unknown }, b: { sk?: unknown }) => String(a.sk).localeCompare(String(b.sk));
    const got = [...(fast.Responses?.[table] ?? [])].sort(byKey);
    expect(got).toEqual(items.map(({ gone: _, ...rest }) => rest));
    expect(got).toEqual([...(lib.Responses?.[table] ?? [])].sort(byKey));
    await documentClient().send(
      new BatchWriteCommand({ RequestItems: { [table]: keys.map((Key) => ({ DeleteRequest: { Key } })) } }),
    );
    const gone = await reference.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: keys } } }));
    expect(gone.Responses?.[table]).toEqual([]);
  });

  it('aborts a call whose signal is aborted, as lib-dynamodb does, and writes nothing', async () => {
    const key = { pk: pk(), sk: 'abort' };
    const controller = new AbortController();
    controller.abort();
    const put = () => new PutCommand({ TableName: table, Item: { ...key, v: 1 } });
    const fast = await errorOf(documentClient().send(put(), { abortSignal: controller.signal }));
    const lib = await errorOf(reference.send(put(), { abortSignal: controller.signal }));
    expect(fast?.name).toBe('AbortError');
    expect(fast?.name).toBe(lib?.name);
    expect((await reference.send(new GetCommand({ TableName: table, Key: key }))).Item).toBeUndefined();
    // The next call without options still goes through (the per-call handler was not cached).
    await documentClient().send(put());
    expect((await reference.send(new GetCommand({ TableName: table, Key: key }))).Item).toEqual({
      ...key,
      v: 1,
    });
  });

  it('sends each of many concurrent commands of one class with its own input', async () => {
    const partition = pk();
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        documentClient().send(
          new PutCommand({
            TableName: table,
            Item: { pk: partition, sk: `c#${String(i).padStart(2, '0')}`, v: i, odd: i % 2 === 1 },
          }),
        ),
      ),
    );
    const all = await reference.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': partition },
      }),
    );
    expect(all.Items).toEqual(
      Array.from({ length: 40 }, (_, i) => ({
        pk: partition,
        sk: `c#${String(i).padStart(2, '0')}`,
        v: i,
        odd: i % 2 === 1,
      })),
    );
  });

  it("lets middleware added to dynamoClient() see the document client's calls, as tests and benchmarks do", async () => {
    const key = { pk: pk(), sk: 'mw' };
    await documentClient().send(new GetCommand({ TableName: table, Key: key }));
    const seen: string[] = [];
    dynamoClient().middlewareStack.add(
      (next, context) => async (args) => {
        seen.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'documentClientTestCounter' },
    );
    try {
      await documentClient().send(new PutCommand({ TableName: table, Item: { ...key, v: 1 } }));
      await documentClient().send(new GetCommand({ TableName: table, Key: key }));
    } finally {
      dynamoClient().middlewareStack.remove('documentClientTestCounter');
    }
    await documentClient().send(new GetCommand({ TableName: table, Key: key }));
    expect(seen).toEqual(['PutItemCommand', 'GetItemCommand']);
  });
});
