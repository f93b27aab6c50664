/**
 * Bounds on every value a platform can put in a signed webhook body, applied by the shared
 * event builders (`messageEvent`, `humanEvent` in ./common.ts) so no adapter can forget them.
 * A value out of bounds is handled — text truncated with a visible marker, optional fields
 * dropped, timestamps replaced by the received-at time — and only an event whose ids cannot be
 * kept (needed to answer, yet longer than {@link MAX_ID_LENGTH} or not valid Unicode) or that
 * stays too large is ignored, with reason `oversized` or `unsupported` (counted in
 * `EventsIgnored`). Keys derived from the ids are bounded separately (lambdas/shared/keys.ts).
 *
 * Lengths are in UTF-16 code units (JavaScript `length`, which is how the platforms' APIs count
 * characters); a surrogate pair is never split.
 */
import type { Attachment, ChannelName } from '../shared/model.js';

/**
 * Largest customer text kept per channel, from the platforms' documented message sizes
 * (reference/channels.md): WhatsApp 4096, Messenger 2000, Instagram 1000 (DMs), Telegram 4096,
 * Zalo 2000. Pancake relays Facebook pages, whose comments run to 8000 characters: 8000.
 */
export const TEXT_LIMITS: Readonly<Record<ChannelName, number>> = {
  whatsapp: 4096,
  messenger: 2000,
  instagram: 1000,
  telegram: 4096,
  zalo: 2000,
  pancake: 8000,
};

/** Comments where the platform allows longer text than its messages: Instagram comments, 2200. */
export const COMMENT_TEXT_LIMITS: Readonly<Partial<Record<ChannelName, number>>> = {
  instagram: 2200,
};

/** Postback payloads (Messenger's documented maximum: 1000). */
export const MAX_POSTBACK_LENGTH = 1000;
/**
 * Ids kept verbatim (a reply needs the raw customer, conversation and comment ids). Real ids
 * are under 300 characters; longer ones are still answered (their keys are hashed) up to this.
 */
export const MAX_ID_LENGTH = 4096;
/** Customer and attachment names: longer ones are cut (with `…`). */
export const MAX_NAME_LENGTH = 256;
/** Phone numbers: longer ones are dropped. */
export const MAX_PHONE_LENGTH = 64;
/** Media URLs: longer ones are dropped (the attachment stays, without a fetchable URL). */
export const MAX_URL_LENGTH = 4096;
/** Platform file / media ids: longer ones are dropped. */
export const MAX_FILE_ID_LENGTH = 1024;
/** MIME types: longer ones are dropped. */
export const MAX_MIME_LENGTH = 255;
/** Attachments kept per message (the first ones). */
export const MAX_ATTACHMENTS = 20;
/**
 * Largest normalised message or human activity, as JSON with every non-ASCII code unit counted
 * as its 6-byte `\uXXXX` escape (how queue bodies carry it). Field bounds keep real messages far
 * below; only ids near {@link MAX_ID_LENGTH} in non-ASCII script reach it. Keeps an inbound
 * event well inside SQS's message size and a turn's messages inside the state item.
 */
export const MAX_EVENT_BYTES = 64 * 1024;
/**
 * Most events one webhook request may enqueue (messages and human activity; ignored events do
 * not count). Meta batches at most 1000 updates per request and the other platforms send one;
 * a body with more is refused whole with `TooManyEventsError` (413) before anything is
 * enqueued: it is no platform's, and retrying a 503 for it would never fit the answer deadline.
 */
export const MAX_EVENTS_PER_REQUEST = 1000;
/** Timestamps before this (2000-01-01) are not a message's: the received-at time is used. */
export const MIN_TIMESTAMP_MS = Date.UTC(2000, 0, 1);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** Any surrogate: most texts have none, and this test is far cheaper than the look-around one. */
const ANY_SURROGATE = /[\uD800-\uDFFF]/;

/** True when `value` has no lone surrogate (UTF-8, hence DynamoDB, can hold it exactly). */
export function isWellFormed(value: string): boolean {
  return !ANY_SURROGATE.test(value) || !LONE_SURROGATE.test(value);
}

/** `value` with each lone surrogate replaced by U+FFFD. */
export function wellFormed(value: string): string {
  return isWellFormed(value) ? value : value.replace(LONE_SURROGATES, '\uFFFD');
}

/** Where to cut `value` to at most `limit` code units without splitting a surrogate pair. */
function cutAt(value: string, limit: number): number {
  const code = value.charCodeAt(limit - 1);
  return code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit;
}

/** The marker appended to a truncated text. */
export function truncationMarker(removed: number): string {
  return `… [truncated ${removed} characters]`;
}

/**
 * `text` cut to its first `limit` code units plus {@link truncationMarker} when longer, lone
 * surrogates replaced; unchanged otherwise.
 */
export function truncateText(text: string, limit: number): string {
  const clean = wellFormed(text);
  if (clean.length <= limit) return clean;
  const cut = cutAt(clean, limit);
  return clean.slice(0, cut) + truncationMarker(clean.length - cut);
}

/** A name cut to {@link MAX_NAME_LENGTH} with `…`, lone surrogates replaced. */
export function boundedName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const clean = wellFormed(name);
  if (clean.length <= MAX_NAME_LENGTH) return clean;
  return `${clean.slice(0, cutAt(clean, MAX_NAME_LENGTH - 1))}…`;
}

/** `value` when it is at most `max` code units and well-formed, else undefined (dropped). */
export function boundedOrDropped(value: string | undefined, max: number): string | undefined {
  return value !== undefined && value.length <= max && isWellFormed(value) ? value : undefined;
}

/** The text limit of a channel's surface. */
export function textLimit(channel: ChannelName, surface: 'inbox' | 'comment'): number {
  return (surface === 'comment' ? COMMENT_TEXT_LIMITS[channel] : undefined) ?? TEXT_LIMITS[channel];
}

/** How far a platform clock may run ahead of ours before its timestamps are not believed. */
export const MAX_CLOCK_AHEAD_MS = 24 * 60 * 60 * 1000;

/**
 * `timestamp` rounded when it is a plausible time for a message received at `receivedAt`: a
 * finite epoch ms from {@link MIN_TIMESTAMP_MS} to {@link MAX_CLOCK_AHEAD_MS} after receipt.
 * Undefined otherwise (1e308, negative, seconds mistaken for ms, year 5000…), so a parser can
 * fall back to another time the body gives.
 */
export function plausibleTime(timestamp: number | undefined, receivedAt: number): number | undefined {
  if (timestamp === undefined || !Number.isFinite(timestamp)) return undefined;
  if (timestamp < MIN_TIMESTAMP_MS || timestamp > receivedAt + MAX_CLOCK_AHEAD_MS) return undefined;
  return Math.round(timestamp);
}

/**
 * The message time: the platform's when {@link plausibleTime}, never later than receipt (the
 * customer's 24-hour window and the turn's order never run on a clock ahead of ours), else the
 * received-at time.
 */
export function boundedTimestamp(timestamp: number | undefined, receivedAt: number): number {
  return Math.min(plausibleTime(timestamp, receivedAt) ?? receivedAt, receivedAt);
}

/** A coordinate rounded to 7 decimals (~1 cm) when within ±`max`, else undefined. */
function coordinate(value: number | undefined, max: number): number | undefined {
  if (value === undefined || !Number.isFinite(value) || Math.abs(value) > max) return undefined;
  // Rounding also turns magnitudes DynamoDB cannot store (below 1e-130) into 0.
  return Math.round(value * 1e7) / 1e7 || 0;
}

/** An attachment with every field within bounds (out-of-bound fields dropped). */
export function boundedAttachment(attachment: Attachment): Attachment {
  const out: Attachment = { kind: attachment.kind };
  const url = boundedOrDropped(attachment.url, MAX_URL_LENGTH);
  if (url !== undefined) out.url = url;
  const fileId = boundedOrDropped(attachment.fileId, MAX_FILE_ID_LENGTH);
  if (fileId !== undefined) out.fileId = fileId;
  const mimeType = boundedOrDropped(attachment.mimeType, MAX_MIME_LENGTH);
  if (mimeType !== undefined) out.mimeType = mimeType;
  const name = boundedName(attachment.name);
  if (name !== undefined) out.name = name;
  const size = attachment.size;
  if (size !== undefined && Number.isSafeInteger(size) && size >= 0) out.size = size;
  if (attachment.voice === true) out.voice = true;
  const latitude = coordinate(attachment.latitude, 90);
  const longitude = coordinate(attachment.longitude, 180);
  if (latitude !== undefined && longitude !== undefined) {
    out.latitude = latitude;
    out.longitude = longitude;
  }
  const title = boundedName(attachment.title);
  if (title !== undefined) out.title = title;
  const address = boundedName(attachment.address);
  if (address !== undefined) out.address = address;
  return out;
}

/**
 * Why a required id cannot be kept, or undefined when it can: ids are sent back to the
 * platform verbatim, so they are never shortened.
 */
export function idProblem(id: string): 'oversized' | 'unsupported' | undefined {
  if (id.length > MAX_ID_LENGTH) return 'oversized';
  if (!isWellFormed(id)) return 'unsupported';
  return undefined;
}

const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/g;

/**
 * Size of `value` as JSON with each non-ASCII code unit counted as its `\uXXXX` escape (an
 * upper bound of the queue body's bytes; control characters are already escaped by JSON).
 */
export function escapedJsonBytes(value: unknown): number {
  const json = JSON.stringify(value) ?? '';
  return json.length + 5 * (json.match(NOT_PRINTABLE_ASCII)?.length ?? 0);
}

/**
 * An upper bound of {@link escapedJsonBytes} for the plain values events are made of, without
 * serialising: every string unit counted as a 6-byte escape, every number as 24 bytes.
 */
function escapedUpperBound(value: unknown): number {
  if (typeof value === 'string') return value.length * 6 + 2;
  if (typeof value !== 'object' || value === null) return 24;
  let bytes = 2;
  if (Array.isArray(value)) {
    for (const item of value) bytes += escapedUpperBound(item) + 1;
    return bytes;
  }
  const record = value as Record<string, unknown>;
  // for…in, not Object.entries: no array per object on the per-message path.
  for (const key in record) bytes += key.length * 6 + 4 + escapedUpperBound(record[key]);
  return bytes;
}

/**
 * True when `value`'s {@link escapedJsonBytes} is at most `maxBytes`. Serialises only when the
 * cheap upper bound says it might not be (JSON.stringify of every message costs as much as
 * parsing it).
 */
export function escapedJsonWithin(value: unknown, maxBytes: number): boolean {
  return escapedUpperBound(value) <= maxBytes || escapedJsonBytes(value) <= maxBytes;
}
