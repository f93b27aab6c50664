/**
 * Richer inbound turns: postback sources and titles, locations with place names and addresses,
 * file names and sizes, Messenger Page comments, `settings.comments: ignore`, Telegram `/start`.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';

import { adapterFor } from '../../../lambdas/channels/index.js';
import { createWebhookHandler } from '../../../lambdas/ingest/webhook.js';
import { parseTenantDocument } from '../../../lambdas/shared/tenant.js';
import { messages, outcomes, parse, RECEIVED_AT, TENANT } from './helpers.js';

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

const PAGE = '106000000000001';
const IG = '17841400000000001';
const WA = '106540352242922';

function feedComment(value: Record<string, unknown>): Buffer {
  return json({
    object: 'page',
    entry: [{ id: PAGE, time: 1718000000000, changes: [{ field: 'feed', value }] }],
  });
}

function igComment(value: Record<string, unknown>): Buffer {
  return json({
    object: 'instagram',
    entry: [{ id: IG, time: 1718000000000, changes: [{ field: 'comments', value }] }],
  });
}

function whatsapp(message: Record<string, unknown>): Buffer {
  return json({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'WABA',
        changes: [
          {
            field: 'messages',
            value: {
              metadata: { phone_number_id: WA },
              contacts: [{ wa_id: '84901234567', profile: { name: 'Lan' } }],
              messages: [{ from: '84901234567', id: 'wamid.X', timestamp: '1749416387', ...message }],
            },
          },
        ],
      },
    ],
  });
}

const withComments = (comments: 'private' | 'public' | 'both' | 'ignore') =>
  parseTenantDocument({ ...TENANT, settings: { ...TENANT.settings, comments } });

describe('Messenger Page comments (feed)', () => {
  const comment = {
    from: { id: '6100000000000077', name: 'Trần Thị B' },
    post_id: `${PAGE}_900`,
    comment_id: '900_123',
    created_time: 1718000000,
    item: 'comment',
    verb: 'add',
    message: 'Giá bao nhiêu ạ?',
  };

  it('parses a new comment as a comment message answered by its comment id', () => {
    const [message] = messages(parse('messenger', feedComment(comment)));
    expect(message).toMatchObject({
      surface: 'comment',
      commentId: '900_123',
      postId: `${PAGE}_900`,
      messageId: '900_123',
      conversationId: `${PAGE}:6100000000000077`,
      customer: { id: '6100000000000077', name: 'Trần Thị B' },
      text: 'Giá bao nhiêu ạ?',
      kind: 'text',
      timestamp: 1718000000000,
    });
  });

  it('does not answer the page’s own comments, edits, removals or reactions', () => {
    expect(outcomes(parse('messenger', feedComment({ ...comment, from: { id: PAGE } })))).toEqual([
      'ignored:echo',
    ]);
    expect(outcomes(parse('messenger', feedComment({ ...comment, verb: 'edited' })))).toEqual([
      'ignored:non-message',
    ]);
    expect(outcomes(parse('messenger', feedComment({ ...comment, verb: 'remove' })))).toEqual([
      'ignored:non-message',
    ]);
    expect(
      outcomes(parse('messenger', feedComment({ item: 'reaction', verb: 'add', from: { id: '1' } }))),
    ).toEqual(['ignored:non-message']);
  });

  it('drops comments, counted as comments-off, when the tenant ignores comments (inbox kept)', () => {
    const tenant = withComments('ignore');
    const ctx = { tenant, config: tenant.channels.messenger!, receivedAt: RECEIVED_AT };
    expect(outcomes(adapterFor('messenger').parse(feedComment(comment), ctx))).toEqual([
      'ignored:comments-off',
    ]);
    const dm = json({
      object: 'page',
      entry: [
        {
          id: PAGE,
          messaging: [
            {
              sender: { id: '71' },
              recipient: { id: PAGE },
              timestamp: 1718000000001,
              message: { mid: 'm1', text: 'hi' },
            },
          ],
        },
      ],
    });
    expect(outcomes(adapterFor('messenger').parse(dm, ctx))).toEqual(['message']);
    const privateTenant = withComments('private');
    const privateCtx = {
      tenant: privateTenant,
      config: privateTenant.channels.messenger!,
      receivedAt: RECEIVED_AT,
    };
    expect(outcomes(adapterFor('messenger').parse(feedComment(comment), privateCtx))).toEqual(['message']);
  });
});

describe('Instagram comments and settings.comments', () => {
  const value = {
    from: { id: '9911', username: 'lan.shop' },
    id: '17900000000000001',
    text: 'Còn size M không?',
    media: { id: '1790' },
  };

  it('keeps comments as comment messages by default', () => {
    expect(messages(parse('instagram', igComment(value)))[0]).toMatchObject({
      surface: 'comment',
      commentId: value.id,
    });
  });

  it('drops comments as comments-off when the tenant ignores them', () => {
    const tenant = withComments('ignore');
    const ctx = { tenant, config: tenant.channels.instagram!, receivedAt: RECEIVED_AT };
    expect(outcomes(adapterFor('instagram').parse(igComment(value), ctx))).toEqual(['ignored:comments-off']);
  });
});

describe('Meta attachments: names and sizes', () => {
  it('keeps a file attachment’s name and size when the payload has them', () => {
    const body = json({
      object: 'page',
      entry: [
        {
          id: PAGE,
          messaging: [
            {
              sender: { id: '71' },
              recipient: { id: PAGE },
              timestamp: 1718000000001,
              message: {
                mid: 'm_f',
                attachments: [
                  {
                    type: 'file',
                    payload: { url: 'https://cdn.example/a.pdf', name: 'báo giá.pdf', size: 48213 },
                  },
                ],
              },
            },
          ],
        },
      ],
    });
    expect(messages(parse('messenger', body))[0]?.attachments[0]).toEqual({
      kind: 'file',
      url: 'https://cdn.example/a.pdf',
      name: 'báo giá.pdf',
      size: 48213,
    });
  });
});

describe('WhatsApp postbacks and places', () => {
  it('marks a reply button as a postback and a list row as a quick reply, with their titles', () => {
    const button = messages(
      parse(
        'whatsapp',
        whatsapp({
          type: 'interactive',
          interactive: { type: 'button_reply', button_reply: { id: 'ORDER', title: 'Đặt hàng' } },
        }),
      ),
    )[0];
    expect(button).toMatchObject({
      kind: 'postback',
      postback: 'ORDER',
      postbackSource: 'postback',
      text: 'Đặt hàng',
    });
    const row = messages(
      parse(
        'whatsapp',
        whatsapp({
          type: 'interactive',
          interactive: {
            type: 'list_reply',
            list_reply: { id: 'SIZE_M', title: 'Size M', description: 'Vừa' },
          },
        }),
      ),
    )[0];
    expect(row).toMatchObject({
      kind: 'postback',
      postback: 'SIZE_M',
      postbackSource: 'quick-reply',
      text: 'Size M',
    });
  });

  it('treats request_welcome (a first-time chat) as Get Started', () => {
    const [message] = messages(parse('whatsapp', whatsapp({ type: 'request_welcome' })));
    expect(message).toMatchObject({ kind: 'postback', postback: 'GET_STARTED', postbackSource: 'command' });
    expect(message?.text).toBeUndefined();
  });

  it('keeps a shared place’s name and address apart', () => {
    const [message] = messages(
      parse(
        'whatsapp',
        whatsapp({
          type: 'location',
          location: {
            latitude: 10.7721,
            longitude: 106.6983,
            name: 'Chợ Bến Thành',
            address: 'Lê Lợi, Quận 1, TP.HCM',
          },
        }),
      ),
    );
    expect(message?.attachments[0]).toEqual({
      kind: 'location',
      latitude: 10.7721,
      longitude: 106.6983,
      title: 'Chợ Bến Thành',
      address: 'Lê Lợi, Quận 1, TP.HCM',
    });
  });
});

describe('Telegram postbacks, /start and venues', () => {
  const chat = { id: 5551234, type: 'private' };
  const from = { id: 5551234, is_bot: false, first_name: 'Minh' };

  it('reads a callback button’s label back from the keyboard it was pressed on', () => {
    const update = {
      update_id: 9001,
      callback_query: {
        id: '4382bfdwdsb323b2d9',
        from,
        data: 'ORDER',
        message: {
          message_id: 77,
          chat,
          date: 1718000000,
          text: 'Chọn:',
          reply_markup: {
            inline_keyboard: [
              [
                { text: 'Đặt hàng', callback_data: 'ORDER' },
                { text: 'Hỏi giá', callback_data: 'PRICE' },
              ],
            ],
          },
        },
      },
    };
    expect(messages(parse('telegram', json(update)))[0]).toMatchObject({
      kind: 'postback',
      postback: 'ORDER',
      postbackSource: 'postback',
      text: 'Đặt hàng',
    });
  });

  it('falls back to the callback data when the keyboard is not in the update', () => {
    const update = {
      update_id: 9002,
      callback_query: { id: 'q', from, data: 'PRICE', message: { message_id: 1, chat, date: 1 } },
    };
    expect(messages(parse('telegram', json(update)))[0]).toMatchObject({ text: 'PRICE', postback: 'PRICE' });
  });

  it('maps /start (with a deep-link parameter or @bot) to the GET_STARTED command, keeping the text', () => {
    for (const text of ['/start', '/start ref_fb_ad', '/start@AcmeShopBot']) {
      const update = { update_id: 9003, message: { message_id: 5, from, chat, date: 1718000000, text } };
      expect(messages(parse('telegram', json(update)))[0]).toMatchObject({
        kind: 'text',
        text,
        postback: 'GET_STARTED',
        postbackSource: 'command',
      });
    }
    const other = {
      update_id: 9004,
      message: { message_id: 6, from, chat, date: 1718000000, text: '/started' },
    };
    expect(messages(parse('telegram', json(other)))[0]?.postback).toBeUndefined();
  });

  it('keeps a venue’s title and address with its coordinates', () => {
    const update = {
      update_id: 9005,
      message: {
        message_id: 8,
        from,
        chat,
        date: 1718000000,
        location: { latitude: 21.0285, longitude: 105.8542 },
        venue: {
          location: { latitude: 21.0285, longitude: 105.8542 },
          title: 'Hồ Hoàn Kiếm',
          address: 'Hàng Trống, Hoàn Kiếm, Hà Nội',
        },
      },
    };
    expect(messages(parse('telegram', json(update)))[0]?.attachments).toEqual([
      {
        kind: 'location',
        latitude: 21.0285,
        longitude: 105.8542,
        title: 'Hồ Hoàn Kiếm',
        address: 'Hàng Trống, Hoàn Kiếm, Hà Nội',
      },
    ]);
  });
});

describe('Telegram button presses are answered with the webhook’s answer', () => {
  const handler = () =>
    createWebhookHandler({
      loadTenant: async () => TENANT,
      adapterFor,
      send: async (entries) => ({ sent: entries.map((e) => e.id), failed: [] }),
      metric: () => {},
      logger: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
      now: () => RECEIVED_AT,
    });
  const event = (update: unknown): APIGatewayProxyEventV2 => ({
    version: '2.0',
    routeKey: 'POST /webhooks/{channel}/{tenantId}',
    rawPath: '/webhooks/telegram/acme',
    rawQueryString: '',
    headers: { 'x-telegram-bot-api-secret-token': 'tg_Secret-123', 'content-type': 'application/json' },
    pathParameters: { channel: 'telegram', tenantId: 'acme' },
    requestContext: { http: { method: 'POST' } } as APIGatewayProxyEventV2['requestContext'],
    body: JSON.stringify(update),
    isBase64Encoded: false,
  });
  const chat = { id: 5551234, type: 'private' };
  const from = { id: 5551234, is_bot: false, first_name: 'Minh' };

  it('calls answerCallbackQuery in the 200 answer to a callback query it queued', async () => {
    const res = await handler()(
      event({
        update_id: 9101,
        callback_query: {
          id: '4382bfdwdsb323b2d9',
          from,
          data: 'ORDER',
          message: { message_id: 1, chat, date: 1 },
        },
      }),
    );
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({
      success: true,
      accepted: 1,
      method: 'answerCallbackQuery',
      callback_query_id: '4382bfdwdsb323b2d9',
    });
  });

  it('adds no method to the answer of an ordinary message', async () => {
    const res = await handler()(
      event({ update_id: 9102, message: { message_id: 2, from, chat, date: 1, text: 'hi' } }),
    );
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body).method).toBeUndefined();
  });
});
