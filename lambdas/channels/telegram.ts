/**
 * Telegram Bot API: no handshake; `X-Telegram-Bot-Api-Secret-Token` equals the `secret_token`
 * given to `setWebhook`. One update per POST; `update_id` is the message id (it increases per
 * bot and is Telegram's own dedup key). Conversation id `{botId}:{chat.id}` — chat ids need 64
 * bits, so the body is parsed without losing integer precision (see `parseJsonObject`).
 *
 * What counts: `message` and `edited_message` (an edit is a new customer message: the customer
 * corrected themselves), in private chats and in groups (with privacy mode on, Telegram only
 * delivers group messages addressed to the bot), and `callback_query` (a button press →
 * `postback`). Channel posts are broadcasts, not conversations: ignored as `non-message`, like
 * every other update type. Messages from other bots are ignored as `echo`.
 */
import { InvalidPayloadError, InvalidSignatureError } from '../shared/errors.js';
import type { Attachment, ParsedEvent } from '../shared/model.js';
import { telegramBotId } from '../shared/tenant.js';
import {
  arr,
  type BuildContext,
  epochMs,
  GET_STARTED,
  header,
  humanEvent,
  idOf,
  ignored,
  kindOf,
  messageEvent,
  num,
  type Obj,
  obj,
  parseJsonObject,
  safely,
  str,
} from './common.js';
import { safeEqual } from './crypto.js';
import type { ChannelAdapter } from './types.js';

/**
 * Message fields that are the customer's content without text or a file we fetch: a dice roll,
 * a game, a forwarded story, a poll (core.telegram.org/bots/api#message). Kind `other`.
 */
const OTHER_CONTENT = ['dice', 'game', 'story', 'poll'] as const;

/** The header Telegram sends the webhook's secret token in (lower-cased). */
export const TELEGRAM_SECRET_HEADER = 'x-telegram-bot-api-secret-token';

function fileAttachment(kind: Attachment['kind'], media: Obj, extra: Partial<Attachment> = {}): Attachment {
  const attachment: Attachment = { kind, ...extra };
  const fileId = str(media.file_id);
  if (fileId) attachment.fileId = fileId;
  const mime = str(media.mime_type);
  if (mime) attachment.mimeType = mime;
  const name = str(media.file_name);
  if (name) attachment.name = name;
  const size = num(media.file_size);
  if (size !== undefined) attachment.size = size;
  return attachment;
}

/** The largest `photo[]` size (by pixel count, then file size; Telegram lists them ascending). */
function largestPhoto(sizes: unknown[]): Obj | undefined {
  let best: Obj | undefined;
  let bestScore = -1;
  for (const raw of sizes) {
    const size = obj(raw);
    if (!size || !str(size.file_id)) continue;
    const score = (num(size.width) ?? 0) * (num(size.height) ?? 0) * 1e9 + (num(size.file_size) ?? 0);
    if (score >= bestScore) {
      best = size;
      bestScore = score;
    }
  }
  return best;
}

/** The attachments of a Telegram message. */
export function telegramAttachments(message: Obj): Attachment[] {
  const out: Attachment[] = [];
  const voice = obj(message.voice);
  if (voice) out.push(fileAttachment('audio', voice, { voice: true }));
  const audio = obj(message.audio);
  if (audio) out.push(fileAttachment('audio', audio));
  const video = obj(message.video) ?? obj(message.animation);
  if (video) out.push(fileAttachment('video', video));
  const videoNote = obj(message.video_note);
  if (videoNote) out.push(fileAttachment('video', videoNote));
  const photo = largestPhoto(arr(message.photo));
  if (photo) out.push(fileAttachment('image', photo, { mimeType: 'image/jpeg' }));
  const sticker = obj(message.sticker);
  if (sticker) out.push(fileAttachment('sticker', sticker));
  // `animation` messages also carry the same file as `document`: keep it once.
  const document = obj(message.document);
  if (document && !obj(message.animation)) out.push(fileAttachment('file', document));
  const venue = obj(message.venue);
  const location = obj(message.location) ?? obj(venue?.location);
  if (location) {
    const attachment: Attachment = { kind: 'location' };
    const lat = num(location.latitude);
    const long = num(location.longitude);
    if (lat !== undefined) attachment.latitude = lat;
    if (long !== undefined) attachment.longitude = long;
    // A venue is a place: its name and address (core.telegram.org/bots/api#venue).
    const title = str(venue?.title);
    if (title) attachment.title = title;
    const address = str(venue?.address);
    if (address) attachment.address = address;
    out.push(attachment);
  }
  return out;
}

/** `/start`, `/start <parameter>` or `/start@BotName …`. */
const START_COMMAND = /^\/start(?:@\w+)?(?:\s|$)/;

/** The text of the inline-keyboard button of `message` whose `callback_data` is `data`. */
function buttonTitle(message: Obj | undefined, data: string): string | undefined {
  for (const row of arr(obj(message?.reply_markup)?.inline_keyboard)) {
    for (const raw of arr(row)) {
      const button = obj(raw);
      if (button && button.callback_data === data) return str(button.text);
    }
  }
  return undefined;
}

function displayName(from: Obj | undefined): string | undefined {
  if (!from) return undefined;
  const full = [str(from.first_name), str(from.last_name)].filter(Boolean).join(' ');
  return full || str(from.username);
}

/**
 * Parses one update. The customer is the chat the update came from (`chat.id`): replies, typing,
 * rate limits and the customer's memory all go to the chat, which in a group is the group —
 * never the sender's private chat, and never a member's private memory in front of the group.
 * In a private chat the chat id is the sender's id anyway.
 */
export function parseTelegramUpdate(ctx: BuildContext, botId: string, update: Obj): ParsedEvent {
  const updateId = idOf(update.update_id);
  if (!updateId) return ignored('unsupported', 'update without update_id');

  const callback = obj(update.callback_query);
  if (callback) {
    const from = obj(callback.from);
    const fromId = idOf(from?.id);
    const chatId = idOf(obj(obj(callback.message)?.chat)?.id) ?? fromId;
    if (!fromId || !chatId) return ignored('unsupported', 'callback without chat');
    const data = str(callback.data);
    // The label of the button pressed, read back from the keyboard of the message it was under.
    const title = data === undefined ? undefined : buttonTitle(obj(callback.message), data);
    return messageEvent(ctx, {
      conversationId: `${botId}:${chatId}`,
      messageId: updateId,
      pageId: botId,
      customer: { id: chatId, name: displayName(from) },
      timestamp: undefined,
      kind: 'postback',
      text: title ?? data,
      postback: data,
      postbackSource: 'postback',
    });
  }

  const business = obj(update.business_message) ?? obj(update.edited_business_message);
  const message = obj(update.message) ?? obj(update.edited_message) ?? business;
  if (!message) {
    const kind = Object.keys(update).find((k) => k !== 'update_id');
    return ignored('non-message', kind);
  }
  const chatId = idOf(obj(message.chat)?.id);
  const from = obj(message.from);
  if (!chatId) return ignored('unsupported', 'message without chat');
  if (from?.is_bot === true) return ignored('echo', 'sent by a bot');
  const fromId = idOf(from?.id) ?? chatId;
  const businessConnectionId = business ? str(message.business_connection_id) : undefined;
  if (business && obj(message.chat)?.type === 'private' && fromId !== chatId) {
    // In a business chat the account's own messages come too: sent by a bot for the account
    // (`sender_business_bot`: ours or another's) or by the owner from their Telegram app (a human).
    if (obj(message.sender_business_bot)) return ignored('echo', 'sent by a business bot');
    return humanEvent(ctx, {
      conversationId: `${botId}:${chatId}`,
      messageId: idOf(message.message_id) ?? updateId,
      pageId: botId,
      agentId: fromId,
      timestamp: epochMs(message.edit_date) ?? epochMs(message.date),
    });
  }
  const text = str(message.text) ?? str(message.caption);
  const attachments = telegramAttachments(message);
  const contact = obj(message.contact);
  let phone: string | undefined;
  // A phone is the customer's only in a private chat, shared by the sender about themself.
  if (contact && fromId === chatId && idOf(contact.user_id) === fromId) phone = str(contact.phone_number);
  // Content without a file or text of its own: still the customer talking (kind `other`).
  const other = OTHER_CONTENT.find((key) => message[key] !== undefined);
  if (!text && attachments.length === 0 && !contact && !other) {
    // Service messages (members joined, title changed, pinned…).
    return ignored('non-message', 'service message');
  }
  // `/start` (with a deep-link parameter, or `@bot` in groups) is the customer starting the bot:
  // the postback `GET_STARTED`, as Messenger's Get Started button (core.telegram.org/bots#commands).
  const start = attachments.length === 0 && text !== undefined && START_COMMAND.test(text);
  return messageEvent(ctx, {
    conversationId: `${botId}:${chatId}`,
    messageId: updateId,
    pageId: botId,
    ...(start ? { postback: GET_STARTED, postbackSource: 'command' as const } : {}),
    customer: { id: chatId, name: displayName(from), phone },
    timestamp: epochMs(message.edit_date) ?? epochMs(message.date),
    // Kind stays `text` for `/start`: the customer typed it; the postback says what it means.
    kind: (contact || other) && attachments.length === 0 && !text ? 'other' : kindOf(attachments, text),
    text: text ?? (contact ? str(contact.phone_number) : undefined),
    attachments,
    businessConnectionId,
  });
}

/**
 * The Bot API call made with the webhook's answer for a button press: `answerCallbackQuery`
 * stops the spinner the customer's app shows on the button until it is called
 * (core.telegram.org/bots/api#answercallbackquery; a method may be called in the answer to a
 * webhook: core.telegram.org/bots/api#making-requests-when-getting-updates). Undefined for
 * every other update.
 */
export function telegramAnswerFields(rawBody: Buffer): Readonly<Record<string, unknown>> | undefined {
  let update: Obj;
  try {
    update = parseJsonObject(rawBody);
  } catch {
    return undefined;
  }
  const id = str(obj(update.callback_query)?.id);
  return id ? { method: 'answerCallbackQuery', callback_query_id: id } : undefined;
}

/** The Telegram adapter. */
export const telegramAdapter: ChannelAdapter<'telegram'> = {
  channel: 'telegram',
  authenticate: (request, ctx) => {
    const received = header(request.headers, TELEGRAM_SECRET_HEADER);
    if (received === undefined) {
      throw new InvalidSignatureError('X-Telegram-Bot-Api-Secret-Token header is missing.');
    }
    if (!safeEqual(received, ctx.config.secretToken)) {
      throw new InvalidSignatureError('X-Telegram-Bot-Api-Secret-Token does not match.');
    }
  },
  parse: (rawBody, ctx): ParsedEvent[] => {
    const update = parseJsonObject(rawBody);
    if (!idOf(update.update_id)) throw new InvalidPayloadError('The update has no update_id.');
    const build: BuildContext = {
      tenantId: ctx.tenant.tenantId,
      channel: 'telegram',
      receivedAt: ctx.receivedAt,
    };
    const botId = telegramBotId(ctx.config.botToken);
    return safely(() => parseTelegramUpdate(build, botId, update));
  },
  answerFields: telegramAnswerFields,
};
