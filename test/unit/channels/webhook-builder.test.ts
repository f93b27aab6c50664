import { describe, expect, it } from 'vitest';
import {
  buildEchoWebhook,
  buildWebhook,
  toWebhookRequest,
  UnsupportedWebhookError,
  WEBHOOK_KINDS,
  type WebhookKind,
  webhookUrl,
} from '../../../bin/local/webhook-builder.js';
import { adapterFor } from '../../../lambdas/channels/index.js';
import { InvalidSignatureError } from '../../../lambdas/shared/errors.js';
import { CHANNELS, type ChannelName, type ParsedEvent } from '../../../lambdas/shared/model.js';
import { ctxFor, TENANT } from './helpers.js';

const NOW = 1_718_000_000_000;

function roundTrip(
  channel: ChannelName,
  kind: WebhookKind,
  extra: Record<string, unknown> = {},
): ParsedEvent[] {
  const built = buildWebhook({ tenant: TENANT, channel, kind, now: NOW, ...extra });
  const request = toWebhookRequest(built, NOW + 1000);
  const ctx = ctxFor(channel, {}, NOW + 1000) as never;
  const adapter = adapterFor(channel);
  adapter.authenticate(request, ctx);
  return adapter.parse(request.rawBody, ctx);
}

/** What each kind must become per channel (`throws` when the platform has no such webhook). */
const EXPECTED: Record<ChannelName, Record<WebhookKind, string>> = {
  messenger: {
    text: 'message',
    echo: 'ignored:echo',
    human: 'human-active',
    audio: 'message',
    image: 'message',
    receipt: 'ignored:receipt',
  },
  instagram: {
    text: 'message',
    echo: 'ignored:echo',
    human: 'human-active',
    audio: 'message',
    image: 'message',
    receipt: 'ignored:receipt',
  },
  whatsapp: {
    text: 'message',
    echo: 'ignored:receipt',
    human: 'human-active',
    audio: 'message',
    image: 'message',
    receipt: 'ignored:receipt',
  },
  telegram: {
    text: 'message',
    echo: 'throws',
    human: 'throws',
    audio: 'message',
    image: 'message',
    receipt: 'throws',
  },
  zalo: {
    text: 'message',
    echo: 'ignored:echo',
    human: 'human-active',
    audio: 'message',
    image: 'message',
    receipt: 'ignored:receipt',
  },
  pancake: {
    text: 'message',
    echo: 'ignored:echo',
    human: 'human-active',
    audio: 'message',
    image: 'message',
    receipt: 'throws',
  },
};

describe.each(CHANNELS)('webhook builder for %s', (channel) => {
  it.each(WEBHOOK_KINDS)('builds a %s webhook that authenticates and parses as documented', (kind) => {
    const expected = EXPECTED[channel][kind];
    if (expected === 'throws') {
      expect(() => buildWebhook({ tenant: TENANT, channel, kind })).toThrow(UnsupportedWebhookError);
      return;
    }
    const events = roundTrip(channel, kind, {
      text: 'Xin chào 😀',
      messageId: channel === 'telegram' ? '4242' : 'mid-42',
    });
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event?.type === 'ignored' ? `ignored:${event.reason}` : event?.type).toBe(expected);
    if (event?.type === 'message') {
      expect(event.message.messageId).toBe(channel === 'telegram' ? '4242' : 'mid-42');
      expect(event.message.tenantId).toBe('acme');
      expect(event.message.kind).toBe(kind);
      if (kind === 'text') expect(event.message.text).toBe('Xin chào 😀');
      if (kind === 'audio' || kind === 'image') expect(event.message.attachments[0]?.kind).toBe(kind);
    }
    if (event?.type === 'human-active')
      expect(event.activity.messageId).toBe(channel === 'telegram' ? '4242' : 'mid-42');
  });

  it('produces a request the adapter rejects when asked for a bad signature', () => {
    const built = buildWebhook({ tenant: TENANT, channel, badSignature: true, now: NOW });
    expect(() =>
      adapterFor(channel).authenticate(toWebhookRequest(built, NOW), ctxFor(channel, {}, NOW) as never),
    ).toThrow(InvalidSignatureError);
  });

  it('addresses /webhooks/{channel}/{tenantId} and uses the conversation given', () => {
    const conversation =
      { pancake: '1401234567890_777', telegram: '-1009007199254740993' }[channel as string] ?? '777000111';
    const built = buildWebhook({ tenant: TENANT, channel, conversation, now: NOW });
    expect(built.method).toBe('POST');
    expect(built.path).toBe(`/webhooks/${channel}/acme`);
    const events = roundTrip(channel, 'text', { conversation });
    const message = events[0]?.type === 'message' ? events[0].message : undefined;
    expect(message?.conversationId.endsWith(conversation)).toBe(true);
  });
});

describe('webhook builder details', () => {
  it('serialises Meta bodies in the escaped-unicode form and signs those bytes', () => {
    const built = buildWebhook({ tenant: TENANT, channel: 'messenger', text: 'äöå 😀 a/b', now: NOW });
    expect(built.body).toContain('\\u00e4\\u00f6\\u00e5 \\ud83d\\ude00 a\\/b');
    expect([...built.body].every((c) => c.charCodeAt(0) < 0x80)).toBe(true);
    const events = roundTrip('messenger', 'text', { text: 'äöå 😀 a/b' });
    expect(events[0]?.type === 'message' && events[0].message.text).toBe('äöå 😀 a/b');
  });

  it('writes 64-bit Telegram chat ids as exact integer literals', () => {
    const built = buildWebhook({
      tenant: TENANT,
      channel: 'telegram',
      conversation: '-1009007199254740993',
      now: NOW,
    });
    expect(built.body).toContain('"chat":{"id":-1009007199254740993');
  });

  it('adds Pancake signing headers when the tenant has a signing secret', () => {
    const tenant = {
      ...TENANT,
      channels: { ...TENANT.channels, pancake: { ...TENANT.channels.pancake!, signingSecret: 'sig-secret' } },
    };
    const built = buildWebhook({ tenant, channel: 'pancake', now: NOW });
    expect(built.headers['x-pancake-timestamp']).toBe(String(NOW / 1000));
    expect(built.headers['x-pancake-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    const ctx = { tenant, config: tenant.channels.pancake, receivedAt: NOW + 2000 };
    expect(() => adapterFor('pancake').authenticate(toWebhookRequest(built, NOW + 2000), ctx)).not.toThrow();
  });

  it('puts the Pancake token in the query of the URL', () => {
    const built = buildWebhook({ tenant: TENANT, channel: 'pancake', now: NOW });
    expect(webhookUrl('http://127.0.0.1:3000/', built)).toBe(
      'http://127.0.0.1:3000/webhooks/pancake/acme?token=wh-token-5f2a9c',
    );
    expect(webhookUrl('https://x.example/prod', built)).toBe(
      'https://x.example/prod/webhooks/pancake/acme?token=wh-token-5f2a9c',
    );
  });

  it('refuses a channel the tenant has not configured', () => {
    const tenant = { ...TENANT, channels: { telegram: TENANT.channels.telegram } };
    expect(() => buildWebhook({ tenant, channel: 'zalo' })).toThrow(/no zalo channel configured/);
  });

  it.each(CHANNELS)(
    'makes the echo of our own %s send, which is never taken for a customer message',
    (channel) => {
      const recipient =
        { pancake: '24929156790020001', telegram: '5123456789' }[channel as string] ?? '7100000000000011';
      const built = buildEchoWebhook({
        tenant: TENANT,
        channel,
        recipient,
        text: 'Our reply',
        platformMessageId: 'sent-1',
        now: NOW,
      });
      if (channel === 'telegram') {
        expect(built).toBeUndefined();
        return;
      }
      expect(built).toBeDefined();
      const request = toWebhookRequest(built!, NOW);
      const ctx = ctxFor(channel, {}, NOW) as never;
      adapterFor(channel).authenticate(request, ctx);
      const events = adapterFor(channel).parse(request.rawBody, ctx);
      expect(events).toHaveLength(1);
      expect(events[0]?.type).not.toBe('message');
      if (events[0]?.type === 'human-active') {
        // Zalo cannot tell our sends apart: the id lets the actor match it against our sent ids.
        expect(events[0].activity.messageId).toBe('sent-1');
        expect(events[0].activity.conversationId).toBe(`579745863508352884:${recipient}`);
      }
    },
  );
});
