import { describe, expect, it } from 'vitest';
import { whatsappAdapter } from '../../../lambdas/channels/index.js';
import {
  HandshakeFailedError,
  InvalidPayloadError,
  InvalidSignatureError,
} from '../../../lambdas/shared/errors.js';
import { ctxFor, fixture, hubSignature, humans, messages, outcomes, parse, post } from './helpers.js';

describe('WhatsApp authentication', () => {
  it('answers the hub handshake with the WhatsApp verify token only', () => {
    const query = { 'hub.mode': 'subscribe', 'hub.verify_token': 'wa-verify', 'hub.challenge': 'ch-42' };
    const request = { method: 'GET' as const, rawBody: Buffer.alloc(0), headers: {}, query, receivedAt: 0 };
    expect(whatsappAdapter.handshake?.(request, ctxFor('whatsapp'))).toBe('ch-42');
    const wrong = { ...request, query: { ...query, 'hub.verify_token': 'verify-me' } };
    expect(() => whatsappAdapter.handshake?.(wrong, ctxFor('whatsapp'))).toThrow(HandshakeFailedError);
  });

  it('checks X-Hub-Signature-256 over the raw bytes and rejects a tampered byte', () => {
    const body = fixture('whatsapp-messages.json');
    const sig = hubSignature('whatsapp-app-secret', body);
    expect(() =>
      whatsappAdapter.authenticate(post(body, { 'x-hub-signature-256': sig }), ctxFor('whatsapp')),
    ).not.toThrow();
    const tampered = Buffer.from(body);
    tampered[100] = (tampered[100] ?? 0) ^ 0x20;
    expect(() =>
      whatsappAdapter.authenticate(post(tampered, { 'x-hub-signature-256': sig }), ctxFor('whatsapp')),
    ).toThrow(InvalidSignatureError);
    expect(() => whatsappAdapter.authenticate(post(body), ctxFor('whatsapp'))).toThrow(InvalidSignatureError);
  });
});

describe('WhatsApp parse', () => {
  it('normalises a text message: conversation {phoneNumberId}:{wa_id}, string timestamp in seconds, name and phone', () => {
    const [text] = messages(parse('whatsapp', fixture('whatsapp-messages.json')));
    expect(text).toEqual({
      tenantId: 'acme',
      channel: 'whatsapp',
      conversationId: '106540352242922:84901234567',
      conversationKey: 'acme#whatsapp#106540352242922:84901234567',
      messageId: 'wamid.TEXT1',
      pageId: '106540352242922',
      customer: { id: '84901234567', name: 'Nguyễn Văn A', phone: '84901234567' },
      timestamp: 1749416383000,
      receivedAt: 1750000000000,
      kind: 'text',
      text: 'Xin chào 👋',
      attachments: [],
      surface: 'inbox',
    });
  });

  it('maps every message type: voice, image, document, location, replies, reactions, unsupported', () => {
    const events = parse('whatsapp', fixture('whatsapp-messages.json'));
    expect(outcomes(events)).toEqual([
      'message',
      'message',
      'message',
      'message',
      'message',
      'message',
      'message',
      'ignored:reaction',
      'ignored:unsupported',
      'message',
      'message',
    ]);
    const msgs = messages(events);
    expect(msgs.map((m) => m.kind)).toEqual([
      'text',
      'audio',
      'image',
      'file',
      'location',
      'postback',
      'postback',
      'sticker',
      'video',
    ]);
    expect(msgs[1]?.attachments).toEqual([
      { kind: 'audio', fileId: '1146827793960001', mimeType: 'audio/ogg; codecs=opus', voice: true },
    ]);
    expect(msgs[2]).toMatchObject({
      text: 'this one',
      customer: { name: 'Bob' },
      attachments: [{ fileId: '1146827793960002' }],
    });
    expect(msgs[3]?.attachments[0]).toMatchObject({
      kind: 'file',
      name: 'order.pdf',
      mimeType: 'application/pdf',
    });
    expect(msgs[4]?.attachments[0]).toEqual({
      kind: 'location',
      latitude: 10.7769,
      longitude: 106.7009,
      title: 'Ben Thanh',
    });
    expect(msgs[5]).toMatchObject({ text: 'Yes', postback: 'YES_CONFIRM', postbackSource: 'postback' });
    expect(msgs[6]).toMatchObject({
      text: 'Stop promotions',
      postback: 'STOP',
      postbackSource: 'quick-reply',
    });
  });

  it('ignores statuses (sent, delivered, read, failed) as receipts', () => {
    expect(outcomes(parse('whatsapp', fixture('whatsapp-statuses.json')))).toEqual([
      'ignored:receipt',
      'ignored:receipt',
      'ignored:receipt',
      'ignored:receipt',
    ]);
  });

  it('reports Business-app echoes as human activity and ignores other fields and numbers', () => {
    const events = parse('whatsapp', fixture('whatsapp-smb-echoes.json'));
    expect(outcomes(events)).toEqual(['human-active', 'ignored:non-message', 'ignored:not-subscribed-page']);
    expect(humans(events)[0]).toEqual({
      tenantId: 'acme',
      channel: 'whatsapp',
      conversationId: '106540352242922:84901234567',
      conversationKey: 'acme#whatsapp#106540352242922:84901234567',
      messageId: 'wamid.HUMAN1',
      pageId: '106540352242922',
      timestamp: 1749416500000,
      receivedAt: 1750000000000,
    });
  });

  it('rejects bodies that are not WhatsApp webhooks', () => {
    for (const text of ['{', '{"object":"page","entry":[]}', '{"object":"whatsapp_business_account"}']) {
      expect(() => parse('whatsapp', Buffer.from(text))).toThrow(InvalidPayloadError);
    }
  });
});
