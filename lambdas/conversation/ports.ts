/**
 * The small interfaces the actor talks through. Production adapters (DynamoDB, SQS, the
 * senders, the reply pipeline) implement them in lambdas/memory and lambdas/conversation/aws.ts;
 * unit tests implement them in memory, so the actor's logic runs without emulators.
 */
import type { ChannelSender } from '../channels/types.js';
import type { AuditGate } from '../contracts/audit.js';
import type { ResponderDiagnostics } from '../contracts/responder.js';
import type { TurnItem } from '../memory/turn-item.js';
import type { Reply, ReplyMessage, TurnContext } from '../responders/types.js';
import { ChatRelayError, type ChatRelayErrorOptions } from '../shared/errors.js';
import type { MetricName } from '../shared/metrics-catalogue.js';
import type { ChannelName, MediaJob, OutboundPart } from '../shared/model.js';
import type { TenantDocument } from '../shared/tenant.js';
import type { TimerTick } from './debounce.js';
import type { ConversationState } from './turn.js';

/** Someone else wrote the conversation state since we read it: the record is retried. */
export class StateConflictError extends ChatRelayError {
  constructor(message = 'The conversation state changed concurrently.', options?: ChatRelayErrorOptions) {
    super('STATE_CONFLICT', message, options);
  }
}

/** Identifies a conversation. */
export interface ConversationRef {
  readonly tenantId: string;
  readonly channel: ChannelName;
  readonly conversationId: string;
  readonly conversationKey: string;
}

/** The conversation state item. */
export interface StateStore {
  /** The state, or a fresh one (`rev` 0) when the conversation has none yet. Strongly consistent. */
  load(ref: ConversationRef): Promise<ConversationState>;
  /**
   * Writes `state` if the stored revision is still `state.rev`; returns it with `rev + 1`.
   * @throws StateConflictError when the stored revision moved on
   */
  save(state: ConversationState): Promise<ConversationState>;
}

/** One history entry (layer 2). */
export interface HistoryItem {
  readonly conversationKey: string;
  readonly sk: string;
  readonly role: 'customer' | 'bot' | 'human';
  readonly text: string;
  readonly at: number;
  readonly messageId?: string;
  readonly replyId?: string;
  readonly status?: 'pending' | 'delivered' | 'failed' | 'expired';
  /** Epoch seconds (table TTL). */
  readonly expiresAt: number;
}

/** What a flush loads from memory. */
export interface LoadedMemory {
  readonly profile: { readonly id?: string; readonly name?: string; readonly phone?: string };
  /** The stored profile's expiry (epoch seconds), when there is one: it is rewritten before it lapses. */
  readonly profileExpiresAt?: number;
  readonly facts: Readonly<Record<string, string>>;
  /** Oldest first, expired entries already removed. */
  readonly history: readonly {
    readonly role: 'customer' | 'bot' | 'human';
    readonly text: string;
    readonly at: number;
  }[];
  /** Oldest first. */
  readonly summaries: readonly string[];
}

/** Memory layers 1–4 and the echo filter's sent ids. */
export interface MemoryStore {
  load(input: {
    readonly conversationKey: string;
    readonly tenantId: string;
    readonly channel: ChannelName;
    readonly customerId: string | undefined;
    readonly historyLimit: number;
    /**
     * Whether the conversation may have episode summaries stored (false skips their query: the
     * state knows when none was ever written). Default true.
     */
    readonly summaries?: boolean;
    readonly now: number;
  }): Promise<LoadedMemory>;
  /** Puts history entries (idempotent: the same entry has the same key). */
  putHistory(items: readonly HistoryItem[]): Promise<void>;
  /**
   * Puts a turn's history item (its customer messages, reply and audit) together with the
   * profile, facts and summary the turn changed, in one batch. Idempotent: the same turn has the
   * same key, and a retried flush rewrites it.
   */
  putTurn(input: {
    readonly conversationKey: string;
    readonly sk: string;
    readonly item: TurnItem;
    readonly tenantId: string;
    readonly channel: ChannelName;
    readonly customerId: string | undefined;
    readonly profile?: { readonly id: string; readonly name?: string; readonly phone?: string };
    readonly facts?: Readonly<Record<string, string>>;
    readonly summary?: { readonly at: number; readonly text: string; readonly expiresAt: number };
    readonly now: number;
  }): Promise<void>;
  /**
   * True when the conversation's history holds the customer message `messageId` (in its stored
   * form) in an item whose sort key time is within `from`…`to` (epoch ms, both included): a turn
   * item's messages, or the entry of a message taken in while paused. Reads that range oldest
   * first, a page at a time, and stops at the page that holds it; called only for a message that
   * may be a duplicate `seen` no longer remembers.
   */
  hasCustomerMessage(input: {
    readonly conversationKey: string;
    readonly messageId: string;
    readonly from: number;
    readonly to: number;
  }): Promise<boolean>;
  /** A turn's history item (a resume re-queues its reply parts from it); undefined when gone. */
  getTurn(conversationKey: string, sk: string): Promise<TurnItem | undefined>;
  /** Records a takeover event (a human or operator took over, or handed the conversation back). */
  putTakeover(input: {
    readonly conversationKey: string;
    readonly kind: 'start' | 'end';
    readonly by: 'human' | 'operator' | 'handover' | 'expired';
    readonly at: number;
    readonly expiresAt: number;
  }): Promise<void>;
  /** True when `platformMessageId` is one of our own sends (an echo, not a human). */
  isOurSend(tenantId: string, channel: ChannelName, platformMessageId: string, now: number): Promise<boolean>;
}

/** The queues the actor writes to. */
export interface Queues {
  /** Puts a tick on the timer queue with the given delay. */
  armTick(tick: TimerTick, delaySeconds: number): Promise<void>;
  /** Puts reply parts on outbound.fifo (group = conversation, dedup id = reply id), in order. */
  enqueueOutbound(parts: readonly OutboundPart[]): Promise<void>;
  /** Puts media jobs on the media-jobs queue. Undefined when no media worker is configured. */
  readonly enqueueMediaJobs?: (jobs: readonly MediaJob[]) => Promise<void>;
}

/** What the reply pipeline returns (lambdas/gates/pipeline.ts `ReplyPlan`). */
export interface ReplyPlanLike {
  readonly parts: readonly ReplyMessage[];
  readonly handoff: boolean;
  readonly memory?: Reply['memory'];
  readonly outcome: string;
  /** Every gate's outcome on the candidate replies, in order (audit trail), when the pipeline reports them. */
  readonly gates?: readonly AuditGate[];
  /** The responder's diagnostics of the reply that was used (retrieval, tools, tokens). */
  readonly diagnostics?: ResponderDiagnostics;
}

/** The responder behind the gates. */
export interface ReplyPort {
  /** Responder name (metric dimension). */
  readonly responderName: string;
  produce(
    context: TurnContext,
    options: { previousBotReply?: string; signal?: AbortSignal },
  ): Promise<ReplyPlanLike>;
  maxReplyLength(channel: ChannelName): number;
}

/** Metric sink (Powertools `emitMetric` in production). */
export type MetricSink = (
  name: MetricName,
  value: number,
  dimensions?: Readonly<Record<string, string>>,
) => void;

/** Everything the actor needs. */
export interface ActorDeps {
  readonly state: StateStore;
  readonly memory: MemoryStore;
  readonly queues: Queues;
  readonly reply: ReplyPort;
  readonly loadTenant: (tenantId: string) => Promise<TenantDocument>;
  /** Best-effort typing indicator; undefined disables it. */
  readonly typing?: ChannelSender['typing'];
  readonly metric: MetricSink;
  readonly now: () => number;
}
