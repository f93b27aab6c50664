/**
 * The two further Pancake webhook shapes of the integration guides (the illustrative
 * `new_message` event and the flat signed one), their authentication without `?token=` when the
 * tenant signs, the `messageId` of the webhook's 200 answer, `reply_comment`'s `message_id`
 * (Pancake's public API reference, schema ReplyComment) and quick replies as numbered text.
 */
import { createHmac } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../../bin/local/sandbox.js';
import { adapterFor, pancakeAdapter } from '../../../lambdas/channels/index.js';
import { createPancakeSender } from '../../../lambdas/channels/send/pancake.js';
import type { SendTarget } from '../../../lambdas/channels/types.js';
import { createWebhookHandler } from '../../../lambdas/ingest/webhook.js';
import { InvalidSignatureError } from '../../../lambdas/shared/errors.js';
import type { QueueEntry } from '../../../lambdas/shared/queue.js';
import { parseTenantDocument } from '../../../lambdas/shared/tenant.js';
import { messages, outcomes, parse, post, RECEIVED_AT, TENANT } from './helpers.js';

const PAGE = '1401234567890';
const TOKEN = 'wh-token-5f2a9c';
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/** The guides' illustrative event. */
const newMessage = (extra: Record<string, unknown> = {}, message: Record<string, unknown> = {}) =>
  json({
    event_type: 'new_message',
    page_id: PAGE,
    conversation_id: `${PAGE}_C9`,
    customer: { id: 'C9', name: 'Lan' },
    message: { id: 'nm-1', text: 'Còn hàng không?', created_time: '2024-12-25T11:06:07Z', ...message },
    ...extra,
  });

/** The guides' flat signed event. */
const flat = (extra: Record<string, unknown> = {}) =>
  json({
    message_id: 'fm-1',
    conversation_id: `${PAGE}_C8`,
    customer: { id: 'C8', name: 'Minh' },
    content: 'Giá bao nhiêu?',
    type: 'text',
    timestamp: 1_735_124_767,
    ...extra,
  });

describe('Pancake new_message shape', () => {
  it('is a customer message: conversation_id, customer, message.id, text and created_time', () => {
    const [message] = messages(parse('pancake', newMessage()));
    expect(message).toMatchObject({
      conversationId: `${PAGE}_C9`,
      messageId: 'nm-1',
      pageId: PAGE,
      customer: { id: 'C9', name: 'Lan' },
      kind: 'text',
      text: 'Còn hàng không?',
      timestamp: Date.UTC(2024, 11, 25, 11, 6, 7),
      surface: 'inbox',
    });
  });

  it('takes the page’s own messages (is_page_sender, or from.id equal to page_id) for echoes', () => {
    expect(outcomes(parse('pancake', newMessage({ is_page_sender: true })))).toEqual(['ignored:echo']);
    expect(outcomes(parse('pancake', newMessage({ from: { id: PAGE } })))).toEqual(['ignored:echo']);
    expect(outcomes(parse('pancake', newMessage({}, { from: { id: PAGE } })))).toEqual(['ignored:echo']);
    expect(outcomes(parse('pancake', newMessage({ is_page_sender: false })))).toEqual(['message']);
  });

  it('ignores pages the tenant does not subscribe and messages without ids or content', () => {
    expect(outcomes(parse('pancake', newMessage({ page_id: '999' })))).toEqual([
      'ignored:not-subscribed-page',
    ]);
    expect(outcomes(parse('pancake', newMessage({ customer: undefined })))).toEqual(['ignored:unsupported']);
    expect(outcomes(parse('pancake', newMessage({}, { text: '' })))).toEqual(['ignored:unsupported']);
  });
});

describe('Pancake flat shape', () => {
  it('is a customer message, its page the prefix of the conversation id and its timestamp in seconds', () => {
    const [message] = messages(parse('pancake', flat()));
    expect(message).toMatchObject({
      conversationId: `${PAGE}_C8`,
      messageId: 'fm-1',
      pageId: PAGE,
      customer: { id: 'C8', name: 'Minh' },
      text: 'Giá bao nhiêu?',
      timestamp: 1_735_124_767_000,
    });
  });

  it('takes page_id when given, accepts a bare customer id and reads COMMENT as a comment', () => {
    const [message] = messages(
      parse(
        'pancake',
        flat({ page_id: '1409999', conversation_id: 'conv-x', customer: 'C7', type: 'COMMENT' }),
      ),
    );
    expect(message).toMatchObject({
      pageId: '1409999',
      conversationId: 'conv-x',
      customer: { id: 'C7' },
      surface: 'comment',
      commentId: 'fm-1',
    });
  });

  it('cannot tell the page of a tenant with several pages when neither page_id nor the conversation says', () => {
    expect(outcomes(parse('pancake', flat({ conversation_id: 'conv-y' })))).toEqual(['ignored:unsupported']);
    const onePage = { pageIds: [PAGE] };
    expect(messages(parse('pancake', flat({ conversation_id: 'conv-y' }), onePage))[0]?.pageId).toBe(PAGE);
  });
});

describe('Pancake signed requests without ?token=', () => {
  const secret = 'guide-signing-secret';
  const signed = (body: Buffer, key = secret) =>
    `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
  const seconds = String(Math.floor(RECEIVED_AT / 1000));
  const ctx = (signingSecret?: string) => ({
    tenant: TENANT,
    config: { ...TENANT.channels.pancake!, ...(signingSecret ? { signingSecret } : {}) },
    receivedAt: RECEIVED_AT,
  });
  const body = flat();

  it('accepts a valid X-Pancake-Signature and X-Pancake-Timestamp without the token when the tenant signs', () => {
    const headers = { 'x-pancake-signature': signed(body), 'x-pancake-timestamp': seconds };
    expect(() => pancakeAdapter.authenticate(post(body, headers), ctx(secret))).not.toThrow();
  });

  it('still requires the token of a tenant without a signing secret, signed or not', () => {
    const headers = { 'x-pancake-signature': signed(body), 'x-pancake-timestamp': seconds };
    expect(() => pancakeAdapter.authenticate(post(body, headers), ctx())).toThrow(InvalidSignatureError);
    expect(() => pancakeAdapter.authenticate(post(body, {}, { token: TOKEN }), ctx())).not.toThrow();
  });

  it('rejects a wrong signature, a tampered body, a missing header and a wrong token even with a valid signature', () => {
    const tampered = Buffer.from(body);
    tampered[10] = (tampered[10] ?? 0) ^ 1;
    const cases: [Buffer, Record<string, string>, Record<string, string>][] = [
      [body, { 'x-pancake-signature': signed(body, 'other'), 'x-pancake-timestamp': seconds }, {}],
      [tampered, { 'x-pancake-signature': signed(body), 'x-pancake-timestamp': seconds }, {}],
      [body, { 'x-pancake-signature': signed(body) }, {}],
      [body, { 'x-pancake-timestamp': seconds }, {}],
      [body, {}, {}],
      [body, { 'x-pancake-signature': signed(body), 'x-pancake-timestamp': seconds }, { token: 'wrong' }],
    ];
    for (const [raw, headers, query] of cases) {
      expect(() => pancakeAdapter.authenticate(post(raw, headers, query), ctx(secret))).toThrow(
        InvalidSignatureError,
      );
    }
  });

  it('refuses a replay outside the 5-minute window, in the past or the future, and accepts one just inside', () => {
    const at = (stamp: number) => ({
      'x-pancake-signature': signed(body),
      'x-pancake-timestamp': String(stamp),
    });
    const s = Math.floor(RECEIVED_AT / 1000);
    expect(() => pancakeAdapter.authenticate(post(body, at(s - 301)), ctx(secret))).toThrow(
      InvalidSignatureError,
    );
    expect(() => pancakeAdapter.authenticate(post(body, at(s + 301)), ctx(secret))).toThrow(
      InvalidSignatureError,
    );
    expect(() => pancakeAdapter.authenticate(post(body, at(s - 299)), ctx(secret))).not.toThrow();
    expect(() =>
      pancakeAdapter.authenticate(post(body, at(RECEIVED_AT + 299_000)), ctx(secret)),
    ).not.toThrow();
  });
});

describe('Pancake webhook answer', () => {
  const tenant = parseTenantDocument({
    tenantId: 'acme',
    channels: {
      pancake: { pageIds: [PAGE], pageAccessToken: 'pat', webhookToken: TOKEN, signingSecret: 'k' },
    },
  });
  const handler = () => {
    const sent: QueueEntry[] = [];
    const handle = createWebhookHandler({
      loadTenant: async () => tenant,
      adapterFor,
      send: async (entries) => {
        sent.push(...entries);
        return { sent: entries.map((e) => e.id), failed: [] };
      },
      metric: () => {},
      logger: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
      now: () => RECEIVED_AT,
    });
    return { handle, sent };
  };
  const event = (raw: Buffer, headers: Record<string, string>): APIGatewayProxyEventV2 => ({
    version: '2.0',
    routeKey: 'POST /webhooks/{channel}/{tenantId}',
    rawPath: '/webhooks/pancake/acme',
    rawQueryString: '',
    headers,
    pathParameters: { channel: 'pancake', tenantId: 'acme' },
    requestContext: { http: { method: 'POST' } } as APIGatewayProxyEventV2['requestContext'],
    body: raw.toString('utf8'),
    isBase64Encoded: false,
  });

  it('answers 200 with the messageId of the one message accepted, and queues it', async () => {
    const raw = flat();
    const sig = `sha256=${createHmac('sha256', 'k').update(raw).digest('hex')}`;
    const h = handler();
    const res = await h.handle(
      event(raw, {
        'x-pancake-signature': sig,
        'x-pancake-timestamp': String(Math.floor(RECEIVED_AT / 1000)),
      }),
    );
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({
      success: true,
      status: 'queued',
      accepted: 1,
      ignored: 0,
      messageId: 'fm-1',
    });
    expect(h.sent).toHaveLength(1);
  });

  it('answers 401 to an unsigned request without the token, and queues nothing', async () => {
    const h = handler();
    const res = await h.handle(event(flat(), {}));
    expect(res.statusCode).toBe(401);
    expect(h.sent).toEqual([]);
  });
});

describe('Pancake replies', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ pancakeRateLimit: 0 });
  });
  afterAll(async () => {
    await sandbox?.stop();
  });
  beforeEach(() => sandbox.clear());
  const tenant = parseTenantDocument({
    tenantId: 'acme',
    channels: { pancake: { pageIds: [PAGE], pageAccessToken: 'pat', webhookToken: TOKEN } },
  });
  const target = (surface: 'inbox' | 'comment', replyToMessageId?: string): SendTarget => ({
    tenant,
    channel: 'pancake',
    pageId: PAGE,
    conversationId: `${PAGE}_C1`,
    recipientId: 'C1',
    surface,
    ...(replyToMessageId ? { replyToMessageId } : {}),
  });
  const sender = () => createPancakeSender({ bases: () => sandbox.baseUrls });

  it('answers a comment with reply_comment naming the comment in message_id (never parent_id)', async () => {
    await sender().sendText(target('comment', 'cmt-42'), 'Dạ shop inbox bạn nhé');
    const [record] = sandbox.messages();
    expect(record).toMatchObject({ delivered: true, kind: 'comment' });
    expect(record?.body).toEqual({
      action: 'reply_comment',
      message_id: 'cmt-42',
      message: 'Dạ shop inbox bạn nhé',
    });
  });

  it('answers a reply within a comment thread with the id of that reply, the comment being answered', async () => {
    await sender().sendText(target('comment', 'cmt-42_reply-7'), 'Dạ vâng');
    expect(sandbox.messages()[0]?.body).toEqual({
      action: 'reply_comment',
      message_id: 'cmt-42_reply-7',
      message: 'Dạ vâng',
    });
  });

  it('answers an inbox conversation with reply_inbox and no comment field', async () => {
    await sender().sendText(target('inbox'), 'Chào bạn');
    expect(sandbox.messages()[0]?.body).toEqual({ action: 'reply_inbox', message: 'Chào bạn' });
  });

  it('sends quick replies and buttons as numbered text (Pancake has no native ones)', async () => {
    await sender().sendText(target('inbox'), 'Bạn chọn size nào?', undefined, {
      buttons: [{ type: 'url', title: 'Bảng size', url: 'https://shop.example/size' }],
      quickReplies: [{ title: 'M' }, { title: 'L' }],
    });
    expect(sandbox.messages()[0]?.body).toEqual({
      action: 'reply_inbox',
      message: 'Bạn chọn size nào?\n\nBảng size: https://shop.example/size\n1. M\n2. L',
    });
  });
});
