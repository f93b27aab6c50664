/**
 * A turn message in words for a model: its text, what its attachments are (a location's place,
 * address and coordinates; a file's name, size and type), the button or quick reply it was, and
 * its media transcript or note. Customer-supplied strings (titles, names, payloads) are quoted as
 * JSON strings — Vietnamese and every other script kept as is, line breaks and quotes escaped —
 * and cut, so a file name cannot pass for an instruction line.
 */
import type { Attachment, TurnMessage, TurnPostback } from '../contracts/responder.js';

/** Longest customer-supplied string quoted in a description (longer ones are cut with `…`). */
export const MAX_QUOTED_CHARS = 120;

/** The payload Messenger's Get Started button sends (Telegram `/start` is parsed to it too). */
export const GET_STARTED_PAYLOAD = 'GET_STARTED';

/** `value` as a JSON string, cut to {@link MAX_QUOTED_CHARS} (never splitting a surrogate pair). */
export function quoted(value: string): string {
  let text = value.trim();
  if (text.length > MAX_QUOTED_CHARS) {
    let cut = MAX_QUOTED_CHARS - 1;
    const code = text.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
    text = `${text.slice(0, cut)}…`;
  }
  return JSON.stringify(text);
}

/** A byte count for people: `812 bytes`, `48 KB`, `1.2 MB`. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  const mb = bytes / (1024 * 1024);
  return `${mb < 10 ? mb.toFixed(1) : Math.round(mb)} MB`;
}

/** One attachment in words (`a location: "Chợ Bến Thành", "Lê Lợi, Quận 1" (10.7721, 106.6983)`). */
export function describeAttachment(attachment: Attachment): string {
  switch (attachment.kind) {
    case 'location': {
      const place = [attachment.title, attachment.address]
        .filter((v): v is string => v !== undefined && v.trim() !== '')
        .map(quoted);
      const coords =
        attachment.latitude !== undefined && attachment.longitude !== undefined
          ? `(${attachment.latitude}, ${attachment.longitude})`
          : undefined;
      const parts = [place.join(', '), coords].filter((v) => v !== undefined && v !== '');
      return parts.length > 0 ? `a location: ${parts.join(' ')}` : 'a location';
    }
    case 'file':
      return withFileDetails('a file', attachment);
    case 'image':
      return withFileDetails('an image', attachment);
    case 'video':
      return withFileDetails('a video', attachment);
    case 'audio':
      return attachment.voice ? 'a voice note' : withFileDetails('an audio file', attachment);
    case 'sticker':
      return 'a sticker';
    default:
      return withFileDetails('an attachment', attachment);
  }
}

function withFileDetails(noun: string, attachment: Attachment): string {
  const details = [
    attachment.size !== undefined ? humanSize(attachment.size) : undefined,
    attachment.mimeType,
  ].filter((v): v is string => v !== undefined && v !== '');
  const name = attachment.name?.trim() ? ` ${quoted(attachment.name)}` : '';
  return `${noun}${name}${details.length > 0 ? ` (${details.join(', ')})` : ''}`;
}

/** A button press, quick-reply tap or command in words. */
export function describePostback(postback: TurnPostback): string {
  if (postback.payload === GET_STARTED_PAYLOAD) {
    return '[the customer started the conversation (Get Started / start)]';
  }
  const label = postback.title?.trim() ? quoted(postback.title) : undefined;
  const payload = `payload ${quoted(postback.payload)}`;
  if (postback.source === 'quick-reply') {
    return `[the customer chose the quick reply ${label ?? quoted(postback.payload)}${label ? ` (${payload})` : ''}]`;
  }
  if (postback.source === 'command') return `[the customer sent the command ${quoted(postback.payload)}]`;
  return `[the customer tapped the button ${label ?? quoted(postback.payload)}${label ? ` (${payload})` : ''}]`;
}

/**
 * What a turn message says, as text for the model (empty when it says nothing): its text (left
 * out when it only repeats the button's label or the command), the postback, the attachments,
 * the transcript and the media note.
 */
export function describeTurnMessage(message: TurnMessage): string {
  const lines: string[] = [];
  const text = message.text?.trim() ? message.text : undefined;
  const postback = message.postback;
  const repeatsPostback =
    postback !== undefined &&
    text !== undefined &&
    (text.trim() === postback.title?.trim() ||
      text.trim() === postback.payload.trim() ||
      (postback.source === 'command' && text.trim().startsWith('/')));
  if (text !== undefined && !repeatsPostback) lines.push(text);
  if (postback) lines.push(describePostback(postback));
  if (message.attachments.length > 0) {
    lines.push(`[the customer sent ${message.attachments.map(describeAttachment).join('; ')}]`);
  }
  if (message.transcript?.trim()) lines.push(`[voice/video transcript] ${message.transcript}`);
  if (message.mediaNote?.trim()) lines.push(message.mediaNote);
  return lines.join('\n');
}

/** What the actor keeps of a message's postback (lambdas/conversation/turn.ts record). */
export interface PostbackRecord {
  readonly text?: string;
  readonly postbackSource?: TurnPostback['source'];
}

/**
 * The {@link TurnPostback} of a stored turn message with postback `payload`: where it came from
 * (a button unless the channel said otherwise) and the label the customer saw — the message
 * text, which every adapter sets to the button's or quick reply's title when the platform gives one.
 */
export function turnPostback(payload: string, record: PostbackRecord): TurnPostback {
  const title = record.text?.trim();
  return {
    payload,
    source: record.postbackSource ?? 'postback',
    ...(title && title !== payload ? { title } : {}),
  };
}
