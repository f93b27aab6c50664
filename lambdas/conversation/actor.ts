/**
 * The conversation actor: one per conversation, its FIFO group is the mailbox and its state
 * item the memory. Every method handles one event of that conversation; the FIFO group
 * guarantees no two run at once for the same conversation, and the state's `rev` condition
 * turns any accidental overlap into a retry instead of a lost update.
 *
 * Exactly-once answers: a flush decides the reply, writes the customer's messages to history,
 * then stores the reply in the state (`open → answered`, conditional) BEFORE queuing anything.
 * A retry after a crash finds the turn `answered` and re-queues the stored parts with the same
 * reply ids and dedup ids (SQS drops the copies; delivery is idempotent on the reply id), then
 * marks it `done`, after which every further tick for that turn is stale.
 */
import type { SendTarget } from '../channels/types.js';
import type { AuditMedia, FlushReason } from '../contracts/audit.js';
import type { ReplyMessage } from '../contracts/responder.js';
import type { StoredReplyPart, TurnItem } from '../memory/turn-item.js';
import { storedTurnMessages } from '../memory/turn-item.js';
import { turnPostback } from '../responders/describe.js';
import type { TurnContext, TurnMessage } from '../responders/types.js';
import { ChatRelayError } from '../shared/errors.js';
import { historySk, replyId } from '../shared/keys.js';
import type {
  FlushEvent,
  HumanActiveEvent,
  MediaJob,
  MediaReadyEvent,
  MessageEvent,
  OutboundPart,
} from '../shared/model.js';
import { logger } from '../shared/powertools.js';
import { DEFAULT_SETTINGS, type TenantDocument } from '../shared/tenant.js';
import { BOUNDS, boundText, epochMs, keptOrDropped, storedMessageId, utf8Bytes } from './bounds.js';
import type { ActorConfig } from './config.js';
import { timingFor } from './config.js';
import { delaySecondsFor, evaluateFlush, type TurnTiming } from './debounce.js';
import type { ActorDeps, HistoryItem, ReplyPlanLike } from './ports.js';
import {
  answerTrigger,
  appendMessage,
  attachMedia,
  type ConversationState,
  dropTurn,
  expirePendingMedia,
  hasSeen,
  holdsMessage,
  isPaused,
  isTurnFull,
  markSeen,
  mayBeEvicted,
  messageTime,
  openTurn,
  orderedTurnMessages,
  type ReplyTarget,
  type StoredReply,
  type Turn,
  turnHistorySk,
} from './turn.js';

/** The actor's flush reasons, as the audit trail names them. */
const FLUSH_REASONS: Record<string, FlushReason> = {
  debounce: 'quiet',
  'max-wait': 'cap',
  size: 'size',
  'media-timeout': 'media-timeout',
  immediate: 'immediate',
  'media-ready': 'media-ready',
};

/** Why a turn is answered: a flush reason of a tick, or one of the actor's own. */
type AnswerReason = FlushEvent['reason'] | 'size' | 'immediate' | 'media-ready';

/** Delivery attempt information of the SQS record being handled. */
export interface Attempt {
  /** `ApproximateReceiveCount` of the record (1 on the first delivery). */
  readonly receiveCount: number;
  /**
   * Epoch ms by which this invocation must be done with the record (the Lambda's remaining
   * time less a margin): the responder is cancelled then, so a slow model fails this attempt
   * cleanly instead of the whole batch timing out.
   */
  readonly deadline?: number;
  /**
   * True when the next record of this conversation in the same batch is a customer message:
   * a message taken in now leaves the debounce to that one (no tick, no hold) and returns
   * `deferred`.
   */
  readonly more?: boolean;
  /**
   * True when any record of this conversation follows in the same batch: a due turn is then not
   * answered inline (what follows may be a human taking over) but through a tick behind it.
   */
  readonly followed?: boolean;
  /**
   * True when this record ends a full batch: SQS may have left more of the conversation behind
   * it for the next receive, so a held record coming back here is handed back at once (held
   * for 0 s) to return with them instead of answering without them.
   */
  readonly mayBeCut?: boolean;
  /** True when the previous record of this conversation in the same batch returned `deferred`. */
  readonly settle?: boolean;
  /**
   * Keeps this record in flight for `delaySeconds` and hands it back then: the record itself
   * becomes the debounce tick (docs/conversation.md, *Debounce*). Present only when the record is
   * the last of its conversation in the batch and has receives to spare. Resolves false when the
   * record could not be held; the actor then arms a timer tick instead.
   */
  readonly hold?: (delaySeconds: number) => Promise<boolean>;
}

/** What the actor did with an event (logged, asserted by tests). */
export type Outcome =
  | 'appended'
  | 'answered'
  | 'resumed'
  | 'paused-recorded'
  | 'duplicate'
  | 'stale'
  | 'waiting-media'
  | 'media-attached'
  | 'paused'
  | 'unpaused'
  | 'echo-ignored'
  | 'fallback-sent'
  /** The record is kept in flight as the turn's debounce tick (the runtime reports it failed). */
  | 'held'
  /** The next message of the conversation in the batch decides the debounce. */
  | 'deferred';

/** Text recorded in history when a human agent answered from the platform inbox. */
export const HUMAN_HISTORY_TEXT = '[a team member replied]';

const TYPING_CHANNELS = new Set(['messenger', 'instagram', 'telegram']);

/** The conversation actor. Stateless itself: every call reads and writes the state item. */
export class ConversationActor {
  constructor(
    private readonly deps: ActorDeps,
    private readonly config: ActorConfig,
  ) {}

  // -------------------------------------------------------------------------------------------
  // message
  // -------------------------------------------------------------------------------------------

  /** A customer message: join the open turn (or open one), send media jobs, arm the debounce tick. */
  async onMessage(event: MessageEvent, attempt: Attempt): Promise<Outcome> {
    const { message } = event;
    const now = this.deps.now();
    const tenant = await this.deps.loadTenant(event.tenantId);
    const timing = timingFor(this.config, tenant.settings);
    const state = await this.deps.state.load(event);
    // A long open turn holds more messages than `seen` remembers: its own are duplicates too.
    const seen = hasSeen(state, message.messageId) || holdsMessage(openTurn(state), message.messageId);

    if (!seen && mayBeEvicted(state, message, now) && (await this.inHistory(event, now))) {
      // A copy older than what `seen` remembers (a platform retry hours later, a redrive): the
      // history holds it, so it was taken in already. Nothing to redo: its turn was closed long ago.
      this.deps.metric('DuplicateMessages', 1, { channel: event.channel });
      logger.info('Duplicate found in history: dropped', {
        ...this.logKeys(event),
        messageId: message.messageId,
      });
      return (await this.settleAfterDuplicate(state, event, tenant, timing, now, attempt)) ?? 'duplicate';
    }

    if (isPaused(state, now)) {
      if (seen) {
        this.deps.metric('DuplicateMessages', 1, { channel: event.channel });
        return 'duplicate';
      }
      // A human has the conversation: record the message, do not answer it. Remembered in `seen`
      // like any other, so a copy after the pause is not answered either.
      await this.deps.memory.putHistory([this.customerHistory(event.conversationKey, message, now)]);
      await this.deps.state.save(markSeen(state, message, now));
      this.deps.metric('MessagesWhilePaused', 1, { channel: event.channel });
      return 'paused-recorded';
    }

    if (seen) {
      // A retry of a message whose state write succeeded before the invocation died (or a copy
      // the platform sent again): redo the effects that follow the write (they are idempotent),
      // never the append. The state's `seen` digests and its conditional write are this event's
      // idempotency (docs/conversation.md). The common case is no duplicate at all: the record
      // held as its turn's debounce tick coming back (the turn's last message, received again).
      const trigger = answerTrigger({ type: 'message', messageId: message.messageId });
      const turn = openTurn(state);
      const last = isLastMessage(turn, message.messageId);
      const returning = attempt.receiveCount > 1 && last;
      if (!returning) this.deps.metric('DuplicateMessages', 1, { channel: event.channel });
      if (state.turn?.status === 'answered' && state.turn.reply?.trigger === trigger) {
        // This message answered its turn (debounce 0, a full turn, or its held record came back)
        // and the invocation died before every part was queued: queue them now.
        await this.queueReply(state);
        return 'duplicate';
      }
      if (!turn || !holdsMessage(turn, message.messageId)) {
        return (await this.settleAfterDuplicate(state, event, tenant, timing, now, attempt)) ?? 'duplicate';
      }
      if (!isTurnFull(turn)) {
        await this.sendMediaJobs(event, tenant, turn, message.messageId, now);
        const id = storedMessageId(message.messageId);
        if (turn.pendingMedia.some((m) => m.messageId === id)) {
          await this.arm(state, 'media-timeout', now, this.config.mediaTimeoutMs);
        }
      }
      const outcome = await this.afterChange(state, tenant, timing, now, attempt, trigger, 'immediate', {
        returning,
        mayHold: last,
      });
      // A held or deferred record tells the runtime so.
      return outcome === 'held' || outcome === 'deferred' ? outcome : 'duplicate';
    }

    // An `answered` turn before this message had its reply queued by the event that answered it
    // (that event's record stays in the queue until it has, and FIFO holds this one behind it).
    const appended = appendMessage(state, message, now, { mediaWorker: this.mediaWorker });
    const saved = await this.deps.state.save(appended.state);
    // A full turn is answered at once (afterChange): its media would only come back too late.
    if (!isTurnFull(appended.turn)) {
      await this.sendMediaJobs(event, tenant, appended.turn, message.messageId, now);
      if (appended.media.length > 0) {
        await this.arm(saved, 'media-timeout', now, this.config.mediaTimeoutMs);
      }
    }
    const trigger = answerTrigger({ type: 'message', messageId: message.messageId });
    const outcome = await this.afterChange(saved, tenant, timing, now, attempt, trigger, 'immediate', {
      returning: false,
      mayHold: true,
    });
    return outcome ?? 'appended';
  }

  /**
   * A duplicate that was the last message record of its batch after one that deferred to it
   * (`attempt.settle`): the open turn still needs its tick, or its answer when it is due.
   */
  private async settleAfterDuplicate(
    state: ConversationState,
    event: MessageEvent,
    tenant: TenantDocument,
    timing: TurnTiming,
    now: number,
    attempt: Attempt,
  ): Promise<Outcome | undefined> {
    if (!attempt.settle || !openTurn(state)) return undefined;
    const trigger = answerTrigger({ type: 'message', messageId: event.message.messageId });
    return this.afterChange(state, tenant, timing, now, attempt, trigger, 'immediate', {
      returning: false,
      mayHold: false,
    });
  }

  // -------------------------------------------------------------------------------------------
  // flush
  // -------------------------------------------------------------------------------------------

  /** A tick from the timer queue: flush the turn when it is quiet, its media done, or its time up. */
  async onFlush(event: FlushEvent, attempt: Attempt): Promise<Outcome> {
    const now = this.deps.now();
    const state = await this.deps.state.load(event);
    const tenant = await this.deps.loadTenant(event.tenantId);
    const timing = timingFor(this.config, tenant.settings);
    const trigger = answerTrigger(event);
    const decision = evaluateFlush(state, event, now, timing);
    if (
      decision.action === 'resume' &&
      state.turn?.reply?.trigger !== undefined &&
      state.turn.reply.trigger !== trigger
    ) {
      // Answered by another event (a later tick, a message): this tick is simply late.
      this.deps.metric('StaleTicks', 1, { channel: event.channel });
      return 'stale';
    }
    switch (decision.action) {
      case 'stale':
        this.deps.metric('StaleTicks', 1, { channel: event.channel });
        logger.debug('Stale tick ignored', { ...this.logKeys(event), turn: event.turnId, why: decision.why });
        return 'stale';
      case 'wait-media':
        logger.debug('Turn waits for media', { ...this.logKeys(event), turn: event.turnId });
        return 'waiting-media';
      case 'resume':
        await this.queueReply(state);
        return 'resumed';
      case 'flush': {
        let current = state;
        if (decision.expireMedia) {
          current = expirePendingMedia(state, 'MEDIA_TIMEOUT', now);
          this.deps.metric('MediaTimeouts', 1, { channel: event.channel });
        }
        return this.answer(current, tenant, decision.reason, attempt, trigger);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // media-ready
  // -------------------------------------------------------------------------------------------

  /** The media worker finished one attachment: attach its transcript/keyframes (or a marker). */
  async onMediaReady(event: MediaReadyEvent, attempt: Attempt): Promise<Outcome> {
    const now = this.deps.now();
    const state = await this.deps.state.load(event);
    const next = attachMedia(
      state,
      {
        turnId: event.turnId,
        messageId: event.messageId,
        attachmentIndex: event.attachmentIndex,
        ...(event.result?.transcript?.text !== undefined ? { transcript: event.result.transcript.text } : {}),
        ...(event.result?.keyframes !== undefined ? { keyframes: event.result.keyframes } : {}),
        ...(event.error !== undefined
          ? { errorCode: event.error.code }
          : event.result?.transcript === undefined && event.result?.keyframes === undefined
            ? { errorCode: 'MEDIA_EMPTY' }
            : {}),
      },
      now,
    );
    const trigger = answerTrigger({
      type: 'media-ready',
      messageId: event.messageId,
      attachmentIndex: event.attachmentIndex,
    });
    if (!next && state.turn?.status === 'answered' && state.turn.reply?.trigger === trigger) {
      // This result answered the turn (debounce 0) and the invocation died before queuing it.
      await this.queueReply(state);
      return 'resumed';
    }
    if (!next) {
      logger.debug('Late or unknown media result ignored', {
        ...this.logKeys(event),
        turn: event.turnId,
        messageId: event.messageId,
      });
      return 'stale';
    }
    const tenant = await this.deps.loadTenant(event.tenantId);
    const timing = timingFor(this.config, tenant.settings);
    const saved = await this.deps.state.save(next);
    return (
      (await this.afterChange(saved, tenant, timing, now, attempt, trigger, 'media-ready')) ??
      'media-attached'
    );
  }

  // -------------------------------------------------------------------------------------------
  // human-active
  // -------------------------------------------------------------------------------------------

  /** A human agent replied from the platform inbox: pause the bot (unless it is our own echo). */
  async onHumanActive(event: HumanActiveEvent): Promise<Outcome> {
    const now = this.deps.now();
    const { activity } = event;
    if (await this.deps.memory.isOurSend(event.tenantId, event.channel, activity.messageId, now)) {
      logger.debug('Echo of our own send ignored', { ...this.logKeys(event), messageId: activity.messageId });
      return 'echo-ignored';
    }
    if (activity.action === 'resume') {
      // The thread was handed back to the bot (Meta handover): lift the pause now.
      const state = await this.deps.state.load(event);
      if (isPaused(state, now)) {
        await this.deps.memory.putTakeover({
          conversationKey: event.conversationKey,
          kind: 'end',
          by: 'handover',
          at: now,
          expiresAt: this.historyExpiry(now),
        });
        await this.deps.state.save({ ...state, pausedUntil: now, updatedAt: now });
      }
      logger.info('Thread handed back: bot resumed', {
        ...this.logKeys(event),
        messageId: activity.messageId,
      });
      return 'unpaused';
    }
    const tenant = await this.deps.loadTenant(event.tenantId);
    const minutes = tenant.settings.humanTakeoverMinutes ?? this.config.humanTakeoverMinutes;
    const state = await this.deps.state.load(event);
    const expiresAt = this.historyExpiry(now);
    const items: HistoryItem[] = [];
    const dropped = openTurn(state);
    if (dropped) {
      // Kept in history unanswered, with its audit (outcome `paused`).
      await this.deps.memory.putTurn(this.unansweredTurn(state, dropped, now, 'paused', expiresAt));
    }
    const at = activity.timestamp > 0 ? epochMs(activity.timestamp, now) : now;
    items.push({
      conversationKey: event.conversationKey,
      sk: historySk(at, activity.messageId),
      role: 'human',
      text: HUMAN_HISTORY_TEXT,
      at,
      messageId: activity.messageId,
      expiresAt,
    });
    await this.deps.memory.putHistory(items);
    const pausedUntil = Math.max(state.pausedUntil ?? 0, now + minutes * 60_000);
    await this.deps.state.save({ ...dropTurn(state, now), pausedUntil, updatedAt: now });
    this.deps.metric('HumanTakeover', 1, { channel: event.channel });
    logger.info('Human takeover: bot paused', {
      ...this.logKeys(event),
      messageId: activity.messageId,
      pausedUntil,
      droppedTurn: dropped?.turnId,
    });
    return 'paused';
  }

  // -------------------------------------------------------------------------------------------
  // internals
  // -------------------------------------------------------------------------------------------

  private get mediaWorker(): boolean {
    return this.config.mediaWorker && this.deps.queues.enqueueMediaJobs !== undefined;
  }

  /**
   * After the turn changed: answer it at once when it is full (reason `size`: its messages or
   * bytes reached their bound, docs/conversation.md), else flush inline (debounce 0) or arm the
   * debounce tick.
   */
  private async afterChange(
    state: ConversationState,
    tenant: TenantDocument,
    timing: TurnTiming,
    now: number,
    attempt: Attempt,
    trigger: string,
    inline: AnswerReason = 'immediate',
    message?: {
      /** The turn's last message, held as its tick, came back: the turn is due. */
      readonly returning: boolean;
      /** The record handled is the turn's last message: it may be held as the tick. */
      readonly mayHold: boolean;
    },
  ): Promise<Outcome | undefined> {
    const turn = openTurn(state);
    if (!turn) return undefined;
    if (isTurnFull(turn)) {
      logger.debug('Turn full: answered now', {
        ...this.logKeys(state),
        turn: turn.turnId,
        messages: turn.messages.length,
        pendingMedia: turn.pendingMedia.length,
      });
      return this.answer(expirePendingMedia(state, 'TURN_FULL', now), tenant, 'size', attempt, trigger);
    }
    if (turn.pendingMedia.length > 0) return 'waiting-media';
    if (timing.debounceMs === 0) return this.answer(state, tenant, inline, attempt, trigger);
    if (!message) {
      await this.arm(state, 'debounce', now, timing.debounceMs);
      return undefined;
    }
    // A customer message: the next one in the batch decides, or this record becomes the tick.
    if (attempt.more) return 'deferred';
    const due = debounceDue(turn, timing);
    // A held record comes back no earlier than its delay (whole seconds, rounded up); the slack
    // covers clock differences between Lambda instances. A retry within the quiet time (a crash)
    // is not a tick: it keeps waiting.
    const isDue = now >= due.at || (message.returning && now >= due.at - RETURN_SLACK_MS);
    if (isDue && !attempt.followed) {
      if (
        message.returning &&
        attempt.mayBeCut &&
        message.mayHold &&
        attempt.hold &&
        (await attempt.hold(0))
      ) {
        return 'held';
      }
      return this.answer(state, tenant, due.reason, attempt, trigger);
    }
    const waitMs = Math.max(0, due.at - now);
    if (
      message.mayHold &&
      attempt.hold &&
      waitMs <= MAX_HOLD_MS &&
      (await attempt.hold(delaySecondsFor(waitMs)))
    ) {
      return 'held';
    }
    await this.arm(state, due.reason, now, waitMs);
    return undefined;
  }

  private async arm(state: ConversationState, reason: FlushEvent['reason'], now: number, waitMs: number) {
    const turn = state.turn;
    if (!turn) return;
    await this.deps.queues.armTick(
      {
        v: 1,
        dueAt: now + waitMs,
        event: {
          v: 1,
          type: 'flush',
          tenantId: state.tenantId,
          channel: state.channel,
          conversationId: state.conversationId,
          conversationKey: state.conversationKey,
          turnId: turn.turnId,
          version: turn.version,
          reason,
          armedAt: now,
        },
      },
      delaySecondsFor(waitMs),
    );
  }

  private async sendMediaJobs(
    event: MessageEvent,
    tenant: TenantDocument,
    turn: Turn,
    messageId: string,
    now: number,
  ): Promise<void> {
    const enqueue = this.deps.queues.enqueueMediaJobs;
    if (!this.mediaWorker || !enqueue) return;
    const id = storedMessageId(messageId);
    const pending = turn.pendingMedia.filter((m) => m.messageId === id);
    if (pending.length === 0) return;
    const jobs: MediaJob[] = pending.map((m) => ({
      v: 1,
      tenantId: event.tenantId,
      channel: event.channel,
      conversationId: event.conversationId,
      conversationKey: event.conversationKey,
      turnId: turn.turnId,
      messageId,
      pageId: event.message.pageId,
      attachmentIndex: m.attachmentIndex,
      attachment: event.message.attachments[m.attachmentIndex]!,
      language: tenant.settings.language ?? DEFAULT_SETTINGS.language,
      enqueuedAt: now,
    }));
    await enqueue(jobs);
  }

  /**
   * Decides, stores and queues the reply of the open turn of `state`. Writes, in this order:
   * the turn's history item (customer messages, reply parts, audit; with the profile, facts and
   * summary the turn changed) in one batch, then the state (`open → answered`, conditional on
   * `rev`), then the parts on outbound.fifo. The state write is the commit point (an outbox):
   * before it a retry redoes everything and rewrites the same history item; after it only a
   * redelivery of `trigger`, the event answering the turn, queues the stored parts again.
   */
  private async answer(
    state: ConversationState,
    tenant: TenantDocument,
    reason: AnswerReason,
    attempt: Attempt,
    trigger: string,
  ): Promise<Outcome> {
    const turn = openTurn(state);
    if (!turn) return 'stale';
    const keys = { ...this.logKeys(state), turn: turn.turnId };
    const typing = this.startTyping(state, tenant, turn);
    try {
      const now = this.deps.now();
      const memory = await this.deps.memory.load({
        conversationKey: state.conversationKey,
        tenantId: state.tenantId,
        channel: state.channel,
        customerId: state.customer?.id,
        historyLimit: this.config.historyLimit,
        // Summaries are written only by a turn, which resets `turnsSinceSummary` while
        // `turnCount` counts on: equal counts mean none was ever stored, so their query is
        // skipped. (The state expires after the summaries: same retention, later writes.)
        summaries: hasSummaries(state),
        now,
      });
      const wantSummary =
        this.config.summaryEveryTurns > 0 && state.turnsSinceSummary + 1 >= this.config.summaryEveryTurns;
      const context: TurnContext = {
        tenantId: state.tenantId,
        channel: state.channel,
        conversationId: state.conversationId,
        conversationKey: state.conversationKey,
        turnId: turn.turnId,
        settings: {
          ...(tenant.settings.persona !== undefined ? { persona: tenant.settings.persona } : {}),
          language: tenant.settings.language ?? DEFAULT_SETTINGS.language,
          bannedPhrases: tenant.settings.bannedPhrases ?? DEFAULT_SETTINGS.bannedPhrases,
          fallbackReply: tenant.settings.fallbackReply ?? DEFAULT_SETTINGS.fallbackReply,
          ...(tenant.settings.welcomeReply !== undefined
            ? { welcomeReply: tenant.settings.welcomeReply }
            : {}),
        },
        customer: {
          id: state.customer?.id ?? memory.profile.id ?? '',
          ...((state.customer?.name ?? memory.profile.name) !== undefined
            ? { name: state.customer?.name ?? memory.profile.name }
            : {}),
          ...((state.customer?.phone ?? memory.profile.phone) !== undefined
            ? { phone: state.customer?.phone ?? memory.profile.phone }
            : {}),
        },
        facts: memory.facts,
        history: memory.history,
        summaries: memory.summaries,
        messages: orderedTurnMessages(turn.messages).map(toTurnMessage),
        maxReplyLength: this.deps.reply.maxReplyLength(state.channel),
        ...(wantSummary ? { wantSummary: true } : {}),
      };
      // The repeat gate compares with the bot's previous reply: the last bot entry of the history
      // just loaded (state items of earlier versions kept a copy in `lastBotReply`).
      const previousBotReply =
        [...memory.history].reverse().find((h) => h.role === 'bot')?.text ?? state.lastBotReply;

      let plan: ReplyPlanLike;
      let fellBack = false;
      const started = this.deps.now();
      let latencyMs = 0;
      try {
        plan = await this.deps.reply.produce(context, {
          ...(previousBotReply !== undefined
            ? { previousBotReply: boundText(previousBotReply, BOUNDS.lastBotReply) }
            : {}),
          ...(attempt.deadline !== undefined
            ? { signal: AbortSignal.timeout(Math.max(1, attempt.deadline - this.deps.now())) }
            : {}),
        });
        latencyMs = this.deps.now() - started;
        this.deps.metric('ResponderLatency', latencyMs, { responder: this.deps.reply.responderName });
      } catch (err) {
        latencyMs = this.deps.now() - started;
        this.deps.metric('ResponderFailed', 1, { responder: this.deps.reply.responderName });
        const last = attempt.receiveCount >= this.config.maxReceiveCount;
        logger.error('Responder failed', {
          ...keys,
          attempt: attempt.receiveCount,
          last,
          error: err as Error,
        });
        if (!last) throw err;
        this.deps.metric('TurnsFailed', 1, { channel: state.channel });
        const fallback = tenant.settings.fallbackReply ?? DEFAULT_SETTINGS.fallbackReply;
        const wanted = tenant.settings.sendFallbackOnFailure ?? this.config.sendFallbackOnFailure;
        if (!wanted || fallback.trim() === '') {
          await this.failTurn(state, turn, reason, latencyMs);
          throw new TurnFailedError(err);
        }
        plan = {
          parts: [{ text: fallback }],
          handoff: false,
          outcome: 'fallback',
          gates: [{ gate: 'responder', outcome: 'fallback', reason: 'RESPONDER_FAILED' }],
        };
        fellBack = true;
      }

      const answeredAt = this.deps.now();
      const expiresAt = this.historyExpiry(answeredAt);
      // Bounded whatever the reply port returns (the length gate already keeps within these).
      const parts = plan.parts
        .map(boundReplyPart)
        .filter((p) => p.text !== undefined || p.imageUrl !== undefined)
        .slice(0, BOUNDS.replyParts);
      const sk = historySk(turn.firstReceivedAt, turn.turnId);
      const last = turn.messages[turn.messages.length - 1];
      const target: ReplyTarget = {
        surface: last?.surface ?? 'inbox',
        ...(last?.surface === 'comment' ? { replyToMessageId: last.commentId ?? last.messageId } : {}),
        ...(last?.businessConnectionId ? { businessConnectionId: last.businessConnectionId } : {}),
      };
      const reply: StoredReply = {
        partCount: parts.length,
        answeredAt,
        handoff: plan.handoff,
        outcome: plan.outcome,
        reason,
        trigger,
        target,
      };

      // The history item first (idempotent: keyed by the turn): a crash before the state write
      // below re-runs this flush and overwrites it. The profile is written only when it changed
      // (or its retention is running out), not on every turn.
      const summaryText = wantSummary ? plan.memory?.summary : undefined;
      const customerId = state.customer?.id;
      const profile =
        customerId !== undefined && state.customer
          ? { ...memory.profile, ...state.customer, id: customerId }
          : undefined;
      // A profile with nothing but the id (the key already holds it) is not worth a write.
      const profileChanged =
        profile !== undefined &&
        (profile.name !== undefined || profile.phone !== undefined) &&
        (profile.id !== memory.profile.id ||
          profile.name !== memory.profile.name ||
          profile.phone !== memory.profile.phone ||
          memory.profileExpiresAt === undefined ||
          memory.profileExpiresAt - answeredAt / 1000 < PROFILE_REFRESH_SECONDS);
      const item: TurnItem = {
        ...this.turnAudit(turn, answeredAt, reason, expiresAt),
        reply: { at: answeredAt, parts },
        responder: {
          name: this.deps.reply.responderName,
          latencyMs,
          ...(plan.diagnostics !== undefined ? { diagnostics: plan.diagnostics } : {}),
        },
        gates: plan.gates ?? [],
        outcome: plan.outcome,
      };
      await this.deps.memory.putTurn({
        conversationKey: state.conversationKey,
        sk,
        item,
        tenantId: state.tenantId,
        channel: state.channel,
        customerId,
        ...(profile !== undefined && profileChanged ? { profile } : {}),
        ...(plan.memory?.facts !== undefined ? { facts: plan.memory.facts } : {}),
        ...(summaryText !== undefined && summaryText.trim() !== ''
          ? { summary: { at: turn.openedAt, text: summaryText, expiresAt } }
          : {}),
        now: answeredAt,
      });

      const takeover = tenant.settings.humanTakeoverMinutes ?? this.config.humanTakeoverMinutes;
      const { lastBotReply: _previous, ...rest } = state;
      // The state keeps no text of the turn: its messages and reply are in the history item.
      const answered = await this.deps.state.save({
        ...rest,
        turn: { ...turn, status: 'answered', messages: [], pendingMedia: [], reply },
        turnCount: state.turnCount + 1,
        turnsSinceSummary: summaryText !== undefined ? 0 : state.turnsSinceSummary + 1,
        ...(plan.handoff
          ? { pausedUntil: Math.max(state.pausedUntil ?? 0, answeredAt + takeover * 60_000) }
          : {}),
        updatedAt: answeredAt,
      });
      this.deps.metric('TurnsFlushed', 1, { channel: state.channel });
      this.deps.metric('MessagesPerTurn', turn.messages.length, { channel: state.channel });
      if (plan.handoff) this.deps.metric('HumanTakeover', 1, { channel: state.channel });
      // The one INFO line of a turn.
      logger.summary('Turn answered', {
        tenant: keys.tenant,
        channel: keys.channel,
        conversation: keys.conversation,
        messages: turn.messages.length,
        ms: latencyMs,
        // Only when not the common case (debounce, one part, ok); the audit trail has every turn's.
        ...(reason !== 'debounce' ? { reason } : {}),
        ...(parts.length !== 1 ? { parts: parts.length } : {}),
        ...(plan.outcome !== 'ok' ? { outcome: plan.outcome } : {}),
        ...(plan.handoff ? { handoff: true } : {}),
      });
      await this.enqueue(answered, parts);
      return fellBack ? 'fallback-sent' : 'answered';
    } finally {
      await typing;
    }
  }

  /**
   * Re-queues the stored reply of an `answered` turn (a redelivery of the event that answered
   * it): the parts are read back from the turn's history item and queued with the same reply ids.
   */
  private async queueReply(state: ConversationState): Promise<ConversationState> {
    const turn = state.turn;
    if (turn?.status !== 'answered' || !turn.reply) return state;
    const reply = turn.reply;
    let parts: readonly StoredReplyPart[] | undefined = reply.parts;
    if (parts === undefined) {
      const item = await this.deps.memory.getTurn(
        state.conversationKey,
        reply.historySk ?? turnHistorySk(turn),
      );
      parts = item?.reply?.parts;
    }
    if (parts === undefined) {
      logger.warn('Answered turn without its history item: reply not re-queued', {
        ...this.logKeys(state),
        turn: turn.turnId,
      });
      return state;
    }
    logger.info('Re-queuing the reply of an answered turn', { ...this.logKeys(state), turn: turn.turnId });
    await this.enqueue(state, parts);
    return state;
  }

  /** Queues the parts of the answered turn of `state` on outbound.fifo (dedup id = reply id). */
  private async enqueue(state: ConversationState, parts: readonly StoredReplyPart[]): Promise<void> {
    const turn = state.turn;
    const reply = turn?.reply;
    if (!turn || !reply || parts.length === 0) return;
    const target: ReplyTarget = reply.target ?? { surface: 'inbox' };
    const outbound: OutboundPart[] = parts.map((part, i) => ({
      v: 1,
      replyId: replyId(turn.turnId, i),
      turnId: turn.turnId,
      partIndex: i,
      partCount: parts.length,
      tenantId: state.tenantId,
      channel: state.channel,
      conversationId: state.conversationId,
      conversationKey: state.conversationKey,
      pageId: state.pageId ?? '',
      recipientId: state.customer?.id ?? '',
      surface: target.surface,
      ...(target.replyToMessageId !== undefined ? { replyToMessageId: target.replyToMessageId } : {}),
      ...(target.businessConnectionId !== undefined
        ? { businessConnectionId: target.businessConnectionId }
        : {}),
      ...(part.text !== undefined ? { text: part.text } : {}),
      ...(part.imageUrl !== undefined ? { imageUrl: part.imageUrl } : {}),
      ...(part.quickReplies !== undefined ? { quickReplies: [...part.quickReplies] } : {}),
      ...(part.buttons !== undefined ? { buttons: [...part.buttons] } : {}),
      customerLastMessageAt: state.customerLastMessageAt ?? turn.lastMessageAt,
      receivedAt: turn.firstReceivedAt,
      createdAt: reply.answeredAt,
      historySk: reply.historySks?.[i] ?? reply.historySk ?? turnHistorySk(turn),
    }));
    await this.deps.queues.enqueueOutbound(outbound);
  }

  /** The audit fields of a turn's history item (messages, flush, media). */
  private turnAudit(
    turn: Turn,
    flushedAt: number,
    reason: AnswerReason,
    expiresAt: number,
  ): Omit<TurnItem, 'gates' | 'outcome'> {
    const media: AuditMedia[] = [];
    for (const m of turn.messages) {
      for (const r of m.mediaResults ?? []) {
        media.push({
          messageId: m.messageId,
          result: r.result,
          ...(r.code !== undefined ? { note: r.code } : {}),
          ...(r.latencyMs !== undefined ? { latencyMs: r.latencyMs } : {}),
        });
      }
    }
    return {
      turnId: turn.turnId,
      at: turn.firstReceivedAt,
      messages: storedTurnMessages(turn.messages, (t) => boundText(t, BOUNDS.historyText)),
      flushedAt,
      flushReason: FLUSH_REASONS[reason] ?? 'quiet',
      ...(media.length > 0 ? { media } : {}),
      expiresAt,
    };
  }

  /** A turn closed without an answer (`paused`: a human took over; `failed`), as its history item. */
  private unansweredTurn(
    state: ConversationState,
    turn: Turn,
    now: number,
    outcome: 'paused' | 'failed',
    expiresAt: number,
    extra: Partial<TurnItem> = {},
  ): Parameters<ActorDeps['memory']['putTurn']>[0] {
    const sk = historySk(turn.firstReceivedAt, turn.turnId);
    return {
      conversationKey: state.conversationKey,
      sk,
      item: { ...this.turnAudit(turn, now, 'debounce', expiresAt), gates: [], outcome, ...extra },
      tenantId: state.tenantId,
      channel: state.channel,
      customerId: state.customer?.id,
      now,
    };
  }

  /** The last attempt failed without a fallback: close the turn, keep its messages in history. */
  private async failTurn(
    state: ConversationState,
    turn: Turn,
    reason: AnswerReason,
    latencyMs: number,
  ): Promise<void> {
    const now = this.deps.now();
    try {
      const expiresAt = this.historyExpiry(now);
      const input = this.unansweredTurn(state, turn, now, 'failed', expiresAt, {
        flushReason: FLUSH_REASONS[reason] ?? 'quiet',
        responder: { name: this.deps.reply.responderName, latencyMs },
      });
      await this.deps.memory.putTurn(input);
      await this.deps.state.save({
        ...state,
        turn: { ...turn, status: 'failed', messages: [], pendingMedia: [] },
        updatedAt: now,
      });
    } catch (err) {
      logger.error('Could not mark the failed turn', { ...this.logKeys(state), error: err as Error });
    }
  }

  private startTyping(state: ConversationState, tenant: TenantDocument, turn: Turn): Promise<void> {
    const typing = this.deps.typing;
    if (!typing || !TYPING_CHANNELS.has(state.channel) || !state.pageId || !state.customer?.id) {
      return Promise.resolve();
    }
    const last = turn.messages[turn.messages.length - 1];
    if (last?.surface === 'comment') return Promise.resolve();
    const target: SendTarget = {
      tenant,
      channel: state.channel,
      pageId: state.pageId,
      conversationId: state.conversationId,
      recipientId: state.customer.id,
      surface: 'inbox',
    };
    const ms = this.config.typingTimeoutMs;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve();
      }, ms);
    });
    const call = Promise.resolve()
      .then(() => typing(target, controller.signal))
      .catch((err: unknown) => {
        logger.debug('Typing indicator failed (ignored)', { ...this.logKeys(state), error: err as Error });
      });
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * True when the history holds `event`'s message. The window: history keys carry receive times
   * (a turn item's is its first message's), so the original copy's key lies between the message's
   * platform time less {@link HISTORY_LOOKBACK_MS} (the turn it joined opened earlier, and clocks
   * differ) and now (it was received before this copy).
   */
  private inHistory(event: MessageEvent, now: number): Promise<boolean> {
    return this.deps.memory.hasCustomerMessage({
      conversationKey: event.conversationKey,
      messageId: storedMessageId(event.message.messageId),
      from: Math.max(0, messageTime(event.message, now) - HISTORY_LOOKBACK_MS),
      to: now,
    });
  }

  private customerHistory(
    conversationKey: string,
    message: { messageId: string; receivedAt: number; text?: string },
    now: number,
  ): HistoryItem {
    const at = epochMs(message.receivedAt, now);
    return {
      conversationKey,
      sk: historySk(at, message.messageId),
      role: 'customer',
      text: boundText(message.text ?? '', BOUNDS.messageText),
      at,
      messageId: storedMessageId(message.messageId),
      expiresAt: this.historyExpiry(now),
    };
  }

  private historyExpiry(now: number): number {
    return Math.floor(now / 1000) + this.config.historyTtlDays * 86_400;
  }

  private logKeys(ref: { tenantId: string; channel: string; conversationKey: string }) {
    return { tenant: ref.tenantId, channel: ref.channel, conversation: ref.conversationKey };
  }
}

/** Whether an episode summary was ever stored for the conversation (see `answer`). */
export function hasSummaries(state: Pick<ConversationState, 'turnCount' | 'turnsSinceSummary'>): boolean {
  return state.turnsSinceSummary !== state.turnCount;
}

/**
 * How long before a message's platform time the history item holding it may be keyed: the turn
 * it joined opened before it (by the debounce, `maxTurnWaitMs` and media waits, normally seconds)
 * and the platform's clock is not ours. An hour covers both with room to spare.
 */
export const HISTORY_LOOKBACK_MS = 60 * 60_000;

/** A stored profile is rewritten when less than this is left of its retention (at most monthly). */
const PROFILE_REFRESH_SECONDS = 30 * 86_400;

const QUICK_REPLIES_MAX = 13;
const BUTTONS_MAX = 3;
const RICH_TITLE_BYTES = 256;
const RICH_VALUE_BYTES = 2048;

/** A reply message within the stored bounds: text, image URL, quick replies and buttons. */
function boundReplyPart(p: ReplyMessage): StoredReplyPart {
  const imageUrl = keptOrDropped(p.imageUrl, BOUNDS.replyImageUrl);
  const quickReplies = (p.quickReplies ?? [])
    .filter((q) => q.payload === undefined || utf8Bytes(q.payload) <= RICH_VALUE_BYTES)
    .slice(0, QUICK_REPLIES_MAX)
    .map((q) => ({
      title: boundText(q.title, RICH_TITLE_BYTES),
      ...(q.payload !== undefined ? { payload: q.payload } : {}),
    }));
  const buttons = (p.buttons ?? [])
    .filter((b) => utf8Bytes(b.type === 'url' ? b.url : b.payload) <= RICH_VALUE_BYTES)
    .slice(0, BUTTONS_MAX)
    .map((b) => ({ ...b, title: boundText(b.title, RICH_TITLE_BYTES) }));
  return {
    ...(p.text !== undefined && p.text !== '' ? { text: boundText(p.text, BOUNDS.replyText) } : {}),
    ...(imageUrl !== undefined && imageUrl !== '' ? { imageUrl } : {}),
    ...(quickReplies.length > 0 ? { quickReplies } : {}),
    ...(buttons.length > 0 ? { buttons } : {}),
  };
}

/** The last attempt of a turn failed and no fallback was sent: the record goes to the DLQ (already counted). */
export class TurnFailedError extends ChatRelayError {
  constructor(cause: unknown) {
    super('TURN_FAILED', 'The turn failed on its last attempt and goes to the dead-letter queue.', { cause });
  }
}

function toTurnMessage(m: Turn['messages'][number]): TurnMessage {
  return {
    messageId: m.messageId,
    kind: m.kind,
    ...(m.text !== undefined ? { text: m.text } : {}),
    timestamp: m.timestamp,
    attachments: m.attachments,
    ...(m.transcript !== undefined ? { transcript: m.transcript } : {}),
    ...(m.keyframes !== undefined ? { keyframes: m.keyframes } : {}),
    ...(m.mediaNote !== undefined ? { mediaNote: m.mediaNote } : {}),
    ...(m.postback !== undefined ? { postback: turnPostback(m.postback, m) } : {}),
  };
}

/** How early a held record may come back and still be the tick (clock differences). */
const RETURN_SLACK_MS = 1000;

/**
 * The longest wait a record is held for as the tick. Everything else of the conversation waits
 * behind a held record, so longer debounces (a tenant's minutes-long one, waits past SQS's
 * 900 s) go through the timer queue and keep taking messages in as they come.
 */
export const MAX_HOLD_MS = 15_000;

/** True when `messageId` is the last message of the open `turn`. */
function isLastMessage(turn: Turn | undefined, messageId: string): boolean {
  return turn !== undefined && turn.messages.at(-1)?.messageId === storedMessageId(messageId);
}

/**
 * When the open turn is due: quiet for one debounce since its last message was taken in (as
 * the timer ticks always counted: a message that waited behind a held record starts its wait
 * when it is taken in, so a burst slower than the debounce still merges), or its cap reached.
 */
function debounceDue(
  turn: Turn,
  timing: TurnTiming,
): { readonly at: number; readonly reason: FlushEvent['reason'] } {
  const quietAt = turn.lastMessageAt + timing.debounceMs;
  const capAt = timing.maxTurnWaitMs > 0 ? turn.openedAt + timing.maxTurnWaitMs : Number.POSITIVE_INFINITY;
  return capAt < quietAt ? { at: capAt, reason: 'max-wait' } : { at: quietAt, reason: 'debounce' };
}
