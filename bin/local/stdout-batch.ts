/**
 * Local stack only: the lines written to stdout within 20 ms leave in one `write(2)`.
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
 * A write's callback (Console passes its error handler) is called once its batch is written.
 * Writes of anything but a UTF-8 string (a worker thread's piped output arrives as bytes) flush
 * what is waiting and go out unchanged, so order is kept.
 */

/** Bytes (UTF-16 code units, close enough) held before a write goes out at once. */
export const STDOUT_BATCH_LIMIT = 64 * 1024;

/** How long the first waiting line waits for others: unnoticeable to a reader, 50 writes/s at most. */
export const STDOUT_BATCH_DELAY_MS = 20;

type Write = NodeJS.WriteStream['write'];

const ignore = (): void => {};

/**
 * Batches `stream.write` as described above; returns the undo (which writes what is waiting
 * first).
 */
export function batchStdout(
  stream: NodeJS.WriteStream = process.stdout,
  { limit = STDOUT_BATCH_LIMIT, delayMs = STDOUT_BATCH_DELAY_MS }: { limit?: number; delayMs?: number } = {},
): () => void {
  const original = stream.write as (...args: unknown[]) => boolean;
  let pending: string[] = [];
  let callbacks: ((err?: Error | null) => void)[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;

  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const text = pending.length === 1 ? pending[0]! : pending.join('');
    const waiting = callbacks;
    pending = [];
    callbacks = [];
    size = 0;
    // As Console does around its own writes: a synchronous write error (EPIPE, the reader gone)
    // must not become an uncaught 'error' event; the callbacks hear of it.
    const guard = stream.listenerCount('error') === 0;
    if (guard) stream.once('error', ignore);
    try {
      if (waiting.length === 0) original.call(stream, text);
      else
        original.call(stream, text, (err?: Error | null) => {
          for (const cb of waiting) cb(err);
        });
    } finally {
      if (guard) stream.removeListener('error', ignore);
    }
  };

  const batched = function (this: unknown, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    let cb = callback;
    let enc = encoding;
    if (typeof enc === 'function') {
      cb = enc;
      enc = undefined;
    }
    const utf8 = enc === undefined || enc === 'utf8' || enc === 'utf-8';
    if (typeof chunk !== 'string' || !utf8 || (cb !== undefined && typeof cb !== 'function')) {
      flush();
      return original.call(stream, chunk, encoding, callback);
    }
    // Console writes with a callback (its error handler): it is called once the batch is written.
    if (typeof cb === 'function') callbacks.push(cb as (err?: Error | null) => void);
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
    if (stream.write === (batched as Write)) stream.write = original as Write;
    process.off('exit', flush);
  };
}
