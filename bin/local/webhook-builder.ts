/**
 * Builds correctly signed webhook requests in each platform's documented shape, for a tenant
 * document: what `npm run webhook` posts to the local stack, and what the tests and the e2e suite
 * feed the webhook handler. Bodies and signatures follow reference/channels.md exactly (Meta
 * bodies are serialised in Meta's escaped-unicode form and signed over those bytes).
 */
import { createHash, createHmac, randomBytes, randomInt } from 'node:crypto';
import { PAGE_INBOX_APP_IDS } from '../../lambdas/channels/meta.js';
import type { WebhookRequest } from '../../lambdas/channels/types.js';
import type { ChannelName } from '../../lambdas/shared/model.js';
import { channelConfig, type TenantDocument, telegramBotId } from '../../lambdas/shared/tenant.js';

/** What the webhook represents. */
export type WebhookKind = 'text' | 'echo' | 'human' | 'audio' | 'image' | 'receipt';
export const WEBHOOK_KINDS: readonly WebhookKind[] = ['text', 'echo', 'human', 'audio', 'image', 'receipt'];

/** Options of {@link buildWebhook}. */
export interface BuildWebhookOptions {
  readonly tenant: TenantDocument;
  readonly channel: ChannelName;
  /** @default 'text' */
  readonly kind?: WebhookKind;
  /** Message text (for text, echo, human; caption for image). @default 'Hello' */
  readonly text?: string;
  /**
   * The customer side of the conversation: Pancake conversation id, Messenger PSID, Instagram
   * IGSID, WhatsApp wa_id, Telegram chat id (digits, may exceed 2^53), Zalo user id.
   * @default a fixed demo customer per channel
   */
  readonly conversation?: string;
  /** Platform message id (Telegram: the update_id, digits). @default a fresh random id */
  readonly messageId?: string;
  /** Page / account / phone number id / OA to address. @default the tenant's first configured one */
  readonly pageId?: string;
  /** Media URL for audio/image on URL-based channels (Meta, Pancake, Zalo). */
  readonly mediaUrl?: string;
  /** Media id for audio/image on id-based channels (WhatsApp media id, Telegram file_id). */
  readonly mediaId?: string;
  /** Sign with the wrong secret (or send the wrong token). */
  readonly badSignature?: boolean;
  /** Epoch ms used for timestamps in the body and signing headers. @default Date.now() */
  readonly now?: number;
}

/** A request ready to send: method, path, query, headers (lower-case names) and the exact body. */
export interface BuiltWebhook {
  readonly method: 'POST';
  readonly path: string;
  readonly query: Record<string, string>;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** The platform message id the body carries (Telegram: the update_id). */
  readonly messageId: string;
}

/** App id put on echoes of our own Meta sends when the tenant does not set `appId`. */
export const DEFAULT_OUR_META_APP_ID = '1000000000000001';
/** App id put into Zalo bodies when the tenant does not set `appId`. */
export const DEFAULT_ZALO_APP_ID = '2000000000000002';

const DEFAULT_CUSTOMER: Record<ChannelName, string> = {
  pancake: 'c-5550001',
  messenger: '7100000000000001',
  instagram: '7200000000000001',
  whatsapp: '84900000001',
  telegram: '700000001',
  zalo: '8000000000000000001',
};

/** Meta's wire form: non-ASCII as `\uXXXX` and `/` as `\/` (Meta signs exactly this). */
export function metaJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/\//g, '\\/');
}

/** JSON where string values `"@@int:<digits>@@"` become bare integer literals (64-bit ids). */
function jsonWithBigInts(value: unknown): string {
  return JSON.stringify(value).replace(/"@@int:(-?\d+)@@"/g, '$1');
}
const bigInt = (digits: string): string => `@@int:${digits}@@`;

/** Meta writes app ids as JSON numbers; keep ids that are not safe integers as strings. */
const numericId = (id: string): number | string =>
  /^\d+$/.test(id) && Number.isSafeInteger(Number(id)) ? Number(id) : id;

const randomId = (prefix: string): string => `${prefix}${randomBytes(12).toString('hex')}`;

/** Pancake's `inserted_at`: UTC without a zone, microseconds. */
function pancakeInsertedAt(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000');
}

function firstPage(tenant: TenantDocument, channel: ChannelName): string {
  const c = tenant.channels;
  switch (channel) {
    case 'pancake':
      return c.pancake?.pageIds[0] ?? '';
    case 'messenger':
      return Object.keys(c.messenger?.pages ?? {})[0] ?? '';
    case 'instagram':
      return Object.keys(c.instagram?.accounts ?? {})[0] ?? '';
    case 'whatsapp':
      return c.whatsapp?.phoneNumberIds[0] ?? '';
    case 'telegram':
      return c.telegram ? telegramBotId(c.telegram.botToken) : '';
    case 'zalo':
      return c.zalo?.oaId ?? '';
  }
}

/** Thrown for a request the platform cannot produce (e.g. a Telegram echo). */
export class UnsupportedWebhookError extends Error {
  constructor(channel: ChannelName, kind: WebhookKind, why: string) {
    super(`${channel} has no "${kind}" webhook: ${why}`);
    this.name = 'UnsupportedWebhookError';
  }
}

export interface Draft {
  readonly body: string;
  readonly messageId: string;
}

/**
 * Builds a signed webhook request for `tenant` on `channel`.
 * @throws Error when the channel is not configured for the tenant, or UnsupportedWebhookError
 *   when the platform never sends that kind of webhook (Telegram echo/human/receipt, Pancake receipt).
 */
export function buildWebhook(options: BuildWebhookOptions): BuiltWebhook {
  const { tenant, channel } = options;
  if (!channelConfig(tenant, channel)) {
    throw new Error(`Tenant "${tenant.tenantId}" has no ${channel} channel configured.`);
  }
  const draft = draftBody(options);
  return signed(tenant, channel, draft, options.badSignature ?? false, options.now ?? Date.now());
}

function draftBody(options: BuildWebhookOptions): Draft {
  const { tenant, channel } = options;
  const kind = options.kind ?? 'text';
  const text = options.text ?? 'Hello';
  const now = options.now ?? Date.now();
  const pageId = options.pageId ?? firstPage(tenant, channel);
  const customer = options.conversation ?? DEFAULT_CUSTOMER[channel];
  switch (channel) {
    case 'messenger':
    case 'instagram':
      return metaMessagingBody(options, channel, kind, text, now, pageId, customer);
    case 'whatsapp':
      return whatsappBody(options, kind, text, now, pageId, customer);
    case 'telegram':
      return telegramBody(options, kind, text, now, pageId, customer);
    case 'zalo':
      return zaloBody(options, kind, text, now, pageId, customer);
    case 'pancake':
      return pancakeBody(options, kind, text, now, pageId, customer);
  }
}

function metaMessagingBody(
  options: BuildWebhookOptions,
  channel: 'messenger' | 'instagram',
  kind: WebhookKind,
  text: string,
  now: number,
  pageId: string,
  customer: string,
): Draft {
  const mid = options.messageId ?? randomId(channel === 'messenger' ? 'm_' : 'aWdf');
  const ourAppId = options.tenant.channels[channel]?.appId ?? DEFAULT_OUR_META_APP_ID;
  let item: Record<string, unknown>;
  const inbound = { sender: { id: customer }, recipient: { id: pageId }, timestamp: now };
  const media = (type: string, ext: string) => ({
    ...inbound,
    message: {
      mid,
      attachments: [{ type, payload: { url: options.mediaUrl ?? `https://cdn.fbsbx.com/v/${mid}.${ext}` } }],
    },
  });
  switch (kind) {
    case 'text':
      item = { ...inbound, message: { mid, text } };
      break;
    case 'audio':
      item = media('audio', 'mp4');
      break;
    case 'image':
      item = media('image', 'jpg');
      break;
    case 'echo':
    case 'human':
      item = {
        sender: { id: pageId },
        recipient: { id: customer },
        timestamp: now,
        message: {
          mid,
          is_echo: true,
          app_id: numericId(kind === 'human' ? PAGE_INBOX_APP_IDS[0]! : ourAppId),
          text,
        },
      };
      break;
    case 'receipt':
      item =
        channel === 'messenger'
          ? { ...inbound, delivery: { mids: [mid], watermark: now } }
          : { ...inbound, read: { mid } };
      break;
  }
  const body = {
    object: channel === 'messenger' ? 'page' : 'instagram',
    entry: [{ id: pageId, time: now, messaging: [item] }],
  };
  return { body: metaJson(body), messageId: mid };
}

function whatsappBody(
  options: BuildWebhookOptions,
  kind: WebhookKind,
  text: string,
  now: number,
  phoneNumberId: string,
  waId: string,
): Draft {
  const id = options.messageId ?? `wamid.${randomBytes(18).toString('base64url')}`;
  const seconds = String(Math.floor(now / 1000));
  const metadata = { display_phone_number: '15550000000', phone_number_id: phoneNumberId };
  const contacts = [{ profile: { name: 'Demo Customer' }, wa_id: waId }];
  const mediaId = options.mediaId ?? String(randomInt(1e9, 9e9));
  let change: Record<string, unknown>;
  const messages = (message: Record<string, unknown>) => ({
    field: 'messages',
    value: {
      messaging_product: 'whatsapp',
      metadata,
      contacts,
      messages: [{ from: waId, id, timestamp: seconds, ...message }],
    },
  });
  const status = (value: string) => ({
    field: 'messages',
    value: {
      messaging_product: 'whatsapp',
      metadata,
      statuses: [{ id, status: value, timestamp: seconds, recipient_id: waId }],
    },
  });
  switch (kind) {
    case 'text':
      change = messages({ type: 'text', text: { body: text } });
      break;
    case 'audio':
      change = messages({
        type: 'audio',
        audio: { id: mediaId, mime_type: 'audio/ogg; codecs=opus', voice: true },
      });
      break;
    case 'image':
      change = messages({ type: 'image', image: { id: mediaId, mime_type: 'image/jpeg', caption: text } });
      break;
    case 'echo':
      // Cloud API sends are not echoed; the platform posts a `sent` status for them.
      change = status('sent');
      break;
    case 'receipt':
      change = status('delivered');
      break;
    case 'human':
      change = {
        field: 'smb_message_echoes',
        value: {
          messaging_product: 'whatsapp',
          metadata,
          message_echoes: [
            {
              from: metadata.display_phone_number,
              to: waId,
              id,
              timestamp: seconds,
              type: 'text',
              text: { body: text },
            },
          ],
        },
      };
      break;
  }
  const body = { object: 'whatsapp_business_account', entry: [{ id: '102290129340398', changes: [change] }] };
  return { body: metaJson(body), messageId: id };
}

function telegramBody(
  options: BuildWebhookOptions,
  kind: WebhookKind,
  text: string,
  now: number,
  _botId: string,
  chatId: string,
): Draft {
  if (kind === 'echo' || kind === 'human' || kind === 'receipt') {
    throw new UnsupportedWebhookError(
      'telegram',
      kind,
      'Telegram never sends a bot its own messages or receipts.',
    );
  }
  if (!/^-?\d+$/.test(chatId)) throw new Error(`Telegram chat ids are integers, got "${chatId}".`);
  const updateId = options.messageId ?? String(randomInt(100_000_000, 900_000_000));
  if (!/^\d+$/.test(updateId)) throw new Error(`Telegram update ids are integers, got "${updateId}".`);
  const privateChat = !chatId.startsWith('-');
  const fromId = privateChat ? chatId : '700000999';
  const fileId = options.mediaId ?? randomId('AwACAgIAAxkBAAI');
  const message: Record<string, unknown> = {
    message_id: randomInt(1, 1_000_000),
    from: {
      id: bigInt(fromId),
      is_bot: false,
      first_name: 'Demo',
      last_name: 'Customer',
      language_code: 'vi',
    },
    chat: privateChat
      ? { id: bigInt(chatId), first_name: 'Demo', last_name: 'Customer', type: 'private' }
      : { id: bigInt(chatId), title: 'Demo group', type: 'supergroup' },
    date: Math.floor(now / 1000),
  };
  if (kind === 'text') message.text = text;
  if (kind === 'audio') {
    message.voice = {
      file_id: fileId,
      file_unique_id: 'AgADvoice',
      duration: 3,
      mime_type: 'audio/ogg',
      file_size: 12_345,
    };
  }
  if (kind === 'image') {
    message.photo = [
      { file_id: `${fileId}-s`, file_unique_id: 'AQADs', file_size: 1_000, width: 90, height: 67 },
      { file_id: fileId, file_unique_id: 'AQADm', file_size: 40_000, width: 800, height: 600 },
    ];
    message.caption = text;
  }
  return { body: jsonWithBigInts({ update_id: bigInt(updateId), message }), messageId: updateId };
}

function zaloBody(
  options: BuildWebhookOptions,
  kind: WebhookKind,
  text: string,
  now: number,
  oaId: string,
  userId: string,
): Draft {
  const msgId = options.messageId ?? randomBytes(16).toString('hex');
  const appId = options.tenant.channels.zalo?.appId ?? DEFAULT_ZALO_APP_ID;
  const inbound = { sender: { id: userId }, recipient: { id: oaId } };
  const common = { app_id: appId, user_id_by_app: `app-${userId}`, timestamp: String(now) };
  let event: Record<string, unknown>;
  const url = (ext: string) => options.mediaUrl ?? `https://zalo-media.example/${msgId}.${ext}`;
  switch (kind) {
    case 'text':
      event = { ...common, event_name: 'user_send_text', ...inbound, message: { msg_id: msgId, text } };
      break;
    case 'audio':
      event = {
        ...common,
        event_name: 'user_send_audio',
        ...inbound,
        message: { msg_id: msgId, attachments: [{ type: 'audio', payload: { url: url('aac') } }] },
      };
      break;
    case 'image':
      event = {
        ...common,
        event_name: 'user_send_image',
        ...inbound,
        message: {
          msg_id: msgId,
          text,
          attachments: [{ type: 'image', payload: { url: url('jpg'), thumbnail: url('thumb.jpg') } }],
        },
      };
      break;
    case 'echo':
    case 'human':
      // `sender.admin_id` marks a person sending from the OA chat tool; API sends lack it.
      event = {
        ...common,
        oa_id: oaId,
        event_name: 'oa_send_text',
        sender: kind === 'human' ? { id: oaId, admin_id: 'zalo-admin-1' } : { id: oaId },
        recipient: { id: userId },
        message: { msg_id: msgId, text },
      };
      break;
    case 'receipt':
      event = { ...common, event_name: 'user_seen_message', ...inbound, message: { msg_ids: [msgId] } };
      break;
  }
  return { body: JSON.stringify(event), messageId: msgId };
}

function pancakeBody(
  options: BuildWebhookOptions,
  kind: WebhookKind,
  text: string,
  now: number,
  pageId: string,
  conversation: string,
): Draft {
  if (kind === 'receipt')
    throw new UnsupportedWebhookError('pancake', kind, 'Pancake sends no delivery or read receipts.');
  const id = options.messageId ?? randomId('m_');
  // Pancake conversation ids look like `{pageId}_{customerId}`; take the customer from it when it does.
  const conversationId = options.conversation ?? `${pageId}_${DEFAULT_CUSTOMER.pancake}`;
  const customerId = conversation.includes('_')
    ? conversation.slice(conversation.lastIndexOf('_') + 1)
    : conversation;
  const customer = { id: customerId, name: 'Demo Customer', page_customer_id: `pc-${customerId}` };
  let from: Record<string, unknown> = customer;
  let attachments: unknown[] = [];
  let messageText = text;
  if (kind === 'echo') from = { id: pageId, name: 'Demo Page' };
  if (kind === 'human')
    from = { id: pageId, name: 'Demo Page', admin_id: 'admin-1', admin_name: 'Demo Agent' };
  if (kind === 'audio') {
    attachments = [
      {
        type: 'audio',
        url: options.mediaUrl ?? `https://content.pancake.vn/${id}.m4a`,
        mime_type: 'audio/mp4',
      },
    ];
    messageText = '<div></div>';
  }
  if (kind === 'image') {
    attachments = [
      { type: 'photo', url: options.mediaUrl ?? `https://content.pancake.vn/${id}.jpg`, id: `att-${id}` },
    ];
  }
  const body = {
    page_id: pageId,
    event_type: 'messaging',
    data: {
      conversation: {
        id: conversationId,
        type: 'INBOX',
        from: { id: customerId, name: 'Demo Customer' },
        tags: [],
        snippet: text,
      },
      message: {
        id,
        conversation_id: conversationId,
        page_id: pageId,
        message: messageText,
        original_message: kind === 'audio' ? '' : messageText,
        type: 'INBOX',
        inserted_at: pancakeInsertedAt(now),
        from,
        attachments,
      },
      post: null,
    },
  };
  return { body: JSON.stringify(body), messageId: id };
}

/**
 * Adds the channel's authenticity proof (header, query token) for `draft.body`, exactly as the
 * platform does (`badSignature`: with a wrong secret).
 */
export function signed(
  tenant: TenantDocument,
  channel: ChannelName,
  draft: Draft,
  badSignature: boolean,
  now: number,
): BuiltWebhook {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const query: Record<string, string> = {};
  const wrong = (secret: string): string => (badSignature ? `${secret}-wrong` : secret);
  const hmac = (secret: string): string =>
    createHmac('sha256', wrong(secret)).update(draft.body, 'utf8').digest('hex');
  const c = tenant.channels;
  switch (channel) {
    case 'messenger':
    case 'instagram':
    case 'whatsapp': {
      const config = c[channel];
      if (config) headers['x-hub-signature-256'] = `sha256=${hmac(config.appSecret)}`;
      break;
    }
    case 'telegram':
      if (c.telegram) headers['x-telegram-bot-api-secret-token'] = wrong(c.telegram.secretToken);
      break;
    case 'zalo': {
      if (c.zalo) {
        const event = JSON.parse(draft.body) as { app_id: string; timestamp: string };
        const mac = createHash('sha256')
          .update(`${event.app_id}${draft.body}${event.timestamp}${wrong(c.zalo.oaSecretKey)}`, 'utf8')
          .digest('hex');
        headers['x-zevent-signature'] = `mac=${mac}`;
      }
      break;
    }
    case 'pancake':
      if (c.pancake) {
        query.token = wrong(c.pancake.webhookToken);
        if (c.pancake.signingSecret) {
          headers['x-pancake-timestamp'] = String(Math.floor(now / 1000));
          headers['x-pancake-signature'] = `sha256=${hmac(c.pancake.signingSecret)}`;
        }
      }
      break;
  }
  return {
    method: 'POST',
    path: `/webhooks/${channel}/${tenant.tenantId}`,
    query,
    headers,
    body: draft.body,
    messageId: draft.messageId,
  };
}

/** Options of {@link buildEchoWebhook}. */
export interface EchoWebhookOptions {
  readonly tenant: TenantDocument;
  readonly channel: ChannelName;
  /** The customer we sent to (the outbound part's `recipientId`). */
  readonly recipient: string;
  readonly text: string;
  /** The platform message id our send got back (SendResult.platformMessageId). */
  readonly platformMessageId: string;
  /** The page / account / number / OA we sent from. @default the tenant's first configured one */
  readonly pageId?: string;
  /** Pancake: the conversation id we sent into. @default `{pageId}_{recipient}` */
  readonly conversationId?: string;
  readonly now?: number;
}

/**
 * The webhook a platform posts back after one of our own sends (the echo-loop case): a Meta
 * `is_echo` carrying our app id, a WhatsApp `sent` status, a Zalo `oa_send_text`, a Pancake
 * message from the page without an admin. Undefined for Telegram, which never echoes.
 */
export function buildEchoWebhook(options: EchoWebhookOptions): BuiltWebhook | undefined {
  const { tenant, channel } = options;
  if (channel === 'telegram') return undefined;
  const pageId = options.pageId ?? firstPage(tenant, channel);
  const conversation =
    channel === 'pancake' ? (options.conversationId ?? `${pageId}_${options.recipient}`) : options.recipient;
  return buildWebhook({
    tenant,
    channel,
    kind: 'echo',
    text: options.text,
    conversation,
    messageId: options.platformMessageId,
    pageId,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
}

/** The request an adapter sees for a built webhook (what the handler hands over). */
export function toWebhookRequest(built: BuiltWebhook, receivedAt = Date.now()): WebhookRequest {
  return {
    method: built.method,
    rawBody: Buffer.from(built.body, 'utf8'),
    headers: { ...built.headers },
    query: { ...built.query },
    receivedAt,
  };
}

/** The full URL of a built webhook against `baseUrl` (query string encoded). */
export function webhookUrl(baseUrl: string, built: BuiltWebhook): string {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}${built.path}`);
  for (const [key, value] of Object.entries(built.query)) url.searchParams.set(key, value);
  return url.toString();
}
