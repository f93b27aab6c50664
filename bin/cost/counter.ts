/**
 * Counts every AWS SDK call made in this process: the handlers', the media worker's and the
 * local stack's own pollers (which stand in for Lambda's SQS event source mapping). It wraps
 * `send` on the SDK's shared client base class, so nothing in `lambdas/` changes and a run
 * without `npm run cost` pays nothing. DynamoDB calls are sent with
 * `ReturnConsumedCapacity: 'TOTAL'` (dynalite computes units as DynamoDB does: 1 per KB
 * written, 1 per 4 KB read strongly, half that eventually consistent).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';

/** Counts of one service operation (and queue or table). */
export interface OperationCount {
  calls: number;
  /** SQS: messages returned (ReceiveMessage) or entries sent/deleted; otherwise 0. */
  records: number;
  /** SQS: 64 KB request chunks billed. */
  chunks: number;
  /** DynamoDB write units (a failed conditional write counted as 1). */
  wcu: number;
  /** DynamoDB read units. */
  rcu: number;
  /** DynamoDB conditional checks that failed. */
  conditionalFailures: number;
  /** Other errors. */
  errors: number;
}

/**
 * One measured invocation of an SQS-triggered handler, receive → delete (or release); for the
 * `mediaJobs` queue, one media job on the worker.
 */
export interface Invocation {
  readonly queue: string;
  readonly records: number;
  readonly ms: number;
}

/** A snapshot of everything counted. */
export interface Counts {
  /** Key: `Service Operation [queue or table]`. */
  readonly ops: ReadonlyMap<string, OperationCount>;
  readonly invocations: readonly Invocation[];
}

type Send = (this: unknown, command: unknown, ...rest: unknown[]) => Promise<unknown>;

const DOC_OPS: Record<string, string> = {
  Put: 'PutItem',
  Get: 'GetItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchWrite: 'BatchWriteItem',
  BatchGet: 'BatchGetItem',
  TransactWrite: 'TransactWriteItems',
  TransactGet: 'TransactGetItems',
};

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
const SQS_CHUNK = 64 * 1024;

/** Names of the queues and tables to label calls with (URL or name → label). */
export interface CounterLabels {
  readonly queues: Readonly<Record<string, string>>;
  readonly tables: Readonly<Record<string, string>>;
  /** Queues whose ReceiveMessage/Delete calls are the event source mapping's. */
  readonly esmQueues: readonly string[];
}

/** The counter installed by {@link installCounter}. */
export interface CallCounter {
  /** Everything counted since the last `reset`. */
  snapshot(): Counts;
  reset(): void;
  /** Called when the event source mapping hands records to a handler (a new invocation). */
  onInvoke?: (queue: string) => void;
  /** Restores the SDK's `send`. */
  uninstall(): void;
}

function sizeOf(value: unknown): number {
  return typeof value === 'string' ? Buffer.byteLength(value) : 0;
}

const str = (v: unknown): string | undefined =>
  typeof v === 'string'
    ? v
    : typeof (v as { S?: unknown })?.S === 'string'
      ? (v as { S: string }).S
      : undefined;

/** `pk-prefix/sk-prefix` of an item key (`conv/state`, `rate/w`): which kind of item a call touched. */
function itemKind(key: unknown): string | undefined {
  if (typeof key !== 'object' || key === null) return undefined;
  const k = key as Record<string, unknown>;
  const prefix = (v: unknown): string => {
    const s = str(v);
    if (s === undefined) return '?';
    const at = s.indexOf('#');
    return at > 0 ? s.slice(0, at) : s.length > 24 ? 'id' : s;
  };
  if (k.pk !== undefined) return `${prefix(k.pk)}/${prefix(k.sk)}`;
  if (k.id !== undefined) return 'record';
  return undefined;
}

/** The item kinds a DynamoDB request touches, comma-separated. */
function itemKinds(input: Record<string, unknown>): string | undefined {
  if (input.Key) return itemKind(input.Key);
  if (input.Item) return itemKind(input.Item);
  if (input.KeyConditionExpression) {
    const values = Object.values((input.ExpressionAttributeValues as Record<string, unknown>) ?? {});
    const pk = values.map(str).find((v) => v?.includes('#'));
    return `${pk ? pk.slice(0, pk.indexOf('#')) : '?'}/*`;
  }
  const kinds = new Set<string>();
  const requests = Object.values((input.RequestItems as Record<string, unknown[]>) ?? {}).flat();
  for (const r of [...requests, ...((input.TransactItems as unknown[]) ?? [])]) {
    const inner = Object.values(r as Record<string, { Item?: unknown; Key?: unknown }>)[0];
    const kind = itemKind(inner?.Item ?? inner?.Key);
    if (kind) kinds.add(kind);
  }
  return kinds.size > 0 ? [...kinds].sort().join(',') : undefined;
}

/** The chat-relay module that made a call (`delivery/records`), from the async stack. */
function caller(): string {
  const stack = new Error().stack ?? '';
  const found = /lambdas\/((?!shared\/)[\w-]+\/[\w-]+)\.[jt]s/.exec(stack);
  if (found) return found[1]!;
  if (/bin\/local\/sqs-poller/.test(stack)) return 'event source';
  return /lambdas\/shared\/([\w-]+)/.exec(stack)?.[1] ?? 'other';
}

function capacity(output: unknown): number {
  const c = (output as { ConsumedCapacity?: unknown } | undefined)?.ConsumedCapacity;
  const list = Array.isArray(c) ? c : c ? [c] : [];
  return list.reduce((sum: number, x: { CapacityUnits?: number }) => sum + (x.CapacityUnits ?? 0), 0);
}

/**
 * Wraps the SDK clients' `send` (one base class shared by every v3 client in this process).
 * @throws Error when the clients do not share that base class (an SDK layout change)
 */
export function installCounter(labels: CounterLabels): CallCounter {
  const base = Object.getPrototypeOf(SQSClient.prototype) as { send: Send };
  for (const other of [DynamoDBClient, SecretsManagerClient, S3Client]) {
    if (Object.getPrototypeOf(other.prototype) !== base) {
      throw new Error(`${other.name} does not share the SDK client base class: cannot count its calls`);
    }
  }
  const original = base.send;
  // Async stacks name the module that made each call; the default 10 frames stop inside the SDK.
  const stackLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 60;
  let ops = new Map<string, OperationCount>();
  let invocations: Invocation[] = [];
  // Receipt handle → the receive it came from, to time the handler until its delete/release.
  const pending = new Map<string, { queue: string; at: number; records: number; done: boolean }>();

  const label = (kind: 'queues' | 'tables', value: unknown): string | undefined => {
    if (typeof value !== 'string') return undefined;
    const names = labels[kind];
    return names[value] ?? names[value.split('/').pop() ?? ''] ?? value.split('/').pop();
  };
  const entry = (key: string): OperationCount => {
    let found = ops.get(key);
    if (!found) {
      found = { calls: 0, records: 0, chunks: 0, wcu: 0, rcu: 0, conditionalFailures: 0, errors: 0 };
      ops.set(key, found);
    }
    return found;
  };

  const counter: CallCounter = {
    snapshot: () => ({
      ops: new Map([...ops].map(([k, v]) => [k, { ...v }])),
      invocations: [...invocations],
    }),
    reset: () => {
      ops = new Map();
      invocations = [];
    },
    uninstall: () => {
      base.send = original;
      Error.stackTraceLimit = stackLimit;
    },
  };

  const finish = (handles: readonly unknown[]): void => {
    for (const h of handles) {
      const receive = typeof h === 'string' ? pending.get(h) : undefined;
      if (!receive) continue;
      pending.delete(h as string);
      if (receive.done) continue;
      receive.done = true;
      invocations.push({ queue: receive.queue, records: receive.records, ms: Date.now() - receive.at });
    }
  };

  base.send = async function counted(this: unknown, command: unknown, ...rest: unknown[]) {
    const service = ((this as object).constructor?.name ?? 'Unknown').replace(/(Document)?Client$/, '');
    const raw = ((command as object).constructor?.name ?? 'Unknown').replace(/Command$/, '');
    const operation = service === 'DynamoDB' ? (DOC_OPS[raw] ?? raw) : raw;
    const input = ((command as { input?: Record<string, unknown> }).input ?? {}) as Record<string, unknown>;
    let target: string | undefined;
    if (service === 'SQS') target = label('queues', input.QueueUrl);
    else if (service === 'DynamoDB') {
      const table = input.TableName ?? Object.keys((input.RequestItems as object | undefined) ?? {})[0];
      target = label('tables', table);
      if (input.ReturnConsumedCapacity === undefined) input.ReturnConsumedCapacity = 'TOTAL';
      const kind = itemKinds(input);
      if (kind) target = `${target} ${kind}`;
    } else if (service === 'S3') target = typeof input.Bucket === 'string' ? 'bucket' : undefined;
    const esm = service === 'SQS' && target !== undefined && labels.esmQueues.includes(target);
    const isEsmCall =
      esm && ['ReceiveMessage', 'DeleteMessageBatch', 'ChangeMessageVisibilityBatch'].includes(operation);
    const prefix = isEsmCall ? 'ESM ' : '';
    const by = isEsmCall || operation === 'ReceiveMessage' ? '' : ` (${caller()})`;

    let output: unknown;
    try {
      output = await original.call(this, command, ...rest);
    } catch (err) {
      const name = err instanceof Error ? err.name : 'Error';
      const e = entry(`${prefix}${service} ${operation}${target ? ` [${target}]` : ''}${by}`);
      e.calls += 1;
      if (name === 'ConditionalCheckFailedException' || name === 'TransactionCanceledException') {
        e.conditionalFailures += 1;
        // DynamoDB bills a failed conditional write; without the item size, at least one unit.
        e.wcu += 1;
      } else e.errors += 1;
      throw err;
    }

    let key = `${prefix}${service} ${operation}${target ? ` [${target}]` : ''}${by}`;
    if (service === 'SQS' && operation === 'ReceiveMessage') {
      const messages = (output as { Messages?: { ReceiptHandle?: string }[] }).Messages ?? [];
      if (messages.length === 0) key = `idle ${key}`;
      else if (target && (isEsmCall || target === 'mediaJobs')) {
        const receive = { queue: target, at: Date.now(), records: messages.length, done: false };
        for (const m of messages) if (m.ReceiptHandle) pending.set(m.ReceiptHandle, receive);
        if (isEsmCall) counter.onInvoke?.(target);
      }
      const e = entry(key);
      e.calls += 1;
      e.records += messages.length;
      e.chunks += 1;
      return output;
    }
    const e = entry(key);
    e.calls += 1;
    if (service === 'SQS') {
      const entries =
        (input.Entries as { MessageBody?: unknown; ReceiptHandle?: unknown }[] | undefined) ?? [];
      if (operation === 'SendMessage') {
        e.records += 1;
        e.chunks += Math.max(1, Math.ceil(sizeOf(input.MessageBody) / SQS_CHUNK));
      } else if (operation === 'SendMessageBatch') {
        e.records += entries.length;
        const bytes = entries.reduce((n, x) => n + sizeOf(x.MessageBody), 0);
        e.chunks += Math.max(1, Math.ceil(bytes / SQS_CHUNK));
      } else {
        e.records += entries.length || 1;
        e.chunks += 1;
      }
      if (isEsmCall) finish(entries.map((x) => x.ReceiptHandle));
      // A record the handler holds as its debounce tick is not deleted: its invocation ends
      // with the hold (the few statements after it are not timed).
      if (operation === 'ChangeMessageVisibility' && !isEsmCall) finish([input.ReceiptHandle]);
      // The media worker (Fargate) deletes each job on its own: its receive → delete is the job's time.
      if (operation === 'DeleteMessage' && target === 'mediaJobs') finish([input.ReceiptHandle]);
    } else if (service === 'DynamoDB') {
      const units = capacity(output);
      if (WRITES.has(operation)) e.wcu += units;
      else e.rcu += units;
    }
    return output;
  };
  return counter;
}
