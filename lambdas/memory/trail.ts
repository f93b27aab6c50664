/**
 * The audit trail reader and the operator's takeover controls (issue 14; used by the local
 * console and `npm run ops`). Everything is read from items the pipeline writes anyway
 * (`lambdas/memory/turn-item.ts`): no index, so the message hot path pays nothing for it.
 *
 * Costs (DynamoDB on-demand, eventually consistent reads):
 * - {@link listConversations}: one Scan of the memory table (every item is read and billed,
 *   0.5 read unit per 4 KB) filtered to the tenant's state items, then one one-item Query per
 *   conversation found for its last message. An operator tool, not a per-message path: a GSI
 *   would make every state write pay a second write unit.
 * - {@link readConversationTrail}: one Query of the conversation's partition (state, turns,
 *   delivery records, takeovers): 0.5 read unit per 4 KB of it.
 * - {@link pauseConversation} / {@link resumeConversation}: a strongly consistent state read and a
 *   conditional state write (retried on a concurrent write by the actor), plus one batch write of
 *   the takeover item (and the dropped open turn, on a pause).
 */
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import type {
  AuditDelivery,
  AuditTakeover,
  AuditTurn,
  ConversationSummary,
  ConversationTrail,
} from '../contracts/audit.js';
import { DEFAULTS } from '../contracts/defaults.js';
import { BOUNDS, boundText } from '../conversation/bounds.js';
import { StateConflictError } from '../conversation/ports.js';
import { type ConversationState, dropTurn, isPaused, openTurn } from '../conversation/turn.js';
import { DependencyError } from '../shared/errors.js';
import {
  ATTEMPTS_PREFIX,
  conversationKey,
  conversationPk,
  FAILURE_PREFIX,
  HISTORY_PREFIX,
  historySk,
  STATE_SK,
  TAKEOVER_PREFIX,
  takeoverSk,
} from '../shared/keys.js';
import { CHANNELS, type ChannelName } from '../shared/model.js';
import { DynamoStateStore } from './store.js';
import {
  type DeliveryRecordItem,
  EXPIRED_CODE,
  isTurnItem,
  storedTurnMessages,
  type TurnItem,
  toAuditDelivery,
  toAuditTakeover,
  toAuditTurn,
} from './turn-item.js';

/** What the trail functions need: the memory table and a clock. */
export interface TrailDeps {
  readonly client: DynamoDBDocumentClient;
  /** The memory table's name. */
  readonly table: string;
  readonly now?: () => number;
}

/** Identifies one conversation. */
export interface ConversationAddress {
  readonly tenantId: string;
  readonly channel: ChannelName;
  readonly conversationId: string;
}

const LAST_MESSAGE_CHARS = 200;
const LOOKUP_CONCURRENCY = 8;

/**
 * The tenant's conversations, newest activity first. `sinceMs` keeps only conversations active
 * at or after that time (epoch ms).
 */
export async function listConversations(
  deps: TrailDeps,
  input: { readonly tenantId: string; readonly sinceMs?: number },
): Promise<ConversationSummary[]> {
  const now = (deps.now ?? Date.now)();
  const states: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  try {
    do {
      const page = await deps.client.send(
        new ScanCommand({
          TableName: deps.table,
          FilterExpression: 'sk = :state AND tenantId = :tenant',
          ExpressionAttributeValues: { ':state': STATE_SK, ':tenant': input.tenantId },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      states.push(...((page.Items ?? []) as Record<string, unknown>[]));
      start = page.LastEvaluatedKey as Record<string, unknown> | undefined;
    } while (start);
  } catch (err) {
    throw new DependencyError('Memory table: could not list the conversations.', { cause: err });
  }
  const summaries: ConversationSummary[] = [];
  for (const item of states) {
    const channel = item.channel as ChannelName;
    if (typeof item.conversationId !== 'string' || !CHANNELS.includes(channel)) continue;
    const lastActivityAt = lastActivity(item);
    if (input.sinceMs !== undefined && lastActivityAt < input.sinceMs) continue;
    const pausedUntil = typeof item.pausedUntil === 'number' ? item.pausedUntil : undefined;
    summaries.push({
      tenantId: input.tenantId,
      channel,
      conversationId: item.conversationId,
      lastActivityAt,
      paused: pausedUntil !== undefined && pausedUntil > now,
      ...(pausedUntil !== undefined && pausedUntil > now ? { pausedUntil } : {}),
    });
  }
  summaries.sort((a, b) => b.lastActivityAt - a.lastActivityAt);
  // The last message of each: one small query per conversation, a few at a time.
  const out = [...summaries];
  for (let i = 0; i < out.length; i += LOOKUP_CONCURRENCY) {
    await Promise.all(
      out.slice(i, i + LOOKUP_CONCURRENCY).map(async (summary, j) => {
        const text = await lastMessageText(deps, summary);
        if (text !== undefined) out[i + j] = { ...summary, lastMessage: text };
      }),
    );
  }
  return out;
}

/** A conversation's trail (turns oldest first, with deliveries and takeovers); undefined when unknown. */
export async function readConversationTrail(
  deps: TrailDeps,
  input: ConversationAddress,
): Promise<ConversationTrail | undefined> {
  const now = (deps.now ?? Date.now)();
  const items = await queryPartition(
    deps,
    conversationPk(conversationKey(input.tenantId, input.channel, input.conversationId)),
  );
  const state = items.find((i) => i.sk === STATE_SK);
  const history = items.filter((i) => typeof i.sk === 'string' && i.sk.startsWith(HISTORY_PREFIX));
  if (!state && history.length === 0) return undefined;
  const records = new Map<string, DeliveryRecordItem>();
  for (const item of items) {
    if (typeof item.sk === 'string' && item.sk.startsWith(ATTEMPTS_PREFIX)) {
      // Records of earlier versions hold no `replyId`: their key does.
      const id = typeof item.replyId === 'string' ? item.replyId : item.sk.slice(ATTEMPTS_PREFIX.length);
      records.set(id, item as DeliveryRecordItem);
    }
  }
  // Older layouts: a permanent failure only in its failure record.
  for (const item of items) {
    if (
      typeof item.sk !== 'string' ||
      !item.sk.startsWith(FAILURE_PREFIX) ||
      typeof item.replyId !== 'string'
    ) {
      continue;
    }
    const record = records.get(item.replyId);
    if (record?.outcome === undefined) {
      records.set(item.replyId, {
        ...record,
        outcome: item.code === EXPIRED_CODE ? 'expired' : 'failed',
        code: String(item.code ?? ''),
        at: Number(item.at ?? 0),
      });
    }
  }

  const turns: AuditTurn[] = [];
  const takeovers: AuditTakeover[] = [];
  // Older layouts kept one history item per message: grouped back into turns here.
  let loose: Record<string, unknown>[] = [];
  const legacy = new Map<string, { messages: Record<string, unknown>[]; bots: Record<string, unknown>[] }>();
  const flushLoose = () => {
    if (loose.length === 0) return;
    turns.push(
      legacyTurn(`unanswered:${String(loose[0]?.messageId ?? loose[0]?.sk)}`, loose, [], records, 'paused'),
    );
    loose = [];
  };
  for (const item of history) {
    if (isTurnItem(item)) {
      flushLoose();
      turns.push(toAuditTurn(item, records));
    } else if (item.role === 'customer') {
      loose.push(item);
    } else if (item.role === 'bot' && typeof item.replyId === 'string') {
      const turnId = item.replyId.slice(0, item.replyId.lastIndexOf(':'));
      let group = legacy.get(turnId);
      if (!group) {
        group = { messages: loose, bots: [] };
        legacy.set(turnId, group);
        loose = [];
        turns.push({ turnId } as AuditTurn); // placeholder, replaced below in order
      }
      group.bots.push(item);
    } else if (item.role === 'human') {
      flushLoose();
      takeovers.push({ kind: 'start', at: Number(item.at ?? 0), by: 'human' });
    }
  }
  flushLoose();
  for (const [i, turn] of turns.entries()) {
    const group = legacy.get(turn.turnId);
    if (group && (turn as Partial<AuditTurn>).messages === undefined) {
      turns[i] = legacyTurn(turn.turnId, group.messages, group.bots, records, 'answered');
    }
  }
  for (const item of items) {
    if (typeof item.sk === 'string' && item.sk.startsWith(TAKEOVER_PREFIX)) {
      const takeover = toAuditTakeover(item);
      // A human takeover is also a history entry (older layouts had only that): keep one.
      if (!takeovers.some((t) => t.kind === takeover.kind && t.at === takeover.at)) takeovers.push(takeover);
    }
  }
  takeovers.sort((a, b) => a.at - b.at);
  // In the order they were closed (answered, failed, dropped): turns with equal first-message
  // times would otherwise follow their ids.
  turns.sort((a, b) => a.flushedAt - b.flushedAt);
  const pausedUntil = typeof state?.pausedUntil === 'number' ? state.pausedUntil : undefined;
  const lastTakeover = takeovers[takeovers.length - 1];
  if (lastTakeover?.kind === 'start' && pausedUntil !== undefined && pausedUntil <= now) {
    takeovers.push({ kind: 'end', at: pausedUntil, by: 'expired' });
  }
  const lastHistory = history[history.length - 1];
  return {
    tenantId: input.tenantId,
    channel: input.channel,
    conversationId: input.conversationId,
    lastActivityAt: state ? lastActivity(state) : Number(lastHistory?.at ?? 0),
    ...(lastHistory ? lastText(lastHistory) : {}),
    paused: pausedUntil !== undefined && pausedUntil > now,
    ...(pausedUntil !== undefined && pausedUntil > now ? { pausedUntil } : {}),
    turns,
    takeovers,
  };
}

/**
 * An operator takes the conversation over: the bot stays silent for `minutes` (default
 * {@link DEFAULTS.humanTakeoverMinutes}) as after a human reply, and its open turn is closed
 * unanswered (kept in history). Recorded as a takeover `by: 'operator'`.
 */
export async function pauseConversation(
  deps: TrailDeps,
  input: ConversationAddress & { readonly minutes?: number; readonly historyTtlDays?: number },
): Promise<{ readonly pausedUntil: number }> {
  const now = (deps.now ?? Date.now)();
  const minutes = input.minutes ?? DEFAULTS.humanTakeoverMinutes;
  const expiresAt = Math.floor(now / 1000) + (input.historyTtlDays ?? DEFAULTS.historyTtlDays) * 86_400;
  const pk = conversationPk(conversationKey(input.tenantId, input.channel, input.conversationId));
  const pausedUntil = now + minutes * 60_000;
  await updateState(deps, input, async (state) => {
    const dropped = openTurn(state);
    const items: Record<string, unknown>[] = [
      {
        pk,
        sk: takeoverSk(now, 'operator'),
        kind: 'start',
        by: 'operator',
        at: now,
        until: pausedUntil,
        expiresAt,
      },
    ];
    if (dropped) {
      const turn: TurnItem = {
        turnId: dropped.turnId,
        at: dropped.firstReceivedAt,
        messages: storedTurnMessages(dropped.messages, (t) => boundText(t, BOUNDS.historyText)),
        flushedAt: now,
        flushReason: 'quiet',
        gates: [],
        outcome: 'paused',
        expiresAt,
      };
      items.push({ pk, sk: historySk(dropped.firstReceivedAt, dropped.turnId), ...turn });
    }
    await batchPut(deps, items);
    return {
      ...dropTurn(state, now),
      pausedUntil: Math.max(state.pausedUntil ?? 0, pausedUntil),
      updatedAt: now,
    };
  });
  return { pausedUntil };
}

/** The operator hands the conversation back: the bot answers the next message. Recorded `by: 'operator'`. */
export async function resumeConversation(
  deps: TrailDeps,
  input: ConversationAddress & { readonly historyTtlDays?: number },
): Promise<{ readonly wasPaused: boolean }> {
  const now = (deps.now ?? Date.now)();
  const expiresAt = Math.floor(now / 1000) + (input.historyTtlDays ?? DEFAULTS.historyTtlDays) * 86_400;
  const pk = conversationPk(conversationKey(input.tenantId, input.channel, input.conversationId));
  let wasPaused = false;
  await updateState(deps, input, async (state) => {
    wasPaused = isPaused(state, now);
    if (!wasPaused) return undefined;
    await batchPut(deps, [
      { pk, sk: takeoverSk(now, 'operator'), kind: 'end', by: 'operator', at: now, expiresAt },
    ]);
    return { ...state, pausedUntil: now, updatedAt: now };
  });
  return { wasPaused };
}

/** Read-modify-write of the state item, retried when the actor wrote it in between. */
async function updateState(
  deps: TrailDeps,
  input: ConversationAddress,
  change: (state: ConversationState) => Promise<ConversationState | undefined>,
): Promise<void> {
  const store = new DynamoStateStore(deps.client, deps.table);
  const ref = {
    ...input,
    conversationKey: conversationKey(input.tenantId, input.channel, input.conversationId),
  };
  for (let attempt = 0; ; attempt += 1) {
    const state = await store.load(ref);
    const next = await change(state);
    if (!next) return;
    try {
      await store.save(next);
      return;
    } catch (err) {
      if (!(err instanceof StateConflictError) || attempt >= 4) throw err;
    }
  }
}

async function queryPartition(deps: TrailDeps, pk: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  try {
    do {
      const page = await deps.client.send(
        new QueryCommand({
          TableName: deps.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      out.push(...((page.Items ?? []) as Record<string, unknown>[]));
      start = page.LastEvaluatedKey as Record<string, unknown> | undefined;
    } while (start);
  } catch (err) {
    throw new DependencyError('Memory table: could not read the conversation.', { cause: err });
  }
  return out;
}

async function lastMessageText(deps: TrailDeps, summary: ConversationSummary): Promise<string | undefined> {
  try {
    const page = await deps.client.send(
      new QueryCommand({
        TableName: deps.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: {
          ':pk': conversationPk(conversationKey(summary.tenantId, summary.channel, summary.conversationId)),
          ':prefix': HISTORY_PREFIX,
        },
        ScanIndexForward: false,
        Limit: 1,
      }),
    );
    const item = page.Items?.[0] as Record<string, unknown> | undefined;
    return item ? lastText(item).lastMessage : undefined;
  } catch (err) {
    throw new DependencyError('Memory table: could not read a conversation.', { cause: err });
  }
}

/** The last text of a history item: the reply's last part, else the last customer message. */
function lastText(item: Record<string, unknown>): { lastMessage?: string } {
  let text: string | undefined;
  if (isTurnItem(item)) {
    const turn = item as unknown as TurnItem;
    const parts = turn.reply?.parts ?? [];
    const last = parts[parts.length - 1];
    text = last?.text ?? last?.imageUrl ?? turn.messages[turn.messages.length - 1]?.text;
  } else if (typeof item.text === 'string') {
    text = item.text;
  }
  return text !== undefined && text !== ''
    ? { lastMessage: [...text].slice(0, LAST_MESSAGE_CHARS).join('') }
    : {};
}

function lastActivity(state: Record<string, unknown>): number {
  const updated = typeof state.updatedAt === 'number' ? state.updatedAt : 0;
  const customer = typeof state.customerLastMessageAt === 'number' ? state.customerLastMessageAt : 0;
  return Math.max(updated, customer);
}

/** A turn of the older one-item-per-message layout. */
function legacyTurn(
  turnId: string,
  messages: readonly Record<string, unknown>[],
  bots: readonly Record<string, unknown>[],
  records: ReadonlyMap<string, DeliveryRecordItem>,
  outcome: string,
): AuditTurn {
  const at = Number(bots[0]?.at ?? messages[messages.length - 1]?.at ?? 0);
  return {
    turnId,
    messages: messages.map((m) => ({
      messageId: String(m.messageId ?? ''),
      kind: 'text',
      receivedAt: Number(m.at ?? 0),
      timestamp: Number(m.at ?? 0),
    })),
    flushedAt: at,
    flushReason: 'quiet',
    gates: [],
    outcome,
    deliveries: bots.map((b, i): AuditDelivery => {
      const id = String(b.replyId);
      const part = Number(id.slice(id.lastIndexOf(':') + 1)) || i;
      const record = records.get(id);
      if (record) return toAuditDelivery(id, part, record, at);
      const status = String(b.status ?? 'pending');
      return toAuditDelivery(
        id,
        part,
        status === 'delivered'
          ? {
              outcome: 'sent',
              ...(typeof b.platformMessageId === 'string' ? { platformMessageId: b.platformMessageId } : {}),
              at: Number(b.deliveredAt ?? at),
            }
          : status === 'failed' || status === 'expired'
            ? { outcome: status, code: String(b.failureCode ?? ''), at: Number(b.failedAt ?? at) }
            : undefined,
        at,
      );
    }),
  };
}

async function batchPut(deps: TrailDeps, items: readonly Record<string, unknown>[]): Promise<void> {
  let requests = items.map((Item) => ({ PutRequest: { Item } }));
  for (let attempt = 0; requests.length > 0; attempt += 1) {
    if (attempt > 5) throw new DependencyError('Memory table: unprocessed writes after retries.');
    if (attempt > 0) await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
    try {
      const result = await deps.client.send(
        new BatchWriteCommand({ RequestItems: { [deps.table]: requests } }),
      );
      requests = (result.UnprocessedItems?.[deps.table] ?? []) as typeof requests;
    } catch (err) {
      throw new DependencyError('Memory table: could not write the takeover.', { cause: err });
    }
  }
}
