/**
 * Conversation Lambda: consumes inbound.fifo (batch ≤ 10, `ReportBatchItemFailures`), one
 * actor per conversation. Logic in lambdas/conversation; see docs/conversation.md.
 */
import { createConversationHandler } from '../conversation/runtime.js';

export const handler = createConversationHandler();
