/**
 * Prices what ./scenarios.ts counted (./prices.ts) and formats the tables of `npm run cost`.
 */
import { readFileSync } from 'node:fs';
import { DEFAULTS } from '../../lambdas/contracts/defaults.js';
import { PRICES, SECONDS_PER_MONTH } from './prices.js';
import type { ScenarioResult } from './scenarios.js';

/** Memory of every chat-relay Lambda, GB (lib/function-defaults.ts: 256 MB each). */
export const LAMBDA_GB = 256 / 1024;

/**
 * Example values of the API Gateway variables the access log may use, as a Messenger webhook
 * fills them (a 36-character tenant id is the longest usual one).
 */
const ACCESS_LOG_EXAMPLE: Readonly<Record<string, string>> = {
  '$context.requestId': 'Jx1abcDEFghiJKL=',
  '$context.requestTime': '02/Dec/2026:09:24:36 +0000',
  '$context.requestTimeEpoch': '1764667476',
  '$context.httpMethod': 'POST',
  '$context.routeKey': 'POST /webhooks/{channel}/{tenantId}',
  '$context.path': '/webhooks/messenger/acme-shop',
  '$context.status': '200',
  '$context.responseLatency': '48',
  '$context.responseLength': '61',
  '$context.integrationStatus': '200',
  '$context.integrationLatency': '45',
  '$context.integrationErrorMessage': '-',
  '$context.error.message': '-',
  '$context.identity.sourceIp': '173.252.127.117',
  '$context.protocol': 'HTTP/1.1',
};

/**
 * Bytes of one API Gateway access log line in `format` (lib/ingest.ts), with example values:
 * the local stack has no API Gateway, so this line is modelled, not measured.
 */
export function accessLogBytes(format: string): number {
  const line = format.replace(/\$context\.[A-Za-z.]+/g, (v) => ACCESS_LOG_EXAMPLE[v] ?? 'xxxxxxxx');
  return Buffer.byteLength(line) + 1;
}

/** The media worker's task size (lib/media.ts defaults: cpu 1024, memoryLimitMiB 2048). */
export const MEDIA_TASK = { vcpu: 1, gb: 2 } as const;

/** One priced line: what, how many per message, dollars per 1M messages. */
export interface CostLine {
  readonly item: string;
  readonly perMessage: number;
  readonly per1M: number;
}

/** A priced scenario. */
export interface PricedScenario {
  readonly result: ScenarioResult;
  readonly lines: readonly CostLine[];
  readonly per1M: number;
  readonly wcuPerMessage: number;
  readonly rcuPerMessage: number;
  /** `Service Operation [target]` → calls per message (idle polling excluded). */
  readonly callsPerMessage: ReadonlyMap<string, number>;
  readonly lambdaMsPerMessage: number;
  /** Webhook plus event-source invocations measured. */
  readonly lambdaInvocations: number;
  /** CloudWatch Logs bytes per message: application lines, EMF and the access log. */
  readonly logBytesPerMessage: number;
}

/** Prices one scenario's counts per customer message (`accessLogLineBytes`: see {@link accessLogBytes}). */
export function priceScenario(
  result: ScenarioResult,
  fifoQueues: ReadonlySet<string>,
  accessLogLineBytes: number,
): PricedScenario {
  const n = result.messages;
  const lines: CostLine[] = [];
  const add = (item: string, count: number, unitPrice: number): void => {
    const perMessage = count / n;
    if (perMessage > 0) lines.push({ item, perMessage, per1M: perMessage * unitPrice * 1e6 });
  };
  const callsPerMessage = new Map<string, number>();
  let sqsFifo = 0;
  let sqsStd = 0;
  let esmFifo = 0;
  let esmStd = 0;
  let wcu = 0;
  let rcu = 0;
  let dynamoWrites = 0;
  let dynamoReads = 0;
  let secrets = 0;
  let s3Put = 0;
  let s3Get = 0;
  let workerSqs = 0;
  for (const [key, v] of result.counts.ops) {
    if (key.startsWith('idle ')) continue;
    callsPerMessage.set(key, v.calls / n);
    const queue = /\[(\w+)\]/.exec(key)?.[1];
    const fifo = queue !== undefined && fifoQueues.has(queue);
    if (key.startsWith('ESM ')) {
      // Priced as at low traffic: every record its own receive, and every record handled its
      // own delete (batching at load divides both by up to 10; docs/cost.md). A record held
      // as its turn's debounce tick is received twice and deleted once.
      const requests = key.includes('ReceiveMessage') || key.includes('DeleteMessageBatch') ? v.records : 0;
      if (fifo) esmFifo += requests;
      else esmStd += requests;
    } else if (key.startsWith('SQS ')) {
      if (queue === 'mediaJobs' && /Receive|Delete|ChangeMessageVisibility/.test(key)) workerSqs += v.chunks;
      else if (fifo) sqsFifo += v.chunks;
      else sqsStd += v.chunks;
    } else if (key.startsWith('DynamoDB ')) {
      wcu += v.wcu;
      rcu += v.rcu;
      if (v.wcu > 0 || /Put|Update|Delete|Write/.test(key)) dynamoWrites += v.calls;
      else dynamoReads += v.calls;
    } else if (key.startsWith('SecretsManager ')) secrets += v.calls;
    else if (key.startsWith('S3 ')) {
      if (/Put|Post|Copy|List/.test(key)) s3Put += v.calls;
      else s3Get += v.calls;
    }
  }
  const webhooks = result.webhookMs.length;
  const lambdaRuns = result.counts.invocations.filter((i) => i.queue !== 'mediaJobs');
  const mediaJobs = result.counts.invocations.filter((i) => i.queue === 'mediaJobs');
  const esmInvocations = lambdaRuns.length;
  const ms =
    result.webhookMs.reduce((a, b) => a + Math.ceil(b), 0) +
    lambdaRuns.reduce((a, b) => a + Math.ceil(b.ms), 0);
  const mediaHours = mediaJobs.reduce((a, b) => a + b.ms, 0) / 3_600_000;
  add('API Gateway HTTP requests', webhooks, PRICES.apiGateway.httpPerRequest);
  add('Lambda requests', webhooks + esmInvocations, PRICES.lambda.perRequest);
  add('Lambda GB-s (ms measured here)', (ms / 1000) * LAMBDA_GB, PRICES.lambda.armGbSecond);
  add('SQS FIFO sends (64 KB chunks)', sqsFifo, PRICES.sqs.fifoPerRequest);
  add('SQS standard sends', sqsStd, PRICES.sqs.standardPerRequest);
  add('SQS FIFO event-source receive+delete per record', esmFifo, PRICES.sqs.fifoPerRequest);
  add('SQS standard event-source receive+delete per record', esmStd, PRICES.sqs.standardPerRequest);
  add('SQS media worker receives+deletes', workerSqs, PRICES.sqs.standardPerRequest);
  add(`DynamoDB write units (${(dynamoWrites / n).toFixed(1)} writes)`, wcu, PRICES.dynamodb.perWru);
  add(`DynamoDB read units (${(dynamoReads / n).toFixed(1)} reads)`, rcu, PRICES.dynamodb.perRru);
  add('Secrets Manager GetSecretValue', secrets, PRICES.secretsManager.perCall);
  add(
    `Fargate media worker task-hours (${MEDIA_TASK.vcpu} vCPU, ${MEDIA_TASK.gb} GB; job time measured here)`,
    mediaHours,
    MEDIA_TASK.vcpu * PRICES.fargate.armVcpuHour + MEDIA_TASK.gb * PRICES.fargate.armGbHour,
  );
  add('S3 PUT', s3Put, PRICES.s3.perPut);
  add('S3 GET', s3Get, PRICES.s3.perGet);
  let emfBytes = 0;
  for (const [kind, source] of result.logSources) if (kind.startsWith('EMF ')) emfBytes += source.bytes;
  const perByte = PRICES.cloudWatch.logsPerGb / 1024 ** 3;
  add('CloudWatch Logs bytes, application lines (measured at INFO)', result.logBytes - emfBytes, perByte);
  add('CloudWatch Logs bytes, EMF metric documents (measured)', emfBytes, perByte);
  add('CloudWatch Logs bytes, API Gateway access log (modelled)', webhooks * accessLogLineBytes, perByte);
  return {
    result,
    lines,
    per1M: lines.reduce((a, l) => a + l.per1M, 0),
    wcuPerMessage: wcu / n,
    rcuPerMessage: rcu / n,
    callsPerMessage,
    lambdaMsPerMessage: ms / n,
    lambdaInvocations: webhooks + esmInvocations,
    logBytesPerMessage: (result.logBytes + webhooks * accessLogLineBytes) / n,
  };
}

/** Resource counts of a deployment, read from the synthesized template snapshot. */
export interface DeploymentShape {
  readonly alarms: number;
  readonly dashboards: number;
  readonly kmsKeys: number;
  readonly eventSourceMappings: number;
  /** Bedrock knowledge bases (S3 Vectors: no cluster, storage and queries billed by use). */
  readonly knowledgeBases: number;
  readonly source: string;
}

/** Counts alarms, dashboards, keys and event source mappings in a synthesized template. */
export function deploymentShape(templateText: string, source: string): DeploymentShape {
  const count = (type: string): number =>
    templateText.split(`"Type": "${type}"`).length - 1 || templateText.split(`Type: ${type}`).length - 1;
  return {
    alarms: count('AWS::CloudWatch::Alarm'),
    dashboards: count('AWS::CloudWatch::Dashboard'),
    kmsKeys: count('AWS::KMS::Key'),
    eventSourceMappings: count('AWS::Lambda::EventSourceMapping'),
    knowledgeBases: count('AWS::Bedrock::KnowledgeBase'),
    source,
  };
}

/** Reads {@link deploymentShape} from a file. */
export function readDeploymentShape(path: string): DeploymentShape {
  return deploymentShape(readFileSync(path, 'utf8'), path);
}

/**
 * Receives per month one idle SQS event source mapping makes: Lambda keeps 5 pollers long-polling
 * (20 s) on a standard queue; a FIFO queue's pollers behave the same when it is empty.
 */
export const IDLE_ESM_RECEIVES_PER_MONTH = 5 * (SECONDS_PER_MONTH / 20);

/**
 * The knowledge base's per-tenant storage model: one vector per catalogue row (a row is one
 * document of one chunk, bin/tenant/knowledge.ts), float32 at the default model's 1024
 * dimensions, plus the chunk text and Bedrock's metadata stored beside it (about 1.5 KB); the row
 * document and its sidecar in S3 Standard.
 */
export const KNOWLEDGE_EXAMPLE = {
  rows: 1000,
  dimensions: 1024,
  metadataBytes: 1536,
  documentBytes: 400,
} as const;

/** Monthly storage of `rows` catalogue rows in the knowledge base (S3 Vectors + S3 Standard). */
export function knowledgeAtRestMonthly(rows: number): number {
  const e = KNOWLEDGE_EXAMPLE;
  const vectorGb = (rows * (e.dimensions * 4 + e.metadataBytes)) / 1024 ** 3;
  const documentGb = (rows * e.documentBytes) / 1024 ** 3;
  return vectorGb * PRICES.s3Vectors.storagePerGbMonth + documentGb * PRICES.s3.standardPerGbMonth;
}

/** One line of the idle bill. */
export interface IdleLine {
  readonly item: string;
  readonly monthly: number;
}

/** Monthly cost of a deployment with no traffic, and per tenant. */
export function idleCost(
  shape: DeploymentShape,
  fifoMappings: number,
): {
  lines: IdleLine[];
  monthly: number;
  perTenant: IdleLine[];
} {
  const stdMappings = shape.eventSourceMappings - fifoMappings;
  const lines: IdleLine[] = [
    { item: `${shape.alarms} CloudWatch alarms`, monthly: shape.alarms * PRICES.cloudWatch.perAlarmMonth },
    {
      item: `${shape.dashboards} dashboard (beyond the 3 free per account)`,
      monthly: shape.dashboards * PRICES.cloudWatch.perDashboardMonth,
    },
    { item: `${shape.kmsKeys} KMS key(s)`, monthly: shape.kmsKeys * PRICES.kms.perKeyMonth },
    {
      item: `${shape.eventSourceMappings} event source mappings polling empty queues`,
      monthly:
        IDLE_ESM_RECEIVES_PER_MONTH *
        (fifoMappings * PRICES.sqs.fifoPerRequest + stdMappings * PRICES.sqs.standardPerRequest),
    },
    {
      item: 'media worker at zero tasks (scales from the queue depth alarm)',
      monthly: 0,
    },
    // The knowledge base itself has no charge; an empty vector index and bucket store nothing.
    ...(shape.knowledgeBases > 0
      ? [
          {
            item: `${shape.knowledgeBases} knowledge base on S3 Vectors, no documents (no cluster; storage and queries billed by use)`,
            monthly: 0,
          },
        ]
      : []),
  ];
  const perTenant: IdleLine[] = [
    { item: 'tenant secret', monthly: PRICES.secretsManager.perSecretMonth },
    {
      // While a tenant has traffic, each function's warm container re-reads the secret when its
      // cache expires (webhook, conversation, delivery, media worker: one container each).
      // Evidence re-reads (a refused signature or token) add at most one per minute per container,
      // only while such requests arrive (lambdas/shared/tenant-store.ts; docs/tenants.md).
      item: `secret re-reads while traffic flows (4 warm containers, ${DEFAULTS.tenantCacheSeconds} s cache)`,
      monthly: 4 * (SECONDS_PER_MONTH / DEFAULTS.tenantCacheSeconds) * PRICES.secretsManager.perCall,
    },
  ];
  return { lines, monthly: lines.reduce((a, l) => a + l.monthly, 0), perTenant };
}

const money = (n: number): string => `$${n.toFixed(2)}`;

/** The printed table of one scenario. */
export function formatScenario(p: PricedScenario): string {
  const s = p.result.scenario;
  const out = [
    `## ${s.name} (debounce ${s.debounceMs} ms, ${p.result.messages} messages, ${p.result.replies} replies)`,
    '',
    '| item | per message | $ per 1M messages |',
    '|---|---:|---:|',
    ...p.lines.map((l) => `| ${l.item} | ${l.perMessage.toFixed(2)} | ${money(l.per1M)} |`),
    `| **total** | | **${money(p.per1M)}** |`,
    '',
    '| AWS call [queue or table, item] (module) | calls per message | WCU | RCU |',
    '|---|---:|---:|---:|',
    ...[...p.callsPerMessage]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => {
        const c = p.result.counts.ops.get(k);
        const units = (x: number | undefined): string => (x ? (x / p.result.messages).toFixed(2) : '');
        return `| ${k} | ${v.toFixed(2)} | ${units(c?.wcu)} | ${units(c?.rcu)} |`;
      }),
    '',
    '| CloudWatch Logs line (level and message, or EMF and its metrics) | lines per message | bytes per message |',
    '|---|---:|---:|',
    ...[...p.result.logSources]
      .sort(([, a], [, b]) => b.bytes - a.bytes)
      .map(
        ([k, v]) =>
          `| ${k} | ${(v.lines / p.result.messages).toFixed(2)} | ${Math.round(v.bytes / p.result.messages)} |`,
      ),
    `| API Gateway access log (modelled) | ${(p.result.webhookMs.length / p.result.messages).toFixed(2)} | ${Math.round(
      p.logBytesPerMessage - p.result.logBytes / p.result.messages,
    )} |`,
    `| **total** | | **${Math.round(p.logBytesPerMessage)}** |`,
    '',
    `DynamoDB ${p.wcuPerMessage.toFixed(1)} WCU, ${p.rcuPerMessage.toFixed(1)} RCU per message; Lambda ${Math.round(
      p.lambdaMsPerMessage,
    )} ms per message (${p.lambdaInvocations} invocations for ${p.result.messages} messages; webhooks timed POST → answer).`,
  ];
  return out.join('\n');
}

/** The last line of `npm run cost`, in its fixed format. */
export function summaryLine(isolated: PricedScenario, idleMonthly: number): string {
  return `cost: ${money(isolated.per1M)} per 1M messages (isolated text, deployed defaults); DynamoDB ${isolated.wcuPerMessage.toFixed(
    1,
  )} WCU/message; idle ${money(idleMonthly)}/month`;
}
