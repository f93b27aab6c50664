/**
 * WhatsApp Cloud API: `hub.*` handshake and `X-Hub-Signature-256` as Messenger; bodies
 * `{object:"whatsapp_business_account", entry:[{changes:[{field, value}]}]}`. `value.messages[]`
 * are customer messages, `value.statuses[]` receipts, and `smb_message_echoes` (WhatsApp Business
 * app coexistence: a person replied from the phone app) human activity. Conversation id
 * `{phoneNumberId}:{wa_id}`; the wa_id is also the customer's phone number.
 */
import type { Attachment, AttachmentKind, MessageKind, ParsedEvent } from '../shared/model.js';
import {
  arr,
  type BuildContext,
  epochMs,
  GET_STARTED,
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
import { metaAuthenticate, metaHandshake, requireMetaBody } from './meta.js';
import type { ChannelAdapter } from './types.js';

const MEDIA_TYPES: Readonly<Record<string, AttachmentKind>> = {
  image: 'image',
  audio: 'audio',
  video: 'video',
  document: 'file',
  sticker: 'sticker',
};

/** Parses one `value.messages[]` item. */
export function parseWhatsappMessage(
  ctx: BuildContext,
  phoneNumberId: string,
  message: Obj,
  names: ReadonlyMap<string, string>,
): ParsedEvent {
  const from = idOf(message.from);
  const id = idOf(message.id);
  if (!from || !id) return ignored('unsupported', 'message without from or id');
  const type = str(message.type) ?? 'unknown';
  const attachments: Attachment[] = [];
  let kind: MessageKind;
  let text: string | undefined;
  let postback: string | undefined;
  let postbackSource: 'postback' | 'quick-reply' | 'command' | undefined;

  const mediaKind = MEDIA_TYPES[type];
  if (type === 'text') {
    text = str(obj(message.text)?.body);
    kind = 'text';
  } else if (mediaKind) {
    const media = obj(message[type]) ?? {};
    const attachment: Attachment = { kind: mediaKind };
    const fileId = idOf(media.id);
    if (fileId) attachment.fileId = fileId;
    const mime = str(media.mime_type);
    if (mime) attachment.mimeType = mime;
    const name = str(media.filename);
    if (name) attachment.name = name;
    const size = num(media.file_size);
    if (size !== undefined) attachment.size = size;
    if (type === 'audio' && media.voice === true) attachment.voice = true;
    attachments.push(attachment);
    text = str(media.caption);
    kind = mediaKind === 'file' ? 'file' : mediaKind;
  } else if (type === 'location') {
    const loc = obj(message.location) ?? {};
    const attachment: Attachment = { kind: 'location' };
    const lat = num(loc.latitude);
    const long = num(loc.longitude);
    if (lat !== undefined) attachment.latitude = lat;
    if (long !== undefined) attachment.longitude = long;
    // The place's name and address when the customer shared a place rather than a pin.
    const title = str(loc.name);
    if (title) attachment.title = title;
    const address = str(loc.address);
    if (address) attachment.address = address;
    attachments.push(attachment);
    kind = 'location';
  } else if (type === 'button') {
    const button = obj(message.button) ?? {};
    text = str(button.text);
    postback = str(button.payload) ?? text;
    // A template's quick-reply button.
    postbackSource = 'quick-reply';
    kind = 'postback';
  } else if (type === 'interactive') {
    const interactive = obj(message.interactive) ?? {};
    const flow = obj(interactive.nfm_reply);
    const reply = obj(interactive.button_reply) ?? obj(interactive.list_reply);
    if (flow) {
      // The customer completed a WhatsApp Flow: `response_json` holds their answers.
      postback = str(flow.response_json);
      if (!postback) return ignored('unsupported', 'flow reply without response_json');
      text = str(flow.body) ?? str(flow.name);
      postbackSource = 'postback';
    } else if (reply) {
      text = str(reply.title);
      postback = idOf(reply.id) ?? text;
      // A reply button is a button; a list row is a pick among choices, like a quick reply.
      postbackSource = obj(interactive.button_reply) ? 'postback' : 'quick-reply';
    } else {
      return ignored('unsupported', 'interactive without reply');
    }
    kind = 'postback';
  } else if (type === 'edit') {
    // The customer edited an earlier message: the new version is a new customer message (as a
    // Telegram `edited_message`), under the edit's own id so it is not deduplicated against the original.
    const edited = obj(obj(message.edit)?.message);
    if (!edited || edited.type === 'edit') return ignored('unsupported', 'edit without message');
    return parseWhatsappMessage(
      ctx,
      phoneNumberId,
      { ...edited, from: message.from, id: message.id, timestamp: message.timestamp },
      names,
    );
  } else if (type === 'revoke') {
    return ignored('non-message', 'message deleted');
  } else if (type === 'reaction') {
    return ignored('reaction');
  } else if (type === 'request_welcome') {
    // The customer opened the chat for the first time (WhatsApp "welcome messages"
    // conversational component): Get Started, answered by the tenant's welcome reply.
    postback = GET_STARTED;
    postbackSource = 'command';
    kind = 'postback';
  } else if (type === 'system') {
    return ignored('non-message', type);
  } else if (type === 'contacts' || type === 'order') {
    kind = 'other';
    text = undefined;
  } else {
    return ignored('unsupported', type.slice(0, 40));
  }
  if (kind === 'text' && !text) return ignored('unsupported', 'empty text');

  return messageEvent(ctx, {
    conversationId: `${phoneNumberId}:${from}`,
    messageId: id,
    pageId: phoneNumberId,
    customer: { id: from, name: names.get(from), phone: from },
    timestamp: epochMs(message.timestamp),
    kind,
    text,
    attachments,
    postback,
    postbackSource,
  });
}

/** Parses one `entry[].changes[]` item into its events. */
function parseChange(ctx: BuildContext, change: Obj, isOurs: (id: string) => boolean): ParsedEvent[] {
  const field = str(change.field);
  const value = obj(change.value);
  if (field !== 'messages' && field !== 'smb_message_echoes') return [ignored('non-message', field)];
  if (!value) return [ignored('unsupported', 'change without value')];
  const phoneNumberId = idOf(obj(value.metadata)?.phone_number_id);
  const messages = arr(value.messages);
  const statuses = arr(value.statuses);
  const echoes = arr(value.message_echoes);
  const count = messages.length + statuses.length + echoes.length;
  if (!phoneNumberId) return [ignored('unsupported', 'change without phone_number_id')];
  if (!isOurs(phoneNumberId)) {
    return Array.from({ length: Math.max(count, 1) }, () => ignored('not-subscribed-page', phoneNumberId));
  }
  const names = new Map<string, string>();
  for (const raw of arr(value.contacts)) {
    const contact = obj(raw);
    const waId = idOf(contact?.wa_id);
    const name = str(obj(contact?.profile)?.name);
    if (waId && name) names.set(waId, name);
  }
  const events: ParsedEvent[] = [];
  for (const raw of messages) {
    events.push(
      ...safely(() => {
        const message = obj(raw);
        return message
          ? parseWhatsappMessage(ctx, phoneNumberId, message, names)
          : ignored('unsupported', 'message is not an object');
      }),
    );
  }
  for (const _ of statuses) events.push(ignored('receipt'));
  for (const raw of echoes) {
    events.push(
      ...safely(() => {
        const echo = obj(raw) ?? {};
        const to = idOf(echo.to);
        return humanEvent(ctx, {
          conversationId: to ? `${phoneNumberId}:${to}` : undefined,
          messageId: idOf(echo.id),
          pageId: phoneNumberId,
          timestamp: epochMs(echo.timestamp),
        });
      }),
    );
  }
  if (count === 0) events.push(ignored('non-message', 'empty change'));
  return events;
}

/** The WhatsApp adapter. */
export const whatsappAdapter: ChannelAdapter<'whatsapp'> = {
  channel: 'whatsapp',
  handshake: (request, ctx) => metaHandshake(request, ctx.config.verifyToken),
  authenticate: (request, ctx) => metaAuthenticate(request, ctx.config.appSecret),
  parse: (rawBody, ctx): ParsedEvent[] => {
    const body = parseJsonObject(rawBody);
    requireMetaBody(body, ['whatsapp_business_account']);
    const build: BuildContext = {
      tenantId: ctx.tenant.tenantId,
      channel: 'whatsapp',
      receivedAt: ctx.receivedAt,
    };
    const ids = new Set(ctx.config.phoneNumberIds);
    const isOurs = (id: string): boolean => ids.has(id);
    const events: ParsedEvent[] = [];
    for (const rawEntry of body.entry as unknown[]) {
      const entry = obj(rawEntry);
      if (!entry) {
        events.push(ignored('unsupported', 'entry is not an object'));
        continue;
      }
      for (const rawChange of arr(entry.changes)) {
        events.push(
          ...safely(() => {
            const change = obj(rawChange);
            return change
              ? parseChange(build, change, isOurs)
              : ignored('unsupported', 'change is not an object');
          }),
        );
      }
    }
    return events;
  },
};
