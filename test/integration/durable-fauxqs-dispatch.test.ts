/**
 * The durable fauxqs's direct dispatch (bin/local/durable-fauxqs.ts `dispatch`): the SQS actions
 * on the pipeline's path skip fastify's request lifecycle. Differential: the same requests, sent
 * to two servers in the same state, one through `dispatch` and one through fastify's `inject`,
 * get the same status, content type, error header and body (message ids and receipt handles,
 * random on both, compared by position), and a message sent through `dispatch` is in the
 * journal when its answer arrives.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type DurableFauxqs, startDurableFauxqs } from '../../bin/local/durable-fauxqs.js';
import { type InprocDispatch, injectDispatch } from '../../bin/local/inproc-server.js';

const dir = mkdtempSync(join(tmpdir(), 'chat-relay-fauxqs-dispatch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Request = Parameters<InprocDispatch>[0];
type Answer = Awaited<ReturnType<InprocDispatch>>;

const sqsRequest = (action: string, body: unknown, contentType = 'application/x-amz-json-1.0'): Request => ({
  method: 'POST',
  url: '/',
  headers: { 'content-type': contentType, 'x-amz-target': `AmazonSQS.${action}`, host: '127.0.0.1:1' },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

/** What must agree between the two paths: random ids replaced by their order of appearance. */
function comparable(answer: Answer): unknown {
  const ids = new Map<string, string>();
  const text = typeof answer.body === 'string' ? answer.body : Buffer.from(answer.body).toString();
  const normalised = text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (id) => {
    if (!ids.has(id)) ids.set(id, `<id ${ids.size}>`);
    return ids.get(id)!;
  });
  let body: unknown = normalised;
  try {
    body = JSON.parse(normalised);
  } catch {
    // Compared as text.
  }
  return {
    status: answer.status,
    contentType: answer.headers['content-type'],
    queryError: answer.headers['x-amzn-query-error'],
    body,
  };
}

async function start(name: string): Promise<DurableFauxqs> {
  const server = await startDurableFauxqs({ journalPath: join(dir, `${name}.jsonl`) });
  for (const [QueueName, Attributes] of [
    ['d.fifo', { FifoQueue: 'true' }],
    ['d-std', {}],
  ] as const) {
    const created = await server.dispatch(sqsRequest('CreateQueue', { QueueName, Attributes }));
    expect(created.status).toBe(200);
  }
  server.attachQueues(['d.fifo', 'd-std']);
  return server;
}

const urlOf = async (server: DurableFauxqs, QueueName: string): Promise<string> => {
  const answer = await server.dispatch(sqsRequest('GetQueueUrl', { QueueName }));
  return (JSON.parse(String(answer.body)) as { QueueUrl: string }).QueueUrl;
};

describe('durable fauxqs direct dispatch', () => {
  it('answers every pipeline action and its errors as fastify does, and leaves the rest to fastify', async () => {
    const direct = await start('direct');
    const injected = await start('injected');
    const viaInject = injectDispatch(injected.inject);
    try {
      const fifo = await urlOf(direct, 'd.fifo');
      const std = await urlOf(direct, 'd-std');
      expect(await urlOf(injected, 'd.fifo')).toBe(fifo);
      // Receipt handles come from each server's earlier answers (random on both).
      const handles: Record<'direct' | 'injected', string[]> = { direct: [], injected: [] };
      const firstSend = (): Request =>
        sqsRequest('SendMessage', {
          QueueUrl: fifo,
          MessageBody: 'a é ✓',
          MessageGroupId: 'g1',
          MessageDeduplicationId: 'd1',
        });
      const script: ((side: 'direct' | 'injected') => Request)[] = [
        firstSend,
        // The same send again: deduplicated.
        firstSend,
        () =>
          sqsRequest('SendMessageBatch', {
            QueueUrl: fifo,
            Entries: [
              { Id: 'x', MessageBody: 'b', MessageGroupId: 'g1', MessageDeduplicationId: 'd2' },
              {
                Id: 'y',
                MessageBody: 'c',
                MessageGroupId: 'g2',
                MessageDeduplicationId: 'd3',
                MessageAttributes: { k: { DataType: 'String', StringValue: 'v' } },
              },
            ],
          }),
        () => sqsRequest('SendMessage', { QueueUrl: std, MessageBody: 'plain' }),
        () => sqsRequest('SendMessage', { QueueUrl: fifo, MessageBody: 'no group' }),
        () => sqsRequest('SendMessage', { QueueUrl: `${std}-missing`, MessageBody: 'x' }),
        () => sqsRequest('SendMessage', { MessageBody: 'no url' }),
        () =>
          sqsRequest('ReceiveMessage', {
            QueueUrl: fifo,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 0,
            VisibilityTimeout: 30,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['MessageGroupId', 'SequenceNumber', 'MessageDeduplicationId'],
          }),
        () => sqsRequest('ReceiveMessage', { QueueUrl: fifo, MaxNumberOfMessages: 11 }),
        (side) =>
          sqsRequest('ChangeMessageVisibility', {
            QueueUrl: fifo,
            ReceiptHandle: handles[side][0],
            VisibilityTimeout: 60,
          }),
        (side) =>
          sqsRequest('ChangeMessageVisibilityBatch', {
            QueueUrl: fifo,
            Entries: [{ Id: 'v', ReceiptHandle: handles[side][1], VisibilityTimeout: 0 }],
          }),
        (side) =>
          sqsRequest('DeleteMessageBatch', {
            QueueUrl: fifo,
            Entries: [
              { Id: 'p', ReceiptHandle: handles[side][0] },
              { Id: 'q', ReceiptHandle: handles[side][2] },
            ],
          }),
        (side) => sqsRequest('DeleteMessage', { QueueUrl: fifo, ReceiptHandle: handles[side][1] }),
        () => sqsRequest('DeleteMessage', { QueueUrl: fifo }),
        () => sqsRequest('ReceiveMessage', { QueueUrl: fifo, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
        () =>
          sqsRequest('GetQueueAttributes', {
            QueueUrl: fifo,
            AttributeNames: ['ApproximateNumberOfMessages'],
          }),
        () => sqsRequest('SendMessage', '{not json'),
        () =>
          sqsRequest(
            'SendMessage',
            { QueueUrl: std, MessageBody: 'form' },
            'application/x-www-form-urlencoded',
          ),
        () => sqsRequest('NoSuchAction', { QueueUrl: std }),
      ];
      const headerSets: [string, string][] = [];
      for (const [step, build] of script.entries()) {
        const a = await direct.dispatch(build('direct'));
        const b = await viaInject(build('injected'));
        headerSets.push([Object.keys(a.headers).sort().join(' '), Object.keys(b.headers).sort().join(' ')]);
        expect(comparable(a), `step ${step}`).toEqual(comparable(b));
        for (const [side, answer] of [
          ['direct', a],
          ['injected', b],
        ] as const) {
          const text = String(answer.body);
          if (!text.startsWith('{')) continue;
          const parsed = JSON.parse(text) as { Messages?: { ReceiptHandle: string }[] };
          for (const m of parsed.Messages ?? []) handles[side].push(m.ReceiptHandle);
        }
      }
      // The script reached what it means to compare: the first receive got one message of each
      // group (stock fauxqs; the local stack patches that, bin/local/fauxqs-fifo.ts), the last
      // one the message the visibility change released and the one the delete unlocked.
      expect(handles.direct).toHaveLength(4);
      expect(handles.injected).toHaveLength(4);
      // The pipeline's actions (the first 15 steps) took the direct path, which leaves out only
      // the socket headers light-my-request adds; the rest went through fastify itself.
      const withoutSocketHeaders = (names: string): string =>
        names
          .split(' ')
          .filter((n) => n !== 'connection' && n !== 'date')
          .join(' ');
      expect(headerSets.map(([a, b]) => a === b)).toEqual([...Array(15).fill(false), ...Array(4).fill(true)]);
      for (const [a, b] of headerSets) expect(withoutSocketHeaders(a)).toBe(withoutSocketHeaders(b));
    } finally {
      await direct.stop();
      await injected.stop();
    }
  });

  it('answers a send only once it is in the journal: a restart on the journal has the message', async () => {
    let server = await start('restart');
    const fifo = await urlOf(server, 'd.fifo');
    const sent = await server.dispatch(
      sqsRequest('SendMessage', {
        QueueUrl: fifo,
        MessageBody: 'kept',
        MessageGroupId: 'g',
        MessageDeduplicationId: 'k',
      }),
    );
    expect(sent.status).toBe(200);
    await server.stop();
    server = await start('restart');
    try {
      const received = await server.dispatch(
        sqsRequest('ReceiveMessage', { QueueUrl: fifo, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      const messages =
        (JSON.parse(String(received.body)) as { Messages?: { Body: string }[] }).Messages ?? [];
      expect(messages.map((m) => m.Body)).toEqual(['kept']);
    } finally {
      await server.stop();
    }
  });
});
