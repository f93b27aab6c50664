/**
 * The local stack's data directory (`CHAT_RELAY_DATA_DIR`, default `.tmp/local`): one stack at
 * a time (a pid lock file), `--fresh` to forget what earlier runs kept, and the demo tenant
 * kept across restarts so its tokens (and `npm run webhook`) stay valid.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTenantDocument, type TenantDocument } from '../../lambdas/shared/tenant.js';
import { LocalConfigError } from './config.js';
import { DEMO_IDS } from './tenants.js';

/** What a run keeps in the data directory (`--fresh` removes exactly these). */
/** The sandbox platform's accepted messages (`GET /sandbox/messages` lists them after a restart too). */
export const SANDBOX_JOURNAL = 'sandbox.jsonl';
export const KEPT_STATE = [
  'dynamodb',
  'sqs-journal.jsonl',
  'sqs-journal.jsonl.compact',
  'secrets.json',
  SANDBOX_JOURNAL,
];
const LOCK = 'stack.pid';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return err instanceof Error && 'code' in err && err.code === 'EPERM';
  }
};

/** How long a new stack waits for the previous holder of the data directory to stop. */
const HOLDER_GRACE_MS = 8000;

const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/**
 * Takes the data directory for this process (creating it), removing the kept state first when
 * `fresh`. A lock left by a process that no longer runs (a crash) is taken over; one held by a stack
 * that is stopping is waited for, up to 8 s.
 * @returns a function releasing the lock
 * @throws LocalConfigError when another running local stack holds the directory
 */
export function takeDataDir(dir: string, fresh: boolean): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lock = join(dir, LOCK);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST') || attempt > 0) throw err;
      const holder = Number(readFileSync(lock, 'utf8').trim());
      const running = (): boolean =>
        Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && alive(holder);
      // A stack whose `npm start` was just killed is still stopping (it notices its parent is
      // gone within a quarter second and stops within 5 s): a restart waits for it.
      const until = Date.now() + HOLDER_GRACE_MS;
      while (running() && Date.now() < until) sleepSync(100);
      if (running()) {
        throw new LocalConfigError(
          `another local stack (pid ${holder}) is using ${dir}; stop it or set CHAT_RELAY_DATA_DIR to another directory.`,
        );
      }
      rmSync(lock, { force: true });
    }
  }
  if (fresh) {
    for (const name of [...KEPT_STATE, 'tenants.json'])
      rmSync(join(dir, name), { recursive: true, force: true });
  }
  return () => {
    try {
      if (readFileSync(lock, 'utf8').trim() === String(process.pid)) unlinkSync(lock);
    } catch {
      // Already gone.
    }
  };
}

/** The demo tenant an earlier run wrote to `tenants.json`, or undefined when there is none. */
export function keptDemoTenant(dir: string): TenantDocument | undefined {
  const path = join(dir, 'tenants.json');
  if (!existsSync(path)) return undefined;
  try {
    const docs = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (!Array.isArray(docs) || docs.length !== 1) return undefined;
    const doc = parseTenantDocument(docs[0]);
    // Only the generated tenant (its fixed ids): a user's own "demo" must never be printed.
    const generated =
      doc.tenantId === DEMO_IDS.tenantId &&
      doc.channels.pancake?.pageIds.join() === DEMO_IDS.pancakePageId &&
      doc.channels.messenger?.pages[DEMO_IDS.messengerPageId] !== undefined &&
      doc.channels.zalo?.oaId === DEMO_IDS.zaloOaId;
    return generated ? doc : undefined;
  } catch {
    // Not ours or damaged: a new demo tenant replaces it.
    return undefined;
  }
}
