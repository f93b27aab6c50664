/**
 * Sending to SQS in batches with retries of the failed entries (backoff with jitter) inside a
 * time budget. Returns what could not be sent, so callers decide: the webhook answers 5xx, a
 * Lambda consumer fails the record.
 *
 * Order within a FIFO message group survives partial failures: one SendMessageBatch call holds
 * at most one entry per group (SQS gives no order between entries of a failed call and its
 * retry), and when an entry fails, the later entries of its group wait for it. A call also stays
 * under SQS's 10 entries and 1 MiB per request.
 *
 * The budget is a hard deadline: a call still in flight when it ends is aborted (so is one in
 * flight when the caller's `signal` aborts), and the entries it carried count as unsent. Such a
 * call may still have enqueued them; the caller's retry is then dropped by the FIFO
 * deduplication id (5 minutes) or, later, by the consumer's idempotency.
 *
 * Bodies go out through {@link sqsSafeBody} (ASCII-only JSON), so the size checks below measure
 * what is sent.
 */
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import { CLIENT_TIMEOUTS } from './client-timeouts.js';
import { sqsClient, sqsSafeBody } from './sqs-client.js';

/** One message to send. `id` must be unique within the call. */
export interface QueueEntry {
  readonly id: string;
  readonly body: string;
  readonly groupId?: string;
  readonly dedupId?: string;
  readonly delaySeconds?: number;
}

export interface SendOptions {
  /** Give up after this long, aborting a call still in flight. @default 3000 */
  readonly budgetMs?: number;
  /** First backoff delay. @default 50 */
  readonly baseDelayMs?: number;
  /** The caller's own deadline: when it aborts, so does the call in flight, and nothing more is tried. */
  readonly signal?: AbortSignal;
  /**
   * Longest wait for one SQS answer (each SDK attempt), capped by what is left of the budget,
   * so a hung connection leaves time for a retry on a fresh one. @default 5000 (the client's)
   */
  readonly attemptTimeoutMs?: number;
}

export interface SendOutcome {
  readonly sent: readonly string[];
  /** Entries still unsent when the budget ran out, with the last error seen for each. */
  readonly failed: readonly { readonly id: string; readonly error: string }[];
}

/** SQS SendMessageBatch limits. */
const MAX_ENTRIES = 10;
/** 1 MiB minus room for the request envelope and attribute names. */
const MAX_REQUEST_BYTES = 1_048_576 - 16_384;

/** The error of entries left unsent when the budget or the caller's deadline ended. */
export const DEADLINE_ERROR =
  'DeadlineExceeded: no answer from SQS in time (a call in flight may still have enqueued; a retry is deduplicated)';

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

const entrySize = (e: QueueEntry): number =>
  Buffer.byteLength(e.body) + (e.groupId?.length ?? 0) + (e.dedupId?.length ?? 0) + e.id.length + 64;

/**
 * The next call's entries, in order: at most one per group (the earliest pending one), at most
 * 10, under the request size cap. Entries without a group are never held back by others.
 */
function nextCall(pending: readonly QueueEntry[]): QueueEntry[] {
  const call: QueueEntry[] = [];
  const groups = new Set<string>();
  let bytes = 0;
  for (const e of pending) {
    if (call.length === MAX_ENTRIES) break;
    if (e.groupId !== undefined) {
      if (groups.has(e.groupId)) continue;
      groups.add(e.groupId);
    }
    const size = entrySize(e);
    // Left for the next call; its group stays marked, so later entries of it cannot overtake.
    if (call.length > 0 && bytes + size > MAX_REQUEST_BYTES) continue;
    call.push(e);
    bytes += size;
  }
  return call;
}

/** Sends `entries` to `queueUrl`, keeping each group's order, retrying failures. */
export async function sendToQueue(
  queueUrl: string,
  entries: readonly QueueEntry[],
  options: SendOptions = {},
): Promise<SendOutcome> {
  const budgetMs = options.budgetMs ?? 3000;
  const baseDelayMs = options.baseDelayMs ?? 50;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? CLIENT_TIMEOUTS.sqs.requestTimeout;
  const deadline = Date.now() + budgetMs;
  // One signal for the budget and the caller's deadline, whichever ends first.
  const stop = new AbortController();
  const callerAborted = (): void => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) callerAborted();
  else options.signal?.addEventListener('abort', callerAborted, { once: true });
  const budgetTimer = setTimeout(() => stop.abort(new Error('budget spent')), budgetMs);
  try {
    return await sendWithin(queueUrl, entries, stop.signal, { deadline, baseDelayMs, attemptTimeoutMs });
  } finally {
    clearTimeout(budgetTimer);
    options.signal?.removeEventListener('abort', callerAborted);
  }
}

async function sendWithin(
  queueUrl: string,
  entries: readonly QueueEntry[],
  signal: AbortSignal,
  limits: { readonly deadline: number; readonly baseDelayMs: number; readonly attemptTimeoutMs: number },
): Promise<SendOutcome> {
  const { deadline, baseDelayMs, attemptTimeoutMs } = limits;
  const sent: string[] = [];
  const lastError = new Map<string, string>();
  let pending = entries.map((e) => {
    const body = sqsSafeBody(e.body);
    return body === e.body ? e : { ...e, body };
  });
  let attempt = 0;

  while (pending.length > 0 && !signal.aborted) {
    // One pass: calls until every pending entry was tried once or held behind a failure. Each
    // call either sends entries or marks them failed, so the pass ends.
    const failedGroups = new Set<string>();
    const failedUngrouped = new Set<string>();
    for (;;) {
      const candidates = pending.filter(
        (e) => !failedUngrouped.has(e.id) && (e.groupId === undefined || !failedGroups.has(e.groupId)),
      );
      const call = nextCall(candidates);
      if (call.length === 0 || signal.aborted) break;
      const request: SendMessageBatchRequestEntry[] = call.map((e) => ({
        Id: e.id,
        MessageBody: e.body,
        ...(e.groupId !== undefined ? { MessageGroupId: e.groupId } : {}),
        ...(e.dedupId !== undefined ? { MessageDeduplicationId: e.dedupId } : {}),
        ...(e.delaySeconds !== undefined ? { DelaySeconds: e.delaySeconds } : {}),
      }));
      const failedIds = new Set<string>();
      try {
        const result = await sqsClient().send(
          new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: request }),
          {
            abortSignal: signal,
            requestTimeout: Math.max(1, Math.min(attemptTimeoutMs, deadline - Date.now())),
          },
        );
        for (const f of result.Failed ?? []) {
          if (f.Id) {
            failedIds.add(f.Id);
            lastError.set(f.Id, `${f.Code ?? 'Error'}: ${f.Message ?? ''}`);
          }
        }
      } catch (err) {
        const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        const error = signal.aborted ? `${DEADLINE_ERROR} [${reason}]` : reason;
        for (const e of call) {
          failedIds.add(e.id);
          lastError.set(e.id, error);
        }
      }
      const done = new Set<string>();
      for (const e of call) {
        if (failedIds.has(e.id)) {
          if (e.groupId !== undefined) failedGroups.add(e.groupId);
          else failedUngrouped.add(e.id);
        } else {
          done.add(e.id);
          sent.push(e.id);
        }
      }
      if (done.size > 0) pending = pending.filter((e) => !done.has(e.id));
    }
    if (pending.length === 0 || signal.aborted) break;
    attempt += 1;
    const delay = Math.min(1000, baseDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    if (Date.now() + delay >= deadline) break;
    await sleep(delay, signal);
  }
  const fallback = signal.aborted ? DEADLINE_ERROR : 'unknown';
  return { sent, failed: pending.map((e) => ({ id: e.id, error: lastError.get(e.id) ?? fallback })) };
}
