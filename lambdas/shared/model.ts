/**
 * The message model shared by every part of chat-relay: the normalised message the channel
 * adapters produce, the events on `inbound.fifo`, and the outbound reply parts on `outbound.fifo`.
 * Queue payloads are validated with the zod schemas here on the way in.
 */
// Namespace import: lets esbuild drop the unused parts of zod (its locales alone are ~250 KB minified).
import * as z from 'zod';

import { ATTACHMENT_KINDS, CHANNELS } from '../contracts/index.js';

// Channel names and attachment kinds live in the contracts (shared with lib/); re-exported here.
export {
  ATTACHMENT_KINDS,
  type AttachmentKind,
  CHANNELS,
  type ChannelName,
  isChannelName,
} from '../contracts/index.js';
export const channelSchema = z.enum(CHANNELS);

/** What a customer message carries. */
export const MESSAGE_KINDS = [
  'text',
  'image',
  'audio',
  'video',
  'file',
  'sticker',
  'location',
  'postback',
  'other',
] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

export const attachmentSchema = z.object({
  kind: z.enum(ATTACHMENT_KINDS),
  /** Direct URL when the platform gives one (Meta, Pancake, Zalo). */
  url: z.string().optional(),
  /** Platform file or media id when the platform gives one instead (Telegram file_id, WhatsApp media id). */
  fileId: z.string().optional(),
  mimeType: z.string().optional(),
  name: z.string().optional(),
  /** Size in bytes when the platform says. */
  size: z.number().optional(),
  /** True for a recorded voice note (WhatsApp `voice`, Telegram `voice`). */
  voice: z.boolean().optional(),
  /** Location payload for `location` attachments. */
  latitude: z.number().optional(),
  longitude: z.number().optional(),
  /** A location's place name and address when the platform gives them. */
  title: z.string().optional(),
  address: z.string().optional(),
});
export type Attachment = z.infer<typeof attachmentSchema>;

export const customerSchema = z.object({
  id: z.string().min(1),
  name: z.string().optional(),
  phone: z.string().optional(),
});
export type Customer = z.infer<typeof customerSchema>;

/** A customer message, normalised across channels. */
export const normalisedMessageSchema = z.object({
  tenantId: z.string().min(1),
  channel: channelSchema,
  /** Per-channel conversation id (DESIGN §2). */
  conversationId: z.string().min(1),
  /** `{tenantId}#{channel}#{conversationId}`. */
  conversationKey: z.string().min(1),
  /** The platform's message id (Pancake message id, Meta mid, wamid, Telegram update_id, Zalo msg_id). */
  messageId: z.string().min(1),
  /** The page / account / phone number / bot / OA that received the message. */
  pageId: z.string().min(1),
  customer: customerSchema,
  /** Platform timestamp, epoch milliseconds. */
  timestamp: z.number(),
  /** When our webhook received it, epoch milliseconds. */
  receivedAt: z.number(),
  kind: z.enum(MESSAGE_KINDS),
  text: z.string().optional(),
  attachments: z.array(attachmentSchema),
  /** `comment` for public comments (Pancake COMMENT, Instagram comments), else `inbox`. */
  surface: z.enum(['inbox', 'comment']),
  /** For comments: the comment (message) id a reply must answer, and the post it belongs to. */
  commentId: z.string().optional(),
  postId: z.string().optional(),
  /** Postback payload for `postback` messages. */
  postback: z.string().optional(),
  /** What sent the postback: a button, a quick reply (or list row), a command (Telegram `/start`). */
  postbackSource: z.enum(['postback', 'quick-reply', 'command']).optional(),
  /** Telegram Business: the `business_connection_id` a reply must be sent through. */
  businessConnectionId: z.string().optional(),
});
export type NormalisedMessage = z.infer<typeof normalisedMessageSchema>;

/** A human agent replied from the platform's own inbox: pause the bot for this conversation. */
export const humanActivitySchema = z.object({
  tenantId: z.string().min(1),
  channel: channelSchema,
  conversationId: z.string().min(1),
  conversationKey: z.string().min(1),
  /** The platform id of the agent's message (checked against our sent ids: our own sends are not humans). */
  messageId: z.string().min(1),
  pageId: z.string().min(1),
  /** The agent's id when the platform says (Pancake admin_id, Meta app_id of the page inbox). */
  agentId: z.string().optional(),
  /**
   * `resume`: the thread was handed back to the bot (Meta handover `pass_thread_control` to our
   * app): lift the pause. Absent or `pause`: a human is active, pause the bot.
   */
  action: z.enum(['pause', 'resume']).optional(),
  timestamp: z.number(),
  receivedAt: z.number(),
});
export type HumanActivity = z.infer<typeof humanActivitySchema>;

/**
 * Why an acknowledged webhook event was not acted on. `oversized`: an id needed to answer is
 * longer than the channels' bound, or the event stays too large after bounding (docs/channels.md).
 * `comments-off`: a Messenger or Instagram comment for a tenant whose `settings.comments` is `ignore`.
 */
export const IGNORE_REASONS = [
  'echo',
  'receipt',
  'reaction',
  'non-message',
  'unsupported',
  'not-subscribed-page',
  'oversized',
  'comments-off',
] as const;
export type IgnoreReason = (typeof IGNORE_REASONS)[number];

/** What a channel adapter makes of one item of a webhook body. */
export type ParsedEvent =
  | { readonly type: 'message'; readonly message: NormalisedMessage }
  | { readonly type: 'human-active'; readonly activity: HumanActivity }
  | { readonly type: 'ignored'; readonly reason: IgnoreReason; readonly detail?: string };

// ---------------------------------------------------------------------------------------------
// Events on inbound.fifo (one typed schema, validated by the conversation Lambda).
// ---------------------------------------------------------------------------------------------

const envelope = {
  /** Schema version of the event. */
  v: z.literal(1),
  tenantId: z.string().min(1),
  channel: channelSchema,
  conversationId: z.string().min(1),
  conversationKey: z.string().min(1),
};

export const messageEventSchema = z.object({
  ...envelope,
  type: z.literal('message'),
  message: normalisedMessageSchema,
});
export const humanActiveEventSchema = z.object({
  ...envelope,
  type: z.literal('human-active'),
  activity: humanActivitySchema,
});
export const flushEventSchema = z.object({
  ...envelope,
  type: z.literal('flush'),
  turnId: z.string().min(1),
  /** The turn version this tick was armed for; a tick for an older version is stale. */
  version: z.number().int().nonnegative(),
  reason: z.enum(['debounce', 'max-wait', 'media-timeout']),
  /** When the tick was armed, epoch ms. */
  armedAt: z.number(),
});

export const transcriptSchema = z.object({
  text: z.string(),
  language: z.string().optional(),
  durationSec: z.number().optional(),
});
export const mediaResultSchema = z.object({
  /** Transcript of the audio (voice note, or a video's audio track). */
  transcript: transcriptSchema.optional(),
  /** S3 keys of keyframes (JPEG) extracted from a video. */
  keyframes: z.array(z.string()).optional(),
  durationSec: z.number().optional(),
});
export type MediaResult = z.infer<typeof mediaResultSchema>;
export const mediaErrorSchema = z.object({ code: z.string(), message: z.string() });

export const mediaReadyEventSchema = z.object({
  ...envelope,
  type: z.literal('media-ready'),
  turnId: z.string().min(1),
  /** The platform message id the attachment belongs to. */
  messageId: z.string().min(1),
  attachmentIndex: z.number().int().nonnegative(),
  result: mediaResultSchema.optional(),
  error: mediaErrorSchema.optional(),
});

export const conversationEventSchema = z.discriminatedUnion('type', [
  messageEventSchema,
  humanActiveEventSchema,
  flushEventSchema,
  mediaReadyEventSchema,
]);
export type ConversationEvent = z.infer<typeof conversationEventSchema>;
export type MessageEvent = z.infer<typeof messageEventSchema>;
export type HumanActiveEvent = z.infer<typeof humanActiveEventSchema>;
export type FlushEvent = z.infer<typeof flushEventSchema>;
export type MediaReadyEvent = z.infer<typeof mediaReadyEventSchema>;

/** A job on the media-jobs queue: one audio or video attachment of a turn. */
export const mediaJobSchema = z.object({
  v: z.literal(1),
  tenantId: z.string().min(1),
  channel: channelSchema,
  conversationId: z.string().min(1),
  conversationKey: z.string().min(1),
  turnId: z.string().min(1),
  messageId: z.string().min(1),
  pageId: z.string().min(1),
  attachmentIndex: z.number().int().nonnegative(),
  attachment: attachmentSchema,
  /** Language hint from the tenant's settings (`auto` when unset). */
  language: z.string().optional(),
  enqueuedAt: z.number(),
});
export type MediaJob = z.infer<typeof mediaJobSchema>;

// ---------------------------------------------------------------------------------------------
// Outbound: one SQS message per reply part on outbound.fifo (group = conversation key,
// dedup id = replyId). FIFO order per conversation keeps parts in order; a part that fails
// permanently is recorded and the next part still goes.
// ---------------------------------------------------------------------------------------------

export const outboundPartSchema = z.object({
  v: z.literal(1),
  /** Derived from the turn id and the part index: `{turnId}:{index}`. Delivery is idempotent on it. */
  replyId: z.string().min(1),
  turnId: z.string().min(1),
  partIndex: z.number().int().nonnegative(),
  partCount: z.number().int().positive(),
  tenantId: z.string().min(1),
  channel: channelSchema,
  conversationId: z.string().min(1),
  conversationKey: z.string().min(1),
  pageId: z.string().min(1),
  /** The customer's platform id (PSID, IGSID, wa_id, chat id, Zalo user id, Pancake customer id). */
  recipientId: z.string().min(1),
  surface: z.enum(['inbox', 'comment']),
  /** For comment replies: the comment (message) id to answer. */
  replyToMessageId: z.string().optional(),
  /** Telegram Business: answer through this business connection (`business_connection_id`). */
  businessConnectionId: z.string().optional(),
  text: z.string().optional(),
  /** An image to send (URL); Pancake uploads it first and sends `content_ids`. */
  imageUrl: z.string().optional(),
  /** Quick replies of the reply message; carried on its last part only. */
  quickReplies: z.array(z.object({ title: z.string(), payload: z.string().optional() })).optional(),
  /** Buttons of the reply message; carried on its last part only. */
  buttons: z
    .array(
      z.union([
        z.object({ type: z.literal('url'), title: z.string(), url: z.string() }),
        z.object({ type: z.literal('postback'), title: z.string(), payload: z.string() }),
      ]),
    )
    .optional(),
  /** The customer's last message time, epoch ms: Meta / WhatsApp 24-hour window. */
  customerLastMessageAt: z.number(),
  /** When the webhook received the turn's first message, epoch ms: ReplyLatency. */
  receivedAt: z.number(),
  createdAt: z.number(),
  /** Sort key of the history entry for this reply (marked delivered after the send). */
  historySk: z.string().optional(),
});
export type OutboundPart = z.infer<typeof outboundPartSchema>;
