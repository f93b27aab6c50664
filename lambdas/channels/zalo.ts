/**
 * Zalo OA (unconfirmed as a whole: built from production code, see reference/channels.md).
 * No handshake. `X-ZEvent-Signature: mac=<hex SHA256(app_id + raw body + timestamp + OA secret
 * key)>` — plain SHA-256 of the concatenation, not an HMAC — with `app_id` and `timestamp` read
 * from the JSON body. One event per POST. Conversation id `{oaId}:{userId}`.
 *
 * `user_send_*` are customer messages, and so are `anonymous_send_*` (people who do not follow
 * the OA; conversation id `{oaId}:anonymous:{message.conversation_id}`, customer the anonymous
 * sender id); `user_send_group_*` (group chats) are answered in the group (conversation id
 * `{oaId}:group:{groupId}`, the group id from `recipient.group_id`, `message.conversation_id` or
 * `recipient.id`) when the tenant sets `groups`, otherwise ignored and counted; `user_received_message` /
 * `user_seen_message` receipts; `*_reacted_message` reactions. `oa_send_*` are messages sent from
 * the OA: with `sender.admin_id` a person sent them from the OA chat tool (human activity, the bot
 * pauses); without it they went through the API — ours or another app's — and are echoes.
 */
import { InvalidPayloadError, InvalidSignatureError } from '../shared/errors.js';
import type { Attachment, AttachmentKind, MessageKind, ParsedEvent } from '../shared/model.js';
import {
  arr,
  type BuildContext,
  epochMs,
  header,
  humanEvent,
  idOf,
  ignored,
  messageEvent,
  num,
  type Obj,
  obj,
  parseJsonObject,
  safely,
  str,
} from './common.js';
import { prefixedHexMatches, sha256HexOf } from './crypto.js';
import type { ChannelAdapter } from './types.js';

/** The signature header (lower-cased). */
export const ZALO_SIGNATURE_HEADER = 'x-zevent-signature';

/** Prefix of the events of people who do not follow the OA (they carry `message.conversation_id`). */
const ANONYMOUS_PREFIX = 'anonymous_send_';
/** Prefix of the events of group chats that mention the OA. */
const GROUP_PREFIX = 'user_send_group_';

/** Kind of each `user_send_*` event (attachment kind and message kind). */
const USER_SEND_KINDS: Readonly<Record<string, { kind: MessageKind; attachment?: AttachmentKind }>> = {
  user_send_text: { kind: 'text' },
  user_send_image: { kind: 'image', attachment: 'image' },
  user_send_gif: { kind: 'image', attachment: 'image' },
  user_send_audio: { kind: 'audio', attachment: 'audio' },
  user_send_video: { kind: 'video', attachment: 'video' },
  user_send_file: { kind: 'file', attachment: 'file' },
  user_send_sticker: { kind: 'sticker', attachment: 'sticker' },
  user_send_link: { kind: 'text', attachment: 'other' },
  user_send_location: { kind: 'location', attachment: 'location' },
  user_send_business_card: { kind: 'other', attachment: 'other' },
};

const RECEIPTS = ['user_received_message', 'user_seen_message'];

/** The text form of a body field as Zalo signs it (strings as is, integers as their digits). */
function signedField(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function zaloAttachments(message: Obj, fallback: AttachmentKind | undefined): Attachment[] {
  const out: Attachment[] = [];
  for (const raw of arr(message.attachments)) {
    const att = obj(raw);
    if (!att) continue;
    const payload = obj(att.payload) ?? {};
    const type = str(att.type);
    const kind: AttachmentKind =
      type === 'voice'
        ? 'audio'
        : type === 'gif'
          ? 'image'
          : type === 'link'
            ? 'other'
            : (fallback ?? 'other');
    const attachment: Attachment = { kind };
    const url = str(payload.url);
    if (url) attachment.url = url;
    const id = idOf(payload.id);
    if (id && !url) attachment.fileId = id;
    const name = str(payload.name) ?? str(payload.description);
    if (name) attachment.name = name;
    const size = num(payload.size);
    if (size !== undefined) attachment.size = size;
    if (kind === 'audio') attachment.voice = true;
    const coords = obj(payload.coordinates);
    if (coords) {
      const lat = num(coords.latitude);
      const long = num(coords.longitude);
      if (lat !== undefined) attachment.latitude = lat;
      if (long !== undefined) attachment.longitude = long;
    }
    out.push(attachment);
  }
  if (out.length === 0 && fallback && fallback !== 'other') out.push({ kind: fallback });
  return out;
}

/** Parses one Zalo event. */
export function parseZaloEvent(
  ctx: BuildContext,
  oaId: string,
  event: Obj,
  groups: boolean | undefined = false,
): ParsedEvent {
  const name = str(event.event_name) ?? '';
  const senderId = idOf(obj(event.sender)?.id);
  const recipientId = idOf(obj(event.recipient)?.id);
  const message = obj(event.message) ?? {};
  const timestamp = epochMs(event.timestamp);

  if (RECEIPTS.includes(name)) return ignored('receipt', name);
  if (name.endsWith('_reacted_message')) return ignored('reaction', name);

  if (name.startsWith('oa_send_')) {
    const eventOa = senderId ?? idOf(event.oa_id);
    if (eventOa !== undefined && eventOa !== oaId) return ignored('not-subscribed-page', eventOa);
    // `sender.admin_id` is there only when a person sent from the OA chat tool; a send through the
    // API (ours or another app's) lacks it and is no human taking over.
    const adminId = idOf(obj(event.sender)?.admin_id);
    if (adminId === undefined) return ignored('echo', `${name} through the API`);
    return humanEvent(ctx, {
      conversationId: recipientId ? `${oaId}:${recipientId}` : undefined,
      messageId: idOf(message.msg_id),
      pageId: oaId,
      agentId: adminId,
      timestamp,
    });
  }

  // Group chats that mention the OA: answered in the group when the tenant enables groups,
  // otherwise ignored (counted as EventsIgnored, reason non-message).
  const group = name.startsWith(GROUP_PREFIX);
  if (group && groups !== true) return ignored('non-message', 'group message (groups not enabled)');

  // `anonymous_send_*`: a person who does not follow the OA; the chat is `message.conversation_id`.
  const anonymous = name.startsWith(ANONYMOUS_PREFIX);
  const base = anonymous
    ? `user_send_${name.slice(ANONYMOUS_PREFIX.length)}`
    : group
      ? `user_send_${name.slice(GROUP_PREFIX.length)}`
      : name;
  const spec = USER_SEND_KINDS[base];
  if (!spec) {
    return name.startsWith('user_send_') || anonymous
      ? ignored('unsupported', name)
      : ignored('non-message', name || undefined);
  }
  // In a group event the recipient is the group, so only `oa_id` names the OA.
  const eventOa = group ? idOf(event.oa_id) : (recipientId ?? idOf(event.oa_id));
  if (eventOa !== undefined && eventOa !== oaId) return ignored('not-subscribed-page', eventOa);
  if (!senderId) return ignored('unsupported', 'message without sender');
  const anonymousChat = anonymous ? idOf(message.conversation_id) : undefined;
  if (anonymous && !anonymousChat) return ignored('unsupported', 'anonymous message without conversation_id');
  const groupId = group
    ? (idOf(obj(event.recipient)?.group_id) ??
      idOf(message.conversation_id) ??
      (recipientId !== oaId ? recipientId : undefined))
    : undefined;
  if (group && !groupId) return ignored('unsupported', 'group message without a group id');
  const text = str(message.text);
  const attachments = zaloAttachments(message, spec.attachment);
  return messageEvent(ctx, {
    conversationId: groupId
      ? `${oaId}:group:${groupId}`
      : anonymousChat
        ? `${oaId}:anonymous:${anonymousChat}`
        : `${oaId}:${senderId}`,
    messageId: idOf(message.msg_id) ?? '',
    pageId: oaId,
    // In a group the customer is the group (like Telegram): memory and rate limits go to the
    // chat, never one member's private memory in front of the others.
    customer: { id: groupId ?? senderId },
    timestamp,
    kind: spec.kind === 'text' && !text && attachments.length > 0 ? 'other' : spec.kind,
    text,
    attachments,
  });
}

/** The Zalo OA adapter. */
export const zaloAdapter: ChannelAdapter<'zalo'> = {
  channel: 'zalo',
  authenticate: (request, ctx) => {
    const signature = header(request.headers, ZALO_SIGNATURE_HEADER);
    if (signature === undefined) throw new InvalidSignatureError('X-ZEvent-Signature header is missing.');
    let body: Obj;
    try {
      body = parseJsonObject(request.rawBody);
    } catch (err) {
      throw new InvalidSignatureError('The body cannot be verified: it is not a JSON object.', {
        cause: err,
      });
    }
    const appId = signedField(body.app_id);
    const timestamp = signedField(body.timestamp);
    if (appId === undefined || timestamp === undefined) {
      throw new InvalidSignatureError('The body cannot be verified: app_id or timestamp is missing.');
    }
    const expected = sha256HexOf(appId, request.rawBody, timestamp, ctx.config.oaSecretKey);
    if (!prefixedHexMatches(signature, 'mac=', expected)) {
      throw new InvalidSignatureError('X-ZEvent-Signature does not match the body.');
    }
  },
  parse: (rawBody, ctx): ParsedEvent[] => {
    const event = parseJsonObject(rawBody);
    if (str(event.event_name) === undefined) throw new InvalidPayloadError('The event has no event_name.');
    const build: BuildContext = {
      tenantId: ctx.tenant.tenantId,
      channel: 'zalo',
      receivedAt: ctx.receivedAt,
    };
    return safely(() => parseZaloEvent(build, ctx.config.oaId, event, ctx.config.groups));
  },
};
