import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../bin/tenant/args.js';
import {
  applySets,
  type DraftDocument,
  generateMissingTokens,
  generateToken,
  maskDocument,
  maskToken,
} from '../../bin/tenant/document.js';
import { BASE_URL_PLACEHOLDER, channelSetups, formatSetups, webhookUrl } from '../../bin/tenant/setup.js';
import { parseTenantDocument, TELEGRAM_SECRET_PATTERN } from '../../lambdas/shared/tenant.js';

describe('tenant CLI arguments', () => {
  it('scopes each --set to the closest --channel before it, and root-level sets to the document', () => {
    const args = parseArgs([
      'add',
      'acme',
      '--set',
      'settings.debounceMs=1500',
      '--channel',
      'telegram',
      '--set',
      'botToken=1:abc',
      '--channel=pancake',
      '--set=pageIds=1,2',
    ]);
    expect(args.command).toBe('add');
    expect(args.tenantId).toBe('acme');
    expect(args.channels).toEqual(['telegram', 'pancake']);
    expect(args.sets).toEqual([
      { channel: undefined, path: ['settings', 'debounceMs'], value: '1500' },
      { channel: 'telegram', path: ['botToken'], value: '1:abc' },
      { channel: 'pancake', path: ['pageIds'], value: '1,2' },
    ]);
  });

  it('keeps "=" inside a --set value', () => {
    expect(parseArgs(['update', 'a', '--channel', 'zalo', '--set', 'accessToken=ab==']).sets[0]?.value).toBe(
      'ab==',
    );
  });

  const bad: [string[], RegExp][] = [
    [[], /No command given/],
    [['frobnicate'], /Unknown command "frobnicate"/],
    [['add'], /add needs a tenant id/],
    [['add', 'acme', '--channel', 'myspace'], /Unknown channel "myspace".*pancake/],
    [['add', 'acme', '--set', 'novalue'], /key=value/],
    [['add', 'acme', '--set', '__proto__.x=1'], /not a valid field path/],
    [['show', 'acme', '--set', 'a=b'], /show does not take/],
    [['list', 'acme'], /list takes no tenant id/],
    [['add', 'acme', '--force'], /--force is only for remove/],
    [['add', 'acme', '--bogus'], /Unknown option --bogus/],
    [['add', 'acme', '--file'], /--file needs a value/],
  ];
  for (const [argv, message] of bad) {
    it(`rejects "${argv.join(' ') || '(nothing)'}" with a usage error that says the fix`, () => {
      expect(() => parseArgs(argv)).toThrow(UsageError);
      expect(() => parseArgs(argv)).toThrow(message);
    });
  }
});

describe('tenant document editing', () => {
  it('applies sets with lists, numbers, booleans and dotted map paths', () => {
    const doc: DraftDocument = { tenantId: 'acme' };
    applySets(
      doc,
      ['pancake', 'messenger'],
      [
        { channel: undefined, path: ['settings', 'debounceMs'], value: '3000' },
        { channel: undefined, path: ['settings', 'sendFallbackOnFailure'], value: 'true' },
        { channel: 'pancake', path: ['pageIds'], value: '111, 222' },
        { channel: 'messenger', path: ['pages', 'P1', 'accessToken'], value: 'EAAB' },
      ],
    );
    expect(doc).toEqual({
      tenantId: 'acme',
      settings: { debounceMs: 3000, sendFallbackOnFailure: true },
      channels: {
        pancake: { pageIds: ['111', '222'] },
        messenger: { pages: { P1: { accessToken: 'EAAB' } } },
      },
    });
  });

  it('refuses a non-numeric value for a numeric setting', () => {
    expect(() =>
      applySets({}, [], [{ channel: undefined, path: ['settings', 'debounceMs'], value: 'soon' }]),
    ).toThrow(/not a number/);
  });

  it('generates only the missing webhook, verify and secret tokens', () => {
    const doc: DraftDocument = {
      tenantId: 'acme',
      channels: {
        pancake: { pageIds: ['1'], pageAccessToken: 'p' },
        messenger: { verifyToken: 'mine' },
        telegram: { botToken: '1:a' },
        zalo: {},
      },
    };
    expect(generateMissingTokens(doc).sort()).toEqual(['pancake.webhookToken', 'telegram.secretToken']);
    const channels = doc.channels as Record<string, Record<string, string>>;
    expect(channels.messenger?.verifyToken).toBe('mine');
    expect(channels.pancake?.webhookToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(channels.telegram?.secretToken).toMatch(TELEGRAM_SECRET_PATTERN);
  });

  it('generates distinct URL-safe tokens from a Telegram-safe alphabet', () => {
    const tokens = new Set(Array.from({ length: 50 }, () => generateToken()));
    expect(tokens.size).toBe(50);
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('masks every credential, keeping only its last four characters', () => {
    const masked = maskDocument({
      tenantId: 'acme',
      channels: {
        pancake: {
          pageIds: ['12345'],
          pageAccessToken: 'abcdefghijkl',
          pageAccessTokens: { '12345': 'zzzzzzzz9999' },
        },
        telegram: { botToken: '123456:ABCDEFGH', secretToken: 'short' },
      },
      settings: { persona: 'friendly' },
    });
    expect(masked).toEqual({
      tenantId: 'acme',
      channels: {
        pancake: {
          pageIds: ['12345'],
          pageAccessToken: '****ijkl',
          pageAccessTokens: { '12345': '****9999' },
        },
        telegram: { botToken: '****EFGH', secretToken: '****' },
      },
      settings: { persona: 'friendly' },
    });
    expect(maskToken('123456789')).toBe('****6789');
  });
});

describe('webhook setup text', () => {
  const tenant = parseTenantDocument({
    tenantId: 'acme',
    channels: {
      pancake: { pageIds: ['p1'], pageAccessToken: 'pat', webhookToken: 'wh-token-123456' },
      messenger: { appSecret: 's', verifyToken: 'verify-123456', pages: { P1: { accessToken: 'a' } } },
      whatsapp: { appSecret: 's', verifyToken: 'wa-verify-1234', accessToken: 'a', phoneNumberIds: ['n1'] },
      telegram: { botToken: '42:BOTtoken', secretToken: 'tg-secret-1234' },
      zalo: { oaId: 'oa1', oaSecretKey: 'k', accessToken: 'a' },
    },
  });

  it('builds webhook URLs without doubling slashes or the /webhooks segment', () => {
    expect(webhookUrl('https://api.example/', 'telegram', 'acme')).toBe(
      'https://api.example/webhooks/telegram/acme',
    );
    expect(webhookUrl('https://api.example/webhooks', 'zalo', 'acme')).toBe(
      'https://api.example/webhooks/zalo/acme',
    );
  });

  it('prints the exact step per platform with the real tokens when revealed', () => {
    const text = formatSetups(channelSetups(tenant, 'https://api.example', true));
    expect(text).toContain('https://api.example/webhooks/pancake/acme?token=wh-token-123456');
    expect(text).toContain('Callback URL: https://api.example/webhooks/messenger/acme');
    expect(text).toContain('Verify token: verify-123456');
    expect(text).toContain('messages, messaging_postbacks, message_echoes');
    expect(text).toMatch(/\[whatsapp\][\s\S]*subscribe the field: messages/);
    expect(text).toContain(
      'curl https://api.telegram.org/bot42:BOTtoken/setWebhook -d url=https://api.example/webhooks/telegram/acme -d secret_token=tg-secret-1234',
    );
    expect(text).toMatch(/Zalo developer console[\s\S]*https:\/\/api\.example\/webhooks\/zalo\/acme/);
  });

  it('masks every token in the setup text unless revealed', () => {
    const text = formatSetups(channelSetups(tenant, BASE_URL_PLACEHOLDER, false));
    for (const secret of [
      'wh-token-123456',
      'verify-123456',
      'BOTtoken',
      'tg-secret-1234',
      'wa-verify-1234',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('<WebhookBaseUrl>/webhooks/telegram/acme');
  });
});
