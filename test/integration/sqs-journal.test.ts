/**
 * The local stack's durable fauxqs (bin/local/durable-fauxqs.ts + sqs-journal.ts): what a
 * queue held when the server went away is there again, as sent, after a restart on the same
 * journal — with the real SQS client, against fauxqs itself.
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  PurgeQueueCommand,
  type QueueAttributeName,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { type DurableFauxqs, startDurableFauxqs } from '../../bin/local/durable-fauxqs.js';

const dir = mkdtempSync(join(tmpdir(), 'chat-relay-journal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Running {
  readonly server: DurableFauxqs;
  readonly sqs: SQSClient;
  readonly urls: Record<'std' | 'fifo' | 'dlq', string>;
  readonly replayed: ReturnType<DurableFauxqs['attachQueues']>;
  readonly stop: () => Promise<void>;
}

/** Starts durable fauxqs on `journal` with a standard queue, a FIFO queue and a DLQ (redrive after 1 receive). */
async function start(journal: string): Promise<Running> {
  const server = await startDurableFauxqs({ journalPath: journal });
  const sqs = new SQSClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    endpoint: `http://127.0.0.1:${server.port}`,
    useQueueUrlAsEndpoint: false,
  });
  const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: 'j-dlq' }))).QueueUrl!;
  const dlqArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }))
  ).Attributes?.QueueArn;
  const std = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: 'j-std',
        Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }) },
      }),
    )
  ).QueueUrl!;
  const fifo = (
    await sqs.send(new CreateQueueCommand({ QueueName: 'j.fifo', Attributes: { FifoQueue: 'true' } }))
  ).QueueUrl!;
  const replayed = server.attachQueues(['j-dlq', 'j-std', 'j.fifo']);
  return {
    server,
    sqs,
    urls: { std, fifo, dlq },
    replayed,
    stop: async () => {
      sqs.destroy();
      await server.stop();
    },
  };
}

async function receiveAll(sqs: SQSClient, url: string): Promise<Message[]> {
  const out: Message[] = [];
  for (;;) {
    const r = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 300,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    if (!r.Messages?.length) return out;
    out.push(...r.Messages);
  }
}

const depth = async (r: Running, url: string, attribute: QueueAttributeName): Promise<number> =>
  Number(
    (await r.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [attribute] })))
      .Attributes?.[attribute] ?? '0',
  );

describe('durable fauxqs', () => {
  it('restores undeleted messages (in flight ones included) as sent, in FIFO group order, and not deleted ones', async () => {
    const journal = join(dir, 'restore.jsonl');
    let r = await start(journal);
    const sent: Record<string, string> = {};
    for (const [group, n] of [
      ['a', 4],
      ['b', 3],
    ] as const) {
      for (let i = 0; i < n; i++) {
        const out = await r.sqs.send(
          new SendMessageCommand({
            QueueUrl: r.urls.fifo,
            MessageBody: `${group}${i}`,
            MessageGroupId: group,
            MessageDeduplicationId: `${group}-${i}`,
            MessageAttributes: { kind: { DataType: 'String', StringValue: `k-${group}${i}` } },
          }),
        );
        sent[`${group}${i}`] = out.MessageId!;
      }
    }
    // a0 answered and deleted; b0 received and left in flight (the process dies meanwhile).
    const first = await r.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: r.urls.fifo, MaxNumberOfMessages: 10, VisibilityTimeout: 300 }),
    );
    const a0 = first.Messages!.find((m) => m.Body === 'a0')!;
    expect(first.Messages!.map((m) => m.Body).sort()).toEqual(['a0', 'b0']);
    await r.sqs.send(new DeleteMessageCommand({ QueueUrl: r.urls.fifo, ReceiptHandle: a0.ReceiptHandle }));
    await r.sqs.send(new SendMessageCommand({ QueueUrl: r.urls.std, MessageBody: 'std-1' }));
    await r.sqs.send(
      new SendMessageCommand({ QueueUrl: r.urls.std, MessageBody: 'later', DelaySeconds: 600 }),
    );
    await r.stop();

    r = await start(journal);
    expect(r.replayed.restored).toEqual({ 'j.fifo': 6, 'j-std': 2 });
    const restored = await receiveAll(r.sqs, r.urls.fifo);
    // One message per group at a time (FIFO): drain group by group.
    const bodies: string[] = restored.map((m) => m.Body!);
    let more = restored;
    while (more.length > 0) {
      for (const m of more) {
        await r.sqs.send(new DeleteMessageCommand({ QueueUrl: r.urls.fifo, ReceiptHandle: m.ReceiptHandle }));
      }
      more = await receiveAll(r.sqs, r.urls.fifo);
      bodies.push(...more.map((m) => m.Body!));
      restored.push(...more);
    }
    expect(bodies.filter((b) => b.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
    expect(bodies.filter((b) => b.startsWith('b'))).toEqual(['b0', 'b1', 'b2']);
    for (const m of restored) {
      expect(m.MessageId).toBe(sent[m.Body!]);
      expect(m.MessageAttributes?.kind?.StringValue).toBe(`k-${m.Body}`);
      expect(m.Attributes?.MessageGroupId).toBe(m.Body!.slice(0, 1));
      expect(m.Attributes?.ApproximateReceiveCount).toBe('1');
    }
    expect((await receiveAll(r.sqs, r.urls.std)).map((m) => m.Body)).toEqual(['std-1']);
    expect(await depth(r, r.urls.std, 'ApproximateNumberOfMessagesDelayed')).toBe(1);
    await r.stop();
  });

  it('still drops a FIFO send whose deduplication id was acknowledged before the restart', async () => {
    const journal = join(dir, 'dedup.jsonl');
    let r = await start(journal);
    const send = () =>
      r.sqs.send(
        new SendMessageCommand({
          QueueUrl: r.urls.fifo,
          MessageBody: 'once',
          MessageGroupId: 'g',
          MessageDeduplicationId: 'same-id',
        }),
      );
    const original = await send();
    const [m] = await receiveAll(r.sqs, r.urls.fifo);
    await r.sqs.send(new DeleteMessageCommand({ QueueUrl: r.urls.fifo, ReceiptHandle: m!.ReceiptHandle }));
    await r.stop();

    r = await start(journal);
    const retried = await send();
    expect(retried.MessageId).toBe(original.MessageId);
    expect(await receiveAll(r.sqs, r.urls.fifo)).toEqual([]);
    // Sequence numbers keep increasing across the restart.
    const next = await r.sqs.send(
      new SendMessageCommand({
        QueueUrl: r.urls.fifo,
        MessageBody: 'next',
        MessageGroupId: 'g',
        MessageDeduplicationId: 'other-id',
      }),
    );
    expect(BigInt(next.SequenceNumber!)).toBeGreaterThan(BigInt(original.SequenceNumber!));
    await r.stop();
  });

  it('keeps a redriven message in the DLQ only, forgets purged ones, and ignores a record torn by the crash', async () => {
    const journal = join(dir, 'redrive.jsonl');
    let r = await start(journal);
    await r.sqs.send(new SendMessageCommand({ QueueUrl: r.urls.std, MessageBody: 'poison' }));
    const [m] = await receiveAll(r.sqs, r.urls.std);
    await r.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: r.urls.std,
        ReceiptHandle: m!.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    // Second receive exceeds maxReceiveCount 1: fauxqs moves it to the DLQ.
    expect(await receiveAll(r.sqs, r.urls.std)).toEqual([]);
    await r.sqs.send(
      new SendMessageCommand({
        QueueUrl: r.urls.fifo,
        MessageBody: 'x',
        MessageGroupId: 'g',
        MessageDeduplicationId: 'p',
      }),
    );
    await r.sqs.send(new PurgeQueueCommand({ QueueUrl: r.urls.fifo }));
    await r.stop();
    appendFileSync(journal, '{"op":"send","q":"j-std","m":{"messageId":"torn');

    r = await start(journal);
    expect(r.replayed.tornTail).toBe(true);
    expect(r.replayed.restored).toEqual({ 'j-dlq': 1 });
    expect(await receiveAll(r.sqs, r.urls.std)).toEqual([]);
    expect(await receiveAll(r.sqs, r.urls.fifo)).toEqual([]);
    const dead = await receiveAll(r.sqs, r.urls.dlq);
    expect(dead.map((d) => [d.Body, d.MessageId])).toEqual([['poison', m!.MessageId]]);
    await r.stop();
  });
});
