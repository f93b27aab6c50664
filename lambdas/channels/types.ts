/**
 * The channel adapter contract: every channel authenticates a webhook request over its raw
 * bytes, answers its GET handshake when it has one, and parses the body into normalised
 * events. Sending lives behind {@link ChannelSender} (lambdas/delivery).
 */
import type { QuickReply, ReplyButton } from '../contracts/responder.js';
import type { ChannelName, ParsedEvent } from '../shared/model.js';
import type { ChannelConfigs, TenantDocument } from '../shared/tenant.js';

/** A webhook request as the handler hands it to an adapter. */
export interface WebhookRequest {
  readonly method: 'GET' | 'POST';
  /** The exact bytes received (API Gateway's base64 body already decoded). */
  readonly rawBody: Buffer;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  /** Query string parameters, decoded. */
  readonly query: Readonly<Record<string, string>>;
  /** When the request arrived, epoch ms. */
  readonly receivedAt: number;
}

/** What an adapter needs to know about the tenant a request is for. */
export interface AdapterContext<C extends ChannelName> {
  readonly tenant: TenantDocument;
  readonly config: ChannelConfigs[C];
  readonly receivedAt: number;
}

/** One adapter per channel. */
export interface ChannelAdapter<C extends ChannelName = ChannelName> {
  readonly channel: C;
  /**
   * Answers the GET verification handshake, returning the body to send with 200.
   * Undefined for channels without one (the handler answers 404 to their GETs).
   * @throws HandshakeFailedError
   */
  readonly handshake?: (request: WebhookRequest, ctx: AdapterContext<C>) => string;
  /**
   * Checks the POST is authentic (signature or secret over the raw bytes, constant time).
   * @throws InvalidSignatureError
   */
  readonly authenticate: (request: WebhookRequest, ctx: AdapterContext<C>) => void;
  /**
   * Parses an authenticated body into events, one per item (Meta batches many).
   * Never throws anything but InvalidPayloadError.
   */
  readonly parse: (rawBody: Buffer, ctx: AdapterContext<C>) => ParsedEvent[];
  /**
   * Fields added to the 200 answer of a POST whose events were queued, or undefined for none.
   * Telegram executes a Bot API method given in a webhook's answer: its adapter answers a
   * button press there (`answerCallbackQuery`), at no extra call.
   */
  readonly answerFields?: (rawBody: Buffer) => Readonly<Record<string, unknown>> | undefined;
}

/** Where a reply goes. */
export interface SendTarget {
  readonly tenant: TenantDocument;
  readonly channel: ChannelName;
  readonly pageId: string;
  readonly conversationId: string;
  readonly recipientId: string;
  readonly surface: 'inbox' | 'comment';
  readonly replyToMessageId?: string;
  /** Telegram Business: the business connection to answer through. */
  readonly businessConnectionId?: string;
}

/** Quick replies and buttons sent with a text part (the last part of a reply message). */
export interface SendExtras {
  readonly quickReplies?: readonly QuickReply[];
  readonly buttons?: readonly ReplyButton[];
}

/** What a platform answered to a successful send. */
export interface SendResult {
  /** The platform's id of the message we sent (kept for the echo filter). */
  readonly platformMessageId: string;
}

/** Per-channel sender. Errors are RetryableSendError or PermanentSendError, nothing else. */
export interface ChannelSender {
  readonly channel: ChannelName;
  /**
   * Sends a text part. `extras` (quick replies, buttons) are rendered natively where the channel
   * has them and as numbered text otherwise.
   */
  sendText(target: SendTarget, text: string, signal?: AbortSignal, extras?: SendExtras): Promise<SendResult>;
  sendImage(target: SendTarget, imageUrl: string, signal?: AbortSignal): Promise<SendResult>;
  /** Best-effort typing indicator; resolves (never rejects) on channels without one. */
  typing(target: SendTarget, signal?: AbortSignal): Promise<void>;
}
