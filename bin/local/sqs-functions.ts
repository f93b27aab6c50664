/**
 * The local stack's SQS-triggered functions (conversation, timer, delivery), each behind its
 * event source stand-in: in worker threads (`npm start`: the conversation and timer functions in
 * one, delivery in another, so the handlers' SDK work uses the second core), or on the calling
 * thread (`npm run cost`, which counts the SDK calls made in its own thread).
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import type { LocalConfig } from './config.js';
import type { EmulatorThread } from './emulator-thread.js';
import { LOCAL_CREDENTIALS } from './emulators.js';
import { type FunctionSpec, type SqsFunctionName, startFunctionThread } from './function-thread.js';
import {
  InprocHttpHandler,
  inprocClientConfig,
  inprocTransportEnabled,
  trimLocalClient,
} from './inproc-transport.js';
import type { LocalFunction } from './lambda-context.js';
import { type PollerLog, type PollerStats, type SqsHandler, startSqsPoller } from './sqs-poller.js';

/** The running functions. */
export interface SqsFunctions {
  /** Where they run. */
  readonly threads: boolean;
  /** Their pollers' counters. */
  readonly stats: () => Promise<Partial<Record<SqsFunctionName, PollerStats>>>;
  /** Stops receiving and lets the batches in flight finish (up to `graceMs`). */
  readonly stop: (graceMs?: number) => Promise<void>;
}

/** Batches in flight per function: FIFO queues scale out by message group, as Lambda does. */
function specs(
  config: Pick<LocalConfig, 'fifoPollers'>,
  emulators: Pick<EmulatorThread, 'queues'>,
  fns: Readonly<Record<SqsFunctionName, LocalFunction>>,
): Record<SqsFunctionName, FunctionSpec> {
  const { inbound, timer, outbound } = emulators.queues;
  return {
    conversation: {
      name: 'conversation',
      fn: fns.conversation,
      queueUrl: inbound.url,
      queueArn: inbound.arn,
      concurrency: config.fifoPollers,
    },
    timer: { name: 'timer', fn: fns.timer, queueUrl: timer.url, queueArn: timer.arn, concurrency: 2 },
    delivery: {
      name: 'delivery',
      fn: fns.delivery,
      queueUrl: outbound.url,
      queueArn: outbound.arn,
      concurrency: config.fifoPollers,
    },
  };
}

/**
 * Starts the conversation, timer and delivery functions. On the calling thread, the handlers
 * read `process.env`, which the caller has set; in threads, `env` is their environment.
 */
export async function startSqsFunctions(
  config: Pick<LocalConfig, 'fifoPollers' | 'functionThreads'>,
  emulators: Pick<EmulatorThread, 'queues' | 'region' | 'sqsEndpoint'> &
    Partial<Pick<EmulatorThread, 'connect' | 'inprocRoutes'>>,
  env: Readonly<Record<string, string>>,
  log: PollerLog,
  fns: Readonly<Record<SqsFunctionName, LocalFunction>>,
): Promise<SqsFunctions> {
  const all = specs(config, emulators, fns);
  const { connect, inprocRoutes } = emulators;
  const inproc = inprocTransportEnabled() && connect !== undefined && inprocRoutes !== undefined;
  if (config.functionThreads) {
    const groups: FunctionSpec[][] = [[all.conversation, all.timer], [all.delivery]];
    const started = await Promise.allSettled(
      groups.map((functions) =>
        startFunctionThread({
          functions,
          region: emulators.region,
          sqsEndpoint: emulators.sqsEndpoint,
          env,
          log,
          ...(inproc ? { inproc: { port: connect(), routes: inprocRoutes } } : {}),
        }),
      ),
    );
    const threads = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all(threads.map((t) => t.stop(0)));
      throw failed.reason;
    }
    return {
      threads: true,
      stats: async () => Object.assign({}, ...(await Promise.all(threads.map((t) => t.stats())))),
      stop: async (graceMs = 3000) => {
        await Promise.all(threads.map((t) => t.stop(graceMs)));
      },
    };
  }

  const names = ['conversation', 'timer', 'delivery'] as const;
  // The handlers' shared clients are this thread's: the caller installs the hook for them
  // (bin/local/stack.ts does for the webhook); the pollers' client gets the transport here.
  const transport = inproc
    ? inprocClientConfig(
        new InprocHttpHandler({ port: connect(), routes: inprocRoutes, region: emulators.region }),
      )
    : {};
  const handlers = await Promise.all(
    names.map(async (name) => {
      const mod = (await import(`../../lambdas/handlers/${name}.js`)) as { handler: SqsHandler };
      return mod.handler;
    }),
  );
  const sqs = trimLocalClient(
    new SQSClient({
      region: emulators.region,
      credentials: LOCAL_CREDENTIALS,
      endpoint: emulators.sqsEndpoint,
      useQueueUrlAsEndpoint: false,
      ...transport,
    }),
  );
  const pollers = names.map((name, i) => {
    const spec = all[name];
    return startSqsPoller({
      sqs,
      region: emulators.region,
      log,
      queueUrl: spec.queueUrl,
      queueArn: spec.queueArn,
      fn: spec.fn,
      handler: handlers[i]!,
      concurrency: spec.concurrency,
    });
  });
  return {
    threads: false,
    stats: async () => Object.fromEntries(names.map((name, i) => [name, pollers[i]!.stats()])),
    stop: async (graceMs = 3000) => {
      await Promise.all(pollers.map((p) => p.stop(graceMs)));
      sqs.destroy();
    },
  };
}
