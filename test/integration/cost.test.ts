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
  // conversation Lambda: the message, then the debounce tick
  'DynamoDB PutItem [idempotency record] (conversation/runtime)': 1,
  'DynamoDB UpdateItem [idempotency record] (conversation/runtime)': 1,
  'DynamoDB GetItem [memory conv/state] (memory/store)': 2,
  'DynamoDB PutItem [memory conv/state] (memory/store)': 3,
  'DynamoDB PutItem [memory conv/hist] (memory/store)': 1,
  'DynamoDB Query [memory conv/*] (memory/store)': 2,
  'DynamoDB Query [memory cust/*] (memory/store)': 1,
  'DynamoDB BatchWriteItem [memory conv/hist] (memory/store)': 1,
  'DynamoDB BatchWriteItem [memory cust/profile] (memory/store)': 1,
  'SQS SendMessage [timer] (conversation/aws)': 1,
  'SQS SendMessage [inbound] (conversation/timer)': 1,
  'SQS SendMessage [outbound] (conversation/aws)': 1,
  // delivery Lambda
  'DynamoDB PutItem [idempotency record] (delivery/handler)': 1,
  'DynamoDB UpdateItem [idempotency record] (delivery/handler)': 1,
  'DynamoDB UpdateItem [memory rate/w] (delivery/rate-limit)': 1,
  'DynamoDB UpdateItem [memory conv/attempts] (delivery/records)': 1,
  'DynamoDB PutItem [memory sent/sent] (delivery/records)': 1,
  'DynamoDB UpdateItem [memory conv/hist] (delivery/records)': 1,
};

/** Records each queue's event source mapping hands to a handler per message. */
const EXPECTED_ESM_RECORDS = { inbound: 2, timer: 1, outbound: 1 };
/** DynamoDB write units per message: one per write, five for the state item's three puts (two over 1 KB). */
const EXPECTED_WCU = 16;
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

  it('has the event source mapping hand each queue the expected records per message', () => {
    const s = dump.scenarios[0]!;
    const records: Record<string, number> = {};
    for (const [key, v] of Object.entries(s.ops)) {
      const queue = /^ESM SQS ReceiveMessage \[(\w+)\]/.exec(key)?.[1];
      if (queue) records[queue] = v.records / s.messages;
    }
    expect(records).toEqual(EXPECTED_ESM_RECORDS);
  });

  it('uses the expected DynamoDB write units and no failed conditional writes', () => {
    const s = dump.scenarios[0]!;
    expect(s.wcuPerMessage).toBe(EXPECTED_WCU);
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
