/**
 * Log redaction: which values of a tenant document count as secrets, and how they (and
 * prefixes of them) are blanked out of log text, through the shared Powertools Logger too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { logger } from '../../../lambdas/shared/powertools.js';
import {
  clearSecrets,
  MIN_PARTIAL_LENGTH,
  MIN_SECRET_LENGTH,
  REDACTED,
  redactSecrets,
  registerSecrets,
  registerTenantSecrets,
  tenantSecretValues,
} from '../../../lambdas/shared/redact.js';

const META_TOKEN = `EAAG${'x7Yq'.repeat(60)}`; // 244 characters, like a real page token

const channels = {
  pancake: {
    pageIds: ['1234567890123'],
    pageAccessToken: 'pancake-page-token-1',
    pageAccessTokens: { '1234567890123': 'pancake-override-2' },
    webhookToken: 'pancake-webhook-3',
    signingSecret: 'pancake-signing-4',
  },
  messenger: {
    appSecret: 'meta-app-secret-5',
    verifyToken: 'verify-token-6',
    appId: '998877665544',
    pages: { '110000000000001': { accessToken: META_TOKEN } },
  },
  whatsapp: {
    appSecret: 'wa-app-secret-7',
    verifyToken: 'short',
    accessToken: 'wa-access-token-8',
    phoneNumberIds: ['15550001234'],
  },
  telegram: { botToken: '5550001:AAH-secret_bot_token9', secretToken: 'tg_secret-Token_10' },
  zalo: {
    oaId: '4321987654321',
    appId: '1122334455',
    oaSecretKey: 'zalo-oa-key-11',
    accessToken: 'zalo-token-12',
  },
};

afterEach(() => clearSecrets());

describe('tenantSecretValues', () => {
  it('takes every string leaf under channels except *Id / *Ids fields, plus the Telegram secret half', () => {
    expect(tenantSecretValues(channels).sort()).toEqual(
      [
        'pancake-page-token-1',
        'pancake-override-2',
        'pancake-webhook-3',
        'pancake-signing-4',
        'meta-app-secret-5',
        'verify-token-6',
        META_TOKEN,
        'wa-app-secret-7',
        'short',
        'wa-access-token-8',
        '5550001:AAH-secret_bot_token9',
        'AAH-secret_bot_token9',
        'tg_secret-Token_10',
        'zalo-oa-key-11',
        'zalo-token-12',
      ].sort(),
    );
  });
});

describe('redactSecrets', () => {
  it('replaces every registered secret of a tenant, wherever it sits in the text', () => {
    registerTenantSecrets({ channels });
    const text = `a=pancake-page-token-1 b=bot5550001:AAH-secret_bot_token9/sendMessage c="zalo-token-12".`;
    expect(redactSecrets(text)).toBe(`a=${REDACTED} b=bot${REDACTED}/sendMessage c="${REDACTED}".`);
  });

  it('leaves ids and strings shorter than the minimum untouched', () => {
    registerTenantSecrets({ channels });
    const text = 'page 110000000000001 phone 15550001234 oa 4321987654321 app 998877665544 said short';
    expect(redactSecrets(text)).toBe(text);
    expect('short'.length).toBeLessThan(MIN_SECRET_LENGTH);
  });

  it('redacts a token cut short by a 200-character error snippet, and its URL-encoded form', () => {
    registerSecrets([META_TOKEN, 'a+b/c=d&e-secret']);
    const quoted = `Error validating access token ${META_TOKEN}`.slice(0, 200);
    expect(redactSecrets(quoted)).toBe(`Error validating access token ${REDACTED}`);
    expect(redactSecrets(`?access_token=${encodeURIComponent('a+b/c=d&e-secret')}&x=1`)).toBe(
      `?access_token=${REDACTED}&x=1`,
    );
  });

  it('redacts back-to-back secrets and keeps the text between them', () => {
    registerSecrets(['first-secret-aaa', 'second-secret-bbb']);
    expect(redactSecrets('first-secret-aaasecond-secret-bbb|first-secret-aaa')).toBe(
      `${REDACTED}${REDACTED}|${REDACTED}`,
    );
  });

  it('leaves short prefixes alone: ordinary words a secret starts with, and the public Telegram bot id', () => {
    registerSecrets(['messenger-app-secret', '7012345678:AAH_telegram-secret']);
    const text = 'channel messenger-app page, chat 7012345678:555001, turn messenger-1';
    expect(redactSecrets(text)).toBe(text);
    expect(redactSecrets('x messenger-app-secret y 7012345678:AAH_telegram-secret')).toBe(
      `x ${REDACTED} y ${REDACTED}`,
    );
    // A cut-off secret is redacted once MIN_PARTIAL_LENGTH of its characters show.
    expect(redactSecrets('7012345678:AAH_tel…')).toBe(`${REDACTED}…`);
    expect(MIN_PARTIAL_LENGTH).toBe(16);
  });

  it('returns text as it is when no secret is registered', () => {
    expect(redactSecrets('pancake-page-token-1')).toBe('pancake-page-token-1');
  });
});

describe('the shared logger', () => {
  it('writes no registered secret in messages, extra keys, errors or their causes', () => {
    registerTenantSecrets({ channels });
    const lines: string[] = [];
    // Powertools writes to process.stdout/stderr through its own Console: capture both.
    const streams = [process.stdout, process.stderr] as const;
    const originals = streams.map((s) => s.write);
    for (const stream of streams) {
      stream.write = ((chunk: unknown) => {
        lines.push(String(chunk));
        return true;
      }) as typeof stream.write;
    }
    const level = logger.getLevelName();
    try {
      logger.setLogLevel('DEBUG');
      const cause = new Error(`Graph error 190 (Error validating access token ${META_TOKEN})`);
      logger.error('Reply part refused by the platform, not retried', {
        error: 'zalo send: Zalo error -216 (Access token zalo-token-12 is invalid)',
        nested: { list: ['wa-access-token-8'] },
        err: new Error('telegram: Unauthorized bot5550001:AAH-secret_bot_token9', { cause }),
      });
    } finally {
      logger.setLogLevel(level);
      streams.forEach((stream, i) => {
        stream.write = originals[i] as typeof stream.write;
      });
    }
    const all = lines.join('\n');
    expect(all).toContain('Reply part refused by the platform');
    expect(all).toContain(REDACTED);
    for (const secret of tenantSecretValues(channels).filter((s) => s.length >= MIN_SECRET_LENGTH)) {
      expect(all, secret.slice(0, 12)).not.toContain(secret.slice(0, MIN_SECRET_LENGTH));
    }
  });
});
