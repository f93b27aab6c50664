/**
 * dynalite with its expressions parsed once per shape (bin/local/dynalite-parse-cache.ts, on
 * the local stack's dynalite) answers exactly as stock dynalite: the same script of condition,
 * update, key-condition, filter and projection expressions, each repeated with new values of
 * the same types (cache hits), with values of other types, and with every kind of error.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cacheExpressionParser,
  type ExpressionParser,
  parseCacheStats,
} from '../../bin/local/dynalite-parse-cache.js';
import { loadDynalite, loadStockDynalite } from '../../bin/local/dynalite-store.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../bin/local/emulators.js';

const TableName = 'memory';
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of stops) await stop();
});

async function start(stock: boolean): Promise<DynamoDBClient> {
  const server: Server = (stock ? loadStockDynalite() : loadDynalite())({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new DynamoDBClient({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    maxAttempts: 1,
  });
  stops.push(async () => {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await client.send(
    new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    }),
  );
  await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.2 }, { TableName });
  return client;
}

type Command = GetItemCommand | PutItemCommand | QueryCommand | ScanCommand | UpdateItemCommand;

/** The script: round `r` uses values that differ from the other rounds' but have the same types. */
function commands(r: number): Command[] {
  const pk = { S: `conv#${r % 2}` };
  const key = (sk: string) => ({ pk, sk: { S: sk } });
  return [
    new PutItemCommand({
      TableName,
      Item: { ...key(`state#${r}`), n: { N: String(r) }, tags: { SS: ['a', `t${r}`] }, list: { L: [] } },
      ConditionExpression: 'attribute_not_exists(pk) OR #n < :n',
      ExpressionAttributeNames: { '#n': 'n' },
      ExpressionAttributeValues: { ':n': { N: String(100 + r) } },
      ReturnValues: 'ALL_OLD',
    }),
    new UpdateItemCommand({
      TableName,
      Key: key(`state#${r}`),
      UpdateExpression:
        'SET #t = :t, #c = if_not_exists(#c, :zero) + :one, #l = list_append(#l, :l) REMOVE #gone ADD #tags :tag',
      ConditionExpression:
        'attribute_exists(pk) AND (size(#tags) >= :two OR contains(#tags, :a)) AND NOT #n IN (:x, :y)',
      ExpressionAttributeNames: {
        '#t': 't',
        '#c': 'c',
        '#l': 'list',
        '#gone': 'gone',
        '#tags': 'tags',
        '#n': 'n',
      },
      ExpressionAttributeValues: {
        ':t': { S: `text ${r} 👋` },
        ':zero': { N: '0' },
        ':one': { N: '1' },
        ':l': { L: [{ S: `e${r}` }, { M: { deep: { N: String(r) } } }] },
        ':tag': { SS: [`x${r}`] },
        ':two': { N: '2' },
        ':a': { S: 'a' },
        ':x': { N: '-1' },
        ':y': { N: String(1000 + r) },
      },
      ReturnValues: 'ALL_NEW',
    }),
    new QueryCommand({
      TableName,
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :s)',
      FilterExpression: '#c > :min AND attribute_type(#t, :type)',
      ProjectionExpression: 'sk, #c, #t, #l[0], tags',
      ExpressionAttributeNames: { '#c': 'c', '#t': 't', '#l': 'list' },
      ExpressionAttributeValues: { ':p': pk, ':s': { S: 'state#' }, ':min': { N: '0' }, ':type': { S: 'S' } },
    }),
    new QueryCommand({
      TableName,
      KeyConditionExpression: 'pk = :p AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: { ':p': pk, ':lo': { S: 'state#0' }, ':hi': { S: `state#${r}` } },
    }),
    new ScanCommand({
      TableName,
      FilterExpression: '#n <> :n',
      ExpressionAttributeNames: { '#n': 'n' },
      ExpressionAttributeValues: { ':n': { N: String(r) } },
    }),
    new GetItemCommand({
      TableName,
      Key: key(`state#${r}`),
      ProjectionExpression: '#t, c',
      ExpressionAttributeNames: { '#t': 't' },
    }),
    // Same texts and names, values of another type: the answer depends on the types.
    new UpdateItemCommand({
      TableName,
      Key: key(`state#${r}`),
      UpdateExpression: 'SET #c = if_not_exists(#c, :zero) + :one',
      ExpressionAttributeNames: { '#c': 'c' },
      ExpressionAttributeValues: { ':zero': { N: '0' }, ':one': r % 2 ? { S: 'one' } : { N: '1' } },
    }),
    new UpdateItemCommand({
      TableName,
      Key: key(`state#${r}`),
      UpdateExpression: 'SET #t = :t',
      ConditionExpression: 'size(#t) > :n',
      ExpressionAttributeNames: { '#t': 't' },
      ExpressionAttributeValues: { ':t': { S: 'x' }, ':n': r % 2 ? { BOOL: true } : { N: '1' } },
    }),
    // Errors: an unused value, an undefined name, a syntax error, a bad BETWEEN, a failed condition.
    new UpdateItemCommand({
      TableName,
      Key: key(`state#${r}`),
      UpdateExpression: 'SET #t = :t',
      ExpressionAttributeNames: { '#t': 't' },
      ExpressionAttributeValues: { ':t': { S: 'x' }, ':unused': { N: String(r) } },
    }),
    new UpdateItemCommand({
      TableName,
      Key: key(`state#${r}`),
      UpdateExpression: 'SET #t = :t',
      ConditionExpression: '#missing = :t',
      ExpressionAttributeNames: { '#t': 't' },
      ExpressionAttributeValues: { ':t': { S: 'x' } },
    }),
    new QueryCommand({
      TableName,
      KeyConditionExpression: 'pk = :p AND AND',
      ExpressionAttributeValues: { ':p': pk },
    }),
    new QueryCommand({
      TableName,
      KeyConditionExpression: 'pk = :p AND sk BETWEEN :hi AND :lo',
      ExpressionAttributeValues: { ':p': pk, ':lo': { S: 'a' }, ':hi': { S: `z${r}` } },
    }),
    new PutItemCommand({
      TableName,
      Item: key(`state#${r}`),
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
    // The same value text under two names, and a name used by both expressions of one request.
    new UpdateItemCommand({
      TableName,
      Key: key(`state#${r}`),
      UpdateExpression: 'SET #t = :same',
      ConditionExpression: '#t <> :other AND #t <> :same',
      ExpressionAttributeNames: { '#t': 't' },
      ExpressionAttributeValues: { ':same': { S: `s${r}` }, ':other': { S: `s${r}` } },
    }),
  ];
}

async function run(client: DynamoDBClient, rounds: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const command of commands(r)) {
      try {
        const answer = (await client.send(command as never)) as unknown as Record<string, unknown>;
        const { $metadata: _, ...rest } = answer;
        out.push(rest);
      } catch (err) {
        out.push({ error: (err as Error).name, message: (err as Error).message });
      }
    }
  }
  return out;
}

describe("dynalite's expressions parsed once per shape", () => {
  it('answers a script of expressions, repeated with new values, exactly as stock dynalite', async () => {
    const [cached, stock] = await Promise.all([start(false), start(true)]);
    const before = { ...parseCacheStats };
    const ours = await run(cached, 4);
    // Rounds 2-4 repeat round 1's shapes: most parses are answered from the cache.
    expect(parseCacheStats.hits - before.hits).toBeGreaterThan(30);
    expect(parseCacheStats.uncached - before.uncached).toBeGreaterThan(0);
    const theirs = await run(stock, 4);
    expect(ours).toEqual(theirs);
    // The script does reach every kind of answer it is meant to compare.
    const errors = theirs
      .filter((a) => (a as { error?: string }).error)
      .map((a) => (a as { message: string }).message);
    expect(errors.some((m) => m.includes('unused in expressions'))).toBe(true);
    expect(errors.some((m) => m.includes('attribute name used in the document path is not defined'))).toBe(
      true,
    );
    expect(errors.some((m) => m.includes('Syntax error'))).toBe(true);
    expect(errors.some((m) => m.includes('BETWEEN'))).toBe(true);
    expect(errors.some((m) => m.includes('Incorrect operand type'))).toBe(true);
    expect(errors.some((m) => m.includes('The conditional request failed'))).toBe(true);
    expect(theirs.filter((a) => !(a as { error?: string }).error).length).toBeGreaterThan(20);
  });

  it('parses a repeated shape once, and a new value type, a new name or a new text again', () => {
    let parses = 0;
    const parser: ExpressionParser = {
      parse: (text, options) => {
        parses += 1;
        const ctx = options?.context ?? {};
        delete ctx.unusedAttrNames?.['#a'];
        delete ctx.unusedAttrVals?.[':v'];
        return { expression: { type: '=', args: [[ctx.attrNames?.['#a']], ctx.attrVals?.[':v']] }, text };
      },
    };
    cacheExpressionParser(parser);
    const call = (
      names: Record<string, string>,
      vals: Record<string, Record<string, unknown>>,
      text = '#a = :v',
    ) => {
      const context = {
        attrNames: names,
        attrVals: vals,
        unusedAttrNames: Object.fromEntries(Object.keys(names).map((k) => [k, true])),
        unusedAttrVals: Object.fromEntries(Object.keys(vals).map((k) => [k, true])),
      };
      const result = parser.parse(text, { context });
      return { result, context };
    };
    const first = call({ '#a': 'x' }, { ':v': { S: '1' } });
    const value = { S: '2' };
    const second = call({ '#a': 'x' }, { ':v': value });
    expect(parses).toBe(1);
    expect(second.result).toEqual({ expression: { type: '=', args: [['x'], { S: '2' }] }, text: '#a = :v' });
    expect((second.result as { expression: { args: unknown[] } }).expression.args[1]).toBe(value);
    expect(second.context.unusedAttrNames).toEqual({});
    expect(second.context.unusedAttrVals).toEqual({});
    expect(first.result).not.toBe(second.result);
    call({ '#a': 'x' }, { ':v': { N: '2' } });
    call({ '#a': 'y' }, { ':v': { S: '2' } });
    call({ '#a': 'x' }, { ':v': { S: '2' } }, '#a  = :v');
    call({ '#a': 'x' }, { ':v': { S: '3' } }, '#a BETWEEN :v AND :v');
    call({ '#a': 'x' }, { ':v': { S: '4' } }, '#a BETWEEN :v AND :v');
    expect(parses).toBe(6);
  });
});
