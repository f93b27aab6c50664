/**
 * CPU hogs: busy child processes that load the machine the way other work on a shared
 * 2-core box does, for the fault-injection suite and the e2e benchmark.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** Running hogs. */
export interface Hogs {
  readonly count: number;
  /** Kills the hogs this call started (by their pids) and waits for them to exit. */
  readonly stop: () => Promise<void>;
}

/** Starts `count` busy Node processes (each a tight loop); `count` 0 starts none. */
export function startHogs(count: number): Hogs {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i += 1) {
    // A hog must never outlive its parent: it exits when its stdin closes.
    const child = spawn(
      process.execPath,
      [
        '-e',
        "process.stdin.on('end',()=>process.exit(0));process.stdin.resume();setImmediate(function spin(){const t=Date.now();while(Date.now()-t<50){}setImmediate(spin)})",
      ],
      { stdio: ['pipe', 'ignore', 'ignore'] },
    );
    children.push(child);
  }
  return {
    count,
    stop: async () => {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGKILL');
            }),
        ),
      );
    },
  };
}

/** The hog count asked for by `CHAT_RELAY_TEST_HOGS` (default 0: the suite already shares the cores). */
export function hogsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.CHAT_RELAY_TEST_HOGS ?? 0);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 8) : 0;
}
