/**
 * The webhook's answer deadline against dependencies that hang: an HTTP endpoint that accepts
 * and never answers stands in for SQS or Secrets Manager. The real tenant store, the real SQS
 * sender and the real adapters run; the deadline timer is fired by the test when the hung
 * request has arrived (no wall-clock bounds), and the test checks the abort reached the socket.
 * The last block runs the bundled Lambda entry with its real timer.
 */
import { PurgeQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { adapterFor } from '../../lambdas/channels/index.js';
import { createWebhookHandler, type WebhookDeps, type WebhookLogger } from '../../lambdas/ingest/webhook.js';
import { resetClients } from '../../lambdas/shared/clients.js';
import { sendToQueue } from '../../lambdas/shared/queue.js';
import { tenantSecretName } from '../../lambdas/shared/tenant.js';
import { loadTenant, resetTenantStore } from '../../lambdas/shared/tenant-store.js';
import { type BundledHandler, bundleHandler } from '../helpers/bundle.js';
import { type HangingServer, startHangingServer } from '../helpers/hanging-server.js';
import { signedMessengerPost } from '../helpers/messenger-webhook.js';

type Handler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

const APP_SECRET = 'deadline-app-secret-0123';
const VERIFY_TOKEN = 'deadline-verify-token';
const PAGE = '110000000000001';

let emulators: Emulators;
let hanging: HangingServer;
const savedEnv = { ...process.env };

function messengerPost(tenant: string, mid: string): APIGatewayProxyEventV2 {
  const { body, headers } = signedMessengerPost(APP_SECRET, PAGE, mid);
  return event(tenant, 'POST', { body, headers });
}

function event(
  tenant: string,
  method: 'GET' | 'POST',
  opts: { body?: string; headers?: Record<string, string>; query?: string } = {},
): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: `${method} /webhooks/{channel}/{tenantId}`,
    rawPath: `/webhooks/messenger/${tenant}`,
    rawQueryString: opts.query ?? '',
    headers: { 'content-type': 'application/json', ...(opts.headers ?? {}) },
    pathParameters: { channel: 'messenger', tenantId: tenant },
    requestContext: { http: { method } } as APIGatewayProxyEventV2['requestContext'],
    isBase64Encoded: false,
    ...(opts.body === undefined ? {} : { body: opts.body }),
  };
}

const handshake = (tenant: string): APIGatewayProxyEventV2 =>
  event(tenant, 'GET', {
    query: `hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=42`,
  });

const code = (res: APIGatewayProxyStructuredResultV2): unknown =>
  (JSON.parse(String(res.body)) as { error?: { code?: unknown } }).error?.code;

function putTenant(id: string): void {
  emulators.secrets.putSecret(
    tenantSecretName(emulators.secretPrefix, id),
    JSON.stringify({
      tenantId: id,
      channels: {
        messenger: {
          appSecret: APP_SECRET,
          verifyToken: VERIFY_TOKEN,
          pages: { [PAGE]: { accessToken: 'EAAG-deadline-page-token' } },
        },
      },
    }),
  );
}

async function inboundCount(): Promise<number> {
  const r = await emulators.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: emulators.queues.inbound.url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
    }),
  );
  return r.Messages?.length ?? 0;
}

beforeAll(async () => {
  emulators = await startEmulators({ prefix: 'deadline' });
  hanging = await startHangingServer();
  Object.assign(process.env, emulators.env, { POWERTOOLS_METRICS_DISABLED: 'true' });
  for (const id of ['acme', 'globex', 'initech', 'umbrella', 'hooli']) putTenant(id);
});

afterEach(async () => {
  // Back to the emulators for the next test.
  Object.assign(process.env, emulators.env);
  resetClients();
  resetTenantStore();
  await emulators.sqs.send(new PurgeQueueCommand({ QueueUrl: emulators.queues.inbound.url }));
});

afterAll(async () => {
  await hanging?.stop();
  await emulators?.stop();
  process.env = savedEnv;
  resetClients();
  resetTenantStore();
});

describe('the webhook logic with the real tenant store and SQS sender', () => {
  /** The handler as the Lambda entry wires it, except the deadline timer, fired by the test. */
  function wire(): { handle: Handler; fire: () => void; errors: string[]; sends: () => number } {
    let expire: (() => void) | undefined;
    let sends = 0;
    const errors: string[] = [];
    const logger: WebhookLogger = {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: (message, ...extra) => {
        errors.push(`${message} ${JSON.stringify(extra)}`);
      },
    };
    const deps: WebhookDeps = {
      loadTenant: (id, signal) => loadTenant(id, { abortSignal: signal }),
      adapterFor,
      send: (entries, signal) => {
        sends += 1;
        return sendToQueue(emulators.queues.inbound.url, entries, { budgetMs: 600_000, signal });
      },
      metric: () => {},
      logger,
      startTimer: (_ms, onExpire) => {
        expire = onExpire;
        return () => {};
      },
    };
    return { handle: createWebhookHandler(deps), fire: () => expire?.(), errors, sends: () => sends };
  }

  it('answers 200 when both dependencies answer (the wiring works)', async () => {
    const { handle } = wire();
    const res = await handle(messengerPost('acme', 'ok.1'));
    expect(res.statusCode).toBe(200);
    expect(await inboundCount()).toBe(1);
  });

  it('answers 503 ENQUEUE_FAILED at the deadline while SQS hangs, and aborts the SQS call', async () => {
    process.env.AWS_ENDPOINT_URL_SQS = hanging.endpoint;
    resetClients();
    const before = hanging.requests.length;
    const { handle, fire, errors } = wire();
    const pending = handle(messengerPost('globex', 'hang.1'));
    await hanging.arrived(before + 1);
    expect(hanging.requests[before]?.target).toBe('AmazonSQS.SendMessageBatch');
    fire();
    const res = await pending;
    expect(res.statusCode).toBe(503);
    expect(code(res)).toBe('ENQUEUE_FAILED');
    await hanging.closedCount(before + 1);
    expect(errors.some((e) => e.includes('DeadlineExceeded'))).toBe(true);
  });

  it('answers 503 DEPENDENCY_FAILED at the deadline while Secrets Manager hangs, and aborts the read', async () => {
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = hanging.endpoint;
    resetTenantStore();
    const before = hanging.requests.length;
    const { handle, fire, sends } = wire();
    const pending = handle(messengerPost('initech', 'hang.2'));
    await hanging.arrived(before + 1);
    expect(hanging.requests[before]?.target).toBe('secretsmanager.GetSecretValue');
    fire();
    const res = await pending;
    expect(res.statusCode).toBe(503);
    expect(code(res)).toBe('DEPENDENCY_FAILED');
    await hanging.closedCount(before + 1);
    expect(sends()).toBe(0);
    expect(await inboundCount()).toBe(0);
  });
});

describe('the bundled Lambda entry, real timer (ENQUEUE_BUDGET_MS = 1500)', () => {
  const bundles: BundledHandler[] = [];
  /** A fresh bundle: its clients and tenant cache are its own, built from the env at first use. */
  async function freshHandler(): Promise<Handler> {
    const bundle = await bundleHandler('lambdas/handlers/webhook.ts');
    bundles.push(bundle);
    return ((await import(bundle.url)) as { handler: Handler }).handler;
  }
  afterAll(() => {
    for (const b of bundles) b.cleanup();
  });

  it('answers 503 ENQUEUE_FAILED while SQS hangs, and closes the hung connection', async () => {
    Object.assign(process.env, { ENQUEUE_BUDGET_MS: '1500', AWS_ENDPOINT_URL_SQS: hanging.endpoint });
    const handler = await freshHandler();
    // The tenant read first (GET handshake, no SQS), so the POST can only be waiting on SQS.
    let warm = await handler(handshake('umbrella'));
    for (let i = 0; i < 5 && warm.statusCode !== 200; i += 1) warm = await handler(handshake('umbrella'));
    expect(warm.statusCode).toBe(200);
    const before = hanging.closed();
    const res = await handler(messengerPost('umbrella', 'bundle.1'));
    expect(res.statusCode).toBe(503);
    expect(code(res)).toBe('ENQUEUE_FAILED');
    await hanging.closedCount(before + 1);
  });

  it('answers 503 DEPENDENCY_FAILED while Secrets Manager hangs, and closes the hung connection', async () => {
    Object.assign(process.env, {
      ENQUEUE_BUDGET_MS: '1500',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: hanging.endpoint,
    });
    const handler = await freshHandler();
    const before = hanging.closed();
    const res = await handler(messengerPost('hooli', 'bundle.2'));
    expect(res.statusCode).toBe(503);
    expect(code(res)).toBe('DEPENDENCY_FAILED');
    await hanging.closedCount(before + 1);
    expect(await inboundCount()).toBe(0);
  });
});
