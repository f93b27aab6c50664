/**
 * Downloading an attachment with its channel's auth, under a size cap and a time budget.
 *
 * - WhatsApp: `GET {graph}/{GRAPH_API_VERSION, default v25.0}/{media-id}` with `Authorization: Bearer <accessToken>` →
 *   `{url, file_size…}`, then `GET url` with the same bearer.
 * - Telegram: `GET {telegram}/bot<token>/getFile?file_id=…` → `result.file_path`, then
 *   `GET {telegram}/file/bot<token>/<file_path>` (the Bot API serves at most 20 MB).
 * - Pancake, Messenger, Instagram, Zalo: the attachment `url` as given.
 *
 * The size cap is checked against the declared size first and then enforced while streaming
 * (the transfer is aborted past it). URLs and tokens never appear in error messages.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ApiBases, apiBases, graphRoot } from '../channels/endpoints.js';
import { DEFAULTS } from '../contracts/defaults.js';
import { DependencyError, MediaError, NotFoundError, TenantConfigError } from '../shared/errors.js';
import type { MediaJob } from '../shared/model.js';
import type { TenantDocument } from '../shared/tenant.js';

/** Default size cap (`MAX_MEDIA_BYTES`): 25 MB. */
export const DEFAULT_MAX_MEDIA_BYTES = DEFAULTS.maxMediaBytes;

/** Options of {@link downloadAttachment}. */
export interface DownloadOptions {
  /** Abort past this many bytes. @default 25 MB */
  readonly maxBytes?: number;
  /** Budget for the whole download (lookups, redirects, body). @default 60000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Platform API bases. @default apiBases() */
  readonly bases?: ApiBases;
  /** Loads the tenant (for tokens); only called for channels that need one. */
  readonly loadTenant: (tenantId: string) => Promise<TenantDocument>;
  /** Attempts on network errors, 429 and 5xx. @default 3 */
  readonly attempts?: number;
}

/** What was downloaded. */
export interface Downloaded {
  readonly bytes: number;
  readonly contentType: string | undefined;
}

interface Target {
  readonly url: string;
  readonly headers: Record<string, string>;
  /** Size the platform declared up front, when it did. */
  readonly declaredSize?: number;
}

class RetryableHttpError extends Error {}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

function tooLarge(maxBytes: number): MediaError {
  return new MediaError('MEDIA_TOO_LARGE', `The attachment is larger than the ${maxBytes}-byte limit.`);
}

/** Tokens for a channel, with tenant errors translated (a tenant without a token is permanent). */
async function tenantFor(job: MediaJob, options: DownloadOptions): Promise<TenantDocument> {
  try {
    return await options.loadTenant(job.tenantId);
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof TenantConfigError) {
      throw new MediaError('MEDIA_DOWNLOAD_FAILED', `Tenant "${job.tenantId}" is unknown or misconfigured.`, {
        cause: err,
      });
    }
    if (err instanceof DependencyError) throw err;
    throw new DependencyError(`Could not load tenant "${job.tenantId}".`, { cause: err });
  }
}

async function getJson(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  what: string,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { headers, signal, redirect: 'follow' });
  if (res.status === 429 || res.status >= 500) {
    await res.body?.cancel();
    throw new RetryableHttpError(`${what} answered HTTP ${res.status}.`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body };
}

/** Resolves the URL to fetch and its auth headers for a job. */
async function resolveTarget(job: MediaJob, options: DownloadOptions, signal: AbortSignal): Promise<Target> {
  const bases = options.bases ?? apiBases();
  const { attachment } = job;
  switch (job.channel) {
    case 'whatsapp': {
      const tenant = await tenantFor(job, options);
      const token = tenant.channels.whatsapp?.accessToken;
      if (!token) throw new MediaError('MEDIA_DOWNLOAD_FAILED', 'The tenant has no WhatsApp access token.');
      const headers = { authorization: `Bearer ${token}` };
      if (!attachment.fileId) {
        if (attachment.url) return { url: attachment.url, headers };
        throw new MediaError('MEDIA_DOWNLOAD_FAILED', 'The WhatsApp attachment has no media id.');
      }
      const lookup = `${graphRoot(bases)}/${encodeURIComponent(attachment.fileId)}`;
      const { status, body } = await getJson(lookup, headers, signal, 'The WhatsApp media lookup');
      const info = body as {
        url?: unknown;
        file_size?: unknown;
        error?: { code?: unknown; message?: unknown };
      };
      if (status !== 200 || typeof info?.url !== 'string') {
        const code = info?.error?.code !== undefined ? ` (code ${String(info.error.code)})` : '';
        throw new MediaError(
          'MEDIA_DOWNLOAD_FAILED',
          `The WhatsApp media lookup failed with HTTP ${status}${code}.`,
        );
      }
      const size = Number(info.file_size);
      return { url: info.url, headers, ...(Number.isFinite(size) && size > 0 ? { declaredSize: size } : {}) };
    }
    case 'telegram': {
      const tenant = await tenantFor(job, options);
      const token = tenant.channels.telegram?.botToken;
      if (!token) throw new MediaError('MEDIA_DOWNLOAD_FAILED', 'The tenant has no Telegram bot token.');
      if (!attachment.fileId) {
        if (attachment.url) return { url: attachment.url, headers: {} };
        throw new MediaError('MEDIA_DOWNLOAD_FAILED', 'The Telegram attachment has no file_id.');
      }
      const lookup = `${bases.telegram}/bot${token}/getFile?file_id=${encodeURIComponent(attachment.fileId)}`;
      const { status, body } = await getJson(lookup, {}, signal, 'Telegram getFile');
      const reply = body as {
        ok?: unknown;
        description?: unknown;
        result?: { file_path?: unknown; file_size?: unknown };
      };
      if (reply?.ok !== true || typeof reply.result?.file_path !== 'string') {
        // The Bot API refuses files over 20 MB with "Bad Request: file is too big".
        const description = typeof reply?.description === 'string' ? reply.description.slice(0, 200) : '';
        if (/too big/i.test(description)) throw tooLarge(options.maxBytes ?? DEFAULT_MAX_MEDIA_BYTES);
        throw new MediaError(
          'MEDIA_DOWNLOAD_FAILED',
          `Telegram getFile failed with HTTP ${status}${description ? `: ${description}` : ''}.`,
        );
      }
      const size = Number(reply.result.file_size);
      const path = reply.result.file_path
        .split('/')
        .map((p) => encodeURIComponent(p))
        .join('/');
      return {
        url: `${bases.telegram}/file/bot${token}/${path}`,
        headers: {},
        ...(Number.isFinite(size) && size > 0 ? { declaredSize: size } : {}),
      };
    }
    default: {
      if (!attachment.url) {
        throw new MediaError('MEDIA_DOWNLOAD_FAILED', `The ${job.channel} attachment has no URL.`);
      }
      return { url: attachment.url, headers: {} };
    }
  }
}

/** Streams `target` into `dest`, aborting past `maxBytes`. */
async function fetchToFile(
  target: Target,
  dest: string,
  maxBytes: number,
  signal: AbortSignal,
): Promise<Downloaded> {
  let protocol: string;
  try {
    protocol = new URL(target.url).protocol;
  } catch {
    throw new MediaError('MEDIA_DOWNLOAD_FAILED', 'The attachment URL is malformed.');
  }
  if (protocol !== 'https:' && protocol !== 'http:') {
    throw new MediaError('MEDIA_DOWNLOAD_FAILED', `Unsupported attachment URL scheme "${protocol}".`);
  }
  const res = await fetch(target.url, { headers: target.headers, signal, redirect: 'follow' });
  if (res.status === 429 || res.status >= 500) {
    await res.body?.cancel();
    throw new RetryableHttpError(`The media download answered HTTP ${res.status}.`);
  }
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    throw new MediaError('MEDIA_DOWNLOAD_FAILED', `The media download answered HTTP ${res.status}.`);
  }
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body.cancel();
    throw tooLarge(maxBytes);
  }
  let bytes = 0;
  const limiter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      bytes += chunk.length;
      if (bytes > maxBytes) callback(tooLarge(maxBytes));
      else callback(null, chunk);
    },
  });
  await pipeline(
    Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
    limiter,
    createWriteStream(dest),
  );
  if (bytes === 0) throw new MediaError('MEDIA_DOWNLOAD_FAILED', 'The media download was empty.');
  return { bytes, contentType: res.headers.get('content-type') ?? undefined };
}

/**
 * Downloads the job's attachment to `dest`.
 * @throws MediaError MEDIA_DOWNLOAD_FAILED, MEDIA_TOO_LARGE or MEDIA_TIMEOUT
 * @throws DependencyError when the tenant could not be loaded (worth retrying the job)
 */
export async function downloadAttachment(
  job: MediaJob,
  dest: string,
  options: DownloadOptions,
): Promise<Downloaded> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MEDIA_BYTES;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const attempts = Math.max(1, options.attempts ?? 3);
  const budget = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, budget]) : budget;
  if (job.attachment.size !== undefined && job.attachment.size > maxBytes) throw tooLarge(maxBytes);

  let lastError = 'unknown error';
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    try {
      const target = await resolveTarget(job, options, signal);
      if (target.declaredSize !== undefined && target.declaredSize > maxBytes) throw tooLarge(maxBytes);
      return await fetchToFile(target, dest, maxBytes, signal);
    } catch (err) {
      await rm(dest, { force: true });
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      if (budget.aborted) {
        throw new MediaError('MEDIA_TIMEOUT', `The media download took longer than ${timeoutMs} ms.`);
      }
      if (err instanceof MediaError || err instanceof DependencyError) throw err;
      // Network failures (fetch's TypeError) and 429/5xx: retry with backoff.
      lastError =
        err instanceof RetryableHttpError
          ? err.message
          : `network error (${(err as { cause?: { code?: string } })?.cause?.code ?? (err as Error)?.name ?? 'unknown'})`;
      if (attempt < attempts) await sleep(200 * 4 ** (attempt - 1), signal);
    }
  }
  throw new MediaError(
    'MEDIA_DOWNLOAD_FAILED',
    `The media download failed after ${attempts} attempts: ${lastError}.`,
  );
}
