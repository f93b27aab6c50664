/**
 * The whole pipeline in the test process: the real webhook, conversation, timer and delivery
 * handlers against the emulators (dynalite, fauxqs, Secrets Manager) and the sandbox platform,
 * each SQS queue driven the way its Lambda event source mapping drives it. Optional fault
 * proxies slow every DynamoDB / SQS call the handlers make (test/helpers/fault-proxy.ts).
 *
 * Used by the fault-injection and fuzz suites: they post signed webhooks, drive the queues
 * until the work is done, and then compare what reached the fake platform with what was
 * accepted — counts and order, never times.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { toApiGatewayEvent } from '../../bin/local/api-gateway.js';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { type Sandbox, type SandboxRecord, startSandbox } from '../../bin/local/sandbox.js';
import { storeTenantSecrets } from '../../bin/local/tenants.js';
import type { BuiltWebhook } from '../../bin/local/webhook-builder.js';
import { ENV } from '../../lambdas/shared/env.js';
import type { TenantDocument } from '../../lambdas/shared/tenant.js';
import { type FaultProfile, type FaultProxy, startFaultProxy } from './fault-proxy.js';
import { type Driver, lambdaContext, pollOnce, queueDepth, type SqsHandler } from './sqs-driver.js';

/** The queues a message travels through. */
export const PIPELINE_QUEUES = ['inbound', 'timer', 'outbound'] as const;
export type PipelineQueue = (typeof PIPELINE_QUEUES)[number];

export interface PipelineOptions {
  readonly tenants: readonly TenantDocument[];
  /** Faults on the handlers' DynamoDB and SQS calls (the drivers' own receive/delete are not slowed). */
  readonly faults?: { readonly dynamodb?: FaultProfile; readonly sqs?: FaultProfile };
  /** Visibility timeout of every queue, seconds (a failed record comes back after it). @default 5 */
  readonly visibilityTimeoutSeconds?: number;
  /** Extra handler environment (DEBOUNCE_MS=0 and RESPONDER=echo are set by default). */
  readonly env?: Readonly<Record<string, string>>;
  /** The sandbox's Pancake limit (sends per page per second; 0 disables). @default 5 */
  readonly pancakeRateLimit?: number;
  /** Parallel pollers per queue (Lambda concurrency). @default { inbound: 4, timer: 1, outbound: 4 } */
  readonly concurrency?: Partial<Record<PipelineQueue, number>>;
  /** Turns the handlers' metrics on and captures their EMF lines from stdout (see `metric`). */
  readonly captureMetrics?: boolean;
}

/** One webhook answer. */
export interface WebhookAnswer {
  readonly status: number;
  readonly body: string;
  /** `accepted` / `ignored` of a 200 `queued` body (0 otherwise). */
  readonly accepted: number;
  readonly ignored: number;
}

/** What the handlers did wrong while driven: reported record failures and thrown invocations. */
export interface HandlerTrouble {
  readonly failedRecords: Record<PipelineQueue, number>;
  readonly thrown: { readonly queue: PipelineQueue; readonly error: string }[];
}

/** Depth of a queue: visible + in flight + delayed. */
export interface QueueDepth {
  readonly queue: number;
  readonly dlq: number;
}

export interface Pipeline {
  readonly emulators: Emulators;
  readonly sandbox: Sandbox;
  readonly proxies: readonly FaultProxy[];
  /** Invokes the webhook handler with the API Gateway event of `built`. */
  readonly post: (built: BuiltWebhook) => Promise<WebhookAnswer>;
  /**
   * Posts like a platform: retries on any 5xx (and on a thrown invocation) up to `attempts`
   * times, backing off 0.5 s, 1 s, 2 s … up to 5 s between tries as the platforms do; returns
   * every answer, the last one deciding.
   */
  readonly postUntilAnswered: (built: BuiltWebhook, attempts?: number) => Promise<WebhookAnswer[]>;
  /**
   * Drives the queues until `done()` holds and every queue is empty (nothing visible, in
   * flight or delayed), or until `capMs` passes — a cap that only a hang reaches.
   * With `stopWhenIdle`, also stops once every queue has been empty on three checks in a row
   * (nothing can happen any more), whether or not `done()` holds. Returns whether `done()` held.
   */
  readonly drive: (
    done?: () => boolean | Promise<boolean>,
    capMs?: number,
    stopWhenIdle?: boolean,
  ) => Promise<boolean>;
  readonly depths: () => Promise<Record<PipelineQueue, QueueDepth>>;
  readonly trouble: () => HandlerTrouble;
  /** Sum of the values of metric `name` emitted so far (needs `captureMetrics`), optionally filtered by dimensions. */
  readonly metric: (name: string, dims?: Readonly<Record<string, string>>) => number;
  /** Sandbox records that delivered a message (text, image, comment). */
  readonly delivered: () => SandboxRecord[];
  readonly stop: () => Promise<void>;
}

type WebhookHandler = (
  event: APIGatewayProxyEventV2,
  context?: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let started = false;

/**
 * Starts the emulators, the sandbox and the optional proxies, points the handlers at them and
 * imports the handlers. One pipeline per test file (the handlers cache clients per process).
 */
export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  if (started) throw new Error('startPipeline: one pipeline per test file (handlers cache their clients).');
  started = true;
  const visibility = options.visibilityTimeoutSeconds ?? 5;
  const emulators = await startEmulators({
    prefix: `pl${process.pid}`,
    visibilityTimeoutSeconds: { inbound: visibility, timer: visibility, outbound: visibility },
  });
  const sandbox = await startSandbox({ pancakeRateLimit: options.pancakeRateLimit ?? 5 });
  const proxies: FaultProxy[] = [];
  const env: Record<string, string> = { ...emulators.env, ...sandbox.env };
  if (options.faults?.dynamodb) {
    const proxy = await startFaultProxy(emulators.dynamoEndpoint, options.faults.dynamodb);
    proxies.push(proxy);
    env.AWS_ENDPOINT_URL_DYNAMODB = proxy.url;
  }
  if (options.faults?.sqs) {
    const proxy = await startFaultProxy(emulators.sqsEndpoint, options.faults.sqs);
    proxies.push(proxy);
    env.AWS_ENDPOINT_URL_SQS = proxy.url;
  }
  env[ENV.debounceMs] = '0';
  env[ENV.responder] = 'echo';
  env[ENV.tenantCacheSeconds] = '300';
  Object.assign(env, options.env ?? {});
  const emf: Record<string, unknown>[] = [];
  let restoreStdout = (): void => {};
  if (options.captureMetrics) {
    env.POWERTOOLS_METRICS_DISABLED = 'false';
    env.POWERTOOLS_METRICS_NAMESPACE = 'ChatRelay';
    const original = process.stdout.write.bind(process.stdout);
    // EMF lines are kept (and not printed); everything else passes through.
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = String(chunk);
      if (!text.includes('"_aws"')) return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
      for (const line of text.split('\n')) {
        if (line.includes('"_aws"')) emf.push(JSON.parse(line) as Record<string, unknown>);
      }
      return true;
    }) as typeof process.stdout.write;
    restoreStdout = () => {
      process.stdout.write = original as typeof process.stdout.write;
    };
  }
  Object.assign(process.env, env);
  await storeTenantSecrets(emulators.secrets.putSecret, emulators.secretPrefix, options.tenants);

  // Handlers read their environment when they first build their clients: import after setting it.
  const clients = await import('../../lambdas/shared/clients.js');
  clients.resetClients();
  const webhook = ((await import('../../lambdas/handlers/webhook.js')) as { handler: WebhookHandler })
    .handler;
  const conversation = ((await import('../../lambdas/handlers/conversation.js')) as { handler: SqsHandler })
    .handler;
  const timer = ((await import('../../lambdas/handlers/timer.js')) as { handler: SqsHandler }).handler;
  const delivery = ((await import('../../lambdas/handlers/delivery.js')) as { handler: SqsHandler }).handler;

  const failedRecords: Record<PipelineQueue, number> = { inbound: 0, timer: 0, outbound: 0 };
  const thrown: HandlerTrouble['thrown'] = [];
  const watched =
    (queue: PipelineQueue, handler: SqsHandler): SqsHandler =>
    async (event, context) => {
      try {
        const response = await handler(event, context);
        failedRecords[queue] += response?.batchItemFailures?.length ?? 0;
        return response;
      } catch (err) {
        thrown.push({ queue, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
        throw err;
      }
    };
  const concurrency = { inbound: 4, timer: 1, outbound: 4, ...(options.concurrency ?? {}) };
  const drivers: (Driver & { concurrency: number })[] = [
    {
      sqs: emulators.sqs,
      queueUrl: emulators.queues.inbound.url,
      queueArn: emulators.queues.inbound.arn,
      handler: watched('inbound', conversation),
      concurrency: concurrency.inbound,
    },
    {
      sqs: emulators.sqs,
      queueUrl: emulators.queues.timer.url,
      queueArn: emulators.queues.timer.arn,
      handler: watched('timer', timer),
      concurrency: concurrency.timer,
    },
    {
      sqs: emulators.sqs,
      queueUrl: emulators.queues.outbound.url,
      queueArn: emulators.queues.outbound.arn,
      handler: watched('outbound', delivery),
      concurrency: concurrency.outbound,
    },
  ];

  const depthOf = (url: string): Promise<number> => queueDepth(emulators.sqs, url);
  const depths = async (): Promise<Record<PipelineQueue, QueueDepth>> => {
    const entries = await Promise.all(
      PIPELINE_QUEUES.map(
        async (q) =>
          [
            q,
            {
              queue: await depthOf(emulators.queues[q].url),
              dlq: await depthOf(emulators.queues[q].dlqUrl),
            },
          ] as const,
      ),
    );
    return Object.fromEntries(entries) as Record<PipelineQueue, QueueDepth>;
  };

  const post = async (built: BuiltWebhook): Promise<WebhookAnswer> => {
    const query = new URLSearchParams(built.query).toString();
    const event = toApiGatewayEvent({
      method: built.method,
      url: query === '' ? built.path : `${built.path}?${query}`,
      rawHeaders: Object.entries(built.headers).flat(),
      body: Buffer.from(built.body, 'utf8'),
      sourceIp: '127.0.0.1',
      httpVersion: '1.1',
      routePath: '/webhooks/{channel}/{tenantId}',
      pathParameters: {
        channel: built.path.split('/')[2] ?? '',
        tenantId: built.path.split('/')[3] ?? '',
      },
    });
    const result = await webhook(event, lambdaContext('chat-relay-webhook', 10_000));
    const body = typeof result.body === 'string' ? result.body : '';
    let accepted = 0;
    let ignored = 0;
    if (result.statusCode === 200) {
      try {
        const parsed = JSON.parse(body) as { accepted?: number; ignored?: number };
        accepted = parsed.accepted ?? 0;
        ignored = parsed.ignored ?? 0;
      } catch {
        // A handshake or a non-JSON success body: nothing accepted.
      }
    }
    return { status: result.statusCode ?? 200, body, accepted, ignored };
  };

  const postUntilAnswered = async (built: BuiltWebhook, attempts = 20): Promise<WebhookAnswer[]> => {
    const answers: WebhookAnswer[] = [];
    for (let i = 0; i < attempts; i += 1) {
      let answer: WebhookAnswer;
      try {
        answer = await post(built);
      } catch (err) {
        answer = { status: 500, body: String(err), accepted: 0, ignored: 0 };
      }
      answers.push(answer);
      if (answer.status < 500) break;
      await sleep(Math.min(500 * 2 ** i, 5000));
    }
    return answers;
  };

  const drive = async (
    done: () => boolean | Promise<boolean> = () => true,
    capMs = 120_000,
    stopWhenIdle = false,
  ): Promise<boolean> => {
    const deadline = Date.now() + capMs;
    let stop = false;
    const loops = drivers.flatMap((driver) =>
      Array.from({ length: driver.concurrency }, async () => {
        while (!stop) {
          const result = await pollOnce(driver);
          // An idle poller backs off, or idle polling alone would keep a loaded machine busy.
          if (result.received === 0) await sleep(100);
        }
      }),
    );
    let finished = false;
    let idleChecks = 0;
    try {
      while (Date.now() < deadline) {
        const isDone = await done();
        const d = await depths();
        const empty = PIPELINE_QUEUES.every((q) => d[q].queue === 0);
        if (isDone && empty) {
          finished = true;
          break;
        }
        idleChecks = empty ? idleChecks + 1 : 0;
        if (stopWhenIdle && idleChecks >= 3) break;
        await sleep(50);
      }
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    return finished;
  };

  return {
    emulators,
    sandbox,
    proxies,
    post,
    postUntilAnswered,
    drive,
    depths,
    trouble: () => ({ failedRecords: { ...failedRecords }, thrown: [...thrown] }),
    metric: (name, dims = {}) =>
      emf
        .filter((line) => name in line && Object.entries(dims).every(([k, v]) => line[k] === v))
        .reduce((sum, line) => {
          const value = line[name];
          const values = Array.isArray(value) ? value : [value];
          return sum + values.reduce((n: number, v) => n + (typeof v === 'number' ? v : 0), 0);
        }, 0),
    delivered: () =>
      sandbox
        .messages()
        .filter((r) => r.delivered && (r.kind === 'text' || r.kind === 'image' || r.kind === 'comment')),
    stop: async () => {
      restoreStdout();
      clients.resetClients();
      await sandbox.stop();
      for (const proxy of proxies) await proxy.stop();
      await emulators.stop();
    },
  };
}
