/**
 * Where `npm run ops` finds the queues and the memory table, like the tenant CLI finds its
 * secrets and webhook URL:
 *
 * - the local stack (`--local`, or `AWS_ENDPOINT_URL`, `…_SQS`, `…_DYNAMODB` or
 *   `CHAT_RELAY_DATA_DIR` set): its
 *   `stack.json` in the data directory names every queue, DLQ and table and the emulators'
 *   endpoints (DynamoDB and SQS listen on different ports, so one `AWS_ENDPOINT_URL` cannot
 *   reach both; a service-specific `AWS_ENDPOINT_URL_SQS`/`_DYNAMODB` still wins);
 * - a deployed stack: the CloudFormation stack's resources (`--stack`, default `ChatRelay`),
 *   each queue recognised by its construct's logical id, the table by the `MemoryTableName`
 *   output. `CHAT_RELAY_MEMORY_TABLE` and `CHAT_RELAY_{INBOUND|OUTBOUND|TIMER|MEDIA}_QUEUE_URL`
 *   / `…_DLQ_URL` override what the stack says (a construct inside a stack of your own).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  CloudFormationClient,
  ListStackResourcesCommand,
  type StackResourceSummary,
} from '@aws-sdk/client-cloudformation';
import { awsFailureMessage, DEFAULT_STACK, stackOutput } from '../cli-common.js';
import { DLQ_KINDS, type DlqKind } from './redrive.js';

/** A usage or configuration mistake: exit code 2. */
export class OpsUsageError extends Error {
  override readonly name = 'OpsUsageError';
}

/** An AWS call failed or a resource is missing: exit code 1. */
export class OpsAwsError extends Error {
  override readonly name = 'OpsAwsError';
}

/** A queue and its dead-letter queue. */
export interface QueuePair {
  readonly queueUrl: string;
  readonly dlqUrl: string;
}

/** What the ops commands act on. */
export interface OpsResources {
  /** `local stack.json (path)` or `stack NAME`: printed by commands that change something. */
  readonly source: string;
  readonly memoryTable?: string;
  readonly queues: Partial<Record<DlqKind, QueuePair>>;
  /** Endpoints and region for the SDK clients (local stack only). */
  readonly endpoints?: { readonly sqs?: string; readonly dynamodb?: string };
  readonly region?: string;
}

/** The stack's default name (bin/app.ts), as the tenant CLI uses it. */
export { DEFAULT_STACK };

const ENV_KIND: Record<DlqKind, string> = {
  inbound: 'INBOUND',
  outbound: 'OUTBOUND',
  timer: 'TIMER',
  media: 'MEDIA',
};

/** stack.json's queue keys. */
const LOCAL_KIND: Record<DlqKind, string> = {
  inbound: 'inbound',
  outbound: 'outbound',
  timer: 'timer',
  media: 'mediaJobs',
};

/** Logical ids of the queues in a deployed stack (lib/queues.ts, lib/media.ts; CDK adds an 8-hex hash). */
const LOGICAL_IDS: Record<DlqKind, { queue: RegExp; dlq: RegExp }> = {
  inbound: { queue: /QueuesInboundQueue[0-9A-F]{8}$/, dlq: /QueuesInboundDeadLetterQueue[0-9A-F]{8}$/ },
  outbound: { queue: /QueuesOutboundQueue[0-9A-F]{8}$/, dlq: /QueuesOutboundDeadLetterQueue[0-9A-F]{8}$/ },
  timer: { queue: /QueuesTimerQueue[0-9A-F]{8}$/, dlq: /QueuesTimerDeadLetterQueue[0-9A-F]{8}$/ },
  media: { queue: /MediaJobsQueue[0-9A-F]{8}$/, dlq: /MediaJobsDlq[0-9A-F]{8}$/ },
};

/** Options of {@link resolveResources}. */
export interface ResolveOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly local: boolean;
  readonly stack?: string;
  readonly cwd?: string;
}

/** True when the commands should read the local stack's `stack.json`. */
export function usesLocalStack(options: ResolveOptions): boolean {
  const env = options.env;
  return (
    options.local ||
    Boolean(env.CHAT_RELAY_DATA_DIR) ||
    ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_SQS', 'AWS_ENDPOINT_URL_DYNAMODB'].some((k) => Boolean(env[k]))
  );
}

interface StackJson {
  region?: string;
  endpoints?: { sqs?: string; dynamodb?: string };
  queues?: Record<string, { url?: string; dlqUrl?: string }>;
  tables?: { memory?: string };
}

function fromLocal(options: ResolveOptions): OpsResources {
  const dir = options.env.CHAT_RELAY_DATA_DIR || options.env.LOCAL_STATE_DIR || '.tmp/local';
  const path = resolve(options.cwd ?? process.cwd(), dir, 'stack.json');
  if (!existsSync(path)) {
    throw new OpsUsageError(
      `No local stack state at ${path}: start the local stack (npm start) or set CHAT_RELAY_DATA_DIR to its data directory.`,
    );
  }
  let state: StackJson;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as StackJson;
  } catch (err) {
    throw new OpsUsageError(`${path} is not valid JSON: ${(err as Error).message}.`);
  }
  const queues: Partial<Record<DlqKind, QueuePair>> = {};
  for (const kind of DLQ_KINDS) {
    const q = state.queues?.[LOCAL_KIND[kind]];
    if (q?.url && q.dlqUrl) queues[kind] = { queueUrl: q.url, dlqUrl: q.dlqUrl };
  }
  const env = options.env;
  const sqs = env.AWS_ENDPOINT_URL_SQS || state.endpoints?.sqs;
  const dynamodb = env.AWS_ENDPOINT_URL_DYNAMODB || state.endpoints?.dynamodb;
  return {
    source: `local stack (${path})`,
    ...(state.tables?.memory ? { memoryTable: state.tables.memory } : {}),
    queues: withEnvOverrides(queues, env),
    endpoints: { ...(sqs ? { sqs } : {}), ...(dynamodb ? { dynamodb } : {}) },
    ...(state.region ? { region: state.region } : {}),
  };
}

function withEnvOverrides(
  queues: Partial<Record<DlqKind, QueuePair>>,
  env: NodeJS.ProcessEnv,
): Partial<Record<DlqKind, QueuePair>> {
  const out = { ...queues };
  for (const kind of DLQ_KINDS) {
    const queueUrl = env[`CHAT_RELAY_${ENV_KIND[kind]}_QUEUE_URL`] || out[kind]?.queueUrl;
    const dlqUrl = env[`CHAT_RELAY_${ENV_KIND[kind]}_DLQ_URL`] || out[kind]?.dlqUrl;
    if (queueUrl && dlqUrl) out[kind] = { queueUrl, dlqUrl };
  }
  return out;
}

/** Picks the queues out of a stack's resources (AWS::SQS::Queue's physical id is its URL). */
export function queuesFromStackResources(
  resources: readonly StackResourceSummary[],
): Partial<Record<DlqKind, QueuePair>> {
  const queues: Partial<Record<DlqKind, QueuePair>> = {};
  const sqsQueues = resources.filter((r) => r.ResourceType === 'AWS::SQS::Queue');
  for (const kind of DLQ_KINDS) {
    const find = (re: RegExp) =>
      sqsQueues.find((r) => re.test(r.LogicalResourceId ?? ''))?.PhysicalResourceId;
    const queueUrl = find(LOGICAL_IDS[kind].queue);
    const dlqUrl = find(LOGICAL_IDS[kind].dlq);
    if (queueUrl && dlqUrl) queues[kind] = { queueUrl, dlqUrl };
  }
  return queues;
}

function describe(action: string, err: unknown): OpsAwsError {
  return new OpsAwsError(awsFailureMessage(action, err));
}

async function fromStack(options: ResolveOptions): Promise<OpsResources> {
  const env = options.env;
  const stack = options.stack ?? (env.CHAT_RELAY_STACK || DEFAULT_STACK);
  const explicitTable = env.CHAT_RELAY_MEMORY_TABLE;
  const explicitQueues = withEnvOverrides({}, env);
  if (explicitTable && DLQ_KINDS.every((k) => explicitQueues[k] !== undefined)) {
    return { source: 'environment', memoryTable: explicitTable, queues: explicitQueues };
  }
  const cfn = new CloudFormationClient({});
  try {
    const resources: StackResourceSummary[] = [];
    let next: string | undefined;
    do {
      const page = await cfn.send(
        new ListStackResourcesCommand({ StackName: stack, ...(next ? { NextToken: next } : {}) }),
      );
      resources.push(...(page.StackResourceSummaries ?? []));
      next = page.NextToken;
    } while (next);
    let memoryTable = explicitTable;
    if (!memoryTable) {
      memoryTable = await stackOutput(cfn, stack, 'MemoryTableName');
    }
    return {
      source: `stack ${stack}`,
      ...(memoryTable ? { memoryTable } : {}),
      queues: withEnvOverrides(queuesFromStackResources(resources), env),
    };
  } catch (err) {
    throw describe(`Reading the resources of stack ${stack}`, err);
  } finally {
    cfn.destroy();
  }
}

/** Resolves the queues and table the commands act on. @throws OpsUsageError, OpsAwsError */
export async function resolveResources(options: ResolveOptions): Promise<OpsResources> {
  return usesLocalStack(options) ? fromLocal(options) : fromStack(options);
}
