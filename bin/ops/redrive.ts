/**
 * Moving dead-lettered records back to their queue, each conversation in its order.
 *
 * A FIFO dead-letter queue hands out at most the records of a message group that precede the
 * first one still in flight, so the whole window cannot be read in one pass. The redrive reads
 * in rounds instead: it receives until the DLQ has nothing more to show (every conversation's
 * oldest records are then in hand, up to 10 each), sorts them by group and then by sequence
 * number (FIFO) or sent time (standard queues), sends each group's records to the source queue
 * in that order, deletes them from the DLQ, and starts the next round, which shows each
 * group's next records. A group's later record is therefore never sent before an earlier one.
 *
 * Sends to a FIFO queue keep the record's `MessageGroupId` and use `redrive-{dlq message id}`
 * as deduplication id: the original id may still be inside SQS's 5-minute deduplication window
 * (the source would silently drop the record), while a redrive cut short and run again within
 * 5 minutes is dropped rather than sent twice.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/** The queues whose dead letters can be redriven. */
export const DLQ_KINDS = ['inbound', 'outbound', 'timer', 'media'] as const;
export type DlqKind = (typeof DLQ_KINDS)[number];

/** A queue and its dead-letter queue. */
export interface RedriveTarget {
  readonly kind: DlqKind;
  readonly queueUrl: string;
  readonly dlqUrl: string;
}

/** One record moved (or, in a dry run, that would be). */
export interface RedrivenRecord {
  /** The record's message id in the DLQ. */
  readonly messageId: string;
  /** The conversation's message group (FIFO), else the conversation key from the body when present. */
  readonly group: string;
  /** When the record was first sent to its queue (epoch ms). */
  readonly sentAt: number;
  /** FIFO sequence number in the DLQ. */
  readonly sequenceNumber?: string;
  /** Receives before it was dead-lettered. */
  readonly receiveCount: number;
  /** What the record is about (tenant, channel, conversation, event type, reply id), never text. */
  readonly summary: string;
  /** The record's body, for callers that filter or show it. */
  readonly body: string;
}

/** What a redrive did. */
export interface RedriveResult {
  readonly target: RedriveTarget;
  readonly dryRun: boolean;
  /** In the order they were sent (grouped by conversation, oldest first). */
  readonly moved: readonly RedrivenRecord[];
  /** Records seen but held back because `max` was reached or `filter` refused them (or a group's earlier one). */
  readonly heldBack: number;
}

/** Options of {@link redrive}. */
export interface RedriveOptions {
  readonly sqs: SQSClient;
  readonly target: RedriveTarget;
  /** List what would move; move nothing (records are made visible again at once). */
  readonly dryRun?: boolean;
  /** Move at most this many records (whole-group prefixes, oldest groups first). */
  readonly max?: number;
  /** Only records this accepts move (e.g. one reply part); the others are put back at once. */
  readonly filter?: (record: RedrivenRecord) => boolean;
  /** How long received records stay hidden while a round runs. @default 120 */
  readonly visibilityTimeoutSeconds?: number;
  /** Long-poll wait of each receive. @default 1 */
  readonly waitTimeSeconds?: number;
  /** Called for each record once it is sent (before the next one). */
  readonly onMoved?: (record: RedrivenRecord) => void;
}

/** A record held during a round, with what is needed to send and delete it. */
interface Held {
  readonly record: RedrivenRecord;
  readonly receiptHandle: string;
  readonly groupId?: string;
  readonly attributes?: Record<string, MessageAttributeValue>;
}

const isFifo = (url: string): boolean => url.endsWith('.fifo');

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** A short, text-free description of a record's body. */
export function summariseBody(body: string): { summary: string; conversationKey?: string } {
  let parsed: Record<string, unknown>;
  try {
    const value = JSON.parse(body) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return { summary: 'non-object body' };
    parsed = value as Record<string, unknown>;
  } catch {
    return { summary: 'non-JSON body' };
  }
  const message = parsed.message as Record<string, unknown> | undefined;
  const parts = [
    text(parsed.type) ?? (text(parsed.replyId) ? 'reply part' : text(parsed.jobId) ? 'media job' : undefined),
    text(parsed.tenantId),
    text(parsed.channel),
    text(parsed.conversationId),
    text(parsed.replyId) ? `reply ${String(parsed.replyId)}` : undefined,
    text(message?.messageId) ? `message ${String(message?.messageId)}` : undefined,
    text(parsed.messageId) ? `message ${String(parsed.messageId)}` : undefined,
  ].filter((p): p is string => p !== undefined);
  const conversationKey = text(parsed.conversationKey);
  return { summary: parts.join(' ') || 'record', ...(conversationKey ? { conversationKey } : {}) };
}

function toHeld(message: Message): Held | undefined {
  if (!message.ReceiptHandle || !message.MessageId) return undefined;
  const attrs = message.Attributes ?? {};
  const body = message.Body ?? '';
  const { summary, conversationKey } = summariseBody(body);
  const groupId = attrs.MessageGroupId;
  const record: RedrivenRecord = {
    messageId: message.MessageId,
    group: groupId ?? conversationKey ?? '',
    sentAt: Number(attrs.SentTimestamp ?? 0),
    ...(attrs.SequenceNumber ? { sequenceNumber: attrs.SequenceNumber } : {}),
    receiveCount: Number(attrs.ApproximateReceiveCount ?? 0),
    summary,
    body,
  };
  return {
    record,
    receiptHandle: message.ReceiptHandle,
    ...(groupId ? { groupId } : {}),
    ...(message.MessageAttributes && Object.keys(message.MessageAttributes).length > 0
      ? { attributes: message.MessageAttributes }
      : {}),
  };
}

/** Oldest first within a group: FIFO sequence number, else sent time, then message id. */
export function compareInGroup(a: RedrivenRecord, b: RedrivenRecord): number {
  if (a.sequenceNumber !== undefined && b.sequenceNumber !== undefined) {
    const x = BigInt(a.sequenceNumber);
    const y = BigInt(b.sequenceNumber);
    if (x !== y) return x < y ? -1 : 1;
  }
  if (a.sentAt !== b.sentAt) return a.sentAt - b.sentAt;
  return a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0;
}

/**
 * Groups records by conversation, each group oldest first, groups ordered by their oldest
 * record (then by group id, so the order is stable).
 */
export function orderForRedrive<T extends { readonly record: RedrivenRecord }>(held: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const h of held) {
    const list = groups.get(h.record.group) ?? [];
    list.push(h);
    groups.set(h.record.group, list);
  }
  const sorted = [...groups.entries()].map(([group, list]) => ({
    group,
    list: list.sort((a, b) => compareInGroup(a.record, b.record)),
  }));
  sorted.sort((a, b) => {
    const x = a.list[0]!.record;
    const y = b.list[0]!.record;
    return x.sentAt - y.sentAt || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0);
  });
  return sorted.map((g) => g.list);
}

/** Receives until the DLQ shows nothing more (or `limit` records are held). */
async function receiveRound(
  sqs: SQSClient,
  dlqUrl: string,
  visibilityTimeout: number,
  waitTimeSeconds: number,
  limit: number,
): Promise<Held[]> {
  const held: Held[] = [];
  // An empty long poll means nothing more is visible right now.
  while (held.length < limit) {
    const res = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: visibilityTimeout,
        WaitTimeSeconds: waitTimeSeconds,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    const messages = res.Messages ?? [];
    if (messages.length === 0) break;
    for (const m of messages) {
      const h = toHeld(m);
      if (h) held.push(h);
    }
  }
  return held;
}

/** Makes records visible again at once. */
async function release(sqs: SQSClient, dlqUrl: string, held: readonly Held[]): Promise<void> {
  for (let i = 0; i < held.length; i += 10) {
    const chunk = held.slice(i, i + 10);
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: dlqUrl,
        Entries: chunk.map((h, j) => ({
          Id: String(j),
          ReceiptHandle: h.receiptHandle,
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
}

/**
 * Moves the dead-lettered records of `target` back to its queue, each conversation in order.
 * @throws the SQS client's errors (nothing already moved is lost: each record is deleted from
 *   the DLQ only after its send succeeded).
 */
export async function redrive(options: RedriveOptions): Promise<RedriveResult> {
  const { sqs, target } = options;
  const dryRun = options.dryRun ?? false;
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const visibility = options.visibilityTimeoutSeconds ?? 120;
  const wait = options.waitTimeSeconds ?? 1;
  const fifo = isFifo(target.queueUrl);
  const moved: RedrivenRecord[] = [];
  let heldBack = 0;
  // Records seen but not moved stay hidden until the redrive ends, so a round never shows them
  // again; they are released at the end (and on failure).
  const parked: Held[] = [];
  try {
    for (;;) {
      const round = await receiveRound(sqs, target.dlqUrl, visibility, wait, Number.POSITIVE_INFINITY);
      if (round.length === 0) break;
      let sentThisRound = 0;
      for (const group of orderForRedrive(round)) {
        let blocked = false;
        for (const h of group) {
          // Once one record of a group stays behind, the later ones must stay too (order).
          if (blocked || moved.length >= max || (options.filter && !options.filter(h.record))) {
            blocked = true;
            parked.push(h);
            heldBack += 1;
            continue;
          }
          if (!dryRun) {
            await sqs.send(
              new SendMessageCommand({
                QueueUrl: target.queueUrl,
                MessageBody: h.record.body,
                ...(h.attributes ? { MessageAttributes: h.attributes } : {}),
                ...(fifo
                  ? {
                      MessageGroupId: h.groupId ?? (h.record.group || 'redrive'),
                      MessageDeduplicationId: `redrive-${h.record.messageId}`.slice(0, 128),
                    }
                  : {}),
              }),
            );
            await sqs.send(
              new DeleteMessageCommand({ QueueUrl: target.dlqUrl, ReceiptHandle: h.receiptHandle }),
            );
          } else {
            parked.push(h);
          }
          moved.push(h.record);
          sentThisRound += 1;
          options.onMoved?.(h.record);
        }
      }
      // Nothing was deleted: the next receive would show nothing new (all parked or dry run).
      if (dryRun || sentThisRound === 0 || moved.length >= max) break;
    }
  } finally {
    await release(sqs, target.dlqUrl, parked).catch(() => {});
  }
  return { target, dryRun, moved, heldBack };
}
