/**
 * A data directory holding the `stack.json` the ops CLI reads, written as the local stack
 * writes it, pointing at the given emulators.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Emulators } from '../../bin/local/emulators.js';

/** Makes a temporary directory (named from `prefix`) with a `stack.json` for `emulators`; returns its path. */
export function stackDataDir(emulators: Emulators, prefix: string): string {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(
    join(dataDir, 'stack.json'),
    JSON.stringify({
      region: emulators.region,
      endpoints: { sqs: emulators.sqsEndpoint, dynamodb: emulators.dynamoEndpoint },
      queues: emulators.queues,
      tables: emulators.tables,
    }),
  );
  return dataDir;
}
