/**
 * Local stack only: the lines a loop turn writes to stdout leave in one `write(2)`.
 *
 * Why: under `npm start` every function logs on the thread that runs the pipeline, and stdout
 * to a pipe or a terminal is written synchronously, one system call per line, each waking the
 * reader (a terminal, `tee`, a test harness). At `LOG_LEVEL=INFO` that was three calls per
 * answered message, about 2 % of the main thread's time in the benchmark, plus the reader's
 * wake-ups on the same two cores. Lines are kept in order and joined; they leave
 * {@link STDOUT_BATCH_DELAY_MS} after the first of them was written (a timer that does not keep
 * the process alive), at once when 64 KiB are waiting, and when the process exits (`exit` also
 * fires for `process.exit` and for an uncaught exception). A SIGKILL can lose only the lines of
 * its last 20 ms.
 *
 * Writes with a callback, or of anything but a UTF-8 string (a worker thread's piped output
 * arrives as bytes), flush what is waiting and go out unchanged, so order is kept.
 */

/** Bytes (UTF-16 code units, close enough) held before a write goes out at once. */
export const STDOUT_BATCH_LIMIT = 64 * 1024;

/** How long the first waiting line waits for others: unnoticeable to a reader, 50 writes/s at most. */
export const STDOUT_BATCH_DELAY_MS = 20;

type Write = NodeJS.WriteStream['write'];

/**
 * Batches `stream.write` as described above; returns the undo (which writes what is waiting
 * first).
 */
export function batchStdout(
  stream: NodeJS.WriteStream = process.stdout,
  { limit = STDOUT_BATCH_LIMIT, delayMs = STDOUT_BATCH_DELAY_MS }: { limit?: number; delayMs?: number } = {},
): () => void {
  const original = stream.write;
  let pending: string[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;

  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const text = pending.length === 1 ? pending[0]! : pending.join('');
    pending = [];
    size = 0;
    original.call(stream, text);
  };

  const batched = function (this: unknown, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const utf8 = encoding === undefined || encoding === 'utf8' || encoding === 'utf-8';
    if (typeof chunk !== 'string' || !utf8 || typeof encoding === 'function' || callback !== undefined) {
      flush();
      return (original as (...args: unknown[]) => boolean).call(stream, chunk, encoding, callback);
    }
    pending.push(chunk);
    size += chunk.length;
    if (size >= limit) flush();
    else if (!timer) {
      timer = setTimeout(flush, delayMs);
      timer.unref();
    }
    return true;
  };

  stream.write = batched as Write;
  process.on('exit', flush);
  return () => {
    flush();
    if (stream.write === (batched as Write)) stream.write = original;
    process.off('exit', flush);
  };
}
