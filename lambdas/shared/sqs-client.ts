/**
 * The shared SQS client on its own, so a Lambda that only sends to SQS (the webhook) does not
 * load the DynamoDB SDK at cold start. `clients.ts` re-exports it; both names are the same client.
 *
 * Two things every producer gets from this client, whoever calls it:
 * - timeouts ({@link CLIENT_TIMEOUTS}.sqs): 1 s to connect, 5 s per request, except
 *   ReceiveMessage long polls, which get their WaitTimeSeconds plus 5 s (a poll cut short can
 *   hide the messages it was about to return until their visibility timeout ends);
 * - message bodies made valid for SQS whatever the customer typed ({@link sqsSafeBody}): a
 *   middleware rewrites the body of every SendMessage and SendMessageBatch entry.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { CLIENT_TIMEOUTS, LONG_POLL_MARGIN_MS } from './client-timeouts.js';

/** Every UTF-16 code unit outside ASCII (which is all SQS could refuse in a JSON text). */
const NON_ASCII = /[\u0080-\uffff]/;
const NON_ASCII_GLOBAL = /[\u0080-\uffff]/g;

const escapeUnit = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * A message body SQS accepts whatever the text inside it. SQS allows only #x9 | #xA | #xD |
 * #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF (no U+FFFE/U+FFFF, no lone surrogates, and the
 * local emulator nothing outside the BMP), while customers type emoji and stray code units.
 *
 * A JSON body is rewritten as ASCII-only JSON: every UTF-16 code unit ≥ U+0080 becomes a
 * `\uXXXX` escape. That is valid for any JSON text, because non-ASCII characters can only occur
 * inside strings, and `JSON.parse` restores the exact string, lone surrogates included. JSON
 * texts have no raw control characters but tab, CR and LF (JSON.stringify escapes the rest),
 * which SQS allows. Bodies that are ASCII already are returned as they are (no parse); a body
 * that is not JSON is returned unchanged (every chat-relay queue carries JSON).
 *
 * Escaping grows a non-ASCII character to 6 bytes (12 for an emoji): a Vietnamese text of
 * n characters takes at most 6n bytes on the queue.
 */
export function sqsSafeBody(body: string): string {
  if (!NON_ASCII.test(body)) return body;
  try {
    JSON.parse(body);
  } catch {
    return body;
  }
  return body.replace(NON_ASCII_GLOBAL, escapeUnit);
}

interface SendInput {
  MessageBody?: unknown;
  Entries?: readonly { MessageBody?: unknown }[];
}

/** The stack methods that change which middleware a resolved handler should contain. */
const STACK_MUTATORS = ['add', 'addRelativeTo', 'remove', 'removeByTag', 'use'] as const;
const LISTENERS = Symbol('chatRelayStackListeners');

/**
 * Calls `onChange` after every change of a client's middleware stack, so that handlers resolved
 * from it once and reused (the SDK's `cacheMiddleware`, lambdas/shared/document-client.ts) are
 * dropped and the change applies from the next call, as it does on an uncached client (tests add
 * fault-injecting middleware to the shared clients, benchmarks add call counters). Wraps the
 * stack object's own methods; several listeners per stack are fine.
 */
export function onMiddlewareStackChange(stack: object, onChange: () => void): void {
  const methods = stack as Record<string | symbol, unknown>;
  const existing = methods[LISTENERS] as (() => void)[] | undefined;
  if (existing) {
    existing.push(onChange);
    return;
  }
  const listeners = [onChange];
  Object.defineProperty(methods, LISTENERS, { value: listeners, enumerable: false });
  for (const name of STACK_MUTATORS) {
    const original = methods[name];
    if (typeof original !== 'function') continue;
    methods[name] = (...args: unknown[]) => {
      const result = (original as (...a: unknown[]) => unknown).apply(stack, args);
      for (const listener of listeners) listener();
      return result;
    };
  }
}

/**
 * Takes the SDK's logger middleware off a client built without a `logger`. With the default
 * no-op logger it still walks every input and output through the schema's sensitive-data filter
 * to build a log entry nobody receives (measured: see docs/local-stack.md, "What changed").
 */
export function dropNoOpLogger(
  client: { middlewareStack: { remove(name: string): boolean } },
  config: object,
): void {
  if (!('logger' in config)) client.middlewareStack.remove('loggerMiddleware');
}

/** Adds the body-rewriting middleware and per-operation timeouts to a client. */
function harden(client: SQSClient): SQSClient {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as SendInput;
      if (context.commandName === 'SendMessageCommand' && typeof input.MessageBody === 'string') {
        const safe = sqsSafeBody(input.MessageBody);
        if (safe !== input.MessageBody) {
          return next({ ...args, input: { ...args.input, MessageBody: safe } as typeof args.input });
        }
      } else if (context.commandName === 'SendMessageBatchCommand' && Array.isArray(input.Entries)) {
        let changed = false;
        const entries = input.Entries.map((e) => {
          if (typeof e.MessageBody !== 'string') return e;
          const safe = sqsSafeBody(e.MessageBody);
          if (safe === e.MessageBody) return e;
          changed = true;
          return { ...e, MessageBody: safe };
        });
        if (changed)
          return next({ ...args, input: { ...args.input, Entries: entries } as typeof args.input });
      }
      return next(args);
    },
    // High priority: before the SDK's MD5 check of the body, which must see the body sent.
    { step: 'initialize', priority: 'high', name: 'chatRelaySqsSafeBody' },
  );

  // The client-wide requestTimeout would cut long polls; give them their wait plus a margin.
  // The handler is the SDK's NodeHttpHandler; per-call options still win when given.
  const handler = client.config.requestHandler as {
    handle?: (request: { headers: Record<string, string>; body?: unknown }, options?: object) => unknown;
  };
  if (typeof handler?.handle !== 'function') return client;
  const handle = handler.handle.bind(handler);
  handler.handle = (request, options = {}) => {
    if (
      (options as { requestTimeout?: number }).requestTimeout === undefined &&
      request.headers['x-amz-target'] === 'AmazonSQS.ReceiveMessage'
    ) {
      return handle(request, { ...options, requestTimeout: longPollTimeoutMs(request.body) });
    }
    return handle(request, options);
  };
  return client;
}

/** Request timeout of a ReceiveMessage call: its WaitTimeSeconds (up to 20) plus the margin. */
function longPollTimeoutMs(body: unknown): number {
  let wait = 20;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { WaitTimeSeconds?: unknown };
      if (typeof parsed.WaitTimeSeconds === 'number') wait = parsed.WaitTimeSeconds;
    } catch {
      // keep the 20 s maximum
    }
  }
  return Math.max(wait * 1000 + LONG_POLL_MARGIN_MS, CLIENT_TIMEOUTS.sqs.requestTimeout);
}

/**
 * Local stack only: extra configuration for the shared clients, set by a local-stack thread
 * before its handlers create them (bin/local/inproc-transport.ts hands requests to the emulators
 * in process instead of over loopback HTTP). Never set in a deployed Lambda.
 */
export interface LocalClientHook {
  /** Merged into every shared client's constructor configuration (e.g. `requestHandler`). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Middleware (by name) taken off every shared client, e.g. what the emulators never read. */
  readonly removeMiddleware?: readonly string[];
}

let localHook: LocalClientHook | undefined;

/**
 * Installs (or removes, with `undefined`) the local stack's client hook and drops the cached
 * SQS client so that the next one is built with it. `clients.ts` applies it to DynamoDB too.
 */
export function setLocalClientHook(hook: LocalClientHook | undefined): void {
  localHook = hook;
  resetSqsClient();
}

/** The installed local client hook's configuration (empty in AWS). */
export function localClientConfig(): Readonly<Record<string, unknown>> {
  return localHook?.config ?? {};
}

/** Takes the installed local client hook's `removeMiddleware` off a new client (nothing in AWS). */
export function applyLocalMiddleware(client: { middlewareStack: { remove(name: string): boolean } }): void {
  for (const name of localHook?.removeMiddleware ?? []) client.middlewareStack.remove(name);
}

let sqs: SQSClient | undefined;

/** The shared SQS client. */
export function sqsClient(): SQSClient {
  // With a custom endpoint (emulators) send to it rather than to the queue URL's host, whose
  // `sqs.{region}.localhost` name does not resolve everywhere. In AWS this branch is never taken.
  if (sqs) return sqs;
  const config = {
    ...(process.env.AWS_ENDPOINT_URL_SQS ? { useQueueUrlAsEndpoint: false } : {}),
    requestHandler: { ...CLIENT_TIMEOUTS.sqs },
    // The SDK resolves the middleware stack once per command class instead of at every call
    // (calls with per-call options still resolve their own). Nothing adds middleware to a
    // single command; middleware added to the client's stack drops the cache (below).
    cacheMiddleware: true,
    ...localHook?.config,
  };
  const client = harden(new SQSClient(config));
  dropNoOpLogger(client, config);
  applyLocalMiddleware(client);
  onMiddlewareStackChange(client.middlewareStack, () => {
    // The SDK's per-class handler cache (a private field of its Client).
    delete (client as unknown as { handlers?: unknown }).handlers;
  });
  sqs = client;
  return sqs;
}

/** Drops the cached SQS client (called by `resetClients()`). */
export function resetSqsClient(): void {
  sqs?.destroy();
  sqs = undefined;
}
