/**
 * DynamoDB adapters of the memory table (DESIGN §2): the conversation state item (the actor
 * is its only writer, every write conditional on `rev`), history (layer 2, TTL), episode
 * summaries (layer 3), the customer's profile (layer 1) and durable facts (layer 4), and the
 * sent-ids records the echo filter reads. Items past their `expiresAt` that DynamoDB has not
 * deleted yet are filtered out on every read.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { DEFAULTS } from '../contracts/defaults.js';
import {
  BOUNDS,
  boundText,
  epochMs,
  estimateBytes,
  keptOrDropped,
  withStorableNumbers,
} from '../conversation/bounds.js';
import type {
  ConversationRef,
  HistoryItem,
  LoadedMemory,
  MemoryStore,
  StateStore,
} from '../conversation/ports.js';
import { StateConflictError } from '../conversation/ports.js';
import {
  type ConversationState,
  emptyState,
  fitState,
  restoreState,
  stateItem,
} from '../conversation/turn.js';
import { DependencyError } from '../shared/errors.js';
import {
  conversationPk,
  customerPk,
  FACT_PREFIX,
  factSk,
  HISTORY_PREFIX,
  historySk,
  PROFILE_SK,
  SENT_SK,
  STATE_SK,
  SUMMARY_PREFIX,
  sentPk,
  summarySk,
  takeoverSk,
} from '../shared/keys.js';
import type { ChannelName } from '../shared/model.js';
import { logger } from '../shared/powertools.js';
import { historyEntries, type TurnItem } from './turn-item.js';

/** How many episode summaries a flush loads. */
export const SUMMARY_LIMIT = 5;
/** History items per page of a duplicate look-up ({@link DynamoMemoryStore.hasCustomerMessage}). */
export const LOOKUP_PAGE_ITEMS = 20;
/** How many facts a flush loads at most. */
export const FACT_LIMIT = 200;
/**
 * Retention of a customer's profile and facts after their last write (the table's TTL): a year.
 * The profile is rewritten before it lapses while the customer keeps talking.
 */
export const CUSTOMER_RETENTION_DAYS = 365;

const isConditionFailure = (err: unknown): boolean =>
  err instanceof ConditionalCheckFailedException ||
  (err instanceof Error && err.name === 'ConditionalCheckFailedException');

function wrap(what: string, err: unknown): never {
  if (err instanceof StateConflictError || err instanceof DependencyError) throw err;
  throw new DependencyError(`Memory table: could not ${what}.`, { cause: err });
}

const alive = (item: Record<string, unknown>, nowSeconds: number): boolean =>
  typeof item.expiresAt !== 'number' || item.expiresAt > nowSeconds;

/** The conversation state item in DynamoDB. */
export class DynamoStateStore implements StateStore {
  /**
   * @param ttlDays the state item expires this long after its last write (or after its pause
   *   ends): a conversation silent for longer starts afresh. Default: the history TTL.
   */
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly ttlDays: number = DEFAULTS.historyTtlDays,
  ) {}

  async load(ref: ConversationRef): Promise<ConversationState> {
    let item: Record<string, unknown> | undefined;
    try {
      const result = await this.client.send(
        new GetCommand({
          TableName: this.table,
          Key: { pk: conversationPk(ref.conversationKey), sk: STATE_SK },
          ConsistentRead: true,
        }),
      );
      item = result.Item;
    } catch (err) {
      wrap('read the conversation state', err);
    }
    if (!item) return emptyState(ref);
    const { pk: _pk, sk: _sk, expiresAt: _ttl, ...rest } = item;
    return restoreState({ ...emptyState(ref), ...(rest as Partial<ConversationState>) } as ConversationState);
  }

  /**
   * The boundary checks run first: numbers DynamoDB cannot store are dropped, the size is
   * estimated and, past {@link BOUNDS.stateItem}, the turn's texts are shrunk (`fitState`), and
   * reference ids too long to be worth storing are left out of the item (`load` restores them
   * from the event), so the write can always succeed.
   */
  async save(state: ConversationState): Promise<ConversationState> {
    const dropped: string[] = [];
    const fitted = fitState(withStorableNumbers({ ...state, rev: state.rev + 1 }, dropped));
    const next = fitted.state;
    if (dropped.length > 0 || fitted.shrunk) {
      logger.warn('Conversation state bounded before its write', {
        conversation: state.conversationKey.slice(0, 256),
        droppedNumbers: dropped.slice(0, 10),
        shrunk: fitted.shrunk,
        bytes: estimateBytes(stateItem(next)),
      });
    }
    const item = stateItem(next);
    const last = Math.max(epochMs(next.updatedAt, 0), epochMs(next.pausedUntil, 0));
    const expiresAt = Math.floor((last || Date.now()) / 1000) + this.ttlDays * 86_400;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...item, pk: conversationPk(state.conversationKey), sk: STATE_SK, expiresAt },
          ...(state.rev === 0
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: '#rev = :rev',
                ExpressionAttributeNames: { '#rev': 'rev' },
                ExpressionAttributeValues: { ':rev': state.rev },
              }),
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) {
        throw new StateConflictError(
          `The state of conversation ${state.conversationKey} moved past revision ${state.rev}.`,
          { cause: err },
        );
      }
      wrap('write the conversation state', err);
    }
    return next;
  }
}

/** Memory layers 1–4 and sent ids in DynamoDB. */
export class DynamoMemoryStore implements MemoryStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async load(input: Parameters<MemoryStore['load']>[0]): Promise<LoadedMemory> {
    const nowSeconds = Math.floor(input.now / 1000);
    const pk = conversationPk(input.conversationKey);
    try {
      const [customer, history, summaries] = await Promise.all([
        input.customerId === undefined
          ? Promise.resolve([] as Record<string, unknown>[])
          : // Newest sort key first: `profile` sorts after every `fact#…`, so it is always read,
            // however many facts there are.
            this.query(
              customerPk(input.tenantId, input.channel, input.customerId),
              undefined,
              FACT_LIMIT + 1,
              false,
            ),
        input.historyLimit > 0
          ? this.recentHistory(pk, input.historyLimit, nowSeconds)
          : Promise.resolve([] as Record<string, unknown>[]),
        input.summaries === false
          ? Promise.resolve([] as Record<string, unknown>[])
          : this.query(pk, SUMMARY_PREFIX, SUMMARY_LIMIT * 2, false),
      ]);
      const profileItem = customer.find((i) => i.sk === PROFILE_SK && alive(i, nowSeconds));
      const facts: Record<string, string> = {};
      for (const item of customer) {
        if (typeof item.sk === 'string' && item.sk.startsWith(FACT_PREFIX) && alive(item, nowSeconds)) {
          facts[String(item.name ?? item.sk.slice(FACT_PREFIX.length))] = String(item.value ?? '');
        }
      }
      const entries = history.reverse().flatMap((i) => historyEntries(i));
      return {
        profile: {
          ...(typeof profileItem?.id === 'string' ? { id: profileItem.id } : {}),
          ...(typeof profileItem?.name === 'string' ? { name: profileItem.name } : {}),
          ...(typeof profileItem?.phone === 'string' ? { phone: profileItem.phone } : {}),
        },
        ...(typeof profileItem?.expiresAt === 'number' ? { profileExpiresAt: profileItem.expiresAt } : {}),
        facts,
        history: entries.slice(Math.max(0, entries.length - input.historyLimit)),
        summaries: summaries
          .filter((i) => alive(i, nowSeconds))
          .slice(0, SUMMARY_LIMIT)
          .reverse()
          .map((i) => String(i.text ?? '')),
      };
    } catch (err) {
      wrap('load memory', err);
    }
  }

  async putHistory(items: readonly HistoryItem[]): Promise<void> {
    await this.batchPut(items.map(historyRecord));
  }

  /**
   * The newest history items, newest first, enough for `limit` entries: one page of `limit` items
   * (a turn item holds at least one entry, usually two or more), and a further page only when
   * expired items not yet deleted by DynamoDB's TTL left it short.
   */
  private async recentHistory(
    pk: string,
    limit: number,
    nowSeconds: number,
  ): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let entries = 0;
    let start: Record<string, unknown> | undefined;
    for (let page = 0; page < 3; page += 1) {
      const result = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ':prefix': HISTORY_PREFIX },
          ScanIndexForward: false,
          Limit: limit,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of (result.Items ?? []) as Record<string, unknown>[]) {
        if (!alive(item, nowSeconds)) continue;
        out.push(item);
        entries += historyEntries(item).length;
      }
      start = result.LastEvaluatedKey as Record<string, unknown> | undefined;
      if (!start || entries >= limit) break;
    }
    return out;
  }

  /** Writes profile (layer 1), facts (layer 4) and an episode summary (layer 3) without a turn. */
  async putMemory(input: Omit<Parameters<MemoryStore['putTurn']>[0], 'sk' | 'item'>): Promise<void> {
    await this.batchPut(this.memoryItems(input));
  }

  async putTurn(input: Parameters<MemoryStore['putTurn']>[0]): Promise<void> {
    const { conversationKey, sk, item, ...memory } = input;
    await this.batchPut([
      { ...item, pk: conversationPk(conversationKey), sk },
      ...this.memoryItems({ ...memory, conversationKey }),
    ]);
  }

  async hasCustomerMessage(input: Parameters<MemoryStore['hasCustomerMessage']>[0]): Promise<boolean> {
    const from = epochMs(input.from, 0);
    const to = Math.max(from, epochMs(input.to, 0));
    let start: Record<string, unknown> | undefined;
    try {
      do {
        const result = await this.client.send(
          new QueryCommand({
            TableName: this.table,
            // `hist#<ms>#` sorts before every key of its millisecond, `hist#<ms + 1>#` after them.
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
            ExpressionAttributeValues: {
              ':pk': conversationPk(input.conversationKey),
              ':from': historySk(from, ''),
              ':to': historySk(to + 1, ''),
            },
            ProjectionExpression: '#messages, #messageId',
            ExpressionAttributeNames: { '#messages': 'messages', '#messageId': 'messageId' },
            // Pages, not one read of the whole range: the original is usually among the first
            // items (received seconds after it was sent), and a query pays for what it reads.
            Limit: LOOKUP_PAGE_ITEMS,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        for (const item of (result.Items ?? []) as Record<string, unknown>[]) {
          if (holdsCustomerMessage(item, input.messageId)) return true;
        }
        start = result.LastEvaluatedKey as Record<string, unknown> | undefined;
      } while (start);
    } catch (err) {
      wrap('look a message up in the history', err);
    }
    return false;
  }

  async getTurn(conversationKey: string, sk: string): Promise<TurnItem | undefined> {
    try {
      const result = await this.client.send(
        new GetCommand({
          TableName: this.table,
          Key: { pk: conversationPk(conversationKey), sk },
          // Read right after the flush that wrote it, on a retry: the latest.
          ConsistentRead: true,
        }),
      );
      return result.Item as TurnItem | undefined;
    } catch (err) {
      wrap('read a turn', err);
    }
  }

  async putTakeover(input: Parameters<MemoryStore['putTakeover']>[0]): Promise<void> {
    await this.batchPut([
      {
        pk: conversationPk(input.conversationKey),
        sk: takeoverSk(input.at, input.by),
        kind: input.kind,
        by: input.by,
        at: epochMs(input.at, 0),
        expiresAt: input.expiresAt,
      },
    ]);
  }

  private memoryItems(
    input: Omit<Parameters<MemoryStore['putTurn']>[0], 'sk' | 'item'>,
  ): Record<string, unknown>[] {
    const items: Record<string, unknown>[] = [];
    const now = epochMs(input.now, 0);
    const expiresAt = Math.floor(now / 1000) + CUSTOMER_RETENTION_DAYS * 86_400;
    if (input.customerId !== undefined) {
      const pk = customerPk(input.tenantId, input.channel, input.customerId);
      if (input.profile) {
        items.push({ ...boundProfile(input.profile), pk, sk: PROFILE_SK, updatedAt: now, expiresAt });
      }
      // At most BOUNDS.facts per turn; a name too long to be a fact's is dropped, a value cut.
      const facts = Object.entries(input.facts ?? {})
        .filter(([name]) => keptOrDropped(name, BOUNDS.factName) !== undefined)
        .slice(0, BOUNDS.facts);
      for (const [name, value] of facts) {
        items.push({
          pk,
          sk: factSk(name),
          name,
          value: boundText(String(value), BOUNDS.factValue),
          updatedAt: now,
          expiresAt,
        });
      }
    }
    if (input.summary) {
      const at = epochMs(input.summary.at, now);
      items.push({
        pk: conversationPk(input.conversationKey),
        sk: summarySk(at),
        text: boundText(input.summary.text, BOUNDS.summary),
        at,
        expiresAt: input.summary.expiresAt,
      });
    }
    return items;
  }

  async isOurSend(
    tenantId: string,
    channel: ChannelName,
    platformMessageId: string,
    now: number,
  ): Promise<boolean> {
    try {
      const result = await this.client.send(
        new GetCommand({
          TableName: this.table,
          Key: { pk: sentPk(tenantId, channel, platformMessageId), sk: SENT_SK },
          // The echo of our send can arrive right after delivery recorded it: read the latest.
          ConsistentRead: true,
        }),
      );
      return result.Item !== undefined && alive(result.Item, Math.floor(now / 1000));
    } catch (err) {
      wrap('read the sent ids', err);
    }
  }

  private async query(
    pk: string,
    prefix: string | undefined,
    limit: number,
    forward: boolean,
  ): Promise<Record<string, unknown>[]> {
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: prefix === undefined ? 'pk = :pk' : 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ...(prefix === undefined ? {} : { ':prefix': prefix }) },
        ScanIndexForward: forward,
        Limit: limit,
      }),
    );
    return (result.Items ?? []) as Record<string, unknown>[];
  }

  private async batchPut(raw: readonly Record<string, unknown>[]): Promise<void> {
    const items = raw.map((item) => withStorableNumbers(item));
    for (let i = 0; i < items.length; i += 25) {
      let requests = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; requests.length > 0; attempt += 1) {
        if (attempt > 5) throw new DependencyError('Memory table: unprocessed writes after retries.');
        if (attempt > 0) await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
        try {
          const result = await this.client.send(
            new BatchWriteCommand({ RequestItems: { [this.table]: requests } }),
          );
          requests = (result.UnprocessedItems?.[this.table] ?? []) as typeof requests;
        } catch (err) {
          wrap('write memory items', err);
        }
      }
    }
  }
}

/** True when a history item is, or holds, the customer message `messageId` (stored form). */
function holdsCustomerMessage(item: Record<string, unknown>, messageId: string): boolean {
  if (item.messageId === messageId) return true;
  const messages = item.messages;
  return (
    Array.isArray(messages) &&
    messages.some(
      (m) => typeof m === 'object' && m !== null && (m as { messageId?: unknown }).messageId === messageId,
    )
  );
}

/** A history entry as stored: its text within {@link BOUNDS.historyText}. */
function historyRecord(item: HistoryItem): Record<string, unknown> {
  const { conversationKey, ...rest } = item;
  return { ...rest, text: boundText(rest.text, BOUNDS.historyText), pk: conversationPk(conversationKey) };
}

/** The customer profile as stored: an id too long to keep is left out, name and phone bounded. */
function boundProfile(profile: { id: string; name?: string; phone?: string }): Record<string, string> {
  const id = keptOrDropped(profile.id, BOUNDS.customerId);
  const phone = keptOrDropped(profile.phone, BOUNDS.customerPhone);
  return {
    ...(id !== undefined ? { id } : {}),
    ...(profile.name !== undefined ? { name: boundText(profile.name, BOUNDS.customerName) } : {}),
    ...(phone !== undefined ? { phone } : {}),
  };
}
