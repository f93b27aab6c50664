/**
 * fauxqs (SQS and S3) with its queues journalled to disk (bin/local/sqs-journal.ts), for the
 * local stack's data directory. fauxqs's `startFauxqs` keeps its stores to itself, so this
 * builds the same server from fauxqs's `buildApp` with stores it can reach, wraps the queues
 * once they exist, and makes every SQS response wait for the journal to be on disk.
 */
import { randomUUID } from 'node:crypto';
import { type FastifyInject, type InprocDispatch, injectDispatch } from './inproc-server.js';
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
/** One of fauxqs's SQS actions (`dist/sqs/actions/*.js`): the parsed JSON body and the store. */
type SqsAction = (body: unknown, store: unknown) => unknown;
interface SqsErrorLike extends Error {
  readonly statusCode: number;
  readonly queryErrorHeader: string;
  toJSON(): unknown;
}

/**
 * The SQS actions every message takes (what the webhook, the handlers and the event source
 * stand-ins call). fauxqs's router calls them as `action(body, store, request)`; these read only
 * the first two.
 */
const DIRECT_ACTIONS = [
  'SendMessage',
  'SendMessageBatch',
  'ReceiveMessage',
  'DeleteMessage',
  'DeleteMessageBatch',
  'ChangeMessageVisibility',
  'ChangeMessageVisibilityBatch',
] as const;

/** A running fauxqs whose queues survive a restart. */
export interface DurableFauxqs {
  readonly port: number;
  readonly createBucket: (name: string) => void;
  /** Runs a request through the server without a socket (bin/local/inproc-server.ts). */
  readonly inject: FastifyInject;
  /**
   * Like `inject`, but the SQS actions on the pipeline's path (send, receive, delete, change
   * visibility) go straight to fauxqs's action functions, as its router would call them, without
   * fastify's request lifecycle; everything else goes through `inject`.
   */
  readonly dispatch: InprocDispatch;
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
  const [{ buildApp }, { SqsStore }, { SnsStore }, { S3Store }, { SqsError }, actions] = await Promise.all([
    import('fauxqs') as unknown as Promise<{ buildApp: (o: unknown) => FastifyLike }>,
    fauxqsModule<{ SqsStore: Ctor<SqsStoreLike> }>('./sqs/sqsStore.js'),
    fauxqsModule<{ SnsStore: Ctor<unknown> }>('./sns/snsStore.js'),
    fauxqsModule<{ S3Store: Ctor<S3StoreLike> }>('./s3/s3Store.js'),
    fauxqsModule<{ SqsError: new (...args: never[]) => SqsErrorLike }>('./common/errors.js'),
    loadActions(),
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
  const viaInject = injectDispatch((request) => app.inject(request));
  return {
    port: Number(new URL(address).port),
    createBucket: (name) => s3Store.createBucket(name),
    inject: (request) => app.inject(request),
    dispatch: async (request) => {
      const fallback = (): ReturnType<InprocDispatch> => viaInject(request);
      const target = request.headers['x-amz-target'];
      const action = target?.startsWith('AmazonSQS.')
        ? actions.get(target.slice('AmazonSQS.'.length))
        : undefined;
      if (
        action === undefined ||
        request.method !== 'POST' ||
        request.url !== '/' ||
        !(request.headers['content-type'] ?? '').includes('application/x-amz-json-1.0') ||
        request.body === undefined
      ) {
        return fallback();
      }
      let body: unknown;
      try {
        body = JSON.parse(
          typeof request.body === 'string' ? request.body : Buffer.from(request.body).toString(),
        );
      } catch {
        // fastify's body parser answers that one (its own 400).
        return fallback();
      }
      if (body === null || typeof body !== 'object') return fallback();
      // What fauxqs's router and its onSend hooks would answer, as they would answer it.
      const headers: Record<string, string> = {
        // fastify adds the charset to the type the router sets.
        'content-type': 'application/x-amz-json-1.0; charset=utf-8',
        'x-amz-request-id': randomUUID().replaceAll('-', '').toUpperCase().slice(0, 16),
        'x-amz-id-2': 'fauxqs',
      };
      let status = 200;
      let payload: unknown;
      try {
        payload = await action(body, sqsStore);
      } catch (err) {
        if (err instanceof SqsError) {
          status = err.statusCode;
          headers['x-amzn-query-error'] = err.queryErrorHeader;
          payload = err.toJSON();
        } else {
          // fastify's default error handler.
          status = 500;
          headers['content-type'] = 'application/json; charset=utf-8';
          const message = err instanceof Error ? err.message : String(err);
          payload = { statusCode: 500, error: 'Internal Server Error', message };
        }
      }
      // The journal's promise, as the onSend hook above keeps it for every SQS response.
      await journal.flush();
      const text = JSON.stringify(payload);
      headers['content-length'] = String(Buffer.byteLength(text));
      return { status, headers, body: text };
    },
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

/** fauxqs's action functions for {@link DIRECT_ACTIONS}, by action name. */
async function loadActions(): Promise<Map<string, SqsAction>> {
  const entries = await Promise.all(
    DIRECT_ACTIONS.map(async (name) => {
      const fn = name[0]!.toLowerCase() + name.slice(1);
      const mod = await fauxqsModule<Record<string, unknown>>(`./sqs/actions/${fn}.js`);
      const action = mod[fn];
      if (typeof action !== 'function')
        throw new Error(`fauxqs has no SQS action ${fn}: its version changed`);
      return [name, action as SqsAction] as const;
    }),
  );
  return new Map(entries);
}
