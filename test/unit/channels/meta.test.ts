import { describe, expect, it } from 'vitest';
import { instagramAdapter, messengerAdapter } from '../../../lambdas/channels/index.js';
import { PAGE_INBOX_APP_IDS } from '../../../lambdas/channels/meta.js';
import {
  HandshakeFailedError,
  InvalidPayloadError,
  InvalidSignatureError,
} from '../../../lambdas/shared/errors.js';
import { ctxFor, fixture, hubSignature, humans, messages, outcomes, parse, post } from './helpers.js';

const SECRET = 'messenger-app-secret';
const get = (query: Record<string, string>) => ({
  method: 'GET' as const,
  rawBody: Buffer.alloc(0),
  headers: {},
  query,
  receivedAt: 0,
});

describe('Meta handshake', () => {
  it('answers the challenge when mode is subscribe and the verify token matches', () => {
    const request = get({
      'hub.mode': 'subscribe',
      'hub.verify_token': 'verify-me',
      'hub.challenge': '1158201444',
    });
    expect(messengerAdapter.handshake?.(request, ctxFor('messenger'))).toBe('1158201444');
    const ig = get({ 'hub.mode': 'subscribe', 'hub.verify_token': 'ig-verify', 'hub.challenge': 'abc' });
    expect(instagramAdapter.handshake?.(ig, ctxFor('instagram'))).toBe('abc');
  });

  it('fails with HandshakeFailedError on a wrong token, wrong mode or missing challenge', () => {
    const ctx = ctxFor('messenger');
    const cases: Record<string, string>[] = [
      { 'hub.mode': 'subscribe', 'hub.verify_token': 'verify-me!', 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.verify_token': 'verify-m', 'hub.challenge': '1' },
      { 'hub.mode': 'unsubscribe', 'hub.verify_token': 'verify-me', 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.verify_token': 'verify-me' },
      {},
    ];
    for (const query of cases) {
      expect(() => messengerAdapter.handshake?.(get(query), ctx)).toThrow(HandshakeFailedError);
    }
  });
});

describe('Meta signature', () => {
  const body = fixture('messenger-batch-3x2.json');

  it('accepts X-Hub-Signature-256 over the escaped-unicode bytes Meta sends', () => {
    expect(body.toString('utf8')).toContain('\\u00e0');
    const request = post(body, { 'x-hub-signature-256': hubSignature(SECRET, body) });
    expect(() => messengerAdapter.authenticate(request, ctxFor('messenger'))).not.toThrow();
  });

  it('accepts an upper-case hex signature', () => {
    const sig = hubSignature(SECRET, body).replace(/^sha256=/, '');
    const request = post(body, { 'x-hub-signature-256': `sha256=${sig.toUpperCase()}` });
    expect(() => messengerAdapter.authenticate(request, ctxFor('messenger'))).not.toThrow();
  });

  it('rejects the same JSON re-serialised (unescaped UTF-8) under the original signature', () => {
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8'))), 'utf8');
    expect(reserialised.equals(body)).toBe(false);
    const request = post(reserialised, { 'x-hub-signature-256': hubSignature(SECRET, body) });
    expect(() => messengerAdapter.authenticate(request, ctxFor('messenger'))).toThrow(InvalidSignatureError);
  });

  it('verifies raw multibyte UTF-8 bytes, as decoded from a base64 API Gateway body', () => {
    const utf8 = Buffer.from(
      '{"object":"page","entry":[{"id":"106000000000001","messaging":[{"sender":{"id":"1"},"recipient":{"id":"106000000000001"},"timestamp":1,"message":{"mid":"m","text":"Tiếng Việt 😀"}}]}]}',
      'utf8',
    );
    const decoded = Buffer.from(utf8.toString('base64'), 'base64');
    const request = post(decoded, { 'x-hub-signature-256': hubSignature(SECRET, utf8) });
    expect(() => messengerAdapter.authenticate(request, ctxFor('messenger'))).not.toThrow();
    expect(messages(parse('messenger', decoded))[0]?.text).toBe('Tiếng Việt 😀');
    // Decoding the base64 body as latin1 would change the bytes and must fail.
    const mangled = Buffer.from(utf8.toString('latin1'), 'utf8');
    expect(() =>
      messengerAdapter.authenticate(
        post(mangled, { 'x-hub-signature-256': hubSignature(SECRET, utf8) }),
        ctxFor('messenger'),
      ),
    ).toThrow(InvalidSignatureError);
  });

  it('rejects a body with one tampered byte', () => {
    const tampered = Buffer.from(body);
    tampered[tampered.length - 10] = (tampered[tampered.length - 10] ?? 0) ^ 1;
    const request = post(tampered, { 'x-hub-signature-256': hubSignature(SECRET, body) });
    expect(() => messengerAdapter.authenticate(request, ctxFor('messenger'))).toThrow(InvalidSignatureError);
  });

  it('rejects a missing, malformed, SHA-1 or wrong-secret signature', () => {
    const ctx = ctxFor('messenger');
    const bad: Record<string, string>[] = [
      {},
      { 'x-hub-signature-256': '' },
      { 'x-hub-signature-256': 'sha256=' },
      { 'x-hub-signature-256': hubSignature(SECRET, body).replace('sha256=', '') },
      { 'x-hub-signature-256': hubSignature(SECRET, body).replace('sha256=', 'sha1=') },
      { 'x-hub-signature-256': hubSignature('another-secret', body) },
      { 'x-hub-signature-256': `${hubSignature(SECRET, body)}00` },
      { 'x-hub-signature': hubSignature(SECRET, body) },
    ];
    for (const headers of bad) {
      expect(() => messengerAdapter.authenticate(post(body, headers), ctx)).toThrow(InvalidSignatureError);
    }
  });

  it('checks Instagram with the Instagram app secret', () => {
    const ig = fixture('instagram-messaging.json');
    expect(() =>
      instagramAdapter.authenticate(
        post(ig, { 'x-hub-signature-256': hubSignature('instagram-app-secret', ig) }),
        ctxFor('instagram'),
      ),
    ).not.toThrow();
    expect(() =>
      instagramAdapter.authenticate(
        post(ig, { 'x-hub-signature-256': hubSignature(SECRET, ig) }),
        ctxFor('instagram'),
      ),
    ).toThrow(InvalidSignatureError);
  });
});

describe('Messenger parse', () => {
  it('yields one event per messaging item across a 3-entry × 2-item batch, in order', () => {
    const events = parse('messenger', fixture('messenger-batch-3x2.json'));
    expect(outcomes(events)).toEqual(['message', 'message', 'message', 'message', 'message', 'message']);
    const msgs = messages(events);
    expect(msgs.map((m) => m.messageId)).toEqual(['m_a1', 'm_a2', 'm_b1', 'm_b2', 'm_c1', 'm_c2']);
    expect(msgs.map((m) => m.pageId)).toEqual([
      '106000000000001',
      '106000000000001',
      '106000000000002',
      '106000000000002',
      '106000000000003',
      '106000000000003',
    ]);
  });

  it('normalises a text message with the escaped unicode decoded', () => {
    const [first] = messages(parse('messenger', fixture('messenger-batch-3x2.json')));
    expect(first).toEqual({
      tenantId: 'acme',
      channel: 'messenger',
      conversationId: '106000000000001:7100000000000011',
      conversationKey: 'acme#messenger#106000000000001:7100000000000011',
      messageId: 'm_a1',
      pageId: '106000000000001',
      customer: { id: '7100000000000011' },
      timestamp: 1718000000001,
      receivedAt: 1750000000000,
      kind: 'text',
      text: 'Xin chào, äöå 😀 https://shop.example/p',
      attachments: [],
      surface: 'inbox',
    });
  });

  it('maps attachments, postbacks and quick replies', () => {
    const msgs = messages(parse('messenger', fixture('messenger-batch-3x2.json')));
    expect(msgs[2]).toMatchObject({
      kind: 'image',
      attachments: [{ kind: 'image', url: 'https://scontent.example/b1.jpg' }],
    });
    expect(msgs[3]).toMatchObject({
      kind: 'audio',
      attachments: [{ kind: 'audio', url: 'https://cdn.fbsbx.example/b2.mp4' }],
    });
    expect(msgs[4]).toMatchObject({
      kind: 'postback',
      text: 'Mua ngay',
      postback: 'BUY_NOW',
      postbackSource: 'postback',
      messageId: 'm_c1',
    });
    expect(msgs[5]).toMatchObject({
      kind: 'postback',
      text: 'Red one',
      postback: 'COLOR_RED',
      postbackSource: 'quick-reply',
    });
    const more = messages(parse('messenger', fixture('messenger-attachments.json')));
    expect(more.map((m) => m.kind)).toEqual(['location', 'sticker', 'file', 'video']);
    expect(more[0]?.attachments[0]).toEqual({
      kind: 'location',
      title: 'Shop',
      latitude: 10.77,
      longitude: 106.7,
    });
    expect(more[2]?.text).toBe('my invoice');
  });

  it('classifies echoes: ours and other apps ignored, page-inbox replies (both app ids) human-active', () => {
    const events = parse('messenger', fixture('messenger-echoes.json'));
    expect(outcomes(events)).toEqual([
      'ignored:echo',
      'human-active',
      'human-active',
      'ignored:echo',
      'ignored:receipt',
      'ignored:receipt',
      'ignored:reaction',
      'ignored:non-message',
    ]);
    const [inbox, alt] = humans(events);
    expect(inbox).toEqual({
      tenantId: 'acme',
      channel: 'messenger',
      conversationId: '106000000000001:7100000000000011',
      conversationKey: 'acme#messenger#106000000000001:7100000000000011',
      messageId: 'm_echo_inbox',
      pageId: '106000000000001',
      agentId: '263902037430900',
      timestamp: 1718000001002,
      receivedAt: 1750000000000,
    });
    expect(alt?.agentId).toBe('26390203743090');
    expect(PAGE_INBOX_APP_IDS).toEqual(['263902037430900', '26390203743090']);
  });

  it('ignores entries of pages the tenant has not configured and malformed items, keeping the rest', () => {
    const events = parse('messenger', fixture('messenger-unsubscribed.json'));
    expect(outcomes(events)).toEqual([
      'ignored:not-subscribed-page',
      'message',
      'ignored:unsupported',
      'ignored:unsupported',
    ]);
    expect(messages(events)[0]?.messageId).toBe('m_ok');
  });

  it('rejects bodies without the Meta structure with InvalidPayloadError', () => {
    for (const text of [
      'not json',
      '[]',
      '"x"',
      '{"object":"page"}',
      '{"object":"whatsapp_business_account","entry":[]}',
      '{"entry":{}}',
    ]) {
      expect(() => parse('messenger', Buffer.from(text))).toThrow(InvalidPayloadError);
    }
    expect(parse('messenger', Buffer.from('{"object":"page","entry":[]}'))).toEqual([]);
  });

  it('derives a stable id for a postback without mid, so retries deduplicate', () => {
    const body = Buffer.from(
      '{"object":"page","entry":[{"id":"106000000000001","messaging":[{"sender":{"id":"71"},"recipient":{"id":"106000000000001"},"timestamp":1718000000000,"postback":{"title":"Start","payload":"GET_STARTED"}}]}]}',
    );
    const a = messages(parse('messenger', body))[0];
    const b = messages(parse('messenger', body))[0];
    expect(a?.messageId).toBe('postback:71:1718000000000:GET_STARTED');
    expect(b?.messageId).toBe(a?.messageId);
  });
});

describe('Instagram parse', () => {
  it('classifies DMs, echoes, page-inbox replies, reads, reactions and deletions', () => {
    const events = parse('instagram', fixture('instagram-messaging.json'));
    expect(outcomes(events)).toEqual([
      'message',
      'ignored:echo',
      'human-active',
      'ignored:receipt',
      'ignored:reaction',
      'ignored:non-message',
    ]);
    expect(messages(events)[0]).toMatchObject({
      channel: 'instagram',
      conversationId: '17841400000000001:7200000000000011',
      conversationKey: 'acme#instagram#17841400000000001:7200000000000011',
      text: 'Có size M không?',
      surface: 'inbox',
    });
    expect(humans(events)[0]?.conversationId).toBe('17841400000000001:7200000000000011');
  });

  it('surfaces comments as comment messages and ignores the account’s own comments and mentions', () => {
    const events = parse('instagram', fixture('instagram-comments.json'));
    expect(outcomes(events)).toEqual(['message', 'ignored:echo', 'ignored:non-message']);
    expect(messages(events)[0]).toEqual({
      tenantId: 'acme',
      channel: 'instagram',
      conversationId: '17841400000000001:7200000000000077',
      conversationKey: 'acme#instagram#17841400000000001:7200000000000077',
      messageId: '17900000000000001',
      pageId: '17841400000000001',
      customer: { id: '7200000000000077', name: 'linh.nguyen' },
      timestamp: 1718000005000,
      receivedAt: 1750000000000,
      kind: 'text',
      text: 'Giá bao nhiêu?',
      attachments: [],
      surface: 'comment',
      commentId: '17900000000000001',
      postId: '18000000000000001',
    });
  });

  it('ignores accounts the tenant has not configured', () => {
    const body = Buffer.from(
      fixture('instagram-messaging.json').toString().replaceAll('17841400000000001', '17841499999999999'),
    );
    expect(new Set(outcomes(parse('instagram', body)))).toEqual(new Set(['ignored:not-subscribed-page']));
  });
});
