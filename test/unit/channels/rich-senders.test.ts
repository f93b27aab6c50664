/**
 * Rich replies rendered natively by the Messenger, Instagram, WhatsApp and Telegram senders, and
 * Messenger/Instagram comment replies per `settings.comments`, asserted on what the sandbox
 * platform received.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { type Sandbox, type SandboxRecord, startSandbox } from '../../../bin/local/sandbox.js';
import { createSender } from '../../../lambdas/channels/send/index.js';
import { sendApiMessage, whatsappPayload } from '../../../lambdas/channels/send/meta.js';
import { telegramMarkup } from '../../../lambdas/channels/send/telegram.js';
import type { SendExtras, SendTarget } from '../../../lambdas/channels/types.js';
import { PermanentSendError } from '../../../lambdas/shared/errors.js';
import type { ChannelName } from '../../../lambdas/shared/model.js';
import { parseTenantDocument, type TenantDocument } from '../../../lambdas/shared/tenant.js';

function tenantWith(comments?: 'private' | 'public' | 'both' | 'ignore', language?: string): TenantDocument {
  return parseTenantDocument({
    tenantId: 'acme',
    channels: {
      messenger: { appSecret: 'a', verifyToken: 'v', pages: { fb1: { accessToken: 'fb-token-xyz' } } },
      instagram: { appSecret: 'a', verifyToken: 'v', accounts: { ig1: { accessToken: 'ig-token-xyz' } } },
      whatsapp: { appSecret: 'a', verifyToken: 'v', accessToken: 'wa-token-xyz', phoneNumberIds: ['555'] },
      telegram: { botToken: '777:tg-token-xyz', secretToken: 's' },
    },
    settings: { ...(comments ? { comments } : {}), ...(language ? { language } : {}) },
  });
}

const tenant = tenantWith();

function target(channel: ChannelName, extra: Partial<SendTarget> = {}, t = tenant): SendTarget {
  const ids: Record<string, [string, string]> = {
    messenger: ['fb1', 'psid1'],
    instagram: ['ig1', 'igsid1'],
    whatsapp: ['555', '84901234567'],
    telegram: ['777', '-1001234567890'],
  };
  const [pageId, recipientId] = ids[channel] ?? ['x', 'y'];
  return {
    tenant: t,
    channel,
    pageId,
    conversationId: `${pageId}:${recipientId}`,
    recipientId,
    surface: 'inbox',
    ...extra,
  };
}

const THREE: SendExtras = {
  buttons: [
    { type: 'postback', title: 'Đặt hàng ngay hôm nay nhé', payload: 'ORDER' },
    { type: 'url', title: 'Xem sản phẩm', url: 'https://shop.example/p/1' },
  ],
  quickReplies: [{ title: 'Hỏi giá' }, { title: 'Gặp nhân viên', payload: 'HUMAN' }],
};

let sandbox: Sandbox;
const sender = (channel: ChannelName) => createSender(channel, { bases: () => sandbox.baseUrls });
const last = (): SandboxRecord => {
  const records = sandbox.messages();
  const record = records[records.length - 1];
  if (!record) throw new Error('nothing recorded');
  return record;
};

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => sandbox.stop());
beforeEach(() => sandbox.clear());

describe('Messenger and Instagram rich replies', () => {
  it('sends buttons as a button template and quick replies natively on Messenger, titles cut to 20', async () => {
    await sender('messenger').sendText(target('messenger'), 'Bạn muốn làm gì?', undefined, THREE);
    const record = last();
    expect(record).toMatchObject({ delivered: true, text: 'Bạn muốn làm gì?' });
    expect(record.body).toMatchObject({
      recipient: { id: 'psid1' },
      messaging_type: 'RESPONSE',
      message: {
        attachment: {
          type: 'template',
          payload: {
            template_type: 'button',
            text: 'Bạn muốn làm gì?',
            buttons: [
              { type: 'postback', title: 'Đặt hàng ngay hôm n…', payload: 'ORDER' },
              { type: 'web_url', title: 'Xem sản phẩm', url: 'https://shop.example/p/1' },
            ],
          },
        },
        quick_replies: [
          { content_type: 'text', title: 'Hỏi giá', payload: 'Hỏi giá' },
          { content_type: 'text', title: 'Gặp nhân viên', payload: 'HUMAN' },
        ],
      },
    });
  });

  it('caps quick replies at 13 and buttons at 3, listing a fourth button in the text', () => {
    const many: SendExtras = {
      quickReplies: Array.from({ length: 15 }, (_, i) => ({ title: `Q${i}` })),
      buttons: Array.from({ length: 4 }, (_, i) => ({
        type: 'postback' as const,
        title: `B${i}`,
        payload: `P${i}`,
      })),
    };
    const message = sendApiMessage('messenger', 'Chọn', many) as {
      quick_replies: unknown[];
      attachment: { payload: { buttons: unknown[]; text: string } };
    };
    expect(message.quick_replies).toHaveLength(13);
    expect(message.attachment.payload.buttons).toHaveLength(3);
    expect(message.attachment.payload.text).toBe('Chọn\n\n1. B3');
  });

  it('falls back to numbered text for buttons when the text is over the template’s 640', () => {
    const text = 'x'.repeat(700);
    const message = sendApiMessage('messenger', text, {
      buttons: [{ type: 'postback', title: 'OK', payload: 'OK' }],
    }) as {
      text: string;
      attachment?: unknown;
    };
    expect(message.attachment).toBeUndefined();
    expect(message.text).toBe(`${text}\n\n1. OK`);
  });

  it('sends quick replies alone as quick_replies with the text', () => {
    expect(sendApiMessage('instagram', 'Hi', { quickReplies: [{ title: 'Yes', payload: 'Y' }] })).toEqual({
      text: 'Hi',
      quick_replies: [{ content_type: 'text', title: 'Yes', payload: 'Y' }],
    });
  });

  it('on Instagram lists quick replies in the template text instead of combining them with buttons', async () => {
    await sender('instagram').sendText(target('instagram'), 'Chọn nhé', undefined, THREE);
    const body = last().body as {
      message: { attachment: { payload: { text: string } }; quick_replies?: unknown };
    };
    expect(body.message.quick_replies).toBeUndefined();
    expect(body.message.attachment.payload.text).toBe('Chọn nhé\n\n1. Hỏi giá\n2. Gặp nhân viên');
  });
});

describe('comment replies (settings.comments)', () => {
  const comment = (channel: 'messenger' | 'instagram', t: TenantDocument) =>
    target(channel, { surface: 'comment', replyToMessageId: `${channel}-c1`, recipientId: 'commenter' }, t);

  it('answers with a private reply to the comment by default', async () => {
    for (const channel of ['messenger', 'instagram'] as const) {
      sandbox.clear();
      const result = await sender(channel).sendText(
        comment(channel, tenant),
        'Cảm ơn bạn, mình nhắn riêng nhé',
      );
      const record = last();
      expect(record.body).toMatchObject({
        recipient: { comment_id: `${channel}-c1` },
        message: { text: 'Cảm ơn bạn, mình nhắn riêng nhé' },
      });
      expect(record.path).toMatch(/\/(fb1|ig1)\/messages$/);
      expect(result.platformMessageId).toBe(record.messageId);
    }
  });

  it('answers publicly under the comment: Facebook /comments, Instagram /replies, choices as numbered text', async () => {
    const t = tenantWith('public');
    await sender('messenger').sendText(comment('messenger', t), 'Giá 200k ạ', undefined, {
      quickReplies: [{ title: 'Đặt' }],
    });
    expect(last()).toMatchObject({
      path: expect.stringMatching(/\/messenger-c1\/comments$/),
      text: 'Giá 200k ạ\n\n1. Đặt',
      delivered: true,
    });
    await sender('instagram').sendText(comment('instagram', t), 'Còn size M ạ');
    expect(last()).toMatchObject({
      path: expect.stringMatching(/\/instagram-c1\/replies$/),
      text: 'Còn size M ạ',
      delivered: true,
    });
    expect(sandbox.messages().some((r) => r.path.endsWith('/messages'))).toBe(false);
  });

  it('answers both ways with both, returning the private reply’s id; a failed public reply does not fail the send', async () => {
    const t = tenantWith('both');
    const result = await sender('instagram').sendText(comment('instagram', t), 'Mình đã nhắn riêng bạn');
    const records = sandbox.messages();
    expect(records.map((r) => r.path.split('/').pop())).toEqual(['messages', 'replies']);
    expect(result.platformMessageId).toBe(records[0]?.messageId);
    sandbox.clear();
    sandbox.fail({ kind: 'meta-error', channel: 'graph', path: '/replies', code: 100, count: 1 });
    await expect(sender('instagram').sendText(comment('instagram', t), 'again')).resolves.toBeDefined();
    expect(sandbox.messages().map((r) => [r.path.split('/').pop(), r.status])).toEqual([
      ['messages', 200],
      ['replies', 400],
    ]);
  });

  it('keeps the single private reply for the text: an image part is refused without a call, public replies take it', async () => {
    const err = await sender('messenger')
      .sendImage(comment('messenger', tenant), 'https://cdn.example/a.png')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentSendError);
    expect((err as PermanentSendError).platformCode).toBe('PRIVATE_REPLY_IMAGE');
    expect(sandbox.messages()).toEqual([]);
    await sender('messenger').sendImage(
      comment('messenger', tenantWith('public')),
      'https://cdn.example/a.png',
    );
    expect(last()).toMatchObject({
      path: expect.stringMatching(/\/messenger-c1\/comments$/),
      body: { attachment_url: 'https://cdn.example/a.png' },
      delivered: true,
    });
  });

  it('sends no typing indicator under a comment', async () => {
    await sender('messenger').typing(comment('messenger', tenant));
    expect(sandbox.messages()).toEqual([]);
  });
});

describe('WhatsApp interactive messages', () => {
  it('sends up to three choices as reply buttons (title ≤ 20, id = payload)', async () => {
    await sender('whatsapp').sendText(target('whatsapp'), 'Bạn cần gì?', undefined, {
      quickReplies: [{ title: 'Hỏi giá' }, { title: 'Gặp nhân viên tư vấn ngay', payload: 'HUMAN' }],
    });
    const record = last();
    expect(record).toMatchObject({ delivered: true, text: 'Bạn cần gì?' });
    expect(record.body).toMatchObject({
      type: 'interactive',
      interactive: {
        type: 'button',
        body: { text: 'Bạn cần gì?' },
        action: {
          buttons: [
            { type: 'reply', reply: { id: 'Hỏi giá', title: 'Hỏi giá' } },
            { type: 'reply', reply: { id: 'HUMAN', title: 'Gặp nhân viên tư vấ…' } },
          ],
        },
      },
    });
  });

  it('sends four to ten choices as a list (row title ≤ 24, the whole title in the description) with a Vietnamese button label', () => {
    const payload = whatsappPayload(
      'Chọn size',
      {
        quickReplies: ['S', 'M', 'L', 'XL', 'Size đặc biệt cho người cao trên 1m80'].map((title) => ({
          title,
        })),
      },
      'vi',
    ) as {
      interactive: {
        type: string;
        action: { button: string; sections: { rows: Record<string, string>[] }[] };
      };
    };
    expect(payload.interactive.type).toBe('list');
    expect(payload.interactive.action.button).toBe('Chọn');
    const rows = payload.interactive.action.sections[0]?.rows ?? [];
    expect(rows).toHaveLength(5);
    expect(rows[4]).toEqual({
      id: 'Size đặc biệt cho người cao trên 1m80',
      title: 'Size đặc biệt cho người…',
      description: 'Size đặc biệt cho người cao trên 1m80',
    });
  });

  it('sends a single URL button as cta_url and URL buttons beside choices as lines of the body', () => {
    expect(
      whatsappPayload('Xem tại đây', {
        buttons: [{ type: 'url', title: 'Mở cửa hàng', url: 'https://shop.example' }],
      }),
    ).toEqual({
      type: 'interactive',
      interactive: {
        type: 'cta_url',
        body: { text: 'Xem tại đây' },
        action: { name: 'cta_url', parameters: { display_text: 'Mở cửa hàng', url: 'https://shop.example' } },
      },
    });
    const mixed = whatsappPayload('Chọn', THREE) as { interactive: { type: string; body: { text: string } } };
    expect(mixed.interactive.type).toBe('button');
    expect(mixed.interactive.body.text).toBe('Chọn\n\nXem sản phẩm: https://shop.example/p/1');
  });

  it('falls back to numbered text for more than ten choices or titles that collide once cut', () => {
    const eleven = whatsappPayload('Chọn', {
      quickReplies: Array.from({ length: 11 }, (_, i) => ({ title: `T${i}` })),
    });
    expect(eleven).toMatchObject({ type: 'text', text: { body: expect.stringContaining('\n11. T10') } });
    const collide = whatsappPayload('Chọn', {
      quickReplies: [{ title: 'Giao hàng nhanh trong ngày A' }, { title: 'Giao hàng nhanh trong ngày B' }],
    });
    expect(collide).toMatchObject({ type: 'text' });
  });
});

describe('Telegram inline keyboards', () => {
  it('sends one button per row, URL buttons as links, callback_data within 64 bytes', async () => {
    const long = 'ORDER:'.concat('sản-phẩm-'.repeat(10));
    await sender('telegram').sendText(target('telegram'), 'Chọn:', undefined, {
      buttons: [
        { type: 'postback', title: 'Đặt hàng', payload: long },
        { type: 'url', title: 'Website', url: 'https://shop.example' },
      ],
      quickReplies: [{ title: 'Hỏi giá' }],
    });
    const body = last().body as {
      text: string;
      reply_markup: { inline_keyboard: Record<string, string>[][] };
    };
    expect(body.text).toBe('Chọn:');
    const rows = body.reply_markup.inline_keyboard;
    expect(rows.map((r) => r.length)).toEqual([1, 1, 1]);
    expect(rows[1]?.[0]).toEqual({ text: 'Website', url: 'https://shop.example' });
    expect(rows[2]?.[0]).toEqual({ text: 'Hỏi giá', callback_data: 'Hỏi giá' });
    const data = rows[0]?.[0]?.callback_data ?? '';
    expect(Buffer.byteLength(data, 'utf8')).toBeLessThanOrEqual(64);
    expect(data.startsWith('ORDER:sản-phẩm-')).toBe(true);
    expect(last().delivered).toBe(true);
  });

  it('adds no reply_markup without extras', () => {
    expect(telegramMarkup(undefined)).toEqual({});
    expect(telegramMarkup({ quickReplies: [] })).toEqual({});
  });
});
