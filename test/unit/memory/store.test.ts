import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../../bin/local/emulators.js';
import { StateConflictError } from '../../../lambdas/conversation/ports.js';
import { DynamoMemoryStore, DynamoStateStore } from '../../../lambdas/memory/store.js';
import {
  conversationPk,
  customerPk,
  historySk,
  SENT_SK,
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
  });

  it('never overwrites a history entry that delivery already marked', async () => {
    const memory = new DynamoMemoryStore(doc, emu.tables.memory);
    const entry = {
      conversationKey: 'acme#zalo#oa:u2',
      sk: historySk(now, 'tx:0'),
      role: 'bot' as const,
      text: 'hello',
      at: now,
      replyId: 'tx:0',
      status: 'pending' as const,
      expiresAt: nowS + 60,
    };
    await memory.putHistoryIfAbsent(entry);
    await doc.send(
      new PutCommand({
        TableName: emu.tables.memory,
        Item: {
          ...entry,
          conversationKey: undefined,
          pk: conversationPk(entry.conversationKey),
          status: 'delivered',
        },
      }),
    );
    await memory.putHistoryIfAbsent(entry);
    const loaded = await memory.load({
      ...ref,
      conversationKey: entry.conversationKey,
      customerId: undefined,
      historyLimit: 5,
      now,
    });
    expect(loaded.history).toEqual([{ role: 'bot', text: 'hello', at: now }]);
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
});
