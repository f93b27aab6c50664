/**
 * Keeps `npm run cost` honest: the AWS calls counted for an isolated text message at the
 * deployed debounce are exactly the calls the code is meant to make. A change that adds,
 * removes or moves a call fails here until this table, the cost model and docs/cost.md agree.
 *
 * Runs `bin/cost.ts` as `npm run cost` does, in its own process (the local stack imports its
 * handlers by computed path, which Node resolves and the test runner's bundler does not).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationCount } from '../../bin/cost/counter.js';
import { PROJECT_ROOT } from '../helpers/local-stack.js';

/**
 * Calls per isolated text message, by `Service Operation [queue or table item] (module)`
 * (docs/cost.md, "Where the calls go"). Event-source receives and deletes are checked as
 * records below: how many records share one receive depends on timing.
 */
const EXPECTED_CALLS: Record<string, number> = {
  // webhook Lambda
  'SQS SendMessageBatch [inbound] (handlers/webhook)': 1,
  // conversation Lambda: the message (state read, state put, its record held in flight as the
  // debounce tick), then the same record back (state read, memory queries, the turn's history
  // item, the answered state put, the reply on outbound; no summary query before one is stored)
  'DynamoDB GetItem [memory conv/state] (memory/store)': 2,
  'DynamoDB PutItem [memory conv/state] (memory/store)': 2,
  'SQS ChangeMessageVisibility [inbound] (conversation/runtime)': 1,
  'DynamoDB Query [memory conv/*] (memory/store)': 1,
  'DynamoDB Query [memory cust/*] (memory/store)': 1,
  'DynamoDB BatchWriteItem [memory conv/hist] (memory/store)': 1,
  'SQS SendMessage [outbound] (conversation/aws)': 1,
  // delivery Lambda: the rate limiter, the sending mark, the outcome (no sent-id record on Messenger)
  'DynamoDB UpdateItem [memory rate/w] (delivery/rate-limit)': 1,
  'DynamoDB UpdateItem [memory conv/attempts] (delivery/records)': 2,
};

/**
 * Records each queue's event source mapping receives and deletes per message: the message's
 * record comes twice (the second time as its turn's tick) and is deleted once; no timer hop.
 */
const EXPECTED_ESM_RECORDS = {
  'ReceiveMessage inbound': 2,
  'DeleteMessageBatch inbound': 1,
  'ReceiveMessage outbound': 1,
  'DeleteMessageBatch outbound': 1,
};
/** DynamoDB write units per message: one per write (the state item stays under 1 KB). */
const EXPECTED_WCU = 6;
/** DynamoDB read units per message: the two strongly consistent state reads (the queries find nothing). */
const EXPECTED_RCU = 2;
const CONVERSATIONS = 2;

interface Dump {
  scenarios: {
    messages: number;
    replies: number;
    wcuPerMessage: number;
    per1M: number;
    ops: Record<string, OperationCount>;
  }[];
}

let dump: Dump;
let lastLine: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chat-relay-cost-test-'));
  const json = join(dir, 'cost.json');
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  for (const name of [
    'POWERTOOLS_LOG_LEVEL',
    'POWERTOOLS_METRICS_DISABLED',
    'POWERTOOLS_DEV',
    'NODE_OPTIONS',
  ])
    delete env[name];
  for (const name of Object.keys(env)) if (name.startsWith('VITEST')) delete env[name];
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      join(PROJECT_ROOT, 'bin', 'cost.ts'),
      '--only',
      'isolated text',
      '--conversations',
      String(CONVERSATIONS),
      '--json',
      json,
    ],
    { cwd: PROJECT_ROOT, env, maxBuffer: 16 * 1024 * 1024 },
  );
  lastLine = stdout.trimEnd().split('\n').pop() ?? '';
  dump = JSON.parse(readFileSync(json, 'utf8')) as Dump;
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the cost model of an isolated text message', () => {
  it('answers every message once', () => {
    expect(dump.scenarios[0]!.messages).toBe(CONVERSATIONS);
    expect(dump.scenarios[0]!.replies).toBe(CONVERSATIONS);
  });

  it('counts exactly the expected handler calls per message', () => {
    const s = dump.scenarios[0]!;
    const perMessage: Record<string, number> = {};
    for (const [key, v] of Object.entries(s.ops)) {
      if (key.startsWith('ESM ') || key.startsWith('idle ')) continue;
      perMessage[key] = v.calls / s.messages;
    }
    expect(perMessage).toEqual(EXPECTED_CALLS);
  });

  it('has the event source mappings receive and delete the expected records per message', () => {
    const s = dump.scenarios[0]!;
    const records: Record<string, number> = {};
    for (const [key, v] of Object.entries(s.ops)) {
      const match = /^ESM SQS (ReceiveMessage|DeleteMessageBatch) \[(\w+)\]/.exec(key);
      if (match) records[`${match[1]} ${match[2]}`] = v.records / s.messages;
    }
    expect(records).toEqual(EXPECTED_ESM_RECORDS);
  });

  it('uses the expected DynamoDB write and read units and no failed conditional writes', () => {
    const s = dump.scenarios[0]!;
    expect(s.wcuPerMessage).toBe(EXPECTED_WCU);
    const rcu = Object.values(s.ops).reduce((n, v) => n + v.rcu, 0) / s.messages;
    expect(rcu).toBe(EXPECTED_RCU);
    const failures = Object.values(s.ops).reduce((n, v) => n + v.conditionalFailures + v.errors, 0);
    expect(failures).toBe(0);
  });

  it('ends with the summary line in its fixed format, matching the priced scenario', () => {
    const s = dump.scenarios[0]!;
    expect(lastLine).toMatch(
      /^cost: \$\d+\.\d\d per 1M messages \(isolated text, deployed defaults\); DynamoDB \d+\.\d WCU\/message; idle \$\d+\.\d\d\/month$/,
    );
    expect(lastLine).toContain(`cost: $${s.per1M.toFixed(2)} per 1M`);
    expect(lastLine).toContain(`DynamoDB ${s.wcuPerMessage.toFixed(1)} WCU/message`);
  });
});
