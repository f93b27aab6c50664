/**
 * The embedded AWS stack: dynalite (DynamoDB), fauxqs (SQS and S3) and the Secrets Manager
 * emulator, in this process, on loopback ports. Queues and tables are created from the same
 * definitions the CDK constructs use (lib/definitions.ts). Used by the local stack and by the
 * integration and end-to-end tests.
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { DEFAULT_SECRET_PREFIX } from '../../lambdas/contracts/defaults.js';
import { ENV } from '../../lambdas/shared/env.js';
import {
  QUEUE_DEFINITIONS,
  type QueueKey,
  queueName,
  TABLE_DEFINITIONS,
  type TableKey,
} from '../../lib/definitions.js';
import { startDurableFauxqs } from './durable-fauxqs.js';
import {
  dynaliteStoreEnabled,
  loadDynalite,
  loadStockDynalite,
  prepareDynaliteStore,
} from './dynalite-store.js';
import { patchFauxqsFifoReceive } from './fauxqs-fifo.js';
import {
  type FastifyInject,
  type InprocDispatch,
  type InprocRoute,
  injectDispatch,
  nodeListenerDispatch,
} from './inproc-server.js';
import { type SecretsManagerEmulator, startSecretsManager } from './secrets-manager.js';
import type { ReplayStats } from './sqs-journal.js';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

export interface EmulatorOptions {
  /** Prefix of every queue and table name. @default 'chat-relay' */
  readonly prefix?: string;
  /** Secrets prefix (tenant secrets live at `{secretPrefix}/tenants/{id}`). @default 'chat-relay' */
  readonly secretPrefix?: string;
  /** Overrides of queue visibility timeouts (seconds), e.g. shorter ones for tests. */
  readonly visibilityTimeoutSeconds?: Partial<Record<QueueKey, number>>;
  /** Overrides of maxReceiveCount per queue. */
  readonly maxReceiveCount?: Partial<Record<QueueKey, number>>;
  /** Media bucket name. @default `${prefix}-media` */
  readonly mediaBucket?: string;
  /**
   * Directory that keeps the tables (dynalite's journal, `dynamodb/tables.jsonl`), the queues (an
   * append-only journal, `sqs-journal.jsonl`) and the secrets (`secrets.json`) across restarts.
   * Without it everything lives in memory. S3 objects (media) are never kept.
   */
  readonly dataDir?: string;
}

export interface QueueUrls {
  readonly url: string;
  readonly dlqUrl: string;
  readonly arn: string;
}

/** A running embedded stack. */
export interface Emulators {
  readonly region: string;
  readonly dynamoEndpoint: string;
  readonly sqsEndpoint: string;
  /** fauxqs also serves S3 on the same endpoint. */
  readonly s3Endpoint: string;
  readonly secrets: SecretsManagerEmulator;
  readonly queues: Readonly<Record<QueueKey, QueueUrls>>;
  readonly tables: Readonly<Record<TableKey, string>>;
  readonly mediaBucket: string;
  readonly secretPrefix: string;
  /** Environment variables that point the real handlers and SDK clients at the emulators. */
  readonly env: Readonly<Record<string, string>>;
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBClient;
  /** With `dataDir`: the queue messages restored from the journal. */
  readonly replayed?: ReplayStats;
  /**
   * The emulators a request can reach without a socket (bin/local/inproc-server.ts), by their
   * loopback port: dynalite always, fauxqs when journalled (`dataDir`: its fastify app is ours).
   */
  readonly inproc: {
    readonly dispatch: ReadonlyMap<number, InprocDispatch>;
    readonly routes: Readonly<Record<number, InprocRoute>>;
  };
  /** Stops every server. */
  readonly stop: () => Promise<void>;
}

/** The fauxqs handle both the in-memory and the journalled server provide. */
interface SqsServer {
  readonly port: number;
  readonly createBucket: (name: string) => unknown;
  readonly inject?: FastifyInject;
  /** A faster dispatch than `inject` for the SQS actions on the hot path (the journalled server's). */
  readonly dispatch?: InprocDispatch;
  readonly stop: () => Promise<void>;
}

/** Starts dynalite, fauxqs and the Secrets Manager emulator and creates every queue and table. */
export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  // SQS returns several messages of one FIFO group per receive; fauxqs must too (see the module).
  await patchFauxqsFifoReceive();
  const prefix = options.prefix ?? 'chat-relay';
  const secretPrefix = options.secretPrefix ?? DEFAULT_SECRET_PREFIX;
  const mediaBucket = options.mediaBucket ?? `${prefix}-media`;

  const dataDir = options.dataDir;
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // dynalite on our in-memory store with a journal (bin/local/dynalite-store.ts), not LevelDB;
  // a data directory an earlier version left with a LevelDB store is imported first, once.
  const fastStore = dynaliteStoreEnabled();
  if (fastStore && dataDir !== undefined) await prepareDynaliteStore(join(dataDir, 'dynamodb'));
  const dynamoServer = (fastStore ? loadDynalite() : loadStockDynalite())({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(dataDir !== undefined ? { path: join(dataDir, 'dynamodb') } : {}),
  });
  await new Promise<void>((resolve) => dynamoServer.listen(0, '127.0.0.1', resolve));
  const dynamoEndpoint = `http://127.0.0.1:${(dynamoServer.address() as AddressInfo).port}`;

  // fauxqs names queues `http://sqs.{region}.localhost:{port}/…`, and `*.localhost` does not
  // resolve on every machine: SQS clients here send to the endpoint, not the queue URL's host
  // (lambdas/shared/clients.ts does the same whenever AWS_ENDPOINT_URL_SQS is set).
  const durable =
    dataDir !== undefined
      ? await startDurableFauxqs({ journalPath: join(dataDir, 'sqs-journal.jsonl') })
      : undefined;
  const fauxqs: SqsServer = durable ?? (await startFauxqs({ port: 0, logger: false }));
  const sqsEndpoint = `http://127.0.0.1:${fauxqs.port}`;
  const secrets = await startSecretsManager(
    dataDir !== undefined ? { persistPath: join(dataDir, 'secrets.json') } : {},
  );

  const clientConfig = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const sqs = new SQSClient({ ...clientConfig, endpoint: sqsEndpoint, useQueueUrlAsEndpoint: false });
  const dynamo = new DynamoDBClient({ ...clientConfig, endpoint: dynamoEndpoint });

  const queues = {} as Record<QueueKey, QueueUrls>;
  const queueNames: string[] = [];
  for (const [key, def] of Object.entries(QUEUE_DEFINITIONS) as [
    QueueKey,
    (typeof QUEUE_DEFINITIONS)[QueueKey],
  ][]) {
    const fifoAttributes = (highThroughput: boolean): Record<string, string> =>
      def.fifo
        ? {
            FifoQueue: 'true',
            ...(highThroughput
              ? { DeduplicationScope: 'messageGroup', FifoThroughputLimit: 'perMessageGroupId' }
              : {}),
          }
        : {};
    queueNames.push(queueName(prefix, def.dlq.name, def.fifo), queueName(prefix, def.name, def.fifo));
    const dlq = await sqs.send(
      new CreateQueueCommand({
        QueueName: queueName(prefix, def.dlq.name, def.fifo),
        Attributes: {
          ...fifoAttributes(false),
          MessageRetentionPeriod: String(def.dlq.retentionDays * 86_400),
        },
      }),
    );
    const dlqUrl = dlq.QueueUrl!;
    const dlqAttrs = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
    );
    const created = await sqs.send(
      new CreateQueueCommand({
        QueueName: queueName(prefix, def.name, def.fifo),
        Attributes: {
          ...fifoAttributes(def.highThroughput),
          VisibilityTimeout: String(options.visibilityTimeoutSeconds?.[key] ?? def.visibilityTimeoutSeconds),
          MessageRetentionPeriod: String(def.retentionDays * 86_400),
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: dlqAttrs.Attributes?.QueueArn,
            maxReceiveCount: options.maxReceiveCount?.[key] ?? def.dlq.maxReceiveCount,
          }),
        },
      }),
    );
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: created.QueueUrl!, AttributeNames: ['QueueArn'] }),
    );
    queues[key] = { url: created.QueueUrl!, dlqUrl, arn: attrs.Attributes?.QueueArn ?? '' };
  }

  const tables = {} as Record<TableKey, string>;
  for (const [key, def] of Object.entries(TABLE_DEFINITIONS) as [
    TableKey,
    (typeof TABLE_DEFINITIONS)[TableKey],
  ][]) {
    const name = `${prefix}-${def.name}`;
    const sortKey = 'sortKey' in def ? def.sortKey : undefined;
    await dynamo
      .send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: def.partitionKey, AttributeType: 'S' },
            ...(sortKey ? [{ AttributeName: sortKey, AttributeType: 'S' as const }] : []),
          ],
          KeySchema: [
            { AttributeName: def.partitionKey, KeyType: 'HASH' },
            ...(sortKey ? [{ AttributeName: sortKey, KeyType: 'RANGE' as const }] : []),
          ],
        }),
      )
      .catch((err: unknown) => {
        // Kept from an earlier run in the data directory.
        if (!(dataDir !== undefined && err instanceof ResourceInUseException)) throw err;
      });
    // dynalite answers CreateTable while the table is still CREATING (it turns ACTIVE on a later
    // tick, after its LevelDB write); a write before then fails with ResourceNotFoundException.
    await waitUntilTableExists(
      { client: dynamo, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.2 },
      { TableName: name },
    );
    tables[key] = name;
  }

  fauxqs.createBucket(mediaBucket);
  const replayed = durable?.attachQueues(queueNames);

  const dynamoPort = (dynamoServer.address() as AddressInfo).port;
  const dynamoListener = dynamoServer.listeners('request')[0] as Parameters<typeof nodeListenerDispatch>[0];
  const dispatch = new Map<number, InprocDispatch>([[dynamoPort, nodeListenerDispatch(dynamoListener)]]);
  const routes: Record<number, InprocRoute> = { [dynamoPort]: { service: 'dynamodb' } };
  if (fauxqs.inject) {
    dispatch.set(fauxqs.port, fauxqs.dispatch ?? injectDispatch(fauxqs.inject));
    routes[fauxqs.port] = { service: 'sqs' };
  }

  const env: Record<string, string> = {
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_SQS: sqsEndpoint,
    AWS_ENDPOINT_URL_S3: sqsEndpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    [ENV.inboundQueueUrl]: queues.inbound.url,
    [ENV.inboundDlqUrl]: queues.inbound.dlqUrl,
    [ENV.outboundQueueUrl]: queues.outbound.url,
    [ENV.timerQueueUrl]: queues.timer.url,
    [ENV.mediaJobsQueueUrl]: queues.mediaJobs.url,
    [ENV.memoryTable]: tables.memory,
    [ENV.mediaBucket]: mediaBucket,
    [ENV.tenantSecretPrefix]: secretPrefix,
  };

  return {
    region: LOCAL_REGION,
    dynamoEndpoint,
    sqsEndpoint,
    s3Endpoint: sqsEndpoint,
    secrets,
    queues,
    tables,
    mediaBucket,
    secretPrefix,
    env,
    sqs,
    dynamo,
    ...(replayed ? { replayed } : {}),
    inproc: { dispatch, routes },
    stop: async () => {
      sqs.destroy();
      dynamo.destroy();
      await Promise.allSettled([
        fauxqs.stop(),
        secrets.stop(),
        new Promise<void>((resolve) => dynamoServer.close(() => resolve())),
      ]);
    },
  };
}
