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
  /** A location's place name (`title`) and address when the platform gives them. */
  readonly title?: string;
  readonly address?: string;
}

/** A button press or quick-reply tap the customer made. */
export interface TurnPostback {
  /** The payload the button or quick reply was sent with (`GET_STARTED` for Messenger's Get Started). */
  readonly payload: string;
  /** The label the customer saw, when the platform says. */
  readonly title?: string;
  /** `postback` (a button), `quick-reply` (a quick reply or list row), `command` (Telegram `/start`). */
  readonly source: 'postback' | 'quick-reply' | 'command';
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
  /** Set when the message is a button press or quick-reply tap. */
  readonly postback?: TurnPostback;
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
    /** The tenant's answer to Get Started (`GET_STARTED`, Telegram `/start`), sent as written. */
    readonly welcomeReply?: string;
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

/** A quick reply: a tappable suggestion that sends `payload` back as the customer's next message. */
export interface QuickReply {
  /** Label (Messenger allows 20 characters; longer labels are cut per channel). */
  readonly title: string;
  /** Sent back in the postback; defaults to the title. */
  readonly payload?: string;
}

/** A button under a message: opens a URL or sends a postback. */
export type ReplyButton =
  | { readonly type: 'url'; readonly title: string; readonly url: string }
  | { readonly type: 'postback'; readonly title: string; readonly payload: string };

/** One outbound message of a reply. */
export interface ReplyMessage {
  readonly text?: string;
  /** An image to send by URL. */
  readonly imageUrl?: string;
  /** Quick replies (at most 13). Rendered natively where the channel has them, else as numbered text. */
  readonly quickReplies?: readonly QuickReply[];
  /** Buttons (at most 3). Rendered natively where the channel has them, else as numbered text. */
  readonly buttons?: readonly ReplyButton[];
}

/** What a responder reports about how it produced a reply (kept in the turn's audit record). */
export interface ResponderDiagnostics {
  /** Knowledge passages retrieved for the turn (ids and scores, no text). */
  readonly retrieval?: {
    readonly passages: readonly { readonly id: string; readonly score: number }[];
    readonly latencyMs: number;
    /** Set when retrieval failed and the turn was answered without knowledge. */
    readonly error?: string;
  };
  /** Tool calls made for the turn (no secrets, no response bodies). */
  readonly tools?: readonly {
    readonly name: string;
    readonly ok: boolean;
    readonly status?: number;
    readonly attempts: number;
    readonly latencyMs: number;
    readonly error?: string;
  }[];
  /** Model token usage for the turn, summed over its calls. */
  readonly tokens?: {
    readonly input: number;
    readonly output: number;
    readonly cacheRead?: number;
    readonly cacheWrite?: number;
  };
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
  /** How the reply was produced, for the audit trail. Optional; ignored in what is sent. */
  readonly diagnostics?: ResponderDiagnostics;
}
