/**
 * Pancake (pages.fm). No handshake. Pancake documents no signature, so the webhook URL carries a
 * random secret: `?token=` must equal the tenant's `webhookToken`. When the tenant sets
 * `signingSecret`, `X-Pancake-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>` and
 * `X-Pancake-Timestamp` (unix seconds or ms, within {@link PANCAKE_MAX_SKEW_MS}) are required,
 * and `?token=` may then be left out (a token given must still match). The signing scheme is
 * described by third parties only (unconfirmed, hence optional). The timestamp is not covered
 * by the HMAC: the window limits how old a captured request can be, and a replay within it is a
 * duplicate message id, dropped downstream.
 *
 * Three body shapes are accepted:
 * - the documented `messaging` event (developer.pancake.biz/webhook): `{page_id, event_type:
 *   "messaging", data: {conversation, message, post}}`;
 * - the illustrative shape of the integration guides: `{event_type: "new_message", page_id,
 *   conversation_id, customer: {id, name}, message: {id, text, created_time}}`, the page's own
 *   messages marked by `is_page_sender: true` or `from.id == page_id`;
 * - the guides' flat signed shape: `{message_id, conversation_id, customer, content, type,
 *   timestamp}` (no page id: taken from `page_id` when present, else the `{pageId}_…` prefix of
 *   the conversation id, else the tenant's only page).
 *
 * Only `messaging` events with `data.message` are messages (INBOX → inbox, COMMENT → comment),
 * besides the two guide shapes; every other event type is ignored as `non-message`. Staff messages — from the page itself, with
 * staff metadata (`from.admin_id`, or `from.admin_name` / `from.uid` without it), or from one of
 * `conversation.assignee_ids` — are human activity unless marked AI-generated/automated; other
 * page messages are echoes. A comment without `from` belongs to `conversation.from`.
 * Conversation id: `data.conversation.id`.
 */
import { InvalidPayloadError, InvalidSignatureError } from '../shared/errors.js';
import type { Attachment, AttachmentKind, ParsedEvent } from '../shared/model.js';
import {
  arr,
  type BuildContext,
  epochMs,
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
import { hmacSha256Hex, prefixedHexMatches, safeEqual } from './crypto.js';
import type { ChannelAdapter } from './types.js';

/** Optional signing headers (lower-cased). */
export const PANCAKE_SIGNATURE_HEADER = 'x-pancake-signature';
export const PANCAKE_TIMESTAMP_HEADER = 'x-pancake-timestamp';
/** How far `X-Pancake-Timestamp` may be from the time the request arrived. */
export const PANCAKE_MAX_SKEW_MS = 5 * 60 * 1000;

const ATTACHMENT_KINDS: Readonly<Record<string, AttachmentKind>> = {
  photo: 'image',
  image: 'image',
  video: 'video',
  sticker: 'sticker',
  audio: 'audio',
  voice: 'audio',
  file: 'file',
  document: 'file',
  location: 'location',
};
/** Attachment types that are not content (templates we sent, system notices). */
const SKIPPED_ATTACHMENT_TYPES = ['template', 'system_message'];

/**
 * `inserted_at` is UTC written without a zone and with microseconds
 * (`2024-12-25T11:06:07.000000`). Returns epoch ms, or undefined when unreadable.
 */
export function pancakeTime(value: unknown): number | undefined {
  if (typeof value === 'number') return epochMs(value);
  const text = str(value);
  if (!text) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/.exec(
    text.trim(),
  );
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const ms = frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0;
  let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60_000;
  }
  return Number.isFinite(t) ? t : undefined;
}

/** Plain text of a Pancake message body (media-only messages carry HTML such as `<div></div>`). */
export function pancakeText(message: Obj): string | undefined {
  const raw = str(message.original_message) ?? str(message.message);
  if (!raw) return undefined;
  // `[^<>]`, not `[^>]`: a tag never spans another `<`, and the bounded class keeps these scans
  // linear on text full of unclosed `<` (quadratic otherwise: seconds for 40 000 characters).
  if (!/<[a-z/][^<>]*>/i.test(raw)) return raw.trim() || undefined;
  const text = raw
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(div|p)>/gi, '\n')
    .replace(/<[^<>]*>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\n{2,}/g, '\n')
    .trim();
  return text || undefined;
}

function pancakeAttachments(message: Obj): Attachment[] {
  const out: Attachment[] = [];
  for (const raw of arr(message.attachments)) {
    const att = obj(raw);
    if (!att) continue;
    const type = str(att.type) ?? 'other';
    if (SKIPPED_ATTACHMENT_TYPES.includes(type)) continue;
    const attachment: Attachment = { kind: ATTACHMENT_KINDS[type] ?? 'other' };
    const url = str(att.url) ?? str(obj(att.video_data)?.url) ?? str(obj(att.payload)?.url);
    if (url) attachment.url = url;
    const id = idOf(att.id);
    if (id && !url) attachment.fileId = id;
    const mime = str(att.mime_type);
    if (mime) attachment.mimeType = mime;
    const name = str(att.name);
    if (name) attachment.name = name;
    const size = num(att.size);
    if (size !== undefined) attachment.size = size;
    out.push(attachment);
  }
  return out;
}

/** Parses a `messaging` event. */
export function parsePancakeMessaging(ctx: BuildContext, pageIds: readonly string[], body: Obj): ParsedEvent {
  const data = obj(body.data) ?? {};
  const message = obj(data.message);
  if (!message) return ignored('non-message', 'messaging without message');
  const conversation = obj(data.conversation);
  const pageId = idOf(body.page_id) ?? idOf(message.page_id);
  if (!pageId) return ignored('unsupported', 'message without page_id');
  if (!pageIds.includes(pageId)) return ignored('not-subscribed-page', pageId);
  const conversationId = idOf(conversation?.id) ?? idOf(message.conversation_id);
  const messageId = idOf(message.id);
  const type = str(message.type) ?? str(conversation?.type) ?? 'INBOX';
  const isComment = type.toUpperCase() === 'COMMENT';
  // A comment may come without `from`: its author is the conversation's customer.
  const from = obj(message.from) ?? (isComment ? obj(conversation?.from) : undefined) ?? {};
  const fromId = idOf(from.id);
  const timestamp = pancakeTime(message.inserted_at);

  // Staff: the page itself, a sender carrying staff metadata (`admin_id`, or `admin_name` / `uid`
  // without it), or one of the conversation's assignees (`assignee_ids` are staff user ids).
  const fromPage = fromId !== undefined && (fromId === pageId || fromId === idOf(message.page_id));
  const staffId = idOf(from.admin_id) ?? idOf(from.uid);
  const staffMarked = staffId !== undefined || str(from.admin_name) !== undefined;
  const assignee = fromId !== undefined && arr(conversation?.assignee_ids).some((id) => idOf(id) === fromId);
  if (fromPage || staffMarked || assignee) {
    const automated = from.ai_generated === true || from.is_automated === true;
    if ((staffMarked || assignee) && !automated) {
      return humanEvent(ctx, {
        conversationId,
        messageId,
        pageId,
        agentId: staffId ?? (assignee ? fromId : undefined),
        timestamp,
      });
    }
    return ignored('echo', staffMarked ? 'automated page message' : 'page message');
  }
  if (!fromId || !conversationId || !messageId) return ignored('unsupported', 'message without ids');

  const text = pancakeText(message);
  const attachments = pancakeAttachments(message);
  if (!text && attachments.length === 0) return ignored('unsupported', 'message without content');
  let phone: string | undefined;
  for (const raw of arr(conversation?.recent_phone_numbers)) {
    phone = str(obj(raw)?.phone_number) ?? str(raw);
    if (phone) break;
  }
  const post = obj(data.post);
  return messageEvent(ctx, {
    conversationId,
    messageId,
    pageId,
    customer: { id: fromId, name: str(from.name), phone },
    timestamp,
    kind: kindOf(attachments, text),
    text,
    attachments,
    surface: isComment ? 'comment' : 'inbox',
    commentId: isComment ? messageId : undefined,
    postId: isComment ? (idOf(post?.id) ?? idOf(message.post_id)) : undefined,
  });
}

/** A customer given as an object `{id, name, phone}` or as a bare id. */
function guideCustomer(value: unknown): { id?: string; name?: string; phone?: string } {
  const customer = obj(value);
  if (!customer) return { id: idOf(value) };
  return {
    id: idOf(customer.id) ?? idOf(customer.psid) ?? idOf(customer.fb_id),
    name: str(customer.name),
    phone: str(customer.phone) ?? str(customer.phone_number),
  };
}

/** Timestamps of the guide shapes: unix seconds or ms, or an ISO/Pancake date string. */
function guideTime(value: unknown): number | undefined {
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return epochMs(value.trim());
  return pancakeTime(value) ?? (typeof value === 'string' ? epochMs(Date.parse(value)) : undefined);
}

/** The page of a guide-shaped body (see the module comment). */
function guidePage(
  body: Obj,
  conversationId: string | undefined,
  pageIds: readonly string[],
): string | undefined {
  const explicit = idOf(body.page_id);
  if (explicit) return explicit;
  const prefix = conversationId?.includes('_')
    ? conversationId.slice(0, conversationId.indexOf('_'))
    : undefined;
  if (prefix && pageIds.includes(prefix)) return prefix;
  return pageIds.length === 1 ? pageIds[0] : undefined;
}

/**
 * Parses the guides' shapes: `new_message` (`message: {id, text, created_time}`) and the flat
 * one (`message_id`, `content`, `type`, `timestamp`).
 */
export function parsePancakeGuideMessage(
  ctx: BuildContext,
  pageIds: readonly string[],
  body: Obj,
): ParsedEvent {
  const message = obj(body.message);
  const conversationId = idOf(body.conversation_id) ?? idOf(message?.conversation_id);
  const pageId = guidePage(body, conversationId, pageIds);
  if (!pageId) return ignored('unsupported', 'message without page_id');
  if (!pageIds.includes(pageId)) return ignored('not-subscribed-page', pageId);
  const messageId = idOf(message?.id) ?? idOf(body.message_id);
  const from = obj(body.from) ?? obj(message?.from);
  const fromId = idOf(from?.id);
  if (
    body.is_page_sender === true ||
    message?.is_page_sender === true ||
    (fromId !== undefined && fromId === pageId)
  ) {
    return ignored('echo', 'page message');
  }
  const customer = guideCustomer(body.customer ?? from);
  if (!customer.id || !conversationId || !messageId) return ignored('unsupported', 'message without ids');
  const text =
    (message ? pancakeText({ message: message.text ?? message.message ?? message.content }) : undefined) ??
    pancakeText({ message: body.content ?? body.text });
  const attachments = pancakeAttachments(message ?? body);
  if (!text && attachments.length === 0) return ignored('unsupported', 'message without content');
  const type = (str(body.type) ?? str(message?.type) ?? '').toUpperCase();
  const isComment = type === 'COMMENT';
  return messageEvent(ctx, {
    conversationId,
    messageId,
    pageId,
    customer: { id: customer.id, name: customer.name, phone: customer.phone },
    timestamp: guideTime(
      message?.created_time ?? message?.inserted_at ?? body.timestamp ?? body.created_time,
    ),
    kind: kindOf(attachments, text),
    text,
    attachments,
    surface: isComment ? 'comment' : 'inbox',
    commentId: isComment ? messageId : undefined,
    postId: isComment ? idOf(body.post_id) : undefined,
  });
}

/** The Pancake adapter. */
export const pancakeAdapter: ChannelAdapter<'pancake'> = {
  channel: 'pancake',
  authenticate: (request, ctx) => {
    const token = request.query.token;
    const secret = ctx.config.signingSecret;
    // With a signing secret the signature authenticates the request and the URL token is optional.
    if ((token === undefined || token === '') && secret === undefined)
      throw new InvalidSignatureError('The token query parameter is missing.');
    if (token !== undefined && token !== '' && !safeEqual(token, ctx.config.webhookToken))
      throw new InvalidSignatureError('The token does not match.');
    if (secret === undefined) return;
    const signature = header(request.headers, PANCAKE_SIGNATURE_HEADER);
    const stamp = header(request.headers, PANCAKE_TIMESTAMP_HEADER);
    if (signature === undefined || stamp === undefined) {
      throw new InvalidSignatureError(
        'X-Pancake-Signature and X-Pancake-Timestamp are required for this tenant.',
      );
    }
    const sentAt = /^\d{1,16}$/.test(stamp.trim()) ? epochMs(stamp.trim()) : undefined;
    if (sentAt === undefined || Math.abs(ctx.receivedAt - sentAt) > PANCAKE_MAX_SKEW_MS) {
      throw new InvalidSignatureError(
        'X-Pancake-Timestamp is missing, malformed or more than 5 minutes off.',
      );
    }
    if (!prefixedHexMatches(signature, 'sha256=', hmacSha256Hex(secret, request.rawBody))) {
      throw new InvalidSignatureError('X-Pancake-Signature does not match the body.');
    }
  },
  parse: (rawBody, ctx): ParsedEvent[] => {
    const body = parseJsonObject(rawBody);
    const eventType = str(body.event_type);
    const hasMessage = obj(obj(body.data)?.message) !== undefined;
    // The guides' flat shape: no event_type, no data, a message_id and a conversation_id.
    const flat =
      eventType === undefined &&
      body.data === undefined &&
      idOf(body.message_id) !== undefined &&
      idOf(body.conversation_id) !== undefined;
    if (eventType === undefined && !hasMessage && body.data === undefined && !flat) {
      throw new InvalidPayloadError('The body has neither event_type nor data.');
    }
    const build: BuildContext = {
      tenantId: ctx.tenant.tenantId,
      channel: 'pancake',
      receivedAt: ctx.receivedAt,
    };
    if (flat || (eventType === 'new_message' && body.data === undefined)) {
      return safely(() => parsePancakeGuideMessage(build, ctx.config.pageIds, body));
    }
    // Some Pancake payloads omit event_type on message events: a data.message is a message.
    if (eventType !== undefined && eventType !== 'messaging') return [ignored('non-message', eventType)];
    return safely(() => parsePancakeMessaging(build, ctx.config.pageIds, body));
  },
};
