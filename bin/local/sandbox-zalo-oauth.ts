/**
 * The sandbox's Zalo OAuth endpoint (mounted by sandbox.ts under `/sandbox/zalo-oauth`), so the
 * token refresh runs against something that behaves like Zalo (reference/channels.md, "Zalo OA"):
 *
 * - `POST /sandbox/zalo-oauth/v4/oa/access_token` — form `app_id`, `grant_type`
 *   (`refresh_token` or `authorization_code`), `refresh_token` or `code` (+ `code_verifier`),
 *   header `secret_key`. Answers `{access_token, refresh_token, expires_in: "90000"}`. A refresh
 *   token or code works **once**; spending one again, or a revoked one, is refused with an
 *   `error` code (`-14014`, illustrative) as Zalo does.
 * - `POST /sandbox/zalo-oauth/expire` `{"accessToken": "…"}` — from now on sends with that token
 *   are refused with Zalo's expired-token error (`-124`).
 * - `POST /sandbox/zalo-oauth/revoke` `{"refreshToken": "…"}` — that refresh token is refused.
 * - `GET /sandbox/zalo-oauth/exchanges` — the grants asked for, oldest first (`grantType`,
 *   `ok`, `at`; no tokens). `DELETE` forgets everything.
 *
 * Tokens the sandbox never issued are accepted by the send API unless expired on demand, so
 * tenants configured with fixed tokens keep working.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Where the OAuth fake is mounted. */
export const ZALO_OAUTH_MOUNT = '/sandbox/zalo-oauth';
/** How long an access token the sandbox issues lives, seconds (Zalo: about 25 hours). */
export const SANDBOX_ZALO_EXPIRES_IN = 90_000;
/** Zalo's error for an expired access token (the send API answers it with HTTP 200). */
export const ZALO_EXPIRED_TOKEN_ERROR = { error: -124, message: 'Access token has expired' } as const;

/** One grant asked for. */
export interface ZaloOAuthExchange {
  readonly grantType: string;
  readonly ok: boolean;
  readonly at: number;
}

/** The OAuth fake's state and handler. */
export interface ZaloOAuthFake {
  /** Handles a request under {@link ZALO_OAUTH_MOUNT}; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, raw: Buffer, path: string): boolean;
  /** The error body the send API answers for `token`, or undefined when it may send. */
  refusal(token: string | undefined): Record<string, unknown> | undefined;
  /** Marks an access token expired. */
  expire(accessToken: string): void;
  /** Marks a refresh token revoked. */
  revoke(refreshToken: string): void;
  exchanges(): ZaloOAuthExchange[];
  clear(): void;
}

/** Creates the OAuth fake. */
export function createZaloOAuthFake(now: () => number = Date.now): ZaloOAuthFake {
  const issued = new Map<string, number>();
  const expired = new Set<string>();
  const spent = new Set<string>();
  let exchanges: ZaloOAuthExchange[] = [];

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = body === null ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const token = (): string => randomBytes(24).toString('base64url');
  const refused = (description: string) => ({
    error: -14014,
    error_name: 'Invalid parameter',
    error_reason: description,
    error_description: description,
  });

  const exchange = (req: IncomingMessage, raw: Buffer): { status: number; body: unknown } => {
    const form = new URLSearchParams(raw.toString('utf8'));
    const grantType = form.get('grant_type') ?? '';
    const record = (ok: boolean) => exchanges.push({ grantType, ok, at: now() });
    if (!req.headers.secret_key || !form.get('app_id')) {
      record(false);
      return {
        status: 200,
        body: {
          error: -14002,
          error_name: 'Invalid app',
          error_description: 'app_id or secret_key is missing',
        },
      };
    }
    const grant =
      grantType === 'refresh_token'
        ? form.get('refresh_token')
        : grantType === 'authorization_code'
          ? form.get('code')
          : null;
    if (!grant) {
      record(false);
      return { status: 200, body: refused(`grant_type ${grantType || '(none)'} without its token or code`) };
    }
    const key = `${grantType}:${grant}`;
    if (spent.has(key)) {
      record(false);
      return {
        status: 200,
        body: refused(grantType === 'refresh_token' ? 'Invalid refresh token' : 'Invalid authorization code'),
      };
    }
    spent.add(key);
    const accessToken = token();
    issued.set(accessToken, now() + SANDBOX_ZALO_EXPIRES_IN * 1000);
    record(true);
    return {
      status: 200,
      body: {
        access_token: accessToken,
        refresh_token: token(),
        expires_in: String(SANDBOX_ZALO_EXPIRES_IN),
      },
    };
  };

  const field = (raw: Buffer, name: string): string | undefined => {
    try {
      const value = (JSON.parse(raw.toString('utf8')) as Record<string, unknown>)[name];
      return typeof value === 'string' && value !== '' ? value : undefined;
    } catch {
      return undefined;
    }
  };

  return {
    handle(req, res, raw, path) {
      if (path !== ZALO_OAUTH_MOUNT && !path.startsWith(`${ZALO_OAUTH_MOUNT}/`)) return false;
      const sub = path.slice(ZALO_OAUTH_MOUNT.length);
      if (sub === '/v4/oa/access_token' && req.method === 'POST') {
        const answer = exchange(req, raw);
        json(res, answer.status, answer.body);
      } else if (sub === '/expire' && req.method === 'POST') {
        const accessToken = field(raw, 'accessToken');
        if (!accessToken) json(res, 400, { error: 'body must be {"accessToken": "…"}' });
        else {
          expired.add(accessToken);
          json(res, 204, null);
        }
      } else if (sub === '/revoke' && req.method === 'POST') {
        const refreshToken = field(raw, 'refreshToken');
        if (!refreshToken) json(res, 400, { error: 'body must be {"refreshToken": "…"}' });
        else {
          spent.add(`refresh_token:${refreshToken}`);
          json(res, 204, null);
        }
      } else if (sub === '/exchanges' && req.method === 'GET') {
        json(res, 200, exchanges);
      } else if (sub === '/exchanges' && req.method === 'DELETE') {
        exchanges = [];
        json(res, 204, null);
      } else {
        json(res, 404, { error: `unknown Zalo OAuth sandbox path ${path}` });
      }
      return true;
    },
    refusal(accessToken) {
      if (accessToken === undefined) return undefined;
      if (expired.has(accessToken)) return { ...ZALO_EXPIRED_TOKEN_ERROR };
      const until = issued.get(accessToken);
      if (until !== undefined && until <= now()) return { ...ZALO_EXPIRED_TOKEN_ERROR };
      return undefined;
    },
    expire: (accessToken) => {
      expired.add(accessToken);
    },
    revoke: (refreshToken) => {
      spent.add(`refresh_token:${refreshToken}`);
    },
    exchanges: () => exchanges.map((e) => ({ ...e })),
    clear: () => {
      issued.clear();
      expired.clear();
      spent.clear();
      exchanges = [];
    },
  };
}
