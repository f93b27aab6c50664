/**
 * Every sender against the sandbox fake platform: the exact request each platform documents,
 * the id it answers, and the translation of its errors into retryable or permanent ones.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../../bin/local/sandbox.js';
import { apiBases, graphRoot } from '../../../lambdas/channels/endpoints.js';
import { createSender, senderFor } from '../../../lambdas/channels/send/index.js';
import type { SendTarget } from '../../../lambdas/channels/types.js';
import {
  AmbiguousSendError,
  ConfigurationError,
  PermanentSendError,
  RetryableSendError,
} from '../../../lambdas/shared/errors.js';
import type { ChannelName } from '../../../lambdas/shared/model.js';
import { parseTenantDocument } from '../../../lambdas/shared/tenant.js';

const tenant = parseTenantDocument({
  tenantId: 'acme',
  channels: {
    pancake: {
      pageIds: ['p1'],
      pageAccessToken: 'pc-token-xyz',
      pageAccessTokens: { p2: 'pc-token-p2' },
      webhookToken: 'w',
    },
    messenger: { appSecret: 'a', verifyToken: 'v', pages: { fb1: { accessToken: 'fb-token-xyz' } } },
    instagram: { appSecret: 'a', verifyToken: 'v', accounts: { ig1: { accessToken: 'ig-token-xyz' } } },
    whatsapp: { appSecret: 'a', verifyToken: 'v', accessToken: 'wa-token-xyz', phoneNumberIds: ['555'] },
    telegram: { botToken: '777:tg-token-xyz', secretToken: 's' },
    zalo: { oaId: 'oa', oaSecretKey: 'k', accessToken: 'zl-token-xyz' },
  },
});

const targets: Record<ChannelName, SendTarget> = {
  pancake: {
    tenant,
    channel: 'pancake',
    pageId: 'p1',
    conversationId: 'p1_99',
    recipientId: 'cust',
    surface: 'inbox',
  },
  messenger: {
    tenant,
    channel: 'messenger',
    pageId: 'fb1',
    conversationId: 'fb1:psid1',
    recipientId: 'psid1',
    surface: 'inbox',
  },
  instagram: {
    tenant,
    channel: 'instagram',
    pageId: 'ig1',
    conversationId: 'ig1:igsid',
    recipientId: 'igsid',
    surface: 'inbox',
  },
  whatsapp: {
    tenant,
    channel: 'whatsapp',
    pageId: '555',
    conversationId: '555:8490',
    recipientId: '8490',
    surface: 'inbox',
  },
  telegram: {
    tenant,
    channel: 'telegram',
    pageId: '777',
    conversationId: '777:-1009007199254740993',
    recipientId: '-1009007199254740993',
    surface: 'inbox',
  },
  zalo: {
    tenant,
    channel: 'zalo',
    pageId: 'oa',
    conversationId: 'oa:zu1',
    recipientId: 'zu1',
    surface: 'inbox',
  },
};

let sandbox: Sandbox;
const sender = (channel: ChannelName) => createSender(channel, { bases: () => sandbox.baseUrls });

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => sandbox.stop());
beforeEach(() => sandbox.clear());

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the send to fail');
}

describe('senders', () => {
  it('registers one default sender per channel', () => {
    for (const channel of Object.keys(targets) as ChannelName[]) {
      expect(senderFor(channel).channel).toBe(channel);
      expect(senderFor(channel)).toBe(senderFor(channel));
    }
  });

  it('sends Pancake inbox replies, comment replies and uploaded images the documented way', async () => {
    const s = sender('pancake');
    const text = await s.sendText(targets.pancake, 'xin chào');
    await s.sendText({ ...targets.pancake, surface: 'comment', replyToMessageId: 'cmt1' }, 'cảm ơn');
    const image = await s.sendImage(targets.pancake, `${sandbox.url}/sandbox/files/photo.png`);
    const calls = sandbox.messages();
    expect(calls.map((c) => [c.kind, c.status])).toEqual([
      ['text', 200],
      ['comment', 200],
      ['upload', 200],
      ['image', 200],
    ]);
    expect(calls[0]).toMatchObject({
      pageId: 'p1',
      conversationId: 'p1_99',
      body: { action: 'reply_inbox', message: 'xin chào' },
    });
    expect(calls[1]?.body).toEqual({ action: 'reply_comment', message_id: 'cmt1', message: 'cảm ơn' });
    const imageBody = calls[3]?.body as Record<string, unknown>;
    expect(imageBody.message).toBeUndefined();
    expect(imageBody.content_ids).toEqual([expect.stringMatching(/^c_/)]);
    expect(text.platformMessageId).toBe(calls[0]?.messageId);
    expect(image.platformMessageId).toBe(calls[3]?.messageId);
  });

  it('treats Pancake success:false on HTTP 200 as a permanent failure and 401 as an invalid token', async () => {
    sandbox.fail({ channel: 'pancake', kind: 'success-false' });
    const err = await rejection(sender('pancake').sendText(targets.pancake, 'a'));
    expect(err).toBeInstanceOf(PermanentSendError);
    expect((err as PermanentSendError).platformCode).toBe('SUCCESS_FALSE');
    sandbox.fail({ channel: 'pancake', kind: '401' });
    const bad = (await rejection(sender('pancake').sendText(targets.pancake, 'b'))) as PermanentSendError;
    expect(bad.tokenInvalid).toBe(true);
    expect(bad.message).not.toContain('pc-token-xyz');
  });

  it('makes a missing image a permanent failure and a 429 a retryable one with its Retry-After', async () => {
    const missing = await rejection(
      sender('pancake').sendImage(targets.pancake, `${sandbox.url}/sandbox/files/missing.png`),
    );
    expect((missing as PermanentSendError).platformCode).toBe('IMAGE_UNAVAILABLE');
    sandbox.fail({ channel: 'pancake', kind: '429', retryAfter: 7 });
    const limited = await rejection(sender('pancake').sendText(targets.pancake, 'c'));
    expect(limited).toBeInstanceOf(RetryableSendError);
    expect((limited as RetryableSendError).retryAfterMs).toBe(7000);
  });

  it('sends Messenger and Instagram messages with messaging_type RESPONSE and typing_on', async () => {
    const fb = await sender('messenger').sendText(targets.messenger, 'hi');
    await sender('instagram').sendImage(targets.instagram, 'https://example.com/a.png');
    await sender('messenger').typing(targets.messenger);
    const calls = sandbox.messages();
    expect(calls[0]).toMatchObject({
      path: '/v25.0/fb1/messages',
      recipientId: 'psid1',
      body: { recipient: { id: 'psid1' }, messaging_type: 'RESPONSE', message: { text: 'hi' } },
    });
    expect(fb.platformMessageId).toBe(calls[0]?.messageId);
    expect(calls[1]).toMatchObject({
      path: '/v25.0/ig1/messages',
      kind: 'image',
      imageUrl: 'https://example.com/a.png',
    });
    expect(calls[2]).toMatchObject({ kind: 'typing', body: { sender_action: 'typing_on' } });
  });

  it('puts the configured Graph API version in Messenger, Instagram and WhatsApp URLs', async () => {
    const bases = () => ({ ...sandbox.baseUrls, graphVersion: 'v26.1' });
    await createSender('messenger', { bases }).sendText(targets.messenger, 'hi');
    await createSender('instagram', { bases }).sendText(targets.instagram, 'hi');
    await createSender('whatsapp', { bases }).sendText(targets.whatsapp, 'hi');
    expect(sandbox.messages().map((c) => c.path)).toEqual([
      '/v26.1/fb1/messages',
      '/v26.1/ig1/messages',
      '/v26.1/555/messages',
    ]);
  });

  it('reads the Graph API version from GRAPH_API_VERSION, defaults to v25.0 and rejects a malformed one', () => {
    expect(apiBases({}).graphVersion).toBe('v25.0');
    expect(apiBases({ GRAPH_API_VERSION: 'v26.0' }).graphVersion).toBe('v26.0');
    expect(graphRoot(apiBases({ GRAPH_API_BASE: 'https://g.example/', GRAPH_API_VERSION: 'v26.0' }))).toBe(
      'https://g.example/v26.0',
    );
    expect(() => apiBases({ GRAPH_API_VERSION: '25' })).toThrow(ConfigurationError);
  });

  it('classifies Graph error codes: 613 retryable, 190 invalid token, 1545041 and 131047 window closed, 551 unavailable', async () => {
    const cases: [number, number | undefined, 'retry' | 'perm', string][] = [
      [613, undefined, 'retry', '613'],
      [4, undefined, 'retry', '4'],
      [190, undefined, 'perm', '190'],
      [10, 2018278, 'perm', '2018278'],
      [1545041, undefined, 'perm', '1545041'],
      [551, undefined, 'perm', '551'],
      [100, undefined, 'perm', '100'],
    ];
    for (const [code, subcode, kind, platformCode] of cases) {
      sandbox.fail({ channel: 'graph', kind: 'meta-error', code, ...(subcode ? { subcode } : {}) });
      const err = (await rejection(
        sender('messenger').sendText(targets.messenger, 'x'),
      )) as RetryableSendError;
      expect(err, `code ${code}`).toBeInstanceOf(kind === 'retry' ? RetryableSendError : PermanentSendError);
      expect(err.platformCode).toBe(platformCode);
      expect(err.message).not.toContain('fb-token-xyz');
    }
    sandbox.fail({ channel: 'graph', kind: 'meta-error', code: 131047 });
    const wa = (await rejection(sender('whatsapp').sendText(targets.whatsapp, 'x'))) as PermanentSendError;
    expect(wa.platformCode).toBe('131047');
    sandbox.fail({ channel: 'graph', kind: 'meta-error', code: 130429 });
    expect(await rejection(sender('whatsapp').sendText(targets.whatsapp, 'x'))).toBeInstanceOf(
      RetryableSendError,
    );
    sandbox.fail({ channel: 'graph', kind: '401' });
    expect(
      ((await rejection(sender('messenger').sendText(targets.messenger, 'x'))) as PermanentSendError)
        .tokenInvalid,
    ).toBe(true);
  });

  it('sends WhatsApp messages with a bearer token and returns the wamid', async () => {
    const result = await sender('whatsapp').sendText(targets.whatsapp, 'chào');
    const [call] = sandbox.messages();
    expect(call).toMatchObject({
      api: 'whatsapp',
      pageId: '555',
      recipientId: '8490',
      body: { messaging_product: 'whatsapp', to: '8490', type: 'text', text: { body: 'chào' } },
    });
    expect(result.platformMessageId).toMatch(/^wamid\./);
  });

  it('sends Telegram messages with the chat id as exact digits and honours retry_after', async () => {
    const result = await sender('telegram').sendText(targets.telegram, 'hello');
    await sender('telegram').typing(targets.telegram);
    const calls = sandbox.messages();
    expect(calls[0]).toMatchObject({
      path: '/bot[redacted]/sendMessage',
      recipientId: '-1009007199254740993',
      pageId: '777',
    });
    expect((calls[0]?.body as { chat_id: unknown } | undefined)?.chat_id).toBe('-1009007199254740993');
    expect(calls[1]).toMatchObject({ kind: 'typing', body: { action: 'typing' } });
    expect(result.platformMessageId).toBe(calls[0]?.messageId);
    sandbox.fail({ channel: 'telegram', kind: 'telegram-429', retryAfter: 12 });
    const err = (await rejection(sender('telegram').sendText(targets.telegram, 'x'))) as RetryableSendError;
    expect(err.retryAfterMs).toBe(12_000);
    expect(err.message).not.toContain('tg-token-xyz');
    sandbox.fail({ channel: 'telegram', kind: '401' });
    expect(
      ((await rejection(sender('telegram').sendText(targets.telegram, 'x'))) as PermanentSendError)
        .tokenInvalid,
    ).toBe(true);
  });

  it('answers a Telegram Business chat through its business_connection_id', async () => {
    await sender('telegram').sendText({ ...targets.telegram, businessConnectionId: 'bc-42' }, 'hello');
    await sender('telegram').sendText(targets.telegram, 'plain');
    const [business, plain] = sandbox.messages();
    expect(business?.body).toMatchObject({ business_connection_id: 'bc-42', text: 'hello' });
    expect(plain?.body).not.toHaveProperty('business_connection_id');
  });

  it('sends Zalo consultation messages with the access_token header and reads error codes from HTTP 200', async () => {
    const result = await sender('zalo').sendText(targets.zalo, 'alo');
    expect(sandbox.messages()[0]).toMatchObject({
      path: '/v3.0/oa/message/cs',
      recipientId: 'zu1',
      text: 'alo',
    });
    expect(result.platformMessageId).toBe(sandbox.messages()[0]?.messageId);
    sandbox.fail({ channel: 'zalo', kind: '401' });
    expect(
      ((await rejection(sender('zalo').sendText(targets.zalo, 'x'))) as PermanentSendError).tokenInvalid,
    ).toBe(true);
  });

  it('turns a hang past the timeout and a dropped connection into retryable errors', async () => {
    sandbox.fail({ channel: 'zalo', kind: 'hang', hangMs: 3000 });
    const timedOut = (await rejection(
      sender('zalo').sendText(targets.zalo, 'x', AbortSignal.timeout(200)),
    )) as RetryableSendError;
    expect(timedOut).toBeInstanceOf(RetryableSendError);
    expect(timedOut.platformCode).toBe('TIMEOUT');
    // The request had reached the platform: it may have acted on it.
    expect(timedOut).toBeInstanceOf(AmbiguousSendError);
    sandbox.fail({ channel: 'zalo', kind: 'network' });
    const dropped = (await rejection(sender('zalo').sendText(targets.zalo, 'x'))) as RetryableSendError;
    expect(dropped.platformCode).toBe('NETWORK');
    expect(dropped).toBeInstanceOf(AmbiguousSendError);
  });

  it('tells a request that never left (connection refused) apart from an ambiguous one', async () => {
    // A port nothing listens on: the connection is refused before any byte of the request left.
    const closed = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const refused = createSender('zalo', {
      bases: () => ({ ...sandbox.baseUrls, zalo: `http://127.0.0.1:${closed}` }),
    });
    const err = (await rejection(refused.sendText(targets.zalo, 'x'))) as RetryableSendError;
    expect(err).toBeInstanceOf(RetryableSendError);
    expect(err).not.toBeInstanceOf(AmbiguousSendError);
    expect(err.platformCode).toBe('CONNECT');
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('never rejects a typing indicator, even when the platform fails', async () => {
    sandbox.fail({ channel: 'telegram', kind: '500' });
    await expect(sender('telegram').typing(targets.telegram)).resolves.toBeUndefined();
    await expect(sender('pancake').typing(targets.pancake)).resolves.toBeUndefined();
  });

  it('refuses permanently to send for a channel or page the tenant has not configured', async () => {
    const err = (await rejection(
      sender('messenger').sendText({ ...targets.messenger, pageId: 'other' }, 'x'),
    )) as PermanentSendError;
    expect(err.platformCode).toBe('NOT_CONFIGURED');
    expect(sandbox.messages()).toEqual([]);
  });
});
