/**
 * The emulators' end of the local stack's in-process transport (bin/local/inproc-transport.ts):
 * requests arrive as messages on a `MessagePort` and are handed to the emulator's own request
 * handling (dynalite's `request` listener, fauxqs's fastify `inject`) without a socket, so
 * neither side pays for loopback HTTP (Node's HTTP client and server, socket writes that wake
 * the other core). The emulators' behaviour is the same code as over HTTP: validation, errors,
 * the SQS journal's wait for the disk before a response.
 */
import { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';

/** A request as it crosses threads (header names in lower case). */
export interface InprocRequest {
  readonly id: number;
  /** The emulator's loopback port: which emulator the client's endpoint names. */
  readonly port: number;
  readonly method: string;
  /** Path and query string. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array | undefined;
}

/** An emulator's answer (header names in lower case), or why it could not answer. */
export type InprocResponse =
  | {
      readonly id: number;
      readonly status: number;
      readonly headers: Record<string, string>;
      readonly body: string | Uint8Array;
    }
  | { readonly id: number; readonly error: string };

/** Runs one request through an emulator. */
export type InprocDispatch = (
  request: Omit<InprocRequest, 'id' | 'port'>,
) => Promise<{ status: number; headers: Record<string, string>; body: string | Uint8Array }>;

/** What a client needs to know about an emulator served in process. */
export interface InprocRoute {
  /** Signing name of the service (what its credential scope names). */
  readonly service: 'dynamodb' | 'sqs';
}

type NodeListener = (req: EventEmitter, res: object) => void;

/** Header values as a client sees them: strings, lower-case names. */
function stringHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

/**
 * A dispatcher over a Node `(req, res)` request listener that reads the request as events and
 * answers with `statusCode`, `setHeader` and `end` only — dynalite's listener
 * (node_modules/dynalite/index.js `httpHandler`). Lighter than a full fake socket.
 */
export function nodeListenerDispatch(listener: NodeListener): InprocDispatch {
  return (request) =>
    new Promise((resolve, reject) => {
      const req = Object.assign(new EventEmitter(), {
        method: request.method,
        url: request.url,
        headers: request.headers,
      });
      const headers: Record<string, unknown> = {};
      const res = {
        statusCode: 200,
        setHeader(name: string, value: unknown) {
          headers[name.toLowerCase()] = value;
        },
        getHeader(name: string) {
          return headers[name.toLowerCase()];
        },
        end(body?: string | Uint8Array) {
          resolve({ status: res.statusCode, headers: stringHeaders(headers), body: body ?? '' });
        },
      };
      try {
        listener(req, res);
        const body = request.body;
        if (body !== undefined && body.length > 0)
          req.emit('data', typeof body === 'string' ? Buffer.from(body) : Buffer.from(body));
        req.emit('end');
      } catch (err) {
        reject(err);
      }
    });
}

/** The part of fastify's `inject` (light-my-request) used here. */
export type FastifyInject = (options: {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}) => Promise<{ statusCode: number; headers: Record<string, unknown>; rawPayload: Buffer }>;

/** A dispatcher over a fastify app's `inject` (fauxqs): the whole fastify lifecycle, hooks included. */
export function injectDispatch(inject: FastifyInject): InprocDispatch {
  return async (request) => {
    const body = request.body;
    const response = await inject({
      method: request.method,
      url: request.url,
      headers: request.headers,
      ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : Buffer.from(body) }),
    });
    return {
      status: response.statusCode,
      headers: stringHeaders(response.headers),
      body: response.rawPayload,
    };
  };
}

/**
 * Messages per post at most. 1000 messages at once through the local stack, interleaved runs:
 * 4 gave 98–107 msg/s against 80–105 with no limit (docs/local-stack.md, "What changed").
 */
export const DEFAULT_MAX_BATCH = 4;

/**
 * Posts messages on `port` coalesced: what is queued while the thread runs goes in one
 * `postMessage` (an array when more than one) once it is done (`setImmediate`), or as soon as
 * `maxBatch` are queued. Each `postMessage` wakes the other thread, and on this 2-vCPU machine a
 * wake costs far more than the message (docs/local-stack.md, "Throughput"); but holding a long
 * turn's messages to its end made the two threads take turns instead of working at once (the
 * emulator thread idle while the main thread finished its turn, then the other way round), so
 * a full batch goes at once.
 */
export function coalescingPoster<T>(
  port: Pick<MessagePort, 'postMessage'>,
  maxBatch = DEFAULT_MAX_BATCH,
): (message: T) => void {
  let queued: T[] = [];
  let scheduled = false;
  const send = (): void => {
    const batch = queued;
    queued = [];
    port.postMessage(batch.length === 1 ? batch[0] : batch);
  };
  const flush = (): void => {
    scheduled = false;
    if (queued.length > 0) send();
  };
  return (message) => {
    queued.push(message);
    if (queued.length >= maxBatch) {
      send();
      return;
    }
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

/** Calls `handle` for a message, or for each of a coalesced array of them. */
export function eachMessage<T>(handle: (message: T) => void): (message: T | T[]) => void {
  return (message) => {
    if (Array.isArray(message)) for (const m of message) handle(m);
    else handle(message);
  };
}

/** Answers the requests arriving on `port` with the emulator each one's `port` field names. */
export function serveInproc(port: MessagePort, routes: ReadonlyMap<number, InprocDispatch>): void {
  const post = coalescingPoster<InprocResponse>(port);
  port.on(
    'message',
    eachMessage((request: InprocRequest) => {
      const dispatch = routes.get(request.port);
      if (dispatch === undefined) {
        post({ id: request.id, error: `no emulator served in process on port ${request.port}` });
        return;
      }
      dispatch(request).then(
        (response) => post({ id: request.id, ...response }),
        (err: unknown) => post({ id: request.id, error: err instanceof Error ? err.message : String(err) }),
      );
    }),
  );
}
