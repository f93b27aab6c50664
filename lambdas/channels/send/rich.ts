/**
 * Rich replies (quick replies and buttons) shared by every sender: the platform limits each
 * native rendering must respect, helpers to cut titles and cap counts within them, and the
 * numbered-text fallback for channels (or shapes) without a native rendering.
 *
 * Numbered text: the reply's text, a blank line, then one line per choice — `1. Title` for a
 * postback button or a quick reply (numbered in order, buttons first), `Title: https://…` for a
 * URL button (unnumbered: the link is the action). The customer answers by typing the number or
 * the title, which reaches the responder as ordinary text.
 *
 * Lengths are in UTF-16 code units (how the platforms count characters); a surrogate pair is
 * never split. Telegram counts `callback_data` in UTF-8 bytes: {@link boundedPayloadBytes}.
 */
import type { QuickReply } from '../../contracts/responder.js';
import { truncateText, wellFormed } from '../limits.js';
import type { SendExtras } from '../types.js';

/** The limits of one native rendering. */
export interface RichLimits {
  /** Most quick replies shown (extra ones dropped, in order). */
  readonly maxQuickReplies: number;
  /** Most buttons shown (extra ones dropped, in order). */
  readonly maxButtons: number;
  /** Longest quick-reply or button title (longer ones cut with `…`). */
  readonly titleLength: number;
  /** Longest postback payload (longer ones replaced by a bounded form, see {@link boundedPayload}). */
  readonly payloadLength: number;
  /** Longest text sent with the choices (a longer text falls back to numbered text). */
  readonly textLength: number;
}

/**
 * Messenger quick replies: at most 13, title ≤ 20 characters, payload ≤ 1000
 * (developers.facebook.com/docs/messenger-platform/send-messages/quick-replies).
 * Text with quick replies follows the Send API's 2000.
 */
export const MESSENGER_QUICK_REPLY_LIMITS: RichLimits = {
  maxQuickReplies: 13,
  maxButtons: 0,
  titleLength: 20,
  payloadLength: 1000,
  textLength: 2000,
};

/**
 * Messenger button template: 1–3 buttons, text ≤ 640 characters, button title ≤ 20, postback
 * payload ≤ 1000 (developers.facebook.com/docs/messenger-platform/send-messages/template/button).
 */
export const MESSENGER_BUTTON_LIMITS: RichLimits = {
  maxQuickReplies: 13,
  maxButtons: 3,
  titleLength: 20,
  payloadLength: 1000,
  textLength: 640,
};

/**
 * Instagram quick replies: at most 13, text-only, title ≤ 20 characters, text ≤ 1000
 * (developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api/quick-replies).
 */
export const INSTAGRAM_QUICK_REPLY_LIMITS: RichLimits = {
  maxQuickReplies: 13,
  maxButtons: 0,
  titleLength: 20,
  payloadLength: 1000,
  textLength: 1000,
};

/**
 * Instagram button template: 1–3 buttons (`web_url`, `postback`), text ≤ 640, title ≤ 20
 * (developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api/button-template).
 */
export const INSTAGRAM_BUTTON_LIMITS: RichLimits = {
  maxQuickReplies: 13,
  maxButtons: 3,
  titleLength: 20,
  payloadLength: 1000,
  textLength: 640,
};

/**
 * WhatsApp interactive reply buttons: at most 3, title ≤ 20 characters, id ≤ 256, body ≤ 1024
 * (developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-reply-buttons-messages).
 */
export const WHATSAPP_BUTTON_LIMITS: RichLimits = {
  maxQuickReplies: 3,
  maxButtons: 3,
  titleLength: 20,
  payloadLength: 256,
  textLength: 1024,
};

/**
 * WhatsApp interactive list: at most 10 rows, row title ≤ 24 characters, row id ≤ 200, body ≤ 4096,
 * button label ≤ 20 (developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-list-messages).
 */
export const WHATSAPP_LIST_LIMITS: RichLimits = {
  maxQuickReplies: 10,
  maxButtons: 10,
  titleLength: 24,
  payloadLength: 200,
  textLength: 4096,
};

/**
 * WhatsApp interactive call-to-action URL button: one button, display text ≤ 20, body ≤ 1024
 * (developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-cta-url-messages).
 */
export const WHATSAPP_CTA_URL_LIMITS: RichLimits = {
  maxQuickReplies: 0,
  maxButtons: 1,
  titleLength: 20,
  payloadLength: 0,
  textLength: 1024,
};

/**
 * Telegram inline keyboard: `callback_data` 1–64 bytes (core.telegram.org/bots/api#inlinekeyboardbutton);
 * no documented count or title limit — 8 buttons per row, 100 buttons and 64-character titles kept
 * here so a keyboard stays usable on a phone. Text ≤ 4096 (sendMessage).
 */
export const TELEGRAM_KEYBOARD_LIMITS: RichLimits = {
  maxQuickReplies: 100,
  maxButtons: 100,
  titleLength: 64,
  payloadLength: 64,
  textLength: 4096,
};

/** True when `extras` has at least one quick reply or button. */
export function hasExtras(extras: SendExtras | undefined): extras is SendExtras {
  return (extras?.quickReplies?.length ?? 0) > 0 || (extras?.buttons?.length ?? 0) > 0;
}

/** `title` cut to `max` code units with `…` (never splitting a surrogate pair), trimmed, lone surrogates replaced. */
export function cutTitle(title: string, max: number): string {
  const clean = wellFormed(title).trim();
  if (clean.length <= max) return clean;
  let cut = Math.max(0, max - 1);
  const code = clean.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  return `${clean.slice(0, cut)}…`;
}

/** The first `max` items (all of them when `max` is at least their count). */
export function capItems<T>(items: readonly T[] | undefined, max: number): T[] {
  return (items ?? []).slice(0, Math.max(0, max));
}

/** The payload a quick reply sends back: its own, else its title (QuickReply contract). */
export function quickReplyPayload(quickReply: QuickReply): string {
  return quickReply.payload ?? quickReply.title;
}

/** Fast 32-bit FNV-1a over UTF-16 code units, hex: a stable tag for a cut payload. */
function fnv1a(value: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    hash ^= value.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/**
 * `payload` when it fits in `max` code units, else its first characters plus `#` and an 8-hex
 * hash of the whole, `max` long: distinct long payloads stay distinct, and the same payload
 * always bounds to the same string.
 */
export function boundedPayload(payload: string, max: number): string {
  const clean = wellFormed(payload);
  if (clean.length <= max) return clean;
  const tag = `#${fnv1a(clean)}`;
  if (max <= tag.length) return tag.slice(0, max);
  let cut = max - tag.length;
  const code = clean.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  return clean.slice(0, cut) + tag;
}

/**
 * `payload` when its UTF-8 form fits in `maxBytes`, else the longest prefix that fits with the
 * `#hash` tag of {@link boundedPayload} (Telegram `callback_data` counts bytes).
 */
export function boundedPayloadBytes(payload: string, maxBytes: number): string {
  const clean = wellFormed(payload);
  if (Buffer.byteLength(clean, 'utf8') <= maxBytes) return clean;
  const tag = `#${fnv1a(clean)}`;
  let prefix = '';
  let bytes = tag.length;
  for (const char of clean) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > maxBytes) break;
    prefix += char;
    bytes += size;
  }
  return (prefix + tag).slice(0, maxBytes);
}

/** One choice of a reply as the fallback lists it. */
export interface Choice {
  readonly title: string;
  /** Set for a URL button. */
  readonly url?: string;
  /** Set for a postback button or a quick reply. */
  readonly payload?: string;
}

/** The reply's choices in the fallback's order: buttons first, then quick replies. */
export function choicesOf(extras: SendExtras | undefined): Choice[] {
  const out: Choice[] = [];
  for (const button of extras?.buttons ?? []) {
    out.push(
      button.type === 'url'
        ? { title: button.title, url: button.url }
        : { title: button.title, payload: button.payload },
    );
  }
  for (const quickReply of extras?.quickReplies ?? []) {
    out.push({ title: quickReply.title, payload: quickReplyPayload(quickReply) });
  }
  return out;
}

/** Options of {@link numberedText}. */
export interface NumberedTextOptions {
  /** The channel's text limit: the reply's own text is shortened (choices kept) to fit it. */
  readonly maxLength?: number;
  /** Longest title listed (longer ones cut with `…`). @default 80 */
  readonly titleLength?: number;
  /** Most choices listed. @default 13 */
  readonly maxChoices?: number;
}

/**
 * `text` followed by its choices as lines: `1. Title` for a postback or quick reply, `Title: url`
 * for a URL button. `text` alone when there are no choices. With `maxLength`, the text (not
 * the choices) is truncated with the visible marker of {@link truncateText} so the whole fits;
 * when the choices alone do not fit, the last ones are dropped.
 */
export function numberedText(
  text: string,
  extras: SendExtras | undefined,
  options: NumberedTextOptions = {},
): string {
  const choices = capItems(choicesOf(extras), options.maxChoices ?? 13);
  if (choices.length === 0) return text;
  const titleLength = options.titleLength ?? 80;
  const lines: string[] = [];
  let n = 0;
  for (const choice of choices) {
    const title = cutTitle(choice.title, titleLength);
    if (choice.url !== undefined) lines.push(`${title}: ${choice.url}`);
    else lines.push(`${++n}. ${title}`);
  }
  const max = options.maxLength;
  if (max === undefined) return text === '' ? lines.join('\n') : `${text}\n\n${lines.join('\n')}`;
  // Keep as many choice lines as fit, then the text in the room left.
  while (lines.length > 0 && lines.join('\n').length > max) lines.pop();
  const list = lines.join('\n');
  if (text === '' || list === '') return list === '' ? truncateText(text, max) : list;
  const room = max - list.length - 2;
  if (room <= 0) return list;
  const body = text.length <= room ? text : fitWithMarker(text, room);
  return body === '' ? list : `${body}\n\n${list}`;
}

/** `text` truncated with the marker so the result is at most `max` long ('' when even the marker does not fit). */
function fitWithMarker(text: string, max: number): string {
  // The marker's length depends on how much is removed; two passes settle it.
  let limit = max;
  for (let i = 0; i < 3; i++) {
    if (limit <= 0) return '';
    const out = truncateText(text, limit);
    if (out.length <= max) return out;
    limit -= out.length - max;
  }
  return '';
}
