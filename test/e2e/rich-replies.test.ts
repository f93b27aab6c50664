/**
 * Rich replies end to end through the local stack (`bin/local.ts` as a child process) with the
 * user's `lambda` responder played by a fake Lambda: a reply with buttons and quick replies on
 * every channel (rendered natively, or as numbered text, as the sandbox platform received it), a
 * button tap coming back as the turn's postback, an Instagram comment answered privately, a
 * Telegram group answered in the group, and Get Started answered with the tenant's welcome reply
 * without calling the responder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { SandboxRecord } from '../../bin/local/sandbox.js';
import { DEMO_IDS } from '../../bin/local/tenants.js';
import { metaJson, signed } from '../../bin/local/webhook-builder.js';
import type { TurnContext } from '../../lambdas/contracts/responder.js';
import { type FakeLambda, startFakeLambda } from '../helpers/fake-lambda.js';
import { type LocalStackProcess, startLocalStackProcess } from '../helpers/local-stack.js';
import { CHANNELS, customerWebhook, e2eTenant, freshDigits, HANG_MS, newCustomer, tag } from './support.js';

const WELCOME = 'Chào mừng bạn đến với cửa hàng! Hotline 0912 345 678.';
const tenant = e2eTenant('rich', { debounceMs: 0, welcomeReply: WELCOME });
const FUNCTION = 'rich-bot';

let stack: LocalStackProcess;
let fake: FakeLambda;
const contexts: TurnContext[] = [];

/** The user's bot: a menu with buttons for "menu", an acknowledgement for a tap, else an echo. */
function bot(event: unknown): unknown {
  const context = event as TurnContext;
  contexts.push(context);
  const last = context.messages.at(-1);
  if (last?.postback) return { messages: [{ text: `Đã nhận ${last.postback.payload}` }] };
  if (context.messages.some((m) => m.text?.includes('menu'))) {
    return {
      messages: [
        {
          text: 'Bạn muốn làm gì?',
          buttons: [
            { type: 'postback', title: 'Đặt hàng', payload: 'ORDER' },
            { type: 'url', title: 'Website', url: 'https://shop.example/p/1' },
          ],
          quickReplies: [{ title: 'Hỏi giá', payload: 'PRICE' }],
        },
      ],
    };
  }
  return { messages: [{ text: `Trả lời: ${last?.text ?? ''}` }] };
}

beforeAll(async () => {
  fake = await startFakeLambda({ [FUNCTION]: bot });
  stack = await startLocalStackProcess({
    tenants: [tenant],
    env: {
      RESPONDER: 'lambda',
      RESPONDER_FUNCTION_NAME: FUNCTION,
      AWS_ENDPOINT_URL_LAMBDA: fake.url,
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await fake?.close();
});

/** Posts a raw platform body for `channel`, signed as the platform signs it. */
async function postRaw(channel: (typeof CHANNELS)[number], body: string, messageId: string): Promise<void> {
  const built = signed(tenant, channel, { body, messageId }, false, Date.now());
  const res = await stack.post(built);
  expect(res.status, res.body).toBe(200);
}

/** Posts a Messenger postback (a button tap) from `psid` to the demo page, sent at `now`. */
async function postMessengerPostback(
  psid: string,
  mid: string,
  now: number,
  postback: { title: string; payload: string },
): Promise<void> {
  await postRaw(
    'messenger',
    metaJson({
      object: 'page',
      entry: [
        {
          id: DEMO_IDS.messengerPageId,
          time: now,
          messaging: [
            {
              sender: { id: psid },
              recipient: { id: DEMO_IDS.messengerPageId },
              timestamp: now,
              postback: { mid, ...postback },
            },
          ],
        },
      ],
    }),
    mid,
  );
}

const bodyText = (record: SandboxRecord): string => JSON.stringify(record.body);

describe('rich replies through the local stack', { timeout: 2 * HANG_MS }, () => {
  it('renders a reply with buttons and quick replies on every channel, natively or as numbered text', async () => {
    const customers = CHANNELS.map((channel) => newCustomer(channel));
    for (const customer of customers) {
      const res = await stack.post(customerWebhook(tenant, customer, `menu ${tag()}`));
      expect(res.status, `${customer.channel}: ${res.body}`).toBe(200);
    }
    const records = await stack.waitForMessages(
      (all) => customers.every((c) => all.some((r) => r.delivered && r.kind !== 'typing' && c.owns(r))),
      HANG_MS,
      'a menu reply on every channel',
    );
    const sent = (channel: string): SandboxRecord => {
      const customer = customers.find((c) => c.channel === channel)!;
      return records.find((r) => r.delivered && r.kind !== 'typing' && customer.owns(r))!;
    };
    // Messenger: a button template with the quick replies beside it.
    expect(sent('messenger').body).toMatchObject({
      message: {
        attachment: {
          payload: {
            template_type: 'button',
            text: 'Bạn muốn làm gì?',
            buttons: [
              { type: 'postback', title: 'Đặt hàng', payload: 'ORDER' },
              { type: 'web_url', title: 'Website', url: 'https://shop.example/p/1' },
            ],
          },
        },
        quick_replies: [{ content_type: 'text', title: 'Hỏi giá', payload: 'PRICE' }],
      },
    });
    // Instagram: the button template, its quick reply listed in the text.
    expect(sent('instagram').body).toMatchObject({
      message: {
        attachment: { payload: { template_type: 'button', text: 'Bạn muốn làm gì?\n\n1. Hỏi giá' } },
      },
    });
    // WhatsApp: reply buttons for the two choices, the URL in the body.
    expect(sent('whatsapp').body).toMatchObject({
      type: 'interactive',
      interactive: {
        type: 'button',
        body: { text: 'Bạn muốn làm gì?\n\nWebsite: https://shop.example/p/1' },
        action: {
          buttons: [
            { type: 'reply', reply: { id: 'ORDER', title: 'Đặt hàng' } },
            { type: 'reply', reply: { id: 'PRICE', title: 'Hỏi giá' } },
          ],
        },
      },
    });
    // Telegram: an inline keyboard.
    expect(sent('telegram').body).toMatchObject({
      text: 'Bạn muốn làm gì?',
      reply_markup: {
        inline_keyboard: [
          [{ text: 'Đặt hàng', callback_data: 'ORDER' }],
          [{ text: 'Website', url: 'https://shop.example/p/1' }],
          [{ text: 'Hỏi giá', callback_data: 'PRICE' }],
        ],
      },
    });
    // Zalo and Pancake: every choice reaches the customer (Zalo's button message or numbered text).
    for (const channel of ['zalo', 'pancake']) {
      const text = bodyText(sent(channel));
      for (const title of ['Đặt hàng', 'Website', 'Hỏi giá']) expect(text, channel).toContain(title);
    }
  });

  it('brings a button tap back as the turn’s postback (Messenger, WhatsApp, Telegram)', async () => {
    const psid = freshDigits();
    const waId = freshDigits();
    const chatId = freshDigits();
    const now = Date.now();
    const mid = `m_pb_${tag()}`;
    await postMessengerPostback(psid, mid, now, { title: 'Đặt hàng', payload: 'ORDER' });
    const wamid = `wamid.${tag()}`;
    await postRaw(
      'whatsapp',
      metaJson({
        object: 'whatsapp_business_account',
        entry: [
          {
            id: 'WABA',
            changes: [
              {
                field: 'messages',
                value: {
                  messaging_product: 'whatsapp',
                  metadata: { phone_number_id: DEMO_IDS.whatsappPhoneNumberId },
                  contacts: [{ wa_id: waId, profile: { name: 'Lan' } }],
                  messages: [
                    {
                      from: waId,
                      id: wamid,
                      timestamp: String(Math.floor(now / 1000)),
                      type: 'interactive',
                      interactive: { type: 'list_reply', list_reply: { id: 'PRICE', title: 'Hỏi giá' } },
                    },
                  ],
                },
              },
            ],
          },
        ],
      }),
      wamid,
    );
    const updateId = freshDigits().slice(0, 9);
    await postRaw(
      'telegram',
      JSON.stringify({
        update_id: Number(updateId),
        callback_query: {
          id: `cb${tag()}`,
          from: { id: Number(chatId), is_bot: false, first_name: 'Minh' },
          chat_instance: '1',
          data: 'ORDER',
          message: {
            message_id: 5,
            chat: { id: Number(chatId), type: 'private' },
            date: Math.floor(now / 1000),
            text: 'Bạn muốn làm gì?',
            reply_markup: { inline_keyboard: [[{ text: 'Đặt hàng', callback_data: 'ORDER' }]] },
          },
        },
      }),
      updateId,
    );
    const records = await stack.waitForMessages(
      (all) =>
        [psid, waId, chatId].every((id) =>
          all.some((r) => r.delivered && r.kind === 'text' && r.recipientId === id),
        ),
      HANG_MS,
      'the acknowledgements of three taps',
    );
    const reply = (id: string) =>
      records.find((r) => r.delivered && r.kind === 'text' && r.recipientId === id)?.text;
    expect(reply(psid)).toBe('Đã nhận ORDER');
    expect(reply(waId)).toBe('Đã nhận PRICE');
    expect(reply(chatId)).toBe('Đã nhận ORDER');
    const postbackOf = (id: string) => contexts.find((c) => c.customer.id === id)?.messages.at(-1)?.postback;
    expect(postbackOf(psid)).toEqual({ payload: 'ORDER', title: 'Đặt hàng', source: 'postback' });
    expect(postbackOf(waId)).toEqual({ payload: 'PRICE', title: 'Hỏi giá', source: 'quick-reply' });
    expect(postbackOf(chatId)).toEqual({ payload: 'ORDER', title: 'Đặt hàng', source: 'postback' });
  });

  it('answers an Instagram comment with a private reply to the comment', async () => {
    const igsid = freshDigits();
    const commentId = `1790${freshDigits()}`;
    await postRaw(
      'instagram',
      metaJson({
        object: 'instagram',
        entry: [
          {
            id: DEMO_IDS.instagramAccountId,
            time: Date.now(),
            changes: [
              {
                field: 'comments',
                value: {
                  from: { id: igsid, username: 'lan.shop' },
                  id: commentId,
                  text: 'Còn size M không ạ?',
                  media: { id: '1790000001', media_product_type: 'FEED' },
                },
              },
            ],
          },
        ],
      }),
      commentId,
    );
    const records = await stack.waitForMessages(
      (all) => all.some((r) => r.delivered && r.recipientId === commentId),
      HANG_MS,
      'the private reply to the comment',
    );
    const reply = records.find((r) => r.delivered && r.recipientId === commentId)!;
    expect(reply.path).toMatch(new RegExp(`/${DEMO_IDS.instagramAccountId}/messages$`));
    expect(reply.body).toMatchObject({
      recipient: { comment_id: commentId },
      message: { text: 'Trả lời: Còn size M không ạ?' },
    });
    // Neither a public reply nor a message to the commenter's inbox.
    expect(records.some((r) => r.path.endsWith('/replies') || r.recipientId === igsid)).toBe(false);
  });

  it('answers a Telegram group in the group', async () => {
    const groupId = `-100${freshDigits()}`;
    const member = freshDigits();
    const updateId = freshDigits().slice(0, 9);
    const text = `nhóm hỏi ${tag()}`;
    await postRaw(
      'telegram',
      `{"update_id":${updateId},"message":{"message_id":9,"from":{"id":${member},"is_bot":false,"first_name":"Hà"},"chat":{"id":${groupId},"title":"Khách quen","type":"supergroup"},"date":${Math.floor(Date.now() / 1000)},"text":"${text}"}}`,
      updateId,
    );
    const records = await stack.waitForMessages(
      (all) => all.some((r) => r.delivered && r.recipientId === groupId),
      HANG_MS,
      'the reply in the group',
    );
    expect(records.find((r) => r.delivered && r.recipientId === groupId)?.text).toBe(`Trả lời: ${text}`);
    expect(records.some((r) => r.recipientId === member)).toBe(false);
  });

  it('answers Get Started (Messenger) and /start (Telegram) with the welcome reply without calling the responder', async () => {
    const psid = freshDigits();
    const chatId = freshDigits();
    const now = Date.now();
    const mid = `m_gs_${tag()}`;
    await postMessengerPostback(psid, mid, now, { title: 'Get Started', payload: 'GET_STARTED' });
    const updateId = freshDigits().slice(0, 9);
    await postRaw(
      'telegram',
      `{"update_id":${updateId},"message":{"message_id":1,"from":{"id":${chatId},"is_bot":false,"first_name":"Minh"},"chat":{"id":${chatId},"type":"private"},"date":${Math.floor(now / 1000)},"text":"/start"}}`,
      updateId,
    );
    const records = await stack.waitForMessages(
      (all) => [psid, chatId].every((id) => all.some((r) => r.delivered && r.recipientId === id)),
      HANG_MS,
      'two welcome replies',
    );
    for (const id of [psid, chatId]) {
      expect(
        records.filter((r) => r.delivered && r.kind === 'text' && r.recipientId === id).map((r) => r.text),
      ).toEqual([WELCOME]);
    }
    expect(contexts.some((c) => c.customer.id === psid || c.customer.id === chatId)).toBe(false);
  });
});
