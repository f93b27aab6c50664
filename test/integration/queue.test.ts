import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { resetClients, sqsClient } from '../../lambdas/shared/clients.js';
import { type QueueEntry, sendToQueue } from '../../lambdas/shared/queue.js';
import { type HangingServer, startHangingServer } from '../helpers/hanging-server.js';

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

/** Receives and deletes everything on a queue of the emulator; returns the raw bodies. */
async function drainBodies(queueUrl: string): Promise<string[]> {
  const bodies: string[] = [];
  for (let empty = 0; empty < 2; ) {
    const r = await emulators.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    const messages = r.Messages ?? [];
    if (messages.length === 0) empty += 1;
    for (const m of messages) {
      bodies.push(m.Body ?? '');
      await emulators.sqs.send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }),
      );
    }
  }
  return bodies;
}

describe('bodies SQS would refuse, through the shared client, against fauxqs', () => {
  // Emoji (outside the BMP: fauxqs refuses them), U+FFFF and U+FFFE, lone surrogates, controls.
  const nasty = 'chào 😀👍🏽 \uFFFF\uFFFE lone:\uD800 \uDFFF ctl:\u0001\u001f\u007f end';

  it('sends them with sendToQueue and the consumer parses back the exact text', async () => {
    const url = emulators.queues.outbound.url;
    const outcome = await sendToQueue(url, [entry('n', 0, JSON.stringify({ text: nasty }))]);
    expect(outcome.failed).toEqual([]);
    const bodies = await drainBodies(url);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toMatch(/^[\t\n\r\u0020-\u007f]*$/);
    expect((JSON.parse(bodies[0]!) as { text: string }).text === nasty).toBe(true);
  });

  it('rewrites direct SendMessage and SendMessageBatch calls on the shared client the same way', async () => {
    const url = emulators.queues.outbound.url;
    await sqsClient().send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: JSON.stringify({ n: 1, text: nasty }),
        MessageGroupId: 'direct',
        MessageDeduplicationId: 'direct-1',
      }),
    );
    const batch = await sqsClient().send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          {
            Id: 'b1',
            MessageBody: JSON.stringify({ n: 2, text: nasty }),
            MessageGroupId: 'batch',
            MessageDeduplicationId: 'batch-2',
          },
        ],
      }),
    );
    expect(batch.Failed ?? []).toEqual([]);
    const parsed = (await drainBodies(url)).map((b) => JSON.parse(b) as { n: number; text: string });
    expect(parsed.map((p) => p.n).sort()).toEqual([1, 2]);
    for (const p of parsed) expect(p.text === nasty).toBe(true);
  });
});

describe('the shared SQS client’s timeouts', () => {
  it('lets a long poll longer than the 5 s request timeout run to its end', async () => {
    // 6 s > CLIENT_TIMEOUTS.sqs.requestTimeout: a client-wide timeout would cut it (TimeoutError).
    const res = await sqsClient().send(
      new ReceiveMessageCommand({ QueueUrl: emulators.queues.timer.url, WaitTimeSeconds: 6 }),
    );
    expect(res.Messages ?? []).toEqual([]);
  });
});

describe('sendToQueue against an SQS endpoint that accepts and never answers', () => {
  let hanging: HangingServer;
  const url = 'http://sqs.us-east-1.localhost/000000000000/hang.fifo';

  beforeAll(async () => {
    hanging = await startHangingServer();
    process.env.AWS_ENDPOINT_URL_SQS = hanging.endpoint;
    resetClients();
  });
  afterAll(async () => {
    process.env.AWS_ENDPOINT_URL_SQS = emulators.env.AWS_ENDPOINT_URL_SQS;
    resetClients();
    await hanging.stop();
  });

  it('aborts the call in flight when the caller’s signal aborts, and reports every entry unsent', async () => {
    const before = hanging.requests.length;
    const deadline = new AbortController();
    const pending = sendToQueue(url, [entry('h', 0), entry('h', 1), entry('k', 0)], {
      budgetMs: 600_000,
      signal: deadline.signal,
    });
    await hanging.arrived(before + 1);
    deadline.abort();
    const outcome = await pending;
    expect(outcome.sent).toEqual([]);
    expect(outcome.failed.map((f) => f.id)).toEqual(['h0', 'h1', 'k0']);
    for (const f of outcome.failed) expect(f.error).toContain('DeadlineExceeded');
    // The abort closed the connection: nothing is left waiting on the dead endpoint.
    await hanging.closedCount(before + 1);
    expect(hanging.requests.length).toBe(before + 1);
  });

  it('gives each SQS answer attemptTimeoutMs and retries on a fresh connection meanwhile', async () => {
    const before = hanging.requests.length;
    const deadline = new AbortController();
    const pending = sendToQueue(url, [entry('r', 0)], {
      budgetMs: 600_000,
      attemptTimeoutMs: 50,
      signal: deadline.signal,
    });
    // Only timed-out attempts (closed by the client) let later ones arrive.
    await hanging.arrived(before + 3);
    expect(hanging.closed()).toBeGreaterThanOrEqual(before + 2);
    deadline.abort();
    const outcome = await pending;
    expect(outcome.failed.map((f) => f.id)).toEqual(['r0']);
    expect(hanging.requests.slice(before).every((r) => r.target === 'AmazonSQS.SendMessageBatch')).toBe(true);
  });

  it('ends a hanging call when its own budget is spent, without a caller signal', async () => {
    const before = hanging.requests.length;
    const outcome = await sendToQueue(url, [entry('b', 0)], { budgetMs: 200 });
    expect(outcome.failed.map((f) => f.id)).toEqual(['b0']);
    expect(outcome.failed[0]?.error).toContain('DeadlineExceeded');
    await hanging.closedCount(before + 1);
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
