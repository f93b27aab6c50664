/**
 * Runs the emulators (bin/local/emulators.ts) in a worker thread, so that the DynamoDB, SQS
 * and Secrets Manager servers use a second core while the handlers run on the main thread:
 * every AWS call of the pipeline costs CPU on both ends, and one thread would do both.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import {
  isMainThread,
  MessageChannel,
  type MessagePort,
  parentPort,
  Worker,
  workerData,
} from 'node:worker_threads';
import { type EmulatorOptions, type Emulators, startEmulators } from './emulators.js';
import { type InprocRoute, serveInproc } from './inproc-server.js';

/** What the thread reports once its servers listen (plain data: it crosses threads). */
export interface EmulatorEndpoints
  extends Pick<
    Emulators,
    | 'region'
    | 'dynamoEndpoint'
    | 'sqsEndpoint'
    | 's3Endpoint'
    | 'queues'
    | 'tables'
    | 'mediaBucket'
    | 'secretPrefix'
    | 'env'
    | 'replayed'
  > {
  readonly secretsEndpoint: string;
  /** The emulators served in process over {@link EmulatorThread.connect}, by loopback port. */
  readonly inprocRoutes: Readonly<Record<number, InprocRoute>>;
}

/** The emulators running in their thread. */
export interface EmulatorThread extends EmulatorEndpoints {
  /** Stores a secret directly (no SDK round trip). */
  readonly putSecret: (name: string, value: string) => Promise<void>;
  /**
   * A new port to the emulators' in-process transport (bin/local/inproc-transport.ts): usable
   * in this thread, or transferred to another one.
   */
  readonly connect: () => MessagePort;
  /** Stops the servers and the thread. */
  readonly stop: () => Promise<void>;
}

type Command =
  | { op: 'putSecret'; name: string; value: string }
  | { op: 'connect'; port: MessagePort }
  | { op: 'stop' };
type Request = Command & { id: number };
type Reply = { id: number; ok: true } | { id: number; ok: false; error: string };
interface ThreadData {
  readonly chatRelayEmulatorThread: true;
  readonly module: string;
  readonly options: EmulatorOptions;
}
type Ready = { ready: EmulatorEndpoints } | { failed: string };

/** Starts the emulators in a worker thread. */
export async function startEmulatorThread(options: EmulatorOptions = {}): Promise<EmulatorThread> {
  const worker = new Worker(new URL('./emulator-thread-entry.mjs', import.meta.url), {
    workerData: { chatRelayEmulatorThread: true, module: import.meta.url, options } satisfies ThreadData,
  });
  const endpoints = await new Promise<EmulatorEndpoints>((resolve, reject) => {
    worker.once('message', (m: Ready) => ('ready' in m ? resolve(m.ready) : reject(new Error(m.failed))));
    worker.once('error', reject);
    worker.once('exit', (code) =>
      reject(new Error(`emulator thread exited with ${code} before it was ready`)),
    );
  });
  worker.removeAllListeners('exit');
  worker.removeAllListeners('error');
  worker.on('error', (err) => {
    console.error(`chat-relay: the emulator thread failed: ${err.stack ?? String(err)}`);
  });

  let next = 0;
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  worker.on('message', (m: Reply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve();
    else p.reject(new Error(m.error));
  });
  const call = (request: Command): Promise<void> =>
    new Promise((resolve, reject) => {
      next += 1;
      pending.set(next, { resolve, reject });
      worker.postMessage({ ...request, id: next }, request.op === 'connect' ? [request.port] : []);
    });

  return {
    ...endpoints,
    putSecret: (name, value) => call({ op: 'putSecret', name, value }),
    connect: () => {
      const { port1, port2 } = new MessageChannel();
      // Messages posted on port2 before the thread takes port1 wait in port1's queue.
      call({ op: 'connect', port: port1 }).catch((err: unknown) => {
        console.error(`chat-relay: could not connect to the emulator thread: ${String(err)}`);
      });
      return port2;
    },
    stop: async () => {
      await Promise.race([call({ op: 'stop' }), new Promise((r) => setTimeout(r, 2000))]).catch(() => {});
      await worker.terminate();
    },
  };
}

/** A V8 CPU profiler on this thread: started now, `stop()` returns the profile. */
async function startProfiler(): Promise<{ stop: () => Promise<object> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return { stop: async () => (await session.post('Profiler.stop')).profile };
}

const data = isMainThread ? undefined : (workerData as Partial<ThreadData> | undefined);
if (parentPort && data?.chatRelayEmulatorThread === true) {
  const port = parentPort;
  try {
    const emulators = await startEmulators(data.options ?? {});
    const ready: EmulatorEndpoints = {
      region: emulators.region,
      dynamoEndpoint: emulators.dynamoEndpoint,
      sqsEndpoint: emulators.sqsEndpoint,
      s3Endpoint: emulators.s3Endpoint,
      secretsEndpoint: emulators.secrets.endpoint,
      queues: emulators.queues,
      tables: emulators.tables,
      mediaBucket: emulators.mediaBucket,
      secretPrefix: emulators.secretPrefix,
      env: emulators.env,
      ...(emulators.replayed ? { replayed: emulators.replayed } : {}),
      inprocRoutes: emulators.inproc.routes,
    };
    // `--cpu-prof` writes no profile for a worker that is terminated: this thread profiles
    // itself when asked (the e2e benchmark's `--cpu-prof DIR` does) and writes it when stopped.
    const profileFile = process.env.LOCAL_EMULATOR_CPU_PROFILE;
    const profiler = profileFile ? await startProfiler() : undefined;
    port.on('message', (request: Request) => {
      void (async () => {
        try {
          if (request.op === 'putSecret') emulators.secrets.putSecret(request.name, request.value);
          else if (request.op === 'connect') serveInproc(request.port, emulators.inproc.dispatch);
          else {
            if (profiler && profileFile) writeFileSync(profileFile, JSON.stringify(await profiler.stop()));
            await emulators.stop();
          }
          port.postMessage({ id: request.id, ok: true } satisfies Reply);
        } catch (err) {
          port.postMessage({ id: request.id, ok: false, error: String(err) } satisfies Reply);
        }
      })();
    });
    port.postMessage({ ready } satisfies Ready);
  } catch (err) {
    port.postMessage({
      failed: err instanceof Error ? (err.stack ?? err.message) : String(err),
    } satisfies Ready);
  }
}
