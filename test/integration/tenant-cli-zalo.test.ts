/**
 * `npm run tenant -- zalo-authorize`: exchanges an OAuth authorization code at the sandbox's Zalo
 * OAuth endpoint (ZALO_OAUTH_BASE) and stores the first token pair in the tenant secret, against
 * the Secrets Manager emulator.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Sandbox, startSandbox } from '../../bin/local/sandbox.js';
import { type SecretsManagerEmulator, startSecretsManager } from '../../bin/local/secrets-manager.js';
import { parseArgs, UsageError } from '../../bin/tenant/args.js';
import { EXIT, runTenantCli } from '../../bin/tenant/cli.js';
import { parseTenantDocument, tenantSecretName } from '../../lambdas/shared/tenant.js';

let secrets: SecretsManagerEmulator;
let sandbox: Sandbox;
let sm: SecretsManagerClient;

beforeAll(async () => {
  secrets = await startSecretsManager();
  sandbox = await startSandbox();
  sm = new SecretsManagerClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    endpoint: secrets.endpoint,
  });
});

afterAll(async () => {
  sm?.destroy();
  await sandbox?.stop();
  await secrets?.stop();
});

beforeEach(() => {
  sandbox.clear();
  vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', secrets.endpoint);
  vi.stubEnv('AWS_REGION', 'us-east-1');
});

const NAME = (id: string) => tenantSecretName('chat-relay', id);

function store(tenantId: string, zalo?: Record<string, unknown>): void {
  const doc = parseTenantDocument({
    tenantId,
    channels: {
      ...(zalo ? { zalo: { oaId: 'oa1', oaSecretKey: 'oa-key', accessToken: 'placeholder', ...zalo } } : {}),
      telegram: { botToken: '1:abc', secretToken: 's' },
    },
  });
  secrets.putSecret(NAME(tenantId), JSON.stringify(doc));
}

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTenantCli(argv, {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    env: { ZALO_OAUTH_BASE: `${sandbox.url}/sandbox/zalo-oauth` },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function zaloOf(tenantId: string): Promise<Record<string, unknown>> {
  const raw = (await sm.send(new GetSecretValueCommand({ SecretId: NAME(tenantId) }))).SecretString ?? '{}';
  return (JSON.parse(raw) as { channels: { zalo: Record<string, unknown> } }).channels.zalo;
}

describe('zalo-authorize arguments', () => {
  it('needs --code, and its flags belong to zalo-authorize only', () => {
    expect(() => parseArgs(['zalo-authorize', 'acme'])).toThrow(UsageError);
    expect(() => parseArgs(['update', 'acme', '--code', 'x'])).toThrow(/only for zalo-authorize/);
    expect(parseArgs(['zalo-authorize', 'acme', '--code=c1', '--code-verifier', 'v1'])).toMatchObject({
      command: 'zalo-authorize',
      tenantId: 'acme',
      code: 'c1',
      codeVerifier: 'v1',
    });
  });
});

describe('zalo-authorize', () => {
  it('exchanges the code and stores the pair, its expiry, the app id and key; the rest of the document is kept', async () => {
    store('za1', {});
    const before = Date.now();
    const res = await run([
      'zalo-authorize',
      'za1',
      '--code',
      'code-1',
      '--app-id',
      'app-9',
      '--app-secret-key',
      'sk-9',
    ]);
    expect(res.err).toBe('');
    expect(res.code).toBe(EXIT.ok);
    expect(res.out).toMatch(/Authorized Zalo for tenant "za1"/);
    const zalo = await zaloOf('za1');
    expect(zalo).toMatchObject({ oaId: 'oa1', oaSecretKey: 'oa-key', appId: 'app-9', appSecretKey: 'sk-9' });
    expect(zalo.accessToken).not.toBe('placeholder');
    expect(typeof zalo.refreshToken).toBe('string');
    expect(zalo.accessTokenExpiresAt).toBeGreaterThanOrEqual(before + 90_000_000);
    // The tokens are never printed.
    expect(res.out).not.toContain(String(zalo.accessToken));
    expect(res.out).not.toContain(String(zalo.refreshToken));
    expect(sandbox.zaloOAuth.exchanges().map((e) => [e.grantType, e.ok])).toEqual([
      ['authorization_code', true],
    ]);
    const raw = JSON.parse(
      (await sm.send(new GetSecretValueCommand({ SecretId: NAME('za1') }))).SecretString ?? '{}',
    ) as { channels: Record<string, unknown> };
    expect(raw.channels.telegram).toEqual({ botToken: '1:abc', secretToken: 's' });
  });

  it('uses the app id and key already on the tenant, and refuses a code spent before (exit 2, nothing written)', async () => {
    store('za2', { appId: 'app-2', appSecretKey: 'sk-2' });
    expect((await run(['zalo-authorize', 'za2', '--code', 'code-2', '--code-verifier', 'pkce'])).code).toBe(
      EXIT.ok,
    );
    const first = await zaloOf('za2');
    const again = await run(['zalo-authorize', 'za2', '--code', 'code-2']);
    expect(again.code).toBe(EXIT.usage);
    expect(again.err).toMatch(/refused.*single-use/s);
    expect(await zaloOf('za2')).toEqual(first);
  });

  it('says what is missing: no zalo channel, no app secret key', async () => {
    store('za3');
    const noZalo = await run(['zalo-authorize', 'za3', '--code', 'c']);
    expect(noZalo.code).toBe(EXIT.usage);
    expect(noZalo.err).toMatch(/no zalo channel/);
    store('za4', { appId: 'app-4' });
    const noKey = await run(['zalo-authorize', 'za4', '--code', 'c']);
    expect(noKey.code).toBe(EXIT.usage);
    expect(noKey.err).toMatch(/--app-secret-key/);
    expect(sandbox.zaloOAuth.exchanges()).toEqual([]);
  });
});
