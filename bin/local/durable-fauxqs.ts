/**
 * fauxqs (SQS and S3) with its queues journalled to disk (bin/local/sqs-journal.ts), for the
 * local stack's data directory. fauxqs's `startFauxqs` keeps its stores to itself, so this
 * builds the same server from fauxqs's `buildApp` with stores it can reach, wraps the queues
 * once they exist, and makes every SQS response wait for the journal to be on disk.
 */
import type { FastifyInject } from './inproc-server.js';
import { type JournalQueue, openSqsJournal, type ReplayStats } from './sqs-journal.js';

interface SqsStoreLike {
  getQueueByName(name: string): (JournalQueue & object) | undefined;
}
interface S3StoreLike {
  createBucket(name: string): void;
}
interface FastifyLike {
  addHook(name: 'onSend', hook: (request: { headers: Record<string, unknown> }) => Promise<void>): void;
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
  inject: FastifyInject;
}
type Ctor<T> = new () => T;

/** A running fauxqs whose queues survive a restart. */
export interface DurableFauxqs {
  readonly port: number;
  readonly createBucket: (name: string) => void;
  /** Runs a request through the server without a socket (bin/local/inproc-server.ts). */
  readonly inject: FastifyInject;
  /** Replays the journal into the named queues (created beforehand) and starts journalling them. */
  readonly attachQueues: (names: readonly string[]) => ReplayStats;
  readonly stop: () => Promise<void>;
}

/** Loads a module of fauxqs's build that its package `exports` do not list. */
async function fauxqsModule<T>(relative: string): Promise<T> {
  return (await import(new URL(relative, import.meta.resolve('fauxqs')).href)) as T;
}

/** Starts fauxqs on 127.0.0.1:`port` with its queues journalled at `journalPath`. */
export async function startDurableFauxqs(options: {
  readonly journalPath: string;
  readonly port?: number;
}): Promise<DurableFauxqs> {
  const [{ buildApp }, { SqsStore }, { SnsStore }, { S3Store }] = await Promise.all([
    import('fauxqs') as unknown as Promise<{ buildApp: (o: unknown) => FastifyLike }>,
    fauxqsModule<{ SqsStore: Ctor<SqsStoreLike> }>('./sqs/sqsStore.js'),
    fauxqsModule<{ SnsStore: Ctor<unknown> }>('./sns/snsStore.js'),
    fauxqsModule<{ S3Store: Ctor<S3StoreLike> }>('./s3/s3Store.js'),
  ]);
  const sqsStore = new SqsStore();
  const s3Store = new S3Store();
  const journal = openSqsJournal(options.journalPath);
  const app = buildApp({ logger: false, stores: { sqsStore, snsStore: new SnsStore(), s3Store } });
  // The SQS JSON protocol names the action in X-Amz-Target: its response leaves only once
  // what the action journalled (a send, a delete, a redrive) is on disk.
  app.addHook('onSend', async (request) => {
    const target = request.headers['x-amz-target'];
    if (typeof target === 'string' && target.startsWith('AmazonSQS.')) await journal.flush();
  });
  const address = await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  let attached = false;
  return {
    port: Number(new URL(address).port),
    createBucket: (name) => s3Store.createBucket(name),
    inject: (request) => app.inject(request),
    attachQueues: (names) => {
      if (attached) throw new Error('the SQS journal is already attached');
      attached = true;
      const queues = names.map((name) => {
        const queue = sqsStore.getQueueByName(name);
        if (!queue) throw new Error(`fauxqs has no queue named ${name}`);
        return queue;
      });
      return journal.attach(queues);
    },
    stop: async () => {
      await app.close();
      journal.close();
    },
  };
}
