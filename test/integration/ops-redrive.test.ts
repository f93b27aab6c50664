/**
 * `npm run ops -- redrive` against fauxqs: the local stack's stack.json names the queues (as
 * `npm start` writes it), dead letters of several conversations are interleaved in the DLQ, and
 * each conversation must come back to its queue in its own order.
 */
import { join } from 'node:path';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { runOpsCli } from '../../bin/ops/cli.js';
import { stackDataDir } from '../helpers/stack-json.js';

let emulators: Emulators;
let dataDir: string;

beforeAll(async () => {
  emulators = await startEmulators({ prefix: 'ops' });
  dataDir = stackDataDir(emulators, 'chat-relay-ops-');
});

afterAll(async () => {
  await emulators?.stop();
});

beforeEach(async () => {
  for (const q of Object.values(emulators.queues)) {
    await emulators.sqs.send(new PurgeQueueCommand({ QueueUrl: q.url }));
    await emulators.sqs.send(new PurgeQueueCommand({ QueueUrl: q.dlqUrl }));
  }
});

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function ops(...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runOpsCli(argv, {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    // Only the data directory: the emulators' endpoints come from stack.json.
    env: { CHAT_RELAY_DATA_DIR: dataDir },
  });
  return { code, out, err };
}

/** Dead letters of `counts` conversations, sent to the inbound DLQ round-robin. */
let batch = 0;
async function deadLetters(counts: Record<string, number>): Promise<number> {
  // FIFO deduplication lasts 5 minutes: every call sends under fresh ids.
  batch += 1;
  const next: Record<string, number> = Object.fromEntries(Object.keys(counts).map((g) => [g, 0]));
  let total = 0;
  for (let more = true; more; ) {
    more = false;
    for (const [group, count] of Object.entries(counts)) {
      const n = next[group]!;
      if (n >= count) continue;
      more = true;
      next[group] = n + 1;
      total += 1;
      await emulators.sqs.send(
        new SendMessageCommand({
          QueueUrl: emulators.queues.inbound.dlqUrl,
          MessageBody: JSON.stringify({
            v: 1,
            type: 'message',
            tenantId: 'shop',
            channel: 'messenger',
            conversationId: group,
            conversationKey: `shop#messenger#${group}`,
            seq: n,
          }),
          MessageGroupId: `shop#messenger#${group}`,
          MessageDeduplicationId: `${batch}-${group}-${n}`,
        }),
      );
    }
  }
  return total;
}

/** Everything in a FIFO queue, per group in the order the queue hands it out (deleting as it reads). */
async function drain(queueUrl: string, expected: number): Promise<Map<string, number[]>> {
  const groups = new Map<string, number[]>();
  let seen = 0;
  for (let empty = 0; empty < 3 && seen < expected + 1; ) {
    const res = await emulators.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: seen >= expected ? 1 : 0,
        MessageSystemAttributeNames: ['MessageGroupId'],
      }),
    );
    const messages = res.Messages ?? [];
    if (messages.length === 0) empty += 1;
    for (const m of messages) {
      seen += 1;
      const body = JSON.parse(m.Body ?? '{}') as { seq: number };
      const group = m.Attributes?.MessageGroupId ?? '';
      groups.set(group, [...(groups.get(group) ?? []), body.seq]);
      await emulators.sqs.send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }),
      );
    }
  }
  return groups;
}

async function depth(queueUrl: string): Promise<number> {
  const res = await emulators.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(res.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(res.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('npm run ops -- redrive', () => {
  it('moves three interleaved conversations back to the inbound queue, each in its own order', async () => {
    // 14 records in one conversation: more than one FIFO receive shows of a group at a time.
    const total = await deadLetters({ a: 14, b: 3, c: 6 });
    const run = await ops('redrive', 'inbound');
    expect(run.err).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.out.at(-1)).toBe(`Moved ${total} records; the DLQ holds 0.`);
    const lines = run.out.filter((l) => l.startsWith('moved'));
    expect(lines).toHaveLength(total);
    // Printed grouped by conversation, oldest first.
    const printed = lines.map((l) => /shop#messenger#(\w)/.exec(l)?.[1]);
    expect(printed.filter((g) => g === 'a')).toHaveLength(14);
    expect(await depth(emulators.queues.inbound.dlqUrl)).toBe(0);
    const back = await drain(emulators.queues.inbound.url, total);
    expect(back.get('shop#messenger#a')).toEqual(range(14));
    expect(back.get('shop#messenger#b')).toEqual(range(3));
    expect(back.get('shop#messenger#c')).toEqual(range(6));
  });

  it('lists what would move with --dry-run and moves nothing', async () => {
    const total = await deadLetters({ a: 2, b: 2, c: 2 });
    const run = await ops('redrive', 'inbound', '--dry-run');
    expect(run.code).toBe(0);
    // Each conversation's oldest record at least (FIFO shows later ones only once earlier ones go).
    const listed = run.out.filter((l) => l.startsWith('would move'));
    expect(new Set(listed.map((l) => /shop#messenger#(\w)/.exec(l)?.[1]))).toEqual(new Set(['a', 'b', 'c']));
    expect(run.out).toContain(`Would move ${listed.length} records; the DLQ holds ${total}.`);
    expect(await depth(emulators.queues.inbound.url)).toBe(0);
    // Still all there, and visible again at once: a real redrive right after moves every one.
    expect(await depth(emulators.queues.inbound.dlqUrl)).toBe(total);
    const after = await ops('redrive', 'inbound');
    expect(after.out.at(-1)).toBe(`Moved ${total} records; the DLQ holds 0.`);
  });

  it('moves at most --max records, a conversation’s oldest first, and the rest later in order', async () => {
    await deadLetters({ a: 3, b: 3 });
    const first = await ops('redrive', 'inbound', '--max', '2', '--json');
    expect(first.code).toBe(0);
    const result = JSON.parse(first.out.join('\n')) as { moved: { group: string }[]; remaining: number };
    expect(result.moved).toHaveLength(2);
    expect(result.remaining).toBe(4);
    expect(await depth(emulators.queues.inbound.url)).toBe(2);
    const second = await ops('redrive', 'inbound');
    expect(second.out.at(-1)).toBe('Moved 4 records; the DLQ holds 0.');
    const back = await drain(emulators.queues.inbound.url, 6);
    expect(back.get('shop#messenger#a')).toEqual(range(3));
    expect(back.get('shop#messenger#b')).toEqual(range(3));
  });

  it('moves standard-queue dead letters (timer) without a message group', async () => {
    for (const n of range(3)) {
      await emulators.sqs.send(
        new SendMessageCommand({
          QueueUrl: emulators.queues.timer.dlqUrl,
          MessageBody: JSON.stringify({ type: 'flush', conversationKey: 'shop#zalo#z', seq: n }),
        }),
      );
    }
    const run = await ops('redrive', 'timer');
    expect(run.out.at(-1)).toBe('Moved 3 records; the DLQ holds 0.');
    expect(await depth(emulators.queues.timer.url)).toBe(3);
    expect(await depth(emulators.queues.timer.dlqUrl)).toBe(0);
  });

  it('says so and moves nothing when the DLQ is empty', async () => {
    const run = await ops('redrive', 'outbound');
    expect(run.code).toBe(0);
    expect(run.out.at(-1)).toBe('Moved 0 records; the DLQ holds 0.');
  });

  it('exits 2 with the fix when no local stack state exists', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runOpsCli(['redrive', 'inbound', '--local'], {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      env: { CHAT_RELAY_DATA_DIR: join(dataDir, 'nowhere') },
    });
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(/No local stack state at .*nowhere.*npm start/);
  });
});
