/**
 * The audit trail of a conversation (docs/operations.md): what happened to every turn, stored by the
 * pipeline in the memory table under the conversation, with the conversation's history TTL, and
 * read by the operator console (`npm start`, `/api/…`) and `npm run ops`. Plain types: no imports
 * outside the contracts. No tokens; message text only where the history already keeps it.
 */
import type { ChannelName } from './channels.js';
import type { ResponderDiagnostics } from './responder.js';

/** Why a turn was flushed to the responder. */
export type FlushReason = 'quiet' | 'cap' | 'size' | 'media-timeout' | 'immediate' | 'media-ready';

/** One customer message as it entered a turn. */
export interface AuditMessage {
  readonly messageId: string;
  readonly kind: string;
  /** When chat-relay received it (epoch ms). */
  readonly receivedAt: number;
  /** The platform's own timestamp (epoch ms). */
  readonly timestamp: number;
}

/** One media item's processing result. */
export interface AuditMedia {
  readonly messageId: string;
  /** `transcribed`, `keyframes`, `failed`, `timeout`, `skipped`. */
  readonly result: string;
  readonly note?: string;
  readonly latencyMs?: number;
}

/** One gate's outcome on a candidate reply. */
export interface AuditGate {
  readonly gate: string;
  readonly outcome: 'pass' | 'fail' | 'regenerated' | 'fallback';
  readonly reason?: string;
}

/** Delivery state of one reply part. */
export type DeliveryState =
  | 'pending'
  | 'sending'
  | 'sent'
  | 'retrying'
  | 'failed'
  | 'ambiguous'
  | 'dead-lettered';

/** One reply part's delivery. */
export interface AuditDelivery {
  readonly replyId: string;
  readonly part: number;
  readonly state: DeliveryState;
  /** The platform's id of the sent message. */
  readonly platformMessageId?: string;
  /** Real send attempts (deferrals not counted). */
  readonly attempts: number;
  /** Codes of retried failures, oldest first (`THROTTLED`, `TIMEOUT`, `HTTP_500`…). */
  readonly retryCodes: readonly string[];
  /** The permanent failure's code (`WINDOW_EXPIRED`, `TOKEN_INVALID`…). */
  readonly permanentCode?: string;
  /** Last change, epoch ms. */
  readonly at: number;
}

/** One turn, from its first message to its last reply part. */
export interface AuditTurn {
  readonly turnId: string;
  readonly messages: readonly AuditMessage[];
  readonly flushedAt: number;
  readonly flushReason: FlushReason;
  readonly media?: readonly AuditMedia[];
  readonly responder?: {
    readonly name: string;
    readonly latencyMs: number;
    readonly diagnostics?: ResponderDiagnostics;
  };
  readonly gates: readonly AuditGate[];
  /** `answered`, `handoff`, `fallback`, `paused` (a human had the conversation), `failed`. */
  readonly outcome: string;
  readonly deliveries: readonly AuditDelivery[];
}

/** A human or operator taking the conversation over, or handing it back. */
export interface AuditTakeover {
  readonly kind: 'start' | 'end';
  readonly at: number;
  /** `human` (a reply from the platform inbox), `operator` (console or `npm run ops`), `handover` (Meta thread control), `expired`. */
  readonly by: 'human' | 'operator' | 'handover' | 'expired';
}

/** A conversation as the console lists it. */
export interface ConversationSummary {
  readonly tenantId: string;
  readonly channel: ChannelName;
  readonly conversationId: string;
  readonly lastActivityAt: number;
  /** The last message's text (customer or bot), cut to 200 characters, when history keeps it. */
  readonly lastMessage?: string;
  readonly paused: boolean;
  readonly pausedUntil?: number;
}

/** A conversation's full trail. */
export interface ConversationTrail extends ConversationSummary {
  /** Oldest first. */
  readonly turns: readonly AuditTurn[];
  readonly takeovers: readonly AuditTakeover[];
}
