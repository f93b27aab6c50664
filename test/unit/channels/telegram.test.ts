import { describe, expect, it } from 'vitest';
import { telegramAdapter } from '../../../lambdas/channels/index.js';
import { InvalidPayloadError, InvalidSignatureError } from '../../../lambdas/shared/errors.js';
import { ctxFor, fixture, fixtureLines, messages, outcomes, parse, post } from './helpers.js';

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
        receivedAt: 1718000100000,
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
    expect(message?.customer.id).toBe('9007199254740993');
    expect(message?.text).toBe('@acme_bot price? ref 1.23456789012345678');
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
      timestamp: 1718000100000,
    });
    expect(edit).toMatchObject({ messageId: '815000021', text: 'Chào shop!!', timestamp: 1718000020000 });
  });

  it('rejects non-JSON bodies and updates without update_id', () => {
    for (const text of ['', 'null', '[1]', '{"message":{"text":"x"}}', '{"update_id":"  "}']) {
      expect(() => parse('telegram', Buffer.from(text))).toThrow(InvalidPayloadError);
    }
  });
});
