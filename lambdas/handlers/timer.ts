/**
 * Timer Lambda: consumes the standard timer queue (delayed debounce / media-timeout ticks)
 * and forwards each due tick into inbound.fifo as a `flush` event (`ReportBatchItemFailures`).
 */
import { createTimerHandler } from '../conversation/runtime.js';

export const handler = createTimerHandler();
