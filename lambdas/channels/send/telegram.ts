/**
 * Telegram Bot API sender: `sendMessage`, `sendPhoto`, `sendChatAction` (typing). The bot
 * token is part of the URL path, so URLs are never logged. `chat_id` is sent as the exact
 * digits string: chat ids need 64 bits and must not pass through a JavaScript number.
 */
import { PermanentSendError, RetryableSendError, type SendError } from '../../shared/errors.js';
import { channelConfig } from '../../shared/tenant.js';
import type { ChannelSender, SendExtras, SendResult, SendTarget } from '../types.js';
import {
  bestEffort,
  errorFromStatus,
  type HttpAnswer,
  notConfigured,
  parseRetryAfter,
  postJson,
  resolveOptions,
  type SenderOptions,
} from './http.js';
import {
  boundedPayloadBytes,
  capItems,
  choicesOf,
  cutTitle,
  hasExtras,
  TELEGRAM_KEYBOARD_LIMITS,
} from './rich.js';

interface TelegramAnswer {
  ok?: unknown;
  error_code?: unknown;
  description?: unknown;
  parameters?: { retry_after?: unknown; migrate_to_chat_id?: unknown };
  result?: { message_id?: unknown };
}

/** Translates a Bot API answer into a send error, or returns undefined when `ok` is true. */
export function telegramError(what: string, answer: HttpAnswer): SendError | undefined {
  const body = (answer.json ?? {}) as TelegramAnswer;
  if (answer.status >= 200 && answer.status < 300 && body.ok === true) return undefined;
  const code = typeof body.error_code === 'number' ? body.error_code : answer.status;
  const description = typeof body.description === 'string' ? body.description.slice(0, 200) : '';
  const message = `${what}: Telegram error ${code}${description ? ` (${description})` : ''}`;
  if (code === 429) {
    const retryAfter = body.parameters?.retry_after;
    const retryAfterMs =
      typeof retryAfter === 'number' ? retryAfter * 1000 : parseRetryAfter(answer.headers.get('retry-after'));
    return new RetryableSendError('429', message, {
      status: answer.status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (code >= 500) return new RetryableSendError(String(code), message, { status: answer.status });
  if (answer.status >= 200 && answer.status < 300) {
    return new PermanentSendError('NOT_OK', message, { status: answer.status });
  }
  if (typeof body.error_code !== 'number') return errorFromStatus(what, answer);
  return new PermanentSendError(String(code), message, { status: answer.status, tokenInvalid: code === 401 });
}

/**
 * `reply_markup.inline_keyboard` for quick replies and buttons (core.telegram.org/bots/api#inlinekeyboardmarkup),
 * one button per row so long labels stay readable: URL buttons `{text, url}`, postback buttons and
 * quick replies `{text, callback_data}` — `callback_data` is 1–64 bytes, so a longer payload is
 * sent bounded (its prefix and a hash, ./rich.ts) and comes back in that form. Empty without extras.
 */
export function telegramMarkup(extras: SendExtras | undefined): Record<string, unknown> {
  if (!hasExtras(extras)) return {};
  const limits = TELEGRAM_KEYBOARD_LIMITS;
  const rows = capItems(choicesOf(extras), limits.maxButtons).map((choice) => {
    const text = cutTitle(choice.title, limits.titleLength) || '·';
    return choice.url !== undefined
      ? [{ text, url: choice.url }]
      : [{ text, callback_data: boundedPayloadBytes(choice.payload || text, limits.payloadLength) }];
  });
  return { reply_markup: { inline_keyboard: rows } };
}

/** Creates the Telegram sender. */
export function createTelegramSender(options: SenderOptions = {}): ChannelSender {
  const opts = resolveOptions(options);
  const botToken = (target: SendTarget): string => {
    const config = channelConfig(target.tenant, 'telegram');
    if (!config)
      throw notConfigured('telegram', `tenant "${target.tenant.tenantId}" has no Telegram configuration.`);
    return config.botToken;
  };
  const chatId = (target: SendTarget): string => {
    // The recipient is the chat id; fall back to the conversation id `{botId}:{chat.id}`.
    const raw = target.recipientId || target.conversationId.slice(target.conversationId.indexOf(':') + 1);
    if (!/^-?\d+$/.test(raw)) {
      throw new PermanentSendError('400', `telegram send: "${raw.slice(0, 40)}" is not a chat id.`);
    }
    return raw;
  };
  const call = (target: SendTarget, method: string, body: Record<string, unknown>, signal?: AbortSignal) => {
    const token = botToken(target);
    return postJson(opts, `${opts.bases().telegram}/bot${token}/${method}`, body, {
      what: `telegram ${method}`,
      secrets: [token],
      signal,
    });
  };
  const send = async (
    target: SendTarget,
    method: string,
    body: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<SendResult> => {
    const chat_id = chatId(target);
    botToken(target);
    await opts.beforeCall(target, 'send');
    // A Telegram Business chat is answered through its connection (Bot API `business_connection_id`).
    const business = target.businessConnectionId
      ? { business_connection_id: target.businessConnectionId }
      : {};
    const answer = await call(target, method, { ...business, chat_id, ...body }, signal);
    const error = telegramError(`telegram ${method}`, answer);
    if (error) throw error;
    const id = (answer.json as TelegramAnswer).result?.message_id;
    if (typeof id !== 'number' && typeof id !== 'string') {
      throw new PermanentSendError('NO_MESSAGE_ID', `telegram ${method}: the answer carried no message id.`);
    }
    return { platformMessageId: String(id) };
  };
  return {
    channel: 'telegram',
    sendText: (target, text, signal, extras) =>
      send(target, 'sendMessage', { text, ...telegramMarkup(extras) }, signal),
    sendImage: (target, imageUrl, signal) => send(target, 'sendPhoto', { photo: imageUrl }, signal),
    typing: (target, signal) =>
      bestEffort(async () =>
        call(target, 'sendChatAction', { chat_id: chatId(target), action: 'typing' }, signal),
      ),
  };
}
