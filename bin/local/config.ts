/**
 * The local stack's configuration, read from the environment (the `npm start` contract).
 * Every problem is a {@link LocalConfigError} with a one-line message naming the variable,
 * which `bin/local.ts` prints before exiting with code 2.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseTenantDocument, type TenantDocument } from '../../lambdas/shared/tenant.js';

/** A malformed or missing setting. The message is one line, fit to print as is. */
export class LocalConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalConfigError';
  }
}

export const RESPONDERS = ['echo', 'bedrock', 'lambda'] as const;
export type ResponderName = (typeof RESPONDERS)[number];

export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Default debounce of the local stack: shorter than the deployed 2500 ms so a demo feels
 * snappy, and a whole second because the timer queue delays in whole seconds.
 */
export const LOCAL_DEFAULT_DEBOUNCE_MS = 1000;

/** Everything `npm start` reads. */
export interface LocalConfig {
  readonly host: string;
  /** 0 = any free port (the ready line prints the real one). */
  readonly port: number;
  /** Tenant documents from `CHAT_RELAY_TENANTS_FILE`, or undefined for the generated demo tenant. */
  readonly tenants?: readonly TenantDocument[];
  readonly tenantsFile?: string;
  /** Outbound base URLs given by the user; unset ones default to the sandbox. */
  readonly apiBases: {
    readonly pancake?: string;
    readonly graph?: string;
    readonly telegram?: string;
    readonly zalo?: string;
  };
  readonly debounceMs: number;
  readonly responder: ResponderName;
  readonly logLevel: LogLevel;
  /**
   * The data directory (`CHAT_RELAY_DATA_DIR`, default `.tmp/local`): the tables, the queue
   * journal and the secrets kept across restarts, and `tenants.json` (read by `npm run webhook`)
   * and `stack.json`.
   */
  readonly stateDir: string;
  /** `--fresh`: forget the tables, queues, secrets and demo tenant of earlier runs. */
  readonly fresh: boolean;
  /** Overrides of every queue's visibility timeout, seconds (tests use short ones). */
  readonly visibilityTimeoutSeconds?: number;
  /** Overrides of every queue's maxReceiveCount. */
  readonly maxReceiveCount?: number;
  /** Batches in flight at once per FIFO queue (inbound, outbound). */
  readonly fifoPollers: number;
  /**
   * `LOCAL_FUNCTION_THREADS`: run the conversation, timer and delivery handlers in worker
   * threads (1) or on the main thread (0). Unset: the main thread (`npm start`, and in-process
   * callers such as `npm run cost`, which counts SDK calls in its own thread).
   */
  readonly functionThreads?: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

const set = (env: Env, name: string): string | undefined => {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
};

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = set(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new LocalConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}".`);
  }
  return value;
}

function optionalInteger(env: Env, name: string, min: number, max: number): number | undefined {
  return set(env, name) === undefined ? undefined : integer(env, name, 0, min, max);
}

function baseUrl(env: Env, name: string): string | undefined {
  const raw = set(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new LocalConfigError(`${name} must be an http(s) URL, got "${raw}".`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new LocalConfigError(`${name} must be an http(s) URL, got "${raw}".`);
  }
  return raw.replace(/\/+$/, '');
}

/**
 * Reads and validates a tenants file: a JSON array of tenant documents (DESIGN §3).
 * @throws LocalConfigError naming the file, the tenant index and every problem
 */
export function loadTenantsFile(path: string): TenantDocument[] {
  const full = resolve(path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : String(err);
    throw new LocalConfigError(`CHAT_RELAY_TENANTS_FILE: cannot read ${full} (${reason}).`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new LocalConfigError(
      `CHAT_RELAY_TENANTS_FILE: ${full} is not valid JSON (${err instanceof Error ? err.message : String(err)}).`,
    );
  }
  if (!Array.isArray(data) || data.length === 0) {
    throw new LocalConfigError(
      `CHAT_RELAY_TENANTS_FILE: ${full} must hold a non-empty JSON array of tenant documents.`,
    );
  }
  const tenants: TenantDocument[] = [];
  const seen = new Set<string>();
  data.forEach((item, index) => {
    try {
      const doc = parseTenantDocument(item);
      if (seen.has(doc.tenantId)) {
        throw new LocalConfigError(
          `CHAT_RELAY_TENANTS_FILE: tenant "${doc.tenantId}" appears more than once in ${full}.`,
        );
      }
      seen.add(doc.tenantId);
      tenants.push(doc);
    } catch (err) {
      if (err instanceof LocalConfigError) throw err;
      const problems =
        err instanceof Error && 'problems' in err && Array.isArray(err.problems)
          ? (err.problems as string[]).join('; ')
          : String(err);
      throw new LocalConfigError(
        `CHAT_RELAY_TENANTS_FILE: tenant #${index} in ${full} is invalid: ${problems}`,
      );
    }
  });
  return tenants;
}

/** Command-line flags `npm start -- …` accepts. */
export const LOCAL_FLAGS = ['--fresh'] as const;

/**
 * The local stack's configuration from `env` and the command-line arguments `argv`
 * (without the node and script paths).
 * @throws LocalConfigError on the first bad value
 */
export function parseLocalConfig(env: Env = process.env, argv: readonly string[] = []): LocalConfig {
  for (const arg of argv) {
    if (!(LOCAL_FLAGS as readonly string[]).includes(arg)) {
      throw new LocalConfigError(`unknown argument "${arg}" (accepted: ${LOCAL_FLAGS.join(', ')}).`);
    }
  }
  const host = set(env, 'HOST') ?? '127.0.0.1';
  const port = integer(env, 'PORT', 3000, 0, 65_535);

  const responderRaw = (set(env, 'RESPONDER') ?? 'echo').toLowerCase();
  if (!(RESPONDERS as readonly string[]).includes(responderRaw)) {
    throw new LocalConfigError(`RESPONDER must be one of ${RESPONDERS.join(', ')}, got "${env.RESPONDER}".`);
  }
  const responder = responderRaw as ResponderName;
  if (responder === 'lambda') {
    if (!set(env, 'AWS_ENDPOINT_URL_LAMBDA') || !set(env, 'RESPONDER_FUNCTION_NAME')) {
      throw new LocalConfigError(
        'RESPONDER=lambda needs AWS_ENDPOINT_URL_LAMBDA (the local URL of your function) and RESPONDER_FUNCTION_NAME.',
      );
    }
  }

  const logRaw = (set(env, 'LOG_LEVEL') ?? 'WARN').toUpperCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logRaw)) {
    throw new LocalConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}".`);
  }

  const tenantsFile = set(env, 'CHAT_RELAY_TENANTS_FILE');
  const tenants = tenantsFile === undefined ? undefined : loadTenantsFile(tenantsFile);

  const visibilityTimeoutSeconds = optionalInteger(env, 'LOCAL_VISIBILITY_TIMEOUT_SECONDS', 1, 43_200);
  const maxReceiveCount = optionalInteger(env, 'LOCAL_MAX_RECEIVE_COUNT', 1, 1000);

  return {
    host,
    port,
    ...(tenants !== undefined ? { tenants, tenantsFile: resolve(tenantsFile!) } : {}),
    apiBases: {
      pancake: baseUrl(env, 'PANCAKE_API_BASE'),
      graph: baseUrl(env, 'GRAPH_API_BASE'),
      telegram: baseUrl(env, 'TELEGRAM_API_BASE'),
      zalo: baseUrl(env, 'ZALO_API_BASE'),
    },
    debounceMs: integer(env, 'DEBOUNCE_MS', LOCAL_DEFAULT_DEBOUNCE_MS, 0, 900_000),
    responder,
    logLevel: logRaw as LogLevel,
    // LOCAL_STATE_DIR is the variable's earlier name.
    stateDir: resolve(set(env, 'CHAT_RELAY_DATA_DIR') ?? set(env, 'LOCAL_STATE_DIR') ?? '.tmp/local'),
    fresh: argv.includes('--fresh'),
    ...(visibilityTimeoutSeconds !== undefined ? { visibilityTimeoutSeconds } : {}),
    ...(maxReceiveCount !== undefined ? { maxReceiveCount } : {}),
    fifoPollers: integer(env, 'LOCAL_FIFO_POLLERS', 64, 1, 256),
    ...(set(env, 'LOCAL_FUNCTION_THREADS') !== undefined
      ? { functionThreads: integer(env, 'LOCAL_FUNCTION_THREADS', 1, 0, 1) === 1 }
      : {}),
  };
}
