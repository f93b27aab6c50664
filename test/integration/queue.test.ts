import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { resetClients } from '../../lambdas/shared/clients.js';
import { type QueueEntry, sendToQueue } from '../../lambdas/shared/queue.js';

let emulators: Emulators;

beforeAll(async () => {
  emulators = await startEmulators({ prefix: 'queue' });
  Object.assign(process.env, emulators.env);
  resetClients();
});

afterAll(async () => {
  resetClients();
  await emulators.stop();
});

const entry = (group: string, n: number, body = `${group}-${n}`): QueueEntry => ({
  id: `${group}${n}`,
  body,
  groupId: group,
  dedupId: `${group}-${n}`,
});

describe('sendToQueue against fauxqs', () => {
  it('delivers every entry of several interleaved conversations in each conversation’s order', async () => {
    const entries: QueueEntry[] = [];
    for (let n = 0; n < 8; n += 1) for (const g of ['a', 'b', 'c']) entries.push(entry(g, n));
    const outcome = await sendToQueue(emulators.queues.inbound.url, entries);
    expect(outcome.failed).toEqual([]);
    expect(outcome.sent).toHaveLength(24);
    const sqs = new SQSClient({ endpoint: emulators.sqsEndpoint, useQueueUrlAsEndpoint: false });
    // Read everything back (deleting as we go, so FIFO hands out each group's next message).
    const bodies: string[] = [];
    for (let i = 0; i < 40 && bodies.length < 24; i += 1) {
      const r = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: emulators.queues.inbound.url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
        }),
      );
      for (const m of r.Messages ?? []) {
        bodies.push(m.Body ?? '');
        await sqs.send(
          new DeleteMessageCommand({
            QueueUrl: emulators.queues.inbound.url,
            ReceiptHandle: m.ReceiptHandle,
          }),
        );
      }
    }
    expect(bodies).toHaveLength(24);
    for (const g of ['a', 'b', 'c']) {
      expect(bodies.filter((b) => b.startsWith(`${g}-`))).toEqual(
        Array.from({ length: 8 }, (_, n) => `${g}-${n}`),
      );
    }
    sqs.destroy();
  });
});

describe('sendToQueue under partial failures (faults injected with aws-sdk-client-mock)', () => {
  // Installed only for this block: the emulator setup above uses the real client.
  let mock: ReturnType<typeof mockClient>;
  beforeAll(() => {
    mock = mockClient(SQSClient);
  });
  afterEach(() => mock.reset());
  afterAll(() => mock.restore());

  it('never puts two entries of one group in one call, and holds a group behind its failed entry', async () => {
    const calls: string[][] = [];
    let failedOnce = false;
    mock.on(SendMessageBatchCommand).callsFake((input: { Entries: { Id: string }[] }) => {
      const ids = input.Entries.map((e) => e.Id);
      calls.push(ids);
      if (!failedOnce && ids.includes('a0')) {
        failedOnce = true;
        return {
          Successful: ids
            .filter((id) => id !== 'a0')
            .map((Id) => ({ Id, MessageId: Id, MD5OfMessageBody: '' })),
          Failed: [{ Id: 'a0', Code: 'InternalError', SenderFault: false, Message: 'boom' }],
        };
      }
      return { Successful: ids.map((Id) => ({ Id, MessageId: Id, MD5OfMessageBody: '' })), Failed: [] };
    });
    const entries = [entry('a', 0), entry('a', 1), entry('b', 0), entry('a', 2), entry('b', 1)];
    const outcome = await sendToQueue('http://queue.invalid/q.fifo', entries, { baseDelayMs: 1 });
    expect(outcome.failed).toEqual([]);
    for (const call of calls) {
      const groups = call.map((id) => id[0]);
      expect(new Set(groups).size).toBe(groups.length);
    }
    // a1 and a2 were never sent before a0 succeeded; b went on meanwhile.
    const sentOrder = outcome.sent;
    expect(sentOrder.filter((id) => id.startsWith('a'))).toEqual(['a0', 'a1', 'a2']);
    expect(sentOrder.filter((id) => id.startsWith('b'))).toEqual(['b0', 'b1']);
    expect(calls[0]).toEqual(['a0', 'b0']);
    expect(calls[1]).toEqual(['b1']);
  });

  it('reports what is still unsent when the budget runs out, keeping a group’s later entries unsent too', async () => {
    mock.on(SendMessageBatchCommand).rejects(new Error('SQS is down'));
    const outcome = await sendToQueue('http://queue.invalid/q.fifo', [entry('a', 0), entry('a', 1)], {
      budgetMs: 50,
      baseDelayMs: 5,
    });
    expect(outcome.sent).toEqual([]);
    expect(outcome.failed.map((f) => f.id)).toEqual(['a0', 'a1']);
    expect(outcome.failed[0]?.error).toContain('SQS is down');
  });

  it('splits calls to stay under the 1 MiB request limit', async () => {
    const sizes: number[] = [];
    mock
      .on(SendMessageBatchCommand)
      .callsFake((input: { Entries: { Id: string; MessageBody: string }[] }) => {
        sizes.push(input.Entries.reduce((sum, e) => sum + Buffer.byteLength(e.MessageBody), 0));
        return {
          Successful: input.Entries.map((e) => ({ Id: e.Id, MessageId: e.Id, MD5OfMessageBody: '' })),
          Failed: [],
        };
      });
    const big = 'x'.repeat(300_000);
    const entries = Array.from({ length: 6 }, (_, n) => entry(`g${n}`, 0, big));
    const outcome = await sendToQueue('http://queue.invalid/q.fifo', entries);
    expect(outcome.sent).toHaveLength(6);
    expect(sizes.length).toBeGreaterThanOrEqual(2);
    for (const size of sizes) expect(size).toBeLessThan(1_048_576);
  });
});
