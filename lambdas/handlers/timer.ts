/**
 * Timer Lambda: consumes the standard timer queue (delayed debounce / media-timeout ticks)
 * and forwards each due tick into inbound.fifo as a `flush` event (`ReportBatchItemFailures`).
 */
import { createTimerHandler } from '../conversation/runtime.js';
import { withMetrics } from '../shared/powertools.js';

// One EMF flush per invocation (lambdas/shared/powertools.ts).
export const handler = withMetrics(createTimerHandler());
