/**
 * Runs the local stack (`bin/local.ts`) as a child process, the way a developer runs
 * `npm start`, and drives it over HTTP the way platforms do. Used by the end-to-end suite and
 * the e2e benchmark.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SandboxRecord } from '../../bin/local/sandbox.js';
import { type BuiltWebhook, webhookUrl } from '../../bin/local/webhook-builder.js';
import type { TenantDocument } from '../../lambdas/shared/tenant.js';
import { queueDepth } from './sqs-driver.js';

// Node 20 is this project's tool runtime; the SDK's notice about future Node versions is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const READY = /chat-relay local stack listening on (http:\/\/\S+)/;

/** What `stack.json` in the state directory holds. */
export interface StackState {
  readonly url: string;
  readonly region: string;
  readonly endpoints: { sqs: string; s3: string; dynamodb: string; secretsmanager: string };
  readonly queues: Record<'inbound' | 'timer' | 'outbound' | 'mediaJobs', { url: string; dlqUrl: string }>;
  readonly tables: Record<'memory', string>;
}

export interface StartOptions {
  /** Tenant documents written to a temp file passed as `CHAT_RELAY_TENANTS_FILE`. */
  readonly tenants?: readonly TenantDocument[];
  /** Extra environment (defaults: PORT=0, LOG_LEVEL=ERROR, DEBOUNCE_MS=400). */
  readonly env?: Readonly<Record<string, string>>;
  /** How long to wait for the ready line. @default 60000 */
  readonly readyTimeoutMs?: number;
  /**
   * The data directory (`CHAT_RELAY_DATA_DIR`), kept after `stop` so a later process can
   * restart on it. @default a fresh temporary directory, removed by `stop`
   */
  readonly dataDir?: string;
  /** Command-line arguments (e.g. `--fresh`). */
  readonly args?: readonly string[];
  /** Node options for the stack process (e.g. `--cpu-prof`), before its script. */
  readonly nodeArgs?: readonly string[];
}

export interface PostResult {
  readonly status: number;
  readonly body: string;
}

/** A local stack child process. */
export interface LocalStackProcess {
  readonly url: string;
  readonly state: StackState;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  readonly output: () => string;
  /** Posts a built webhook exactly as built (path, query, headers, body bytes). */
  readonly post: (built: BuiltWebhook, path?: string) => Promise<PostResult>;
  /** `GET /sandbox/requests`: every request the sandbox received, failed attempts and typing included. */
  readonly messages: () => Promise<SandboxRecord[]>;
  /** Polls the sandbox until `done(records)` holds; returns the records, or throws after `timeoutMs`. */
  readonly waitForMessages: (
    done: (records: SandboxRecord[]) => boolean,
    timeoutMs?: number,
    what?: string,
  ) => Promise<SandboxRecord[]>;
  /** Messages visible + in flight + delayed on a queue. */
  readonly queueDepth: (
    queue: 'inbound' | 'timer' | 'outbound' | 'mediaJobs',
    dlq?: boolean,
  ) => Promise<number>;
  /** Partition keys of the memory table containing `needle`. */
  readonly memoryKeysContaining: (needle: string) => Promise<string[]>;
  /** SIGTERM; resolves with the exit code and how long the process took to exit. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<{ code: number | null; ms: number }>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts `bin/local.ts` in a child process and waits for its ready line. */
export async function startLocalStackProcess(options: StartOptions = {}): Promise<LocalStackProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-relay-e2e-'));
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'ERROR',
    CHAT_RELAY_DATA_DIR: options.dataDir ?? join(dir, 'state'),
    DEBOUNCE_MS: '400',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  // The parent's test settings must not leak into the stack: it sets its own.
  for (const name of [
    'LOCAL_STATE_DIR',
    'POWERTOOLS_LOG_LEVEL',
    'POWERTOOLS_METRICS_DISABLED',
    'POWERTOOLS_DEV',
    'NODE_OPTIONS',
  ]) {
    delete env[name];
  }
  for (const name of Object.keys(env)) if (name.startsWith('VITEST')) delete env[name];
  if (options.tenants) {
    const file = join(dir, 'tenants.json');
    writeFileSync(file, JSON.stringify(options.tenants));
    env.CHAT_RELAY_TENANTS_FILE = file;
  }
  Object.assign(env, options.env ?? {});

  const child = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      '--import',
      'tsx',
      join(PROJECT_ROOT, 'bin', 'local.ts'),
      ...(options.args ?? []),
    ],
    {
      cwd: PROJECT_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));

  const url = await new Promise<string>((resolveReady, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`local stack not ready after ${options.readyTimeoutMs ?? 60_000} ms:\n${output}`)),
      options.readyTimeoutMs ?? 60_000,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const match = READY.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveReady(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`local stack exited with ${code} before it was ready:\n${output}`));
    });
  });

  const state = JSON.parse(readFileSync(join(env.CHAT_RELAY_DATA_DIR!, 'stack.json'), 'utf8')) as StackState;
  const clientConfig = {
    region: state.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  const sqs = new SQSClient({ ...clientConfig, endpoint: state.endpoints.sqs, useQueueUrlAsEndpoint: false });
  const dynamo = new DynamoDBClient({ ...clientConfig, endpoint: state.endpoints.dynamodb });

  const messages = async (): Promise<SandboxRecord[]> => {
    const res = await fetch(`${url}/sandbox/requests`);
    if (res.status !== 200) throw new Error(`GET /sandbox/requests answered ${res.status}`);
    return (await res.json()) as SandboxRecord[];
  };

  return {
    url,
    state,
    child,
    output: () => output,
    post: async (built, path) => {
      const target = path === undefined ? webhookUrl(url, built) : webhookUrl(url, { ...built, path });
      const res = await fetch(target, { method: built.method, headers: built.headers, body: built.body });
      return { status: res.status, body: await res.text() };
    },
    messages,
    waitForMessages: async (done, timeoutMs = 20_000, what = 'the expected sandbox messages') => {
      const deadline = Date.now() + timeoutMs;
      let last: SandboxRecord[] = [];
      while (Date.now() < deadline) {
        last = await messages();
        if (done(last)) return last;
        await sleep(100);
      }
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; sandbox has ${last.length} records:\n${JSON.stringify(
          last
            .slice(-20)
            .map((r) => ({ api: r.api, kind: r.kind, to: r.recipientId, text: r.text, status: r.status })),
        )}\n--- stack output ---\n${output.slice(-4000)}`,
      );
    },
    queueDepth: (queue, dlq = false) => {
      const q = state.queues[queue];
      return queueDepth(sqs, dlq ? q.dlqUrl : q.url);
    },
    memoryKeysContaining: async (needle) => {
      const keys = new Set<string>();
      let start: Record<string, import('@aws-sdk/client-dynamodb').AttributeValue> | undefined;
      do {
        const page = await dynamo.send(
          new ScanCommand({
            TableName: state.tables.memory,
            ExclusiveStartKey: start,
            ProjectionExpression: 'pk',
          }),
        );
        for (const item of page.Items ?? []) {
          const pk = item.pk?.S;
          if (pk?.includes(needle)) keys.add(pk);
        }
        start = page.LastEvaluatedKey;
      } while (start);
      return [...keys];
    },
    stop: async (signal = 'SIGTERM') => {
      const started = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
      const ms = Date.now() - started;
      sqs.destroy();
      dynamo.destroy();
      if (code === 'timeout') {
        child.kill('SIGKILL');
        await exited;
        rmSync(dir, { recursive: true, force: true });
        return { code: null, ms };
      }
      rmSync(dir, { recursive: true, force: true });
      return { code, ms };
    },
  };
}

/** Texts of delivered sends (text kind) to `recipient` (or any recipient), in arrival order. */
export function deliveredTexts(
  records: readonly SandboxRecord[],
  filter: (r: SandboxRecord) => boolean,
): string[] {
  return records.filter((r) => r.delivered && r.kind !== 'typing' && filter(r)).map((r) => r.text ?? '');
}
