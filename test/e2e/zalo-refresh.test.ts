/**
 * Zalo token refresh end to end (issue 13): the local stack's sandbox plays Zalo's OAuth endpoint
 * (`/sandbox/zalo-oauth`, the stack's default ZALO_OAUTH_BASE) and expires the tenant's access
 * token on demand. The next reply's send is refused for expiry, the delivery function refreshes
 * the token, writes the new pair into the tenant secret and sends again: the customer gets the
 * reply exactly once, and later replies use the new token without another refresh.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SECRET_PREFIX } from '../../lambdas/contracts/defaults.js';
import { parseTenantDocument, tenantSecretName } from '../../lambdas/shared/tenant.js';
import { type LocalStackProcess, startLocalStackProcess } from '../helpers/local-stack.js';
import { customerWebhook, e2eTenant, HANG_MS, newCustomer, repliesTo, tag } from './support.js';

const base = e2eTenant('zrefresh');
const tenant = parseTenantDocument({
  ...base,
  channels: {
    ...base.channels,
    zalo: {
      ...base.channels.zalo!,
      refreshToken: 'e2e-refresh-1',
      appSecretKey: 'e2e-app-secret-key',
      // Far from expiry: only Zalo's refusal can trigger the refresh.
      accessTokenExpiresAt: Date.now() + 20 * 3_600_000,
    },
  },
});
const firstToken = tenant.channels.zalo!.accessToken;

let stack: LocalStackProcess;
let sm: SecretsManagerClient;

beforeAll(async () => {
  stack = await startLocalStackProcess({ tenants: [tenant] });
  sm = new SecretsManagerClient({
    region: stack.state.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    endpoint: stack.state.endpoints.secretsmanager,
  });
});

afterAll(async () => {
  sm?.destroy();
  const stopped = await stack?.stop();
  expect(stopped?.code).toBe(0);
});

async function sandbox(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${stack.url}/sandbox/zalo-oauth${path}`, init);
}

async function storedZalo(): Promise<Record<string, unknown>> {
  const out = await sm.send(
    new GetSecretValueCommand({ SecretId: tenantSecretName(DEFAULT_SECRET_PREFIX, tenant.tenantId) }),
  );
  const doc = JSON.parse(out.SecretString ?? '{}') as { channels: { zalo: Record<string, unknown> } };
  return doc.channels.zalo;
}

describe('Zalo token refresh', () => {
  it(
    'refreshes on the expired-token error, delivers the reply once and keeps the new pair',
    async () => {
      const t = tag();
      const customer = newCustomer('zalo');
      const zaloAttempts = (records: Awaited<ReturnType<LocalStackProcess['messages']>>) =>
        records.filter((r) => r.api === 'zalo' && customer.owns(r));

      // 1. Answered with the stored token.
      expect((await stack.post(customerWebhook(tenant, customer, `one ${t}`))).status).toBe(200);
      await stack.waitForMessages((r) => repliesTo(r, customer).length >= 1, HANG_MS, 'the first reply');

      // 2. Zalo now says the token has expired.
      const expired = await sandbox('/expire', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ accessToken: firstToken }),
      });
      expect(expired.status).toBe(204);
      expect((await stack.post(customerWebhook(tenant, customer, `two ${t}`))).status).toBe(200);
      const records = await stack.waitForMessages(
        (r) => repliesTo(r, customer).length >= 2,
        HANG_MS,
        `the second reply\n${stack.output().slice(-3000)}`,
      );

      // The send failed for expiry, then went through once: no duplicate, nothing else tried.
      expect(zaloAttempts(records).map((r) => [r.delivered, r.text])).toEqual([
        [true, `echo: one ${t}`],
        [false, `echo: two ${t}`],
        [true, `echo: two ${t}`],
      ]);
      const exchanges = (await (await sandbox('/exchanges')).json()) as { grantType: string; ok: boolean }[];
      expect(exchanges.map((e) => [e.grantType, e.ok])).toEqual([['refresh_token', true]]);

      // The new pair is in the tenant secret.
      const zalo = await storedZalo();
      expect(zalo.accessToken).not.toBe(firstToken);
      expect(zalo.refreshToken).not.toBe('e2e-refresh-1');
      expect(zalo.accessTokenExpiresAt).toBeGreaterThan(Date.now() + 24 * 3_600_000);
      expect(zalo.appSecretKey).toBe('e2e-app-secret-key');

      // 3. Later replies use the new token: delivered at the first attempt, no new refresh.
      expect((await stack.post(customerWebhook(tenant, customer, `three ${t}`))).status).toBe(200);
      const later = await stack.waitForMessages(
        (r) => repliesTo(r, customer).length >= 3,
        HANG_MS,
        'the third reply',
      );
      expect(
        zaloAttempts(later)
          .slice(3)
          .map((r) => [r.delivered, r.text]),
      ).toEqual([[true, `echo: three ${t}`]]);
      expect(repliesTo(later, customer)).toEqual([`echo: one ${t}`, `echo: two ${t}`, `echo: three ${t}`]);
      expect(((await (await sandbox('/exchanges')).json()) as unknown[]).length).toBe(1);
    },
    3 * HANG_MS,
  );
});
