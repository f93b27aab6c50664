/**
 * Retry with exponential backoff and full jitter for responder calls, bounded by a deadline
 * signal: a wait never outlives the signal, and an aborted signal ends the loop at once.
 */

/** How a responder retries a throttled call. */
export interface RetryPolicy {
  /** Total attempts, the first one included (≥ 1). */
  readonly attempts: number;
  /** First backoff, in ms; doubles each retry. */
  readonly baseDelayMs: number;
  /** Longest single backoff, in ms. */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 4000 };

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The backoff before retry number `retry` (1-based): full jitter over an exponential ceiling. */
export function backoffMs(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Runs `call` until it succeeds, `isRetryable` says no, the attempts are spent or `signal`
 * aborts; `onRetry` sees each retried error. The last error is rethrown as is.
 */
export async function withRetry<T>(
  call: (attempt: number) => Promise<T>,
  isRetryable: (err: unknown) => boolean,
  policy: RetryPolicy,
  signal: AbortSignal,
  onRetry?: (err: unknown, attempt: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call(attempt);
    } catch (err) {
      if (signal.aborted || attempt >= policy.attempts || !isRetryable(err)) throw err;
      onRetry?.(err, attempt);
      await sleep(backoffMs(policy, attempt), signal);
    }
  }
}

/** A signal that aborts when `parent` aborts or after `timeoutMs`, whichever comes first. */
export function deadlineSignal(timeoutMs: number, parent?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return parent === undefined ? timeout : AbortSignal.any([parent, timeout]);
}

/** The HTTP status of an AWS SDK error, if it has one. */
export function httpStatus(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  return meta?.httpStatusCode;
}

/** The error name (`ThrottlingException`…) of an AWS SDK error. */
export function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

/** True when `err` is an abort (our deadline or the caller's signal). */
export function isAbort(err: unknown, signal: AbortSignal): boolean {
  return (
    signal.aborted || (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError'))
  );
}
