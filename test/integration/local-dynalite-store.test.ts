/**
 * dynalite on the local stack's store (bin/local/dynalite-store.ts) against stock dynalite: the
 * same answers to the same DynamoDB script, tables kept in the journal across a restart and a
 * SIGKILL, and a data directory from an earlier version (LevelDB) carried on after the upgrade.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DynaliteStore,
  JOURNAL_FILE,
  loadDynalite,
  loadStockDynalite,
  prepareDynaliteStore,
} from '../../bin/local/dynalite-store.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startEmulators } from '../../bin/local/emulators.js';

const root = mkdtempSync(join(tmpdir(), 'chat-relay-dynalite-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `d${++dirs}`);

interface Running {
  readonly client: DynamoDBClient;
  readonly stop: () => Promise<void>;
}

async function start(stock: boolean, path?: string): Promise<Running> {
  const server: Server = (stock ? loadStockDynalite() : loadDynalite())({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(path !== undefined ? { path } : {}),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new DynamoDBClient({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });
  return {
    client,
    stop: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const TableName = 'memory';

async function createTable(client: DynamoDBClient): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'owner', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byOwner',
          KeySchema: [
            { AttributeName: 'owner', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
  await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.2 }, { TableName });
}

/** Drops what differs between two servers by design (ids, clocks, request metadata). */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== '$metadata' && k !== 'TableId' && !k.endsWith('DateTime'))
        .map(([k, v]) => [k, normalise(v)]),
    );
  }
  return value;
}

/** A script touching every store operation dynalite uses; returns every answer (or error name). */
async function script(client: DynamoDBClient): Promise<unknown[]> {
  const out: unknown[] = [];
  const step = async (run: () => Promise<unknown>): Promise<void> => {
    try {
      out.push(normalise(await run()));
    } catch (err) {
      out.push({ error: (err as Error).name });
    }
  };
  await createTable(client);
  for (const conv of ['c1', 'c2', 'c10']) {
    for (const n of [3, 1, 2, 10]) {
      await step(() =>
        client.send(
          new PutItemCommand({
            TableName,
            Item: {
              pk: { S: conv },
              sk: { S: `turn#${String(n).padStart(3, '0')}` },
              owner: { S: n % 2 === 0 ? 'even' : 'odd' },
              text: { S: `é ${conv} ${n} 😀` },
              n: { N: String(n) },
            },
            ReturnValues: 'ALL_OLD',
          }),
        ),
      );
    }
  }
  await step(() =>
    client.send(
      new PutItemCommand({
        TableName,
        Item: { pk: { S: 'c1' }, sk: { S: 'turn#001' } },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
  );
  await step(() =>
    client.send(
      new UpdateItemCommand({
        TableName,
        Key: { pk: { S: 'c1' }, sk: { S: 'turn#002' } },
        UpdateExpression: 'SET #t = :t ADD n :one',
        ExpressionAttributeNames: { '#t': 'text' },
        ExpressionAttributeValues: { ':t': { S: 'updated' }, ':one': { N: '1' } },
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  await step(() =>
    client.send(new GetItemCommand({ TableName, Key: { pk: { S: 'c1' }, sk: { S: 'turn#002' } } })),
  );
  await step(() =>
    client.send(new GetItemCommand({ TableName, Key: { pk: { S: 'c9' }, sk: { S: 'turn#002' } } })),
  );
  for (const ScanIndexForward of [true, false]) {
    await step(() =>
      client.send(
        new QueryCommand({
          TableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :a AND :b',
          ExpressionAttributeValues: { ':pk': { S: 'c1' }, ':a': { S: 'turn#002' }, ':b': { S: 'turn#010' } },
          ScanIndexForward,
        }),
      ),
    );
  }
  // paging: Limit and ExclusiveStartKey, both directions
  for (const ScanIndexForward of [true, false]) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await client.send(
        new QueryCommand({
          TableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':pk': { S: 'c10' }, ':p': { S: 'turn#' } },
          ScanIndexForward,
          Limit: 3,
          ...(start ? { ExclusiveStartKey: start as never } : {}),
        }),
      );
      out.push(normalise(page));
      start = page.LastEvaluatedKey;
    } while (start);
  }
  await step(() =>
    client.send(
      new QueryCommand({
        TableName,
        IndexName: 'byOwner',
        KeyConditionExpression: '#o = :o AND sk > :s',
        ExpressionAttributeNames: { '#o': 'owner' },
        ExpressionAttributeValues: { ':o': { S: 'even' }, ':s': { S: 'turn#002' } },
      }),
    ),
  );
  let start: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({ TableName, Limit: 5, ...(start ? { ExclusiveStartKey: start as never } : {}) }),
    );
    out.push(normalise(page));
    start = page.LastEvaluatedKey;
  } while (start);
  await step(() =>
    client.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [TableName]: [
            { DeleteRequest: { Key: { pk: { S: 'c2' }, sk: { S: 'turn#001' } } } },
            { PutRequest: { Item: { pk: { S: 'c3' }, sk: { S: 'a' }, owner: { S: 'odd' } } } },
          ],
        },
      }),
    ),
  );
  await step(() =>
    client.send(
      new BatchGetItemCommand({
        RequestItems: {
          [TableName]: {
            Keys: [
              { pk: { S: 'c2' }, sk: { S: 'turn#001' } },
              { pk: { S: 'c3' }, sk: { S: 'a' } },
            ],
          },
        },
      }),
    ),
  );
  await step(() =>
    client.send(
      new DeleteItemCommand({
        TableName,
        Key: { pk: { S: 'c1' }, sk: { S: 'turn#003' } },
        ReturnValues: 'ALL_OLD',
      }),
    ),
  );
  await step(() => client.send(new ScanCommand({ TableName })));
  await step(() => client.send(new ListTablesCommand({})));
  await step(() => client.send(new DescribeTableCommand({ TableName })));
  return out;
}

describe('dynalite on the local stack store', () => {
  it('answers a DynamoDB script exactly as stock dynalite on memory-level does', async () => {
    const ours = await start(false);
    const stock = await start(true);
    try {
      const [a, b] = [await script(ours.client), await script(stock.client)];
      expect(a.length).toBeGreaterThan(30);
      expect(a).toEqual(b);
      // the script reached the data: a Query page and the final Scan hold items
      expect(JSON.stringify(a)).toContain('updated');
    } finally {
      await ours.stop();
      await stock.stop();
    }
  });

  it('keeps the tables in its journal across a restart, and stock dynalite is left on LevelDB', async () => {
    const path = freshDir();
    const first = await start(false, path);
    await createTable(first.client);
    await first.client.send(
      new PutItemCommand({ TableName, Item: { pk: { S: 'c1' }, sk: { S: 's' }, text: { S: 'kept' } } }),
    );
    await first.stop();
    expect(existsSync(join(path, JOURNAL_FILE))).toBe(true);
    expect(existsSync(join(path, 'CURRENT'))).toBe(false);
    const second = await start(false, path);
    try {
      const got = await second.client.send(
        new GetItemCommand({ TableName, Key: { pk: { S: 'c1' }, sk: { S: 's' } } }),
      );
      expect(got.Item?.text).toEqual({ S: 'kept' });
    } finally {
      await second.stop();
    }
    const stockPath = freshDir();
    const stock = await start(true, stockPath);
    await createTable(stock.client);
    await stock.stop();
    expect(existsSync(join(stockPath, 'CURRENT'))).toBe(true);
    expect(existsSync(join(stockPath, JOURNAL_FILE))).toBe(false);
  });

  it('carries on a data directory an earlier version wrote with LevelDB, importing it once', async () => {
    const dataDir = freshDir();
    const tableDir = join(dataDir, 'dynamodb');
    const previous = process.env.LOCAL_DYNALITE_STORE;
    process.env.LOCAL_DYNALITE_STORE = 'level';
    let emulators = await startEmulators({ dataDir, prefix: 'up' });
    try {
      for (const n of [1, 2, 3]) {
        await emulators.dynamo.send(
          new PutItemCommand({
            TableName: emulators.tables.memory,
            Item: { pk: { S: 'conv#1' }, sk: { S: `turn#${n}` }, text: { S: `before the upgrade ${n}` } },
          }),
        );
      }
    } finally {
      await emulators.stop();
      if (previous === undefined) delete process.env.LOCAL_DYNALITE_STORE;
      else process.env.LOCAL_DYNALITE_STORE = previous;
    }
    expect(existsSync(join(tableDir, 'CURRENT'))).toBe(true);
    expect(existsSync(join(tableDir, JOURNAL_FILE))).toBe(false);

    // the upgraded stack: startEmulators imports the LevelDB store, then runs on the journal
    emulators = await startEmulators({ dataDir, prefix: 'up' });
    const memory = emulators.tables.memory;
    try {
      expect(existsSync(join(tableDir, JOURNAL_FILE))).toBe(true);
      const items = await emulators.dynamo.send(
        new QueryCommand({
          TableName: memory,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: 'conv#1' } },
        }),
      );
      expect(items.Items?.map((i) => i.text?.S)).toEqual([
        'before the upgrade 1',
        'before the upgrade 2',
        'before the upgrade 3',
      ]);
      await emulators.dynamo.send(
        new DeleteItemCommand({ TableName: memory, Key: { pk: { S: 'conv#1' }, sk: { S: 'turn#2' } } }),
      );
    } finally {
      await emulators.stop();
    }
    // a second start does not import the LevelDB files again (the delete stays)
    expect(await prepareDynaliteStore(tableDir)).toEqual({ imported: 0 });
    emulators = await startEmulators({ dataDir, prefix: 'up' });
    try {
      const items = await emulators.dynamo.send(
        new QueryCommand({
          TableName: memory,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: 'conv#1' } },
        }),
      );
      expect(items.Items?.map((i) => i.sk?.S)).toEqual(['turn#1', 'turn#3']);
    } finally {
      await emulators.stop();
    }
  });

  it('loses no acknowledged write when its process is killed without closing the store', async () => {
    const path = freshDir();
    const moduleUrl = new URL('../../bin/local/dynalite-store.ts', import.meta.url).href;
    const child = join(root, 'kill-writer.mts');
    writeFileSync(
      child,
      `import { DynaliteStore } from ${JSON.stringify(moduleUrl)};
const store = new DynaliteStore(${JSON.stringify(path)}, { valueEncoding: 'json' });
for (let i = 0; i < 300; i++) {
  if (i % 3 === 2) await store.batch([{ type: 'put', key: 'b' + i, value: { i } }, { type: 'del', key: 'k' + (i - 1) }]);
  else await store.put('k' + i, { i, text: 'x'.repeat(200) });
  process.stdout.write(i + '\\n');
}
process.kill(process.pid, 'SIGKILL');
`,
    );
    const { stdout, signal } = await new Promise<{ stdout: string; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        const proc = spawn(process.execPath, ['--import', 'tsx', child], {
          cwd: fileURLToPath(new URL('../..', import.meta.url)),
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        proc.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
        });
        proc.on('error', reject);
        proc.on('close', (_code, sig) => resolve({ stdout: out, signal: sig }));
      },
    );
    expect(signal).toBe('SIGKILL');
    const acknowledged = stdout.split('\n').filter(Boolean).map(Number);
    expect(acknowledged).toHaveLength(300);
    const store = new DynaliteStore(path, { valueEncoding: 'json' });
    try {
      for (const i of acknowledged) {
        if (i % 3 === 2) {
          expect(await store.get(`b${i}`)).toEqual({ i });
          expect(await store.get(`k${i - 1}`)).toBeUndefined();
        } else if (i % 3 === 0) {
          expect(await store.get(`k${i}`)).toEqual({ i, text: 'x'.repeat(200) });
        }
      }
      expect(store.size).toBe(200);
    } finally {
      await store.close();
    }
  });
});
