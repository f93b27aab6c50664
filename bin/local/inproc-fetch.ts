/**
 * Local stack only: `fetch` to the sandbox platform without a socket. The senders (delivery, the
 * media worker, Zalo's token refresh) call `globalThis.fetch` with the sandbox's URLs; on the
 * thread that serves the sandbox, this hands the request straight to the sandbox's own request
 * listener through a minimal request/response pair, and builds the `Response` from what it
 * answers. Everything else (other origins, other paths) goes to the real `fetch`.
 *
 * What the senders can observe stays what undici gives them over loopback: the status, headers
 * and body; a connection the platform drops (`res.destroy()`: the sandbox's `network` fault) is
 * `TypeError('fetch failed')` caused by an `UND_ERR_SOCKET` error; a request that never gets an
 * answer (the `hang` fault) waits until its abort signal fires and rejects with the signal's
 * reason, and the sandbox sees its response closed, as a client disconnect. The sandbox still
 * journals every delivered record before it answers. Measured in docs/local-stack.md
 * ("Throughput"): undici's client and the HTTP server were ~15 % of the thread's CPU.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The sandbox's request listener (it answers with `writeHead`, `end` and `destroy` only). */
export type InprocListener = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface InprocFetchOptions {
  /** Origin of the local stack as the senders address it, e.g. `http://127.0.0.1:3000`. */
  readonly origin: string;
  /** Path prefix served in process (`/sandbox`). */
  readonly pathPrefix: string;
  readonly listener: InprocListener;
}

/** The pair handed to the listener: what it reads from a request and writes to a response. */
class InprocResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  finished = false;
  private readonly headers = new Map<string, string>();
  private readonly chunks: Buffer[] = [];

  constructor(
    private readonly done: (res: { status: number; headers: [string, string][]; body: Buffer }) => void,
    private readonly failed: (err: Error) => void,
  ) {
    super();
  }

  setHeader(name: string, value: number | string | readonly string[]): this {
    this.headers.set(name.toLowerCase(), Array.isArray(value) ? value.join(', ') : String(value));
    return this;
  }

  getHeader(name: string): string | undefined {
    return this.headers.get(name.toLowerCase());
  }

  writeHead(status: number, headers?: Record<string, number | string | readonly string[]>): this {
    this.statusCode = status;
    for (const [name, value] of Object.entries(headers ?? {})) this.setHeader(name, value);
    this.headersSent = true;
    return this;
  }

  write(chunk: string | Uint8Array): boolean {
    this.headersSent = true;
    this.chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
    return true;
  }

  end(chunk?: string | Uint8Array): this {
    if (this.finished) return this;
    if (chunk !== undefined) this.write(chunk);
    this.finished = true;
    this.headersSent = true;
    this.done({ status: this.statusCode, headers: [...this.headers], body: Buffer.concat(this.chunks) });
    this.emit('finish');
    this.emit('close');
    return this;
  }

  destroy(): this {
    if (this.finished) return this;
    this.finished = true;
    // What undici reports when the server closes the connection before its answer.
    const socket = Object.assign(new Error('other side closed'), {
      name: 'SocketError',
      code: 'UND_ERR_SOCKET',
    });
    this.failed(new TypeError('fetch failed', { cause: socket }));
    this.emit('close');
    return this;
  }

  /** The client gave up (its abort signal): the listener sees a closed response. */
  abandon(): void {
    if (this.finished) return;
    this.finished = true;
    this.emit('close');
  }
}

/**
 * The request as the listener reads it: method, url, headers (lower-case names; a record of
 * the caller's own, completed here with `content-length`) and the body as one chunk.
 */
function fakeRequest(
  method: string,
  path: string,
  plain: Record<string, string>,
  body: Buffer,
): IncomingMessage {
  if (body.length > 0 && plain['content-length'] === undefined) plain['content-length'] = String(body.length);
  // The sandbox's listeners read the body with `for await`; nothing else of a stream is used.
  const req = {
    method,
    url: path,
    headers: plain,
    async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
      if (body.length > 0) yield body;
    },
  };
  return req as unknown as IncomingMessage;
}

/** Methods `Request` upper-cases (the fast path also takes `PATCH`; anything else goes to it). */
const NORMALISED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);
/** An HTTP token, what `Headers` accepts as a name. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What `Headers` trims from both ends of a value. */
const HTTP_WHITESPACE_ENDS = /^[\t\n\r ]+|[\t\n\r ]+$/g;
/** What `Headers` refuses inside a value. */
const BAD_HEADER_VALUE = /[\0\n\r]/;

interface SimpleInit {
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly signal: AbortSignal | null | undefined;
}

/**
 * The request an `init` describes when it is one the senders use: no body or a string body,
 * headers as a plain record of strings, nothing else that `Request` would act on. `undefined`
 * for anything else (the caller then builds a real `Request`).
 */
function simpleInit(init: RequestInit | undefined): SimpleInit | undefined {
  if (init === undefined) return { method: 'GET', headers: {}, body: Buffer.alloc(0), signal: undefined };
  for (const key of Object.keys(init)) {
    if (key !== 'method' && key !== 'headers' && key !== 'body' && key !== 'signal') return undefined;
  }
  const { body, headers } = init;
  if (body !== undefined && body !== null && typeof body !== 'string') return undefined;
  if (
    headers !== undefined &&
    (typeof headers !== 'object' || Array.isArray(headers) || headers instanceof Headers)
  )
    return undefined;
  const rawMethod = init.method ?? 'GET';
  const method = NORMALISED_METHODS.has(rawMethod.toUpperCase()) ? rawMethod.toUpperCase() : rawMethod;
  if (!NORMALISED_METHODS.has(method) && method !== 'PATCH') return undefined;
  if ((method === 'GET' || method === 'HEAD') && typeof body === 'string') return undefined; // Request throws
  const plain: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (typeof value !== 'string' || !HEADER_NAME.test(name)) return undefined;
    const trimmed = value.replace(HTTP_WHITESPACE_ENDS, '');
    if (BAD_HEADER_VALUE.test(trimmed)) return undefined; // Request throws on these
    const lower = name.toLowerCase();
    // Repeated names (differing in case) are joined as Headers joins them.
    plain[lower] = plain[lower] === undefined ? trimmed : `${plain[lower]}, ${trimmed}`;
  }
  if (typeof body === 'string' && plain['content-type'] === undefined) {
    plain['content-type'] = 'text/plain;charset=UTF-8';
  }
  return {
    method,
    headers: plain,
    body: typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.alloc(0),
    signal: init.signal,
  };
}

/**
 * A `fetch` that serves `origin + pathPrefix/*` in process and passes anything else to `fallback`.
 */
export function createInprocFetch(options: InprocFetchOptions, fallback: typeof fetch): typeof fetch {
  const origin = new URL(options.origin).origin;
  const prefix = options.pathPrefix;
  const served = (url: URL): boolean =>
    url.origin === origin && (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`));

  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    let url: URL;
    try {
      url = new URL(href);
    } catch {
      return fallback(input, init);
    }
    if (!served(url)) return fallback(input, init);

    const path = `${url.pathname}${url.search}`;
    let method: string;
    let signal: AbortSignal | null | undefined;
    let req: IncomingMessage;
    const simple = typeof input === 'string' ? simpleInit(init) : undefined;
    if (simple) {
      // What the senders pass (a URL string, a plain header record, a text body or none): read
      // directly, as Request would read it, without building a Request and its body stream.
      ({ method, signal } = simple);
      if (signal?.aborted) throw signal.reason;
      req = fakeRequest(method, path, simple.headers, simple.body);
    } else {
      // Request normalises every other body type (bytes, URLSearchParams, FormData) and headers.
      const request = new Request(input, init);
      method = request.method;
      signal = init?.signal ?? request.signal;
      if (signal?.aborted) throw signal.reason;
      const body = request.body ? Buffer.from(await request.arrayBuffer()) : Buffer.alloc(0);
      req = fakeRequest(method, path, Object.fromEntries(request.headers), body);
    }

    return new Promise<Response>((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const settle = (): void => {
        if (onAbort) signal?.removeEventListener('abort', onAbort);
      };
      const res = new InprocResponse(
        ({ status, headers, body: answer }) => {
          settle();
          const noBody = status === 204 || status === 304 || method === 'HEAD';
          resolve(new Response(noBody || answer.length === 0 ? null : answer, { status, headers }));
        },
        (err) => {
          settle();
          reject(err);
        },
      );
      if (signal) {
        onAbort = () => {
          res.abandon();
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      options.listener(req, res as unknown as ServerResponse).catch((err: unknown) => {
        if (!res.finished) res.destroy();
        settle();
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  };
}

/** Installs {@link createInprocFetch} as this thread's `globalThis.fetch`; returns the undo. */
export function installInprocFetch(options: InprocFetchOptions): () => void {
  const original = globalThis.fetch;
  globalThis.fetch = createInprocFetch(options, original);
  return () => {
    globalThis.fetch = original;
  };
}
