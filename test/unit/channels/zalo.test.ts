import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { zaloAdapter } from '../../../lambdas/channels/index.js';
import { InvalidPayloadError, InvalidSignatureError } from '../../../lambdas/shared/errors.js';
import { ctxFor, fixtureLines, humans, messages, outcomes, parse, post, zaloMac } from './helpers.js';

const KEY = 'zalo-oa-secret';
const [text] = fixtureLines('zalo-events.jsonl');
const textBody = text!;

describe('Zalo authentication', () => {
  it('accepts mac=SHA256(app_id + raw body + timestamp + OA secret key) over multibyte bytes', () => {
    expect(textBody.length).toBeGreaterThan(textBody.toString('utf8').length);
    const mac = zaloMac('1234567890123456789', textBody, '1718000000123', KEY);
    expect(() =>
      zaloAdapter.authenticate(post(textBody, { 'x-zevent-signature': mac }), ctxFor('zalo')),
    ).not.toThrow();
  });

  it('rejects an HMAC, a wrong key, a tampered byte, a missing prefix and a missing header', () => {
    const ctx = ctxFor('zalo');
    const good = zaloMac('1234567890123456789', textBody, '1718000000123', KEY);
    const hmac = `mac=${createHmac('sha256', KEY)
      .update(`1234567890123456789${textBody.toString('utf8')}1718000000123`)
      .digest('hex')}`;
    const tampered = Buffer.from(textBody);
    tampered[tampered.length - 5] = (tampered[tampered.length - 5] ?? 0) ^ 1;
    const cases: [Buffer, Record<string, string>][] = [
      [textBody, { 'x-zevent-signature': hmac }],
      [
        textBody,
        { 'x-zevent-signature': zaloMac('1234567890123456789', textBody, '1718000000123', 'other') },
      ],
      [textBody, { 'x-zevent-signature': zaloMac('1234567890123456789', textBody, '1718000000124', KEY) }],
      [tampered, { 'x-zevent-signature': good }],
      [textBody, { 'x-zevent-signature': good.slice(4) }],
      [textBody, {}],
      [Buffer.from('not json'), { 'x-zevent-signature': good }],
      [Buffer.from('{"event_name":"user_send_text"}'), { 'x-zevent-signature': good }],
    ];
    for (const [body, headers] of cases) {
      expect(() => zaloAdapter.authenticate(post(body, headers), ctx)).toThrow(InvalidSignatureError);
    }
  });

  it('has no GET handshake', () => {
    expect(zaloAdapter.handshake).toBeUndefined();
  });
});

describe('Zalo parse', () => {
  const events = fixtureLines('zalo-events.jsonl').flatMap((line) => parse('zalo', line));

  it('classifies user sends, receipts, OA sends, follows, other OAs and reactions', () => {
    expect(outcomes(events)).toEqual([
      'message',
      'message',
      'message',
      'message',
      'message',
      'ignored:receipt',
      'ignored:receipt',
      'human-active',
      'ignored:non-message',
      'ignored:not-subscribed-page',
      'ignored:reaction',
    ]);
  });

  it('normalises a text message with conversation {oaId}:{userId} and ms timestamps', () => {
    expect(messages(events)[0]).toEqual({
      tenantId: 'acme',
      channel: 'zalo',
      conversationId: '579745863508352884:4212876000000000001',
      conversationKey: 'acme#zalo#579745863508352884:4212876000000000001',
      messageId: 'zmsg-text-1',
      pageId: '579745863508352884',
      customer: { id: '4212876000000000001' },
      timestamp: 1718000000123,
      receivedAt: 1750000000000,
      kind: 'text',
      text: 'Tôi muốn đặt hàng',
      attachments: [],
      surface: 'inbox',
    });
  });

  it('maps audio, image, location and sticker attachments', () => {
    const [, audio, image, location, sticker] = messages(events);
    expect(audio).toMatchObject({
      kind: 'audio',
      attachments: [{ kind: 'audio', url: 'https://voice-aac-dl.zdn.example/v.aac', voice: true }],
    });
    expect(image).toMatchObject({
      kind: 'image',
      text: 'màu này',
      attachments: [{ kind: 'image', url: 'https://photo.example/i.jpg' }],
    });
    expect(location?.attachments[0]).toEqual({ kind: 'location', latitude: 10.7769, longitude: 106.7009 });
    expect(sticker).toMatchObject({
      kind: 'sticker',
      attachments: [{ kind: 'sticker', url: 'https://sticker.example/s.png' }],
    });
  });

  it('reports an OA send by a person in the OA chat tool (sender.admin_id) as human activity on the customer’s conversation', () => {
    expect(humans(events)[0]).toEqual({
      tenantId: 'acme',
      channel: 'zalo',
      conversationId: '579745863508352884:4212876000000000001',
      conversationKey: 'acme#zalo#579745863508352884:4212876000000000001',
      messageId: 'zmsg-oa-1',
      pageId: '579745863508352884',
      agentId: '7451203917452102',
      timestamp: 1718000007123,
      receivedAt: 1750000000000,
    });
  });

  it('rejects bodies without event_name', () => {
    for (const body of ['{}', '[]', 'x', '{"event_name":""}']) {
      expect(() => parse('zalo', Buffer.from(body))).toThrow(InvalidPayloadError);
    }
  });
});
