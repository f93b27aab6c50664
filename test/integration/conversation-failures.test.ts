/**
 * Failure and media paths of the conversation actor against the emulators: a responder that
 * keeps failing sends its conversation to the DLQ while others keep flowing (or sends the
 * fallback reply on the last attempt), and voice notes wait for a (fake) media worker.
 */
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { createConversationHandler, createTimerHandler } from '../../lambdas/conversation/runtime.js';
import { readConversationTrail } from '../../lambdas/memory/trail.js';
import { EchoResponder } from '../../lambdas/responders/echo.js';
import type { Responder } from '../../lambdas/responders/types.js';
import { resetClients } from '../../lambdas/shared/clients.js';
import { ResponderError } from '../../lambdas/shared/errors.js';
import { conversationPk, messageGroupId, STATE_SK, sha256Hex } from '../../lambdas/shared/keys.js';
import type { MetricName } from '../../lambdas/shared/metrics-catalogue.js';
import type { Attachment, MessageEvent, OutboundPart } from '../../lambdas/shared/model.js';
import { type TenantSettings, tenantSecretName } from '../../lambdas/shared/tenant.js';
import { type FakeMediaAnswer, fakeMediaWorker } from '../helpers/fake-media-worker.js';
import { type Driver, runUntil } from '../helpers/sqs-driver.js';

let emu: Emulators;
let doc: DynamoDBDocumentClient;
const metrics: { name: MetricName; value: number }[] = [];
const count = (name: MetricName) => metrics.filter((m) => m.name === name).reduce((n, m) => n + m.value, 0);
const outbound: OutboundPart[] = [];
const repliesFor = (key: string) =>
  outbound.filter((p) => p.conversationKey === key).map((p) => p.text ?? '');
let drivers: Driver[];
let mediaAnswer: (messageId: string) => FakeMediaAnswer = () => undefined;

const echo = new EchoResponder();
let badCalls = 0;
const flaky: Responder = {
  name: 'flaky',
  async respond(context) {
    const breaks = context.messages.some((m) => m.text?.includes('break'));
    if (context.conversationId.startsWith('bad') && breaks) badCalls += 1;
    if (context.conversationId.startsWith('bad') && breaks) throw new ResponderError('model unavailable');
    return echo.respond(context);
  },
};

function putTenant(tenantId: string, settings: TenantSettings): void {
  emu.secrets.putSecret(
    tenantSecretName(emu.secretPrefix, tenantId),
    JSON.stringify({
      tenantId,
      channels: { whatsapp: { appSecret: 'a', verifyToken: 'v', accessToken: 't', phoneNumberIds: ['555'] } },
      settings,
    }),
  );
}

function messageEvent(
  tenantId: string,
  conv: string,
  id: string,
  text: string | undefined,
  attachments: Attachment[] = [],
): MessageEvent {
  const conversationKey = `${tenantId}#whatsapp#${conv}`;
  const at = Date.now();
  return {
    v: 1,
    type: 'message',
    tenantId,
    channel: 'whatsapp',
    conversationId: conv,
    conversationKey,
    message: {
      tenantId,
      channel: 'whatsapp',
      conversationId: conv,
      conversationKey,
      messageId: id,
      pageId: '555',
      customer: { id: conv },
      timestamp: at,
      receivedAt: at,
      kind: attachments[0]?.kind ?? 'text',
      ...(text !== undefined ? { text } : {}),
      attachments,
      surface: 'inbox',
    },
  };
}

async function enqueue(events: readonly MessageEvent[]): Promise<void> {
  const { SendMessageBatchCommand } = await import('@aws-sdk/client-sqs');
  await emu.sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: emu.queues.inbound.url,
      Entries: events.map((e, i) => ({
        Id: String(i),
        MessageBody: JSON.stringify(e),
        MessageGroupId: messageGroupId(e.conversationKey),
        MessageDeduplicationId: sha256Hex(e.message.messageId),
      })),
    }),
  );
}

async function dlqBodies(): Promise<string[]> {
  const received = await emu.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: emu.queues.inbound.dlqUrl,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 0,
    }),
  );
  return (received.Messages ?? []).map((m) => m.Body ?? '');
}

beforeAll(async () => {
  emu = await startEmulators({
    visibilityTimeoutSeconds: { inbound: 1, outbound: 2, timer: 2 },
    maxReceiveCount: { inbound: 2 },
  });
  Object.assign(process.env, emu.env);
  resetClients();
  doc = DynamoDBDocumentClient.from(emu.dynamo);
  const env = { ...process.env, MAX_RECEIVE_COUNT: '2', MEDIA_TIMEOUT_MS: '2000', DEBOUNCE_MS: '0' };
  const conversation = createConversationHandler({
    env,
    responder: flaky,
    metric: (name, value) => metrics.push({ name, value }),
    typing: null,
  });
  const worker = fakeMediaWorker({
    sqs: emu.sqs,
    mediaJobsUrl: emu.queues.mediaJobs.url,
    inboundUrl: emu.queues.inbound.url,
    answer: (job) => mediaAnswer(job.messageId),
  });
  drivers = [
    { sqs: emu.sqs, queueUrl: emu.queues.inbound.url, handler: conversation },
    { sqs: emu.sqs, queueUrl: emu.queues.timer.url, handler: createTimerHandler({ env }) },
    {
      sqs: emu.sqs,
      queueUrl: emu.queues.outbound.url,
      handler: async (event) => {
        for (const r of event.Records) outbound.push(JSON.parse(r.body) as OutboundPart);
        return { batchItemFailures: [] };
      },
    },
  ];
  // The fake worker polls media-jobs on its own, like the Fargate service it stands in for.
  workerLoop = (async () => {
    while (!stopped) {
      await worker.pollOnce().catch(() => 0);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  putTenant('fail', { debounceMs: 0 });
  putTenant('fallback', {
    debounceMs: 0,
    sendFallbackOnFailure: true,
    fallbackReply: 'Sorry, a person will answer.',
  });
  putTenant('media', { debounceMs: 1000 });
});

let stopped = false;
let workerLoop: Promise<void> | undefined;

afterAll(async () => {
  stopped = true;
  await workerLoop;
  await emu?.stop();
});

describe('conversation actor failures and media', () => {
  it('retries a failing responder, then dead-letters its turn while other conversations keep flowing', async () => {
    const good = Array.from({ length: 5 }, (_, i) =>
      messageEvent('fail', `good-${i}`, `g-${i}`, `fine ${i}`),
    );
    // The customer writes again right after the message whose turn keeps failing.
    const after = messageEvent('fail', 'bad-1', 'bad-m1b', 'still there?');
    await enqueue([messageEvent('fail', 'bad-1', 'bad-m1', 'break please'), after, ...good]);
    const ok = await runUntil(
      drivers,
      () => good.every((e) => repliesFor(e.conversationKey).length === 1),
      20_000,
    );
    expect(ok).toBe(true);
    for (const [i, e] of good.entries()) expect(repliesFor(e.conversationKey)).toEqual([`echo: fine ${i}`]);
    // The bad conversation is retried (maxReceiveCount 2), then lands in the DLQ.
    let dead: string[] = [];
    expect(
      await runUntil(
        drivers,
        async () => {
          dead = await dlqBodies();
          return dead.length > 0;
        },
        20_000,
      ),
    ).toBe(true);
    expect(dead.map((b) => (JSON.parse(b) as MessageEvent).message.messageId)).toEqual(['bad-m1']);
    // Only the failed turn was dead-lettered: the message behind it was answered.
    expect(await runUntil(drivers, () => repliesFor('fail#whatsapp#bad-1').length === 1, 60_000)).toBe(true);
    expect(repliesFor('fail#whatsapp#bad-1')).toEqual(['echo: still there?']);
    // Exactly maxReceiveCount attempts: the first delivery and one retry.
    expect(badCalls).toBe(2);
    expect(count('ResponderFailed')).toBe(2);
    expect(count('TurnsFailed')).toBe(1);
    const state = await doc.send(
      new GetCommand({
        TableName: emu.tables.memory,
        Key: { pk: conversationPk('fail#whatsapp#bad-1'), sk: STATE_SK },
      }),
    );
    // The failed turn was closed; the state now holds the next turn, answered.
    expect(state.Item?.turn?.status).toBe('answered');
    // The trail keeps both: the failed turn (its messages, no reply) and the answered one.
    const trail = await readConversationTrail(
      { client: doc, table: emu.tables.memory },
      { tenantId: 'fail', channel: 'whatsapp', conversationId: 'bad-1' },
    );
    expect(
      trail?.turns.map((t) => [t.outcome, t.messages.map((m) => m.messageId), t.deliveries.length]),
    ).toEqual([
      ['failed', ['bad-m1'], 0],
      ['ok', ['bad-m1b'], 1],
    ]);
    expect(trail?.turns[0]?.responder?.name).toBeDefined();
  }, 60_000);

  it('sends the tenant fallback reply on the last attempt when sendFallbackOnFailure is set', async () => {
    const key = 'fallback#whatsapp#bad-2';
    await enqueue([messageEvent('fallback', 'bad-2', 'bad-m2', 'break again')]);
    expect(await runUntil(drivers, () => repliesFor(key).length === 1, 60_000)).toBe(true);
    expect(repliesFor(key)).toEqual(['Sorry, a person will answer.']);
    expect(await dlqBodies()).toHaveLength(1);
  }, 60_000);

  it('waits for the media worker and echoes the voice note transcript', async () => {
    const key = 'media#whatsapp#voice-1';
    mediaAnswer = (id) => (id === 'voice-m1' ? { transcript: 'xin chao from a voice note' } : undefined);
    await enqueue([
      messageEvent('media', 'voice-1', 'voice-m1', undefined, [
        { kind: 'audio', fileId: 'wa-media-1', mimeType: 'audio/ogg', voice: true },
      ]),
    ]);
    expect(await runUntil(drivers, () => repliesFor(key).length === 1, 60_000)).toBe(true);
    expect(repliesFor(key)).toEqual(['echo: xin chao from a voice note']);
    expect(count('MediaTimeouts')).toBe(0);
  }, 60_000);

  it('flushes with a marker after mediaTimeoutMs when the worker never answers', async () => {
    const key = 'media#whatsapp#voice-2';
    mediaAnswer = () => undefined;
    await enqueue([
      messageEvent('media', 'voice-2', 'voice-m2', undefined, [
        { kind: 'audio', fileId: 'wa-media-2', mimeType: 'audio/ogg', voice: true },
      ]),
    ]);
    // Flushed by its media-timeout tick (the marker and MediaTimeouts say so, not the clock).
    expect(await runUntil(drivers, () => repliesFor(key).length === 1, 60_000)).toBe(true);
    expect(repliesFor(key)).toEqual(['echo: [voice note could not be transcribed: MEDIA_TIMEOUT]']);
    expect(count('MediaTimeouts')).toBe(1);
  }, 60_000);
});
