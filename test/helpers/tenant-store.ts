/**
 * A tenant store reading the Secrets Manager emulator, for tests that drive its clock and
 * intervals themselves.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerEmulator } from '../../bin/local/secrets-manager.js';
import {
  createTenantStore,
  type TenantStore,
  type TenantStoreOptions,
} from '../../lambdas/shared/tenant-store.js';

/** `createTenantStore(options)` with a client pointed at the emulator `sm`. */
export function emulatorTenantStore(
  sm: SecretsManagerEmulator,
  options: Omit<TenantStoreOptions, 'client'>,
): TenantStore {
  return createTenantStore({
    ...options,
    client: new SecretsManagerClient({
      endpoint: sm.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }),
  });
}
