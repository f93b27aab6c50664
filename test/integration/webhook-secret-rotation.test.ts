/**
 * The webhook logic with a real tenant store (Secrets Manager emulator, injected clock): a
 * platform secret rotated after the document was cached is accepted at the first request signed
 * with it, without waiting for the cache TTL, and forged requests cost at most one re-read per
 * tenant per interval.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type SecretsManagerEmulator, startSecretsManager } from '../../bin/local/secrets-manager.js';
import { createDemoTenant } from '../../bin/local/tenants.js';
import { type BuiltWebhook, buildWebhook } from '../../bin/local/webhook-builder.js';
import { adapterFor } from '../../lambdas/channels/index.js';
import { createWebhookHandler, type WebhookHandler } from '../../lambdas/ingest/webhook.js';
import type { ChannelName } from '../../lambdas/shared/model.js';
import type { QueueEntry } from '../../lambdas/shared/queue.js';
import { parseTenantDocument, type TenantDocument, tenantSecretName } from '../../lambdas/shared/tenant.js';
import type { TenantStore } from '../../lambdas/shared/tenant-store.js';
import { emulatorTenantStore } from '../helpers/tenant-store.js';

const PREFIX = 'rotation-test';
const INTERVAL_MS = 60_000;

let sm: SecretsManagerEmulator;
let clock = 1_000_000;
const stores: TenantStore[] = [];

function put(doc: TenantDocument): void {
  sm.putSecret(tenantSecretName(PREFIX, doc.tenantId), JSON.stringify(doc));
}

function rotated(doc: TenantDocument, secretToken: string, appSecret: string): TenantDocument {
  return parseTenantDocument({
    ...doc,
    channels: {
      ...doc.channels,
      telegram: { ...doc.channels.telegram, secretToken },
      messenger: { ...doc.channels.messenger, appSecret },
    },
  });
}

function event(channel: ChannelName, tenantId: string, built: BuiltWebhook): APIGatewayProxyEventV2 {
  const query = new URLSearchParams(built.query).toString();
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{channel}/{tenantId}',
    rawPath: built.path,
    rawQueryString: query,
    ...(query ? { queryStringParameters: built.query } : {}),
    headers: { 'content-type': 'application/json', ...built.headers },
    pathParameters: { channel, tenantId },
    requestContext: { http: { method: 'POST' } } as APIGatewayProxyEventV2['requestContext'],
    isBase64Encoded: false,
    body: built.body,
  };
}

function wire(): { handle: WebhookHandler; sent: QueueEntry[]; infos: string[] } {
  const store = emulatorTenantStore(sm, {
    ttlMs: 3_600_000,
    refreshIntervalMs: INTERVAL_MS,
    now: () => clock,
    secretPrefix: PREFIX,
  });
  stores.push(store);
  const sent: QueueEntry[] = [];
  const infos: string[] = [];
  const handle = createWebhookHandler({
    loadTenant: (id, signal) => store.load(id, { abortSignal: signal }),
    refreshTenant: (id, signal) => store.refresh(id, { abortSignal: signal }),
    adapterFor,
    send: async (entries) => {
      sent.push(...entries);
      return { sent: entries.map((e) => e.id), failed: [] };
    },
    metric: () => {},
    logger: {
      debug: () => {},
      info: (message) => {
        infos.push(message);
      },
      warn: () => {},
      error: () => {},
    },
    now: () => clock,
  });
  return { handle, sent, infos };
}

beforeAll(async () => {
  sm = await startSecretsManager();
});

afterEach(() => {
  for (const s of stores.splice(0)) s.destroy();
});

afterAll(async () => {
  await sm.stop();
});

describe('webhook with a rotated tenant secret', () => {
  for (const channel of ['telegram', 'messenger'] as const) {
    it(`accepts a ${channel} request signed with a secret rotated after caching, with one re-read`, async () => {
      const tenantId = `rot-${channel}`;
      const before = parseTenantDocument({ ...createDemoTenant(), tenantId });
      put(before);
      const { handle, sent } = wire();
      const first = await handle(
        event(channel, tenantId, buildWebhook({ tenant: before, channel, now: clock })),
      );
      expect(first.statusCode).toBe(200);

      const after = rotated(before, 'rotated-secret-token-0001', 'rotated-app-secret-0001');
      put(after);
      clock += INTERVAL_MS;
      const reads = sm.getCount();
      const res = await handle(
        event(channel, tenantId, buildWebhook({ tenant: after, channel, now: clock })),
      );
      expect(res.statusCode).toBe(200);
      expect(sent).toHaveLength(2);
      expect(sm.getCount() - reads).toBe(1);

      // The old secret is refused from now on, without another read within the interval.
      clock += 1000;
      const old = await handle(
        event(channel, tenantId, buildWebhook({ tenant: before, channel, now: clock })),
      );
      expect(old.statusCode).toBe(401);
      expect(sm.getCount() - reads).toBe(1);
    });
  }

  it('answers forged requests 401 with at most one re-read per interval', async () => {
    const tenant = parseTenantDocument({ ...createDemoTenant(), tenantId: 'rot-forged' });
    put(tenant);
    const { handle, sent, infos } = wire();
    const reads = sm.getCount();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i += 1) {
      const forged = buildWebhook({ tenant, channel: 'telegram', badSignature: true, now: clock });
      statuses.push((await handle(event('telegram', 'rot-forged', forged))).statusCode);
      clock += 5000;
    }
    expect(new Set(statuses)).toEqual(new Set([401]));
    expect(sent).toHaveLength(0);
    // 150 s of forgeries: the first load, then one re-read per elapsed minute (at 60 s and 120 s).
    expect(sm.getCount() - reads).toBe(3);
    // The secret never changed, so nothing was re-checked.
    expect(infos.filter((m) => m.includes('re-read'))).toHaveLength(0);
  });

  it('accepts a channel added to the tenant after it was cached', async () => {
    const full = parseTenantDocument({ ...createDemoTenant(), tenantId: 'rot-added' });
    const { whatsapp: _whatsapp, ...others } = full.channels;
    const without = parseTenantDocument({ ...full, channels: others });
    put(without);
    const { handle, sent } = wire();
    const webhook = (): APIGatewayProxyEventV2 =>
      event('whatsapp', 'rot-added', buildWebhook({ tenant: full, channel: 'whatsapp', now: clock }));
    expect((await handle(webhook())).statusCode).toBe(404);
    put(full);
    clock += INTERVAL_MS;
    expect((await handle(webhook())).statusCode).toBe(200);
    expect(sent).toHaveLength(1);
  });
});
