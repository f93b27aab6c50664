/**
 * Local HTTP servers speaking the platforms' media download protocols, errors included:
 * WhatsApp Cloud API (`GET /v25.0/{media-id}` with bearer → `{url}`, then the URL with the
 * same bearer), Telegram Bot API (`getFile` → `file_path`, then `/file/bot<token>/<path>`) and
 * plain CDN URLs (Meta, Pancake, Zalo).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
}

export interface FakePlatforms {
  readonly base: string;
  readonly requests: RecordedRequest[];
  /** media id / file id / CDN path → bytes */
  readonly files: Map<string, Buffer>;
  /** Paths that answer 500 this many more times before working. */
  readonly failures: Map<string, number>;
  /** Paths that never answer (the download hangs) — for timeout and shutdown tests. */
  readonly hang: Set<string>;
  /** Paths streamed without Content-Length (chunked), to exercise the streaming cap. */
  readonly chunked: Set<string>;
  /** Resolves when a request for `path` arrives. */
  readonly waitFor: (path: string) => Promise<void>;
  readonly close: () => Promise<void>;
}

export const WHATSAPP_TOKEN = 'EAAG-whatsapp-secret-token';
export const TELEGRAM_TOKEN = '123456:AAH-telegram-secret-token_abcdefgh';

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startFakePlatforms(): Promise<FakePlatforms> {
  const requests: RecordedRequest[] = [];
  const files = new Map<string, Buffer>();
  const failures = new Map<string, number>();
  const hang = new Set<string>();
  const chunked = new Set<string>();
  const waiters = new Map<string, (() => void)[]>();
  let base = '';

  const sendFile = (res: ServerResponse, path: string, bytes: Buffer): void => {
    if (chunked.has(path)) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = 64 * 1024;
      let offset = 0;
      const pump = (): void => {
        while (offset < bytes.length) {
          const ok = res.write(bytes.subarray(offset, offset + chunk));
          offset += chunk;
          if (!ok) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('error', () => {});
      pump();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
    res.end(bytes);
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', base);
    const path = url.pathname;
    requests.push({ method: req.method ?? 'GET', path, authorization: req.headers.authorization });
    for (const resolve of waiters.get(path) ?? []) resolve();
    waiters.delete(path);
    if (hang.has(path)) return;
    const remaining = failures.get(path) ?? 0;
    if (remaining > 0) {
      failures.set(path, remaining - 1);
      json(res, 500, { error: 'temporary' });
      return;
    }

    // WhatsApp: lookup, then the media URL, both with the bearer.
    const wa = /^\/v25\.0\/([^/]+)$/.exec(path);
    if (wa) {
      if (req.headers.authorization !== `Bearer ${WHATSAPP_TOKEN}`) {
        json(res, 401, {
          error: { message: 'Invalid OAuth access token.', type: 'OAuthException', code: 190 },
        });
        return;
      }
      const id = decodeURIComponent(wa[1] ?? '');
      const bytes = files.get(`wa:${id}`);
      if (!bytes) {
        json(res, 400, {
          error: { message: 'Unsupported get request.', type: 'GraphMethodException', code: 100 },
        });
        return;
      }
      json(res, 200, {
        messaging_product: 'whatsapp',
        url: `${base}/whatsapp-cdn/${encodeURIComponent(id)}?ext=1`,
        mime_type: 'audio/ogg',
        sha256: 'x',
        file_size: bytes.length,
        id,
      });
      return;
    }
    const waCdn = /^\/whatsapp-cdn\/([^/]+)$/.exec(path);
    if (waCdn) {
      if (req.headers.authorization !== `Bearer ${WHATSAPP_TOKEN}`) {
        res.writeHead(401).end();
        return;
      }
      const bytes = files.get(`wa:${decodeURIComponent(waCdn[1] ?? '')}`);
      if (!bytes) res.writeHead(404).end();
      else sendFile(res, path, bytes);
      return;
    }

    // Telegram: getFile, then the file path.
    if (path === `/bot${TELEGRAM_TOKEN}/getFile`) {
      const fileId = url.searchParams.get('file_id') ?? '';
      const bytes = files.get(`tg:${fileId}`);
      if (!bytes) {
        json(res, 400, { ok: false, error_code: 400, description: 'Bad Request: invalid file_id' });
        return;
      }
      if (bytes.length > 20 * 1024 * 1024) {
        json(res, 400, { ok: false, error_code: 400, description: 'Bad Request: file is too big' });
        return;
      }
      json(res, 200, {
        ok: true,
        result: {
          file_id: fileId,
          file_unique_id: 'u',
          file_size: bytes.length,
          file_path: `voice/${fileId}.oga`,
        },
      });
      return;
    }
    if (path.startsWith('/bot') && path.endsWith('/getFile')) {
      json(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
      return;
    }
    const tgFile = new RegExp(`^/file/bot${TELEGRAM_TOKEN.replace(/[-:]/g, '\\$&')}/voice/(.+)\\.oga$`).exec(
      path,
    );
    if (tgFile) {
      const bytes = files.get(`tg:${decodeURIComponent(tgFile[1] ?? '')}`);
      if (!bytes) res.writeHead(404).end();
      else sendFile(res, path, bytes);
      return;
    }

    // Plain CDN URLs.
    const bytes = files.get(`cdn:${path}`);
    if (bytes) sendFile(res, path, bytes);
    else res.writeHead(404).end();
  };

  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    requests,
    files,
    failures,
    hang,
    chunked,
    waitFor: (path) =>
      new Promise<void>((resolve) => {
        if (requests.some((r) => r.path === path)) resolve();
        else waiters.set(path, [...(waiters.get(path) ?? []), resolve]);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
