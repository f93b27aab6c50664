/**
 * Sending to SQS in batches of 10 with retries of the failed entries (backoff with jitter)
 * inside a time budget. Returns what could not be sent, so callers decide: the webhook
 * answers 5xx, a Lambda consumer fails the record.
 */
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import { sqsClient } from './sqs-client.js';

/** One message to send. `id` must be unique within the call. */
export interface QueueEntry {
  readonly id: string;
  readonly body: string;
  readonly groupId?: string;
  readonly dedupId?: string;
  readonly delaySeconds?: number;
}

export interface SendOptions {
  /** Give up retrying after this long. @default 3000 */
  readonly budgetMs?: number;
  /** First backoff delay. @default 50 */
  readonly baseDelayMs?: number;
}

export interface SendOutcome {
  readonly sent: readonly string[];
  /** Entries still unsent when the budget ran out, with the last error seen for each. */
  readonly failed: readonly { readonly id: string; readonly error: string }[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `entries` to `queueUrl` in order-preserving chunks of 10, retrying failures. */
export async function sendToQueue(
  queueUrl: string,
  entries: readonly QueueEntry[],
  options: SendOptions = {},
): Promise<SendOutcome> {
  const budgetMs = options.budgetMs ?? 3000;
  const baseDelayMs = options.baseDelayMs ?? 50;
  const deadline = Date.now() + budgetMs;
  const sent: string[] = [];
  const lastError = new Map<string, string>();
  let pending = [...entries];
  let attempt = 0;

  while (pending.length > 0) {
    const stillPending: QueueEntry[] = [];
    for (let i = 0; i < pending.length; i += 10) {
      const chunk = pending.slice(i, i + 10);
      const request: SendMessageBatchRequestEntry[] = chunk.map((e) => ({
        Id: e.id,
        MessageBody: e.body,
        ...(e.groupId !== undefined ? { MessageGroupId: e.groupId } : {}),
        ...(e.dedupId !== undefined ? { MessageDeduplicationId: e.dedupId } : {}),
        ...(e.delaySeconds !== undefined ? { DelaySeconds: e.delaySeconds } : {}),
      }));
      try {
        const result = await sqsClient().send(
          new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: request }),
        );
        const failedIds = new Set<string>();
        for (const f of result.Failed ?? []) {
          if (f.Id) {
            failedIds.add(f.Id);
            lastError.set(f.Id, `${f.Code ?? 'Error'}: ${f.Message ?? ''}`);
          }
        }
        for (const e of chunk) {
          if (failedIds.has(e.id)) stillPending.push(e);
          else sent.push(e.id);
        }
      } catch (err) {
        for (const e of chunk) {
          lastError.set(e.id, err instanceof Error ? `${err.name}: ${err.message}` : String(err));
          stillPending.push(e);
        }
      }
    }
    pending = stillPending;
    if (pending.length === 0) break;
    attempt += 1;
    const delay = Math.min(1000, baseDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    if (Date.now() + delay >= deadline) break;
    await sleep(delay);
  }
  return { sent, failed: pending.map((e) => ({ id: e.id, error: lastError.get(e.id) ?? 'unknown' })) };
}
