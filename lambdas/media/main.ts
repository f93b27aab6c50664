/**
 * Container entry of the media worker (Fargate). SIGTERM and SIGINT stop polling; jobs in hand
 * get `DRAIN_MS` to finish (ECS waits `stopTimeout` before SIGKILL), then are released to the
 * queue. Everything else is configured by environment variables (see `worker.ts`).
 */
import { logger } from '../shared/powertools.js';
import { runMediaWorker } from './worker.js';

const controller = new AbortController();
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    logger.info('Stop signal received', { signal: sig });
    controller.abort();
  });
}

// ECS gives the container its stopTimeout (the construct sets 60 s) between SIGTERM and SIGKILL.
const drainTimeoutMs = Number(process.env.DRAIN_MS) > 0 ? Number(process.env.DRAIN_MS) : 45_000;

try {
  await runMediaWorker({ signal: controller.signal, drainTimeoutMs });
  process.exitCode = 0;
} catch (err) {
  logger.error('Media worker failed to start', {
    error: (err as Error).name,
    message: (err as Error).message,
  });
  process.exitCode = 1;
}
