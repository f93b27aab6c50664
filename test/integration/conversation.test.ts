/**
 * The conversation actor end to end against the emulators (fauxqs + dynalite + Secrets
 * Manager): inbound.fifo → conversation handler (the last message's record held in flight as
 * the debounce tick, or a tick through timer queue → timer handler → inbound.fifo) →
 * outbound.fifo, with the echo responder unless a test scripts one.
 */
import { SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { createConversationHandler, createTimerHandler } from '../../lambdas/conversation/runtime.js';
import { DynamoMemoryStore } from '../../lambdas/memory/store.js';
import { historyEntries } from '../../lambdas/memory/turn-item.js';
import type { Reply, Responder, TurnContext } from '../../lambdas/responders/types.js';
import { documentClient, resetClients } from '../../lambdas/shared/clients.js';
import { ENV } from '../../lambdas/shared/env.js';
import {
  conversationPk,
  HISTORY_PREFIX,
  messageGroupId,
  SENT_SK,
  STATE_SK,
  sentPk,
  sha256Hex,
} from '../../lambdas/shared/keys.js';
import type { MetricName } from '../../lambdas/shared/metrics-catalogue.js';
import type { HumanActiveEvent, MessageEvent, OutboundPart } from '../../lambdas/shared/model.js';
import { type TenantSettings, tenantSecretName } from '../../lambdas/shared/tenant.js';
import { type Driver, runUntil, type SqsHandler } from '../helpers/sqs-driver.js';

let emu: Emulators;
let doc: DynamoDBDocumentClient;
let offset = 0;
/** When set, the actor's clock stands still at this time (tests that move it step by step). */
let frozen: number | undefined;
const clock = () => frozen ?? Date.now() + offset;
const metrics: { name: MetricName; value: number; dims: Record<string, string> }[] = [];
const metric = (name: MetricName, value: number, dims: Readonly<Record<string, string>> = {}) => {
  metrics.push({ name, value, dims: { ...dims } });
};
const count = (name: MetricName) => metrics.filter((m) => m.name === name).reduce((n, m) => n + m.value, 0);
const outbound: OutboundPart[] = [];
const typingCalls: string[] = [];
/** Message ids the actor looked up in the history (only a possible duplicate `seen` forgot). */
const lookups: string[] = [];

/** The production memory store, counting its history look-ups. */
class CountingMemoryStore extends DynamoMemoryStore {
  override async hasCustomerMessage(input: Parameters<DynamoMemoryStore['hasCustomerMessage']>[0]) {
    lookups.push(input.messageId);
    return super.hasCustomerMessage(input);
  }
}

function putTenant(tenantId: string, settings: TenantSettings): void {
  emu.secrets.putSecret(
    tenantSecretName(emu.secretPrefix, tenantId),
    JSON.stringify({
      tenantId,
      channels: { telegram: { botToken: '123456:ABC-token', secretToken: 'secret' } },
      settings,
    }),
  );
}

function messageEvent(tenantId: string, conv: string, id: string, text: string, at = clock()): MessageEvent {
  const conversationKey = `${tenantId}#telegram#${conv}`;
  return {
    v: 1,
    type: 'message',
    tenantId,
    channel: 'telegram',
    conversationId: conv,
    conversationKey,
    message: {
      tenantId,
      channel: 'telegram',
      conversationId: conv,
      conversationKey,
      messageId: id,
      pageId: '123456',
      customer: { id: conv.split(':')[1] ?? conv, name: 'Lan' },
      timestamp: at,
      receivedAt: at,
      kind: 'text',
      text,
      attachments: [],
      surface: 'inbox',
    },
  };
}

function humanEvent(tenantId: string, conv: string, id: string): HumanActiveEvent {
  const conversationKey = `${tenantId}#telegram#${conv}`;
  return {
    v: 1,
    type: 'human-active',
    tenantId,
    channel: 'telegram',
    conversationId: conv,
    conversationKey,
    activity: {
      tenantId,
      channel: 'telegram',
      conversationId: conv,
      conversationKey,
      messageId: id,
      pageId: '123456',
      timestamp: clock(),
      receivedAt: clock(),
    },
  };
}

/** Sends events to inbound.fifo the way the webhook does (group = conversation, dedup = message). */
async function enqueue(events: readonly (MessageEvent | HumanActiveEvent)[], dedupSalt = ''): Promise<void> {
  for (let i = 0; i < events.length; i += 10) {
    const chunk = events.slice(i, i + 10);
    const result = await emu.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: emu.queues.inbound.url,
        Entries: chunk.map((e, j) => ({
          Id: String(j),
          MessageBody: JSON.stringify(e),
          MessageGroupId: messageGroupId(e.conversationKey),
          MessageDeduplicationId: sha256Hex(
            e.type === 'message' ? e.message.messageId : e.activity.messageId,
            dedupSalt,
          ),
        })),
      }),
    );
    expect(result.Failed ?? []).toEqual([]);
  }
}

let respond: ((context: TurnContext) => Promise<Reply>) | undefined;
const responderCalls: TurnContext[] = [];
const scripted: Responder = {
  name: 'scripted',
  async respond(context) {
    responderCalls.push(context);
    if (respond) return respond(context);
    const texts = context.messages.map((m) => m.text ?? m.transcript ?? m.mediaNote ?? '');
    return { messages: [{ text: `echo: ${texts.join(' | ')}` }] };
  },
};

let drivers: (Driver & { concurrency?: number })[];
let timerOnly: SqsHandler;
/** Records the timer handler received (debounce and media ticks). */
let timerTicks = 0;
/** The inbound driver of the conversation handler that never holds records (timer ticks only). */
const timerOnlyInbound = (): Driver => ({ ...drivers[0]!, handler: timerOnly });

function repliesFor(conversationKey: string): string[] {
  return outbound.filter((p) => p.conversationKey === conversationKey).map((p) => p.text ?? '');
}

// Timeouts only bound how long a test may wait for the pipeline (generous: the suite must pass
// on a loaded 2-core machine); no assertion depends on how long anything took.
async function settle(until: () => boolean, timeoutMs = 60_000): Promise<void> {
  const ok = await runUntil(drivers, until, timeoutMs);
  expect(ok, 'the pipeline settled before the timeout').toBe(true);
}

/** Runs the pipeline for a while with no expectation (lets stray ticks arrive). */
async function idle(ms: number): Promise<void> {
  await runUntil(drivers, () => false, ms);
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

beforeAll(async () => {
  emu = await startEmulators({ visibilityTimeoutSeconds: { inbound: 2, outbound: 2, timer: 2 } });
  Object.assign(process.env, emu.env);
  resetClients();
  doc = DynamoDBDocumentClient.from(emu.dynamo);
  const env: NodeJS.ProcessEnv = { ...process.env, DEBOUNCE_MS: '1000', MEDIA_JOBS_QUEUE_URL: '' };
  const conversation = createConversationHandler({
    env,
    now: clock,
    responder: scripted,
    metric,
    typing: async (target) => {
      typingCalls.push(target.conversationId);
    },
    deps: { memory: new CountingMemoryStore(documentClient(), emu.tables.memory) },
  });
  // Without the inbound queue's URL the actor cannot hold a record as its tick: every debounce
  // goes through the timer queue (the path it falls back to; the tick tests drive it directly).
  const { [ENV.inboundQueueUrl]: _inbound, ...timerEnv } = env;
  timerOnly = createConversationHandler({
    env: timerEnv,
    now: clock,
    responder: scripted,
    metric,
    typing: async () => undefined,
    deps: { memory: new CountingMemoryStore(documentClient(), emu.tables.memory) },
  });
  const forward = createTimerHandler({ env, now: clock });
  const timer: SqsHandler = async (event, context) => {
    timerTicks += event.Records.length;
    return forward(event, context);
  };
  drivers = [
    { sqs: emu.sqs, queueUrl: emu.queues.inbound.url, handler: conversation, concurrency: 3 },
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
  putTenant('burst', { debounceMs: 0 });
  putTenant('dedup', { debounceMs: 0 });
  putTenant('debounce', { debounceMs: 1000, maxTurnWaitMs: 0 });
  putTenant('maxwait', { debounceMs: 1000, maxTurnWaitMs: 3000 });
  putTenant('typist', { debounceMs: 1000, maxTurnWaitMs: 3000 });
  putTenant('human', { debounceMs: 0, humanTakeoverMinutes: 30 });
  putTenant('horizon', { debounceMs: 0, humanTakeoverMinutes: 30 });
  putTenant('gates', {
    debounceMs: 0,
    bannedPhrases: ['forbidden'],
    fallbackReply: 'A person will help you soon.',
  });
});

afterAll(async () => {
  await emu?.stop();
});

describe('conversation actor against the emulators', () => {
  it('answers 20 concurrent conversations with interleaved bursts, each in order', async () => {
    const perConversation = 4;
    const CONVERSATIONS = 20;
    const events: MessageEvent[] = [];
    for (let i = 0; i < perConversation; i += 1) {
      for (let c = 0; c < CONVERSATIONS; c += 1)
        events.push(messageEvent('burst', `b:${c}`, `b${c}-m${i}`, `c${c} m${i}`));
    }
    await enqueue(events);
    await settle(
      () => outbound.filter((p) => p.tenantId === 'burst').length >= CONVERSATIONS * perConversation,
      150_000,
    );
    for (let c = 0; c < CONVERSATIONS; c += 1) {
      const expected = Array.from({ length: perConversation }, (_, i) => `echo: c${c} m${i}`);
      expect(repliesFor(`burst#telegram#b:${c}`)).toEqual(expected);
    }
    const part = outbound.find((p) => p.conversationKey === 'burst#telegram#b:0');
    expect(part).toMatchObject({ channel: 'telegram', pageId: '123456', recipientId: '0', surface: 'inbox' });
    expect(part?.replyId).toMatch(/^t[0-9a-f]{31}:0$/);
    expect(typingCalls).toContain('b:0');
  }, 180_000);

  it('answers a platform message re-delivered 10 minutes later only once', async () => {
    const event = messageEvent('dedup', 'd:1', 'wamid.same', 'hello');
    await enqueue([event]);
    await settle(() => repliesFor('dedup#telegram#d:1').length === 1);
    const duplicatesBefore = count('DuplicateMessages');
    offset += 10 * 60_000;
    // Past SQS's 5-minute dedup window the queue accepts it again: a new dedup id says so.
    await enqueue([event], 'redelivery');
    await settle(() => count('DuplicateMessages') > duplicatesBefore);
    await idle(300);
    expect(repliesFor('dedup#telegram#d:1')).toEqual(['echo: hello']);
  }, 60_000);

  it('merges three messages sent together into one turn, answered when the last one comes back from being held, with no timer tick', async () => {
    const staleBefore = count('StaleTicks');
    const duplicatesBefore = count('DuplicateMessages');
    const ticksBefore = timerTicks;
    const key = 'debounce#telegram#q:1';
    await enqueue([
      messageEvent('debounce', 'q:1', 'q-1', 'one'),
      messageEvent('debounce', 'q:1', 'q-2', 'two'),
      messageEvent('debounce', 'q:1', 'q-3', 'three'),
    ]);
    await settle(() => repliesFor(key).length === 1);
    await idle(1500);
    expect(repliesFor(key)).toEqual(['echo: one | two | three']);
    // The first two left the debounce to the third, whose record was held and came back as the tick.
    expect(count('StaleTicks') - staleBefore).toBe(0);
    expect(timerTicks - ticksBefore).toBe(0);
    // A held record coming back is not a duplicate.
    expect(count('DuplicateMessages') - duplicatesBefore).toBe(0);
    const state = await stateOf(key);
    expect(state).toMatchObject({
      turnCount: 1,
      turn: { status: 'answered', version: 3, reply: { reason: 'debounce' } },
    });
    const flushed = metrics.filter((m) => m.name === 'MessagesPerTurn' && m.dims.channel === 'telegram');
    expect(flushed.at(-1)?.value).toBe(3);
  }, 60_000);

  it('merges a message sent while the first is held into the same turn: the held record keeps the conversation waiting', async () => {
    const key = 'debounce#telegram#q:2';
    const ticksBefore = timerTicks;
    await enqueue([messageEvent('debounce', 'q:2', 'q2-1', 'first')]);
    const version = async () => ((await stateOf(key))?.turn as { version?: number } | undefined)?.version;
    expect(await runUntil(drivers, async () => (await version()) === 1, 20_000)).toBe(true);
    expect(repliesFor(key)).toEqual([]);
    await enqueue([messageEvent('debounce', 'q:2', 'q2-2', 'second')]);
    await settle(() => repliesFor(key).length === 1);
    await idle(1500);
    expect(repliesFor(key)).toEqual(['echo: first | second']);
    expect(timerTicks - ticksBefore).toBe(0);
    expect(await stateOf(key)).toMatchObject({ turnCount: 1, turn: { status: 'answered', version: 2 } });
  }, 60_000);

  it('arms a timer tick instead when SQS refuses to hold the record, and still answers once', async () => {
    const key = 'debounce#telegram#q:3';
    const ticksBefore = timerTicks;
    const refusing = createConversationHandler({
      env: {
        ...process.env,
        DEBOUNCE_MS: '1000',
        MEDIA_JOBS_QUEUE_URL: '',
        [ENV.inboundQueueUrl]: `${emu.queues.inbound.url}-missing`,
      },
      now: clock,
      responder: scripted,
      metric,
      typing: async () => undefined,
    });
    await enqueue([messageEvent('debounce', 'q:3', 'q3-1', 'refused')]);
    const refusingDrivers = [{ ...drivers[0]!, handler: refusing }, drivers[1]!, drivers[2]!];
    expect(await runUntil(refusingDrivers, () => repliesFor(key).length === 1, 30_000)).toBe(true);
    await idle(1500);
    expect(repliesFor(key)).toEqual(['echo: refused']);
    expect(timerTicks - ticksBefore).toBe(1);
  }, 60_000);

  it('does not answer a turn a human took over while its last message was held', async () => {
    const key = 'debounce#telegram#q:4';
    await enqueue([messageEvent('debounce', 'q:4', 'q4-1', 'hello')]);
    const version = async () => ((await stateOf(key))?.turn as { version?: number } | undefined)?.version;
    expect(await runUntil(drivers, async () => (await version()) === 1, 20_000)).toBe(true);
    // The agent answers from the inbox before the debounce ends: queued behind the held record.
    await enqueue([humanEvent('debounce', 'q:4', 'agent-q4')]);
    expect(await runUntil(drivers, async () => (await stateOf(key))?.pausedUntil !== undefined, 30_000)).toBe(
      true,
    );
    await idle(2500);
    expect(repliesFor(key)).toEqual([]);
    expect(await stateOf(key)).toMatchObject({ turnCount: 0, turn: { status: 'dropped' } });
  }, 60_000);

  it('flushes a customer who never stops typing once maxTurnWaitMs has passed', async () => {
    const key = 'maxwait#telegram#w:1';
    const inboundOnly = [timerOnlyInbound()];
    await enqueue([
      messageEvent('maxwait', 'w:1', 'w-1', 'first'),
      messageEvent('maxwait', 'w:1', 'w-2', 'second'),
    ]);
    const version = async () =>
      (await stateOf(key))?.turn as { version?: number; turnId?: string } | undefined;
    expect(await runUntil(inboundOnly, async () => (await version())?.version === 2, 10_000)).toBe(true);
    const turnId = (await version())?.turnId ?? '';
    // The tick armed for version 1 comes back while the customer is still typing (version 2).
    const tick = (armedAt: number) => ({
      v: 1,
      type: 'flush',
      tenantId: 'maxwait',
      channel: 'telegram',
      conversationId: 'w:1',
      conversationKey: key,
      turnId,
      version: 1,
      reason: 'debounce',
      armedAt,
    });
    const staleBefore = count('StaleTicks');
    await emu.sqs.send(
      new SendMessageCommand({
        QueueUrl: emu.queues.inbound.url,
        MessageBody: JSON.stringify(tick(clock())),
        MessageGroupId: messageGroupId(key),
        MessageDeduplicationId: 'maxwait-tick-1',
      }),
    );
    expect(await runUntil(inboundOnly, () => count('StaleTicks') > staleBefore, 10_000)).toBe(true);
    expect(repliesFor(key)).toEqual([]);
    // Past the cap, the same stale tick flushes the turn regardless of the newer version.
    offset += 5_000;
    await emu.sqs.send(
      new SendMessageCommand({
        QueueUrl: emu.queues.inbound.url,
        MessageBody: JSON.stringify(tick(clock())),
        MessageGroupId: messageGroupId(key),
        MessageDeduplicationId: 'maxwait-tick-2',
      }),
    );
    await settle(() => repliesFor(key).length === 1);
    await idle(2500);
    expect(repliesFor(key)).toEqual(['echo: first | second']);
    expect(await stateOf(key)).toMatchObject({ turn: { status: 'answered', reply: { reason: 'max-wait' } } });
  }, 60_000);

  it('answers a customer who keeps typing every 600 ms once maxTurnWaitMs has passed, without waiting for a pause', async () => {
    // Deterministic: the actor's clock stands still and moves 600 ms per message, and each
    // debounce tick (1 s) is delivered as the timer queue would for such a typist: after the
    // customer's next message. Only the 3-s cap can flush the turn, at the tick that finds it
    // open for 3 s: after m5 (0.6 s × 5), so the first reply holds m0…m5 and m6, m7 go on.
    const key = 'typist#telegram#k:1';
    const noTimer = [timerOnlyInbound(), drivers[2]!];
    type Turn = { turnId: string; version: number; status: string; reply?: { reason: string } };
    const turn = async () => ((await stateOf(key))?.turn as Turn | undefined) ?? undefined;
    let ticks = 0;
    const deliverTick = async (of: Turn, armedAt: number) => {
      ticks += 1;
      await emu.sqs.send(
        new SendMessageCommand({
          QueueUrl: emu.queues.inbound.url,
          MessageBody: JSON.stringify({
            v: 1,
            type: 'flush',
            tenantId: 'typist',
            channel: 'telegram',
            conversationId: 'k:1',
            conversationKey: key,
            turnId: of.turnId,
            version: of.version,
            reason: 'debounce',
            armedAt,
          }),
          MessageGroupId: messageGroupId(key),
          MessageDeduplicationId: `typist-tick-${ticks}`,
        }),
      );
    };
    const typeMessage = async (k: number) => {
      const before = await turn();
      await enqueue([messageEvent('typist', 'k:1', `k-${k}`, `m${k}`, frozen)]);
      const taken = async () => {
        const now = await turn();
        return now !== undefined && (now.turnId !== before?.turnId || now.version !== before.version);
      };
      expect(await runUntil(noTimer, taken, 60_000)).toBe(true);
      return (await turn()) as Turn;
    };
    frozen = Date.now() + offset;
    try {
      let previous: { turn: Turn; armedAt: number } | undefined;
      let k = 0;
      for (; k < 20 && repliesFor(key).length === 0; k += 1) {
        const current = await typeMessage(k);
        if (previous) {
          const staleBefore = count('StaleTicks');
          await deliverTick(previous.turn, previous.armedAt);
          expect(
            await runUntil(
              noTimer,
              () => count('StaleTicks') > staleBefore || repliesFor(key).length > 0,
              60_000,
            ),
          ).toBe(true);
        }
        previous = { turn: current, armedAt: frozen };
        frozen += 600;
      }
      expect(repliesFor(key)).toEqual(['echo: m0 | m1 | m2 | m3 | m4 | m5']);
      expect(await turn()).toMatchObject({ status: 'answered', reply: { reason: 'max-wait' } });
      // The customer goes on typing; this turn pauses and is answered on its debounce tick.
      await typeMessage(6);
      frozen += 600;
      const last = await typeMessage(7);
      frozen += 1000;
      await deliverTick(last, frozen - 1000);
      await runUntil(noTimer, () => repliesFor(key).length === 2, 60_000);
      expect(repliesFor(key)).toEqual(['echo: m0 | m1 | m2 | m3 | m4 | m5', 'echo: m6 | m7']);
      expect(await turn()).toMatchObject({ status: 'answered', reply: { reason: 'debounce' } });
    } finally {
      // Hand the clock back without moving it backwards.
      offset = Math.max(offset, (frozen ?? 0) - Date.now());
      frozen = undefined;
    }
  }, 180_000);

  it('ignores an echo of our own send, and pauses for a human agent until the takeover ends', async () => {
    // Our own send coming back as "human activity" must not pause the bot.
    await doc.send(
      new PutCommand({
        TableName: emu.tables.memory,
        Item: {
          pk: sentPk('human', 'telegram', 'our-send-1'),
          sk: SENT_SK,
          expiresAt: Math.floor(clock() / 1000) + 86_400,
        },
      }),
    );
    await enqueue([
      humanEvent('human', 'e:1', 'our-send-1'),
      messageEvent('human', 'e:1', 'e-1', 'still there?'),
    ]);
    await settle(() => repliesFor('human#telegram#e:1').length === 1);
    expect(repliesFor('human#telegram#e:1')).toEqual(['echo: still there?']);

    const key = 'human#telegram#h:1';
    const pausedBefore = count('MessagesWhilePaused');
    await enqueue([messageEvent('human', 'h:1', 'h-1', 'hi')]);
    await settle(() => repliesFor(key).length === 1);
    await enqueue([
      humanEvent('human', 'h:1', 'agent-msg-1'),
      messageEvent('human', 'h:1', 'h-2', 'are you a bot?'),
    ]);
    await settle(() => count('MessagesWhilePaused') > pausedBefore);
    expect(count('HumanTakeover')).toBeGreaterThanOrEqual(1);
    expect(repliesFor(key)).toEqual(['echo: hi']);

    const history = await doc.send(
      new QueryCommand({
        TableName: emu.tables.memory,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': conversationPk(key), ':p': HISTORY_PREFIX },
      }),
    );
    // One item per turn (its messages and reply), one per human reply and unanswered message.
    const roles = (history.Items ?? []).flatMap((i) => historyEntries(i)).map((h) => `${h.role}:${h.text}`);
    expect(roles).toEqual(
      expect.arrayContaining([
        'customer:hi',
        'bot:echo: hi',
        'human:[a team member replied]',
        'customer:are you a bot?',
      ]),
    );

    offset += 31 * 60_000;
    await enqueue([messageEvent('human', 'h:1', 'h-3', 'hello again')]);
    await settle(() => repliesFor(key).length === 2);
    expect(repliesFor(key)).toEqual(['echo: hi', 'echo: hello again']);
    // The history the responder saw includes the human's reply and the unanswered message.
    const context = responderCalls.filter((c) => c.conversationKey === key).at(-1);
    expect(context?.history.map((h) => h.role)).toEqual(['customer', 'bot', 'human', 'customer']);
  }, 60_000);

  it('answers 22 messages without a history look-up, then drops the first re-delivered hours later and answers a late one', async () => {
    const key = 'horizon#telegram#o:1';
    const start = clock();
    // One a second (Telegram's timestamps are whole seconds), each answered at once.
    const events = Array.from({ length: 22 }, (_, i) =>
      messageEvent('horizon', 'o:1', `o-${i}`, `q${i}`, start + i * 1000),
    );
    await enqueue(events);
    await settle(() => repliesFor(key).length === 22, 120_000);
    expect(repliesFor(key)).toEqual(events.map((_, i) => `echo: q${i}`));
    expect(lookups.filter((id) => id.startsWith('o-'))).toEqual([]);
    const state = await stateOf(key);
    expect(state?.seen).toHaveLength(16);
    // o-0…o-5 fell out of `seen`: it is complete after o-5 was sent (the end of its second).
    expect(state?.seenFrom).toBe(Math.floor((start + 5000) / 1000) * 1000 + 999);

    // Hours later, past SQS's 5-minute dedup window, the platform sends the first one again.
    offset += 3 * 3_600_000;
    const duplicatesBefore = count('DuplicateMessages');
    await enqueue([{ ...events[0]!, message: { ...events[0]!.message, receivedAt: clock() } }], 'retry');
    await settle(() => count('DuplicateMessages') > duplicatesBefore);
    expect(lookups.filter((id) => id.startsWith('o-'))).toEqual(['o-0']);

    // A new id sent long ago (the platform held it back): answered, after one look-up.
    await enqueue([messageEvent('horizon', 'o:1', 'o-late', 'late question', start + 2500)]);
    await settle(() => repliesFor(key).length === 23);
    await idle(300);
    expect(repliesFor(key)).toEqual([...events.map((_, i) => `echo: q${i}`), 'echo: late question']);
    expect(lookups.filter((id) => id.startsWith('o-'))).toEqual(['o-0', 'o-late']);
    expect(count('DuplicateMessages')).toBe(duplicatesBefore + 1);
  }, 180_000);

  it('does not answer a copy of a message taken in while paused, 20 messages after the pause', async () => {
    const key = 'horizon#telegram#p:1';
    const pausedMessage = messageEvent('horizon', 'p:1', 'p-paused', 'hello? anyone?');
    const pausedBefore = count('MessagesWhilePaused');
    await enqueue([humanEvent('horizon', 'p:1', 'agent-p-1'), pausedMessage]);
    await settle(() => count('MessagesWhilePaused') > pausedBefore);
    offset += 31 * 60_000;
    const start = clock();
    const events = Array.from({ length: 20 }, (_, i) =>
      messageEvent('horizon', 'p:1', `p-${i}`, `after ${i}`, start + i * 1000),
    );
    await enqueue(events);
    await settle(() => repliesFor(key).length === 20, 120_000);
    offset += 6 * 3_600_000;
    const duplicatesBefore = count('DuplicateMessages');
    await enqueue([pausedMessage], 'retry');
    await settle(() => count('DuplicateMessages') > duplicatesBefore);
    await idle(300);
    expect(repliesFor(key)).toEqual(events.map((_, i) => `echo: after ${i}`));
    expect(lookups.filter((id) => id.startsWith('p-'))).toEqual(['p-paused']);
    expect(responderCalls.some((c) => c.messages.some((m) => m.messageId === 'p-paused'))).toBe(false);
  }, 180_000);

  it('regenerates a reply that fails a gate once, then falls back to the tenant reply', async () => {
    const regenerated = 'gates#telegram#g:1';
    respond = async (context) =>
      context.regenerationReason === undefined
        ? { messages: [{ text: 'this is forbidden' }] }
        : { messages: [{ text: 'a clean answer' }] };
    await enqueue([messageEvent('gates', 'g:1', 'g-1', 'question')]);
    await settle(() => repliesFor(regenerated).length === 1);
    expect(repliesFor(regenerated)).toEqual(['a clean answer']);
    const calls = responderCalls.filter((c) => c.conversationKey === regenerated);
    expect(calls).toHaveLength(2);
    expect(calls[1]?.regenerationReason).toBeTruthy();

    const fallback = 'gates#telegram#g:2';
    respond = async () => ({ messages: [{ text: 'still forbidden' }] });
    await enqueue([messageEvent('gates', 'g:2', 'g-2', 'question')]);
    await settle(() => repliesFor(fallback).length === 1);
    expect(repliesFor(fallback)).toEqual(['A person will help you soon.']);
    expect(responderCalls.filter((c) => c.conversationKey === fallback)).toHaveLength(2);
    respond = undefined;
  }, 60_000);

  it('acknowledges a schema-invalid event without blocking its conversation', async () => {
    const before = count('InvalidEvents');
    await emu.sqs.send(
      new SendMessageCommand({
        QueueUrl: emu.queues.inbound.url,
        MessageBody: JSON.stringify({ v: 1, type: 'message', tenantId: 'burst' }),
        MessageGroupId: messageGroupId('burst#telegram#x:1'),
        MessageDeduplicationId: 'invalid-1',
      }),
    );
    await enqueue([messageEvent('burst', 'x:1', 'x-1', 'after the bad one')]);
    await settle(() => repliesFor('burst#telegram#x:1').length === 1);
    expect(count('InvalidEvents') - before).toBe(1);
  }, 60_000);
});
