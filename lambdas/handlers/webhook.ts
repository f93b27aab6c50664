/**
 * Lambda entry of the webhook (API Gateway HTTP API, payload 2.0, `GET|POST
 * /webhooks/{channel}/{tenantId}`). Wires the real dependencies into the webhook logic
 * (lambdas/ingest/webhook.ts) once per container; each request's metrics and summary go out as one EMF line at its end
 * (withMetrics).
 *
 * Environment: INBOUND_QUEUE_URL, TENANT_SECRET_PREFIX (required); MAX_BODY_BYTES (default
 * 1048576), ENQUEUE_BUDGET_MS (default 1500: the answer deadline of a request, tenant lookup and
 * enqueue included), TENANT_CACHE_SECONDS (default 3600; a
 * refused signature, token or channel re-reads the tenant at most once a minute).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { adapterFor } from '../channels/index.js';
import {
  createWebhookHandler,
  DEFAULT_DEADLINE_MS,
  DEFAULT_MAX_BODY_BYTES,
  type WebhookHandler,
} from '../ingest/webhook.js';
import { CLIENT_TIMEOUTS } from '../shared/client-timeouts.js';
import { ENV, intEnv, requireEnv } from '../shared/env.js';
import { emitMetric, logger, logSummary, withMetrics } from '../shared/powertools.js';
import { sendToQueue } from '../shared/queue.js';
import { loadTenant, refreshTenant } from '../shared/tenant-store.js';

let live: WebhookHandler | undefined;

function liveHandler(): WebhookHandler {
  // Built on first use, not at import: a malformed variable then answers 500 with a logged
  // ConfigurationError instead of failing every cold start.
  if (live) return live;
  // One deadline for the whole request: the enqueue budget bounds the tenant lookup too.
  const deadlineMs = intEnv(ENV.enqueueBudgetMs, DEFAULT_DEADLINE_MS);
  // One SQS answer may take 2/3 of it, leaving time to retry on a fresh connection.
  const attemptTimeoutMs = Math.min(CLIENT_TIMEOUTS.sqs.requestTimeout, Math.ceil((deadlineMs * 2) / 3));
  live = createWebhookHandler({
    loadTenant: (tenantId, signal) => loadTenant(tenantId, { abortSignal: signal }),
    refreshTenant: (tenantId, signal) => refreshTenant(tenantId, { abortSignal: signal }),
    adapterFor,
    send: (entries, signal) =>
      sendToQueue(requireEnv(ENV.inboundQueueUrl), entries, {
        budgetMs: deadlineMs,
        attemptTimeoutMs,
        signal,
      }),
    deadlineMs,
    metric: emitMetric,
    logger,
    summary: logSummary,
    maxBodyBytes: intEnv(ENV.maxBodyBytes, DEFAULT_MAX_BODY_BYTES),
  });
  return live;
}

/** The Lambda handler. */
export const handler = withMetrics(
  async (event: APIGatewayProxyEventV2, context?: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    if (context) logger.addContext(context);
    try {
      return await liveHandler()(event);
    } catch (err) {
      // Only configuration errors raised while wiring can land here; the logic never throws.
      logger.error('Webhook handler could not start', { error: err });
      return {
        statusCode: 500,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: { code: 'CONFIGURATION', message: 'The webhook is misconfigured.' } }),
      };
    }
  },
);
