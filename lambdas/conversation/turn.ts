/**
 * The conversation state and its open turn: plain data and pure transitions. The actor is the
 * only writer of this record (one item per conversation in the memory table, `sk = state`),
 * and every write is conditional on `rev`, so a stale writer can never clobber a newer state.
 */
import { sha256Hex } from '../shared/keys.js';
import type { Attachment, ChannelName, Customer, NormalisedMessage } from '../shared/model.js';

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
  /** Transcripts of this message's media, by attachment index order. */
  readonly transcript?: string;
  readonly keyframes?: readonly string[];
  readonly mediaNote?: string;
}

/** The decided reply of a turn, stored before anything is queued so a retry resends the same parts. */
export interface StoredReply {
  readonly parts: readonly { readonly text?: string; readonly imageUrl?: string }[];
  readonly historySks: readonly string[];
  readonly answeredAt: number;
  readonly handoff: boolean;
  readonly outcome: string;
  /** Why the turn was flushed: `debounce`, `max-wait` or `media-timeout`. */
  readonly reason: string;
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
  /** The most recent platform message ids seen (a second guard behind Powertools idempotency). */
  readonly seen: readonly string[];
  readonly updatedAt: number;
}

/** How many recent message ids the state remembers. */
export const SEEN_LIMIT = 64;

/** A fresh state for a conversation that has none yet. */
export function emptyState(ids: {
  tenantId: string;
  channel: ChannelName;
  conversationId: string;
  conversationKey: string;
}): ConversationState {
  return { ...ids, rev: 0, turnCount: 0, turnsSinceSummary: 0, seen: [], updatedAt: 0 };
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
  return state.seen.includes(messageId);
}

/** The open turn, if any. */
export function openTurn(state: ConversationState): Turn | undefined {
  return state.turn?.status === 'open' ? state.turn : undefined;
}

function remember(seen: readonly string[], messageId: string): string[] {
  const next = seen.filter((id) => id !== messageId);
  next.push(messageId);
  return next.slice(-SEEN_LIMIT);
}

/** Media kinds that go to the media worker. */
export function mediaOf(message: NormalisedMessage): PendingMedia[] {
  const out: PendingMedia[] = [];
  message.attachments.forEach((attachment, attachmentIndex) => {
    if (attachment.kind === 'audio' || attachment.kind === 'video') {
      out.push({
        messageId: message.messageId,
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

function toRecord(message: NormalisedMessage): TurnMessageRecord {
  return {
    messageId: message.messageId,
    kind: message.kind,
    ...(message.text !== undefined ? { text: message.text } : {}),
    timestamp: message.timestamp,
    receivedAt: message.receivedAt,
    attachments: message.attachments,
    surface: message.surface,
    ...(message.commentId !== undefined ? { commentId: message.commentId } : {}),
    ...(message.postback !== undefined ? { postback: message.postback } : {}),
  };
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
  let record = toRecord(message);
  if (!options.mediaWorker && media.length > 0) {
    record = { ...record, mediaNote: media.map((m) => mediaMarker(m, 'MEDIA_UNAVAILABLE')).join(' ') };
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
        firstReceivedAt: message.receivedAt,
        openedAt: now,
        lastMessageAt: now,
        pendingMedia: options.mediaWorker ? media : [],
      };
  const next: ConversationState = {
    ...state,
    pageId: message.pageId,
    customer: { ...state.customer, ...message.customer },
    customerLastMessageAt: Math.max(state.customerLastMessageAt ?? 0, message.timestamp),
    turn,
    seen: remember(state.seen, message.messageId),
    updatedAt: now,
  };
  return { state: next, turn, opened: current === undefined, media: options.mediaWorker ? media : [] };
}

/** Records a message id as seen without adding it to a turn (paused conversations). */
export function markSeen(
  state: ConversationState,
  message: NormalisedMessage,
  now: number,
): ConversationState {
  return {
    ...state,
    pageId: message.pageId,
    customer: { ...state.customer, ...message.customer },
    customerLastMessageAt: Math.max(state.customerLastMessageAt ?? 0, message.timestamp),
    seen: remember(state.seen, message.messageId),
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
  const pending = turn.pendingMedia.find(
    (m) => m.messageId === input.messageId && m.attachmentIndex === input.attachmentIndex,
  );
  if (!pending) return undefined;
  const messages = turn.messages.map((m) => {
    if (m.messageId !== input.messageId) return m;
    const transcript = [m.transcript, input.transcript].filter((t) => t !== undefined && t !== '').join(' ');
    const keyframes = [...(m.keyframes ?? []), ...(input.keyframes ?? [])];
    const notes =
      input.errorCode !== undefined && input.transcript === undefined
        ? [m.mediaNote, mediaMarker(pending, input.errorCode)].filter((n) => n !== undefined).join(' ')
        : m.mediaNote;
    return {
      ...m,
      ...(transcript !== '' ? { transcript } : {}),
      ...(keyframes.length > 0 ? { keyframes } : {}),
      ...(notes !== undefined && notes !== '' ? { mediaNote: notes } : {}),
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
