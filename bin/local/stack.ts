/**
 * The local stack: the whole chat-relay pipeline on this machine. Emulators (dynalite,
 * fauxqs, Secrets Manager) with the same queues and tables as the CDK stack; an HTTP server
 * acting as API Gateway for the real webhook handler; pollers acting as Lambda's SQS event
 * source mappings for the conversation, timer and delivery handlers; the media worker
 * in-process; and the sandbox platform that records every send.
 */

import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { DEFAULT_SERVICE_NAME, DEFAULTS } from '../../lambdas/contracts/defaults.js';
import { ENV } from '../../lambdas/shared/env.js';
import type { TenantDocument } from '../../lambdas/shared/tenant.js';
import {
  API_GATEWAY_MAX_BODY_BYTES,
  API_GATEWAY_TIMEOUT_MS,
  BAD_REQUEST,
  BodyTooLargeError,
  decodePathParameter,
  fromApiGatewayResult,
  readBody,
  toApiGatewayEvent,
  writeHttpResponse,
  writeJson,
} from './api-gateway.js';
import type { LocalConfig } from './config.js';
import { mountConsole } from './console/mount.js';
import { keptDemoTenant, SANDBOX_JOURNAL, takeDataDir } from './data-dir.js';
import { type EmulatorThread, startEmulatorThread } from './emulator-thread.js';
import { LOCAL_CREDENTIALS } from './emulators.js';
import { installInprocFetch } from './inproc-fetch.js';
import {
  InprocHttpHandler,
  inprocClientConfig,
  inprocTransportEnabled,
  LOCAL_UNUSED_MIDDLEWARE,
} from './inproc-transport.js';
import { type LocalFunction, lambdaContext } from './lambda-context.js';
import type { SandboxHandler } from './sandbox.js';
import { mountSandbox } from './sandbox-mount.js';
import { type SqsFunctions, startSqsFunctions } from './sqs-functions.js';
import { createDemoTenant, storeTenantSecrets, writeStackState, writeTenantsState } from './tenants.js';

/** The route API Gateway sends to the webhook Lambda (lib/ingest.ts). */
export const WEBHOOK_ROUTE = '/webhooks/{channel}/{tenantId}';
const WEBHOOK_PATH = /^\/webhooks\/([^/]+)\/([^/]+)\/?$/;

/** Function names and timeouts as deployed (lib/function-defaults.ts). */
export const LOCAL_FUNCTIONS = {
  webhook: { name: 'chat-relay-webhook', timeoutMs: 10_000 },
  conversation: { name: 'chat-relay-conversation', timeoutMs: 60_000 },
  timer: { name: 'chat-relay-timer', timeoutMs: 10_000 },
  delivery: { name: 'chat-relay-delivery', timeoutMs: 30_000 },
} as const satisfies Record<string, LocalFunction>;

type WebhookHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2 | undefined>;

/** The local stack's console output. */
export interface StackLog {
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

/** A running local stack. */
export interface LocalStack {
  /** `http://HOST:PORT` with the port actually bound. */
  readonly url: string;
  readonly port: number;
  readonly tenants: readonly TenantDocument[];
  /** True when the tenants are the generated demo tenant. */
  readonly demo: boolean;
  readonly tenantsPath: string;
  /** The emulators (in their own thread): endpoints, queues, tables. */
  readonly emulators: EmulatorThread;
  /** The SQS-triggered functions (conversation, timer, delivery) and their event source stand-ins. */
  readonly functions: SqsFunctions;
  /** The sandbox platform mounted at `/sandbox/*` (records, fault injection). */
  readonly sandbox: SandboxHandler;
  /** The environment the handlers run with (no tokens in it). */
  readonly env: Readonly<Record<string, string>>;
  /** Stops everything; resolves when all servers are closed (bounded by `graceMs` per stage). */
  readonly stop: () => Promise<void>;
}

const quietLog: StackLog = { warn: () => {}, info: () => {}, debug: () => {} };

/** Environment variables of the handlers: the emulators plus the local defaults. */
export function handlerEnvironment(
  config: LocalConfig,
  emulatorEnv: Readonly<Record<string, string>>,
  sandboxBase: string,
  userEnv: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string> {
  const env: Record<string, string> = { ...emulatorEnv };
  if (config.responder === 'bedrock') {
    // Bedrock runs against the user's real AWS account: keep their credentials and region
    // (the emulators accept any credentials; their queue URLs carry their own region).
    delete env.AWS_ACCESS_KEY_ID;
    delete env.AWS_SECRET_ACCESS_KEY;
    delete env.AWS_REGION;
    delete env.AWS_DEFAULT_REGION;
    if (!userEnv.AWS_REGION && !userEnv.AWS_DEFAULT_REGION)
      env.AWS_REGION = emulatorEnv.AWS_REGION ?? 'us-east-1';
  } else {
    // Never let a local run reach a real account by accident.
    env.AWS_SESSION_TOKEN = '';
    env.AWS_PROFILE = '';
  }
  env[ENV.responder] = config.responder;
  env[ENV.debounceMs] = String(config.debounceMs);
  env[ENV.pancakeApiBase] = config.apiBases.pancake ?? `${sandboxBase}/pancake`;
  env[ENV.graphApiBase] = config.apiBases.graph ?? `${sandboxBase}/graph`;
  env[ENV.telegramApiBase] = config.apiBases.telegram ?? `${sandboxBase}/telegram`;
  env[ENV.zaloApiBase] = config.apiBases.zalo ?? `${sandboxBase}/zalo`;
  env[ENV.zaloOAuthBase] = userEnv[ENV.zaloOAuthBase] || `${sandboxBase}/zalo-oauth`;
  // The sandbox answers any version; a real Graph base may need the one the app is on.
  env[ENV.graphApiVersion] = userEnv[ENV.graphApiVersion] || DEFAULTS.graphApiVersion;
  if (config.maxReceiveCount !== undefined) env[ENV.maxReceiveCount] = String(config.maxReceiveCount);
  // Each tenant's knowledge/<tenantId>/ folder (next to the tenants file, else in the data
  // directory, as the tenant CLI writes it) is indexed in process (docs/knowledge.md); tenant
  // tools may call local http:// servers.
  const knowledgeDir =
    userEnv[ENV.knowledgeDir] ||
    join(config.tenantsFile ? dirname(config.tenantsFile) : config.stateDir, 'knowledge');
  if (existsSync(knowledgeDir)) env[ENV.knowledgeDir] = knowledgeDir;
  env[ENV.toolAllowHttp] = 'true';
  // The emulators share the machine with everything else: under a burst an SQS send can take
  // seconds, which the webhook's 1.5 s answer deadline (tuned for AWS) turns into 503s and retry
  // storms. 9 s stays under the deployed webhook timeout; ENQUEUE_BUDGET_MS set by the user wins.
  env[ENV.enqueueBudgetMs] = userEnv[ENV.enqueueBudgetMs] || '9000';
  env.POWERTOOLS_SERVICE_NAME = userEnv.POWERTOOLS_SERVICE_NAME || DEFAULT_SERVICE_NAME;
  env.POWERTOOLS_LOG_LEVEL = config.logLevel;
  // EMF metrics are JSON lines on stdout: only worth seeing when debugging.
  if (config.logLevel !== 'DEBUG' && config.logLevel !== 'TRACE') env.POWERTOOLS_METRICS_DISABLED = 'true';
  else env.POWERTOOLS_METRICS_DISABLED = 'false';
  return env;
}

/** Consumes and drops the rest of a request body, destroying the request past `limit` bytes. */
async function drain(req: IncomingMessage, limit: number): Promise<void> {
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        req.destroy();
        return;
      }
    }
  } catch {
    // The client went away: nothing to answer.
  }
}

/** Imports a module that may not exist yet; a missing dependency of an existing one still throws. */
async function importOptional<T>(specifier: string, needle: string): Promise<T | undefined> {
  try {
    return (await import(specifier)) as T;
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : '';
    if (code === 'ERR_MODULE_NOT_FOUND' && err instanceof Error && err.message.includes(`${needle}'`)) {
      return undefined;
    }
    throw err;
  }
}

/** Starts the local stack. Sets `process.env` for the handlers before importing them. */
export async function startLocalStack(config: LocalConfig, log: StackLog = quietLog): Promise<LocalStack> {
  const releaseDataDir = takeDataDir(config.stateDir, config.fresh);
  let emulators: EmulatorThread;
  try {
    emulators = await startEmulatorThread({
      dataDir: config.stateDir,
      ...(config.visibilityTimeoutSeconds !== undefined
        ? {
            visibilityTimeoutSeconds: {
              inbound: config.visibilityTimeoutSeconds,
              timer: config.visibilityTimeoutSeconds,
              outbound: config.visibilityTimeoutSeconds,
              mediaJobs: Math.max(config.visibilityTimeoutSeconds, 30),
            },
          }
        : {}),
      ...(config.maxReceiveCount !== undefined
        ? {
            maxReceiveCount: {
              inbound: config.maxReceiveCount,
              timer: config.maxReceiveCount,
              outbound: config.maxReceiveCount,
              mediaJobs: config.maxReceiveCount,
            },
          }
        : {}),
    });
  } catch (err) {
    releaseDataDir();
    throw err;
  }
  const restored = Object.values(emulators.replayed?.restored ?? {}).reduce((a, b) => a + b, 0);
  if (restored > 0) log.info(`restored ${restored} queued messages from ${config.stateDir}`);
  if (emulators.replayed?.tornTail) log.info('ignored the last SQS journal record, cut short by a crash');

  let server: Server | undefined;
  // Drainers stop the work in flight (in parallel); stoppers then release what is left.
  const drainers: (() => Promise<void>)[] = [];
  const stoppers: (() => Promise<void>)[] = [];
  try {
    const demo = config.tenants === undefined;
    const tenants = config.tenants ?? [keptDemoTenant(config.stateDir) ?? createDemoTenant()];
    await storeTenantSecrets(emulators.putSecret, emulators.secretPrefix, tenants);
    const tenantsPath = writeTenantsState(config.stateDir, tenants);

    let webhook: WebhookHandler | undefined;
    const sandbox = mountSandbox(join(config.stateDir, SANDBOX_JOURNAL));
    stoppers.push(() => sandbox.stop());
    const operatorConsole = await mountConsole({ emulators, tenants, sandbox: sandbox.sandbox, log });
    stoppers.push(async () => operatorConsole.stop());
    const srv = createServer((req, res) => {
      void route(req, res).catch((err: unknown) => {
        log.warn(`request ${req.method} ${req.url?.split('?')[0]} failed: ${String(err)}`);
        if (!res.headersSent) writeJson(res, 500, { message: 'Internal Server Error' });
        else res.destroy();
      });
    });
    server = srv;
    // Connections are kept alive by platforms and load tools: keep them a little past their idle timeouts.
    srv.keepAliveTimeout = 65_000;

    const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const url = req.url ?? '/';
      const path = url.split('?')[0] ?? '/';
      if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
        writeJson(res, 200, { status: 'ok' });
        return;
      }
      if (path === '/sandbox' || path.startsWith('/sandbox/')) {
        await sandbox.handle(req, res);
        return;
      }
      const match = WEBHOOK_PATH.exec(path);
      if (match && (req.method === 'GET' || req.method === 'POST')) {
        if (!webhook) {
          writeJson(res, 503, { error: { code: 'STARTING', message: 'The local stack is still starting.' } });
          return;
        }
        const channel = decodePathParameter(match[1]!);
        const tenantId = decodePathParameter(match[2]!);
        if (channel === undefined || tenantId === undefined) {
          req.resume();
          writeJson(res, BAD_REQUEST.statusCode, BAD_REQUEST.body);
          return;
        }
        operatorConsole.touch();
        await invokeWebhook(webhook, req, res, channel, tenantId);
        return;
      }
      if (await operatorConsole.handle(req, res)) return;
      // Drain the body so keep-alive connections stay usable.
      req.resume();
      writeJson(res, 404, { error: { code: 'NOT_FOUND', message: `No route for ${req.method} ${path}.` } });
    };

    const invokeWebhook = async (
      handler: WebhookHandler,
      req: IncomingMessage,
      res: ServerResponse,
      channel: string,
      tenantId: string,
    ): Promise<void> => {
      const receivedAt = Date.now();
      let body: Buffer;
      try {
        body = await readBody(req);
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          // Read (and drop) the rest before answering, as a proxy does, so the client sees the
          // 413 rather than a reset; a client that keeps sending far beyond is cut off.
          await drain(req, 4 * API_GATEWAY_MAX_BODY_BYTES);
          res.setHeader('connection', 'close');
          writeJson(res, 413, { error: { code: 'PAYLOAD_TOO_LARGE', message: err.message } });
          return;
        }
        throw err;
      }
      const event = toApiGatewayEvent({
        method: req.method ?? 'POST',
        url: req.url ?? '/',
        rawHeaders: req.rawHeaders,
        body,
        sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
        httpVersion: req.httpVersion,
        routePath: WEBHOOK_ROUTE,
        pathParameters: { channel, tenantId },
        receivedAt,
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), API_GATEWAY_TIMEOUT_MS);
      });
      try {
        const result = await Promise.race([
          handler(event, lambdaContext(LOCAL_FUNCTIONS.webhook, emulators.region)),
          timeout,
        ]);
        if (result === 'timeout') {
          writeJson(res, 503, { message: 'Service Unavailable' });
          return;
        }
        writeHttpResponse(res, fromApiGatewayResult(result));
      } catch (err) {
        // What API Gateway answers when the integration fails.
        log.warn(
          `webhook handler failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
        );
        writeJson(res, 500, { message: 'Internal Server Error' });
      } finally {
        clearTimeout(timer);
      }
    };

    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(config.port, config.host, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    const port = (srv.address() as AddressInfo).port;
    const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `http://${hostForUrl}:${port}`;

    // Handlers read their environment when their modules load: set it first, then import.
    // A wildcard address is where to listen, not where to connect: the senders use loopback.
    const wildcard = ['0.0.0.0', '::', '[::]'].includes(config.host);
    const env = handlerEnvironment(
      config,
      emulators.env,
      `${wildcard ? `http://127.0.0.1:${port}` : url}/sandbox`,
    );
    for (const [name, value] of Object.entries(env)) {
      if (value === '') delete process.env[name];
      else process.env[name] = value;
    }
    // The shared logger may already exist (the console's modules import it before this point),
    // and Powertools reads POWERTOOLS_LOG_LEVEL only when it is built: give it the level here.
    const { logger } = await import('../../lambdas/shared/powertools.js');
    logger.setLogLevel(config.logLevel);

    if (inprocTransportEnabled()) {
      // This thread's shared SDK clients (the webhook's) reach the emulators without a socket.
      const { setLocalClientHook } = await import('../../lambdas/shared/clients.js');
      const handler = new InprocHttpHandler({
        port: emulators.connect(),
        routes: emulators.inprocRoutes,
        region: emulators.region,
      });
      setLocalClientHook({ config: inprocClientConfig(handler), removeMiddleware: LOCAL_UNUSED_MIDDLEWARE });
      stoppers.push(async () => setLocalClientHook(undefined));
      // The senders on this thread (delivery when it runs here, the media worker, Zalo's token
      // refresh) reach the sandbox without a socket too.
      const uninstall = installInprocFetch({
        origin: wildcard ? `http://127.0.0.1:${port}` : url,
        pathPrefix: '/sandbox',
        listener: (req, res) => sandbox.handle(req, res),
      });
      stoppers.push(async () => uninstall());
    }
    const webhookModule = (await import('../../lambdas/handlers/webhook.js')) as { handler: WebhookHandler };

    const pollerLog = { warn: log.warn, debug: log.debug };
    const sqs = new SQSClient({
      region: emulators.region,
      credentials: LOCAL_CREDENTIALS,
      endpoint: emulators.sqsEndpoint,
      useQueueUrlAsEndpoint: false,
    });
    stoppers.push(async () => sqs.destroy());
    operatorConsole.attach(wildcard ? `http://127.0.0.1:${port}` : url, sqs);
    // Loaded (in their threads or here) before the webhook answers, so a broken handler fails
    // the start rather than the first message.
    const functions = await startSqsFunctions(config, emulators, env, pollerLog, LOCAL_FUNCTIONS);
    drainers.push(() => functions.stop(3000));

    const media = await importOptional<{ runMediaWorker?: (o: { signal: AbortSignal }) => Promise<void> }>(
      '../../lambdas/media/worker.js',
      'lambdas/media/worker.js',
    );
    if (media?.runMediaWorker) {
      const controller = new AbortController();
      const running = media.runMediaWorker({ signal: controller.signal }).catch((err: unknown) => {
        if (!controller.signal.aborted) log.warn(`media worker stopped: ${String(err)}`);
      });
      drainers.push(async () => {
        controller.abort();
        await Promise.race([running, new Promise((r) => setTimeout(r, 3000))]);
      });
    } else {
      log.warn('media worker not available: voice notes and videos are answered without transcripts');
    }

    webhook = webhookModule.handler;
    writeStackState(config.stateDir, {
      pid: process.pid,
      url,
      region: emulators.region,
      endpoints: {
        sqs: emulators.sqsEndpoint,
        s3: emulators.s3Endpoint,
        dynamodb: emulators.dynamoEndpoint,
        secretsmanager: emulators.secretsEndpoint,
      },
      queues: emulators.queues,
      tables: emulators.tables,
      mediaBucket: emulators.mediaBucket,
      secretPrefix: emulators.secretPrefix,
    });

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        // No new connections; let batches in flight finish (their sends reach the sandbox on
        // this same server), then drop every connection and stop the emulators.
        srv.close();
        await Promise.all(drainers.map((d) => d().catch(() => {})));
        srv.closeAllConnections();
        for (const s of stoppers) await s().catch(() => {});
        await emulators.stop();
        releaseDataDir();
      })();
      return stopping;
    };

    return {
      url,
      port,
      tenants,
      demo,
      tenantsPath,
      emulators,
      functions,
      sandbox: sandbox.sandbox,
      env,
      stop,
    };
  } catch (err) {
    server?.close();
    server?.closeAllConnections();
    for (const s of [...drainers, ...stoppers]) await s().catch(() => {});
    await emulators.stop();
    releaseDataDir();
    throw err;
  }
}
