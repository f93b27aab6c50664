import { describe, expect, it } from 'vitest';
import { apiBases } from '../../../lambdas/channels/endpoints.js';
import { telegramAdapter } from '../../../lambdas/channels/index.js';
import { createSender } from '../../../lambdas/channels/send/index.js';
import type { SendTarget } from '../../../lambdas/channels/types.js';
import { InvalidPayloadError, InvalidSignatureError } from '../../../lambdas/shared/errors.js';
import { ctxFor, fixture, fixtureLines, messages, outcomes, parse, post, TENANT } from './helpers.js';

describe('Telegram authentication', () => {
  const body = fixture('telegram-text-private.json');

  it('has no GET handshake', () => {
    expect(telegramAdapter.handshake).toBeUndefined();
  });

  it('accepts the secret token header and rejects a missing, wrong or prefixed one', () => {
    const ctx = ctxFor('telegram');
    expect(() =>
      telegramAdapter.authenticate(post(body, { 'x-telegram-bot-api-secret-token': 'tg_Secret-123' }), ctx),
    ).not.toThrow();
    for (const headers of [
      {},
      { 'x-telegram-bot-api-secret-token': '' },
      { 'x-telegram-bot-api-secret-token': 'tg_Secret-12' },
      { 'x-telegram-bot-api-secret-token': 'tg_Secret-1234' },
      { 'x-telegram-bot-api-secret-token': 'TG_SECRET-123' },
    ] as Record<string, string>[]) {
      expect(() => telegramAdapter.authenticate(post(body, headers), ctx)).toThrow(InvalidSignatureError);
    }
  });
});

describe('Telegram parse', () => {
  it('normalises a private text message with update_id as the message id', () => {
    expect(messages(parse('telegram', fixture('telegram-text-private.json')))).toEqual([
      {
        tenantId: 'acme',
        channel: 'telegram',
        conversationId: '7123456789:5123456789',
        conversationKey: 'acme#telegram#7123456789:5123456789',
        messageId: '815000001',
        pageId: '7123456789',
        customer: { id: '5123456789', name: 'Minh Trần' },
        timestamp: 1718000000000,
        receivedAt: 1750000000000,
        kind: 'text',
        text: 'Chào shop',
        attachments: [],
        surface: 'inbox',
      },
    ]);
  });

  it('keeps 64-bit chat and user ids exact (beyond 2^53) and leaves numbers inside text alone', () => {
    const raw = fixture('telegram-group-bigid.json');
    expect(Number.isSafeInteger(Number('9007199254740993'))).toBe(false);
    const [message] = messages(parse('telegram', raw));
    expect(message?.conversationId).toBe('7123456789:-1009007199254740993');
    expect(message?.conversationKey).toBe('acme#telegram#7123456789:-1009007199254740993');
    expect(message?.text).toBe('@acme_bot price? ref 1.23456789012345678');
  });

  it('makes the supergroup, not the member who wrote, the customer replies go to', async () => {
    const [message] = messages(parse('telegram', fixture('telegram-group-bigid.json')));
    // from.id is 9007199254740993: the reply must not go to that private chat.
    expect(message?.customer).toEqual({ id: '-1009007199254740993', name: 'Big' });

    // The target as the conversation actor builds it (recipient = the state's customer id),
    // sent by the real Telegram sender: chat_id is the group's exact 64-bit id.
    const bodies: unknown[] = [];
    const fakeFetch = (async (_url: string | URL | Request, init?: RequestInit) => {
      bodies.push(JSON.parse(String(init?.body)));
      return new Response(JSON.stringify({ ok: true, result: { message_id: 7 } }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    }) as typeof fetch;
    const sender = createSender('telegram', {
      fetch: fakeFetch,
      bases: () => ({ ...apiBases(), telegram: 'http://telegram.invalid' }),
    });
    const target: SendTarget = {
      tenant: TENANT,
      channel: 'telegram',
      pageId: message?.pageId ?? '',
      conversationId: message?.conversationId ?? '',
      recipientId: message?.customer.id ?? '',
      surface: 'inbox',
    };
    await sender.sendText(target, 'hi group');
    expect(bodies).toEqual([expect.objectContaining({ chat_id: '-1009007199254740993', text: 'hi group' })]);
  });

  it('keeps a private chat’s customer the sender, with the phone of a contact they share about themself', () => {
    const update = (chat: number, contactUser: number) =>
      Buffer.from(
        JSON.stringify({
          update_id: 815000099,
          message: {
            message_id: 3,
            from: { id: 42, is_bot: false, first_name: 'An' },
            chat: { id: chat, type: chat === 42 ? 'private' : 'group' },
            date: 1718000001,
            contact: { phone_number: '+84900000000', first_name: 'An', user_id: contactUser },
          },
        }),
      );
    expect(messages(parse('telegram', update(42, 42)))[0]?.customer).toEqual({
      id: '42',
      name: 'An',
      phone: '+84900000000',
    });
    // In a group the customer is the group: a member's phone is not the group's.
    expect(messages(parse('telegram', update(-77, 42)))[0]?.customer).toEqual({ id: '-77', name: 'An' });
  });

  it('maps voice notes, the largest photo and the other media fields', () => {
    const [voice] = messages(parse('telegram', fixture('telegram-voice.json')));
    expect(voice).toMatchObject({
      kind: 'audio',
      attachments: [
        { kind: 'audio', fileId: 'AwACAgIAAxkBAAIBvoice', mimeType: 'audio/ogg', voice: true, size: 23456 },
      ],
    });
    const [photo] = messages(parse('telegram', fixture('telegram-photo.json')));
    expect(photo).toMatchObject({ kind: 'image', text: 'this colour?' });
    expect(photo?.attachments).toHaveLength(1);
    expect(photo?.attachments[0]).toMatchObject({ kind: 'image', fileId: 'large', size: 98000 });
    const misc = fixtureLines('telegram-media-misc.jsonl').flatMap((line) =>
      messages(parse('telegram', line)),
    );
    expect(misc.map((m) => [m.kind, m.attachments[0]?.fileId ?? null])).toEqual([
      ['video', 'vnote'],
      ['file', 'docid'],
      ['sticker', 'stick'],
      ['location', null],
      ['audio', 'audioid'],
      ['video', 'videoid'],
    ]);
    expect(misc[3]?.attachments[0]).toEqual({ kind: 'location', latitude: 21.0285, longitude: 105.8542 });
    expect(misc[4]?.attachments[0]?.voice).toBeUndefined();
  });

  it('handles callback queries, edits, channel posts, other bots, service messages and member updates', () => {
    const lines = fixtureLines('telegram-other-updates.jsonl');
    const events = lines.flatMap((line) => parse('telegram', line));
    expect(outcomes(events)).toEqual([
      'message',
      'message',
      'ignored:non-message',
      'ignored:echo',
      'ignored:non-message',
      'ignored:non-message',
    ]);
    const [callback, edit] = messages(events);
    expect(callback).toMatchObject({
      messageId: '815000020',
      kind: 'postback',
      postback: 'SIZE_M',
      conversationId: '7123456789:5123456789',
      customer: { id: '5123456789' },
      timestamp: 1750000000000,
    });
    expect(edit).toMatchObject({ messageId: '815000021', text: 'Chào shop!!', timestamp: 1718000020000 });
  });

  it('rejects non-JSON bodies and updates without update_id', () => {
    for (const text of ['', 'null', '[1]', '{"message":{"text":"x"}}', '{"update_id":"  "}']) {
      expect(() => parse('telegram', Buffer.from(text))).toThrow(InvalidPayloadError);
    }
  });
});
