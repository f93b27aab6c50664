/**
 * Issue 13 behaviours, each against the platform's documented shape (small bodies built here,
 * not copies of the conformance corpus). Sources are cited per block and in docs/channels.md.
 */
import { describe, expect, it } from 'vitest';
import { humans, messages, outcomes, parse } from './helpers.js';

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

// --- WhatsApp (developers.facebook.com/docs/whatsapp/cloud-api/webhooks/reference/messages) ---

const PHONE = '106540352242922';
const waBody = (message: Record<string, unknown>) =>
  json({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'WABA',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550001111', phone_number_id: PHONE },
              contacts: [{ profile: { name: 'Lan' }, wa_id: '84900000001' }],
              messages: [{ from: '84900000001', timestamp: '1749416383', ...message }],
            },
          },
        ],
      },
    ],
  });

describe('WhatsApp fidelity', () => {
  it('makes a completed Flow (interactive nfm_reply) a postback carrying the response_json', () => {
    const response = '{"flow_token":"t-1","rating":"5"}';
    const [message] = messages(
      parse(
        'whatsapp',
        waBody({
          id: 'wamid.FLOW1',
          type: 'interactive',
          interactive: {
            type: 'nfm_reply',
            nfm_reply: { name: 'flow', body: 'Sent', response_json: response },
          },
        }),
      ),
    );
    expect(message).toMatchObject({
      messageId: 'wamid.FLOW1',
      kind: 'postback',
      postback: response,
      text: 'Sent',
    });
  });

  it('treats an nfm_reply without response_json as unsupported, not as a message', () => {
    const events = parse(
      'whatsapp',
      waBody({ id: 'wamid.FLOW2', type: 'interactive', interactive: { type: 'nfm_reply', nfm_reply: {} } }),
    );
    expect(outcomes(events)).toEqual(['ignored:unsupported']);
  });

  it('makes an edit a new customer message with the edited content under the edit’s own id', () => {
    const [message] = messages(
      parse(
        'whatsapp',
        waBody({
          id: 'wamid.EDIT1',
          type: 'edit',
          edit: {
            original_message_id: 'wamid.ORIG1',
            message: { type: 'text', text: { body: 'Actually, size M' } },
          },
        }),
      ),
    );
    expect(message).toMatchObject({
      messageId: 'wamid.EDIT1',
      conversationId: `${PHONE}:84900000001`,
      kind: 'text',
      text: 'Actually, size M',
      timestamp: 1749416383000,
    });
  });

  it('ignores a revoke (the customer deleted a message) as a non-message', () => {
    const events = parse(
      'whatsapp',
      waBody({ id: 'wamid.DEL1', type: 'revoke', revoke: { original_message_id: 'x' } }),
    );
    expect(outcomes(events)).toEqual(['ignored:non-message']);
  });
});

// --- Telegram (core.telegram.org/bots/api#update, #message, #businessconnection) ---

const BOT = '7123456789';
const private1 = { id: 501, type: 'private', first_name: 'Minh' };

describe('Telegram fidelity', () => {
  it('answers business_message as a customer message and keeps its business_connection_id', () => {
    const [message] = messages(
      parse(
        'telegram',
        json({
          update_id: 900001,
          business_message: {
            message_id: 11,
            business_connection_id: 'bc-42',
            from: { id: 501, is_bot: false, first_name: 'Minh' },
            chat: private1,
            date: 1718000000,
            text: 'Shop còn hàng không?',
          },
        }),
      ),
    );
    expect(message).toMatchObject({
      conversationId: `${BOT}:501`,
      messageId: '900001',
      kind: 'text',
      text: 'Shop còn hàng không?',
      businessConnectionId: 'bc-42',
    });
  });

  it('treats edited_business_message like edited_message: a new message at the edit time', () => {
    const [message] = messages(
      parse(
        'telegram',
        json({
          update_id: 900002,
          edited_business_message: {
            message_id: 11,
            business_connection_id: 'bc-42',
            from: { id: 501, is_bot: false, first_name: 'Minh' },
            chat: private1,
            date: 1718000000,
            edit_date: 1718000100,
            text: 'Shop còn size M không?',
          },
        }),
      ),
    );
    expect(message).toMatchObject({
      messageId: '900002',
      timestamp: 1718000100000,
      businessConnectionId: 'bc-42',
    });
  });

  it('reports the business owner writing in the chat as a human agent, and a business bot as an echo', () => {
    const owner = { id: 777, is_bot: false, first_name: 'Owner' };
    const fromOwner = parse(
      'telegram',
      json({
        update_id: 900003,
        business_message: {
          message_id: 12,
          business_connection_id: 'bc-42',
          from: owner,
          chat: private1,
          date: 1718000200,
          text: 'Dạ còn ạ',
        },
      }),
    );
    expect(humans(fromOwner)).toEqual([
      expect.objectContaining({ conversationId: `${BOT}:501`, messageId: '12', agentId: '777' }),
    ]);
    const byBot = parse(
      'telegram',
      json({
        update_id: 900004,
        business_message: {
          message_id: 13,
          business_connection_id: 'bc-42',
          from: owner,
          sender_business_bot: { id: Number(BOT), is_bot: true, first_name: 'Shop bot' },
          chat: private1,
          date: 1718000300,
          text: 'Cảm ơn bạn',
        },
      }),
    );
    expect(outcomes(byBot)).toEqual(['ignored:echo']);
  });

  it('makes dice, games, forwarded stories and polls customer messages of kind other', () => {
    const contents = {
      dice: { emoji: '🎲', value: 4 },
      game: { title: 'Quiz', description: 'd', photo: [{ file_id: 'g1', width: 10, height: 10 }] },
      story: { chat: { id: -100200, type: 'channel', title: 'News' }, id: 2 },
      poll: { id: 'p1', question: 'Màu nào?', options: [], is_anonymous: true, type: 'regular' },
    };
    for (const [field, value] of Object.entries(contents)) {
      const events = parse(
        'telegram',
        json({
          update_id: 900010,
          message: {
            message_id: 20,
            from: { id: 501, is_bot: false },
            chat: private1,
            date: 1718000000,
            [field]: value,
          },
        }),
      );
      expect(
        messages(events).map((m) => m.kind),
        field,
      ).toEqual(['other']);
    }
  });

  it('still ignores service messages without content', () => {
    const events = parse(
      'telegram',
      json({
        update_id: 900011,
        message: {
          message_id: 21,
          from: { id: 501 },
          chat: { id: -100300, type: 'group' },
          date: 1,
          new_chat_title: 'x',
        },
      }),
    );
    expect(outcomes(events)).toEqual(['ignored:non-message']);
  });
});

// --- Messenger / Instagram (developers.facebook.com/docs/messenger-platform: handover-protocol,
//     reference/webhook-events/messaging_handovers, standby, message-edits) ---

const PAGE = '106000000000001';
const OUR_APP = '555000111222333';
const INBOX_APP = '263902037430900';
const pageBody = (key: 'messaging' | 'standby', item: Record<string, unknown>) =>
  json({
    object: 'page',
    entry: [
      {
        id: PAGE,
        time: 1718000000000,
        [key]: [{ sender: { id: 'U1' }, recipient: { id: PAGE }, timestamp: 1718000000000, ...item }],
      },
    ],
  });

describe('Messenger and Instagram fidelity', () => {
  it('reports a Page-inbox echo in standby (another app owns the thread) as a human agent', () => {
    const events = parse(
      'messenger',
      pageBody('standby', {
        sender: { id: PAGE },
        recipient: { id: 'U1' },
        message: { is_echo: true, app_id: Number(INBOX_APP), mid: 'm.inbox1', text: 'Hi, Lan here' },
      }),
    );
    expect(humans(events)).toEqual([
      expect.objectContaining({ conversationId: `${PAGE}:U1`, messageId: 'm.inbox1', agentId: INBOX_APP }),
    ]);
  });

  it('does not answer a customer message in standby: another app owns the thread', () => {
    const events = parse('messenger', pageBody('standby', { message: { mid: 'm.c1', text: 'hello' } }));
    expect(outcomes(events)).toEqual(['ignored:non-message']);
  });

  it('pauses when the thread is passed to or taken by the Page inbox', () => {
    const passed = parse(
      'messenger',
      pageBody('messaging', {
        pass_thread_control: { new_owner_app_id: INBOX_APP, previous_owner_app_id: OUR_APP },
      }),
    );
    const taken = parse(
      'messenger',
      pageBody('messaging', {
        take_thread_control: { new_owner_app_id: INBOX_APP, previous_owner_app_id: OUR_APP },
      }),
    );
    for (const events of [passed, taken]) {
      expect(humans(events)).toEqual([
        expect.objectContaining({ conversationId: `${PAGE}:U1`, agentId: INBOX_APP, action: 'pause' }),
      ]);
    }
    expect(humans(passed)[0]?.messageId).toBe('pass_thread_control:U1:1718000000000');
  });

  it('resumes when the thread is passed back to our app', () => {
    const events = parse(
      'messenger',
      pageBody('messaging', {
        pass_thread_control: { new_owner_app_id: OUR_APP, previous_owner_app_id: INBOX_APP },
      }),
    );
    expect(humans(events)).toEqual([
      expect.objectContaining({ conversationId: `${PAGE}:U1`, action: 'resume' }),
    ]);
  });

  it('does not act on a control request or a handover between other apps', () => {
    const request = parse(
      'messenger',
      pageBody('messaging', { request_thread_control: { requested_owner_app_id: INBOX_APP } }),
    );
    const other = parse(
      'messenger',
      pageBody('messaging', { pass_thread_control: { new_owner_app_id: '999' } }),
    );
    expect([...outcomes(request), ...outcomes(other)]).toEqual([
      'ignored:non-message',
      'ignored:non-message',
    ]);
  });

  it('makes a message_edit a new customer message, keyed by the edit count', () => {
    const events = parse(
      'messenger',
      pageBody('messaging', { message_edit: { mid: 'm.orig', text: 'size M please', num_edit: 1 } }),
    );
    expect(messages(events)).toEqual([
      expect.objectContaining({
        messageId: 'm.orig:edit:1',
        kind: 'text',
        text: 'size M please',
        conversationId: `${PAGE}:U1`,
      }),
    ]);
  });

  it('handles Instagram standby echoes from the inbox the same way', () => {
    const account = '17841400000000001';
    const events = parse(
      'instagram',
      json({
        object: 'instagram',
        entry: [
          {
            id: account,
            time: 1718000000000,
            standby: [
              {
                sender: { id: account },
                recipient: { id: 'IG1' },
                timestamp: 1718000000000,
                message: { is_echo: true, app_id: INBOX_APP, mid: 'ig.m1', text: 'from the inbox' },
              },
            ],
          },
        ],
      }),
    );
    expect(humans(events).map((h) => h.conversationId)).toEqual([`${account}:IG1`]);
  });
});

// --- Zalo OA (reference/channels.md, Zalo section: admin_id, anonymous_send_*, user_send_group_*) ---

const OA = '579745863508352884';
const zalo = (event: Record<string, unknown>) =>
  json({ app_id: '1234567890123456789', timestamp: '1718000000000', ...event });

describe('Zalo fidelity', () => {
  it('reports an OA send with sender.admin_id as a person in the OA chat tool', () => {
    const events = parse(
      'zalo',
      zalo({
        event_name: 'oa_send_text',
        sender: { id: OA, admin_id: 'adm-1' },
        recipient: { id: 'Z1' },
        message: { msg_id: 'zm-1', text: 'Dạ' },
      }),
    );
    expect(humans(events)).toEqual([
      expect.objectContaining({ conversationId: `${OA}:Z1`, agentId: 'adm-1' }),
    ]);
  });

  it('takes an OA send without admin_id for an API send (echo), not a human', () => {
    const events = parse(
      'zalo',
      zalo({
        event_name: 'oa_send_text',
        sender: { id: OA },
        recipient: { id: 'Z1' },
        message: { msg_id: 'zm-2', text: 'Bot' },
      }),
    );
    expect(outcomes(events)).toEqual(['ignored:echo']);
  });

  it('answers anonymous_send_* as customer messages in the anonymous conversation', () => {
    const [message] = messages(
      parse(
        'zalo',
        zalo({
          event_name: 'anonymous_send_text',
          sender: { id: 'anon-7' },
          recipient: { id: OA },
          message: { msg_id: 'zm-3', text: 'Xin chào', conversation_id: 'conv-9' },
        }),
      ),
    );
    expect(message).toMatchObject({
      conversationId: `${OA}:anonymous:conv-9`,
      customer: { id: 'anon-7' },
      kind: 'text',
      text: 'Xin chào',
    });
  });

  it('ignores an anonymous message without conversation_id (it could not be answered)', () => {
    const events = parse(
      'zalo',
      zalo({
        event_name: 'anonymous_send_text',
        sender: { id: 'anon-7' },
        recipient: { id: OA },
        message: { msg_id: 'zm-4', text: 'x' },
      }),
    );
    expect(outcomes(events)).toEqual(['ignored:unsupported']);
  });

  it('ignores group messages as non-messages (counted by reason at ingest)', () => {
    const events = parse(
      'zalo',
      zalo({
        event_name: 'user_send_group_text',
        sender: { id: 'Z2' },
        recipient: { id: 'G1' },
        message: { msg_id: 'zm-5', text: '@OA hi' },
      }),
    );
    expect(outcomes(events)).toEqual(['ignored:non-message']);
  });
});

// --- Pancake (developer.pancake.biz/webhook, reference/channels.md Pancake section) ---

const PANCAKE_PAGE = '1401234567890';
const pancake = (message: Record<string, unknown>, conversation: Record<string, unknown> = {}) =>
  json({
    page_id: PANCAKE_PAGE,
    event_type: 'messaging',
    data: {
      conversation: {
        id: `${PANCAKE_PAGE}_C1`,
        type: 'INBOX',
        from: { id: 'C1', name: 'Hoa' },
        ...conversation,
      },
      message: {
        id: 'pm-1',
        conversation_id: `${PANCAKE_PAGE}_C1`,
        page_id: PANCAKE_PAGE,
        message: 'Dạ shop đây',
        type: 'INBOX',
        inserted_at: '2024-12-25T11:06:07.000000',
        ...message,
      },
    },
  });

describe('Pancake fidelity', () => {
  it('reports a staff reply with from.admin_name / from.uid but no admin_id as a human agent', () => {
    const named = parse('pancake', pancake({ from: { id: PANCAKE_PAGE, admin_name: 'Thu' } }));
    const uid = parse('pancake', pancake({ from: { id: PANCAKE_PAGE, uid: 'u-55', admin_name: 'Thu' } }));
    expect(outcomes(named)).toEqual(['human-active']);
    expect(humans(uid)[0]?.agentId).toBe('u-55');
  });

  it('reports a message whose from.id is one of conversation.assignee_ids as staff', () => {
    const events = parse(
      'pancake',
      pancake({ from: { id: 'staff-9', name: 'Thu' } }, { assignee_ids: ['staff-9'] }),
    );
    expect(humans(events)).toEqual([expect.objectContaining({ agentId: 'staff-9', messageId: 'pm-1' })]);
    const customer = parse(
      'pancake',
      pancake({ from: { id: 'C1', name: 'Hoa' } }, { assignee_ids: ['staff-9'] }),
    );
    expect(outcomes(customer)).toEqual(['message']);
  });

  it('keeps an automated page message an echo even with staff metadata', () => {
    const events = parse(
      'pancake',
      pancake({ from: { id: PANCAKE_PAGE, admin_name: 'Bot', is_automated: true } }),
    );
    expect(outcomes(events)).toEqual(['ignored:echo']);
  });

  it('takes the customer of a comment without from from conversation.from', () => {
    const [message] = messages(
      parse(
        'pancake',
        pancake({ type: 'COMMENT', message: 'Giá bao nhiêu?', from: undefined }, { type: 'COMMENT' }),
      ),
    );
    expect(message).toMatchObject({
      customer: { id: 'C1', name: 'Hoa' },
      surface: 'comment',
      commentId: 'pm-1',
      text: 'Giá bao nhiêu?',
    });
  });
});
