/**
 * The audit trail against dynalite: the actor and delivery write it as part of their usual writes
 * (the turn's history item, each part's delivery record), and lambdas/memory/trail.ts reads it
 * back. Every gate outcome and every delivery state must appear; pause and resume are takeovers.
 */
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import type { DeliveryState } from '../../lambdas/contracts/audit.js';
import { ConversationActor } from '../../lambdas/conversation/actor.js';
import type { ActorConfig } from '../../lambdas/conversation/config.js';
import type { ReplyPlanLike } from '../../lambdas/conversation/ports.js';
import {
  AMBIGUOUS_AFTER_CRASH,
  countFailure,
  markSending,
  recordOutcome,
} from '../../lambdas/delivery/records.js';
import { DynamoMemoryStore, DynamoStateStore } from '../../lambdas/memory/store.js';
import {
  listConversations,
  pauseConversation,
  readConversationTrail,
  resumeConversation,
} from '../../lambdas/memory/trail.js';
import { resetClients } from '../../lambdas/shared/clients.js';
import { conversationKey, conversationPk, historySk } from '../../lambdas/shared/keys.js';
import type { MessageEvent, OutboundPart } from '../../lambdas/shared/model.js';

let emu: Emulators;
let doc: DynamoDBDocumentClient;
const NOW = 1_800_000_000_000;

const config: ActorConfig = {
  debounceMs: 0,
  maxTurnWaitMs: 15_000,
  mediaTimeoutMs: 120_000,
  historyLimit: 20,
  historyTtlDays: 30,
  summaryEveryTurns: 0,
  maxReceiveCount: 3,
  sendFallbackOnFailure: false,
  humanTakeoverMinutes: 30,
  mediaWorker: false,
  typingTimeoutMs: 50,
};

/** A pipeline result with every gate outcome, seven parts (one per delivery state), rich extras. */
const PLAN: ReplyPlanLike = {
  parts: Array.from({ length: 7 }, (_, i) => ({
    text: `part ${i}`,
    ...(i === 6 ? { quickReplies: [{ title: 'Yes', payload: 'YES' }] } : {}),
  })),
  handoff: false,
  outcome: 'fallback',
  gates: [
    { gate: 'non-empty', outcome: 'pass' },
    { gate: 'banned-phrase', outcome: 'fail', reason: 'BANNED_PHRASE' },
    { gate: 'banned-phrase', outcome: 'regenerated' },
    { gate: 'grounded', outcome: 'fail', reason: 'UNGROUNDED' },
    { gate: 'grounded', outcome: 'fallback', reason: 'UNGROUNDED' },
  ],
  diagnostics: { tokens: { input: 120, output: 30 } } as ReplyPlanLike['diagnostics'],
};

function actorFor(outbound: OutboundPart[], now: () => number) {
  return new ConversationActor(
    {
      state: new DynamoStateStore(doc, emu.tables.memory),
      memory: new DynamoMemoryStore(doc, emu.tables.memory),
      queues: {
        armTick: async () => {},
        enqueueOutbound: async (parts) => {
          outbound.push(...parts);
        },
      },
      reply: { responderName: 'scripted', maxReplyLength: () => 2000, produce: async () => PLAN },
      loadTenant: async () => ({ tenantId: 'trail', channels: {}, settings: { debounceMs: 0 } }),
      metric: () => {},
      now,
    },
    config,
  );
}

function message(conv: string, id: string, text: string, at: number): MessageEvent {
  const key = conversationKey('trail', 'messenger', conv);
  return {
    v: 1,
    type: 'message',
    tenantId: 'trail',
    channel: 'messenger',
    conversationId: conv,
    conversationKey: key,
    message: {
      tenantId: 'trail',
      channel: 'messenger',
      conversationId: conv,
      conversationKey: key,
      messageId: id,
      pageId: 'P1',
      customer: { id: conv.split(':')[1] ?? conv },
      timestamp: at - 50,
      receivedAt: at,
      kind: 'text',
      text,
      attachments: [],
      surface: 'inbox',
    },
  } as MessageEvent;
}

beforeAll(async () => {
  emu = await startEmulators({ prefix: `trail${process.pid}` });
  Object.assign(process.env, emu.env);
  resetClients();
  doc = DynamoDBDocumentClient.from(emu.dynamo, { marshallOptions: { removeUndefinedValues: true } });
}, 60_000);

afterAll(async () => {
  await emu?.stop();
});

describe('the audit trail', () => {
  it('shows every gate outcome and every delivery state of a turn', async () => {
    const outbound: OutboundPart[] = [];
    let now = NOW;
    const actor = actorFor(outbound, () => now);
    expect(await actor.onMessage(message('P1:u1', 'mid.1', 'hello', NOW), { receiveCount: 1 })).toBe(
      'answered',
    );
    expect(outbound).toHaveLength(7);
    // The rich extras of the reply message ride on its last part to delivery.
    expect(outbound[6]).toMatchObject({ text: 'part 6', quickReplies: [{ title: 'Yes', payload: 'YES' }] });

    const table = emu.tables.memory;
    const [sent, retrying, sending, failed, ambiguous, dead] = outbound as [
      OutboundPart,
      OutboundPart,
      OutboundPart,
      OutboundPart,
      OutboundPart,
      OutboundPart,
    ];
    now += 1000;
    expect(await markSending(table, sent, now)).toEqual({ marked: true });
    expect(
      await recordOutcome(table, sent, { status: 'delivered', platformMessageId: 'mid.out', at: now }),
    ).toBe(true);
    // A replay never overwrites the stored outcome, and the mark refuses to send it again.
    expect(
      await recordOutcome(table, sent, {
        status: 'failed',
        code: 'X',
        message: '',
        tokenInvalid: false,
        at: now,
      }),
    ).toBe(false);
    expect(await markSending(table, sent, now)).toMatchObject({
      marked: false,
      outcome: { status: 'delivered' },
    });
    await countFailure(table, retrying, now, false, 'THROTTLED');
    await countFailure(table, retrying, now, false, 'HTTP_500');
    await markSending(table, sending, now);
    await recordOutcome(table, failed, {
      status: 'failed',
      code: 'TOKEN_INVALID',
      message: 'refused',
      tokenInvalid: true,
      at: now,
    });
    await markSending(table, ambiguous, now);
    expect(await markSending(table, ambiguous, now)).toEqual({ marked: false });
    await recordOutcome(table, ambiguous, {
      status: 'failed',
      code: AMBIGUOUS_AFTER_CRASH,
      message: 'cut off',
      tokenInvalid: false,
      at: now,
    });
    await countFailure(table, dead, now, false, 'HTTP_503');
    await recordOutcome(
      table,
      dead,
      { status: 'failed', code: 'DEAD_LETTERED', message: 'gave up', tokenInvalid: false, at: now },
      { dead: true },
    );

    const trail = await readConversationTrail(
      { client: doc, table },
      {
        tenantId: 'trail',
        channel: 'messenger',
        conversationId: 'P1:u1',
      },
    );
    expect(trail).toBeDefined();
    const turn = trail?.turns[0];
    expect(trail?.turns).toHaveLength(1);
    expect(turn).toMatchObject({
      turnId: outbound[0]?.turnId,
      messages: [{ messageId: 'mid.1', kind: 'text', receivedAt: NOW, timestamp: NOW - 50 }],
      flushReason: 'immediate',
      outcome: 'fallback',
      responder: { name: 'scripted', diagnostics: { tokens: { input: 120, output: 30 } } },
    });
    expect(new Set(turn?.gates.map((g) => g.outcome))).toEqual(
      new Set(['pass', 'fail', 'regenerated', 'fallback']),
    );
    expect(turn?.gates).toContainEqual({ gate: 'grounded', outcome: 'fallback', reason: 'UNGROUNDED' });
    const states: DeliveryState[] = [
      'sent',
      'retrying',
      'sending',
      'failed',
      'ambiguous',
      'dead-lettered',
      'pending',
    ];
    expect(turn?.deliveries.map((d) => d.state)).toEqual(states);
    expect(turn?.deliveries[0]).toMatchObject({ platformMessageId: 'mid.out', attempts: 1, retryCodes: [] });
    expect(turn?.deliveries[1]).toMatchObject({ attempts: 2, retryCodes: ['THROTTLED', 'HTTP_500'] });
    expect(turn?.deliveries[3]).toMatchObject({ permanentCode: 'TOKEN_INVALID' });
    expect(turn?.deliveries[4]).toMatchObject({ permanentCode: AMBIGUOUS_AFTER_CRASH });
    expect(turn?.deliveries[5]).toMatchObject({ permanentCode: 'DEAD_LETTERED', retryCodes: ['HTTP_503'] });
    expect(trail?.lastMessage).toBe('part 6');
    // No text beyond what history keeps; the state item holds none of the turn.
    expect(JSON.stringify(trail)).not.toContain('refused');
  });

  it('lists conversations newest first, and an operator pause stops the next reply until resumed', async () => {
    const outbound: OutboundPart[] = [];
    let now = NOW + 10_000;
    const actor = actorFor(outbound, () => now);
    await actor.onMessage(message('P1:u2', 'mid.2', 'first', now), { receiveCount: 1 });
    now += 5000;
    await actor.onMessage(message('P1:u3', 'mid.3', 'second', now), { receiveCount: 1 });
    const deps = { client: doc, table: emu.tables.memory, now: () => now };
    const listed = await listConversations(deps, { tenantId: 'trail', sinceMs: NOW + 5000 });
    expect(listed.map((c) => c.conversationId)).toEqual(['P1:u3', 'P1:u2']);
    expect(listed[0]).toMatchObject({ channel: 'messenger', paused: false, lastMessage: 'part 6' });

    now += 1000;
    const address = { tenantId: 'trail', channel: 'messenger' as const, conversationId: 'P1:u3' };
    const { pausedUntil } = await pauseConversation(deps, { ...address, minutes: 60 });
    expect(pausedUntil).toBe(now + 3_600_000);
    const before = outbound.length;
    expect(await actor.onMessage(message('P1:u3', 'mid.4', 'anyone?', now), { receiveCount: 1 })).toBe(
      'paused-recorded',
    );
    expect(outbound).toHaveLength(before);
    expect(
      (await listConversations(deps, { tenantId: 'trail' })).find((c) => c.conversationId === 'P1:u3'),
    ).toMatchObject({
      paused: true,
      pausedUntil,
    });

    now += 1000;
    expect(await resumeConversation(deps, address)).toEqual({ wasPaused: true });
    expect(await actor.onMessage(message('P1:u3', 'mid.5', 'back?', now), { receiveCount: 1 })).toBe(
      'answered',
    );
    expect(outbound.length).toBeGreaterThan(before);
    const trail = await readConversationTrail(deps, address);
    expect(trail?.paused).toBe(false);
    expect(trail?.takeovers.map((t) => [t.kind, t.by])).toEqual([
      ['start', 'operator'],
      ['end', 'operator'],
    ]);
    // The message that came while paused is in the trail, unanswered.
    expect(trail?.turns.map((t) => t.outcome)).toEqual(['fallback', 'paused', 'fallback']);
  });

  it('reads the one-item-per-message layout of earlier versions as turns too', async () => {
    const key = conversationKey('trail', 'telegram', 'old:1');
    const pk = conversationPk(key);
    const at = NOW - 60_000;
    const items = [
      {
        pk,
        sk: 'state',
        tenantId: 'trail',
        channel: 'telegram',
        conversationId: 'old:1',
        updatedAt: at + 10,
      },
      { pk, sk: historySk(at, 'c1'), role: 'customer', text: 'hi', at, messageId: 'c1' },
      {
        pk,
        sk: historySk(at + 5, 'told:0'),
        role: 'bot',
        text: 'hello',
        at: at + 5,
        replyId: 'told:0',
        status: 'delivered',
        platformMessageId: '42',
      },
      {
        pk,
        sk: historySk(at + 6, 'told:1'),
        role: 'bot',
        text: 'bye',
        at: at + 6,
        replyId: 'told:1',
        status: 'pending',
      },
      { pk, sk: 'attempts#told:1', failures: 2, lastFailureAt: at + 9 },
      {
        pk,
        sk: historySk(at + 20, 'h1'),
        role: 'human',
        text: '[a team member replied]',
        at: at + 20,
        messageId: 'h1',
      },
    ];
    for (const Item of items) await doc.send(new PutCommand({ TableName: emu.tables.memory, Item }));
    const trail = await readConversationTrail(
      { client: doc, table: emu.tables.memory, now: () => NOW },
      { tenantId: 'trail', channel: 'telegram', conversationId: 'old:1' },
    );
    expect(trail?.turns).toHaveLength(1);
    expect(trail?.turns[0]).toMatchObject({ turnId: 'told', messages: [{ messageId: 'c1' }] });
    expect(trail?.turns[0]?.deliveries.map((d) => [d.state, d.platformMessageId, d.attempts])).toEqual([
      ['sent', '42', 1],
      ['retrying', undefined, 2],
    ]);
    expect(trail?.takeovers).toEqual([{ kind: 'start', at: at + 20, by: 'human' }]);
    expect(trail?.lastMessage).toBe('[a team member replied]');
  });
});
