/**
 * The call to Zalo's token endpoint (OAuth v4, reference/channels.md): the request as Zalo
 * documents it, and the translation of every answer into a pair, a refused grant (permanent,
 * token-invalid) or a retryable failure.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ZALO_OAUTH_BASE,
  requestZaloToken,
  writeRequestToken,
  ZaloGrantRefusedError,
  zaloOAuthBase,
} from '../../../lambdas/channels/zalo-token.js';
import { PermanentSendError, RetryableSendError } from '../../../lambdas/shared/errors.js';

interface Seen {
  url: string;
  method: string | undefined;
  headers: Headers;
  form: URLSearchParams;
}

function fakeFetch(answer: () => Response | Promise<Response>, seen: Seen[] = []): typeof fetch {
  return async (input, init) => {
    seen.push({
      url: String(input),
      method: init?.method,
      headers: new Headers(init?.headers),
      form: new URLSearchParams(String(init?.body ?? '')),
    });
    return answer();
  };
}

const ok = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const base = { appId: 'app-1', appSecretKey: 'secret-key', base: 'https://oauth.test', now: () => 1_000 };

describe('requestZaloToken', () => {
  it('posts the refresh grant as a form with the secret_key header and reads the new pair', async () => {
    const seen: Seen[] = [];
    const pair = await requestZaloToken({
      ...base,
      grant: { type: 'refresh_token', refreshToken: 'r-1' },
      fetch: fakeFetch(() => ok({ access_token: 'a-2', refresh_token: 'r-2', expires_in: '90000' }), seen),
    });
    expect(pair).toEqual({ accessToken: 'a-2', refreshToken: 'r-2', expiresAt: 1_000 + 90_000_000 });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.url).toBe('https://oauth.test/v4/oa/access_token');
    expect(seen[0]?.method).toBe('POST');
    expect(seen[0]?.headers.get('secret_key')).toBe('secret-key');
    expect(seen[0]?.headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(seen[0]!.form)).toEqual({
      app_id: 'app-1',
      grant_type: 'refresh_token',
      refresh_token: 'r-1',
    });
  });

  it('posts an authorization code with its PKCE verifier, and takes expires_in as a number too', async () => {
    const seen: Seen[] = [];
    const pair = await requestZaloToken({
      ...base,
      grant: { type: 'authorization_code', code: 'c-1', codeVerifier: 'v-1' },
      fetch: fakeFetch(() => ok({ access_token: 'a', refresh_token: 'r', expires_in: 3600 }), seen),
    });
    expect(pair.expiresAt).toBe(1_000 + 3_600_000);
    expect(Object.fromEntries(seen[0]!.form)).toEqual({
      app_id: 'app-1',
      grant_type: 'authorization_code',
      code: 'c-1',
      code_verifier: 'v-1',
    });
  });

  it('reports a refused grant (Zalo error body, or a pair missing a part) as permanent and token-invalid', async () => {
    const answers = [
      ok({ error: -14014, error_name: 'Invalid parameter', error_description: 'Invalid refresh token' }),
      ok({ access_token: 'a', expires_in: '90000' }),
      ok({ access_token: 'a', refresh_token: 'r', expires_in: '0' }),
      ok({ error_description: 'bad request' }, 400),
    ];
    const codes: string[] = [];
    for (const answer of answers) {
      const err = await requestZaloToken({
        ...base,
        grant: { type: 'refresh_token', refreshToken: 'r' },
        fetch: fakeFetch(() => answer),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ZaloGrantRefusedError);
      expect(err).toBeInstanceOf(PermanentSendError);
      expect((err as PermanentSendError).tokenInvalid).toBe(true);
      codes.push((err as PermanentSendError).platformCode);
    }
    expect(codes).toEqual(['-14014', 'HTTP_200', 'HTTP_200', 'HTTP_400']);
  });

  it('reports 5xx, 429 and network failures as retryable, never as a refused grant', async () => {
    const failures: (() => Response | Promise<Response>)[] = [
      () => ok({}, 503),
      () => ok({}, 429),
      () => Promise.reject(new TypeError('fetch failed')),
    ];
    for (const answer of failures) {
      const err = await requestZaloToken({
        ...base,
        grant: { type: 'refresh_token', refreshToken: 'r' },
        fetch: fakeFetch(answer),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RetryableSendError);
      expect(err).not.toBeInstanceOf(ZaloGrantRefusedError);
    }
  });

  it('never puts the refresh token or secret key into an error message', async () => {
    const err = (await requestZaloToken({
      ...base,
      grant: { type: 'refresh_token', refreshToken: 'very-secret-refresh' },
      fetch: fakeFetch(() => ok({ error: -14014, error_description: 'Invalid refresh token' })),
    }).catch((e: unknown) => e)) as Error;
    expect(err.message).not.toContain('very-secret-refresh');
    expect(err.message).not.toContain('secret-key');
  });
});

describe('Zalo token helpers', () => {
  it('reads ZALO_OAUTH_BASE without a trailing slash, else Zalo’s host', () => {
    expect(zaloOAuthBase({ ZALO_OAUTH_BASE: 'http://127.0.0.1:3000/sandbox/zalo-oauth/' })).toBe(
      'http://127.0.0.1:3000/sandbox/zalo-oauth',
    );
    expect(zaloOAuthBase({})).toBe(DEFAULT_ZALO_OAUTH_BASE);
  });

  it('derives one ClientRequestToken (32–64 characters) per spent refresh token', () => {
    const a = writeRequestToken('r-1');
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(writeRequestToken('r-1')).toBe(a);
    expect(writeRequestToken('r-2')).not.toBe(a);
  });
});
