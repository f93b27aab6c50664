/**
 * Durability for fauxqs, which keeps its queues in memory only: an append-only journal of
 * every message a queue takes in (send, move to a dead-letter queue) and lets go of (delete,
 * purge), replayed into fresh fauxqs queues at the next start.
 *
 * - A record is written (`write(2)`, so it survives the process being killed) inside the
 *   queue's own `enqueue`/`deleteMessage`, before fauxqs builds its response; the SQS responses
 *   then wait for one group `fdatasync` covering every record written so far (`flush`).
 * - Replay restores each live message as it was sent — same MessageId, body, attributes, MD5s,
 *   MessageGroupId, MessageDeduplicationId, SequenceNumber, SentTimestamp and delay — in send
 *   order, so FIFO groups keep their order. Messages in flight at the crash are visible again
 *   (their visibility timeout is not journalled) and their receive count starts again at 0.
 * - FIFO deduplication ids sent in the last 5 minutes are restored too, so a retry of a send
 *   acknowledged before the crash is still dropped as a duplicate.
 * - The journal is rewritten with only the live messages at start and whenever it has grown to
 *   several times their number.
 */
import {
  closeSync,
  existsSync,
  fdatasync as fdatasyncCb,
  fdatasyncSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/**
 * Renames `from` to `to` and syncs the directory, so that the rename itself survives a power cut
 * (the local stack's journals replace themselves this way after a compaction).
 */
export function renameDurably(from: string, to: string): void {
  renameSync(from, to);
  const dir = openSync(dirname(to), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** The message fauxqs stores (fauxqs/dist/sqs/sqsTypes: plain data, so it serialises as is). */
export interface JournalMessage {
  messageId: string;
  body: string;
  md5OfBody: string;
  messageAttributes: Record<string, unknown>;
  md5OfMessageAttributes: string;
  sentTimestamp: number;
  approximateReceiveCount: number;
  approximateFirstReceiveTimestamp?: number;
  delayUntil?: number;
  messageGroupId?: string;
  messageDeduplicationId?: string;
  sequenceNumber?: string;
}

/** The part of a fauxqs `SqsQueue` the journal wraps. */
export interface JournalQueue {
  readonly name: string;
  enqueue(msg: JournalMessage): void;
  deleteMessage(receiptHandle: string): boolean;
  purge(): void;
  readonly inflightMessages: Map<string, { message: JournalMessage }>;
  isFifo(): boolean;
  recordDeduplication(dedupId: string, messageId: string, sequenceNumber?: string): void;
  sequenceCounter: number;
}

type JournalRecord =
  | { op: 'send'; q: string; m: JournalMessage }
  | { op: 'move'; q: string; id: string }
  | { op: 'del'; q: string; id: string }
  | { op: 'purge'; q: string }
  | { op: 'dedup'; q: string; d: string; id: string; seq?: string; at: number };

/** How long SQS remembers a FIFO deduplication id. */
const DEDUP_WINDOW_MS = 5 * 60 * 1000;
/** Rewrite the journal once it holds this many records beyond {@link COMPACT_FACTOR} × live. */
const COMPACT_SLACK = 20_000;
const COMPACT_FACTOR = 4;

/** What a replay found and restored. */
export interface ReplayStats {
  /** Live messages put back, per queue name. */
  readonly restored: Readonly<Record<string, number>>;
  /** Live messages of queues that no longer exist (dropped). */
  readonly dropped: number;
  /** A torn last record (the process died while writing it) was ignored. */
  readonly tornTail: boolean;
}

/** An open journal. */
export interface SqsJournal {
  /** Puts the journalled messages back into `queues` and starts journalling them. Call once. */
  readonly attach: (queues: readonly JournalQueue[]) => ReplayStats;
  /** Resolves once every record written so far is on disk (`fdatasync`, grouped). */
  readonly flush: () => Promise<void>;
  /** Number of records appended since the journal was opened. */
  readonly appended: () => number;
  readonly close: () => void;
}

interface Live {
  q: string;
  m: JournalMessage;
}

interface DedupEntry {
  q: string;
  d: string;
  id: string;
  seq?: string;
  at: number;
}

function parseJournal(text: string): { records: JournalRecord[]; tornTail: boolean } {
  const records: JournalRecord[] = [];
  const lines = text.split('\n');
  let tornTail = false;
  lines.forEach((line, index) => {
    if (line === '') return;
    try {
      records.push(JSON.parse(line) as JournalRecord);
    } catch (err) {
      // Only the last line can be torn (a write cut short by the crash); anything else is damage.
      const last = index === lines.length - 1 || (index === lines.length - 2 && lines.at(-1) === '');
      if (!last) throw new Error(`SQS journal is damaged at line ${index + 1}: ${String(err)}`);
      tornTail = true;
    }
  });
  return { records, tornTail };
}

/**
 * Opens (creating when missing) the journal at `path`. Nothing is replayed until
 * {@link SqsJournal.attach}.
 * @param now clock, for the deduplication window
 */
export function openSqsJournal(path: string, now: () => number = Date.now): SqsJournal {
  const live = new Map<string, Live>();
  const dedups: DedupEntry[] = [];
  let tornTail = false;
  if (existsSync(path)) {
    const parsed = parseJournal(readFileSync(path, 'utf8'));
    tornTail = parsed.tornTail;
    for (const r of parsed.records) {
      if (r.op === 'send') {
        live.set(r.m.messageId, { q: r.q, m: r.m });
        // Only FIFO sends carry a deduplication id; it outlives the message's deletion.
        if (r.m.messageDeduplicationId !== undefined) {
          dedups.push({
            q: r.q,
            d: r.m.messageDeduplicationId,
            id: r.m.messageId,
            ...(r.m.sequenceNumber ? { seq: r.m.sequenceNumber } : {}),
            at: r.m.sentTimestamp,
          });
        }
      } else if (r.op === 'move') {
        const entry = live.get(r.id);
        if (entry) {
          // Moved to the end of its new queue, as fauxqs's redrive enqueues it.
          live.delete(r.id);
          live.set(r.id, { q: r.q, m: entry.m });
        }
      } else if (r.op === 'del') live.delete(r.id);
      else if (r.op === 'purge') {
        for (const [id, entry] of live) if (entry.q === r.q) live.delete(id);
      } else if (r.op === 'dedup')
        dedups.push({ q: r.q, d: r.d, id: r.id, ...(r.seq ? { seq: r.seq } : {}), at: r.at });
    }
  }

  let fd: number | undefined;
  let appended = 0;
  let sinceCompaction = 0;
  let written = 0;
  let synced = 0;
  let syncing: Promise<void> | undefined;

  const sendRecord = (q: string, m: JournalMessage): string => JSON.stringify({ op: 'send', q, m });
  const dedupRecord = (e: DedupEntry): string =>
    JSON.stringify({ op: 'dedup', q: e.q, d: e.d, id: e.id, ...(e.seq ? { seq: e.seq } : {}), at: e.at });

  /** Rewrites the journal with the live messages and recent dedup ids, atomically. */
  const compact = (): void => {
    const cutoff = now() - DEDUP_WINDOW_MS;
    const recent = dedups.filter((e) => e.at >= cutoff);
    dedups.length = 0;
    dedups.push(...recent);
    const lines: string[] = [];
    for (const e of recent) lines.push(dedupRecord(e));
    for (const { q, m } of live.values()) lines.push(sendRecord(q, m));
    const temp = `${path}.compact`;
    const out = openSync(temp, 'w', 0o600);
    try {
      if (lines.length > 0) writeSync(out, `${lines.join('\n')}\n`);
      fsyncSync(out);
    } finally {
      closeSync(out);
    }
    if (fd !== undefined) closeSync(fd);
    renameDurably(temp, path);
    fd = openSync(path, 'a', 0o600);
    sinceCompaction = 0;
    synced = written;
  };

  const append = (record: string): void => {
    if (fd === undefined) throw new Error('SQS journal is closed');
    writeSync(fd, `${record}\n`);
    appended += 1;
    written += 1;
    sinceCompaction += 1;
    if (sinceCompaction > COMPACT_FACTOR * live.size + COMPACT_SLACK) compact();
  };

  const attach = (queues: readonly JournalQueue[]): ReplayStats => {
    const byName = new Map(queues.map((q) => [q.name, q]));
    const restored: Record<string, number> = {};
    let dropped = 0;
    const cutoff = now() - DEDUP_WINDOW_MS;
    for (const e of dedups) {
      const queue = byName.get(e.q);
      if (queue && e.at >= cutoff) queue.recordDeduplication(e.d, e.id, e.seq);
    }
    for (const [id, entry] of live) {
      const queue = byName.get(entry.q);
      if (!queue) {
        live.delete(id);
        dropped += 1;
        continue;
      }
      const m: JournalMessage = { ...entry.m, approximateReceiveCount: 0 };
      delete m.approximateFirstReceiveTimestamp;
      queue.enqueue(m);
      entry.m = m;
      restored[queue.name] = (restored[queue.name] ?? 0) + 1;
      if (m.sequenceNumber !== undefined) {
        queue.sequenceCounter = Math.max(queue.sequenceCounter, Number(m.sequenceNumber));
      }
    }
    for (const e of dedups) {
      const queue = byName.get(e.q);
      if (queue && e.seq !== undefined) {
        queue.sequenceCounter = Math.max(queue.sequenceCounter, Number(e.seq));
      }
    }
    compact();

    for (const queue of queues) {
      const enqueue = queue.enqueue.bind(queue);
      const deleteMessage = queue.deleteMessage.bind(queue);
      const purge = queue.purge.bind(queue);
      queue.enqueue = (msg: JournalMessage): void => {
        const existing = live.get(msg.messageId);
        if (existing && existing.q !== queue.name) {
          // fauxqs's redrive: the same message moves to the dead-letter queue.
          live.delete(msg.messageId);
          live.set(msg.messageId, { q: queue.name, m: existing.m });
          append(JSON.stringify({ op: 'move', q: queue.name, id: msg.messageId }));
        } else {
          const m: JournalMessage = { ...msg, approximateReceiveCount: 0 };
          delete m.approximateFirstReceiveTimestamp;
          live.set(msg.messageId, { q: queue.name, m });
          if (msg.messageDeduplicationId !== undefined && queue.isFifo()) {
            const e: DedupEntry = {
              q: queue.name,
              d: msg.messageDeduplicationId,
              id: msg.messageId,
              ...(msg.sequenceNumber ? { seq: msg.sequenceNumber } : {}),
              at: now(),
            };
            dedups.push(e);
            // Pruned at compaction; bounded meanwhile by the send volume of the window.
          }
          append(sendRecord(queue.name, m));
        }
        enqueue(msg);
      };
      queue.deleteMessage = (receiptHandle: string): boolean => {
        const entry = queue.inflightMessages.get(receiptHandle);
        const deleted = deleteMessage(receiptHandle);
        if (deleted && entry) {
          live.delete(entry.message.messageId);
          append(JSON.stringify({ op: 'del', q: queue.name, id: entry.message.messageId }));
        }
        return deleted;
      };
      queue.purge = (): void => {
        for (const [id, entry] of live) if (entry.q === queue.name) live.delete(id);
        append(JSON.stringify({ op: 'purge', q: queue.name }));
        purge();
      };
    }
    return { restored, dropped, tornTail };
  };

  const flush = (): Promise<void> => {
    const target = written;
    if (synced >= target || fd === undefined) return Promise.resolve();
    const wait = async (): Promise<void> => {
      while (synced < target && fd !== undefined) {
        if (!syncing) {
          const upTo = written;
          const handle = fd;
          syncing = new Promise<void>((resolve, reject) => {
            fdatasyncCb(handle, (err) => {
              syncing = undefined;
              // A compaction in between closed this descriptor after syncing its replacement.
              if (err && handle === fd) reject(err);
              else {
                synced = Math.max(synced, upTo);
                resolve();
              }
            });
          });
        }
        await syncing;
      }
    };
    return wait();
  };

  return {
    attach,
    flush,
    appended: () => appended,
    close: () => {
      if (fd === undefined) return;
      try {
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
        fd = undefined;
      }
    },
  };
}
