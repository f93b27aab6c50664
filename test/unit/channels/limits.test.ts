/**
 * Every value a platform can sign is handled or ignored with a reason, never passed on
 * unbounded: texts truncated at the channel's limit with a marker, ids kept verbatim up to
 * MAX_ID_LENGTH (their keys hashed), absurd numbers replaced, sizes bounded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  boundedTimestamp,
  COMMENT_TEXT_LIMITS,
  escapedJsonBytes,
  isWellFormed,
  MAX_ATTACHMENTS,
  MAX_CLOCK_AHEAD_MS,
  MAX_EVENT_BYTES,
  MAX_ID_LENGTH,
  MAX_NAME_LENGTH,
  MAX_POSTBACK_LENGTH,
  MIN_TIMESTAMP_MS,
  plausibleTime,
  TEXT_LIMITS,
  textLimit,
  truncateText,
  truncationMarker,
} from '../../../lambdas/channels/limits.js';
import {
  conversationPk,
  customerPk,
  historySk,
  inboundDedupId,
  messageGroupId,
  PK_MAX_BYTES,
  SK_MAX_BYTES,
} from '../../../lambdas/shared/keys.js';
import {
  CHANNELS,
  type ChannelName,
  type NormalisedMessage,
  type ParsedEvent,
} from '../../../lambdas/shared/model.js';
import { messages, outcomes, parse, RECEIVED_AT } from './helpers.js';

const PAGE = '106000000000001';
const IG = '17841400000000001';
const PHONE = '106540352242922';
const OA = '579745863508352884';
const PANCAKE_PAGE = '1401234567890';

/** What a test puts in a body; numbers are JSON literals so `1e308` reaches the parser as is. */
interface Odd {
  readonly text: string;
  readonly sender: string;
  readonly id: string;
  /** A JSON number literal (or any JSON) for the platform timestamp. */
  readonly time: string;
}

const j = (value: unknown): string => JSON.stringify(value);

/** A one-message body of `channel` carrying the odd values. */
function body(channel: ChannelName, odd: Odd): Buffer {
  const { text, sender, id, time } = odd;
  let raw: string;
  switch (channel) {
    case 'messenger':
    case 'instagram': {
      const account = channel === 'messenger' ? PAGE : IG;
      raw = `{"object":${j(channel === 'messenger' ? 'page' : 'instagram')},"entry":[{"id":${j(account)},"time":1718000000000,"messaging":[{"sender":{"id":${j(sender)}},"recipient":{"id":${j(account)}},"timestamp":${time},"message":{"mid":${j(id)},"text":${j(text)}}}]}]}`;
      break;
    }
    case 'whatsapp':
      raw = `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":${j(PHONE)}},"messages":[{"from":${j(sender)},"id":${j(id)},"timestamp":${time},"type":"text","text":{"body":${j(text)}}}]}}]}]}`;
      break;
    case 'telegram':
      raw = `{"update_id":${j(id)},"message":{"message_id":1,"from":{"id":${j(sender)},"is_bot":false,"first_name":"A"},"chat":{"id":${j(sender)},"type":"private"},"date":${time},"text":${j(text)}}}`;
      break;
    case 'zalo':
      raw = `{"app_id":"1234567890123456789","event_name":"user_send_text","timestamp":${time},"sender":{"id":${j(sender)}},"recipient":{"id":${j(OA)}},"message":{"msg_id":${j(id)},"text":${j(text)}}}`;
      break;
    case 'pancake':
      raw = `{"event_type":"messaging","page_id":${j(PANCAKE_PAGE)},"data":{"conversation":{"id":${j(`${PANCAKE_PAGE}_${sender}`)}},"message":{"id":${j(id)},"from":{"id":${j(sender)},"name":"A"},"message":${j(text)},"inserted_at":${time}}}}`;
      break;
  }
  return Buffer.from(raw, 'utf8');
}

const ORDINARY: Odd = { text: 'hello', sender: '5123456789', id: '815000001', time: '1718000000' };

function only(channel: ChannelName, odd: Partial<Odd>): ParsedEvent {
  const events = parse(channel, body(channel, { ...ORDINARY, ...odd }));
  expect(events).toHaveLength(1);
  return events[0]!;
}

function onlyMessage(channel: ChannelName, odd: Partial<Odd>): NormalisedMessage {
  const [message] = messages([only(channel, odd)]);
  if (!message) throw new Error(`${channel}: no message for ${JSON.stringify(odd).slice(0, 80)}`);
  return message;
}

describe('truncateText', () => {
  it('keeps a text at the limit and cuts a longer one to the limit plus a marker naming what was cut', () => {
    expect(truncateText('a'.repeat(10), 10)).toBe('a'.repeat(10));
    expect(truncateText('a'.repeat(25), 10)).toBe(`${'a'.repeat(10)}… [truncated 15 characters]`);
    expect(truncationMarker(3)).toBe('… [truncated 3 characters]');
  });

  it('never splits a surrogate pair and replaces lone surrogates', () => {
    // 9 units, then an emoji (2 units) across the limit of 10.
    expect(truncateText(`${'a'.repeat(9)}😀b`, 10)).toBe(`${'a'.repeat(9)}… [truncated 3 characters]`);
    expect(truncateText('x\uD800y\uDC00', 100)).toBe('x\uFFFDy\uFFFD');
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 60 }),
        fc.integer({ min: 1, max: 40 }),
        (s, limit) => {
          const out = truncateText(s, limit);
          expect(isWellFormed(out)).toBe(true);
          if (s.length <= limit) expect(out).toBe(s);
          else expect(out.length).toBeLessThanOrEqual(limit + truncationMarker(s.length).length);
        },
      ),
    );
  });
});

describe('boundedTimestamp', () => {
  it('keeps a plausible time and replaces anything else by the received-at time', () => {
    expect(boundedTimestamp(RECEIVED_AT - 5000, RECEIVED_AT)).toBe(RECEIVED_AT - 5000);
    for (const t of [undefined, Number.NaN, Number.POSITIVE_INFINITY, 1e308, -1, 0, MIN_TIMESTAMP_MS - 1]) {
      expect(boundedTimestamp(t, RECEIVED_AT)).toBe(RECEIVED_AT);
    }
    // A platform clock ahead of ours: never later than receipt; far ahead is not believed.
    expect(boundedTimestamp(RECEIVED_AT + 60_000, RECEIVED_AT)).toBe(RECEIVED_AT);
    expect(plausibleTime(RECEIVED_AT + 60_000, RECEIVED_AT)).toBe(RECEIVED_AT + 60_000);
    expect(plausibleTime(RECEIVED_AT + MAX_CLOCK_AHEAD_MS + 1, RECEIVED_AT)).toBeUndefined();
    expect(plausibleTime(1e308, RECEIVED_AT)).toBeUndefined();
  });
});

describe.each(CHANNELS)('%s: odd values in a signed body', (channel) => {
  const limit = TEXT_LIMITS[channel];

  it('handles an ordinary message (the template is valid)', () => {
    const message = onlyMessage(channel, {});
    expect(message.text).toBe('hello');
    expect(message.timestamp).toBe(1_718_000_000_000);
  });

  it('truncates a 300 000-character text at the channel limit with a visible marker', () => {
    const message = onlyMessage(channel, { text: 'w'.repeat(300_000) });
    expect(message.text).toBe(`${'w'.repeat(limit)}${truncationMarker(300_000 - limit)}`);
    expect(onlyMessage(channel, { text: 'w'.repeat(limit) }).text).toBe('w'.repeat(limit));
  });

  it('replaces a timestamp of 1e308, a negative one, a fraction of a second or a string by the received-at time', () => {
    // Meta items fall back to their entry's time (1718000000000 here), the rest to receipt.
    const fallback = channel === 'messenger' || channel === 'instagram' ? 1_718_000_000_000 : RECEIVED_AT;
    for (const time of ['1e308', '-1', '0.5', '"soon"', '1e20', '99999999999999999999']) {
      expect(onlyMessage(channel, { time }).timestamp, time).toBe(fallback);
    }
  });

  it('keeps a 3000-character sender id and a 2000-character message id verbatim, with bounded keys', () => {
    const numeric = channel === 'telegram';
    const sender = numeric ? `9${'8'.repeat(2999)}` : `s${'S'.repeat(2999)}`;
    const id = numeric ? `1${'2'.repeat(1999)}` : `m${'M'.repeat(1999)}`;
    const message = onlyMessage(channel, { sender, id });
    expect(message.customer.id).toBe(sender);
    expect(message.messageId).toBe(id);
    expect(Buffer.byteLength(conversationPk(message.conversationKey))).toBeLessThanOrEqual(PK_MAX_BYTES);
    expect(Buffer.byteLength(customerPk('acme', channel, message.customer.id))).toBeLessThanOrEqual(
      PK_MAX_BYTES,
    );
    expect(Buffer.byteLength(historySk(message.receivedAt, message.messageId))).toBeLessThanOrEqual(
      SK_MAX_BYTES,
    );
    expect(messageGroupId(message.conversationKey).length).toBeLessThanOrEqual(128);
    expect(inboundDedupId('acme', channel, message.messageId).length).toBeLessThanOrEqual(128);
  });

  it('ignores, as oversized, a message whose sender id is too long to keep verbatim', () => {
    const sender = channel === 'telegram' ? '7'.repeat(MAX_ID_LENGTH + 1) : 'x'.repeat(MAX_ID_LENGTH + 1);
    expect(outcomes([only(channel, { sender })])).toEqual(['ignored:oversized']);
    const id = channel === 'telegram' ? '7'.repeat(MAX_ID_LENGTH + 1) : 'y'.repeat(MAX_ID_LENGTH + 1);
    expect(outcomes([only(channel, { id })])).toEqual(['ignored:oversized']);
  });

  it('ignores, as unsupported, a message whose id is not valid Unicode (a lone surrogate)', () => {
    expect(outcomes([only(channel, { sender: 'ab\uD800' })])).toEqual(['ignored:unsupported']);
    expect(outcomes([only(channel, { id: '\uDC00id' })])).toEqual(['ignored:unsupported']);
  });

  it('keeps every message within the size bound whatever its text and ids', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 30 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.constantFrom('1718000000', '1e308', '-7', '1718000000000000000000'),
        (unit, times, time) => {
          const text = unit.repeat(times);
          const events = parse(channel, body(channel, { ...ORDINARY, text, time }));
          for (const event of events) {
            if (event.type !== 'message') continue;
            expect(escapedJsonBytes(event.message)).toBeLessThanOrEqual(MAX_EVENT_BYTES);
            expect(event.message.text?.length ?? 0).toBeLessThanOrEqual(
              textLimit(channel, 'inbox') + truncationMarker(text.length).length,
            );
            expect(Number.isSafeInteger(event.message.timestamp)).toBe(true);
            expect(event.message.timestamp).toBeLessThanOrEqual(RECEIVED_AT);
          }
          // Something is said about every message: a message, or an ignored event with a reason.
          expect(events.length).toBe(1);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('a batch with one odd item', () => {
  it('ignores only that item and keeps the good ones around it', () => {
    const item = (sender: string, mid: string) => ({
      sender: { id: sender },
      recipient: { id: PAGE },
      timestamp: 1718000000000,
      message: { mid, text: `from ${sender.slice(0, 8)}` },
    });
    const raw = Buffer.from(
      j({
        object: 'page',
        entry: [
          {
            id: PAGE,
            time: 1718000000000,
            messaging: [
              item('111', 'm.1'),
              item('x'.repeat(MAX_ID_LENGTH + 1), 'm.2'),
              item('333', `m.${'3'.repeat(3000)}`),
            ],
          },
        ],
      }),
    );
    const events = parse('messenger', raw);
    expect(outcomes(events)).toEqual(['message', 'ignored:oversized', 'message']);
    expect(messages(events).map((m) => m.customer.id)).toEqual(['111', '333']);
  });
});

describe('other bounded fields', () => {
  it('keeps the first 20 attachments, drops impossible numbers and cuts long names', () => {
    const attachments = Array.from({ length: 100 }, (_, i) =>
      i === 0
        ? { type: 'location', payload: { coordinates: { lat: 1e308, long: 2 } } }
        : i === 1
          ? { type: 'location', payload: { coordinates: { lat: 1e-200, long: -105.85421234567 } } }
          : {
              type: 'image',
              title: 'n'.repeat(1000),
              payload: { url: `https://cdn.example/${'u'.repeat(i === 2 ? 5000 : 10)}` },
            },
    );
    const raw = Buffer.from(
      j({
        object: 'page',
        entry: [
          {
            id: PAGE,
            time: 1718000000000,
            messaging: [
              {
                sender: { id: '1' },
                recipient: { id: PAGE },
                timestamp: 1718000000000,
                message: { mid: 'm.att', attachments },
              },
            ],
          },
        ],
      }),
    );
    const [message] = messages(parse('messenger', raw));
    expect(message?.attachments).toHaveLength(MAX_ATTACHMENTS);
    expect(message?.attachments[0]).toEqual({ kind: 'location' });
    expect(message?.attachments[1]).toEqual({ kind: 'location', latitude: 0, longitude: -105.8542123 });
    expect(message?.attachments[2]?.url).toBeUndefined();
    expect(message?.attachments[3]?.name).toHaveLength(MAX_NAME_LENGTH);
    expect(message?.attachments[3]?.name?.endsWith('…')).toBe(true);
  });

  it('drops a file size beyond 2^53 and truncates a long postback payload', () => {
    const raw = Buffer.from(
      `{"update_id":1,"message":{"message_id":1,"from":{"id":5},"chat":{"id":5,"type":"private"},"date":1718000000,"document":{"file_id":"f","file_size":1e308}}}`,
    );
    const [doc] = messages(parse('telegram', raw));
    expect(doc?.attachments).toEqual([{ kind: 'file', fileId: 'f' }]);

    const payload = 'P'.repeat(5000);
    const postback = Buffer.from(
      j({
        object: 'page',
        entry: [
          {
            id: PAGE,
            messaging: [
              {
                sender: { id: '1' },
                recipient: { id: PAGE },
                timestamp: 1718000000000,
                postback: { payload, title: 'Buy' },
              },
            ],
          },
        ],
      }),
    );
    const [message] = messages(parse('messenger', postback));
    expect(message?.postback).toBe(
      `${'P'.repeat(MAX_POSTBACK_LENGTH)}${truncationMarker(5000 - MAX_POSTBACK_LENGTH)}`,
    );
    // Without a mid the derived id holds the payload's hash, so it stays short and stable.
    expect(message?.messageId).toMatch(/^postback:1:1718000000000:~[0-9a-f]{64}$/);
  });

  it('gives Instagram comments their own (longer) limit', () => {
    expect(textLimit('instagram', 'comment')).toBe(COMMENT_TEXT_LIMITS.instagram);
    expect(textLimit('instagram', 'inbox')).toBe(TEXT_LIMITS.instagram);
    const raw = Buffer.from(
      j({
        object: 'instagram',
        entry: [
          {
            id: IG,
            time: 1718000000,
            changes: [
              {
                field: 'comments',
                value: {
                  id: 'c1',
                  text: 'c'.repeat(3000),
                  from: { id: '9', username: 'u' },
                  media: { id: 'p' },
                },
              },
            ],
          },
        ],
      }),
    );
    const [comment] = messages(parse('instagram', raw));
    expect(comment?.text).toBe(`${'c'.repeat(2200)}${truncationMarker(800)}`);
  });

  it('ignores as oversized an event whose ids, escaped for the queue, would exceed the size bound', () => {
    // 4000 non-ASCII units each as sender and message id: ~3 × 24 KB escaped, over 64 KiB.
    const events = parse(
      'messenger',
      body('messenger', { ...ORDINARY, sender: 'é'.repeat(4000), id: 'ü'.repeat(4000) }),
    );
    expect(outcomes(events)).toEqual(['ignored:oversized']);
  });
});
