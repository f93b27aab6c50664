/**
 * The HTTP plumbing every channel sender shares: one `fetch` call with an abort signal, whose
 * network failures and timeouts become {@link RetryableSendError}s — {@link AmbiguousSendError}
 * when the request may have reached the platform — plus helpers to read `Retry-After` and to keep
 * tokens out of error messages. Tokens ride in URLs (Pancake and Meta
 * query strings, Telegram paths), so nothing here ever puts a URL into a message.
 */

import {
  AmbiguousSendError,
  PermanentSendError,
  RetryableSendError,
  type SendError,
} from '../../shared/errors.js';
import type { ApiBases } from '../endpoints.js';
import { apiBases } from '../endpoints.js';
import type { SendTarget } from '../types.js';

/** What a send makes an HTTP call for; the rate limiter counts `send` and `upload` calls. */
export type CallKind = 'send' | 'upload' | 'typing';

/** Options shared by every sender factory. */
export interface SenderOptions {
  /** Base URLs, read on every call (so tests can repoint them). @default apiBases() */
  readonly bases?: () => ApiBases;
  /** The fetch implementation. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /**
   * Called before every platform call that counts against the platform's rate limit (sends
   * and uploads). Delivery plugs its shared per-page limiter in here; it may wait, or throw a
   * SendError to give the message back to the queue.
   */
  readonly beforeCall?: (target: SendTarget, kind: Exclude<CallKind, 'typing'>) => Promise<void>;
}

/** A parsed HTTP answer. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  /** The JSON body, or undefined when the body is not JSON. */
  readonly json: unknown;
  /** The first 300 characters of the body (for error messages; tokens redacted). */
  readonly snippet: string;
}

/** Resolved options with defaults applied. */
export interface ResolvedOptions {
  readonly bases: () => ApiBases;
  readonly fetch: typeof fetch;
  readonly beforeCall: NonNullable<SenderOptions['beforeCall']>;
}

/** Applies defaults to sender options. */
export function resolveOptions(options: SenderOptions = {}): ResolvedOptions {
  return {
    bases: options.bases ?? (() => apiBases()),
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    beforeCall: options.beforeCall ?? (async () => {}),
  };
}

/** Replaces every occurrence of each secret (and its URL-encoded form) in `text` with `***`. */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join('***');
  }
  return out;
}

/**
 * Milliseconds a `Retry-After` header asks for (delta seconds or an HTTP date), or undefined.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/**
 * Error codes (Node and undici) raised before any byte of the request left this machine: no
 * name resolution, no route, connection refused or not established in time, TLS refused. A
 * retry cannot duplicate a message, so such a failure is retried like any other.
 */
export const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
]);

/** The first Node/undici error code on `err` or its causes (fetch wraps them in `TypeError`). */
export function errorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Performs one HTTP request. Any HTTP status is returned as an answer. Failures without one:
 * - the request never left (connection refused, DNS, connect timeout — {@link NOT_SENT_CODES}):
 *   a {@link RetryableSendError} `CONNECT`, safe to retry at once;
 * - anything after that (the send timeout, a connection lost mid-request, an unreadable answer):
 *   an {@link AmbiguousSendError} `TIMEOUT` or `NETWORK`, since the platform may have acted.
 *   The send timeout (25 s by default) is longer than undici's 10 s connect timeout, so a
 *   timeout means the connection was up and the request sent; with a shorter timeout a timeout
 *   during the connect is also reported ambiguous, the safe side.
 * Messages never contain the URL.
 */
export async function request(
  opts: ResolvedOptions,
  url: string,
  init: RequestInit & { readonly what: string; readonly secrets: readonly (string | undefined)[] },
): Promise<HttpAnswer> {
  const { what, secrets, ...fetchInit } = init;
  let response: Response;
  try {
    response = await opts.fetch(url, fetchInit);
  } catch (err) {
    if (isAbort(err) || init.signal?.aborted) {
      throw new AmbiguousSendError('TIMEOUT', `${what}: no answer before the send timeout.`);
    }
    const reason = err instanceof Error ? `${err.message}${causeText(err)}` : String(err);
    const code = errorCode(err);
    if (code !== undefined && NOT_SENT_CODES.has(code)) {
      throw new RetryableSendError('CONNECT', `${what}: not sent (${code}): ${redact(reason, secrets)}`);
    }
    throw new AmbiguousSendError('NETWORK', `${what}: network error: ${redact(reason, secrets)}`);
  }
  let text: string;
  try {
    text = await response.text();
  } catch (err) {
    if (isAbort(err) || init.signal?.aborted) {
      throw new AmbiguousSendError(
        'TIMEOUT',
        `${what}: HTTP ${response.status} but the answer did not arrive before the send timeout.`,
        { status: response.status },
      );
    }
    throw new AmbiguousSendError(
      'NETWORK',
      `${what}: HTTP ${response.status} but the answer could not be read.`,
      {
        status: response.status,
      },
    );
  }
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return {
    status: response.status,
    headers: response.headers,
    json,
    snippet: redact(text.slice(0, 300), secrets),
  };
}

function causeText(err: Error): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) return ` (${cause.message})`;
  return '';
}

/** POSTs a JSON body. */
export function postJson(
  opts: ResolvedOptions,
  url: string,
  body: unknown,
  init: {
    readonly what: string;
    readonly secrets: readonly (string | undefined)[];
    readonly signal?: AbortSignal | undefined;
    readonly headers?: Record<string, string>;
  },
): Promise<HttpAnswer> {
  return request(opts, url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(init.headers ?? {}) },
    body: JSON.stringify(body),
    what: init.what,
    secrets: init.secrets,
    ...(init.signal ? { signal: init.signal } : {}),
  });
}

/**
 * The generic HTTP status classification, used when a platform's body says nothing more
 * specific: 401 token invalid, 429 and 5xx retryable, every other non-2xx permanent.
 */
export function errorFromStatus(what: string, answer: HttpAnswer, detail?: string): SendError {
  const status = answer.status;
  const message = `${what}: HTTP ${status}${detail ? ` ${detail}` : ''}`;
  if (status === 429 || status >= 500 || status === 408) {
    const retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'));
    return new RetryableSendError(String(status), message, {
      status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  return new PermanentSendError(String(status), message, { status, tokenInvalid: status === 401 });
}

/** Downloads an image (to re-upload it where the platform needs the bytes). */
export async function downloadImage(
  opts: ResolvedOptions,
  url: string,
  signal: AbortSignal | undefined,
): Promise<{ bytes: Uint8Array; contentType: string; fileName: string }> {
  let response: Response;
  try {
    response = await opts.fetch(url, signal ? { signal } : {});
  } catch (err) {
    if (isAbort(err) || signal?.aborted) throw new RetryableSendError('TIMEOUT', 'Image download timed out.');
    throw new RetryableSendError('IMAGE_DOWNLOAD', 'Image download failed (network).');
  }
  if (response.status >= 500 || response.status === 429) {
    throw new RetryableSendError('IMAGE_DOWNLOAD', `Image download failed: HTTP ${response.status}.`, {
      status: response.status,
    });
  }
  if (!response.ok) {
    throw new PermanentSendError('IMAGE_UNAVAILABLE', `Image download failed: HTTP ${response.status}.`, {
      status: response.status,
    });
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch {
    throw new RetryableSendError('IMAGE_DOWNLOAD', 'Image download was interrupted.');
  }
  const contentType =
    response.headers.get('content-type')?.split(';')[0]?.trim() || 'application/octet-stream';
  let fileName = 'image';
  try {
    fileName = decodeURIComponent(new URL(url).pathname.split('/').pop() || 'image') || 'image';
  } catch {
    // keep the default name
  }
  return { bytes, contentType, fileName };
}

/** Throws a PermanentSendError when a channel the reply is for is not configured for the tenant. */
export function notConfigured(channel: string, detail: string): PermanentSendError {
  return new PermanentSendError('NOT_CONFIGURED', `${channel}: ${detail}`);
}

/** Runs a best-effort call: never rejects. */
export async function bestEffort(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch {
    // Typing indicators are cosmetic: a failure must not affect the send.
  }
}
