/**
 * Helpers shared by the channel adapters: lossless JSON parsing of webhook bodies, defensive
 * readers for untrusted values, and builders for the normalised events.
 *
 * Batch rule (every adapter): a body that is not JSON, not an object, or lacks the channel's
 * top-level structure is rejected whole with `InvalidPayloadError` (HTTP 400). A single item
 * inside an otherwise valid batch that is malformed or of an unknown shape is acknowledged as
 * `ignored` (reason `unsupported`) so one odd item never makes the platform retry — or, after
 * enough failures, disable — the webhook for the good items next to it.
 */
import { InvalidPayloadError } from '../shared/errors.js';
import { conversationKey } from '../shared/keys.js';
import type {
  Attachment,
  ChannelName,
  HumanActivity,
  IgnoreReason,
  MessageKind,
  NormalisedMessage,
  ParsedEvent,
} from '../shared/model.js';
import {
  boundedAttachment,
  boundedName,
  boundedOrDropped,
  boundedTimestamp,
  escapedJsonBytes,
  escapedJsonWithin,
  idProblem,
  MAX_ATTACHMENTS,
  MAX_EVENT_BYTES,
  MAX_ID_LENGTH,
  MAX_PHONE_LENGTH,
  MAX_POSTBACK_LENGTH,
  textLimit,
  truncateText,
} from './limits.js';

/**
 * The payload Messenger's Get Started button sends; Telegram `/start` and WhatsApp
 * `request_welcome` (a first-time chat) are parsed to it too, so one welcome reply answers all.
 */
export const GET_STARTED = 'GET_STARTED';

/** A parsed JSON object. */
export type Obj = Record<string, unknown>;

/** Integer literals of 16+ digits may be beyond 2^53: only then is the body scanned for them. */
const BIG_INTEGER_HINT = /\d{16}/;
const BIG_INTEGER = /^-?\d{16,}$/;

const isNumberChar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;

/**
 * `text` with every integer literal outside strings that a JavaScript number cannot hold exactly
 * wrapped in quotes. One pass over the text, whatever it holds: a regular expression restarting
 * at each quote of an unterminated string took quadratic time (minutes for 1 MiB), and Zalo
 * parses the body before its signature is checked.
 */
function quoteBigIntegers(text: string): string {
  let out = '';
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote (escapes skip the next unit).
      i += 1;
      while (i < text.length) {
        const d = text.charCodeAt(i);
        i += d === 0x5c ? 2 : 1;
        if (d === 0x22) break;
      }
    } else if ((c >= 0x30 && c <= 0x39) || c === 0x2d) {
      // A number token: the maximal run of number characters (fractions and exponents included).
      const start = i;
      i += 1;
      while (i < text.length && isNumberChar(text.charCodeAt(i))) i += 1;
      const token = text.slice(start, i);
      if (BIG_INTEGER.test(token) && !Number.isSafeInteger(Number(token))) {
        out += `${text.slice(copied, start)}"${token}"`;
        copied = i;
      }
    } else {
      i += 1;
    }
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * Parses a webhook body as JSON without losing precision: integers beyond 2^53 become strings
 * holding their exact digits (ids only ever need their text). Node 20 has no `context.source`
 * in `JSON.parse` revivers, so unsafe integers are quoted in the text before parsing.
 * @throws InvalidPayloadError when the body is not JSON or not a JSON object.
 */
export function parseJsonObject(rawBody: Buffer): Obj {
  let text = rawBody.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (BIG_INTEGER_HINT.test(text)) text = quoteBigIntegers(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidPayloadError('The request body is not valid JSON.', { cause: err });
  }
  if (!isObj(value)) throw new InvalidPayloadError('The request body is not a JSON object.');
  return value;
}

/** True for a plain JSON object (not null, not an array). */
export function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The object at `value`, or undefined. */
export function obj(value: unknown): Obj | undefined {
  return isObj(value) ? value : undefined;
}

/** The array at `value`, or an empty array. */
export function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** A non-empty string, or undefined. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** An id: a non-empty string, or an integer written as a number (exact digits). */
export function idOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim().length > 0 ? value : undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/** A finite number, from a number or a numeric string. */
export function num(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/**
 * An epoch timestamp in milliseconds from seconds or milliseconds (values below 10^11 are
 * seconds: 10^11 ms is 1973, 10^11 s is the year 5138), or undefined.
 */
export function epochMs(value: unknown): number | undefined {
  const n = num(value);
  if (n === undefined || n <= 0) return undefined;
  return n < 1e11 ? Math.round(n * 1000) : Math.round(n);
}

/** An ignored event. */
export function ignored(reason: IgnoreReason, detail?: string): ParsedEvent {
  return detail === undefined ? { type: 'ignored', reason } : { type: 'ignored', reason, detail };
}

/** Fields of a message an adapter supplies; the shared parts are filled in by {@link messageEvent}. */
export interface MessageFields {
  readonly conversationId: string;
  readonly messageId: string;
  readonly pageId: string;
  readonly customer: { readonly id: string; readonly name?: string; readonly phone?: string };
  readonly timestamp: number | undefined;
  readonly kind: MessageKind;
  readonly text?: string | undefined;
  readonly attachments?: readonly Attachment[];
  readonly surface?: 'inbox' | 'comment';
  readonly commentId?: string | undefined;
  readonly postId?: string | undefined;
  readonly postback?: string | undefined;
  /** What sent the postback (a button, a quick reply or list row, a command). */
  readonly postbackSource?: 'postback' | 'quick-reply' | 'command' | undefined;
  /** Telegram Business: the connection a reply must be sent through. */
  readonly businessConnectionId?: string | undefined;
}

/** The context every builder needs. */
export interface BuildContext {
  readonly tenantId: string;
  readonly channel: ChannelName;
  readonly receivedAt: number;
}

/** A copy of `value` without its undefined properties (copied, not deleted: `delete` slows every later read). */
function defined<T extends object>(value: T): T {
  const out = {} as T;
  for (const key in value) {
    if (value[key] !== undefined) out[key] = value[key];
  }
  return out;
}

/**
 * The first id among `ids` that cannot be kept verbatim, as the ignored event saying why, or
 * undefined when all can (see ./limits.ts).
 */
function idRefusal(ids: Readonly<Record<string, string | undefined>>): ParsedEvent | undefined {
  for (const [name, id] of Object.entries(ids)) {
    if (id === undefined) continue;
    const problem = idProblem(id);
    if (problem === 'oversized') return ignored('oversized', `${name} over ${MAX_ID_LENGTH} characters`);
    if (problem) return ignored(problem, `${name} is not valid Unicode`);
  }
  return undefined;
}

/** The event, or `ignored/oversized` when its JSON would exceed MAX_EVENT_BYTES. */
function withinSize(event: ParsedEvent, value: object): ParsedEvent {
  if (escapedJsonWithin(value, MAX_EVENT_BYTES)) return event;
  return ignored('oversized', `event of ${escapedJsonBytes(value)} bytes`);
}

/**
 * A customer-message event, or `ignored/unsupported` when the ids it must carry are missing
 * (a message is never yielded without a message id and a conversation key). Every value is
 * bounded here (./limits.ts): text truncated at the channel's limit with a marker, optional
 * fields out of bounds dropped, the timestamp replaced by the received-at time when absurd;
 * an id too long to keep verbatim makes the event `ignored/oversized`.
 */
export function messageEvent(ctx: BuildContext, fields: MessageFields): ParsedEvent {
  if (!fields.messageId || !fields.conversationId || !fields.pageId || !fields.customer.id) {
    return ignored('unsupported', 'message without ids');
  }
  const refused = idRefusal({
    'message id': fields.messageId,
    'conversation id': fields.conversationId,
    'page id': fields.pageId,
    'customer id': fields.customer.id,
    'comment id': fields.commentId,
  });
  if (refused) return refused;
  const surface = fields.surface ?? 'inbox';
  const customer = defined({
    id: fields.customer.id,
    name: boundedName(fields.customer.name),
    phone: boundedOrDropped(fields.customer.phone, MAX_PHONE_LENGTH),
  });
  const message: NormalisedMessage = defined({
    tenantId: ctx.tenantId,
    channel: ctx.channel,
    conversationId: fields.conversationId,
    conversationKey: conversationKey(ctx.tenantId, ctx.channel, fields.conversationId),
    messageId: fields.messageId,
    pageId: fields.pageId,
    customer,
    timestamp: boundedTimestamp(fields.timestamp, ctx.receivedAt),
    receivedAt: ctx.receivedAt,
    kind: fields.kind,
    text: fields.text === undefined ? undefined : truncateText(fields.text, textLimit(ctx.channel, surface)),
    attachments: (fields.attachments ?? []).slice(0, MAX_ATTACHMENTS).map(boundedAttachment),
    surface,
    commentId: fields.commentId,
    postId: boundedOrDropped(fields.postId, MAX_ID_LENGTH),
    postback: fields.postback === undefined ? undefined : truncateText(fields.postback, MAX_POSTBACK_LENGTH),
    postbackSource: fields.postback === undefined ? undefined : fields.postbackSource,
    businessConnectionId: boundedOrDropped(fields.businessConnectionId, MAX_ID_LENGTH),
  });
  return withinSize({ type: 'message', message }, message);
}

/** A human-agent activity event (same id guarantees and bounds as messages). */
export function humanEvent(
  ctx: BuildContext,
  fields: {
    conversationId: string | undefined;
    messageId: string | undefined;
    pageId: string;
    agentId?: string | undefined;
    action?: 'pause' | 'resume' | undefined;
    timestamp: number | undefined;
  },
): ParsedEvent {
  if (!fields.messageId || !fields.conversationId || !fields.pageId) {
    return ignored('unsupported', 'human activity without ids');
  }
  const refused = idRefusal({
    'message id': fields.messageId,
    'conversation id': fields.conversationId,
    'page id': fields.pageId,
  });
  if (refused) return refused;
  const activity: HumanActivity = defined({
    tenantId: ctx.tenantId,
    channel: ctx.channel,
    conversationId: fields.conversationId,
    conversationKey: conversationKey(ctx.tenantId, ctx.channel, fields.conversationId),
    messageId: fields.messageId,
    pageId: fields.pageId,
    agentId: boundedOrDropped(fields.agentId, MAX_ID_LENGTH),
    action: fields.action,
    timestamp: boundedTimestamp(fields.timestamp, ctx.receivedAt),
    receivedAt: ctx.receivedAt,
  });
  return withinSize({ type: 'human-active', activity }, activity);
}

/**
 * Runs `parseItem` on one batch item, turning an unexpected failure into `ignored/unsupported`
 * (see the batch rule at the top of this file).
 */
export function safely(parseItem: () => ParsedEvent | ParsedEvent[]): ParsedEvent[] {
  try {
    const result = parseItem();
    return Array.isArray(result) ? result : [result];
  } catch (err) {
    return [ignored('unsupported', err instanceof Error ? err.name : 'malformed item')];
  }
}

/** The message kind a message with these attachments and text has: its first attachment's, else text. */
export function kindOf(attachments: readonly Attachment[], text: string | undefined): MessageKind {
  const first = attachments[0];
  if (first) return first.kind === 'other' && text ? 'text' : first.kind;
  return text ? 'text' : 'other';
}

/** Reads a header (names are lower-cased by the handler; tolerate any case anyway). */
export function header(headers: Readonly<Record<string, string>>, name: string): string | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}
