/**
 * Loads images for vision input: customer photos by URL and video keyframes from the media
 * bucket. Sizes are capped while reading (a large body is abandoned, not buffered), and the
 * format is taken from the bytes, not from headers the sender controls.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { downloadAttachment } from '../media/download.js';
import { ENV } from '../shared/env.js';
import { MediaError } from '../shared/errors.js';
import type { Attachment, ChannelName } from '../shared/model.js';
import type { TenantDocument } from '../shared/tenant.js';
import { loadTenant } from '../shared/tenant-store.js';

/** Image formats the Converse API accepts. */
export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp';

export interface LoadedImage {
  readonly format: ImageFormat;
  readonly bytes: Uint8Array;
}

/** Converse's per-image limit is 3.75 MB. */
export const MAX_IMAGE_BYTES = 3_750_000;
/** Converse accepts at most 20 images per request. */
export const MAX_IMAGES = 20;

export interface ImageLoaderOptions {
  readonly maxBytes?: number;
  /** Bucket of bare keyframe keys (`media/…`); default `MEDIA_BUCKET`. */
  readonly bucket?: string;
  readonly s3?: S3Client;
  /** Loads tenants for photos fetched with a platform token (Telegram, WhatsApp). @default loadTenant */
  readonly loadTenant?: (tenantId: string) => Promise<TenantDocument>;
}

/** The image format of `bytes` from its magic number, or undefined. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const at = (i: number): number => bytes[i] ?? -1;
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return 'jpeg';
  if (at(0) === 0x89 && at(1) === 0x50 && at(2) === 0x4e && at(3) === 0x47) return 'png';
  if (at(0) === 0x47 && at(1) === 0x49 && at(2) === 0x46 && at(3) === 0x38) return 'gif';
  const ascii = (from: number, to: number): string => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  return undefined;
}

function tooLarge(ref: string, maxBytes: number): MediaError {
  return new MediaError('MEDIA_TOO_LARGE', `Image ${describeRef(ref)} is larger than ${maxBytes} bytes.`);
}

/** A log-safe description of an image reference: no query string (it may carry a token). */
export function describeRef(ref: string): string {
  try {
    const url = new URL(ref);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return ref;
  }
}

async function readCapped(
  body: ReadableStream<Uint8Array>,
  ref: string,
  maxBytes: number,
): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(ref, maxBytes);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

async function fetchUrl(ref: string, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(ref, { signal, redirect: 'follow' });
  } catch (err) {
    throw new MediaError('MEDIA_DOWNLOAD_FAILED', `Image ${describeRef(ref)} could not be fetched.`, {
      cause: err,
    });
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel().catch(() => undefined);
    throw new MediaError(
      'MEDIA_DOWNLOAD_FAILED',
      `Image ${describeRef(ref)} answered HTTP ${response.status}.`,
    );
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body.cancel().catch(() => undefined);
    throw tooLarge(ref, maxBytes);
  }
  return readCapped(response.body, ref, maxBytes);
}

let sharedS3: S3Client | undefined;

async function fetchS3(
  bucket: string,
  key: string,
  ref: string,
  maxBytes: number,
  signal: AbortSignal,
  s3: S3Client | undefined,
): Promise<Uint8Array> {
  sharedS3 ??= s3 ?? new S3Client({ forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3) });
  const client = s3 ?? sharedS3;
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: signal,
    });
    if (out.ContentLength !== undefined && out.ContentLength > maxBytes) {
      (out.Body as { destroy?: () => void } | undefined)?.destroy?.();
      throw tooLarge(ref, maxBytes);
    }
    const bytes = await out.Body?.transformToByteArray();
    if (bytes === undefined) throw new MediaError('MEDIA_DOWNLOAD_FAILED', `Image ${ref} has no body.`);
    if (bytes.byteLength > maxBytes) throw tooLarge(ref, maxBytes);
    return bytes;
  } catch (err) {
    if (err instanceof MediaError) throw err;
    throw new MediaError('MEDIA_DOWNLOAD_FAILED', `Image ${ref} could not be read from S3.`, { cause: err });
  }
}

/**
 * Loads one image: an `http(s)://` URL, an `s3://bucket/key` URI, or a bare key in the media
 * bucket (keyframes).
 * @throws MediaError (MEDIA_TOO_LARGE, MEDIA_DOWNLOAD_FAILED, MEDIA_CORRUPT for non-images).
 */
export async function loadImage(
  ref: string,
  signal: AbortSignal,
  options: ImageLoaderOptions = {},
): Promise<LoadedImage> {
  const maxBytes = options.maxBytes ?? MAX_IMAGE_BYTES;
  let bytes: Uint8Array;
  if (/^https?:\/\//i.test(ref)) {
    bytes = await fetchUrl(ref, maxBytes, signal);
  } else if (ref.startsWith('s3://')) {
    const rest = ref.slice(5);
    const slash = rest.indexOf('/');
    if (slash <= 0) throw new MediaError('MEDIA_DOWNLOAD_FAILED', `Image ${ref} is not a valid s3:// URI.`);
    bytes = await fetchS3(rest.slice(0, slash), rest.slice(slash + 1), ref, maxBytes, signal, options.s3);
  } else {
    const bucket = options.bucket ?? process.env[ENV.mediaBucket];
    if (bucket === undefined || bucket === '') {
      throw new MediaError('MEDIA_DOWNLOAD_FAILED', `Image key ${ref} needs MEDIA_BUCKET to be set.`);
    }
    bytes = await fetchS3(bucket, ref.replace(/^\/+/, ''), ref, maxBytes, signal, options.s3);
  }
  const format = sniffImageFormat(bytes);
  if (format === undefined) {
    throw new MediaError('MEDIA_CORRUPT', `Image ${describeRef(ref)} is not a JPEG, PNG, GIF or WebP.`);
  }
  return { format, bytes };
}

/** What {@link loadPlatformImage} needs to find a photo known only by its platform file id. */
export interface PlatformImageRef {
  readonly tenantId: string;
  readonly channel: ChannelName;
  readonly conversationId: string;
  readonly conversationKey: string;
  readonly turnId: string;
  readonly messageId: string;
  readonly attachment: Attachment;
}

/**
 * Loads a photo that Telegram (`file_id`) or WhatsApp (media id) sends without a URL, with the
 * tenant's token, through the media worker's authenticated downloader, capped at `maxBytes`.
 * @throws MediaError when it cannot be fetched, is too large or is not an image
 */
export async function loadPlatformImage(
  ref: PlatformImageRef,
  signal: AbortSignal,
  options: {
    readonly maxBytes?: number;
    readonly loadTenant?: (tenantId: string) => Promise<TenantDocument>;
  } = {},
): Promise<LoadedImage> {
  const maxBytes = options.maxBytes ?? MAX_IMAGE_BYTES;
  const dir = await mkdtemp(join(tmpdir(), 'chat-relay-image-'));
  try {
    const file = join(dir, 'image');
    await downloadAttachment(
      {
        v: 1,
        tenantId: ref.tenantId,
        channel: ref.channel,
        conversationId: ref.conversationId,
        conversationKey: ref.conversationKey,
        turnId: ref.turnId,
        messageId: ref.messageId,
        // Telegram `{botId}:{chat}`, WhatsApp `{phoneNumberId}:{wa_id}`.
        pageId: ref.conversationId.split(':')[0] || ref.conversationId,
        attachmentIndex: 0,
        attachment: ref.attachment,
        enqueuedAt: Date.now(),
      },
      file,
      { maxBytes, signal, attempts: 2, loadTenant: options.loadTenant ?? loadTenant },
    );
    const bytes = new Uint8Array(await readFile(file));
    const format = sniffImageFormat(bytes);
    if (!format)
      throw new MediaError('MEDIA_CORRUPT', 'The platform file is not a JPEG, PNG, GIF or WebP image.');
    return { format, bytes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
