/**
 * Reads tenant documents from Secrets Manager through Powertools Parameters (cached for
 * `TENANT_CACHE_SECONDS`, default 300). Errors are translated here: a missing secret is a
 * NotFoundError, a malformed one a TenantConfigError, anything else a DependencyError.
 */
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { ENV, intEnv, requireEnv } from './env.js';
import { DependencyError, NotFoundError, TenantConfigError } from './errors.js';
import { parseTenantDocument, TENANT_ID_PATTERN, type TenantDocument, tenantSecretName } from './tenant.js';

function causeName(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    if (current.name === 'ResourceNotFoundException') return current.name;
    current = current.cause;
  }
  return undefined;
}

/**
 * The tenant document for `tenantId`.
 * @throws NotFoundError when the id is malformed or no such tenant exists
 * @throws TenantConfigError when the stored document is invalid
 * @throws DependencyError when Secrets Manager fails
 */
export async function loadTenant(tenantId: string): Promise<TenantDocument> {
  if (!TENANT_ID_PATTERN.test(tenantId))
    throw new NotFoundError(`Unknown tenant "${tenantId.slice(0, 64)}".`);
  const name = tenantSecretName(requireEnv(ENV.tenantSecretPrefix), tenantId);
  let raw: unknown;
  try {
    raw = await getSecret(name, { maxAge: intEnv(ENV.tenantCacheSeconds, 300), transform: 'json' });
  } catch (err) {
    if (causeName(err) === 'ResourceNotFoundException') {
      throw new NotFoundError(`Unknown tenant "${tenantId}".`, { cause: err });
    }
    if (err instanceof Error && err.name === 'TransformParameterError') {
      throw new TenantConfigError(['(document): the secret is not valid JSON'], { cause: err });
    }
    throw new DependencyError(`Could not read the secret of tenant "${tenantId}".`, { cause: err });
  }
  if (raw === undefined) throw new NotFoundError(`Unknown tenant "${tenantId}".`);
  const doc = parseTenantDocument(raw);
  if (doc.tenantId !== tenantId) {
    throw new TenantConfigError([`tenantId: is "${doc.tenantId}" but the secret is for "${tenantId}"`]);
  }
  return doc;
}
