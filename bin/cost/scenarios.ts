/**
 * The traffic of `npm run cost`: the local stack in this process, signed webhooks posted over
 * HTTP as a platform does, and every AWS call counted (./counter.ts) per customer message.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTenantDocument, type TenantDocument } from '../../lambdas/shared/tenant.js';
import { resetTenantStore } from '../../lambdas/shared/tenant-store.js';
import { parseLocalConfig } from '../local/config.js';
import type { SandboxRecord } from '../local/sandbox.js';
import { type LocalStack, startLocalStack } from '../local/stack.js';
import { createDemoTenant } from '../local/tenants.js';
import { buildWebhook, webhookUrl } from '../local/webhook-builder.js';
import { type CallCounter, type Counts, installCounter } from './counter.js';

/** The deployed default debounce (lambdas/contracts/defaults.ts). */
export const DEPLOYED_DEBOUNCE_MS = 2500;

/** A scripted traffic pattern. */
export interface Scenario {
  readonly name: string;
  readonly debounceMs: number;
  /** Customer messages per conversation, posted back to back (merged into one turn). */
  readonly burst: number;
  /** Conversations, run one after another (counts are divided by all their messages). */
  readonly conversations: number;
  /** Every Lambda invocation on a cold container: tenant caches dropped before each. */
  readonly cold?: boolean;
  readonly voice?: boolean;
}

export const SCENARIOS: readonly Scenario[] = [
  { name: 'isolated text', debounceMs: DEPLOYED_DEBOUNCE_MS, burst: 1, conversations: 3 },
  { name: 'burst of 3, one turn', debounceMs: DEPLOYED_DEBOUNCE_MS, burst: 3, conversations: 2 },
  { name: 'debounce 0', debounceMs: 0, burst: 1, conversations: 3 },
  { name: 'sparse (cold)', debounceMs: DEPLOYED_DEBOUNCE_MS, burst: 1, conversations: 3, cold: true },
  { name: 'voice note', debounceMs: DEPLOYED_DEBOUNCE_MS, burst: 1, conversations: 2, voice: true },
];

/** What one scenario measured. */
export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly messages: number;
  readonly counts: Counts;
  /** Webhook invocations, measured POST → answer. */
  readonly webhookMs: readonly number[];
  readonly replies: number;
  /** Log bytes the handlers wrote (stdout and stderr) at the deployed INFO level, EMF included. */
  readonly logBytes: number;
  /** The same by {@link logSource}: application lines by level and message, EMF by metrics. */
  readonly logSources: ReadonlyMap<string, LogSource>;
}

/** The stack, the counter and a way to run scenarios on it. */
export interface CostBench {
  readonly stack: LocalStack;
  readonly counter: CallCounter;
  /** Queue labels that are FIFO. */
  readonly fifoQueues: ReadonlySet<string>;
  run(scenario: Scenario): Promise<ScenarioResult>;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tenantFor(scenario: Scenario, index: number): TenantDocument {
  const demo = createDemoTenant();
  return parseTenantDocument({
    ...demo,
    tenantId: `cost${index}`,
    settings: { ...demo.settings, debounceMs: scenario.debounceMs },
  });
}

/** Lines and bytes of one kind of log line. */
export interface LogSource {
  readonly lines: number;
  readonly bytes: number;
}

/**
 * The kind of a log line: `EMF <metric names>` for a metric document (`… with <message>` when a
 * summary rides on it), `<LEVEL> <message>` for an application line, `text` for anything else.
 */
export function logSource(line: string): string {
  try {
    const parsed = JSON.parse(line) as {
      _aws?: { CloudWatchMetrics?: { Metrics?: { Name?: string }[] }[] };
      level?: unknown;
      message?: unknown;
    };
    if (parsed._aws) {
      const names = (parsed._aws.CloudWatchMetrics ?? []).flatMap((d) =>
        (d.Metrics ?? []).map((m) => m.Name),
      );
      // A summary riding on the document (logSummary) is named after its metrics.
      const summary = typeof parsed.message === 'string' ? ` with ${parsed.message.slice(0, 60)}` : '';
      return `EMF ${names.join('+')}${summary}`;
    }
    return `${String(parsed.level ?? '?')} ${String(parsed.message ?? '').slice(0, 60)}`;
  } catch {
    return 'text';
  }
}

/**
 * Counts and swallows what the handlers print (Powertools writes its JSON log lines and EMF
 * documents through `process.stdout.write` and `process.stderr.write`) until `stop`, by
 * {@link logSource}.
 */
function captureLogs(): { bytes(): number; sources(): Map<string, LogSource>; stop(): void } {
  let bytes = 0;
  const sources = new Map<string, LogSource>();
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((s) => s.write);
  const partial = ['', ''];
  streams.forEach((stream, i) => {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      bytes += Buffer.byteLength(text);
      const lines = (partial[i] + text).split('\n');
      partial[i] = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') continue;
        const kind = logSource(line);
        const seen = sources.get(kind) ?? { lines: 0, bytes: 0 };
        // +1: the newline each line ends with.
        sources.set(kind, { lines: seen.lines + 1, bytes: seen.bytes + Buffer.byteLength(line) + 1 });
      }
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    }) as typeof stream.write;
  });
  return {
    bytes: () => bytes,
    sources: () => sources,
    stop: () => {
      streams.forEach((s, i) => {
        s.write = originals[i]!;
      });
    },
  };
}

/**
 * Turns on the EMF metrics the local stack leaves off at INFO, so the documents a deployment
 * writes are measured (lambdas/shared/powertools.ts reads the variable when it writes).
 */
function enableMetrics(): void {
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
}

let customerSeq = 0;
function customerId(): string {
  customerSeq += 1;
  return `7${String(Date.now() % 1e9).padStart(9, '0')}${String(customerSeq).padStart(4, '0')}`;
}

/** Starts the local stack in this process (fresh data directory, echo responder). */
export async function startCostBench(scenarios: readonly Scenario[] = SCENARIOS): Promise<CostBench> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // Log lines as in Lambda's JSON log format (lib/function-defaults.ts): no timestamp key.
  process.env.AWS_LAMBDA_LOG_FORMAT = 'JSON';
  const dir = mkdtempSync(join(tmpdir(), 'chat-relay-cost-'));
  const tenants = scenarios.map((s, i) => tenantFor(s, i));
  const config = {
    ...parseLocalConfig(
      // INFO: the deployed log level, so the application log bytes counted are the deployed ones.
      { PORT: '0', LOG_LEVEL: 'INFO', RESPONDER: 'echo', CHAT_RELAY_DATA_DIR: join(dir, 'state') },
      ['--fresh'],
    ),
    tenants,
  };
  const stack = await startLocalStack(config);
  enableMetrics();
  const queues: Record<string, string> = {};
  const fifoQueues = new Set<string>();
  for (const [name, q] of Object.entries(stack.emulators.queues as Record<string, { url: string }>)) {
    queues[q.url] = name;
    queues[q.url.split('/').pop()!] = name;
    if (q.url.endsWith('.fifo')) fifoQueues.add(name);
  }
  const tables: Record<string, string> = {};
  for (const [name, t] of Object.entries(stack.emulators.tables as Record<string, string>)) tables[t] = name;
  const counter = installCounter({ queues, tables, esmQueues: ['inbound', 'timer', 'outbound'] });

  let files: Server | undefined;
  let voiceUrl: string | undefined;
  const ensureVoice = async (): Promise<string> => {
    if (voiceUrl) return voiceUrl;
    const { ffmpegPath } = await import('../../lambdas/media/ffmpeg.js');
    const wav = join(dir, 'voice.wav');
    // A 3-second tone: what the worker downloads, normalises and (with whisper.cpp) transcribes.
    execFileSync(ffmpegPath(), [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:duration=3:sample_rate=48000',
      '-y',
      wav,
    ]);
    const bytes = readFileSync(wav);
    files = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': bytes.length });
      res.end(bytes);
    });
    await new Promise<void>((r) => files!.listen(0, '127.0.0.1', r));
    voiceUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}/voice.wav`;
    return voiceUrl;
  };

  const records = async (): Promise<SandboxRecord[]> => {
    const res = await fetch(`${stack.url}/sandbox/requests`);
    return (await res.json()) as SandboxRecord[];
  };
  const activity = (): number => {
    let n = 0;
    for (const [key, v] of counter.snapshot().ops) if (!key.startsWith('idle ')) n += v.calls;
    return n;
  };

  const run = async (scenario: Scenario): Promise<ScenarioResult> => {
    const tenant = tenants[scenarios.indexOf(scenario)] ?? tenantFor(scenario, 99);
    const mediaUrl = scenario.voice ? await ensureVoice() : undefined;
    const webhookMs: number[] = [];
    let replies = 0;
    const conversation = async (c: number): Promise<void> => {
      const customer = customerId();
      for (let m = 0; m < scenario.burst; m += 1) {
        if (scenario.cold) resetTenantStore();
        const built = buildWebhook({
          tenant,
          channel: 'messenger',
          conversation: customer,
          ...(mediaUrl ? { kind: 'audio' as const, mediaUrl } : { text: `cost ${c} ${m}` }),
        });
        const started = performance.now();
        const res = await fetch(webhookUrl(stack.url, built), {
          method: built.method,
          headers: built.headers,
          body: built.body,
        });
        await res.text();
        webhookMs.push(performance.now() - started);
        if (res.status !== 200) throw new Error(`webhook answered ${res.status} in "${scenario.name}"`);
      }
      // The reply, then quiet: no counted call (idle polls aside) for 1.5 s.
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (Date.now() > deadline) throw new Error(`no reply in "${scenario.name}" within 60 s`);
        const got = (await records()).filter(
          (r) => r.delivered && r.kind !== 'typing' && r.recipientId === customer,
        ).length;
        if (got >= 1) {
          replies += got;
          break;
        }
        await sleep(100);
      }
      let last = activity();
      let quietSince = Date.now();
      while (Date.now() - quietSince < 1500) {
        await sleep(100);
        const now = activity();
        if (now !== last) {
          last = now;
          quietSince = Date.now();
        }
      }
    };
    // Warm containers: one untimed conversation first loads the tenant secret and the page's
    // rate-limit item, as the first message of a busy deployment did long ago.
    if (!scenario.cold) await conversation(-1);
    counter.reset();
    webhookMs.length = 0;
    replies = 0;
    counter.onInvoke = scenario.cold ? () => resetTenantStore() : undefined;
    const logs = captureLogs();
    try {
      for (let c = 0; c < scenario.conversations; c += 1) await conversation(c);
    } finally {
      logs.stop();
      counter.onInvoke = undefined;
    }
    return {
      scenario,
      messages: scenario.conversations * scenario.burst,
      counts: counter.snapshot(),
      webhookMs,
      replies,
      logBytes: logs.bytes(),
      logSources: logs.sources(),
    };
  };

  return {
    stack,
    counter,
    fifoQueues,
    run,
    stop: async () => {
      counter.uninstall();
      if (files) await new Promise<void>((r) => files!.close(() => r()));
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
