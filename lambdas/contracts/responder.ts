/**
 * The responder contract as data: a responder turns a {@link TurnContext} into a {@link Reply}.
 * The `lambda` responder sends a TurnContext as JSON to the user's function and expects a Reply
 * back, so these types are public (the `chat-relay/contracts` entry point). Plain types: no imports
 * outside the contracts.
 */
import type { ChannelName } from './channels.js';

/** What an attachment is. */
export const ATTACHMENT_KINDS = ['image', 'audio', 'video', 'file', 'sticker', 'location', 'other'] as const;
/** One of {@link ATTACHMENT_KINDS}. */
export type AttachmentKind = (typeof ATTACHMENT_KINDS)[number];

/** A file, image, sticker or location a customer sent. */
export interface Attachment {
  readonly kind: AttachmentKind;
  /** Direct URL when the platform gives one (Meta, Pancake, Zalo). */
  readonly url?: string;
  /** Platform file or media id when the platform gives one instead (Telegram file_id, WhatsApp media id). */
  readonly fileId?: string;
  readonly mimeType?: string;
  readonly name?: string;
  /** Size in bytes when the platform says. */
  readonly size?: number;
  /** True for a recorded voice note (WhatsApp `voice`, Telegram `voice`). */
  readonly voice?: boolean;
  /** Location payload for `location` attachments. */
  readonly latitude?: number;
  readonly longitude?: number;
}

/** One customer message of the turn being answered. */
export interface TurnMessage {
  readonly messageId: string;
  readonly kind: string;
  readonly text?: string;
  readonly timestamp: number;
  readonly attachments: readonly Attachment[];
  /** Transcript of a voice note or a video's audio track, when the media worker produced one. */
  readonly transcript?: string;
  /** Presigned or S3 URLs / keys of video keyframes (JPEG). */
  readonly keyframes?: readonly string[];
  /** Set when media could not be processed: `[voice note could not be transcribed]` and the like. */
  readonly mediaNote?: string;
}

/** A past message in the conversation (layer 2, short-term history). */
export interface HistoryEntry {
  readonly role: 'customer' | 'bot' | 'human';
  readonly text: string;
  readonly at: number;
}

/** Everything a responder may use to answer a turn. */
export interface TurnContext {
  readonly tenantId: string;
  readonly channel: ChannelName;
  readonly conversationId: string;
  readonly conversationKey: string;
  readonly turnId: string;
  readonly settings: {
    readonly persona?: string;
    readonly language?: string;
    readonly bannedPhrases: readonly string[];
    readonly fallbackReply: string;
  };
  /** Layer 1: who the customer is. */
  readonly customer: {
    readonly id: string;
    readonly name?: string;
    readonly phone?: string;
  };
  /** Layer 4: durable facts about the customer (name → value). */
  readonly facts: Readonly<Record<string, string>>;
  /** Layer 2: recent history, oldest first. */
  readonly history: readonly HistoryEntry[];
  /** Layer 3: episode summaries, oldest first. */
  readonly summaries: readonly string[];
  /** This turn's messages, in arrival order. */
  readonly messages: readonly TurnMessage[];
  /** Maximum characters per outbound message on this channel. */
  readonly maxReplyLength: number;
  /** Set on a regeneration: why the previous reply failed a gate. */
  readonly regenerationReason?: string;
  /**
   * Ask the responder for an episode summary (layer 3) in `Reply.memory.summary`, e.g. every K
   * turns. Responders that cannot summarise ignore it.
   */
  readonly wantSummary?: boolean;
}

/** One outbound message of a reply. */
export interface ReplyMessage {
  readonly text?: string;
  /** An image to send by URL. */
  readonly imageUrl?: string;
}

/** What a responder returns. */
export interface Reply {
  readonly messages: readonly ReplyMessage[];
  /** Ask for a human: the bot pauses this conversation and sends nothing further. */
  readonly handoff?: boolean;
  /** Memory updates: durable facts to set (layer 4) and an episode summary (layer 3). */
  readonly memory?: {
    readonly facts?: Readonly<Record<string, string>>;
    readonly summary?: string;
  };
}
