/**
 * Odd but valid input, end to end: signed webhooks whose values are legal JSON but far outside
 * what platforms usually send (a 300 000-character text, a 2000-character message id, a
 * 3000-character sender id, a timestamp of 1e308, a Telegram supergroup with 64-bit ids, more
 * events than a request may hold) go through the real webhook, conversation and delivery
 * handlers against the emulators. Each is answered, acknowledged as ignored, or refused with a
 * typed 4xx before enqueueing — never accepted and then stuck until the DLQ.
 */
import { createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltWebhook, metaJson } from '../../bin/local/webhook-builder.js';
import { MAX_EVENTS_PER_REQUEST, MAX_ID_LENGTH } from '../../lambdas/channels/limits.js';
import type { ChannelName } from '../../lambdas/shared/model.js';
import { type TenantDocument, telegramBotId } from '../../lambdas/shared/tenant.js';
import {
  type Customer,
  customerWebhook,
  e2eTenant,
  freshDigits,
  newCustomer,
  repliesTo,
} from '../e2e/support.js';
import { PIPELINE_QUEUES, type Pipeline, startPipeline } from '../helpers/pipeline.js';

const tenant = e2eTenant('odd', { debounceMs: 0 });

let pipeline: Pipeline;

beforeAll(async () => {
  // As deployed, a record stays invisible well past the slowest batch (a loaded machine included).
  pipeline = await startPipeline({ tenants: [tenant], visibilityTimeoutSeconds: 60 });
});

afterAll(async () => {
  await pipeline?.stop();
});

/** The same request with another body, signed again the way the platform signs. */
function resigned(
  doc: TenantDocument,
  channel: ChannelName,
  built: BuiltWebhook,
  body: string,
): BuiltWebhook {
  const headers = { ...built.headers };
  const c = doc.channels;
  switch (channel) {
    case 'messenger':
    case 'instagram':
    case 'whatsapp': {
      const secret = c[channel]?.appSecret ?? '';
      headers['x-hub-signature-256'] =
        `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
      break;
    }
    case 'zalo': {
      const event = JSON.parse(body) as { app_id: string; timestamp: string };
      const mac = createHash('sha256')
        .update(`${event.app_id}${body}${event.timestamp}${c.zalo?.oaSecretKey ?? ''}`, 'utf8')
        .digest('hex');
      headers['x-zevent-signature'] = `mac=${mac}`;
      break;
    }
    case 'pancake': {
      const secret = c.pancake?.signingSecret;
      if (secret) {
        headers['x-pancake-signature'] =
          `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
      }
      break;
    }
    case 'telegram':
      break;
  }
  return { ...built, headers, body };
}

/** A customer whose platform id is `id` (Messenger PSID, WhatsApp wa_id…). */
function customerWithId(channel: ChannelName, id: string): Customer {
  return { channel, conversation: id, id, owns: (r) => r.channel !== 'pancake' && r.recipientId === id };
}

describe('odd but valid values in signed payloads', () => {
  it('answers each of them and dead-letters nothing', async () => {
    const cases: { name: string; customer: Customer; built: BuiltWebhook }[] = [];

    const longText = newCustomer('whatsapp');
    cases.push({
      name: '300 000-character WhatsApp text',
      customer: longText,
      built: customerWebhook(tenant, longText, 'w'.repeat(300_000)),
    });

    const longMid = newCustomer('messenger');
    cases.push({
      name: '2000-character Messenger mid',
      customer: longMid,
      built: customerWebhook(tenant, longMid, 'long mid', { messageId: `m_${'M'.repeat(1998)}` }),
    });

    const longSender = customerWithId('messenger', `9${'8'.repeat(2999)}`);
    cases.push({
      name: '3000-character sender id',
      customer: longSender,
      built: customerWebhook(tenant, longSender, 'long sender'),
    });

    const hugeTime = newCustomer('messenger');
    const hugeTimeBuilt = customerWebhook(tenant, hugeTime, 'huge timestamp');
    cases.push({
      name: 'timestamp 1e308',
      customer: hugeTime,
      built: resigned(
        tenant,
        'messenger',
        hugeTimeBuilt,
        hugeTimeBuilt.body.replace(/"timestamp":\d+/, '"timestamp":1e308'),
      ),
    });

    const waHugeTime = newCustomer('whatsapp');
    const waHugeTimeBuilt = customerWebhook(tenant, waHugeTime, 'huge timestamp too');
    cases.push({
      name: 'WhatsApp timestamp 1e308',
      customer: waHugeTime,
      built: resigned(
        tenant,
        'whatsapp',
        waHugeTimeBuilt,
        waHugeTimeBuilt.body.replace(/"timestamp":"\d+"/, '"timestamp":1e308'),
      ),
    });

    const emoji = newCustomer('telegram');
    cases.push({
      name: '10 000-unit Telegram text of emoji',
      customer: emoji,
      built: customerWebhook(tenant, emoji, '😀'.repeat(5000)),
    });

    // Every one is handled: accepted (200, one message on the queue), none refused.
    for (const c of cases) {
      const answer = await pipeline.post(c.built);
      expect(answer.status, `${c.name}: ${answer.body.slice(0, 200)}`).toBe(200);
      expect(answer.accepted, c.name).toBe(1);
    }
    const accepted = cases;

    const finished = await pipeline.drive(
      () => accepted.every((c) => repliesTo(pipeline.sandbox.messages(), c.customer).length > 0),
      90_000,
    );
    const missing = accepted
      .filter((c) => repliesTo(pipeline.sandbox.messages(), c.customer).length === 0)
      .map((c) => c.name);
    expect(missing).toEqual([]);
    expect(finished).toBe(true);

    const depths = await pipeline.depths();
    for (const q of PIPELINE_QUEUES) expect(depths[q].dlq, `${q} DLQ`).toBe(0);
    expect(pipeline.trouble()).toEqual({ failedRecords: { inbound: 0, timer: 0, outbound: 0 }, thrown: [] });

    // The long texts were cut at the channel limit, and the marker reached the customer.
    const said = (c: Customer): string => repliesTo(pipeline.sandbox.messages(), c).join('');
    expect(said(longText)).toContain(`${'w'.repeat(100)}… [truncated ${300_000 - 4096} characters]`);
    // The actor's own byte bound on stored text (docs/conversation.md) may cut it further: what
    // matters here is that the emoji survived whole (no split pair) and the cut is marked.
    expect(said(emoji)).toMatch(/^echo: (😀)+…/u);
    expect(said(emoji)).toContain('truncated');
    expect(said(emoji)).not.toContain('\uFFFD');
    expect(said(longSender)).toContain('long sender');
    expect(said(longMid)).toContain('long mid');
  }, 150_000);

  it('acknowledges, as ignored, a message whose sender id is too long to answer', async () => {
    const tooLong = customerWithId('messenger', `7${'6'.repeat(MAX_ID_LENGTH)}`);
    const answer = await pipeline.post(customerWebhook(tenant, tooLong, 'never answered'));
    expect(answer).toMatchObject({ status: 200, accepted: 0, ignored: 1 });
    expect((await pipeline.depths()).inbound.queue).toBe(0);
  });

  it('refuses with 413 TOO_MANY_EVENTS, before enqueueing any, a body of more events than a request may hold', async () => {
    const page = Object.keys(tenant.channels.messenger?.pages ?? {})[0] ?? '';
    const body = metaJson({
      object: 'page',
      entry: [
        {
          id: page,
          time: 1_718_000_000_000,
          messaging: Array.from({ length: MAX_EVENTS_PER_REQUEST + 1 }, (_, i) => ({
            sender: { id: freshDigits() },
            recipient: { id: page },
            timestamp: 1_718_000_000_000 + i,
            message: { mid: `m_many_${i}`, text: `many ${i}` },
          })),
        },
      ],
    });
    const template = customerWebhook(tenant, newCustomer('messenger'), 'template');
    const answer = await pipeline.post(resigned(tenant, 'messenger', template, body));
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({
      error: {
        code: 'TOO_MANY_EVENTS',
        message: `The request holds ${MAX_EVENTS_PER_REQUEST + 1} events to enqueue; the limit is ${MAX_EVENTS_PER_REQUEST} per request.`,
      },
    });
    expect((await pipeline.depths()).inbound.queue).toBe(0);
  });

  it('answers a Telegram supergroup message in the group, not in the sender’s private chat', async () => {
    const chatId = `-100${freshDigits()}9007199254740993`.slice(0, 20);
    const built = customerWebhook(
      tenant,
      { channel: 'telegram', conversation: chatId, id: chatId, owns: () => false },
      'hello group',
    );
    const answer = await pipeline.post(built);
    expect(answer.status).toBe(200);
    expect(answer.accepted).toBe(1);
    const botId = telegramBotId(tenant.channels.telegram?.botToken ?? '');
    const toChat = () =>
      pipeline.sandbox
        .messages()
        .filter((r) => r.channel === 'telegram' && r.kind === 'text' && r.text?.includes('hello group'));
    expect(await pipeline.drive(() => toChat().length > 0, 60_000)).toBe(true);
    const [sent] = toChat();
    expect(sent?.recipientId).toBe(chatId);
    expect(sent?.pageId).toBe(botId);
  });
});
