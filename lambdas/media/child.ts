/**
 * Runs a media tool (ffmpeg, whisper-cli) as a child process: stdin closed, stdout discarded,
 * the tail of stderr kept, killed with its whole process group on timeout or abort (a wrapper
 * script's own children must die too). Callers turn the result into their typed errors.
 */
import { spawn } from 'node:child_process';

/** How a child run ended. */
export type ChildResult =
  | { readonly kind: 'exit'; readonly code: number | null; readonly stderr: string }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'aborted'; readonly reason: unknown }
  | { readonly kind: 'spawn-error'; readonly error: NodeJS.ErrnoException };

/** Runs `bin args`; never rejects. */
export function runChild(
  bin: string,
  args: readonly string[],
  options: { readonly timeoutMs: number; readonly signal?: AbortSignal; readonly stderrKeep?: number },
): Promise<ChildResult> {
  const keep = options.stderrKeep ?? 8192;
  const { signal } = options;
  return new Promise<ChildResult>((resolve) => {
    if (signal?.aborted) {
      resolve({ kind: 'aborted', reason: signal.reason });
      return;
    }
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    let timedOut = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.length > keep) stderr = stderr.slice(-keep);
    });
    const kill = (): void => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    signal?.addEventListener('abort', kill, { once: true });
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      done();
      resolve({ kind: 'spawn-error', error });
    });
    child.on('close', (code) => {
      done();
      if (signal?.aborted) resolve({ kind: 'aborted', reason: signal.reason });
      else if (timedOut) resolve({ kind: 'timeout' });
      else resolve({ kind: 'exit', code, stderr });
    });
  });
}
