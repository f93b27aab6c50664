/**
 * Reads tenant documents from Secrets Manager through Powertools Parameters and keeps them per
 * container for a long time (`TENANT_CACHE_SECONDS`, default 3600), with a cheap change check:
 * a caller that has evidence the cached document is stale (a webhook signature or token that
 * fails with it, a channel it does not configure, a send refused for an invalid token) calls
 * {@link refreshTenant}, which re-reads the secret at most once per tenant per
 * {@link DEFAULT_REFRESH_INTERVAL_MS} and says whether it changed (its VersionId). A writer of
 * the secret (the Zalo token refresh) calls {@link invalidateTenant} or {@link primeTenant}.
 * So a rotated secret is picked up at its first failure, and a forged request costs at most one
 * GetSecretValue per tenant per interval. Design and figures: docs/tenants.md, docs/cost.md.
 *
 * Errors are translated here: a missing secret is a NotFoundError, a malformed one a
 * TenantConfigError (both remembered for the refresh interval, so a scanner hitting an unknown
 * tenant does not buy a read per request), anything else (a deadline included) a
 * DependencyError (never remembered).
 *
 * The Secrets Manager client has connection and request timeouts (client-timeouts.ts), and a
 * read takes the caller's abort signal down to the SDK call: the webhook's answer deadline
 * holds even when Secrets Manager hangs. Concurrent reads of one tenant share one call, which
 * is aborted when every caller waiting on it has aborted. Every document read registers its
 * secrets for log redaction (lambdas/shared/redact.ts).
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsGetOptions } from '@aws-lambda-powertools/parameters/secrets/types';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DEFAULTS } from '../contracts/defaults.js';
import { CLIENT_TIMEOUTS } from './client-timeouts.js';
import { ENV, intEnv, requireEnv } from './env.js';
import { DependencyError, NotFoundError, TenantConfigError } from './errors.js';
import { registerTenantSecrets } from './redact.js';
import { parseTenantDocument, TENANT_ID_PATTERN, type TenantDocument, tenantSecretName } from './tenant.js';

/** Least time between two evidence re-reads of one tenant's secret (and how long a miss is remembered). */
export const DEFAULT_REFRESH_INTERVAL_MS = 60_000;

/** Unknown or invalid tenants remembered at most (oldest forgotten first): scanners mint ids. */
const MAX_REMEMBERED_FAILURES = 1000;

/** Options of one read through the provider: Powertools' own plus the caller's abort signal. */
type AbortableGetOptions = NonNullable<SecretsGetOptions> & { readonly abortSignal?: AbortSignal };

/** What GetSecretValue answered besides the value. */
interface ReadMeta {
  readonly versionId: string | undefined;
}

/**
 * Powertools' SecretsProvider (JSON transform, errors) whose SDK call honours an abort signal
 * and reports the version it read; Powertools' own `_get` does neither. The base class hands
 * `get()`'s options to `_get`. Its cache is bypassed (`forceFetch`): the store keeps its own,
 * with an injectable clock and per-tenant invalidation.
 */
class AbortableSecretsProvider extends SecretsProvider {
  /** Version of the last value read per secret name. */
  readonly versions = new Map<string, ReadMeta>();

  protected override async _get(
    name: string,
    options?: AbortableGetOptions,
  ): Promise<string | Uint8Array | undefined> {
    const client = this.client as SecretsManagerClient;
    const result = await client.send(
      new GetSecretValueCommand({ ...(options?.sdkOptions ?? {}), SecretId: name }),
      options?.abortSignal ? { abortSignal: options.abortSignal } : {},
    );
    this.versions.set(name, { versionId: result.VersionId });
    return result.SecretString ?? result.SecretBinary;
  }

  /** Closes the SDK client's sockets. */
  destroy(): void {
    (this.client as SecretsManagerClient).destroy();
  }
}

/** Options of a read. */
export interface LoadTenantOptions {
  /** Aborts the Secrets Manager call (the read then fails with a DependencyError). */
  readonly abortSignal?: AbortSignal;
}

/** What {@link TenantStore.refresh} did. */
export interface TenantRefresh {
  /** The document to use now (re-read or, when rate-limited, the cached one). */
  readonly tenant: TenantDocument;
  /** Whether Secrets Manager was asked (false: the tenant was read within the interval). */
  readonly reread: boolean;
  /** Whether the secret's version differs from the one cached before. */
  readonly changed: boolean;
}

/** A per-container cache of tenant documents. */
export interface TenantStore {
  /**
   * The tenant document for `tenantId`: cached for the TTL, read on a miss.
   * @throws NotFoundError when the id is malformed or no such tenant exists
   * @throws TenantConfigError when the stored document is invalid
   * @throws DependencyError when Secrets Manager fails or the read is aborted
   */
  load(tenantId: string, options?: LoadTenantOptions): Promise<TenantDocument>;
  /**
   * Re-reads the secret because the caller has evidence the cached document is stale, unless it
   * was read (for any reason) within the refresh interval. Throws as {@link TenantStore.load}.
   */
  refresh(tenantId: string, options?: LoadTenantOptions): Promise<TenantRefresh>;
  /** Forgets the cached document: the next load reads the secret (not rate-limited). */
  invalidate(tenantId: string): void;
  /** Caches a document the caller has just written to the secret (no read). */
  prime(tenant: TenantDocument): void;
  /** Drops the cache and closes the client. */
  destroy(): void;
}

/** Options of {@link createTenantStore}. */
export interface TenantStoreOptions {
  /** Time a document is used without a re-read, ms. @default TENANT_CACHE_SECONDS × 1000, read at each load */
  readonly ttlMs?: number;
  /** Least time between two reads of one tenant caused by {@link TenantStore.refresh}. @default 60 000 */
  readonly refreshIntervalMs?: number;
  /** Clock, epoch ms. @default Date.now */
  readonly now?: () => number;
  /** Secret name prefix. @default TENANT_SECRET_PREFIX, read at each load */
  readonly secretPrefix?: string;
  /** The Secrets Manager client. @default one with CLIENT_TIMEOUTS.secretsManager, endpoint from the environment */
  readonly client?: SecretsManagerClient;
}

type Entry =
  | {
      readonly ok: true;
      readonly doc: TenantDocument;
      readonly versionId: string | undefined;
      readonly at: number;
    }
  | { readonly ok: false; readonly error: Error; readonly at: number };

/** One Secrets Manager call in flight, shared by the callers of one tenant. */
interface Flight {
  readonly promise: Promise<Entry>;
  readonly controller: AbortController;
  /** Callers still waiting; the call is aborted when the last one with a signal aborts. */
  waiters: number;
}

function causeName(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    if (current.name === 'ResourceNotFoundException') return current.name;
    current = current.cause;
  }
  return undefined;
}

/** Builds a tenant store (the handlers share the default one: {@link loadTenant}). */
export function createTenantStore(options: TenantStoreOptions = {}): TenantStore {
  const now = options.now ?? Date.now;
  const refreshIntervalMs = options.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
  const ttlMs = (): number =>
    options.ttlMs ?? intEnv(ENV.tenantCacheSeconds, DEFAULTS.tenantCacheSeconds) * 1000;
  const prefix = (): string => options.secretPrefix ?? requireEnv(ENV.tenantSecretPrefix);
  const provider = new AbortableSecretsProvider({
    // Created with the store: the endpoint (AWS_ENDPOINT_URL_SECRETS_MANAGER) is read then.
    awsSdkV3Client:
      options.client ?? new SecretsManagerClient({ requestHandler: { ...CLIENT_TIMEOUTS.secretsManager } }),
  });
  const cache = new Map<string, Entry>();
  const flights = new Map<string, Flight>();
  /** When the last refresh of a tenant asked Secrets Manager. */
  const refreshedAt = new Map<string, number>();

  async function fetchEntry(tenantId: string, signal: AbortSignal): Promise<Entry> {
    const name = tenantSecretName(prefix(), tenantId);
    let raw: unknown;
    try {
      raw = await provider.get(name, {
        transform: 'json',
        forceFetch: true,
        abortSignal: signal,
      } as AbortableGetOptions);
    } catch (err) {
      if (causeName(err) === 'ResourceNotFoundException') {
        return {
          ok: false,
          error: new NotFoundError(`Unknown tenant "${tenantId}".`, { cause: err }),
          at: now(),
        };
      }
      if (err instanceof Error && err.name === 'TransformParameterError') {
        const error = new TenantConfigError(['(document): the secret is not valid JSON'], { cause: err });
        return { ok: false, error, at: now() };
      }
      if (signal.aborted) {
        throw new DependencyError(`Secrets Manager did not answer in time for tenant "${tenantId}".`, {
          cause: err,
        });
      }
      throw new DependencyError(`Could not read the secret of tenant "${tenantId}".`, { cause: err });
    }
    if (raw === undefined)
      return { ok: false, error: new NotFoundError(`Unknown tenant "${tenantId}".`), at: now() };
    // Registered before validation: an invalid document's tokens are still secrets.
    if (typeof raw === 'object' && raw !== null) registerTenantSecrets(raw);
    let doc: TenantDocument;
    try {
      doc = parseTenantDocument(raw);
      if (doc.tenantId !== tenantId) {
        throw new TenantConfigError([`tenantId: is "${doc.tenantId}" but the secret is for "${tenantId}"`]);
      }
    } catch (err) {
      if (err instanceof TenantConfigError) return { ok: false, error: err, at: now() };
      throw err;
    }
    return { ok: true, doc, versionId: provider.versions.get(name)?.versionId, at: now() };
  }

  function remember(tenantId: string, entry: Entry): void {
    cache.delete(tenantId);
    cache.set(tenantId, entry);
    if (!entry.ok && cache.size > MAX_REMEMBERED_FAILURES) {
      // Forget the oldest failure (Map keeps insertion order); documents stay.
      for (const [id, e] of cache) {
        if (!e.ok) {
          cache.delete(id);
          break;
        }
      }
    }
  }

  /** Reads the secret once for every concurrent caller; each waits only as long as its own signal allows. */
  function read(tenantId: string, signal: AbortSignal | undefined): Promise<Entry> {
    let flight = flights.get(tenantId);
    if (!flight) {
      const controller = new AbortController();
      const promise = fetchEntry(tenantId, controller.signal).then(
        (entry) => {
          if (flights.get(tenantId) === current) {
            flights.delete(tenantId);
            remember(tenantId, entry);
          }
          return entry;
        },
        (err: unknown) => {
          if (flights.get(tenantId) === current) flights.delete(tenantId);
          throw err;
        },
      );
      const current: Flight = { promise, controller, waiters: 0 };
      flight = current;
      flights.set(tenantId, current);
      // A caller that gave up must not see an unhandled rejection later.
      promise.catch(() => {});
    }
    const joined = flight;
    joined.waiters += 1;
    if (!signal) return joined.promise;
    return new Promise<Entry>((resolve, reject) => {
      const abandon = (): void => {
        joined.waiters -= 1;
        if (joined.waiters === 0) {
          // Nobody waits any more: abort the call (its socket closes) and let the next caller start afresh.
          if (flights.get(tenantId) === joined) flights.delete(tenantId);
          joined.controller.abort();
        }
        reject(
          new DependencyError(`Secrets Manager did not answer in time for tenant "${tenantId}".`, {
            cause: signal.reason,
          }),
        );
      };
      if (signal.aborted) {
        abandon();
        return;
      }
      signal.addEventListener('abort', abandon, { once: true });
      joined.promise.then(
        (entry) => {
          signal.removeEventListener('abort', abandon);
          resolve(entry);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', abandon);
          reject(err);
        },
      );
    });
  }

  const unwrap = (entry: Entry): TenantDocument => {
    if (!entry.ok) throw entry.error;
    return entry.doc;
  };

  function valid(tenantId: string): void {
    if (!TENANT_ID_PATTERN.test(tenantId))
      throw new NotFoundError(`Unknown tenant "${tenantId.slice(0, 64)}".`);
  }

  return {
    async load(tenantId, loadOptions = {}) {
      valid(tenantId);
      const cached = cache.get(tenantId);
      if (cached) {
        const age = now() - cached.at;
        if (age < (cached.ok ? ttlMs() : Math.min(ttlMs(), refreshIntervalMs))) return unwrap(cached);
      }
      return unwrap(await read(tenantId, loadOptions.abortSignal));
    },

    async refresh(tenantId, loadOptions = {}) {
      valid(tenantId);
      const cached = cache.get(tenantId);
      const t = now();
      const last = Math.max(
        cached?.at ?? Number.NEGATIVE_INFINITY,
        refreshedAt.get(tenantId) ?? Number.NEGATIVE_INFINITY,
      );
      if (cached && t - last < refreshIntervalMs) {
        return { tenant: unwrap(cached), reread: false, changed: false };
      }
      refreshedAt.set(tenantId, t);
      const entry = await read(tenantId, loadOptions.abortSignal);
      const tenant = unwrap(entry);
      const changed =
        !cached?.ok || !entry.ok || entry.versionId === undefined || entry.versionId !== cached.versionId;
      return { tenant, reread: true, changed };
    },

    invalidate(tenantId) {
      cache.delete(tenantId);
      refreshedAt.delete(tenantId);
    },

    prime(tenant) {
      registerTenantSecrets(tenant);
      // Unknown version: the next refresh that reads it counts it as changed, which is harmless.
      remember(tenant.tenantId, { ok: true, doc: tenant, versionId: undefined, at: now() });
    },

    destroy() {
      for (const flight of flights.values()) flight.controller.abort();
      flights.clear();
      cache.clear();
      refreshedAt.clear();
      provider.destroy();
    },
  };
}

let store: TenantStore | undefined;

function defaultStore(): TenantStore {
  // Created on first use: the endpoint and the prefix are read then.
  store ??= createTenantStore();
  return store;
}

/** Drops the default store, its cache and its client (tests that repoint the endpoint call this). */
export function resetTenantStore(): void {
  store?.destroy();
  store = undefined;
}

/** {@link TenantStore.load} on the container's shared store. */
export function loadTenant(tenantId: string, options: LoadTenantOptions = {}): Promise<TenantDocument> {
  return defaultStore().load(tenantId, options);
}

/** {@link TenantStore.refresh} on the container's shared store. */
export function refreshTenant(tenantId: string, options: LoadTenantOptions = {}): Promise<TenantRefresh> {
  return defaultStore().refresh(tenantId, options);
}

/** {@link TenantStore.invalidate} on the container's shared store (call it after writing the secret). */
export function invalidateTenant(tenantId: string): void {
  store?.invalidate(tenantId);
}

/** {@link TenantStore.prime} on the container's shared store (after writing the secret, saves its re-read). */
export function primeTenant(tenant: TenantDocument): void {
  defaultStore().prime(tenant);
}
