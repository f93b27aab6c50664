/**
 * fast-check arbitraries for webhook payloads in each platform's documented shape with odd but
 * valid content — any UTF-16 text (emoji, lone surrogates, U+FFFE/U+FFFF, control characters),
 * texts up to ~300 KB, ids up to 3000 characters, numbers such as `1e308` or 23-digit integers
 * written as JSON literals, optional fields left out — and the signing that makes the tenant's
 * webhook accept them (the same proofs as bin/local/webhook-builder.ts).
 *
 * A case is a compact description (a huge text is `{ pieces, repeat }`, not 300 000 characters),
 * so the counterexample fast-check prints is readable.
 */
import fc from 'fast-check';
import type { SandboxRecord } from '../../bin/local/sandbox.js';
import { type BuiltWebhook, metaJson, signed } from '../../bin/local/webhook-builder.js';
import type { ChannelName } from '../../lambdas/shared/model.js';
import type { TenantDocument } from '../../lambdas/shared/tenant.js';

/** Text as pieces repeated (`pieces.join('')` × `repeat`), capped at {@link MAX_TEXT_CHARS}. */
export interface TextSpec {
  readonly pieces: readonly string[];
  readonly repeat: number;
}

/** An id: a unique prefix (added when built) then `char` × `length`. */
export interface IdSpec {
  readonly char: string;
  readonly length: number;
}

/** One fuzz case. Numbers are raw JSON literals (`1e308`, `12345678901234567890123`). */
export interface FuzzCase {
  readonly channel: ChannelName;
  readonly text: TextSpec;
  readonly customer: IdSpec;
  readonly messageId: IdSpec;
  readonly timestamp: string;
  /** Optional fields of the channel's shape left out. */
  readonly omit: readonly string[];
  /** Telegram: the message comes from a group (`chat.id` ≠ `from.id`). */
  readonly group: boolean;
}

/** The longest text a case builds (the 300 000-character WhatsApp text). */
export const MAX_TEXT_CHARS = 300_000;

/** Odd characters every platform can deliver inside a JSON string. */
export const ODD_PIECES = [
  '😀',
  '👨‍👩‍👧‍👦',
  '\uD83D', // lone high surrogate
  '\uDE00', // lone low surrogate
  '\uFFFF',
  '\uFFFE',
  '\u0000',
  '\u0007\u001b[31m',
  '\u200B',
  '\u202E',
  'ﷺ',
  '\r\n',
  '"\\/',
  ' ',
] as const;

const anyUtf16Char = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

/** A text: mostly short and odd, sometimes huge. */
export const textArb: fc.Arbitrary<TextSpec> = fc.record({
  pieces: fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) },
      { weight: 3, arbitrary: fc.constantFrom(...ODD_PIECES) },
      { weight: 2, arbitrary: fc.string({ unit: anyUtf16Char, minLength: 1, maxLength: 12 }) },
      { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }) },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }) },
    ),
    { minLength: 1, maxLength: 4 },
  ),
  repeat: fc.oneof(
    { weight: 10, arbitrary: fc.constant(1) },
    { weight: 2, arbitrary: fc.constantFrom(5_000, 40_000, MAX_TEXT_CHARS) },
  ),
});

/** The text a spec stands for (at most {@link MAX_TEXT_CHARS} UTF-16 units). */
export function textOf(spec: TextSpec): string {
  const unit = spec.pieces.join('');
  if (unit.length === 0) return '';
  const times = Math.max(1, Math.min(spec.repeat, Math.floor(MAX_TEXT_CHARS / unit.length)));
  return unit.repeat(times);
}

const idArb = (chars: readonly string[], normal: number): fc.Arbitrary<IdSpec> =>
  fc.record({
    char: fc.constantFrom(...chars),
    length: fc.oneof(
      { weight: 6, arbitrary: fc.constant(normal) },
      { weight: 1, arbitrary: fc.constantFrom(300, 1100, 2100, 3000) },
    ),
  });

/** Numbers as JSON literals: ordinary epoch values and the extremes a JSON number may hold. */
const timestampArb = (now: number): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(String(now)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '1e308',
        '-1e308',
        '12345678901234567890123',
        '0',
        '-1',
        '1.5',
        '9007199254740993',
        '1e-7',
      ),
    },
  );

/** Optional fields of each shape a platform may leave out. */
export const OPTIONAL_FIELDS: Record<ChannelName, readonly string[]> = {
  messenger: ['entry.time', 'messaging.timestamp'],
  instagram: ['entry.time', 'messaging.timestamp'],
  whatsapp: ['contacts', 'contacts.profile', 'metadata.display_phone_number'],
  telegram: ['from.last_name', 'from.language_code', 'chat.first_name', 'from.username'],
  zalo: ['user_id_by_app'],
  pancake: ['conversation.snippet', 'message.original_message', 'from.name', 'conversation.tags'],
};

const DIGITS = ['1', '2', '5', '7', '9'];
const ID_CHARS = ['a', 'Z', '_', '-', '9', '.'];

/** A fuzz case on `channel` (timestamps around `now`, in the channel's unit). */
export function caseArb(channel: ChannelName, now: number): fc.Arbitrary<FuzzCase> {
  const numericCustomer = channel !== 'pancake';
  const seconds = channel === 'whatsapp' || channel === 'telegram';
  return fc.record({
    channel: fc.constant(channel),
    text: textArb,
    customer: idArb(numericCustomer ? DIGITS : ID_CHARS, 12),
    messageId: idArb(channel === 'telegram' ? DIGITS : ID_CHARS, 24),
    timestamp: timestampArb(seconds ? Math.floor(now / 1000) : now),
    omit: fc.subarray([...OPTIONAL_FIELDS[channel]]),
    group: channel === 'telegram' ? fc.boolean() : fc.constant(false),
  });
}

/** A case built into a signed request, with how to recognise the reply. */
export interface BuiltCase {
  readonly built: BuiltWebhook;
  /** The text the customer sent. */
  readonly text: string;
  /** True for a sandbox record that answers this message's conversation. */
  readonly answers: (record: SandboxRecord) => boolean;
  /** Where the reply must go (PSID, wa_id, chat id, Zalo user, Pancake conversation). */
  readonly replyTo: string;
}

/** JSON where strings `"@@raw:<literal>@@"` become the bare literal (numbers of any size). */
function jsonWithRaw(value: unknown, meta: boolean): string {
  const json = meta ? metaJson(value) : JSON.stringify(value);
  return json.replace(/"@@raw:([-+.0-9eE]+)@@"/g, '$1');
}
const raw = (literal: string): string => `@@raw:${literal}@@`;

function drop(omit: readonly string[], field: string, target: Record<string, unknown>, key: string): void {
  if (omit.includes(field)) delete target[key];
}

/**
 * Builds the signed request for `fuzz` against `tenant`; `unique` keeps ids of different cases
 * apart (it prefixes the customer and message ids).
 */
export function buildCase(tenant: TenantDocument, fuzz: FuzzCase, unique: string, now: number): BuiltCase {
  const text = textOf(fuzz.text);
  const customer = `${unique}${fuzz.customer.char.repeat(Math.max(0, fuzz.customer.length - unique.length))}`;
  const messageId = `${unique}${fuzz.messageId.char.repeat(Math.max(0, fuzz.messageId.length - unique.length))}`;
  const c = tenant.channels;
  const o = fuzz.omit;
  let body: string;
  let replyTo = customer;
  let answers = (r: SandboxRecord): boolean => r.recipientId === customer;
  switch (fuzz.channel) {
    case 'messenger':
    case 'instagram': {
      const pageId =
        fuzz.channel === 'messenger'
          ? Object.keys(c.messenger?.pages ?? {})[0]!
          : Object.keys(c.instagram?.accounts ?? {})[0]!;
      const item: Record<string, unknown> = {
        sender: { id: customer },
        recipient: { id: pageId },
        timestamp: raw(fuzz.timestamp),
        message: { mid: `m_${messageId}`, text },
      };
      drop(o, 'messaging.timestamp', item, 'timestamp');
      const entry: Record<string, unknown> = { id: pageId, time: raw(fuzz.timestamp), messaging: [item] };
      drop(o, 'entry.time', entry, 'time');
      body = jsonWithRaw(
        { object: fuzz.channel === 'messenger' ? 'page' : 'instagram', entry: [entry] },
        true,
      );
      break;
    }
    case 'whatsapp': {
      const metadata: Record<string, unknown> = {
        display_phone_number: '15550000000',
        phone_number_id: c.whatsapp?.phoneNumberIds[0],
      };
      drop(o, 'metadata.display_phone_number', metadata, 'display_phone_number');
      const contact: Record<string, unknown> = { profile: { name: 'Fuzz' }, wa_id: customer };
      drop(o, 'contacts.profile', contact, 'profile');
      const value: Record<string, unknown> = {
        messaging_product: 'whatsapp',
        metadata,
        contacts: [contact],
        messages: [
          {
            from: customer,
            id: `wamid.${messageId}`,
            timestamp: fuzz.timestamp,
            type: 'text',
            text: { body: text },
          },
        ],
      };
      drop(o, 'contacts', value, 'contacts');
      body = jsonWithRaw(
        {
          object: 'whatsapp_business_account',
          entry: [{ id: '102290129340398', changes: [{ field: 'messages', value }] }],
        },
        true,
      );
      break;
    }
    case 'telegram': {
      const from: Record<string, unknown> = {
        id: raw(fuzz.group ? `7${customer}` : customer),
        is_bot: false,
        first_name: 'Fuzz',
        last_name: 'Case',
        language_code: 'vi',
        username: 'fuzz_case',
      };
      for (const f of ['last_name', 'language_code', 'username']) drop(o, `from.${f}`, from, f);
      const chatId = fuzz.group ? `-100${customer}` : customer;
      const chat: Record<string, unknown> = fuzz.group
        ? { id: raw(chatId), title: 'Fuzz group', type: 'supergroup' }
        : { id: raw(chatId), first_name: 'Fuzz', type: 'private' };
      if (!fuzz.group) drop(o, 'chat.first_name', chat, 'first_name');
      replyTo = chatId;
      answers = (r) => r.recipientId === chatId;
      body = jsonWithRaw(
        {
          update_id: raw(messageId),
          message: { message_id: raw(messageId), from, chat, date: raw(fuzz.timestamp), text },
        },
        false,
      );
      break;
    }
    case 'zalo': {
      const event: Record<string, unknown> = {
        app_id: c.zalo?.appId ?? '2000000000000002',
        user_id_by_app: `app-${customer}`,
        timestamp: fuzz.timestamp,
        event_name: 'user_send_text',
        sender: { id: customer },
        recipient: { id: c.zalo?.oaId },
        message: { msg_id: messageId, text },
      };
      drop(o, 'user_id_by_app', event, 'user_id_by_app');
      body = JSON.stringify(event);
      break;
    }
    case 'pancake': {
      const pageId = c.pancake?.pageIds[0] ?? '';
      const conversationId = `${pageId}_${customer}`;
      const conversation: Record<string, unknown> = {
        id: conversationId,
        type: 'INBOX',
        from: { id: customer, name: 'Fuzz' },
        tags: [],
        snippet: text.slice(0, 100),
      };
      drop(o, 'conversation.snippet', conversation, 'snippet');
      drop(o, 'conversation.tags', conversation, 'tags');
      const from: Record<string, unknown> = { id: customer, name: 'Fuzz' };
      drop(o, 'from.name', from, 'name');
      const message: Record<string, unknown> = {
        id: `m_${messageId}`,
        conversation_id: conversationId,
        page_id: pageId,
        message: text,
        original_message: text,
        type: 'INBOX',
        inserted_at: new Date(now).toISOString().replace('Z', '000'),
        from,
        attachments: [],
      };
      drop(o, 'message.original_message', message, 'original_message');
      body = JSON.stringify({
        page_id: pageId,
        event_type: 'messaging',
        data: { conversation, message, post: null },
      });
      replyTo = conversationId;
      answers = (r) => r.api === 'pancake' && r.conversationId === conversationId;
      break;
    }
  }
  return { built: signWebhook(tenant, fuzz.channel, body, now), text, answers, replyTo };
}

/** Signs `body` for `tenant` on `channel` the way the platform does (the webhook builder's signing). */
export function signWebhook(
  tenant: TenantDocument,
  channel: ChannelName,
  body: string,
  now: number,
): BuiltWebhook {
  return signed(tenant, channel, { body, messageId: '' }, false, now);
}
