/**
 * Zalo access-token refresh against the emulators (Secrets Manager for the tenant secret,
 * dynalite for the refresh lock) and the sandbox's Zalo OAuth endpoint, through the real Zalo
 * sender: ahead of expiry, on the expired-token error, one refresher across containers, a
 * refused refresh, and tenants without refresh settings.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type Emulators,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startEmulators,
} from '../../bin/local/emulators.js';
import { type Sandbox, startSandbox } from '../../bin/local/sandbox.js';
import { createZaloSender } from '../../lambdas/channels/send/zalo.js';
import type { SendTarget } from '../../lambdas/channels/types.js';
import {
  createZaloTokenProvider,
  ZALO_LOCK_SK,
  type ZaloTokenOptions,
  zaloLockPk,
} from '../../lambdas/channels/zalo-token.js';
import { documentClient, resetClients } from '../../lambdas/shared/clients.js';
import { PermanentSendError } from '../../lambdas/shared/errors.js';
import { parseTenantDocument, type TenantDocument, tenantSecretName } from '../../lambdas/shared/tenant.js';

let emulators: Emulators;
let sandbox: Sandbox;
let sm: SecretsManagerClient;
let run = 0;

const HOUR = 3_600_000;
const NOW = 1_900_000_000_000;

beforeAll(async () => {
  emulators = await startEmulators();
  Object.assign(process.env, emulators.env);
  resetClients();
  sandbox = await startSandbox();
  sm = new SecretsManagerClient({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: emulators.secrets.endpoint,
  });
});

afterAll(async () => {
  sm?.destroy();
  await sandbox?.stop();
  resetClients();
  await emulators?.stop();
});

beforeEach(() => {
  sandbox.clear();
  run += 1;
});

interface Setup {
  readonly tenant: TenantDocument;
  readonly target: SendTarget;
  readonly secret: string;
}

/** A tenant with a Zalo pair, stored as its secret. */
function setup(zalo: Record<string, unknown>): Setup {
  const tenantId = `zt-${run}-${Math.random().toString(36).slice(2, 8)}`;
  const tenant = parseTenantDocument({
    tenantId,
    channels: {
      zalo: { oaId: 'oa1', oaSecretKey: 'oa-key', appId: 'app1', appSecretKey: 'app-secret', ...zalo },
    },
    settings: { persona: 'kept as is' },
  });
  const secret = tenantSecretName(emulators.secretPrefix, tenantId);
  emulators.secrets.putSecret(secret, JSON.stringify(tenant));
  return {
    tenant,
    secret,
    target: {
      tenant,
      channel: 'zalo',
      pageId: 'oa1',
      conversationId: 'oa1:u1',
      recipientId: 'u1',
      surface: 'inbox',
    },
  };
}

/** A tenant (as `setup`) whose stored access token Zalo already answers as expired. */
function setupExpired(zalo: Record<string, unknown> & { accessToken: string }): Setup {
  const s = setup(zalo);
  sandbox.zaloOAuth.expire(zalo.accessToken);
  return s;
}

/** Another container's refresh lock on the tenant, held by `owner` until `leaseUntil`. */
async function holdLock(tenantId: string, owner: string, leaseUntil: number): Promise<void> {
  await documentClient().send(
    new PutCommand({
      TableName: emulators.tables.memory,
      Item: { pk: zaloLockPk(tenantId), sk: ZALO_LOCK_SK, owner, leaseUntil },
    }),
  );
}

async function stored(secret: string): Promise<Record<string, unknown>> {
  const out = await sm.send(new GetSecretValueCommand({ SecretId: secret }));
  return JSON.parse(out.SecretString ?? '{}') as Record<string, unknown>;
}

function zaloOf(doc: Record<string, unknown>): Record<string, unknown> {
  return (doc.channels as Record<string, Record<string, unknown>>).zalo ?? {};
}

/** A fetch that records the `access_token` header of every Zalo send. */
function recordingFetch(tokens: string[]): typeof fetch {
  return (input, init) => {
    const header = new Headers(init?.headers).get('access_token');
    if (header !== null) tokens.push(header);
    return globalThis.fetch(input, init);
  };
}

/** A sender with its own token provider (one "container"). */
function container(
  options: Partial<ZaloTokenOptions> & { sent?: string[]; metrics?: string[] } = {},
): ReturnType<typeof createZaloSender> {
  const fetchImpl = recordingFetch(options.sent ?? []);
  return createZaloSender({
    bases: () => sandbox.baseUrls,
    fetch: fetchImpl,
    tokens: createZaloTokenProvider({
      fetch: fetchImpl,
      oauthBase: () => `${sandbox.url}/sandbox/zalo-oauth`,
      now: () => NOW,
      sleep: async () => {},
      onWritten: () => {},
      metric: (name, _value, dims) => options.metrics?.push(`${name}:${dims.reason}`),
      ...options,
    }),
  });
}

const delivered = () => sandbox.messages().filter((r) => r.delivered);

describe('Zalo token refresh', () => {
  it('refreshes a token that expires within the hour before sending, and writes the new pair to the tenant secret', async () => {
    const s = setup({
      accessToken: 'old-access',
      refreshToken: 'old-refresh',
      accessTokenExpiresAt: NOW + HOUR / 2,
    });
    const sent: string[] = [];
    const result = await container({ sent }).sendText(s.target, 'hello');

    expect(sandbox.zaloOAuth.exchanges().map((e) => [e.grantType, e.ok])).toEqual([['refresh_token', true]]);
    const zalo = zaloOf(await stored(s.secret));
    expect(zalo.accessToken).not.toBe('old-access');
    expect(zalo.refreshToken).not.toBe('old-refresh');
    expect(zalo.accessTokenExpiresAt).toBe(NOW + 90_000_000);
    // The rest of the document is kept.
    expect(zalo.oaSecretKey).toBe('oa-key');
    expect((await stored(s.secret)).settings).toEqual({ persona: 'kept as is' });
    expect(sent).toEqual([zalo.accessToken]);
    expect(delivered().map((r) => [r.text, r.messageId])).toEqual([['hello', result.platformMessageId]]);
  });

  it('sends with the stored token while it is far from expiry, without refreshing', async () => {
    const s = setup({ accessToken: 'fresh', refreshToken: 'r', accessTokenExpiresAt: NOW + 20 * HOUR });
    const sent: string[] = [];
    await container({ sent }).sendText(s.target, 'hi');
    expect(sent).toEqual(['fresh']);
    expect(sandbox.zaloOAuth.exchanges()).toEqual([]);
    expect(zaloOf(await stored(s.secret)).accessToken).toBe('fresh');
  });

  it('on the expired-token error refreshes, sends once more and delivers the reply exactly once', async () => {
    const s = setupExpired({
      accessToken: 'expired-a',
      refreshToken: 'ref-a',
      accessTokenExpiresAt: NOW + 20 * HOUR,
    });
    const sent: string[] = [];
    await container({ sent }).sendText(s.target, 'once');

    const attempts = sandbox.messages().filter((r) => r.api === 'zalo');
    expect(attempts.map((r) => [r.delivered, (r as { status: number }).status])).toEqual([
      [false, 200],
      [true, 200],
    ]);
    expect(delivered().map((r) => r.text)).toEqual(['once']);
    const zalo = zaloOf(await stored(s.secret));
    expect(sent).toEqual(['expired-a', zalo.accessToken]);
    expect(sandbox.zaloOAuth.exchanges()).toHaveLength(1);
  });

  it('spends a refresh token once when two containers hit the expired token together; both deliver with the pair in the secret', async () => {
    const s = setupExpired({
      accessToken: 'shared-old',
      refreshToken: 'shared-ref',
      accessTokenExpiresAt: NOW + 20 * HOUR,
    });
    const sentA: string[] = [];
    const sentB: string[] = [];
    // Container B, finding the lock taken, re-reads the secret between real pauses.
    const b = container({
      sent: sentB,
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))),
      waitAttempts: 200,
    });
    const a = container({ sent: sentA });
    await Promise.all([a.sendText(s.target, 'from a'), b.sendText(s.target, 'from b')]);

    expect(sandbox.zaloOAuth.exchanges().map((e) => e.ok)).toEqual([true]);
    const zalo = zaloOf(await stored(s.secret));
    expect(sentA.at(-1)).toBe(zalo.accessToken);
    expect(sentB.at(-1)).toBe(zalo.accessToken);
    expect(
      delivered()
        .map((r) => r.text)
        .sort(),
    ).toEqual(['from a', 'from b']);
  });

  it('adopts the pair another container wrote while it held the lock, without spending the refresh token', async () => {
    const s = setupExpired({
      accessToken: 'stale',
      refreshToken: 'spent-elsewhere',
      accessTokenExpiresAt: NOW + 20 * HOUR,
    });
    await holdLock(s.tenant.tenantId, 'other', NOW + 60_000);
    let pauses = 0;
    const sent: string[] = [];
    const sender = container({
      sent,
      sleep: async () => {
        pauses += 1;
        // The other container finishes its refresh during the second pause.
        if (pauses === 2) {
          emulators.secrets.putSecret(
            s.secret,
            JSON.stringify({
              ...s.tenant,
              channels: {
                zalo: {
                  ...s.tenant.channels.zalo,
                  accessToken: 'written-by-other',
                  refreshToken: 'next',
                  accessTokenExpiresAt: NOW + 25 * HOUR,
                },
              },
            }),
          );
        }
      },
    });
    await sender.sendText(s.target, 'adopted');
    expect(pauses).toBe(2);
    expect(sent).toEqual(['stale', 'written-by-other']);
    expect(sandbox.zaloOAuth.exchanges()).toEqual([]);
    expect(delivered().map((r) => r.text)).toEqual(['adopted']);
  });

  it('gives the part back (retryable) when another container holds the lock and no new pair shows up', async () => {
    const s = setupExpired({
      accessToken: 'stuck',
      refreshToken: 'r',
      accessTokenExpiresAt: NOW + 20 * HOUR,
    });
    await holdLock(s.tenant.tenantId, 'other', NOW + 60_000);
    const err = await container({ waitAttempts: 3 })
      .sendText(s.target, 'later')
      .catch((e: unknown) => e);
    expect((err as { platformCode?: string }).platformCode).toBe('ZALO_TOKEN_REFRESHING');
    expect(err).not.toBeInstanceOf(PermanentSendError);
    expect(sandbox.zaloOAuth.exchanges()).toEqual([]);
    expect(delivered()).toEqual([]);
  });

  it('takes over a lock whose lease ran out (its holder died) and refreshes', async () => {
    const s = setupExpired({
      accessToken: 'dead-holder',
      refreshToken: 'r2',
      accessTokenExpiresAt: NOW + 20 * HOUR,
    });
    await holdLock(s.tenant.tenantId, 'dead', NOW - 1);
    await container().sendText(s.target, 'taken over');
    expect(sandbox.zaloOAuth.exchanges().map((e) => e.ok)).toEqual([true]);
    expect(delivered().map((r) => r.text)).toEqual(['taken over']);
  });

  it('counts ZaloTokenRefreshFailed and fails the send as token-invalid when Zalo refuses the refresh token', async () => {
    const s = setupExpired({
      accessToken: 'dead',
      refreshToken: 'revoked',
      accessTokenExpiresAt: NOW + 20 * HOUR,
    });
    sandbox.zaloOAuth.revoke('revoked');
    const metrics: string[] = [];
    const err = await container({ metrics })
      .sendText(s.target, 'lost')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentSendError);
    expect((err as PermanentSendError).tokenInvalid).toBe(true);
    expect((err as PermanentSendError).platformCode).toBe('-14014');
    expect(metrics).toEqual(['ZaloTokenRefreshFailed:refused']);
    expect(delivered()).toEqual([]);
    expect(zaloOf(await stored(s.secret)).refreshToken).toBe('revoked');
  });

  it('still sends with a token that has not expired yet when the refresh ahead of expiry is refused', async () => {
    const s = setup({ accessToken: 'soon', refreshToken: 'revoked2', accessTokenExpiresAt: NOW + HOUR / 4 });
    sandbox.zaloOAuth.revoke('revoked2');
    const metrics: string[] = [];
    const sent: string[] = [];
    await container({ metrics, sent }).sendText(s.target, 'still works');
    expect(sent).toEqual(['soon']);
    expect(metrics).toEqual(['ZaloTokenRefreshFailed:refused']);
    expect(delivered().map((r) => r.text)).toEqual(['still works']);
  });

  it('uses the stored token as is, and fails for good on expiry, when the tenant has no refresh settings', async () => {
    const s = setupExpired({ accessToken: 'manual', appSecretKey: undefined });
    const err = await container()
      .sendText(s.target, 'no refresh')
      .catch((e: unknown) => e);
    expect((err as PermanentSendError).tokenInvalid).toBe(true);
    expect((err as PermanentSendError).platformCode).toBe('-124');
    expect(sandbox.zaloOAuth.exchanges()).toEqual([]);
    expect(sandbox.messages().filter((r) => r.api === 'zalo')).toHaveLength(1);
  });

  it('keeps using the pair it refreshed when its cached tenant document is older', async () => {
    const s = setupExpired({ accessToken: 'v1', refreshToken: 'rv1', accessTokenExpiresAt: NOW + 20 * HOUR });
    const sent: string[] = [];
    const sender = container({ sent });
    await sender.sendText(s.target, 'first');
    // The same (stale) document again: the container knows the newer token.
    await sender.sendText(s.target, 'second');
    const zalo = zaloOf(await stored(s.secret));
    expect(sent).toEqual(['v1', zalo.accessToken, zalo.accessToken]);
    expect(sandbox.zaloOAuth.exchanges()).toHaveLength(1);
  });
});
