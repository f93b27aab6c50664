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
import { BOUNDS, boundText, epochMs, keptOrDropped, storedMessageId } from './bounds.js';
import type { ActorConfig } from './config.js';
import { timingFor } from './config.js';
import { delaySecondsFor, evaluateFlush, type TurnTiming } from './debounce.js';
import type { ActorDeps, HistoryItem, ReplyPlanLike } from './ports.js';
import {
  appendMessage,
  attachMedia,
  type ConversationState,
  dropTurn,
  expirePendingMedia,
  hasSeen,
  holdsMessage,
  isPaused,
  isTurnFull,
  openTurn,
  orderedTurnMessages,
  type StoredReply,
  type Turn,
} from './turn.js';

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
  | 'fallback-sent';

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

    if (isPaused(state, now)) {
      // A human has the conversation: record the message, do not answer it.
      await this.deps.memory.putHistory([this.customerHistory(event.conversationKey, message, now)]);
      this.deps.metric('MessagesWhilePaused', 1, { channel: event.channel });
      return 'paused-recorded';
    }

    if (hasSeen(state, message.messageId)) {
      // A retry of a message whose state write succeeded before the invocation died: redo the
      // effects that follow the write (they are idempotent), never the append.
      const mine = holdsMessage(state.turn, message.messageId);
      if (mine && state.turn?.status === 'answered') {
        // Inline flush (debounce 0) died after deciding the reply: queue it now.
        await this.queueReply(state);
        return 'duplicate';
      }
      const turn = openTurn(state);
      if (!mine || !turn) return 'duplicate';
      if (!isTurnFull(turn)) {
        await this.sendMediaJobs(event, tenant, turn, message.messageId, now);
        const id = storedMessageId(message.messageId);
        if (turn.pendingMedia.some((m) => m.messageId === id)) {
          await this.arm(state, 'media-timeout', now, this.config.mediaTimeoutMs);
        }
      }
      await this.afterChange(state, tenant, timing, now, attempt);
      return 'duplicate';
    }

    let current = state;
    if (state.turn?.status === 'answered') {
      // The previous turn's flush died after deciding its reply (and its record is gone, or
      // this would not run before it): queue that reply first, then start the new turn.
      logger.warn('Queuing a decided reply left behind by a failed flush', {
        ...this.logKeys(event),
        turn: state.turn.turnId,
      });
      current = await this.queueReply(state);
    }
    const appended = appendMessage(current, message, now, { mediaWorker: this.mediaWorker });
    const saved = await this.deps.state.save(appended.state);
    // A full turn is answered at once (afterChange): its media would only come back too late.
    if (!isTurnFull(appended.turn)) {
      await this.sendMediaJobs(event, tenant, appended.turn, message.messageId, now);
      if (appended.media.length > 0) {
        await this.arm(saved, 'media-timeout', now, this.config.mediaTimeoutMs);
      }
    }
    const outcome = await this.afterChange(saved, tenant, timing, now, attempt);
    return outcome ?? 'appended';
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
    const decision = evaluateFlush(state, event, now, timing);
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
        return this.answer(current, tenant, decision.reason, attempt);
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
    if (!next) {
      logger.info('Late or unknown media result ignored', {
        ...this.logKeys(event),
        turn: event.turnId,
        messageId: event.messageId,
      });
      return 'stale';
    }
    const tenant = await this.deps.loadTenant(event.tenantId);
    const timing = timingFor(this.config, tenant.settings);
    const saved = await this.deps.state.save(next);
    return (await this.afterChange(saved, tenant, timing, now, attempt)) ?? 'media-attached';
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
      if (isPaused(state, now)) await this.deps.state.save({ ...state, pausedUntil: now, updatedAt: now });
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
    if (dropped) items.push(...this.turnHistory(event.conversationKey, dropped, expiresAt));
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
  ): Promise<Outcome | undefined> {
    const turn = openTurn(state);
    if (!turn) return undefined;
    if (isTurnFull(turn)) {
      logger.info('Turn full: answered now', {
        ...this.logKeys(state),
        turn: turn.turnId,
        messages: turn.messages.length,
        pendingMedia: turn.pendingMedia.length,
      });
      return this.answer(expirePendingMedia(state, 'TURN_FULL', now), tenant, 'size', attempt);
    }
    if (turn.pendingMedia.length > 0) return 'waiting-media';
    if (timing.debounceMs === 0) return this.answer(state, tenant, 'debounce', attempt);
    await this.arm(state, 'debounce', now, timing.debounceMs);
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

  /** Decides, stores and queues the reply of the open turn of `state`. */
  private async answer(
    state: ConversationState,
    tenant: TenantDocument,
    reason: FlushEvent['reason'] | 'size',
    attempt: Attempt,
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

      let plan: ReplyPlanLike;
      let fellBack = false;
      const started = this.deps.now();
      try {
        plan = await this.deps.reply.produce(context, {
          ...(state.lastBotReply !== undefined ? { previousBotReply: state.lastBotReply } : {}),
          ...(attempt.deadline !== undefined
            ? { signal: AbortSignal.timeout(Math.max(1, attempt.deadline - this.deps.now())) }
            : {}),
        });
        this.deps.metric('ResponderLatency', this.deps.now() - started, {
          responder: this.deps.reply.responderName,
        });
      } catch (err) {
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
          await this.failTurn(state, turn);
          throw new TurnFailedError(err);
        }
        plan = { parts: [{ text: fallback }], handoff: false, outcome: 'fallback' };
        fellBack = true;
      }

      const answeredAt = this.deps.now();
      const expiresAt = this.historyExpiry(answeredAt);
      // Bounded whatever the reply port returns (the length gate already keeps within these).
      const parts = plan.parts
        .map((p) => {
          const imageUrl = keptOrDropped(p.imageUrl, BOUNDS.replyImageUrl);
          return {
            ...(p.text !== undefined && p.text !== '' ? { text: boundText(p.text, BOUNDS.replyText) } : {}),
            ...(imageUrl !== undefined && imageUrl !== '' ? { imageUrl } : {}),
          };
        })
        .filter((p) => p.text !== undefined || p.imageUrl !== undefined)
        .slice(0, BOUNDS.replyParts);
      const reply: StoredReply = {
        parts,
        historySks: parts.map((_, i) => historySk(answeredAt + i, replyId(turn.turnId, i))),
        answeredAt,
        handoff: plan.handoff,
        outcome: plan.outcome,
        reason,
      };

      // Memory first (idempotent puts keyed by the turn): a crash before the state write below
      // re-runs this flush and overwrites the same items.
      await this.deps.memory.putHistory(this.turnHistory(state.conversationKey, turn, expiresAt));
      const summaryText = wantSummary ? plan.memory?.summary : undefined;
      const customerId = state.customer?.id;
      await this.deps.memory.putMemory({
        tenantId: state.tenantId,
        channel: state.channel,
        customerId,
        conversationKey: state.conversationKey,
        ...(customerId !== undefined && state.customer
          ? { profile: { ...memory.profile, ...state.customer, id: customerId } }
          : {}),
        ...(plan.memory?.facts !== undefined ? { facts: plan.memory.facts } : {}),
        ...(summaryText !== undefined && summaryText.trim() !== ''
          ? { summary: { at: turn.openedAt, text: summaryText, expiresAt } }
          : {}),
        now: answeredAt,
      });

      const replyText = reply.parts
        .map((p) => p.text)
        .filter((t) => t !== undefined)
        .join('\n');
      const takeover = tenant.settings.humanTakeoverMinutes ?? this.config.humanTakeoverMinutes;
      const answered = await this.deps.state.save({
        ...state,
        turn: { ...turn, status: 'answered', reply },
        ...(replyText !== '' ? { lastBotReply: boundText(replyText, BOUNDS.lastBotReply) } : {}),
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
      logger.info('Turn answered', {
        ...keys,
        reason,
        messages: turn.messages.length,
        parts: parts.length,
        outcome: plan.outcome,
        handoff: plan.handoff,
      });
      await this.queueReply(answered);
      return fellBack ? 'fallback-sent' : 'answered';
    } finally {
      await typing;
    }
  }

  /** Queues the stored reply of an `answered` turn and marks it `done`. Idempotent. */
  private async queueReply(state: ConversationState): Promise<ConversationState> {
    const turn = state.turn;
    if (turn?.status !== 'answered' || !turn.reply) return state;
    const reply = turn.reply;
    const expiresAt = this.historyExpiry(reply.answeredAt);
    const last = [...turn.messages].reverse()[0];
    const parts: OutboundPart[] = [];
    for (const [i, part] of reply.parts.entries()) {
      const id = replyId(turn.turnId, i);
      const sk = reply.historySks[i]!;
      await this.deps.memory.putHistoryIfAbsent({
        conversationKey: state.conversationKey,
        sk,
        role: 'bot',
        text: part.text ?? part.imageUrl ?? '',
        at: reply.answeredAt + i,
        replyId: id,
        status: 'pending',
        expiresAt,
      });
      parts.push({
        v: 1,
        replyId: id,
        turnId: turn.turnId,
        partIndex: i,
        partCount: reply.parts.length,
        tenantId: state.tenantId,
        channel: state.channel,
        conversationId: state.conversationId,
        conversationKey: state.conversationKey,
        pageId: state.pageId ?? '',
        recipientId: state.customer?.id ?? '',
        surface: last?.surface ?? 'inbox',
        ...(last?.surface === 'comment' ? { replyToMessageId: last.commentId ?? last.messageId } : {}),
        ...(last?.businessConnectionId ? { businessConnectionId: last.businessConnectionId } : {}),
        ...(part.text !== undefined ? { text: part.text } : {}),
        ...(part.imageUrl !== undefined ? { imageUrl: part.imageUrl } : {}),
        customerLastMessageAt: state.customerLastMessageAt ?? turn.lastMessageAt,
        receivedAt: turn.firstReceivedAt,
        createdAt: reply.answeredAt,
        historySk: sk,
      });
    }
    if (parts.length > 0) await this.deps.queues.enqueueOutbound(parts);
    return this.deps.state.save({ ...state, turn: { ...turn, status: 'done' }, updatedAt: this.deps.now() });
  }

  /** The last attempt failed without a fallback: close the turn, keep its messages in history. */
  private async failTurn(state: ConversationState, turn: Turn): Promise<void> {
    const now = this.deps.now();
    try {
      await this.deps.memory.putHistory(
        this.turnHistory(state.conversationKey, turn, this.historyExpiry(now)),
      );
      await this.deps.state.save({ ...state, turn: { ...turn, status: 'failed' }, updatedAt: now });
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

  /** History entries of a turn's customer messages (transcripts and markers stand in for media). */
  private turnHistory(conversationKey: string, turn: Turn, expiresAt: number): HistoryItem[] {
    return turn.messages.map((m) => ({
      conversationKey,
      sk: historySk(m.receivedAt, m.messageId),
      role: 'customer' as const,
      text: boundText(
        [m.text, m.transcript, m.mediaNote].filter((t) => t !== undefined && t !== '').join(' '),
        BOUNDS.historyText,
      ),
      at: m.receivedAt,
      messageId: m.messageId,
      expiresAt,
    }));
  }

  private historyExpiry(now: number): number {
    return Math.floor(now / 1000) + this.config.historyTtlDays * 86_400;
  }

  private logKeys(ref: { tenantId: string; channel: string; conversationKey: string }) {
    return { tenant: ref.tenantId, channel: ref.channel, conversation: ref.conversationKey };
  }
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
