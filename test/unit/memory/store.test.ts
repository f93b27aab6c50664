import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../../bin/local/emulators.js';
import { BOUNDS, STORED_TEXT_MARKER } from '../../../lambdas/conversation/bounds.js';
import { StateConflictError } from '../../../lambdas/conversation/ports.js';
import {
  appendMessage,
  type ConversationState,
  emptyState,
  seenEntry,
} from '../../../lambdas/conversation/turn.js';
import { DynamoMemoryStore, DynamoStateStore, LOOKUP_PAGE_ITEMS } from '../../../lambdas/memory/store.js';
import type { TurnItem } from '../../../lambdas/memory/turn-item.js';
import {
  conversationPk,
  customerPk,
  historySk,
  SENT_SK,
  STATE_SK,
  sentPk,
  summarySk,
} from '../../../lambdas/shared/keys.js';

let emu: Emulators;
let doc: DynamoDBDocumentClient;
const ref = {
  tenantId: 'acme',
  channel: 'zalo' as const,
  conversationId: 'oa:u1',
  conversationKey: 'acme#zalo#oa:u1',
};
const now = 1_800_000_000_000;
const nowS = now / 1000;

/** Stores one answered turn of a Zalo conversation: its customer messages and a one-part reply. */
async function putAnsweredTurn(
  memory: DynamoMemoryStore,
  conversationKey: string,
  turn: {
    readonly turnId: string;
    readonly at: number;
    readonly messages: TurnItem['messages'];
    readonly answeredAt: number;
    readonly reply: string;
    readonly now: number;
  },
): Promise<void> {
  await memory.putTurn({
    conversationKey,
    sk: historySk(turn.at, turn.turnId),
    item: {
      turnId: turn.turnId,
      at: turn.at,
      messages: turn.messages,
      reply: { at: turn.answeredAt, parts: [{ text: turn.reply }] },
      flushedAt: turn.answeredAt,
      flushReason: 'quiet',
      gates: [],
      outcome: 'ok',
      expiresAt: nowS + 86_400,
    },
    tenantId: 'acme',
    channel: 'zalo',
    customerId: undefined,
    now: turn.now,
  });
}

beforeAll(async () => {
  emu = await startEmulators();
  doc = DynamoDBDocumentClient.from(emu.dynamo, { marshallOptions: { removeUndefinedValues: true } });
});
afterAll(async () => {
  await emu?.stop();
});

describe('memory store (dynalite)', () => {
  it('creates the state item once and rejects a write from a stale revision', async () => {
    const store = new DynamoStateStore(doc, emu.tables.memory);
    const fresh = await store.load(ref);
    expect(fresh.rev).toBe(0);
    const saved = await store.save({ ...fresh, turnCount: 1 });
    expect(saved.rev).toBe(1);
    await expect(store.save({ ...fresh, turnCount: 9 })).rejects.toBeInstanceOf(StateConflictError);
    await store.save({ ...saved, turnCount: 2 });
    await expect(store.save(saved)).rejects.toBeInstanceOf(StateConflictError);
    expect(await store.load(ref)).toMatchObject({
      rev: 2,
      turnCount: 2,
      conversationKey: ref.conversationKey,
    });
  });

  it('loads the last N history entries oldest first, skipping expired ones DynamoDB has not deleted yet', async () => {
    const memory = new DynamoMemoryStore(doc, emu.tables.memory);
    const items = Array.from({ length: 6 }, (_, i) => ({
      conversationKey: ref.conversationKey,
      sk: historySk(now - 10_000 + i, `m${i}`),
      role: 'customer' as const,
      text: `msg ${i}`,
      at: now - 10_000 + i,
      // The newest entry is expired but still present.
      expiresAt: i === 5 ? nowS - 1 : nowS + 3600,
    }));
    await memory.putHistory(items);
    await memory.putMemory({
      tenantId: 'acme',
      channel: 'zalo',
      customerId: 'u1',
      conversationKey: ref.conversationKey,
      profile: { id: 'u1', name: 'Minh' },
      facts: { size: 'M' },
      summary: { at: now - 50_000, text: 'asked about sizes', expiresAt: nowS + 3600 },
      now,
    });
    await doc.send(
      new PutCommand({
        TableName: emu.tables.memory,
        Item: {
          pk: conversationPk(ref.conversationKey),
          sk: summarySk(now - 60_000),
          text: 'old',
          expiresAt: nowS - 5,
        },
      }),
    );
    await doc.send(
      new PutCommand({
        TableName: emu.tables.memory,
        Item: {
          pk: customerPk('acme', 'zalo', 'u1'),
          sk: 'fact#gone',
          name: 'gone',
          value: 'x',
          expiresAt: nowS - 5,
        },
      }),
    );
    const loaded = await memory.load({ ...ref, customerId: 'u1', historyLimit: 3, now });
    expect(loaded.history.map((h) => h.text)).toEqual(['msg 2', 'msg 3', 'msg 4']);
    expect(loaded.profile).toEqual({ id: 'u1', name: 'Minh' });
    expect(loaded.facts).toEqual({ size: 'M' });
    expect(loaded.summaries).toEqual(['asked about sizes']);
    // A conversation whose state says no summary was ever stored skips their query.
    const without = await memory.load({ ...ref, customerId: 'u1', historyLimit: 3, summaries: false, now });
    expect(without.summaries).toEqual([]);
    expect(without.history.map((h) => h.text)).toEqual(['msg 2', 'msg 3', 'msg 4']);
    expect(without.facts).toEqual({ size: 'M' });
  });

  it("keeps a returning customer's state item under 1 KB between turns: one write unit per put", async () => {
    const units: number[] = [];
    const counting = {
      send: async (command: PutCommand) => {
        command.input.ReturnConsumedCapacity = 'TOTAL';
        const out = await doc.send(command);
        if (command instanceof PutCommand) units.push(out.ConsumedCapacity?.CapacityUnits ?? 0);
        return out;
      },
    } as unknown as DynamoDBDocumentClient;
    const store = new DynamoStateStore(counting, emu.tables.memory);
    const shop = {
      tenantId: 'shop-hanoi',
      channel: 'messenger' as const,
      conversationId: '100000000000002:7204339635000123',
      conversationKey: 'shop-hanoi#messenger#100000000000002:7204339635000123',
    };
    const customer = { id: '7204339635000123', name: 'Nguyễn Thị Lan' };
    // Many turns in: a full `seen`, a past pause, a Vietnamese name and question.
    let state: ConversationState = {
      ...emptyState(shop),
      // Entries as written now (digest and second), and the horizon of the ids already evicted.
      seen: Array.from({ length: BOUNDS.seen }, (_, i) => seenEntry(`old-${i}`, now - (16 - i) * 60_000)),
      seenFrom: now - 17 * 60_000 + 999,
      turnCount: 57,
      turnsSinceSummary: 7,
      customer,
      pausedUntil: now - 1000,
    };
    const message = {
      ...shop,
      messageId: 'm_7949b139faac46ee633a3166',
      kind: 'text' as const,
      text: 'Cho mình hỏi áo size M còn màu đỏ không ạ?',
      timestamp: now,
      receivedAt: now,
      attachments: [],
      surface: 'inbox' as const,
      pageId: '100000000000002',
      customer,
    };
    state = await store.save(appendMessage(state, message, now, { mediaWorker: true }).state);
    const turn = state.turn!;
    await store.save({
      ...state,
      turn: {
        ...turn,
        status: 'answered',
        messages: [],
        pendingMedia: [],
        reply: {
          partCount: 2,
          answeredAt: now,
          handoff: false,
          outcome: 'ok',
          reason: 'debounce',
          trigger: `f:1:debounce:${now}`,
          target: { surface: 'inbox' },
        },
      },
    });
    const loaded = await store.load(shop);
    expect(loaded.turn).toMatchObject({ status: 'answered', messages: [], pendingMedia: [] });
    await store.save(
      appendMessage(loaded, { ...message, messageId: 'm_next' }, now + 1, { mediaWorker: true }).state,
    );
    expect(units).toEqual([1, 1, 1]);
  });

  it('finds a customer message in the history only within the time range asked: turn items and paused entries', async () => {
    const memory = new DynamoMemoryStore(doc, emu.tables.memory);
    const key = 'acme#zalo#oa:lookup';
    const message = (messageId: string, at: number) => ({
      messageId,
      kind: 'text',
      receivedAt: at,
      timestamp: at,
      text: messageId,
    });
    await putAnsweredTurn(memory, key, {
      turnId: 'tfirst',
      at: now - 60_000,
      messages: [message('m1', now - 60_000), message('m2', now - 59_000)],
      answeredAt: now - 58_000,
      reply: 'answer',
      now,
    });
    await memory.putHistory([
      {
        conversationKey: key,
        sk: historySk(now - 30_000, 'paused-1'),
        role: 'customer',
        text: 'while paused',
        at: now - 30_000,
        messageId: 'paused-1',
        expiresAt: nowS + 86_400,
      },
    ]);
    const has = (messageId: string, from: number, to: number) =>
      memory.hasCustomerMessage({ conversationKey: key, messageId, from, to });
    expect(await has('m2', now - 120_000, now)).toBe(true);
    expect(await has('paused-1', now - 30_000, now - 30_000)).toBe(true);
    expect(await has('m3', now - 120_000, now)).toBe(false);
    // The turn item is keyed by its first message's receive time: outside the range, not found.
    expect(await has('m2', now - 59_999, now)).toBe(false);
    expect(await has('paused-1', now - 120_000, now - 30_001)).toBe(false);
    expect(await has('m1', now - 60_000, now - 60_000)).toBe(true);
    // Another conversation's history is never read.
    expect(
      await memory.hasCustomerMessage({ conversationKey: `${key}x`, messageId: 'm1', from: 0, to: now }),
    ).toBe(false);
  });

  it('looks a message up a page at a time, oldest first, and stops at the page that holds it', async () => {
    const queries: number[] = [];
    const counting = {
      send: async (command: QueryCommand) => {
        if (command instanceof QueryCommand) queries.push(command.input.Limit ?? 0);
        return doc.send(command);
      },
    } as unknown as DynamoDBDocumentClient;
    const memory = new DynamoMemoryStore(doc, emu.tables.memory);
    const key = 'acme#zalo#oa:paging';
    // 45 turns, one a minute, each with its customer message `c<i>`.
    for (let i = 0; i < 45; i += 1) {
      const at = now + i * 60_000;
      await putAnsweredTurn(memory, key, {
        turnId: `t${i}`,
        at,
        messages: [
          { messageId: `c${i}`, kind: 'text', receivedAt: at, timestamp: at, text: `question ${i}` },
        ],
        answeredAt: at + 1000,
        reply: `answer ${i}`,
        now: at,
      });
    }
    const lookup = new DynamoMemoryStore(counting, emu.tables.memory);
    const to = now + 60 * 60_000;
    expect(await lookup.hasCustomerMessage({ conversationKey: key, messageId: 'c3', from: now, to })).toBe(
      true,
    );
    expect(queries).toEqual([LOOKUP_PAGE_ITEMS]);
    queries.length = 0;
    expect(await lookup.hasCustomerMessage({ conversationKey: key, messageId: 'c44', from: now, to })).toBe(
      true,
    );
    expect(queries).toHaveLength(3);
    queries.length = 0;
    // A late message (no original): the whole range is read, then it is not found.
    expect(await lookup.hasCustomerMessage({ conversationKey: key, messageId: 'late', from: now, to })).toBe(
      false,
    );
    expect(queries).toHaveLength(3);
  });

  it('reads the profile however many facts the customer has, and a turn item as its history entries', async () => {
    const memory = new DynamoMemoryStore(doc, emu.tables.memory);
    // 250 facts: `fact#…` sorts before `profile`, which an ascending query of 201 items lost.
    for (let i = 0; i < 250; i += 25) {
      await memory.putMemory({
        tenantId: 'acme',
        channel: 'zalo',
        customerId: 'u-many',
        conversationKey: 'acme#zalo#oa:u-many',
        ...(i === 0 ? { profile: { id: 'u-many', name: 'Lan' } } : {}),
        facts: Object.fromEntries(
          Array.from({ length: 25 }, (_, k) => [`f${String(i + k).padStart(3, '0')}`, 'v']),
        ),
        now,
      });
    }
    await memory.putTurn({
      conversationKey: 'acme#zalo#oa:u-many',
      sk: historySk(now - 1000, 'tturn'),
      item: {
        turnId: 'tturn',
        at: now - 1000,
        messages: [
          { messageId: 'm1', kind: 'text', receivedAt: now - 1000, timestamp: now - 1000, text: 'first' },
          { messageId: 'm2', kind: 'text', receivedAt: now - 900, timestamp: now - 900, text: 'second' },
        ],
        reply: { at: now - 500, parts: [{ text: 'answer' }] },
        flushedAt: now - 500,
        flushReason: 'quiet',
        gates: [],
        outcome: 'ok',
        expiresAt: nowS + 60,
      },
      tenantId: 'acme',
      channel: 'zalo',
      customerId: 'u-many',
      now,
    });
    const loaded = await memory.load({
      conversationKey: 'acme#zalo#oa:u-many',
      tenantId: 'acme',
      channel: 'zalo',
      customerId: 'u-many',
      historyLimit: 5,
      now,
    });
    expect(loaded.profile).toEqual({ id: 'u-many', name: 'Lan' });
    expect(loaded.profileExpiresAt).toBeGreaterThan(nowS + 300 * 86_400);
    expect(Object.keys(loaded.facts)).toHaveLength(200);
    expect(loaded.history.map((h) => [h.role, h.text])).toEqual([
      ['customer', 'first'],
      ['customer', 'second'],
      ['bot', 'answer'],
    ]);
  });

  it('recognises our own sends until their record expires', async () => {
    const memory = new DynamoMemoryStore(doc, emu.tables.memory);
    await doc.send(
      new PutCommand({
        TableName: emu.tables.memory,
        Item: { pk: sentPk('acme', 'zalo', 'mid-1'), sk: SENT_SK, expiresAt: nowS + 60 },
      }),
    );
    expect(await memory.isOurSend('acme', 'zalo', 'mid-1', now)).toBe(true);
    expect(await memory.isOurSend('acme', 'zalo', 'mid-1', now + 120_000)).toBe(false);
    expect(await memory.isOurSend('acme', 'zalo', 'mid-2', now)).toBe(false);
  });

  it('refuses what the store guards against when written raw: dynalite enforces the 400 KB and number limits', async () => {
    // The control for the tests below: without the store's bounds these writes fail for good.
    const pk = conversationPk('raw#zalo#control');
    await expect(
      doc.send(new PutCommand({ TableName: emu.tables.memory, Item: { pk, sk: 'n', at: 1e308 } })),
    ).rejects.toThrow();
    await expect(
      doc.send(
        new PutCommand({ TableName: emu.tables.memory, Item: { pk, sk: 'big', text: 'x'.repeat(410_000) } }),
      ),
    ).rejects.toThrow();
  });

  it('writes a state holding 1e308, NaN and a 500 KB text: the numbers are dropped and the turn shrunk, never refused', async () => {
    const store = new DynamoStateStore(doc, emu.tables.memory);
    const bigRef = { ...ref, conversationId: 'oa:big', conversationKey: 'acme#zalo#oa:big' };
    const fresh = await store.load(bigRef);
    const saved = await store.save({
      ...fresh,
      customerLastMessageAt: 1e308,
      pausedUntil: Number.NaN,
      lastBotReply: 'y'.repeat(500_000),
      turn: {
        turnId: 't1',
        version: 1,
        status: 'open',
        firstReceivedAt: now,
        openedAt: now,
        lastMessageAt: now,
        pendingMedia: [],
        messages: [
          {
            messageId: 'm1',
            kind: 'text',
            text: 'ệ'.repeat(500_000),
            timestamp: now,
            receivedAt: now,
            attachments: [{ kind: 'location', latitude: 1e308 }],
            surface: 'inbox',
          },
        ],
      },
    });
    expect(saved.rev).toBe(1);
    const loaded = await store.load(bigRef);
    expect(loaded.customerLastMessageAt).toBeUndefined();
    expect(loaded.pausedUntil).toBeUndefined();
    expect(loaded.lastBotReply).toBeUndefined();
    expect(loaded.turn?.messages[0]?.text?.endsWith(STORED_TEXT_MARKER)).toBe(true);
    expect(loaded.turn?.messages[0]?.attachments).toEqual([]);
  });

  it('leaves a 10 000-character conversation id out of the item and restores it from the event on load', async () => {
    const store = new DynamoStateStore(doc, emu.tables.memory);
    const conversationId = `oa:${'u'.repeat(10_000)}`;
    const longRef = { ...ref, conversationId, conversationKey: `acme#zalo#${conversationId}` };
    const saved = await store.save({ ...(await store.load(longRef)), turnCount: 3 });
    expect(saved.rev).toBe(1);
    const raw = await doc.send(
      new GetCommand({
        TableName: emu.tables.memory,
        Key: { pk: conversationPk(longRef.conversationKey), sk: STATE_SK },
      }),
    );
    expect(raw.Item?.conversationId).toBeUndefined();
    expect(await store.load(longRef)).toMatchObject({ rev: 1, turnCount: 3, conversationId });
  });

  it('bounds history texts, summaries and facts, and drops unstorable numbers from them', async () => {
    const memory = new DynamoMemoryStore(doc, emu.tables.memory);
    const key = 'acme#zalo#oa:hist-bounds';
    await memory.putHistory([
      {
        conversationKey: key,
        sk: historySk(now, 'm1'),
        role: 'customer',
        text: 'z'.repeat(600_000),
        at: 1e308,
        messageId: 'm1',
        expiresAt: nowS + 60,
      },
    ]);
    await memory.putMemory({
      tenantId: 'acme',
      channel: 'zalo',
      customerId: 'u-facts',
      conversationKey: key,
      facts: Object.fromEntries([
        ...Array.from({ length: 80 }, (_, i) => [`f${String(i).padStart(2, '0')}`, 'v'.repeat(5000)]),
        ['n'.repeat(500), 'dropped'],
      ]),
      summary: { at: now, text: 's'.repeat(600_000), expiresAt: nowS + 60 },
      now,
    });
    const loaded = await memory.load({
      conversationKey: key,
      tenantId: 'acme',
      channel: 'zalo',
      customerId: 'u-facts',
      historyLimit: 5,
      now,
    });
    expect(loaded.history).toHaveLength(1);
    expect(Buffer.byteLength(loaded.history[0]?.text ?? '')).toBeLessThanOrEqual(BOUNDS.historyText);
    expect(loaded.history[0]?.at).toBe(0);
    expect(Buffer.byteLength(loaded.summaries[0] ?? '')).toBeLessThanOrEqual(BOUNDS.summary);
    expect(Object.keys(loaded.facts)).toHaveLength(BOUNDS.facts);
    expect(Object.values(loaded.facts).every((v) => Buffer.byteLength(v) <= BOUNDS.factValue)).toBe(true);
    const facts = await doc.send(
      new QueryCommand({
        TableName: emu.tables.memory,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': customerPk('acme', 'zalo', 'u-facts') },
      }),
    );
    expect(facts.Items?.some((i) => String(i.name).startsWith('nnn'))).toBe(false);
  });
});
