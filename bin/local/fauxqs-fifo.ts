/**
 * Makes fauxqs return several messages of one FIFO message group in one receive, as SQS does:
 * "When you receive messages from a FIFO queue with multiple message group IDs, Amazon SQS first
 * attempts to return as many messages with the same message group ID as possible"
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html).
 * fauxqs 1.x stops after the first message of each group, so a conversation's burst reached the
 * handler one record per batch: nothing Lambda's event source mapping would do, and it hid what
 * the conversation actor relies on (a message queued behind a held record comes in the same
 * batch as that record; docs/conversation.md, *Debounce*).
 *
 * The method below is fauxqs's own `SqsQueue.dequeueFifo` (MIT) with that one change; applied
 * once per process, before any queue is created, by bin/local/emulators.ts.
 *
 * It also leaves a group that would not fit whole in the rest of the batch for the next receive
 * (a group larger than a whole batch is still cut): the conversation actor takes a record that
 * ends its conversation's part of a batch as "nothing else of this conversation is waiting".
 * SQS gives no such promise; the actor covers the cut in AWS itself (docs/conversation.md).
 *
 * With several messages of a group in flight, fauxqs's return of expired (or released) ones puts
 * each back at the front of its group, one after the other: the group came back reversed. SQS
 * keeps a group in the order its messages were sent, so after fauxqs puts messages back, a
 * group out of sequence-number order is sorted again.
 */

interface FifoMessage {
  messageId: string;
  sequenceNumber?: string;
  body: string;
  md5OfBody: string;
  md5OfMessageAttributes?: string;
  messageAttributes: Record<string, unknown>;
  approximateReceiveCount: number;
  approximateFirstReceiveTimestamp?: number;
}
interface Queue {
  name: string;
  attributes: Record<string, string>;
  fifoMessages: Map<string, FifoMessage[]>;
  fifoLockedGroups: Map<string, number>;
  inflightMessages: Map<string, { message: FifoMessage; receiptHandle: string; visibilityDeadline: number }>;
  spy?: { addMessage(entry: Record<string, unknown>): void };
  processTimers(): void;
  changeVisibility(receiptHandle: string, timeoutSeconds: number): void;
  isFifo(): boolean;
  dequeueFifo: (...args: unknown[]) => unknown[];
}
type DlqResolver = (arn: string) => { enqueue(message: FifoMessage): void } | undefined;

let patched = false;

/** Patches fauxqs's FIFO receive (idempotent). */
export async function patchFauxqsFifoReceive(): Promise<void> {
  if (patched) return;
  const url = new URL('./sqs/sqsStore.js', import.meta.resolve('fauxqs')).href;
  const { SqsQueue } = (await import(url)) as { SqsQueue: { prototype: Queue } };
  if (typeof SqsQueue?.prototype?.dequeueFifo !== 'function') {
    throw new Error('fauxqs has no SqsQueue.dequeueFifo to patch: its version changed');
  }
  const { processTimers, changeVisibility } = SqsQueue.prototype;
  SqsQueue.prototype.processTimers = function processTimersInOrder(this: Queue): void {
    processTimers.call(this);
    if (this.isFifo()) restoreGroupOrder(this);
  };
  SqsQueue.prototype.changeVisibility = function changeVisibilityInOrder(
    this: Queue,
    receiptHandle: string,
    timeoutSeconds: number,
  ): void {
    changeVisibility.call(this, receiptHandle, timeoutSeconds);
    if (timeoutSeconds === 0 && this.isFifo()) restoreGroupOrder(this);
  };
  SqsQueue.prototype.dequeueFifo = function dequeueFifo(
    this: Queue,
    maxCount: unknown,
    visibilityTimeoutOverride: unknown,
    dlqResolver: unknown,
  ): unknown[] {
    this.processTimers();
    const visibilityTimeout =
      typeof visibilityTimeoutOverride === 'number'
        ? visibilityTimeoutOverride
        : Number.parseInt(this.attributes.VisibilityTimeout ?? '30', 10);
    let maxReceiveCount = Number.POSITIVE_INFINITY;
    let dlqArn: string | undefined;
    if (this.attributes.RedrivePolicy) {
      try {
        const policy = JSON.parse(this.attributes.RedrivePolicy) as {
          maxReceiveCount?: number;
          deadLetterTargetArn?: string;
        };
        maxReceiveCount = policy.maxReceiveCount ?? Number.POSITIVE_INFINITY;
        dlqArn = policy.deadLetterTargetArn;
      } catch {
        // An invalid policy is ignored, as fauxqs does.
      }
    }
    const result: Record<string, unknown>[] = [];
    const count = Math.min(Number(maxCount), 10);
    for (const [groupId, groupMsgs] of this.fifoMessages) {
      if (result.length >= count) break;
      if (this.fifoLockedGroups.has(groupId)) continue;
      // A group that no longer fits whole is left for the next receive (unless nothing was taken
      // yet): a conversation cut at the end of a batch would look complete to its handler.
      if (result.length > 0 && groupMsgs.length > count - result.length) continue;
      while (result.length < count && groupMsgs.length > 0) {
        const msg = groupMsgs.shift()!;
        msg.approximateReceiveCount += 1;
        msg.approximateFirstReceiveTimestamp ??= Date.now();
        if (dlqArn && typeof dlqResolver === 'function' && msg.approximateReceiveCount > maxReceiveCount) {
          const dlq = (dlqResolver as DlqResolver)(dlqArn);
          if (dlq) {
            this.spy?.addMessage({
              service: 'sqs',
              queueName: this.name,
              messageId: msg.messageId,
              body: msg.body,
              messageAttributes: msg.messageAttributes,
              status: 'dlq',
              timestamp: Date.now(),
            });
            dlq.enqueue(msg);
            continue;
          }
        }
        const receiptHandle = crypto.randomUUID();
        this.inflightMessages.set(receiptHandle, {
          message: msg,
          receiptHandle,
          visibilityDeadline: Date.now() + visibilityTimeout * 1000,
        });
        result.push({
          MessageId: msg.messageId,
          ReceiptHandle: receiptHandle,
          MD5OfBody: msg.md5OfBody,
          Body: msg.body,
          ...(msg.md5OfMessageAttributes ? { MD5OfMessageAttributes: msg.md5OfMessageAttributes } : {}),
          ...(Object.keys(msg.messageAttributes).length > 0
            ? { MessageAttributes: msg.messageAttributes }
            : {}),
        });
        // Every message of the group in flight holds its lock (released one by one).
        this.fifoLockedGroups.set(groupId, (this.fifoLockedGroups.get(groupId) ?? 0) + 1);
      }
      if (groupMsgs.length === 0) this.fifoMessages.delete(groupId);
    }
    return result;
  };
  patched = true;
}

/** Sequence numbers are decimal strings of one width; compare as numbers whatever their width. */
function bySequence(a: FifoMessage, b: FifoMessage): number {
  if (a.sequenceNumber === undefined || b.sequenceNumber === undefined) return 0;
  const x = BigInt(a.sequenceNumber);
  const y = BigInt(b.sequenceNumber);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Sorts every group whose messages are out of send order (a stable sort: unnumbered ones stay). */
function restoreGroupOrder(queue: Queue): void {
  for (const group of queue.fifoMessages.values()) {
    for (let i = 1; i < group.length; i += 1) {
      if (bySequence(group[i - 1]!, group[i]!) > 0) {
        group.sort(bySequence);
        break;
      }
    }
  }
}
