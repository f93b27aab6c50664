/**
 * What Messenger, Instagram and WhatsApp share: the `hub.*` GET handshake, the
 * `X-Hub-Signature-256` check over the raw bytes, and the Messenger-platform `messaging[]` item
 * parser used by both Messenger and Instagram.
 */
import { HandshakeFailedError, InvalidPayloadError, InvalidSignatureError } from '../shared/errors.js';
import { sha256Hex } from '../shared/keys.js';
import type { Attachment, AttachmentKind, ParsedEvent } from '../shared/model.js';
import type { TenantDocument } from '../shared/tenant.js';
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
import { plausibleTime } from './limits.js';
import type { AdapterContext, WebhookRequest } from './types.js';

/**
 * App ids Meta puts on the echo of a message a person sent from the Page inbox (Meta Business
 * Suite / Page inbox). Sources disagree on the digits (reference/channels.md, unconfirmed), so
 * both are accepted; this list is the one place to change it.
 */
export const PAGE_INBOX_APP_IDS: readonly string[] = ['263902037430900', '26390203743090'];

/**
 * True when the tenant answers no Messenger or Instagram comment (`settings.comments: ignore`):
 * comment events are then dropped at parse and counted (`EventsIgnored`, reason `comments-off`).
 */
export function commentsOff(tenant: TenantDocument): boolean {
  return tenant.settings.comments === 'ignore';
}

/** Longest postback payload kept as is inside a derived postback id (longer: its hash). */
const POSTBACK_ID_PAYLOAD_MAX = 200;

/** The signature header Meta sends (lower-cased, as the handler hands headers over). */
export const META_SIGNATURE_HEADER = 'x-hub-signature-256';

/**
 * Answers Meta's GET verification: `hub.mode=subscribe` and `hub.verify_token` equal to the
 * tenant's verify token → the raw `hub.challenge`.
 * @throws HandshakeFailedError
 */
export function metaHandshake(request: WebhookRequest, verifyToken: string): string {
  const mode = request.query['hub.mode'];
  const token = request.query['hub.verify_token'];
  const challenge = request.query['hub.challenge'];
  if (mode !== 'subscribe') throw new HandshakeFailedError('hub.mode must be "subscribe".');
  if (token === undefined || !safeEqual(token, verifyToken)) {
    throw new HandshakeFailedError('hub.verify_token does not match.');
  }
  if (challenge === undefined || challenge === '')
    throw new HandshakeFailedError('hub.challenge is missing.');
  return challenge;
}

/**
 * Checks `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(appSecret, raw body)>`.
 * @throws InvalidSignatureError
 */
export function metaAuthenticate(request: WebhookRequest, appSecret: string): void {
  const signature = header(request.headers, META_SIGNATURE_HEADER);
  if (signature === undefined) throw new InvalidSignatureError('X-Hub-Signature-256 header is missing.');
  const expected = hmacSha256Hex(appSecret, request.rawBody);
  if (!prefixedHexMatches(signature, 'sha256=', expected)) {
    throw new InvalidSignatureError('X-Hub-Signature-256 does not match the body.');
  }
}

const META_ATTACHMENT_KINDS: Readonly<Record<string, AttachmentKind>> = {
  image: 'image',
  audio: 'audio',
  video: 'video',
  file: 'file',
  location: 'location',
  sticker: 'sticker',
  animated_image_share: 'image',
  story_mention: 'image',
  ig_reel: 'video',
  reel: 'video',
};

/** Messenger-platform attachments (`message.attachments[]`). */
export function metaAttachments(message: Obj): Attachment[] {
  const out: Attachment[] = [];
  const stickerId = idOf(message.sticker_id);
  for (const raw of arr(message.attachments)) {
    const att = obj(raw);
    if (!att) continue;
    const type = str(att.type) ?? 'other';
    const payload = obj(att.payload) ?? {};
    let kind: AttachmentKind = META_ATTACHMENT_KINDS[type] ?? 'other';
    if (kind === 'image' && (stickerId || idOf(payload.sticker_id))) kind = 'sticker';
    const attachment: Attachment = { kind };
    const url = str(payload.url);
    if (url) attachment.url = url;
    const title = str(att.title) ?? str(payload.title);
    const coords = obj(payload.coordinates);
    if (kind === 'location') {
      // A shared location's place name (`title`, e.g. "Pinned Location" or a place's name).
      if (title) attachment.title = title;
      const lat = num(coords?.lat);
      const long = num(coords?.long);
      if (lat !== undefined) attachment.latitude = lat;
      if (long !== undefined) attachment.longitude = long;
    } else if (title) {
      attachment.name = title;
    }
    const name = str(payload.name) ?? str(payload.filename);
    if (name && !attachment.name) attachment.name = name;
    const size = num(payload.size);
    if (size !== undefined) attachment.size = size;
    out.push(attachment);
  }
  return out;
}

/** Options of {@link parseMessagingItem}. */
export interface MessagingOptions {
  /** The page / Instagram account the entry is for. */
  readonly accountId: string;
  /** Our own Meta app id when configured: echoes carrying it are our sends. */
  readonly ourAppId: string | undefined;
  /** Entry time, fallback for items without a timestamp. */
  readonly entryTime: number | undefined;
}

/**
 * Classifies one `entry[].messaging[]` item (Messenger and Instagram share the shape):
 * customer message, postback, echo (ours → ignored, page-inbox → human-active), receipts,
 * reactions and everything else.
 */
export function parseMessagingItem(ctx: BuildContext, item: Obj, opts: MessagingOptions): ParsedEvent {
  const senderId = idOf(obj(item.sender)?.id);
  const recipientId = idOf(obj(item.recipient)?.id);
  // The item's own time as sent (stable across retries: part of derived postback ids), and the
  // message time: the item's when plausible, else the entry's.
  const itemTime = epochMs(item.timestamp);
  const timestamp = plausibleTime(itemTime, ctx.receivedAt) ?? opts.entryTime;
  const message = obj(item.message);

  if (message) {
    const mid = idOf(message.mid);
    if (message.is_echo === true) {
      // Echo of a message the page sent: to the customer in `recipient`.
      const appId = idOf(message.app_id);
      const conversationId = recipientId ? `${opts.accountId}:${recipientId}` : undefined;
      if (appId !== undefined && appId !== opts.ourAppId && PAGE_INBOX_APP_IDS.includes(appId)) {
        return humanEvent(ctx, {
          conversationId,
          messageId: mid,
          pageId: opts.accountId,
          agentId: appId,
          timestamp,
        });
      }
      return ignored('echo', appId ? `app ${appId}` : undefined);
    }
    if (message.is_deleted === true) return ignored('non-message', 'message deleted');
    if (message.is_unsupported === true) return ignored('unsupported', 'unsupported message');
    if (!senderId) return ignored('unsupported', 'message without sender');
    if (senderId === opts.accountId) return ignored('echo', 'sent by the page');
    const text = str(message.text);
    const attachments = metaAttachments(message);
    if (!text && attachments.length === 0) return ignored('unsupported', 'message without content');
    const quickReply = str(obj(message.quick_reply)?.payload);
    return messageEvent(ctx, {
      conversationId: `${opts.accountId}:${senderId}`,
      messageId: mid ?? '',
      pageId: opts.accountId,
      customer: { id: senderId },
      timestamp,
      kind: quickReply ? 'postback' : kindOf(attachments, text),
      text,
      attachments,
      postback: quickReply,
      postbackSource: 'quick-reply',
    });
  }

  const postback = obj(item.postback);
  if (postback) {
    if (!senderId) return ignored('unsupported', 'postback without sender');
    const payload = str(postback.payload);
    const title = str(postback.title);
    const postbackMid = idOf(postback.mid);
    const idTime = itemTime ?? opts.entryTime;
    if (!postbackMid && idTime === undefined) return ignored('unsupported', 'postback without id');
    // Older postbacks carry no mid: derive a stable id so platform retries still deduplicate
    // (a long payload by its hash, so the id stays short enough to keep).
    const basis = payload ?? '';
    const payloadPart = basis.length <= POSTBACK_ID_PAYLOAD_MAX ? basis : `~${sha256Hex(basis)}`;
    const messageId = postbackMid ?? `postback:${senderId}:${idTime}:${payloadPart}`;
    return messageEvent(ctx, {
      conversationId: `${opts.accountId}:${senderId}`,
      messageId,
      pageId: opts.accountId,
      customer: { id: senderId },
      timestamp,
      kind: 'postback',
      text: title ?? payload,
      postback: payload,
      postbackSource: 'postback',
    });
  }

  const edit = obj(item.message_edit);
  if (edit) {
    // The customer edited a message: the new text is a new customer message (as a Telegram
    // `edited_message`), its id the original's plus the edit count so it is not deduplicated away.
    const editedMid = idOf(edit.mid);
    const text = str(edit.text);
    if (!senderId || !editedMid || !text) return ignored('unsupported', 'edit without sender, mid or text');
    if (senderId === opts.accountId) return ignored('echo', 'edited by the page');
    return messageEvent(ctx, {
      conversationId: `${opts.accountId}:${senderId}`,
      messageId: `${editedMid}:edit:${num(edit.num_edit) ?? itemTime ?? 0}`,
      pageId: opts.accountId,
      customer: { id: senderId },
      timestamp,
      kind: 'text',
      text,
    });
  }

  // Handover events: Meta documents the customer as `sender`; some fixtures swap the two.
  const customerId = [senderId, recipientId].find((id) => id !== undefined && id !== opts.accountId);
  const handover = parseHandover(ctx, item, opts, customerId, timestamp);
  if (handover) return handover;

  if (item.delivery !== undefined || item.read !== undefined) return ignored('receipt');
  if (item.reaction !== undefined) return ignored('reaction');
  const kind = Object.keys(item).find((k) => !['sender', 'recipient', 'timestamp'].includes(k));
  return ignored('non-message', kind);
}

/**
 * Handover protocol events (developers.facebook.com/docs/messenger-platform/handover-protocol;
 * reference/webhook-events/messaging_handovers): `pass_thread_control` reaches the app given the
 * thread, `take_thread_control` the app it was taken from, `request_thread_control` the owner
 * asked for it. The thread handed to our app → `resume` (lift the pause); taken by or passed to
 * the Page inbox → a human agent has it (pause). Anything else — another bot app, or a mere
 * request, which moves nothing — is not acted on. Undefined when `item` is no handover event.
 */
function parseHandover(
  ctx: BuildContext,
  item: Obj,
  opts: MessagingOptions,
  customerId: string | undefined,
  timestamp: number | undefined,
): ParsedEvent | undefined {
  const pass = obj(item.pass_thread_control);
  const take = obj(item.take_thread_control);
  if (!pass && !take) {
    return item.request_thread_control === undefined
      ? undefined
      : ignored('non-message', 'request_thread_control');
  }
  const type = pass ? 'pass_thread_control' : 'take_thread_control';
  const newOwner = idOf((pass ?? take)?.new_owner_app_id);
  let action: 'pause' | 'resume' | undefined;
  if (pass && newOwner !== undefined && newOwner === opts.ourAppId) action = 'resume';
  else if (newOwner !== undefined && PAGE_INBOX_APP_IDS.includes(newOwner)) action = 'pause';
  if (!action || !customerId) return ignored('non-message', type);
  const time = epochMs(item.timestamp) ?? timestamp;
  return humanEvent(ctx, {
    conversationId: `${opts.accountId}:${customerId}`,
    // No message id on handovers: the event's kind and time identify it across retries.
    messageId: `${type}:${customerId}:${time ?? 0}`,
    pageId: opts.accountId,
    agentId: newOwner,
    action,
    timestamp,
  });
}

/**
 * Checks the top-level shape of a Meta body: `object` (when present) is one of `objects` and
 * `entry` is an array.
 * @throws InvalidPayloadError
 */
export function requireMetaBody(body: Obj, objects: readonly string[]): void {
  if (body.object !== undefined && !objects.includes(String(body.object))) {
    throw new InvalidPayloadError(`Unexpected webhook object "${String(body.object).slice(0, 40)}".`);
  }
  if (!Array.isArray(body.entry)) throw new InvalidPayloadError('The body has no "entry" array.');
}

/**
 * Parses a Messenger or Instagram body: `{object, entry:[{id, time, messaging:[…], changes:[…]}]}`.
 * `parseChange` handles `entry[].changes[]` items (Instagram comments); `isOurs` says whether an
 * entry's account is configured for the tenant.
 */
export function parseMetaEntries(
  ctx: BuildContext,
  body: Obj,
  opts: {
    readonly isOurs: (accountId: string) => boolean;
    readonly ourAppId: string | undefined;
    readonly parseChange?: (accountId: string, change: Obj, entryTime: number | undefined) => ParsedEvent;
  },
): ParsedEvent[] {
  const events: ParsedEvent[] = [];
  for (const rawEntry of body.entry as unknown[]) {
    const entry = obj(rawEntry);
    if (!entry) {
      events.push(ignored('unsupported', 'entry is not an object'));
      continue;
    }
    const accountId = idOf(entry.id);
    const entryTime = epochMs(entry.time);
    const items = [...arr(entry.messaging), ...arr(entry.standby).map((s) => ({ standby: s }))];
    const changes = arr(entry.changes);
    if (!accountId) {
      events.push(ignored('unsupported', 'entry without id'));
      continue;
    }
    const ours = opts.isOurs(accountId);
    for (const raw of items) {
      if (!ours) {
        events.push(ignored('not-subscribed-page', accountId));
        continue;
      }
      events.push(
        ...safely(() => {
          const item = obj(raw);
          if (!item) return ignored('unsupported', 'messaging item is not an object');
          const standby = obj(item.standby);
          if (item.standby !== undefined) {
            // Another app owns the thread (handover protocol): its traffic is not ours to answer,
            // but an echo from the Page inbox is a person replying there — pause the bot.
            if (!standby) return ignored('unsupported', 'standby item is not an object');
            const event = parseMessagingItem(ctx, standby, { accountId, ourAppId: opts.ourAppId, entryTime });
            return event.type === 'message' ? ignored('non-message', 'standby') : event;
          }
          return parseMessagingItem(ctx, item, { accountId, ourAppId: opts.ourAppId, entryTime });
        }),
      );
    }
    for (const raw of changes) {
      if (!ours) {
        events.push(ignored('not-subscribed-page', accountId));
        continue;
      }
      events.push(
        ...safely(() => {
          const change = obj(raw);
          if (!change) return ignored('unsupported', 'change is not an object');
          if (!opts.parseChange) return ignored('non-message', str(change.field));
          return opts.parseChange(accountId, change, entryTime);
        }),
      );
    }
  }
  return events;
}

/**
 * The `parse` step of the Messenger and Instagram adapters: checks the body's shape, then parses
 * its entries for the accounts configured in `accounts`, with `parseChange` reading the
 * channel's `changes[]` comments — which are not messages when the tenant's
 * `settings.comments` is `ignore`.
 * @throws InvalidPayloadError
 */
export function parseMetaWebhook<C extends 'messenger' | 'instagram'>(
  rawBody: Buffer,
  ctx: AdapterContext<C>,
  opts: {
    readonly channel: C;
    /** The `object` values the channel's bodies carry. */
    readonly objects: readonly string[];
    /** The tenant's configured accounts (Pages or Instagram accounts), by id. */
    readonly accounts: object;
    readonly parseChange: (
      build: BuildContext,
      accountId: string,
      change: Obj,
      entryTime: number | undefined,
    ) => ParsedEvent;
  },
): ParsedEvent[] {
  const body = parseJsonObject(rawBody);
  requireMetaBody(body, opts.objects);
  const build: BuildContext = {
    tenantId: ctx.tenant.tenantId,
    channel: opts.channel,
    receivedAt: ctx.receivedAt,
  };
  const off = commentsOff(ctx.tenant);
  return parseMetaEntries(build, body, {
    isOurs: (id) => Object.hasOwn(opts.accounts, id),
    ourAppId: ctx.config.appId,
    parseChange: (accountId, change, entryTime) => {
      const event = opts.parseChange(build, accountId, change, entryTime);
      return off && event.type === 'message' ? ignored('comments-off') : event;
    },
  });
}
