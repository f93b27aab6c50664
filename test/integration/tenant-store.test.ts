/**
 * The tenant store against the Secrets Manager emulator, with an injected clock: documents are
 * kept for the TTL, an evidence re-read picks up a rotated secret without waiting for it and is
 * rate-limited per tenant, writers invalidate or prime the cache, misses are remembered, and
 * concurrent readers share one call.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type SecretsManagerEmulator, startSecretsManager } from '../../bin/local/secrets-manager.js';
import { createDemoTenant } from '../../bin/local/tenants.js';
import { NotFoundError, TenantConfigError } from '../../lambdas/shared/errors.js';
import { parseTenantDocument, type TenantDocument, tenantSecretName } from '../../lambdas/shared/tenant.js';
import type { TenantStore } from '../../lambdas/shared/tenant-store.js';
import { emulatorTenantStore } from '../helpers/tenant-store.js';

const PREFIX = 'store-test';
const TTL_MS = 3_600_000;
const INTERVAL_MS = 60_000;

let sm: SecretsManagerEmulator;
let clock = 0;
const stores: TenantStore[] = [];

function tenant(id: string, botToken: string): TenantDocument {
  const demo = createDemoTenant();
  return parseTenantDocument({
    ...demo,
    tenantId: id,
    channels: { ...demo.channels, telegram: { ...demo.channels.telegram!, botToken } },
  });
}

function put(doc: TenantDocument): void {
  sm.putSecret(tenantSecretName(PREFIX, doc.tenantId), JSON.stringify(doc));
}

function store(): TenantStore {
  const s = emulatorTenantStore(sm, {
    ttlMs: TTL_MS,
    refreshIntervalMs: INTERVAL_MS,
    now: () => clock,
    secretPrefix: PREFIX,
  });
  stores.push(s);
  return s;
}

const token = (doc: TenantDocument): string | undefined => doc.channels.telegram?.botToken;

beforeAll(async () => {
  sm = await startSecretsManager();
});

afterEach(() => {
  for (const s of stores.splice(0)) s.destroy();
  clock = 1_000_000;
});

afterAll(async () => {
  await sm.stop();
});

describe('tenant store', () => {
  it('reads a tenant once and serves it from the cache until the TTL passes', async () => {
    put(tenant('ttl', '1:old-token-aaaaaaaa'));
    const s = store();
    const before = sm.getCount();
    await s.load('ttl');
    clock += TTL_MS - 1;
    await s.load('ttl');
    expect(sm.getCount() - before).toBe(1);
    clock += 1;
    await s.load('ttl');
    expect(sm.getCount() - before).toBe(2);
  });

  it('picks up a rotated secret at the first failure, without waiting for the TTL', async () => {
    put(tenant('rotated', '1:old-token-aaaaaaaa'));
    const s = store();
    expect(token(await s.load('rotated'))).toBe('1:old-token-aaaaaaaa');
    put(tenant('rotated', '1:new-token-bbbbbbbb'));
    // Another container rotated it a while ago; ours still serves the old one from its cache.
    clock += INTERVAL_MS;
    expect(token(await s.load('rotated'))).toBe('1:old-token-aaaaaaaa');
    const before = sm.getCount();
    const refreshed = await s.refresh('rotated');
    expect(refreshed).toMatchObject({ reread: true, changed: true });
    expect(token(refreshed.tenant)).toBe('1:new-token-bbbbbbbb');
    expect(token(await s.load('rotated'))).toBe('1:new-token-bbbbbbbb');
    expect(sm.getCount() - before).toBe(1);
  });

  it('re-reads a tenant at most once per interval however many failures ask for it', async () => {
    put(tenant('forged', '1:real-token-cccccccc'));
    const s = store();
    await s.load('forged');
    clock += INTERVAL_MS;
    const before = sm.getCount();
    const results = [];
    for (let i = 0; i < 50; i += 1) {
      results.push(await s.refresh('forged'));
      clock += 1000;
    }
    // 50 s of forged requests: one read at the first, none after it within the interval.
    expect(sm.getCount() - before).toBe(1);
    expect(results.filter((r) => r.reread)).toHaveLength(1);
    expect(results[0]).toMatchObject({ reread: true, changed: false });
    clock += INTERVAL_MS;
    expect(await s.refresh('forged')).toMatchObject({ reread: true, changed: false });
    expect(sm.getCount() - before).toBe(2);
  });

  it('does not re-read a tenant it has just loaded', async () => {
    put(tenant('fresh', '1:fresh-token-dddddddd'));
    const s = store();
    await s.load('fresh');
    const before = sm.getCount();
    clock += INTERVAL_MS - 1;
    expect(await s.refresh('fresh')).toMatchObject({ reread: false, changed: false });
    expect(sm.getCount() - before).toBe(0);
  });

  it('rate-limits each tenant on its own', async () => {
    put(tenant('one', '1:token-one-eeeeeeee'));
    put(tenant('two', '1:token-two-ffffffff'));
    const s = store();
    await s.load('one');
    await s.load('two');
    clock += INTERVAL_MS;
    const before = sm.getCount();
    await s.refresh('one');
    await s.refresh('one');
    await s.refresh('two');
    expect(sm.getCount() - before).toBe(2);
  });

  it('reads again after invalidate, and primes the cache from a written document without a read', async () => {
    put(tenant('written', '1:token-v1-gggggggg'));
    const s = store();
    await s.load('written');
    put(tenant('written', '1:token-v2-hhhhhhhh'));
    s.invalidate('written');
    const before = sm.getCount();
    expect(token(await s.load('written'))).toBe('1:token-v2-hhhhhhhh');
    expect(sm.getCount() - before).toBe(1);
    const v3 = tenant('written', '1:token-v3-iiiiiiii');
    put(v3);
    s.prime(v3);
    expect(token(await s.load('written'))).toBe('1:token-v3-iiiiiiii');
    expect(sm.getCount() - before).toBe(1);
  });

  it('remembers an unknown tenant for the interval, then finds it once it exists', async () => {
    const s = store();
    const before = sm.getCount();
    await expect(s.load('later')).rejects.toBeInstanceOf(NotFoundError);
    await expect(s.load('later')).rejects.toBeInstanceOf(NotFoundError);
    await expect(s.refresh('later')).rejects.toBeInstanceOf(NotFoundError);
    expect(sm.getCount() - before).toBe(1);
    put(tenant('later', '1:token-later-jjjjjjjj'));
    clock += INTERVAL_MS;
    expect(token(await s.load('later'))).toBe('1:token-later-jjjjjjjj');
    expect(sm.getCount() - before).toBe(2);
  });

  it('remembers an invalid document as a TenantConfigError for the interval', async () => {
    sm.putSecret(tenantSecretName(PREFIX, 'broken'), '{"tenantId":"broken"');
    const s = store();
    const before = sm.getCount();
    await expect(s.load('broken')).rejects.toBeInstanceOf(TenantConfigError);
    await expect(s.load('broken')).rejects.toBeInstanceOf(TenantConfigError);
    expect(sm.getCount() - before).toBe(1);
  });

  it('shares one read between concurrent callers of a cold tenant', async () => {
    put(tenant('busy', '1:token-busy-kkkkkkkk'));
    const s = store();
    const before = sm.getCount();
    const docs = await Promise.all(Array.from({ length: 20 }, () => s.load('busy')));
    expect(new Set(docs.map(token))).toEqual(new Set(['1:token-busy-kkkkkkkk']));
    expect(sm.getCount() - before).toBe(1);
  });

  it('lets a caller whose signal aborts give up while others keep waiting for the same read', async () => {
    put(tenant('patient', '1:token-patient-llllllll'));
    const s = store();
    const impatient = new AbortController();
    impatient.abort();
    const before = sm.getCount();
    const [waited, gaveUp] = await Promise.allSettled([
      s.load('patient'),
      s.load('patient', { abortSignal: impatient.signal }),
    ]);
    expect(gaveUp.status).toBe('rejected');
    expect(waited.status === 'fulfilled' && token(waited.value)).toBe('1:token-patient-llllllll');
    expect(sm.getCount() - before).toBe(1);
  });
});
