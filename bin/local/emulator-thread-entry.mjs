// Entry of the local stack's worker threads (bin/local/emulator-thread.ts, function-thread.ts): a worker does not
// inherit the parent's TypeScript loader, so register tsx before loading the TypeScript module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
