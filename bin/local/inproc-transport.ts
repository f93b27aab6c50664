/**
 * The local stack's in-process transport for the handlers' AWS SDK clients: a smithy request
 * handler that posts each request to the emulator thread over a `MessagePort`
 * (bin/local/inproc-server.ts) instead of writing it to a loopback socket. Profiles of the local
 * stack showed its CPU per message going to each call's HTTP client, socket writes and the
 * emulators' HTTP servers rather than to chat-relay's own code (docs/local-stack.md,
 * "Throughput"); a `postMessage` round trip between two threads costs a tenth of a loopback one.
 *
 * The emulators do not verify signatures, so requests are not signed (SigV4's hashing and
 * HMACs are per call too): they carry an `Authorization` header of the right shape instead,
 * whose credential scope names the region, as dynalite requires one and fauxqs reads the
 * region from it. Installed only by the local stack (`setLocalClientHook` in
 * lambdas/shared/clients.ts); deployed Lambdas never load this module.
 */
import type { MessagePort } from 'node:worker_threads';
import type { HttpHandlerOptions } from '@smithy/types';
import {
  coalescingPoster,
  eachMessage,
  type InprocRequest,
  type InprocResponse,
  type InprocRoute,
} from './inproc-server.js';

/** The parts of a smithy `HttpRequest` the transport reads. */
interface SdkRequest {
  readonly method: string;
  readonly hostname: string;
  readonly port?: number;
  readonly path: string;
  readonly query?: Record<string, string | string[] | null>;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

/** A smithy `HttpResponse` (the SDK checks its shape, not its class). */
interface SdkResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
}

export interface InprocTransportOptions {
  /** The port connected to the emulator thread's `serveInproc`. */
  readonly port: MessagePort;
  /** The emulators served in process, by loopback port. */
  readonly routes: Readonly<Record<number, InprocRoute>>;
  /** Region named in the unsigned requests' credential scope. */
  readonly region: string;
}

/** Thrown when the emulator thread could not answer (it stopped, or no emulator has that port). */
export class InprocTransportError extends Error {
  override readonly name = 'InprocTransportError';
}

function queryString(query: SdkRequest['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === null) params.append(name, '');
    else if (Array.isArray(value)) for (const v of value) params.append(name, v);
    else params.append(name, value);
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

async function bodyOf(body: unknown): Promise<string | Uint8Array | undefined> {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
    }
    return Buffer.concat(chunks);
  }
  throw new InprocTransportError(`unsupported request body: ${Object.prototype.toString.call(body)}`);
}

let dateSecond = -1;
let dateText = '';

/** Now in ISO-8601 basic format, as SigV4's X-Amz-Date (formatted once per second). */
function amzDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000)
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
  }
  return dateText;
}

/**
 * A smithy HttpHandler that sends each request to the emulator thread. Honours the abort signal
 * and a per-call `requestTimeout` (the shared SQS client gives long polls their wait plus a
 * margin); unlike a socket there is no connection to time out.
 */
export class InprocHttpHandler {
  readonly metadata = { handlerProtocol: 'chat-relay-inproc' };
  readonly #port: MessagePort;
  readonly #routes: Readonly<Record<number, InprocRoute>>;
  readonly #region: string;
  readonly #pending = new Map<number, { resolve: (r: InprocResponse) => void; reject: (e: Error) => void }>();
  readonly #post: (message: InprocRequest) => void;
  #next = 0;
  #closed = false;

  constructor(options: InprocTransportOptions) {
    this.#port = options.port;
    this.#routes = options.routes;
    this.#region = options.region;
    this.#post = coalescingPoster<InprocRequest>(this.#port);
    this.#port.on(
      'message',
      eachMessage((m: InprocResponse) => this.#pending.get(m.id)?.resolve(m)),
    );
    // The emulator thread stopped (or closed its end): what was in flight will never be answered.
    this.#port.on('close', () => {
      this.#closed = true;
      const error = new InprocTransportError('the emulator thread closed the in-process transport');
      for (const p of [...this.#pending.values()]) p.reject(error);
    });
    // An idle port must not keep a thread alive; a pending request must (ref'd while one is).
    this.#port.unref();
  }

  async handle(request: SdkRequest, options: HttpHandlerOptions = {}): Promise<{ response: SdkResponse }> {
    const signal = options.abortSignal as AbortSignal | undefined;
    if (signal?.aborted) throw abortError(signal);
    if (this.#closed) throw new InprocTransportError('the emulator thread closed the in-process transport');
    const port = request.port ?? 80;
    const route = this.#routes[port];
    if (route === undefined) {
      throw new InprocTransportError(`no emulator served in process on port ${port} (${request.hostname})`);
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
    headers.host ??= `${request.hostname}:${port}`;
    if (headers.authorization === undefined) {
      const date = headers['x-amz-date'] ?? amzDate();
      headers['x-amz-date'] = date;
      headers.authorization =
        `AWS4-HMAC-SHA256 Credential=local/${date.slice(0, 8)}/${this.#region}/${route.service}/aws4_request, ` +
        'SignedHeaders=host;x-amz-date, Signature=unsigned';
    }
    const body = await bodyOf(request.body);
    this.#next += 1;
    const id = this.#next;
    const message: InprocRequest = {
      id,
      port,
      method: request.method,
      url: `${request.path}${queryString(request.query)}`,
      headers,
      body,
    };
    const reply = await new Promise<InprocResponse>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (): void => {
        this.#pending.delete(id);
        if (this.#pending.size === 0) this.#port.unref();
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        settle();
        reject(abortError(signal));
      };
      this.#pending.set(id, {
        resolve: (r) => {
          settle();
          resolve(r);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      if (options.requestTimeout !== undefined && options.requestTimeout > 0) {
        const ms = options.requestTimeout;
        timer = setTimeout(() => {
          settle();
          reject(Object.assign(new Error(`request timed out after ${ms} ms`), { name: 'TimeoutError' }));
        }, ms);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.#pending.size === 1) this.#port.ref();
      this.#post(message);
    });
    if ('error' in reply) throw new InprocTransportError(reply.error);
    const bytes = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
    return { response: { statusCode: reply.status, headers: reply.headers, body: bytes } };
  }

  updateHttpClientConfig(): void {
    // Nothing to configure: no sockets, no connection pool.
  }

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {
    // The port belongs to whoever connected it.
  }
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  return Object.assign(new Error('Request aborted'), { name: 'AbortError' });
}

/** An identity that signs nothing: the emulators do not verify signatures. */
const unsignedSigV4 = {
  schemeId: 'aws.auth#sigv4',
  identityProvider: () => async () => ({}),
  signer: { sign: async <T>(request: T): Promise<T> => request },
};

/**
 * SDK middleware the emulators have no use for, taken off the local stack's clients: the user
 * agent (built and escaped at every call, about 10 µs of a 75 µs call measured in process) and
 * the recursion detection header (set from Lambda's `_X_AMZN_TRACE_ID`, which the local stack
 * never has). Neither changes what an emulator answers.
 */
export const LOCAL_UNUSED_MIDDLEWARE: readonly string[] = [
  'getUserAgentMiddleware',
  'recursionDetectionMiddleware',
];

/**
 * Takes {@link LOCAL_UNUSED_MIDDLEWARE} off a client the local stack builds itself (the event
 * source stand-ins'), and the SDK's logger middleware: those clients have no logger, and with
 * the default no-op one it still filters every input and output for a log entry nobody reads.
 */
export function trimLocalClient<C extends { middlewareStack: { remove(name: string): boolean } }>(
  client: C,
): C {
  for (const name of [...LOCAL_UNUSED_MIDDLEWARE, 'loggerMiddleware']) client.middlewareStack.remove(name);
  return client;
}

/**
 * SDK client configuration that sends over the in-process transport, unsigned: what the local
 * stack passes to `setLocalClientHook` and to its own SQS clients (the event source stand-ins).
 */
export function inprocClientConfig(handler: InprocHttpHandler): {
  requestHandler: InprocHttpHandler;
  httpAuthSchemes: (typeof unsignedSigV4)[];
} {
  return { requestHandler: handler, httpAuthSchemes: [unsignedSigV4] };
}

/**
 * Whether the local stack uses the in-process transport: yes unless `LOCAL_INPROC_TRANSPORT`
 * is `0` or `false` (loopback HTTP to the emulators, as before; for comparisons).
 */
export function inprocTransportEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.LOCAL_INPROC_TRANSPORT?.trim().toLowerCase();
  return value !== '0' && value !== 'false';
}
