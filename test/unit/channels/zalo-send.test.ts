/**
 * Zalo groups, anonymous chats and button messages: the adapter's classification of
 * `user_send_group_*` by the tenant's `groups` setting, and the sender's request for each kind of
 * conversation and for quick replies and buttons, against the sandbox (which checks the shapes:
 * `recipient.user_id`, `recipient.anonymous_id` + `conversation_id`, `recipient.group_id` on the
 * group message API).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../../bin/local/sandbox.js';
import {
  createZaloSender,
  ZALO_BUTTON_LIMITS,
  ZALO_GROUP_PATH,
  zaloRoute,
  zaloTextMessage,
} from '../../../lambdas/channels/send/zalo.js';
import type { SendTarget } from '../../../lambdas/channels/types.js';
import { parseTenantDocument } from '../../../lambdas/shared/tenant.js';
import { messages, outcomes, parse } from './helpers.js';

const OA = '579745863508352884';
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const zalo = (event: Record<string, unknown>) =>
  json({ app_id: '1234567890123456789', timestamp: '1718000000000', ...event });

const groupText = (extra: Record<string, unknown> = {}) =>
  zalo({
    event_name: 'user_send_group_text',
    oa_id: OA,
    sender: { id: 'member-1' },
    recipient: { id: 'G1' },
    message: { msg_id: 'zg-1', text: '@OA còn size M không?' },
    ...extra,
  });

describe('Zalo group messages', () => {
  it('ignores user_send_group_* (counted as non-message) when the tenant has not enabled groups', () => {
    expect(outcomes(parse('zalo', groupText()))).toEqual(['ignored:non-message']);
    expect(outcomes(parse('zalo', groupText(), { groups: false }))).toEqual(['ignored:non-message']);
  });

  it('answers them in the group when groups is on: conversation {oaId}:group:{groupId}, the group as customer', () => {
    const [message] = messages(parse('zalo', groupText(), { groups: true }));
    expect(message).toMatchObject({
      conversationId: `${OA}:group:G1`,
      customer: { id: 'G1' },
      messageId: 'zg-1',
      kind: 'text',
      text: '@OA còn size M không?',
    });
  });

  it('takes the group id from recipient.group_id, else message.conversation_id', () => {
    const byGroupId = messages(
      parse('zalo', groupText({ recipient: { id: OA, group_id: 'G2' } }), { groups: true }),
    );
    expect(byGroupId[0]?.conversationId).toBe(`${OA}:group:G2`);
    const byConversation = messages(
      parse(
        'zalo',
        groupText({ recipient: { id: OA }, message: { msg_id: 'zg-2', text: 'x', conversation_id: 'G3' } }),
        { groups: true },
      ),
    );
    expect(byConversation[0]?.conversationId).toBe(`${OA}:group:G3`);
  });

  it('maps group media kinds like direct ones and checks the OA by oa_id', () => {
    const image = messages(
      parse(
        'zalo',
        groupText({
          event_name: 'user_send_group_image',
          message: { msg_id: 'zg-3', attachments: [{ type: 'image', payload: { url: 'https://z/i.jpg' } }] },
        }),
        { groups: true },
      ),
    );
    expect(image[0]).toMatchObject({
      kind: 'image',
      attachments: [{ kind: 'image', url: 'https://z/i.jpg' }],
    });
    expect(outcomes(parse('zalo', groupText({ oa_id: 'another-oa' }), { groups: true }))).toEqual([
      'ignored:not-subscribed-page',
    ]);
  });

  it('ignores a group message with no group id (it could not be answered)', () => {
    expect(
      outcomes(
        parse('zalo', groupText({ recipient: { id: OA }, message: { msg_id: 'zg-4', text: 'x' } }), {
          groups: true,
        }),
      ),
    ).toEqual(['ignored:unsupported']);
  });
});

const tenant = parseTenantDocument({
  tenantId: 'zs',
  channels: { zalo: { oaId: OA, oaSecretKey: 'k', accessToken: 'zl-token' } },
});
const target = (conversationId: string, recipientId: string): SendTarget => ({
  tenant,
  channel: 'zalo',
  pageId: OA,
  conversationId,
  recipientId,
  surface: 'inbox',
});

describe('Zalo reply routes', () => {
  it('routes followers, anonymous chats and groups from the conversation id', () => {
    expect(zaloRoute(target(`${OA}:U1`, 'U1'))).toEqual({
      path: '/v3.0/oa/message/cs',
      recipient: { user_id: 'U1' },
    });
    expect(zaloRoute(target(`${OA}:anonymous:conv-9`, 'anon-7'))).toEqual({
      path: '/v3.0/oa/message/cs',
      recipient: { anonymous_id: 'anon-7', conversation_id: 'conv-9' },
    });
    expect(zaloRoute(target(`${OA}:group:G1`, 'G1'))).toEqual({
      path: ZALO_GROUP_PATH,
      recipient: { group_id: 'G1' },
    });
  });
});

describe('Zalo sender against the sandbox', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox?.stop();
  });
  beforeEach(() => sandbox.clear());
  const sender = () => createZaloSender({ bases: () => sandbox.baseUrls });

  it('answers an anonymous customer through the anonymous-chat recipient', async () => {
    const result = await sender().sendText(target(`${OA}:anonymous:conv-9`, 'anon-7'), 'Chào bạn');
    const [record] = sandbox.messages();
    expect(record).toMatchObject({ delivered: true, path: '/v3.0/oa/message/cs', recipientId: 'anon-7' });
    expect(record?.body).toEqual({
      recipient: { anonymous_id: 'anon-7', conversation_id: 'conv-9' },
      message: { text: 'Chào bạn' },
    });
    expect(result.platformMessageId).toBe(record?.messageId);
  });

  it('answers a group through the group message API', async () => {
    await sender().sendText(target(`${OA}:group:G1`, 'G1'), 'Dạ còn ạ');
    const [record] = sandbox.messages();
    expect(record).toMatchObject({
      delivered: true,
      path: ZALO_GROUP_PATH,
      recipientId: 'G1',
      text: 'Dạ còn ạ',
    });
    expect(record?.body).toEqual({ recipient: { group_id: 'G1' }, message: { text: 'Dạ còn ạ' } });
  });

  it('sends buttons and quick replies as a Zalo button message', async () => {
    await sender().sendText(target(`${OA}:U1`, 'U1'), 'Chọn size', undefined, {
      buttons: [
        { type: 'url', title: 'Bảng size', url: 'https://shop.example/size' },
        { type: 'postback', title: 'Gặp nhân viên', payload: 'HUMAN' },
      ],
      quickReplies: [{ title: 'Size M' }, { title: 'Size L', payload: 'SIZE_L' }],
    });
    const [record] = sandbox.messages();
    expect(record?.delivered).toBe(true);
    expect(record?.body).toEqual({
      recipient: { user_id: 'U1' },
      message: {
        text: 'Chọn size',
        attachment: {
          type: 'template',
          payload: {
            buttons: [
              { title: 'Bảng size', type: 'oa.open.url', payload: { url: 'https://shop.example/size' } },
              { title: 'Gặp nhân viên', type: 'oa.query.hide', payload: 'HUMAN' },
              { title: 'Size M', type: 'oa.query.show', payload: 'Size M' },
              { title: 'Size L', type: 'oa.query.show', payload: 'SIZE_L' },
            ],
          },
        },
      },
    });
  });
});

describe('Zalo button message limits', () => {
  it('falls back to numbered text when there are more choices than Zalo shows', () => {
    const quickReplies = Array.from({ length: ZALO_BUTTON_LIMITS.maxButtons + 1 }, (_, i) => ({
      title: `Q${i + 1}`,
    }));
    const message = zaloTextMessage('Pick one', { quickReplies });
    expect(message).toEqual({
      text: `Pick one\n\n${quickReplies.map((q, i) => `${i + 1}. ${q.title}`).join('\n')}`,
    });
  });

  it('falls back to numbered text when the text is longer than a button message allows', () => {
    const text = 'x'.repeat(ZALO_BUTTON_LIMITS.textLength + 1);
    const message = zaloTextMessage(text, { quickReplies: [{ title: 'Yes' }] }) as {
      text: string;
      attachment?: unknown;
    };
    expect(message.attachment).toBeUndefined();
    expect(message.text.endsWith('\n\n1. Yes')).toBe(true);
    expect(message.text.length).toBeLessThanOrEqual(2000);
  });

  it('cuts long titles and bounds long payloads', () => {
    const message = zaloTextMessage('t', {
      buttons: [{ type: 'postback', title: 'T'.repeat(150), payload: 'P'.repeat(1500) }],
    }) as { attachment: { payload: { buttons: { title: string; payload: string }[] } } };
    const [button] = message.attachment.payload.buttons;
    expect(button?.title).toHaveLength(ZALO_BUTTON_LIMITS.titleLength);
    expect(button?.title.endsWith('…')).toBe(true);
    expect(button?.payload).toHaveLength(ZALO_BUTTON_LIMITS.payloadLength);
  });

  it('sends plain text when there are no extras', () => {
    expect(zaloTextMessage('hi', undefined)).toEqual({ text: 'hi' });
    expect(zaloTextMessage('hi', { buttons: [], quickReplies: [] })).toEqual({ text: 'hi' });
  });
});
