/**
 * Zalo OA access tokens (docs/channels.md, "Zalo tokens"). An OA access token lives about 25
 * hours; each comes with a refresh token valid 3 months and usable **once** (OAuth v4, secondary
 * docs: reference/channels.md). So:
 *
 * - a send takes the newest token this container knows (the tenant document, or a pair it
 *   refreshed itself) and refreshes it {@link ZALO_REFRESH_AHEAD_MS} before it expires;
 * - a send Zalo refuses for an invalid or expired token refreshes at once and is sent again
 *   (nothing was delivered, so the retry cannot duplicate the reply);
 * - one refresher at a time per tenant, across containers: a conditional lock item in the memory
 *   table (`zalo-token#{tenant}` / `refresh-lock`, a lease of {@link ZALO_REFRESH_LOCK_MS}). The
 *   holder re-reads the secret itself (never a cached copy) and spends the refresh token only if
 *   nobody replaced the pair meanwhile; a container that finds the lock taken re-reads the secret
 *   until the new pair shows up. The new pair is written back with `PutSecretValue`, whose
 *   `ClientRequestToken` is derived from the refresh token spent: an SDK retry of that write is
 *   idempotent, and a second writer of the same spent token is refused by Secrets Manager;
 * - a refresh Zalo refuses (refresh token expired, revoked or already spent) counts
 *   `ZaloTokenRefreshFailed` (the `zaloTokenRefreshFailed` alarm says how to fix it: a new
 *   authorization with `npm run tenant -- zalo-authorize`).
 *
 * Without `refreshToken`, `appSecretKey` and `appId` in the tenant's Zalo settings nothing is
 * refreshed: the stored access token is used as it is.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { CLIENT_TIMEOUTS } from '../shared/client-timeouts.js';
import { documentClient } from '../shared/clients.js';
import { ENV, optionalEnv, requireEnv } from '../shared/env.js';
import { PermanentSendError, RetryableSendError } from '../shared/errors.js';
import type { MetricName } from '../shared/metrics-catalogue.js';
import { emitMetric, logger } from '../shared/powertools.js';
import {
  parseTenantDocument,
  type TenantDocument,
  tenantSecretName,
  type ZaloConfig,
} from '../shared/tenant.js';
import { primeTenant } from '../shared/tenant-store.js';

/** Zalo's OAuth host (`ZALO_OAUTH_BASE` overrides it; the local stack points it at the sandbox). */
export const DEFAULT_ZALO_OAUTH_BASE = 'https://oauth.zaloapp.com';
/** The token endpoint below the OAuth host. */
export const ZALO_TOKEN_PATH = '/v4/oa/access_token';
/** How long before its expiry an access token is replaced. */
export const ZALO_REFRESH_AHEAD_MS = 60 * 60 * 1000;
/** Lease of the refresh lock: longer than the OAuth call's timeout plus the secret write. */
export const ZALO_REFRESH_LOCK_MS = 30_000;
/** Timeout of one call to Zalo's OAuth endpoint. */
export const ZALO_OAUTH_TIMEOUT_MS = 10_000;

/** An access token with the refresh token that replaces it. */
export interface ZaloTokenPair {
  readonly accessToken: string;
  readonly refreshToken: string;
  /** When `accessToken` expires, epoch ms. */
  readonly expiresAt: number;
}

/** What the OAuth endpoint is asked for. */
export type ZaloGrant =
  | { readonly type: 'refresh_token'; readonly refreshToken: string }
  | { readonly type: 'authorization_code'; readonly code: string; readonly codeVerifier?: string };

/** Zalo refused the grant (refresh token expired, revoked or spent; code invalid or used). */
export class ZaloGrantRefusedError extends PermanentSendError {
  constructor(platformCode: string, message: string, options: { status?: number } = {}) {
    super(platformCode, message, { ...options, tokenInvalid: true });
  }
}

/** The OAuth host from `ZALO_OAUTH_BASE`, else Zalo's. */
export function zaloOAuthBase(env: NodeJS.ProcessEnv = process.env): string {
  return (env[ENV.zaloOAuthBase] || DEFAULT_ZALO_OAUTH_BASE).replace(/\/+$/, '');
}

/** Options of {@link requestZaloToken}. */
export interface ZaloTokenRequest {
  readonly appId: string;
  readonly appSecretKey: string;
  readonly grant: ZaloGrant;
  /** @default zaloOAuthBase() */
  readonly base?: string;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  readonly signal?: AbortSignal;
}

/**
 * One call to Zalo's token endpoint: `POST {base}/v4/oa/access_token`, header `secret_key`, form
 * `app_id`, `grant_type` and `refresh_token` (or `code` and `code_verifier`). Zalo answers
 * `{access_token, refresh_token, expires_in}` (`expires_in` in seconds, sometimes a string), or an
 * `error` code with `error_name` / `error_description`.
 * @throws ZaloGrantRefusedError when Zalo refuses the grant
 * @throws RetryableSendError on a network failure, a timeout, HTTP 429 or 5xx
 */
export async function requestZaloToken(request: ZaloTokenRequest): Promise<ZaloTokenPair> {
  const now = request.now ?? Date.now;
  const doFetch = request.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const form = new URLSearchParams({ app_id: request.appId, grant_type: request.grant.type });
  if (request.grant.type === 'refresh_token') form.set('refresh_token', request.grant.refreshToken);
  else {
    form.set('code', request.grant.code);
    if (request.grant.codeVerifier) form.set('code_verifier', request.grant.codeVerifier);
  }
  const timeout = AbortSignal.timeout(ZALO_OAUTH_TIMEOUT_MS);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  let response: Response;
  let text: string;
  try {
    response = await doFetch(`${request.base ?? zaloOAuthBase()}${ZALO_TOKEN_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', secret_key: request.appSecretKey },
      body: form.toString(),
      signal,
    });
    text = await response.text();
  } catch (err) {
    // The grant may have been spent if the request arrived: the next attempt finds out.
    throw new RetryableSendError('ZALO_OAUTH_NETWORK', 'zalo token: no answer from the OAuth endpoint.', {
      cause: err,
    });
  }
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = text === '' ? {} : JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
  } catch {
    body = {};
  }
  if (response.status === 429 || response.status >= 500) {
    throw new RetryableSendError(String(response.status), `zalo token: HTTP ${response.status}.`, {
      status: response.status,
    });
  }
  const accessToken = body.access_token;
  const refreshToken = body.refresh_token;
  const expiresIn = Number(body.expires_in);
  if (
    response.ok &&
    typeof accessToken === 'string' &&
    accessToken !== '' &&
    typeof refreshToken === 'string' &&
    refreshToken !== '' &&
    Number.isFinite(expiresIn) &&
    expiresIn > 0
  ) {
    return { accessToken, refreshToken, expiresAt: now() + expiresIn * 1000 };
  }
  const code =
    typeof body.error === 'number' || typeof body.error === 'string' ? String(body.error) : undefined;
  const detail = [body.error_name, body.error_description, body.error_reason]
    .filter((v): v is string => typeof v === 'string' && v !== '')
    .join(': ')
    .slice(0, 200);
  throw new ZaloGrantRefusedError(
    code ?? `HTTP_${response.status}`,
    `zalo token: the ${request.grant.type} grant was refused (HTTP ${response.status}${code ? `, error ${code}` : ''}${detail ? `, ${detail}` : ''}).`,
    { status: response.status },
  );
}

/** Gives out Zalo access tokens for sends, refreshing them as the module comment says. */
export interface ZaloTokenProvider {
  /** The access token to send with (refreshed first when it expires within the refresh margin). */
  accessToken(tenant: TenantDocument, config: ZaloConfig, signal?: AbortSignal): Promise<string>;
  /**
   * After Zalo refused `refused` as invalid or expired: a newer token (refreshed now, or written
   * by another container), or undefined when this tenant has no refresh configured.
   * @throws ZaloGrantRefusedError when Zalo refuses the refresh (the alarm fires)
   * @throws RetryableSendError when the refresh could not be done now
   */
  refreshAfterRefusal(
    tenant: TenantDocument,
    config: ZaloConfig,
    refused: string,
    signal?: AbortSignal,
  ): Promise<string | undefined>;
}

/** Options of {@link createZaloTokenProvider} (tests inject clocks, clients and endpoints). */
export interface ZaloTokenOptions {
  readonly fetch?: typeof fetch;
  /** @default zaloOAuthBase(), read on every refresh */
  readonly oauthBase?: () => string;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default a client with the shared Secrets Manager timeouts, endpoint from the environment */
  readonly secrets?: () => SecretsManagerClient;
  /** The tenant secret's name. @default `{TENANT_SECRET_PREFIX}/tenants/{tenantId}` */
  readonly secretName?: (tenantId: string) => string;
  /** The table holding the refresh lock. @default MEMORY_TABLE (unset: no lock, this process only) */
  readonly lockTable?: () => string | undefined;
  /** Called with the document just written (the tenant store caches it). @default primeTenant */
  readonly onWritten?: (tenant: TenantDocument) => void;
  /** @default ZALO_REFRESH_AHEAD_MS */
  readonly refreshAheadMs?: number;
  /** @default ZALO_REFRESH_LOCK_MS */
  readonly lockMs?: number;
  /** Where metrics go. @default emitMetric */
  readonly metric?: (name: MetricName, value: number, dimensions: Readonly<Record<string, string>>) => void;
  /** Re-reads of the secret while another container holds the lock. @default 6 */
  readonly waitAttempts?: number;
  /** Pause between those re-reads, ms. @default 500 */
  readonly waitMs?: number;
}

/** The pk of a tenant's refresh lock in the memory table. */
export const zaloLockPk = (tenantId: string): string => `zalo-token#${tenantId}`;
export const ZALO_LOCK_SK = 'refresh-lock';

/** `ClientRequestToken` of the write that follows spending `refreshToken` (32–64 characters). */
export function writeRequestToken(refreshToken: string): string {
  return createHash('sha256').update(`zalo-refresh:${refreshToken}`).digest('hex');
}

function canRefresh(config: ZaloConfig): config is ZaloConfig & {
  refreshToken: string;
  appSecretKey: string;
  appId: string;
} {
  return Boolean(config.refreshToken && config.appSecretKey && config.appId);
}

let sharedSecrets: SecretsManagerClient | undefined;
function defaultSecrets(): SecretsManagerClient {
  sharedSecrets ??= new SecretsManagerClient({ requestHandler: { ...CLIENT_TIMEOUTS.secretsManager } });
  return sharedSecrets;
}

function isConditionalFailure(err: unknown): boolean {
  return err instanceof Error && err.name === 'ConditionalCheckFailedException';
}

/** Creates a token provider. One per sender: its cache and single flight are per container. */
export function createZaloTokenProvider(options: ZaloTokenOptions = {}): ZaloTokenProvider {
  const now = options.now ?? Date.now;
  const sleep =
    options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms))));
  const secrets = options.secrets ?? defaultSecrets;
  const secretName =
    options.secretName ??
    ((tenantId: string) => tenantSecretName(requireEnv(ENV.tenantSecretPrefix), tenantId));
  const lockTable = options.lockTable ?? (() => optionalEnv(ENV.memoryTable, '') || undefined);
  const onWritten = options.onWritten ?? primeTenant;
  const ahead = options.refreshAheadMs ?? ZALO_REFRESH_AHEAD_MS;
  const lockMs = options.lockMs ?? ZALO_REFRESH_LOCK_MS;
  const waitAttempts = options.waitAttempts ?? 6;
  const waitMs = options.waitMs ?? 500;
  const metric = options.metric ?? emitMetric;
  /** Pairs this container refreshed or adopted, newer than its cached tenant document. */
  const known = new Map<string, { accessToken: string; expiresAt: number | undefined }>();
  const flights = new Map<string, Promise<string>>();

  /** The newest token this container knows for the tenant. */
  const current = (tenantId: string, config: ZaloConfig): { accessToken: string; expiresAt?: number } => {
    const mine = known.get(tenantId);
    const stored = { accessToken: config.accessToken, expiresAt: config.accessTokenExpiresAt };
    if (!mine || mine.accessToken === stored.accessToken) return stored;
    if ((mine.expiresAt ?? 0) >= (stored.expiresAt ?? 0)) return mine;
    return stored;
  };

  const readSecret = async (
    tenantId: string,
  ): Promise<{ raw: Record<string, unknown>; doc: TenantDocument }> => {
    let text: string | undefined;
    try {
      const out = await secrets().send(new GetSecretValueCommand({ SecretId: secretName(tenantId) }));
      text = out.SecretString;
    } catch (err) {
      throw new RetryableSendError(
        'ZALO_TOKEN_READ',
        `zalo token: could not read the secret of "${tenantId}".`,
        {
          cause: err,
        },
      );
    }
    const raw: unknown = JSON.parse(text ?? '{}');
    if (typeof raw !== 'object' || raw === null) {
      throw new PermanentSendError(
        'ZALO_TOKEN_READ',
        `zalo token: the secret of "${tenantId}" is not an object.`,
      );
    }
    return { raw: raw as Record<string, unknown>, doc: parseTenantDocument(raw) };
  };

  const lock = async (tenantId: string, owner: string): Promise<boolean> => {
    const table = lockTable();
    if (table === undefined) return true;
    const at = now();
    try {
      await documentClient().send(
        new PutCommand({
          TableName: table,
          Item: {
            pk: zaloLockPk(tenantId),
            sk: ZALO_LOCK_SK,
            owner,
            leaseUntil: at + lockMs,
            expiresAt: Math.ceil((at + lockMs) / 1000) + 3600,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR leaseUntil < :now',
          ExpressionAttributeValues: { ':now': at },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionalFailure(err)) return false;
      throw new RetryableSendError('ZALO_TOKEN_LOCK', 'zalo token: could not take the refresh lock.', {
        cause: err,
      });
    }
  };

  const unlock = async (tenantId: string, owner: string): Promise<void> => {
    const table = lockTable();
    if (table === undefined) return;
    try {
      await documentClient().send(
        new DeleteCommand({
          TableName: table,
          Key: { pk: zaloLockPk(tenantId), sk: ZALO_LOCK_SK },
          ConditionExpression: '#o = :owner',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (err) {
      // Lost the lease or the table hiccupped: the lease runs out by itself.
      if (!isConditionalFailure(err))
        logger.warn({ message: 'Zalo refresh lock not released', tenant: tenantId });
    }
  };

  /** A token the secret holds that is newer than `stale` and usable, else undefined. */
  const adoptable = (config: ZaloConfig | undefined, stale: string, force: boolean): string | undefined => {
    if (!config || config.accessToken === stale) return undefined;
    const expiresAt = config.accessTokenExpiresAt;
    if (force || expiresAt === undefined || expiresAt - now() > ahead) return config.accessToken;
    return undefined;
  };

  const adopt = (tenantId: string, config: ZaloConfig): string => {
    known.set(tenantId, { accessToken: config.accessToken, expiresAt: config.accessTokenExpiresAt });
    return config.accessToken;
  };

  const write = async (
    tenantId: string,
    raw: Record<string, unknown>,
    spent: string,
    pair: ZaloTokenPair,
  ): Promise<void> => {
    const channels = raw.channels as Record<string, Record<string, unknown>>;
    const zalo = channels.zalo as Record<string, unknown>;
    const next = {
      ...raw,
      channels: {
        ...channels,
        zalo: {
          ...zalo,
          accessToken: pair.accessToken,
          refreshToken: pair.refreshToken,
          accessTokenExpiresAt: pair.expiresAt,
        },
      },
    };
    const command = new PutSecretValueCommand({
      SecretId: secretName(tenantId),
      SecretString: JSON.stringify(next, null, 2),
      ClientRequestToken: writeRequestToken(spent),
    });
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await secrets().send(command);
        try {
          onWritten(parseTenantDocument(next));
        } catch {
          // The store re-reads on its own schedule.
        }
        return;
      } catch (err) {
        lastError = err;
        // The same token and value again is a no-op for Secrets Manager: safe to retry.
        if (err instanceof Error && err.name === 'ResourceExistsException') break;
        await sleep(200 * (attempt + 1));
      }
    }
    // The refresh token is spent and the new pair lives only in this container: loud.
    metric('ZaloTokenRefreshFailed', 1, { reason: 'write' });
    logger.error({
      message:
        'Zalo token refreshed but the new pair could not be written to the tenant secret: this container keeps using it; authorize again (npm run tenant -- zalo-authorize) before it expires',
      tenant: tenantId,
      error: lastError instanceof Error ? lastError.name : String(lastError),
    });
  };

  const refresh = async (
    tenant: TenantDocument,
    stale: string,
    force: boolean,
    signal: AbortSignal | undefined,
  ): Promise<string> => {
    const tenantId = tenant.tenantId;
    const owner = randomUUID();
    if (!(await lock(tenantId, owner))) {
      // Another container is refreshing: its pair shows up in the secret.
      for (let attempt = 0; attempt < waitAttempts; attempt++) {
        await sleep(waitMs);
        const { doc } = await readSecret(tenantId);
        const token = adoptable(doc.channels.zalo, stale, true);
        if (token !== undefined && doc.channels.zalo) return adopt(tenantId, doc.channels.zalo);
      }
      throw new RetryableSendError(
        'ZALO_TOKEN_REFRESHING',
        'zalo token: another process is refreshing the access token.',
        { retryAfterMs: 2000 },
      );
    }
    try {
      const { raw, doc } = await readSecret(tenantId);
      const config = doc.channels.zalo;
      if (!config)
        throw new PermanentSendError(
          'NOT_CONFIGURED',
          `zalo: tenant "${tenantId}" has no Zalo configuration.`,
        );
      if (adoptable(config, stale, force) !== undefined) return adopt(tenantId, config);
      if (!canRefresh(config)) {
        return config.accessToken;
      }
      let pair: ZaloTokenPair;
      try {
        pair = await requestZaloToken({
          appId: config.appId,
          appSecretKey: config.appSecretKey,
          grant: { type: 'refresh_token', refreshToken: config.refreshToken },
          base: (options.oauthBase ?? zaloOAuthBase)(),
          ...(options.fetch ? { fetch: options.fetch } : {}),
          now,
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        if (err instanceof ZaloGrantRefusedError) {
          metric('ZaloTokenRefreshFailed', 1, { reason: 'refused' });
          logger.error({
            message:
              'Zalo refused the refresh token (expired, revoked or already spent): replies stop when the access token expires. Fix: npm run tenant -- zalo-authorize <tenant> --code <new authorization code>',
            tenant: tenantId,
            code: err.platformCode,
            error: err.message,
          });
        }
        throw err;
      }
      await write(tenantId, raw, config.refreshToken, pair);
      known.set(tenantId, { accessToken: pair.accessToken, expiresAt: pair.expiresAt });
      logger.info({ message: 'Zalo access token refreshed', tenant: tenantId, expiresAt: pair.expiresAt });
      return pair.accessToken;
    } finally {
      await unlock(tenantId, owner);
    }
  };

  /** One refresh per tenant at a time in this container; concurrent callers share it. */
  const shared = (
    tenant: TenantDocument,
    stale: string,
    force: boolean,
    signal: AbortSignal | undefined,
  ): Promise<string> => {
    const running = flights.get(tenant.tenantId);
    if (running) return running;
    const flight = refresh(tenant, stale, force, signal).finally(() => flights.delete(tenant.tenantId));
    flights.set(tenant.tenantId, flight);
    return flight;
  };

  return {
    async accessToken(tenant, config, signal) {
      const token = current(tenant.tenantId, config);
      if (!canRefresh(config) || token.expiresAt === undefined || token.expiresAt - now() > ahead) {
        return token.accessToken;
      }
      try {
        return await shared(tenant, token.accessToken, false, signal);
      } catch (err) {
        // Ahead of expiry the old token still works: send with it (a refused refresh has alarmed).
        if (token.expiresAt > now()) return token.accessToken;
        throw err;
      }
    },
    async refreshAfterRefusal(tenant, config, refused, signal) {
      if (!canRefresh(config)) return undefined;
      const mine = current(tenant.tenantId, config);
      if (mine.accessToken !== refused) return mine.accessToken;
      return shared(tenant, refused, true, signal);
    },
  };
}
