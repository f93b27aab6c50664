/**
 * Reads tenant documents from Secrets Manager through Powertools Parameters (cached for
 * `TENANT_CACHE_SECONDS`, default 300). Errors are translated here: a missing secret is a
 * NotFoundError, a malformed one a TenantConfigError, anything else (a deadline included) a
 * DependencyError.
 *
 * The Secrets Manager client has connection and request timeouts (client-timeouts.ts), and a
 * read takes the caller's abort signal down to the SDK call: the webhook's answer deadline
 * holds even when Secrets Manager hangs. Every document read registers its secrets for log
 * redaction (lambdas/shared/redact.ts).
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsGetOptions } from '@aws-lambda-powertools/parameters/secrets/types';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CLIENT_TIMEOUTS } from './client-timeouts.js';
import { ENV, intEnv, requireEnv } from './env.js';
import { DependencyError, NotFoundError, TenantConfigError } from './errors.js';
import { registerTenantSecrets } from './redact.js';
import { parseTenantDocument, TENANT_ID_PATTERN, type TenantDocument, tenantSecretName } from './tenant.js';

/** Options of one read through the provider: Powertools' own plus the caller's abort signal. */
type AbortableGetOptions = NonNullable<SecretsGetOptions> & { readonly abortSignal?: AbortSignal };

/**
 * Powertools' SecretsProvider (cache, JSON transform, errors) whose SDK call honours an abort
 * signal; Powertools' own `_get` takes none. The base class hands `get()`'s options to `_get`.
 */
class AbortableSecretsProvider extends SecretsProvider {
  protected override async _get(
    name: string,
    options?: AbortableGetOptions,
  ): Promise<string | Uint8Array | undefined> {
    const client = this.client as SecretsManagerClient;
    const result = await client.send(
      new GetSecretValueCommand({ ...(options?.sdkOptions ?? {}), SecretId: name }),
      options?.abortSignal ? { abortSignal: options.abortSignal } : {},
    );
    return result.SecretString ?? result.SecretBinary;
  }

  /** Closes the SDK client's sockets. */
  destroy(): void {
    (this.client as SecretsManagerClient).destroy();
  }
}

let provider: AbortableSecretsProvider | undefined;

function secrets(): AbortableSecretsProvider {
  // Created on first use: the endpoint (AWS_ENDPOINT_URL_SECRETS_MANAGER) is read then.
  provider ??= new AbortableSecretsProvider({
    awsSdkV3Client: new SecretsManagerClient({ requestHandler: { ...CLIENT_TIMEOUTS.secretsManager } }),
  });
  return provider;
}

/** Drops the provider, its cache and its client (tests that repoint the endpoint call this). */
export function resetTenantStore(): void {
  provider?.destroy();
  provider = undefined;
}

function causeName(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    if (current.name === 'ResourceNotFoundException') return current.name;
    current = current.cause;
  }
  return undefined;
}

/** Options of {@link loadTenant}. */
export interface LoadTenantOptions {
  /** Aborts the Secrets Manager call (the read then fails with a DependencyError). */
  readonly abortSignal?: AbortSignal;
}

/**
 * The tenant document for `tenantId`.
 * @throws NotFoundError when the id is malformed or no such tenant exists
 * @throws TenantConfigError when the stored document is invalid
 * @throws DependencyError when Secrets Manager fails or the read is aborted
 */
export async function loadTenant(tenantId: string, options: LoadTenantOptions = {}): Promise<TenantDocument> {
  if (!TENANT_ID_PATTERN.test(tenantId))
    throw new NotFoundError(`Unknown tenant "${tenantId.slice(0, 64)}".`);
  const name = tenantSecretName(requireEnv(ENV.tenantSecretPrefix), tenantId);
  const getOptions: AbortableGetOptions = {
    maxAge: intEnv(ENV.tenantCacheSeconds, 300),
    transform: 'json',
    ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
  };
  let raw: unknown;
  try {
    raw = await secrets().get(name, getOptions);
  } catch (err) {
    if (causeName(err) === 'ResourceNotFoundException') {
      throw new NotFoundError(`Unknown tenant "${tenantId}".`, { cause: err });
    }
    if (err instanceof Error && err.name === 'TransformParameterError') {
      throw new TenantConfigError(['(document): the secret is not valid JSON'], { cause: err });
    }
    if (options.abortSignal?.aborted) {
      throw new DependencyError(`Secrets Manager did not answer in time for tenant "${tenantId}".`, {
        cause: err,
      });
    }
    throw new DependencyError(`Could not read the secret of tenant "${tenantId}".`, { cause: err });
  }
  if (raw === undefined) throw new NotFoundError(`Unknown tenant "${tenantId}".`);
  const doc = parseTenantDocument(raw);
  // The cached raw object keeps its identity across reads: registered once per fetch.
  if (typeof raw === 'object' && raw !== null) registerTenantSecrets(raw);
  if (doc.tenantId !== tenantId) {
    throw new TenantConfigError([`tenantId: is "${doc.tenantId}" but the secret is for "${tenantId}"`]);
  }
  return doc;
}
