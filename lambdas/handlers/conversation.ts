/**
 * Conversation Lambda: consumes inbound.fifo (batch ≤ 10, `ReportBatchItemFailures`), one
 * actor per conversation. Logic in lambdas/conversation; see docs/conversation.md.
 */
import { createConversationHandler } from '../conversation/runtime.js';
import { withMetrics } from '../shared/powertools.js';

// One EMF flush per invocation (lambdas/shared/powertools.ts).
export const handler = withMetrics(createConversationHandler());
