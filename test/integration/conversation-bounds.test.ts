/**
 * The actor never gets stuck on what a turn holds (issue 10): against the emulators (fauxqs +
 * dynalite + Secrets Manager), turns with values no platform sends every day — a 300 KB text,
 * a 2000-character message id, a 3000-character sender id, 150 messages in one burst, a
 * timestamp of 1e308 — are each answered exactly once, and no write of the actor fails.
 *
 * "Exactly once" is asserted on what the responder saw and what reached outbound.fifo: every
 * message is in exactly one answered turn, every turn's reply is queued once. No assertion
 * depends on how fast the machine is (timeouts below only bound how long a test may wait).
 * Events larger than SQS accepts (the 300 KB text) are handed to the handler as the record the
 * queue would deliver, as if a parser had let them through.
 */
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { toSqsRecord } from '../../bin/local/sqs-poller.js';
import { BOUNDS } from '../../lambdas/conversation/bounds.js';
import { createConversationHandler, createTimerHandler } from '../../lambdas/conversation/runtime.js';
import { MAX_REPLY_PARTS } from '../../lambdas/gates/split.js';
import type { Reply, Responder, TurnContext } from '../../lambdas/responders/types.js';
import { resetClients } from '../../lambdas/shared/clients.js';
import { conversationPk, historySk, messageGroupId, STATE_SK, sha256Hex } from '../../lambdas/shared/keys.js';
import type { MetricName } from '../../lambdas/shared/metrics-catalogue.js';
import type { MessageEvent, OutboundPart } from '../../lambdas/shared/model.js';
import { type TenantSettings, tenantSecretName } from '../../lambdas/shared/tenant.js';
import { type Driver, drainBodies, lambdaContext, runUntil } from '../helpers/sqs-driver.js';

let emu: Emulators;
let doc: DynamoDBDocumentClient;
let conversation: ReturnType<typeof createConversationHandler>;
// The actor's clock: real time plus an offset tests may move (never asserted against).
const offset = 0;
const clock = () => Date.now() + offset;
const metrics: { name: MetricName; value: number }[] = [];
const count = (name: MetricName) => metrics.filter((m) => m.name === name).reduce((n, m) => n + m.value, 0);
const outbound: OutboundPart[] = [];
/** Records the conversation handler reported as failed (a failed write would show here). */
let failedRecords = 0;
/** Records the handler held in flight as debounce ticks. */
const held = new Set<string>();
let drivers: (Driver & { concurrency?: number })[];

/** The responder: echoes the ids it was given, so tests can see which messages each turn held. */
const contexts: TurnContext[] = [];
const responder: Responder = {
  name: 'ids',
  async respond(context): Promise<Reply> {
    contexts.push(context);
    return {
      messages: [
        { text: `turn of ${context.messages.length}: ${context.messages.map((m) => m.text).join(' ')}` },
      ],
    };
  },
};

function putTenant(tenantId: string, settings: TenantSettings): void {
  emu.secrets.putSecret(
    tenantSecretName(emu.secretPrefix, tenantId),
    JSON.stringify({
      tenantId,
      channels: { whatsapp: { appSecret: 'a', verifyToken: 'v', accessToken: 't', phoneNumberIds: ['1'] } },
      settings,
    }),
  );
}

function messageEvent(
  tenantId: string,
  conversationId: string,
  messageId: string,
  text: string,
  extra: Partial<MessageEvent['message']> = {},
): MessageEvent {
  const conversationKey = `${tenantId}#whatsapp#${conversationId}`;
  const at = clock();
  return {
    v: 1,
    type: 'message',
    tenantId,
    channel: 'whatsapp',
    conversationId,
    conversationKey,
    message: {
      tenantId,
      channel: 'whatsapp',
      conversationId,
      conversationKey,
      messageId,
      pageId: '1',
      customer: { id: conversationId.split(':')[1] ?? conversationId },
      timestamp: at,
      receivedAt: at,
      kind: 'text',
      text,
      attachments: [],
      surface: 'inbox',
      ...extra,
    },
  };
}

/** Sends events to inbound.fifo as the webhook does (group = conversation, dedup = message). */
async function enqueue(events: readonly MessageEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 10) {
    const chunk = events.slice(i, i + 10);
    const result = await emu.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: emu.queues.inbound.url,
        Entries: chunk.map((e, j) => ({
          Id: String(j),
          MessageBody: JSON.stringify(e),
          MessageGroupId: messageGroupId(e.conversationKey),
          MessageDeduplicationId: sha256Hex(e.message.messageId),
        })),
      }),
    );
    expect(result.Failed ?? []).toEqual([]);
  }
}

/** Hands an event to the conversation handler as the record inbound.fifo would deliver. */
async function deliverDirectly(event: MessageEvent, receiveCount = 1): Promise<string[]> {
  const record = toSqsRecord(
    {
      MessageId: `direct-${sha256Hex(event.message.messageId, String(receiveCount)).slice(0, 16)}`,
      ReceiptHandle: 'direct',
      Body: JSON.stringify(event),
      Attributes: {
        MessageGroupId: messageGroupId(event.conversationKey),
        MessageDeduplicationId: sha256Hex(event.message.messageId),
        ApproximateReceiveCount: String(receiveCount),
        SequenceNumber: '1',
      },
    },
    emu.queues.inbound.arn,
    'us-east-1',
  );
  const response = await conversation({ Records: [record] } as SQSEvent, lambdaContext('conversation'));
  return (response?.batchItemFailures ?? []).map((f) => f.itemIdentifier);
}

const partsFor = (key: string) => outbound.filter((p) => p.conversationKey === key);
const contextsFor = (key: string) => contexts.filter((c) => c.conversationKey === key);

/** Every message id appears in exactly one answered turn, and every turn's parts were queued once. */
function expectAnsweredOnce(key: string, messageTexts: readonly string[]): void {
  const seen = contextsFor(key).flatMap((c) => c.messages.map((m) => m.text ?? ''));
  expect(seen).toEqual(messageTexts);
  const parts = partsFor(key);
  const replyIds = parts.map((p) => p.replyId);
  expect(new Set(replyIds).size, 'no reply part queued twice').toBe(replyIds.length);
  const turns = new Set(parts.map((p) => p.turnId));
  expect(turns.size, 'one reply per answered turn').toBe(contextsFor(key).length);
  for (const turnId of turns) {
    const ofTurn = parts.filter((p) => p.turnId === turnId);
    expect(ofTurn.map((p) => p.partIndex)).toEqual(ofTurn.map((_, i) => i));
    expect(ofTurn.length).toBeLessThanOrEqual(MAX_REPLY_PARTS);
    for (const part of ofTurn) expect((part.text ?? '').length).toBeLessThanOrEqual(4096);
  }
}

async function settle(until: () => boolean, timeoutMs = 60_000): Promise<void> {
  expect(await runUntil(drivers, until, timeoutMs), 'the pipeline settled before the timeout').toBe(true);
}

async function stateOf(conversationKey: string): Promise<Record<string, unknown> | undefined> {
  const result = await doc.send(
    new GetCommand({
      TableName: emu.tables.memory,
      Key: { pk: conversationPk(conversationKey), sk: STATE_SK },
    }),
  );
  return result.Item;
}

async function historyItem(
  conversationKey: string,
  sk: string,
): Promise<{ messages?: { text?: string }[] } | undefined> {
  const result = await doc.send(
    new GetCommand({ TableName: emu.tables.memory, Key: { pk: conversationPk(conversationKey), sk } }),
  );
  return result.Item as { messages?: { text?: string }[] } | undefined;
}

beforeAll(async () => {
  emu = await startEmulators({ visibilityTimeoutSeconds: { inbound: 2, outbound: 2, timer: 2 } });
  Object.assign(process.env, emu.env);
  resetClients();
  doc = DynamoDBDocumentClient.from(emu.dynamo);
  const env = { ...process.env, DEBOUNCE_MS: '1000', MEDIA_JOBS_QUEUE_URL: '' };
  conversation = createConversationHandler({
    env,
    now: clock,
    responder,
    typing: null,
    metric: (name, value) => metrics.push({ name, value }),
    onOutcome: (record, outcome) => {
      if (outcome === 'held') held.add(record.messageId);
    },
  });
  const timer = createTimerHandler({ env, now: clock });
  drivers = [
    {
      sqs: emu.sqs,
      queueUrl: emu.queues.inbound.url,
      queueArn: emu.queues.inbound.arn,
      handler: async (event, context) => {
        const response = await conversation(event, context);
        // A record held as its turn's debounce tick is reported failed on purpose: not counted.
        failedRecords += (response?.batchItemFailures ?? []).filter(
          (f) => !held.has(f.itemIdentifier),
        ).length;
        return response;
      },
      concurrency: 2,
    },
    { sqs: emu.sqs, queueUrl: emu.queues.timer.url, handler: timer },
    {
      sqs: emu.sqs,
      queueUrl: emu.queues.outbound.url,
      handler: async (event) => {
        for (const r of event.Records) outbound.push(JSON.parse(r.body) as OutboundPart);
        return { batchItemFailures: [] };
      },
    },
  ];
  putTenant('now', { debounceMs: 0 });
  putTenant('later', { debounceMs: 3000, maxTurnWaitMs: 0 });
  // Ticks 10 minutes out never come back during the test: only the size bound answers these turns.
  putTenant('flood', { debounceMs: 600_000, maxTurnWaitMs: 0 });
});

afterAll(async () => {
  await emu?.stop();
});

describe('conversation actor: bounded state whatever the turn holds', () => {
  it('answers a 300 000-character text once, its stored text cut to its bound, and a redelivery not again', async () => {
    const key = 'now#whatsapp#1:big';
    const text = `${'Xin chào 🙂 '.repeat(25_000)}end`;
    expect(text.length).toBeGreaterThanOrEqual(300_000);
    const event = messageEvent('now', '1:big', 'wamid.big', text);
    expect(await deliverDirectly(event)).toEqual([]);
    await settle(() => partsFor(key).length > 0);
    const stored = (await stateOf(key)) as {
      turn?: { status: string; turnId: string; firstReceivedAt: number };
    };
    expect(stored.turn?.status).toBe('answered');
    // The turn's text is in its history item only (the state keeps none of it), cut to its bound.
    expect(JSON.stringify(stored)).not.toContain('Xin chào');
    const turnItem = await historyItem(
      key,
      historySk(stored.turn?.firstReceivedAt ?? 0, stored.turn?.turnId ?? ''),
    );
    expect(Buffer.byteLength(String(turnItem?.messages?.[0]?.text))).toBeLessThanOrEqual(BOUNDS.messageText);
    // The same record delivered again (a visibility timeout, a crash after the write).
    expect(await deliverDirectly(event, 2)).toEqual([]);
    await runUntil(drivers, () => false, 500);
    expect(contextsFor(key)).toHaveLength(1);
    expect(new Set(partsFor(key).map((p) => p.turnId)).size).toBe(1);
  }, 90_000);

  it('answers a turn of 300 KB (six 50 000-character messages) once, the reply cut to 10 parts', async () => {
    const key = 'later#whatsapp#1:six';
    const texts = Array.from({ length: 6 }, (_, i) => `${i}${'w'.repeat(50_000)}`);
    await enqueue(texts.map((t, i) => messageEvent('later', '1:six', `wamid.six-${i}`, t)));
    await settle(() => contextsFor(key).flatMap((c) => c.messages).length === 6 && partsFor(key).length > 0);
    const stored = contextsFor(key).flatMap((c) => c.messages.map((m) => m.text ?? ''));
    expect(stored.map((t) => t[0])).toEqual(['0', '1', '2', '3', '4', '5']);
    for (const t of stored) expect(Buffer.byteLength(t)).toBeLessThanOrEqual(BOUNDS.messageText);
    expectAnsweredOnce(key, stored);
    expect(failedRecords).toBe(0);
  }, 90_000);

  it('answers a message with a 2000-character id once, and its redelivery is recognised as a duplicate', async () => {
    const key = 'now#whatsapp#1:longmid';
    const mid = `wamid.${'A'.repeat(2000)}`;
    const event = messageEvent('now', '1:longmid', mid, 'hello');
    await enqueue([event]);
    await settle(() => partsFor(key).length === 1);
    const duplicates = count('DuplicateMessages');
    expect(await deliverDirectly(event, 2)).toEqual([]);
    expect(count('DuplicateMessages')).toBe(duplicates + 1);
    expectAnsweredOnce(key, ['hello']);
    expect(failedRecords).toBe(0);
  }, 60_000);

  it('answers a 3000-character sender (conversation) id once, to that sender', async () => {
    const sender = '8'.repeat(3000);
    const key = `now#whatsapp#1:${sender}`;
    await enqueue([messageEvent('now', `1:${sender}`, 'wamid.longsender', 'hi there')]);
    await settle(() => partsFor(key).length === 1);
    expectAnsweredOnce(key, ['hi there']);
    expect(partsFor(key)[0]?.recipientId).toBe(sender);
    expect(await stateOf(key)).toMatchObject({ turnCount: 1 });
    expect(failedRecords).toBe(0);
  }, 60_000);

  it('answers 150 messages sent in one burst exactly once each, in order, in 3 turns of 50 (reason size)', async () => {
    const key = 'flood#whatsapp#1:flood';
    const texts = Array.from({ length: 150 }, (_, i) => `m${i}`);
    await enqueue(texts.map((t, i) => messageEvent('flood', '1:flood', `wamid.flood-${i}`, t)));
    await settle(() => contextsFor(key).flatMap((c) => c.messages).length >= 150, 240_000);
    await settle(() => new Set(partsFor(key).map((p) => p.turnId)).size === contextsFor(key).length);
    expectAnsweredOnce(key, texts);
    expect(contextsFor(key).map((c) => c.messages.length)).toEqual(Array(3).fill(BOUNDS.turnMessages));
    expect(await stateOf(key)).toMatchObject({
      turnCount: 3,
      turn: { status: 'answered', reply: { reason: 'size' } },
    });
    expect(failedRecords).toBe(0);
  }, 300_000);

  it('answers a message stamped 1e308 (as if a parser let it through) once, with a storable time', async () => {
    const key = 'now#whatsapp#1:future';
    await enqueue([
      messageEvent('now', '1:future', 'wamid.future', 'from the far future', {
        timestamp: 1e308,
        kind: 'location',
        attachments: [{ kind: 'location', latitude: 1e308, longitude: 1e308, size: 1e308 }],
      }),
    ]);
    await settle(() => partsFor(key).length === 1);
    expectAnsweredOnce(key, ['from the far future']);
    const part = partsFor(key)[0];
    expect(Number.isFinite(part?.customerLastMessageAt)).toBe(true);
    expect(part?.customerLastMessageAt).toBeLessThan(1e14);
    const stored = (await stateOf(key)) as { customerLastMessageAt?: number };
    expect(stored.customerLastMessageAt).toBeLessThan(1e14);
    expect(failedRecords).toBe(0);
  }, 60_000);

  it('left nothing in the inbound dead-letter queue', async () => {
    expect(await drainBodies(emu.sqs, emu.queues.inbound.dlqUrl)).toEqual([]);
    expect(count('TurnsFailed')).toBe(0);
  });
});
