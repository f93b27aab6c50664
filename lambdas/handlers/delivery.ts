/**
 * Delivery Lambda entry (event source: outbound.fifo, with ReportBatchItemFailures).
 * Environment: MEMORY_TABLE, TENANT_SECRET_PREFIX (required);
 * OUTBOUND_QUEUE_URL, SEND_TIMEOUT_MS, TYPING_DELAY, TENANT_CACHE_SECONDS and the
 * *_API_BASE variables (optional).
 */
import { createDeliveryHandler } from '../delivery/handler.js';
import { withMetrics } from '../shared/powertools.js';

// One EMF flush per invocation (lambdas/shared/powertools.ts).
export const handler = withMetrics(createDeliveryHandler());
