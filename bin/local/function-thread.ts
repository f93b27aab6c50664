/**
 * Runs SQS-triggered Lambda handlers with their event source stand-ins (bin/local/sqs-poller.ts)
 * in a worker thread: the local stack's "containers". Every AWS call costs CPU in the SDK on the
 * caller's side, and one thread running the webhook, the sandbox and every handler saturates
 * its core while the second core idles; a thread per function spreads them. Each thread loads
 * its own copy of the handler modules, SDK clients and caches, as separate Lambda functions do.
 */
import { isMainThread, type MessagePort, parentPort, Worker, workerData } from 'node:worker_threads';
import { SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_CREDENTIALS } from './emulators.js';
import type { InprocRoute } from './inproc-server.js';
import {
  InprocHttpHandler,
  inprocClientConfig,
  LOCAL_UNUSED_MIDDLEWARE,
  trimLocalClient,
} from './inproc-transport.js';
import type { LocalFunction } from './lambda-context.js';
import { type PollerStats, type SqsHandler, type SqsPoller, startSqsPoller } from './sqs-poller.js';

/** The SQS-triggered functions of the local stack (lambdas/handlers/{name}.ts). */
export type SqsFunctionName = 'conversation' | 'timer' | 'delivery';

/** One function and the queue that triggers it. */
export interface FunctionSpec {
  readonly name: SqsFunctionName;
  readonly fn: LocalFunction;
  readonly queueUrl: string;
  readonly queueArn: string;
  /** Batches in flight at once. */
  readonly concurrency: number;
}

export interface FunctionThreadOptions {
  readonly functions: readonly FunctionSpec[];
  readonly region: string;
  readonly sqsEndpoint: string;
  /** The handlers' environment (an empty value removes the variable). */
  readonly env: Readonly<Record<string, string>>;
  /**
   * A port to the emulators' in-process transport (moved to the thread): the handlers' shared
   * clients and the pollers send over it instead of loopback HTTP. Without it, HTTP.
   */
  readonly inproc?: { readonly port: MessagePort; readonly routes: Readonly<Record<number, InprocRoute>> };
  /** Receives the pollers' warnings and debug lines (printed by the main thread's logger). */
  readonly log?: { warn(message: string): void; debug(message: string): void };
}

/** Handlers running in their thread. */
export interface FunctionThread {
  /** The pollers' counters, per function. */
  readonly stats: () => Promise<Partial<Record<SqsFunctionName, PollerStats>>>;
  /** Stops receiving, lets batches in flight finish (up to `graceMs`), then ends the thread. */
  readonly stop: (graceMs?: number) => Promise<void>;
}

type Command = { op: 'stats' } | { op: 'stop'; graceMs: number };
type Request = Command & { id: number };
type Reply =
  | { id: number; ok: true; stats?: Partial<Record<SqsFunctionName, PollerStats>> }
  | { id: number; ok: false; error: string };
type Event =
  | { ready: true }
  | { failed: string }
  | { log: 'warn' | 'debug'; message: string }
  | (Reply & { reply: true });
interface ThreadData {
  readonly chatRelayFunctionThread: true;
  readonly module: string;
  readonly options: Omit<FunctionThreadOptions, 'log' | 'env'>;
}

/** Starts the handlers of `options.functions` in a worker thread; resolves once they are loaded. */
export async function startFunctionThread(options: FunctionThreadOptions): Promise<FunctionThread> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value;
  for (const [name, value] of Object.entries(options.env)) {
    if (value === '') delete env[name];
    else env[name] = value;
  }
  const { log, env: _env, ...rest } = options;
  const worker = new Worker(new URL('./emulator-thread-entry.mjs', import.meta.url), {
    env,
    workerData: {
      chatRelayFunctionThread: true,
      module: import.meta.url,
      options: rest,
    } satisfies ThreadData,
    transferList: rest.inproc ? [rest.inproc.port] : [],
  });
  let next = 0;
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let settleReady: { resolve: () => void; reject: (e: Error) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    settleReady = { resolve, reject };
  });
  worker.on('message', (m: Event) => {
    if ('ready' in m) settleReady?.resolve();
    else if ('failed' in m) settleReady?.reject(new Error(m.failed));
    else if ('log' in m) log?.[m.log](m.message);
    else {
      const p = pending.get(m.id);
      pending.delete(m.id);
      p?.resolve(m);
    }
  });
  worker.on('error', (err) => {
    settleReady?.reject(err);
    console.error(`chat-relay: a function thread failed: ${err.stack ?? String(err)}`);
  });
  worker.once('exit', (code) => {
    settleReady?.reject(new Error(`function thread exited with ${code} before it was ready`));
    for (const p of pending.values()) p.reject(new Error(`function thread exited with ${code}`));
    pending.clear();
  });
  await ready;
  settleReady = undefined;

  const call = (command: Command): Promise<Reply> =>
    new Promise((resolve, reject) => {
      next += 1;
      pending.set(next, { resolve, reject });
      worker.postMessage({ ...command, id: next } satisfies Request);
    });

  return {
    stats: async () => {
      const reply = await call({ op: 'stats' });
      if (!reply.ok) throw new Error(reply.error);
      return reply.stats ?? {};
    },
    stop: async (graceMs = 3000) => {
      await Promise.race([
        call({ op: 'stop', graceMs }).catch(() => undefined),
        new Promise((r) => setTimeout(r, graceMs + 1000)),
      ]);
      await worker.terminate();
    },
  };
}

const data = isMainThread ? undefined : (workerData as Partial<ThreadData> | undefined);
if (parentPort && data?.chatRelayFunctionThread === true && data.options) {
  const port = parentPort;
  const { functions, region, sqsEndpoint, inproc } = data.options;
  const post = (event: Event): void => port.postMessage(event);
  try {
    const transport = inproc
      ? inprocClientConfig(new InprocHttpHandler({ port: inproc.port, routes: inproc.routes, region }))
      : {};
    if (inproc) {
      // Before any handler builds its clients (they are built on first use, per module instance).
      const { setLocalClientHook } = await import('../../lambdas/shared/clients.js');
      setLocalClientHook({ config: transport, removeMiddleware: LOCAL_UNUSED_MIDDLEWARE });
    }
    // Handlers read their environment when their modules load: the thread's env is already set.
    const handlers = await Promise.all(
      functions.map(async (f) => {
        const mod = (await import(`../../lambdas/handlers/${f.name}.js`)) as { handler: SqsHandler };
        return mod.handler;
      }),
    );
    const sqs = trimLocalClient(
      new SQSClient({
        region,
        credentials: LOCAL_CREDENTIALS,
        endpoint: sqsEndpoint,
        useQueueUrlAsEndpoint: false,
        ...transport,
      }),
    );
    const log = {
      warn: (message: string) => post({ log: 'warn', message }),
      debug: (message: string) => post({ log: 'debug', message }),
    };
    const pollers = new Map<SqsFunctionName, SqsPoller>();
    functions.forEach((f, i) => {
      pollers.set(
        f.name,
        startSqsPoller({
          sqs,
          region,
          log,
          queueUrl: f.queueUrl,
          queueArn: f.queueArn,
          fn: f.fn,
          handler: handlers[i]!,
          concurrency: f.concurrency,
        }),
      );
    });
    port.on('message', (request: Request) => {
      void (async () => {
        try {
          if (request.op === 'stats') {
            const stats: Partial<Record<SqsFunctionName, PollerStats>> = {};
            for (const [name, p] of pollers) stats[name] = p.stats();
            post({ reply: true, id: request.id, ok: true, stats });
          } else {
            await Promise.all([...pollers.values()].map((p) => p.stop(request.graceMs)));
            sqs.destroy();
            post({ reply: true, id: request.id, ok: true });
          }
        } catch (err) {
          post({ reply: true, id: request.id, ok: false, error: String(err) });
        }
      })();
    });
    post({ ready: true });
  } catch (err) {
    post({ failed: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
}
