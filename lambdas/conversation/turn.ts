/**
 * The conversation state and its open turn: plain data and pure transitions. The actor is the
 * only writer of this record (one item per conversation in the memory table, `sk = state`),
 * and every write is conditional on `rev`, so a stale writer can never clobber a newer state.
 */
import { historySk, sha256Hex } from '../shared/keys.js';
import type { Attachment, ChannelName, Customer, NormalisedMessage } from '../shared/model.js';
import {
  BOUNDS,
  boundText,
  epochMs,
  estimateBytes,
  keptOrDropped,
  seenDigest,
  storedMessageId,
  utf8Bytes,
} from './bounds.js';

/** Lifecycle of a turn. `open` takes messages; `answered` has its reply decided and stored; `done` has it queued. */
export type TurnStatus = 'open' | 'answered' | 'done' | 'failed' | 'dropped';

/** An audio or video attachment waiting for the media worker. */
export interface PendingMedia {
  readonly messageId: string;
  readonly attachmentIndex: number;
  readonly kind: 'audio' | 'video';
  readonly voice?: boolean;
  /** When the actor started waiting for it, epoch ms (each item gets its own mediaTimeoutMs). */
  readonly since?: number;
}

/** A customer message as kept in the open turn. */
export interface TurnMessageRecord {
  readonly messageId: string;
  readonly kind: string;
  readonly text?: string;
  readonly timestamp: number;
  readonly receivedAt: number;
  readonly attachments: readonly Attachment[];
  readonly surface: 'inbox' | 'comment';
  readonly commentId?: string;
  readonly postback?: string;
  /** What sent the postback: a button, a quick reply or list row, a command (`/start`). */
  readonly postbackSource?: 'postback' | 'quick-reply' | 'command';
  /** Telegram Business: the connection the reply goes through. */
  readonly businessConnectionId?: string;
  /** Transcripts of this message's media, by attachment index order. */
  readonly transcript?: string;
  readonly keyframes?: readonly string[];
  readonly mediaNote?: string;
  /** What became of each media item (the audit trail): result, error code, time waited. */
  readonly mediaResults?: readonly MediaResult[];
}

/** One media item's result as the turn keeps it for the audit trail. */
export interface MediaResult {
  readonly attachmentIndex: number;
  /** `transcribed`, `keyframes`, `failed`, `timeout`, `skipped`. */
  readonly result: string;
  readonly code?: string;
  readonly latencyMs?: number;
}

/** Where the reply of a turn goes: taken from the turn's last message when it was answered. */
export interface ReplyTarget {
  readonly surface: 'inbox' | 'comment';
  readonly replyToMessageId?: string;
  readonly businessConnectionId?: string;
}

/**
 * The decided reply of an answered turn, as the state keeps it: where its parts are (the turn's
 * history item holds their text, written before this state), how many, and the event that
 * answered it. A redelivery of that event re-queues the parts from the history item (same reply
 * ids: FIFO deduplication and delivery's own records drop the copies); nothing else does.
 */
export interface StoredReply {
  readonly partCount: number;
  /**
   * Sort key of the turn's history item (customer messages, reply parts, audit): not stored,
   * it is `historySk(turn.firstReceivedAt, turn.turnId)` ({@link turnHistorySk}).
   */
  readonly historySk?: string;
  readonly answeredAt: number;
  readonly handoff: boolean;
  readonly outcome: string;
  /** Why the turn was flushed: `debounce`, `max-wait`, `media-timeout`, `size` (turn full), `immediate`, `media-ready`. */
  readonly reason: string;
  /** The event that answered the turn ({@link answerTrigger}): only its redelivery re-queues the reply. */
  readonly trigger: string;
  readonly target: ReplyTarget;
  /** Parts as stored by an earlier version (text in the state); read on a resume when present. */
  readonly parts?: readonly { readonly text?: string; readonly imageUrl?: string }[];
  readonly historySks?: readonly string[];
}

/** Sort key of a turn's history item. */
export function turnHistorySk(turn: Pick<Turn, 'firstReceivedAt' | 'turnId'>): string {
  return historySk(turn.firstReceivedAt, turn.turnId);
}

/** Identifies the event that answered a turn (a tick, a message, a media result). */
export function answerTrigger(
  event:
    | { readonly type: 'flush'; readonly version: number; readonly reason: string; readonly armedAt: number }
    | { readonly type: 'message'; readonly messageId: string }
    | { readonly type: 'media-ready'; readonly messageId: string; readonly attachmentIndex: number },
): string {
  switch (event.type) {
    case 'flush':
      return `f:${event.version}:${event.reason}:${event.armedAt}`;
    case 'message':
      return `m:${seenDigest(event.messageId)}`;
    case 'media-ready':
      return `r:${seenDigest(event.messageId)}:${event.attachmentIndex}`;
  }
}

export interface Turn {
  readonly turnId: string;
  readonly version: number;
  readonly status: TurnStatus;
  readonly messages: readonly TurnMessageRecord[];
  /** When our webhook received the turn's first message (ReplyLatency starts here). */
  readonly firstReceivedAt: number;
  /** When the actor opened the turn (maxTurnWaitMs counts from here). */
  readonly openedAt: number;
  readonly lastMessageAt: number;
  readonly pendingMedia: readonly PendingMedia[];
  readonly reply?: StoredReply;
}

/** The one state item of a conversation. */
export interface ConversationState {
  /** Optimistic-concurrency revision: every write requires the revision it read. 0 = no item yet. */
  readonly rev: number;
  readonly tenantId: string;
  readonly channel: ChannelName;
  readonly conversationId: string;
  readonly conversationKey: string;
  readonly pageId?: string;
  readonly customer?: Customer;
  readonly customerLastMessageAt?: number;
  /** Epoch ms until which the bot stays silent (human takeover or handoff). */
  readonly pausedUntil?: number;
  readonly lastBotReply?: string;
  readonly turnCount: number;
  readonly turnsSinceSummary: number;
  readonly turn?: Turn;
  /**
   * The most recent platform message ids taken in, oldest first, each as {@link seenEntry}: its
   * digest ({@link seenDigest}) and the second of its platform timestamp. Fixed-size whatever
   * the ids (items written before may still hold bare digests or raw ids, which match too).
   */
  readonly seen: readonly string[];
  /**
   * Epoch ms at or before which `seen` is not complete any more: the latest platform timestamp
   * of a message evicted from it (rounded up to the end of its second). Absent while nothing was
   * evicted. A message not in `seen` and not newer than this may be an evicted duplicate: only
   * then is the history looked up ({@link mayBeEvicted}, docs/conversation.md).
   */
  readonly seenFrom?: number;
  readonly updatedAt: number;
}

/** How many recent message ids the state remembers. */
export const SEEN_LIMIT = BOUNDS.seen;

/** A fresh state for a conversation that has none yet. */
export function emptyState(ids: {
  tenantId: string;
  channel: ChannelName;
  conversationId: string;
  conversationKey: string;
}): ConversationState {
  // Only the ids: callers pass whole events, whose message must not become part of the state.
  return {
    tenantId: ids.tenantId,
    channel: ids.channel,
    conversationId: ids.conversationId,
    conversationKey: ids.conversationKey,
    rev: 0,
    turnCount: 0,
    turnsSinceSummary: 0,
    seen: [],
    updatedAt: 0,
  };
}

/** Deterministic turn id: the conversation and the message that opened the turn. */
export function newTurnId(conversationKey: string, firstMessageId: string): string {
  return `t${sha256Hex(conversationKey, firstMessageId).slice(0, 31)}`;
}

/** True while the bot is paused for this conversation. */
export function isPaused(state: ConversationState, now: number): boolean {
  return state.pausedUntil !== undefined && state.pausedUntil > now;
}

/** True when `messageId` was already taken in. */
export function hasSeen(state: ConversationState, messageId: string): boolean {
  const digest = seenDigest(messageId);
  // Older items kept longer digests of the same hash (a prefix matches) or raw ids.
  return state.seen.some((id) => id === messageId || id.startsWith(digest));
}

/** True when the turn holds the message `messageId` (compared in its stored form). */
export function holdsMessage(turn: Turn | undefined, messageId: string): boolean {
  const id = storedMessageId(messageId);
  return turn?.messages.some((m) => m.messageId === id) === true;
}

/** The open turn, if any. */
export function openTurn(state: ConversationState): Turn | undefined {
  return state.turn?.status === 'open' ? state.turn : undefined;
}

/** A `seen` entry: the id's digest, `@`, and the second of its platform timestamp in base 36. */
export function seenEntry(messageId: string, timestamp: number): string {
  return `${seenDigest(messageId)}@${Math.floor(epochMs(timestamp, 0) / 1000).toString(36)}`;
}

const SEEN_ENTRY = /^[0-9a-f]+@([0-9a-z]{1,10})$/;

/** The last epoch ms of the second a `seen` entry was sent in; undefined for older entries without it. */
export function seenEntryTime(entry: string): number | undefined {
  const match = SEEN_ENTRY.exec(entry);
  if (!match?.[1]) return undefined;
  return Number.parseInt(match[1], 36) * 1000 + 999;
}

/**
 * `seen` with `messageId` added last, and `seenFrom` moved up to the latest timestamp of what
 * fell out of it. An entry without a timestamp (written before they were kept) falls out with
 * the latest timestamp the conversation had seen (`customerLastMessageAt`), no earlier than its own.
 */
function remember(
  state: ConversationState,
  messageId: string,
  timestamp: number,
): Pick<ConversationState, 'seen' | 'seenFrom'> {
  const digest = seenDigest(messageId);
  const next = state.seen.filter((id) => !id.startsWith(digest) && id !== messageId);
  next.push(seenEntry(messageId, timestamp));
  let seenFrom = state.seenFrom;
  for (const evicted of next.slice(0, Math.max(0, next.length - SEEN_LIMIT))) {
    const at = seenEntryTime(evicted) ?? epochMs(state.customerLastMessageAt, timestamp);
    seenFrom = Math.max(seenFrom ?? 0, at);
  }
  return { seen: next.slice(-SEEN_LIMIT), ...(seenFrom !== undefined ? { seenFrom } : {}) };
}

/** The platform timestamp of `message` as the state keeps it (else its receive time, else `now`). */
export function messageTime(message: NormalisedMessage, now: number): number {
  return epochMs(message.timestamp, epochMs(message.receivedAt, now));
}

/**
 * True when `message`, not in `seen`, could still have been taken in before: `seen` has
 * evicted an id whose timestamp is not older than this one's. Only then is the history looked
 * up; a message newer than every evicted one (the common case) cannot be a duplicate.
 */
export function mayBeEvicted(state: ConversationState, message: NormalisedMessage, now: number): boolean {
  return messageTime(message, now) <= (seenHorizon(state) ?? Number.NEGATIVE_INFINITY);
}

/**
 * `seenFrom`, or for a full `seen` written before entries kept their time (and which may have
 * evicted ids then), the latest timestamp the conversation has seen: the next message moves
 * `seenFrom` there anyway.
 */
function seenHorizon(state: ConversationState): number | undefined {
  if (state.seenFrom !== undefined) return state.seenFrom;
  const legacy =
    state.seen.length >= SEEN_LIMIT && state.seen.some((entry) => seenEntryTime(entry) === undefined);
  return legacy ? epochMs(state.customerLastMessageAt, 0) : undefined;
}

/** Media items of one message sent to the media worker at most (the first ones). */
export const MEDIA_PER_MESSAGE = 10;

/** Media kinds that go to the media worker (ids in their stored form). */
export function mediaOf(message: NormalisedMessage): PendingMedia[] {
  const out: PendingMedia[] = [];
  message.attachments.forEach((attachment, attachmentIndex) => {
    if ((attachment.kind === 'audio' || attachment.kind === 'video') && out.length < MEDIA_PER_MESSAGE) {
      out.push({
        messageId: storedMessageId(message.messageId),
        attachmentIndex,
        kind: attachment.kind,
        ...(attachment.voice ? { voice: true } : {}),
      });
    }
  });
  return out;
}

/** The marker a turn carries when media could not be processed. */
export function mediaMarker(media: Pick<PendingMedia, 'kind' | 'voice'>, code: string): string {
  // Most channels send voice notes as plain audio attachments, so every audio item reads as one.
  return media.kind === 'video'
    ? `[video could not be processed: ${code}]`
    : `[voice note could not be transcribed: ${code}]`;
}

const finiteOrDropped = (value: number | undefined, max: number): number | undefined =>
  value !== undefined && Number.isFinite(value) && Math.abs(value) <= max ? value : undefined;

/** One attachment with every field within its bound (ids and URLs dropped, names cut, odd numbers dropped). */
export function boundAttachment(attachment: Attachment): Attachment {
  const url = keptOrDropped(attachment.url, BOUNDS.attachmentUrl);
  const fileId = keptOrDropped(attachment.fileId, BOUNDS.attachmentFileId);
  const mimeType = keptOrDropped(attachment.mimeType, BOUNDS.attachmentMime);
  const name = attachment.name === undefined ? undefined : boundText(attachment.name, BOUNDS.attachmentName);
  const size = finiteOrDropped(attachment.size, Number.MAX_SAFE_INTEGER);
  const latitude = finiteOrDropped(attachment.latitude, 90);
  const longitude = finiteOrDropped(attachment.longitude, 180);
  return {
    kind: attachment.kind,
    ...(url !== undefined ? { url } : {}),
    ...(fileId !== undefined ? { fileId } : {}),
    ...(mimeType !== undefined ? { mimeType } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(size !== undefined && size >= 0 ? { size } : {}),
    ...(attachment.voice === true ? { voice: true } : {}),
    ...(latitude !== undefined ? { latitude } : {}),
    ...(longitude !== undefined ? { longitude } : {}),
  };
}

/** The first attachments whose bounded forms fit in {@link BOUNDS.attachments} bytes together. */
export function boundAttachments(attachments: readonly Attachment[]): Attachment[] {
  const out: Attachment[] = [];
  let bytes = 0;
  for (const attachment of attachments) {
    const bounded = boundAttachment(attachment);
    const size = estimateBytes(bounded);
    if (bytes + size > BOUNDS.attachments) break;
    bytes += size;
    out.push(bounded);
  }
  return out;
}

/** The customer as stored: an id that is too long to store is dropped (it could not be answered). */
export function boundCustomer(customer: Partial<Customer> | undefined): Customer | undefined {
  if (customer === undefined) return undefined;
  const id = keptOrDropped(customer.id, BOUNDS.customerId);
  const name = customer.name === undefined ? undefined : boundText(customer.name, BOUNDS.customerName);
  const phone = keptOrDropped(customer.phone, BOUNDS.customerPhone);
  if (id === undefined) return undefined;
  return { id, ...(name !== undefined ? { name } : {}), ...(phone !== undefined ? { phone } : {}) };
}

/**
 * A message as kept in the turn: every field within its bound (docs/conversation.md), times
 * checked (a platform timestamp DynamoDB could not store, or not a plausible epoch-ms time, is
 * replaced by the received-at time; that by `now`).
 */
export function toRecord(message: NormalisedMessage, now: number): TurnMessageRecord {
  const receivedAt = epochMs(message.receivedAt, now);
  const messageId = storedMessageId(message.messageId);
  // A comment is answered by its id: when the message id had to be digested, keep it as the comment id.
  const rawCommentId =
    message.commentId ??
    (message.surface === 'comment' && messageId !== message.messageId ? message.messageId : undefined);
  const commentId = keptOrDropped(rawCommentId, BOUNDS.commentId);
  return {
    messageId,
    kind: message.kind,
    ...(message.text !== undefined ? { text: boundText(message.text, BOUNDS.messageText) } : {}),
    timestamp: epochMs(message.timestamp, receivedAt),
    receivedAt,
    attachments: boundAttachments(message.attachments),
    surface: message.surface,
    ...(commentId !== undefined ? { commentId } : {}),
    ...(message.postback !== undefined ? { postback: boundText(message.postback, BOUNDS.messageText) } : {}),
    ...(message.postbackSource !== undefined ? { postbackSource: message.postbackSource } : {}),
    ...(message.businessConnectionId !== undefined
      ? { businessConnectionId: message.businessConnectionId }
      : {}),
  };
}

/**
 * A turn's messages in the order the customer sent them: by platform timestamp, then arrival.
 * Meta warns that webhooks can arrive out of order, so arrival alone can put an answer before
 * its question. Equal (or unusable) timestamps keep arrival order. The stored turn keeps arrival
 * order (history keys and the reply target use it); only the responder sees this order.
 */
export function orderedTurnMessages(messages: readonly TurnMessageRecord[]): TurnMessageRecord[] {
  const at = (m: TurnMessageRecord): number =>
    Number.isFinite(m.timestamp) ? m.timestamp : Number.POSITIVE_INFINITY;
  return messages
    .map((message, arrival) => ({ message, arrival, at: at(message) }))
    .sort((a, b) => (a.at === b.at ? a.arrival - b.arrival : a.at < b.at ? -1 : 1))
    .map((entry) => entry.message);
}

/**
 * Estimated bytes of the open turn for the size flush: the turn as stored plus, for each
 * message still waiting for media, room for the transcript, keyframes and marker to come.
 */
export function turnBytes(turn: Turn): number {
  const waiting = new Set(turn.pendingMedia.map((m) => m.messageId)).size;
  return estimateBytes(turn) + waiting * BOUNDS.mediaReserve;
}

/** True when the open turn must be answered now, whatever else it waits for (reason `size`). */
export function isTurnFull(turn: Turn): boolean {
  return turn.messages.length >= BOUNDS.turnMessages || turnBytes(turn) >= BOUNDS.turnFlushBytes;
}

/** The result of taking a message in. */
export interface AppendResult {
  readonly state: ConversationState;
  readonly turn: Turn;
  /** True when this message opened a new turn. */
  readonly opened: boolean;
  /** Media of this message that must go to the worker. */
  readonly media: readonly PendingMedia[];
}

/**
 * Adds a customer message to the open turn (opening one when there is none) and bumps the
 * turn's version. `pendingMedia` lists media to wait for (empty when no worker is configured:
 * the caller then marks them with {@link mediaMarker} via `immediateNotes`).
 */
export function appendMessage(
  state: ConversationState,
  message: NormalisedMessage,
  now: number,
  options: { readonly mediaWorker: boolean },
): AppendResult {
  const media = mediaOf(message).map((m) => ({ ...m, since: now }));
  let record = toRecord(message, now);
  if (!options.mediaWorker && media.length > 0) {
    record = {
      ...record,
      mediaNote: boundText(media.map((m) => mediaMarker(m, 'MEDIA_UNAVAILABLE')).join(' '), BOUNDS.mediaNote),
    };
  }
  const current = openTurn(state);
  const turn: Turn = current
    ? {
        ...current,
        version: current.version + 1,
        messages: [...current.messages, record],
        lastMessageAt: now,
        pendingMedia: options.mediaWorker ? [...current.pendingMedia, ...media] : current.pendingMedia,
      }
    : {
        turnId: newTurnId(state.conversationKey, message.messageId),
        version: 1,
        status: 'open',
        messages: [record],
        firstReceivedAt: record.receivedAt,
        openedAt: now,
        lastMessageAt: now,
        pendingMedia: options.mediaWorker ? media : [],
      };
  const next: ConversationState = {
    ...takeIn(state, message, record.timestamp),
    turn,
    ...remember(state, message.messageId, record.timestamp),
    updatedAt: now,
  };
  return { state: next, turn, opened: current === undefined, media: options.mediaWorker ? media : [] };
}

/** Page, customer and last-message time of a message taken in, each bounded. */
function takeIn(state: ConversationState, message: NormalisedMessage, timestamp: number): ConversationState {
  const pageId = keptOrDropped(message.pageId, BOUNDS.refId);
  const { pageId: _old, customer: _customer, ...rest } = state;
  const customer = boundCustomer({ ...state.customer, ...message.customer }) ?? boundCustomer(state.customer);
  return {
    ...rest,
    ...(pageId !== undefined ? { pageId } : state.pageId !== undefined ? { pageId: state.pageId } : {}),
    ...(customer !== undefined ? { customer } : {}),
    customerLastMessageAt: Math.max(epochMs(state.customerLastMessageAt, 0), timestamp),
  };
}

/** Records a message id as seen without adding it to a turn (paused conversations). */
export function markSeen(
  state: ConversationState,
  message: NormalisedMessage,
  now: number,
): ConversationState {
  const timestamp = messageTime(message, now);
  return {
    ...takeIn(state, message, timestamp),
    ...remember(state, message.messageId, timestamp),
    updatedAt: now,
  };
}

/**
 * Attaches a media result (or an error marker) to its message in the open turn, removes it
 * from `pendingMedia` and bumps the version. Undefined when the turn or the media is not
 * pending any more (a late result: the turn already flushed).
 */
export function attachMedia(
  state: ConversationState,
  input: {
    readonly turnId: string;
    readonly messageId: string;
    readonly attachmentIndex: number;
    readonly transcript?: string;
    readonly keyframes?: readonly string[];
    readonly errorCode?: string;
  },
  now: number,
): ConversationState | undefined {
  const turn = openTurn(state);
  if (!turn || turn.turnId !== input.turnId) return undefined;
  const messageId = storedMessageId(input.messageId);
  const pending = turn.pendingMedia.find(
    (m) => m.messageId === messageId && m.attachmentIndex === input.attachmentIndex,
  );
  if (!pending) return undefined;
  const messages = turn.messages.map((m) => {
    if (m.messageId !== messageId) return m;
    const transcript = boundText(
      [m.transcript, input.transcript].filter((t) => t !== undefined && t !== '').join(' '),
      BOUNDS.transcript,
    );
    const keyframes = [
      ...(m.keyframes ?? []),
      ...(input.keyframes ?? []).filter((k) => utf8Bytes(k) <= BOUNDS.keyframe),
    ].slice(0, BOUNDS.keyframes);
    const joined =
      input.errorCode !== undefined && input.transcript === undefined
        ? [m.mediaNote, mediaMarker(pending, input.errorCode.slice(0, 64))]
            .filter((n) => n !== undefined)
            .join(' ')
        : m.mediaNote;
    const notes = joined === undefined ? undefined : boundText(joined, BOUNDS.mediaNote);
    const code = input.errorCode?.slice(0, 64);
    const result: MediaResult = {
      attachmentIndex: input.attachmentIndex,
      result:
        input.transcript !== undefined
          ? 'transcribed'
          : input.keyframes !== undefined && input.keyframes.length > 0
            ? 'keyframes'
            : code === 'MEDIA_TIMEOUT'
              ? 'timeout'
              : code === 'TURN_FULL'
                ? 'skipped'
                : 'failed',
      ...(code !== undefined ? { code } : {}),
      ...(pending.since !== undefined ? { latencyMs: Math.max(0, now - pending.since) } : {}),
    };
    return {
      ...m,
      ...(transcript !== '' ? { transcript } : {}),
      ...(keyframes.length > 0 ? { keyframes } : {}),
      ...(notes !== undefined && notes !== '' ? { mediaNote: notes } : {}),
      mediaResults: [...(m.mediaResults ?? []), result].slice(0, MEDIA_PER_MESSAGE),
    };
  });
  return {
    ...state,
    turn: {
      ...turn,
      version: turn.version + 1,
      messages,
      pendingMedia: turn.pendingMedia.filter((m) => m !== pending),
    },
    updatedAt: now,
  };
}

/** Gives up on every pending media item of the open turn with a marker (media timeout). */
export function expirePendingMedia(state: ConversationState, code: string, now: number): ConversationState {
  const turn = openTurn(state);
  if (!turn || turn.pendingMedia.length === 0) return state;
  let next: ConversationState = state;
  for (const media of turn.pendingMedia) {
    next =
      attachMedia(
        next,
        {
          turnId: turn.turnId,
          messageId: media.messageId,
          attachmentIndex: media.attachmentIndex,
          errorCode: code,
        },
        now,
      ) ?? next;
  }
  return next;
}

/** Closes the open turn without answering it (human takeover). */
export function dropTurn(state: ConversationState, now: number): ConversationState {
  const turn = openTurn(state);
  if (!turn) return state;
  return { ...state, turn: { ...turn, status: 'dropped' }, updatedAt: now };
}

/** The attributes a state item is written with. */
const STATE_ATTRIBUTES = [
  'rev',
  'tenantId',
  'channel',
  'conversationId',
  'pageId',
  'customer',
  'customerLastMessageAt',
  'pausedUntil',
  'lastBotReply',
  'turnCount',
  'turnsSinceSummary',
  'turn',
  'seen',
  'seenFrom',
  'updatedAt',
] as const satisfies readonly (keyof ConversationState)[];

/**
 * The attributes of the state item as written: reference ids longer than {@link BOUNDS.refId}
 * are left out (loading restores them from the event; the keys built from them are hashed).
 */
export function stateItem(state: ConversationState): Record<string, unknown> {
  // The key is the partition key already; `load` restores it from the event. Only the state's
  // own attributes are written (older items also held the first event that created them).
  const item: Record<string, unknown> = {};
  for (const key of STATE_ATTRIBUTES) {
    if (state[key] !== undefined) item[key] = state[key];
  }
  // A closed turn keeps no messages: its empty lists are left out (`restoreState` puts them back),
  // so a conversation's item stays under 1 KB (1 write unit) between turns.
  const turn = state.turn;
  if (turn && turn.status !== 'open' && turn.messages.length === 0 && turn.pendingMedia.length === 0) {
    const { messages: _m, pendingMedia: _p, ...closed } = turn;
    item.turn = closed;
  }
  for (const key of ['tenantId', 'conversationId'] as const) {
    if (keptOrDropped(state[key], BOUNDS.refId) === undefined) delete item[key];
  }
  return item;
}

/** A state as read back: a closed turn's message lists, left out of the item, restored. */
export function restoreState(state: ConversationState): ConversationState {
  const turn = state.turn as (Partial<Turn> & Pick<Turn, 'turnId'>) | undefined;
  if (!turn || (turn.messages !== undefined && turn.pendingMedia !== undefined)) return state;
  return {
    ...state,
    turn: { ...turn, messages: turn.messages ?? [], pendingMedia: turn.pendingMedia ?? [] } as Turn,
  };
}

/**
 * The last guard before a write: `state` itself when its item's estimated size is within
 * {@link BOUNDS.stateItem}, else a copy whose open turn keeps at most 512 bytes of each stored
 * text, no keyframes or attachments, and no previous bot reply. The bounds above keep a state
 * far under the limit, so this only runs if they were ever loosened without re-checking the sum.
 */
export function fitState(state: ConversationState): { state: ConversationState; shrunk: boolean } {
  if (estimateBytes(stateItem(state)) <= BOUNDS.stateItem) return { state, shrunk: false };
  const small = (text: string | undefined) => (text === undefined ? undefined : boundText(text, 512));
  const { lastBotReply: _dropped, ...rest } = state;
  const turn = state.turn;
  const shrunk: ConversationState = {
    ...rest,
    ...(turn
      ? {
          turn: {
            ...turn,
            messages: turn.messages.map((m) => {
              const { keyframes: _k, text, transcript, mediaNote, postback, ...kept } = m;
              return {
                ...kept,
                attachments: [],
                ...(text !== undefined ? { text: small(text) } : {}),
                ...(transcript !== undefined ? { transcript: small(transcript) } : {}),
                ...(mediaNote !== undefined ? { mediaNote: small(mediaNote) } : {}),
                ...(postback !== undefined ? { postback: small(postback) } : {}),
              };
            }),
          },
        }
      : {}),
  };
  return { state: shrunk, shrunk: true };
}
