/**
 * dynalite's own cost per call, on {@link DynaliteStore} or on stock dynalite (LevelDB with a
 * path, memory-level without): PutItem, GetItem and Query requests through dynalite's request
 * listener in this process (no SDK, no socket), 8 in flight, and the CPU (user + system) this
 * process spent per call. Compare the stores on the same machine at similar load:
 *
 *   npx tsx bin/local/dynalite-store-bench.ts [journal|level|memory|stock-memory] [calls]
 *
 * `journal`: DynaliteStore with a journal in a temporary directory; `memory`: DynaliteStore
 * without one; `level`: stock dynalite on LevelDB; `stock-memory`: stock dynalite on memory-level.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDynalite, loadStockDynalite } from './dynalite-store.js';
import { nodeListenerDispatch } from './inproc-server.js';

const mode = process.argv[2] ?? 'journal';
const calls = Number(process.argv[3] ?? 20_000);
const inFlight = 8;
const dir = mkdtempSync(join(tmpdir(), 'dynalite-store-bench-'));
const persistent = mode === 'journal' || mode === 'level';
const dynalite = mode === 'journal' || mode === 'memory' ? loadDynalite() : loadStockDynalite();
const server = dynalite({
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
  ...(persistent ? { path: join(dir, 'dynamodb') } : {}),
});
const listener = server.listeners('request')[0] as Parameters<typeof nodeListenerDispatch>[0];
const dispatch = nodeListenerDispatch(listener);

const call = async (target: string, body: unknown): Promise<unknown> => {
  const answer = await dispatch({
    method: 'POST',
    url: '/',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDB_20120810.${target}`,
      'x-amz-date': '20260101T000000Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00',
    },
    body: JSON.stringify(body),
  });
  const text = typeof answer.body === 'string' ? answer.body : Buffer.from(answer.body).toString('utf8');
  if (answer.status !== 200) throw new Error(`${target}: ${answer.status} ${text}`);
  return JSON.parse(text) as unknown;
};

const TableName = 'bench';
await call('CreateTable', {
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
});
for (;;) {
  const d = (await call('DescribeTable', { TableName })) as { Table: { TableStatus: string } };
  if (d.Table.TableStatus === 'ACTIVE') break;
  await new Promise((r) => setTimeout(r, 10));
}

const conversations = 200;
const text = 'x'.repeat(400);
const request = (i: number): [string, unknown] => {
  const pk = { S: `tenant#t1#conv#${i % conversations}` };
  switch (i % 3) {
    case 0:
      return [
        'PutItem',
        {
          TableName,
          Item: {
            pk,
            sk: { S: `turn#${String(i).padStart(8, '0')}` },
            text: { S: text },
            n: { N: String(i) },
          },
        },
      ];
    case 1:
      return ['GetItem', { TableName, Key: { pk, sk: { S: `turn#${String(i - 1).padStart(8, '0')}` } } }];
    default:
      return [
        'Query',
        {
          TableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':pk': pk, ':p': { S: 'turn#' } },
          ScanIndexForward: false,
          Limit: 10,
        },
      ];
  }
};

const run = async (count: number): Promise<void> => {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const [target, body] = request(next++);
        await call(target, body);
      }
    }),
  );
};

await run(Math.min(3000, calls)); // warm-up (and a table with history to query)
const load = loadavg()[0]!;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await run(calls);
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const perCall = (cpu.user + cpu.system) / calls;
console.log(
  `${mode}: ${calls} calls (PutItem/GetItem/Query), ${perCall.toFixed(1)} µs CPU per call, ` +
    `${((wall * 1000) / calls).toFixed(1)} µs wall per call, load average ${load.toFixed(2)}`,
);
await new Promise<void>((resolve) => server.close(() => resolve()));
rmSync(dir, { recursive: true, force: true });
