/**
 * Webhook benchmarks (`npm run bench -- webhook`):
 * - bundle size of the webhook Lambda as bin/build.ts bundles it (the AWS SDK tree-shaken in, the
 *   SDK's credential chain replaced by the Lambda environment's), target ≤ 500 KB: everything
 *   its cold start loads (the SDK used to be external, and loaded whole from the runtime);
 * - cold import time of that bundle (CommonJS) in a fresh Node process, median of 10, target
 *   ≤ 100 ms, and of our own code alone (SDK external and preloaded) for reference; the
 *   largest parts of the bundle from esbuild's metafile;
 * - handler CPU per message, excluding I/O (tenant fetch and SQS send stubbed at module level
 *   here only; real adapters, real Powertools Logger and Metrics writing to /dev/null): a
 *   1 KB Messenger POST and a 100-entry Messenger batch, target ≤ 0.2 ms per message;
 * - worst-case answer time of the bundled handler while a dependency hangs (an endpoint that
 *   accepts and never answers): SQS hanging (tenant cached), Secrets Manager hanging (tenant
 *   never cached), default answer deadline (ENQUEUE_BUDGET_MS 1500), target ≤ 2 s, every
 *   answer a 503. Wall time from the call to the answer, each scenario in a fresh process.
 *
 * The CPU part runs in a child process (this file with `--cpu`) whose stdout, where Powertools
 * writes logs and EMF metrics, goes to /dev/null; results come back over IPC.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

const TARGETS = { bundleKB: 500, importMs: 100, perMessageMs: 0.2, hangAnswerMs: 2000 } as const;
/** Requests per hanging-dependency scenario. */
const HANG_SAMPLES = 12;
const APP_SECRET = 'bench-app-secret';
const PAGE = '110000000000001';

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** A signed Messenger POST with `count` entries, one customer text message each. */
function messengerEvent(count: number, textLength: number): APIGatewayProxyEventV2 {
  const body = JSON.stringify({
    object: 'page',
    entry: Array.from({ length: count }, (_, i) => ({
      id: PAGE,
      time: 1_700_000_000_000 + i,
      messaging: [
        {
          sender: { id: String(7_100_000_000_000_000 + i) },
          recipient: { id: PAGE },
          timestamp: 1_700_000_000_000 + i,
          message: { mid: `m_${'A'.repeat(60)}_${i}`, text: 'x'.repeat(textLength) },
        },
      ],
    })),
  });
  const signature = createHmac('sha256', APP_SECRET).update(body).digest('hex');
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{channel}/{tenantId}',
    rawPath: '/webhooks/messenger/bench',
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': `sha256=${signature}`,
      'user-agent': 'facebookexternalua',
    },
    pathParameters: { channel: 'messenger', tenantId: 'bench' },
    requestContext: { http: { method: 'POST' } } as APIGatewayProxyEventV2['requestContext'],
    body,
    isBase64Encoded: false,
  };
}

/** Child: measures handler CPU per message and reports over IPC. */
async function cpuChild(): Promise<void> {
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  process.env.POWERTOOLS_DEV = 'false';
  const { createWebhookHandler } = await import('../../lambdas/ingest/webhook.js');
  const { adapterFor } = await import('../../lambdas/channels/index.js');
  const { emitMetric, logger, logSummary, withMetrics } = await import('../../lambdas/shared/powertools.js');
  const { parseTenantDocument } = await import('../../lambdas/shared/tenant.js');
  const tenant = parseTenantDocument({
    tenantId: 'bench',
    channels: {
      messenger: { appSecret: APP_SECRET, verifyToken: 'v', pages: { [PAGE]: { accessToken: 't' } } },
    },
  });
  // The stubs: a cached tenant and an SQS that accepts everything. No I/O is measured.
  const inner = createWebhookHandler({
    loadTenant: async () => tenant,
    adapterFor,
    send: async (entries) => ({ sent: entries.map((e) => e.id), failed: [] }),
    metric: emitMetric,
    logger,
    summary: logSummary,
  });
  // As the Lambda entry does: one EMF line per request (metrics and summary).
  const scoped = withMetrics(async (event: APIGatewayProxyEventV2, _context: undefined) => inner(event));
  const handle = (event: APIGatewayProxyEventV2) => scoped(event, undefined);

  const cases = [
    { name: '1 KB Messenger POST (1 message)', event: messengerEvent(1, 760), messages: 1, iterations: 400 },
    { name: '100-entry Messenger batch', event: messengerEvent(100, 200), messages: 100, iterations: 20 },
  ];
  const results: { name: string; bodyBytes: number; perMessageMs: number }[] = [];
  for (const c of cases) {
    const res = await handle(c.event);
    if (res.statusCode !== 200 || !res.body.includes(`"accepted":${c.messages}`)) {
      throw new Error(`bench request failed: ${res.statusCode} ${res.body}`);
    }
    for (let i = 0; i < c.iterations; i += 1) await handle(c.event); // warm-up (JIT)
    const rounds: number[] = [];
    for (let r = 0; r < 15; r += 1) {
      const start = process.cpuUsage();
      for (let i = 0; i < c.iterations; i += 1) await handle(c.event);
      const used = process.cpuUsage(start);
      rounds.push((used.user + used.system) / 1000 / (c.iterations * c.messages));
    }
    results.push({
      name: c.name,
      bodyBytes: Buffer.byteLength(c.event.body ?? ''),
      perMessageMs: median(rounds),
    });
  }
  process.send?.(results);
}

async function runCpuChild(): Promise<{ name: string; bodyBytes: number; perMessageMs: number }[]> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', self, '--cpu'], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, NODE_ENV: 'production' },
    });
    let got: { name: string; bodyBytes: number; perMessageMs: number }[] | undefined;
    child.on('message', (m) => {
      got = m as typeof got;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      got ? resolve(got) : reject(new Error(`cpu child exited with ${code} and no result`)),
    );
  });
}

type HangScenario = 'sqs' | 'secrets';
interface HangResult {
  readonly scenario: HangScenario;
  readonly samplesMs: number[];
  readonly statuses: string[];
}

/** A Secrets Manager stand-in that answers GetSecretValue with one tenant document. */
async function fakeSecretsManager(secretString: string): Promise<{ endpoint: string; stop: () => void }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({
          ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench/tenants/bench-AbCdEf',
          Name: 'bench/tenants/bench',
          SecretString: secretString,
          VersionId: 'v1',
          CreatedDate: 1_700_000_000,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/**
 * Child: the bundled Lambda entry with one dependency hanging, HANG_SAMPLES requests one after
 * the other, each timed from the call to the answer. Reports over IPC.
 */
async function hangChild(scenario: HangScenario, bundleFile: string): Promise<void> {
  const { startHangingServer } = await import('../helpers/hanging-server.js');
  const hanging = await startHangingServer();
  const secrets = await fakeSecretsManager(
    JSON.stringify({
      tenantId: 'bench',
      channels: {
        messenger: { appSecret: APP_SECRET, verifyToken: 'v', pages: { [PAGE]: { accessToken: 't' } } },
      },
    }),
  );
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_ENDPOINT_URL_SQS: hanging.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: scenario === 'secrets' ? hanging.endpoint : secrets.endpoint,
    INBOUND_QUEUE_URL: 'http://sqs.us-east-1.localhost/000000000000/bench-inbound.fifo',
    TENANT_SECRET_PREFIX: 'bench',
    // Secrets Manager hanging: never cached, so every request waits on it.
    TENANT_CACHE_SECONDS: scenario === 'secrets' ? '0' : '300',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  delete process.env.ENQUEUE_BUDGET_MS; // the default deadline
  const { handler } = createRequire(import.meta.url)(bundleFile) as {
    handler: (e: APIGatewayProxyEventV2) => Promise<{ statusCode: number; body: string }>;
  };
  const samplesMs: number[] = [];
  const statuses: string[] = [];
  for (let i = 0; i < HANG_SAMPLES; i += 1) {
    const event = messengerEvent(1, 200);
    const start = performance.now();
    const res = await handler(event);
    samplesMs.push(performance.now() - start);
    const code = (JSON.parse(res.body) as { error?: { code?: string } }).error?.code ?? 'none';
    statuses.push(`${res.statusCode} ${code}`);
  }
  process.send?.({ scenario, samplesMs, statuses } satisfies HangResult);
  await hanging.stop();
  secrets.stop();
}

function runHangChild(scenario: HangScenario, bundleFile: string): Promise<HangResult> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    // The handler's ERROR logs go to stderr: kept, and shown only when the child fails.
    const child = spawn(process.execPath, ['--import', 'tsx', self, '--hang', scenario, bundleFile], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, NODE_ENV: 'production', NODE_NO_WARNINGS: '1' },
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    let got: HangResult | undefined;
    child.on('message', (m) => {
      got = m as HangResult;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      got
        ? resolve(got)
        : reject(new Error(`hang child (${scenario}) exited with ${code} and no result:\n${stderr}`)),
    );
  });
}

/**
 * Load time of the bundle in a fresh Node process, loaded the way the Lambda runtime loads a
 * `.cjs` handler (`require`). With `preloadSdk`, the external SDK clients are required first
 * (untimed), isolating the cost of our own bundled code.
 */
function coldImport(
  file: string,
  preloadSdk = false,
  nodeArgs: readonly string[] = [],
): { wallMs: number; cpuMs: number } {
  const preload = preloadSdk
    ? "require('@aws-sdk/client-sqs'); require('@aws-sdk/client-secrets-manager');"
    : '';
  const script = `${preload} const c = process.cpuUsage(); const t = performance.now(); require(${JSON.stringify(file)}); const w = performance.now() - t; const u = process.cpuUsage(c); process.stdout.write(JSON.stringify([w, (u.user + u.system) / 1000]));`;
  const res = spawnSync(process.execPath, [...nodeArgs, '-e', script], {
    encoding: 'utf8',
    cwd: dirname(file),
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  if (res.status !== 0) throw new Error(`import failed: ${res.stderr}`);
  const [wallMs, cpuMs] = JSON.parse(res.stdout) as [number, number];
  return { wallMs, cpuMs };
}

/** Wall-clock load time in a fresh process (what the target is about). */
function coldImportMs(file: string, preloadSdk = false): number {
  return coldImport(file, preloadSdk).wallMs;
}

/** The webhook as bin/build.ts bundles it for Lambda (SDK included), with esbuild's metafile. */
async function deployedBundle(): Promise<{
  file: string;
  bytes: number;
  top: string[];
  cleanup: () => void;
}> {
  const { build } = await import('esbuild');
  const { handlerOptions, ROOT } = await import('../../bin/build.js');
  const cacheRoot = join(ROOT, 'node_modules', '.cache', 'chat-relay-bundles');
  mkdirSync(cacheRoot, { recursive: true });
  const dir = mkdtempSync(join(cacheRoot, 'w-'));
  // `.cjs`: the repository's package.json says ESM; Lambda's asset folder has no package.json.
  const file = join(dir, 'index.cjs');
  const result = await build({
    ...handlerOptions('webhook', dir),
    outfile: file,
    metafile: true,
    logLevel: 'silent',
  });
  const byPackage = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const parts = input.split('/');
      const at = parts.lastIndexOf('node_modules');
      const name =
        at < 0
          ? parts.slice(0, 2).join('/')
          : parts.slice(at + 1, at + (parts[at + 1]?.startsWith('@') ? 3 : 2)).join('/');
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
    }
  }
  const top = [...byPackage]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([name, bytes]) => `${name} ${(bytes / 1024).toFixed(0)} KB`);
  return {
    file,
    bytes: statSync(file).size,
    top,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function main(): Promise<void> {
  const { bundleHandler } = await import('../helpers/bundle.js');
  const deployed = await deployedBundle();
  // The SDK left external, as the bundle was before: isolates the load time of our own code.
  const external = await bundleHandler('lambdas/handlers/webhook.ts');
  const bundle = {
    ...deployed,
    cleanup: () => {
      deployed.cleanup();
      external.cleanup();
    },
  };
  try {
    const bundleKB = bundle.bytes / 1024;
    coldImportMs(bundle.file); // first runs warm the OS file cache only
    coldImportMs(external.file);
    // Interleaved with the SDK-external bundle (the SDK loaded from node_modules, as it was before
    // bin/build.ts bundled it) so both see the same machine load.
    const samples = Array.from({ length: 10 }, () => ({
      deployed: coldImport(bundle.file),
      external: coldImport(external.file),
      // As deployed: lib/function-defaults.ts sets NODE_OPTIONS=--enable-source-maps, which makes
      // Node read and parse the bundle's source map when it loads it.
      sourceMaps: coldImport(bundle.file, false, ['--enable-source-maps']),
    }));
    const imports = samples.map((s) => s.deployed.wallMs);
    const cpuImports = samples.map((s) => s.deployed.cpuMs);
    const externalImports = samples.map((s) => s.external.wallMs);
    const externalCpu = samples.map((s) => s.external.cpuMs);
    const mapImports = samples.map((s) => s.sourceMaps.wallMs);
    const mapCpu = samples.map((s) => s.sourceMaps.cpuMs);
    const ownImports = Array.from({ length: 10 }, () => coldImportMs(external.file, true));
    const cpu = await runCpuChild();
    const hangs = [await runHangChild('sqs', bundle.file), await runHangChild('secrets', bundle.file)];

    const ok = (pass: boolean): string => (pass ? '✅ meets' : '❌ misses');
    const rows = [
      `| webhook bundle size (bin/build.ts: CJS, minified, AWS SDK tree-shaken in) | ${bundleKB.toFixed(1)} KB | ≤ ${TARGETS.bundleKB} KB | ${(bundleKB / TARGETS.bundleKB).toFixed(2)} | ${ok(bundleKB <= TARGETS.bundleKB)} |`,
      `| cold load of the deployed bundle (SDK included), fresh Node ${process.version} (median of 10) | ${median(imports).toFixed(1)} ms | ≤ ${TARGETS.importMs} ms | ${(median(imports) / TARGETS.importMs).toFixed(2)} | ${ok(median(imports) <= TARGETS.importMs)} |`,
      `| … its CPU time (user + system; less sensitive to the machine's load) | ${median(cpuImports).toFixed(1)} ms | — | — | (for reference) |`,
      `| … with \`--enable-source-maps\` as the functions run (NODE_OPTIONS): wall / CPU | ${median(mapImports).toFixed(1)} / ${median(mapCpu).toFixed(1)} ms | — | — | (for reference) |`,
      `| cold load of the same code with @aws-sdk/* external, loaded from node_modules (the bundle before bin/build.ts included the SDK): wall / CPU | ${median(externalImports).toFixed(1)} / ${median(externalCpu).toFixed(1)} ms | — | — | (for reference) |`,
      `| cold load, our own code only (a bundle with @aws-sdk external, the SDK preloaded; median of 10) | ${median(ownImports).toFixed(1)} ms | — | — | (for reference) |`,
      ...cpu.map(
        (c) =>
          `| handler CPU per message: ${c.name}, ${(c.bodyBytes / 1024).toFixed(1)} KB body (median of 15 rounds) | ${c.perMessageMs.toFixed(4)} ms | ≤ ${TARGETS.perMessageMs} ms | ${(c.perMessageMs / TARGETS.perMessageMs).toFixed(2)} | ${ok(c.perMessageMs <= TARGETS.perMessageMs)} |`,
      ),
      ...hangs.map((h) => {
        const max = Math.max(...h.samplesMs);
        const all503 = h.statuses.every((st) => st.startsWith('503 '));
        const label = h.scenario === 'sqs' ? 'SQS hanging (tenant cached)' : 'Secrets Manager hanging';
        return `| webhook answer with ${label}, bundled handler, ${h.samplesMs.length} requests: median / max (answers: ${[...new Set(h.statuses)].join(', ')}) | ${median(h.samplesMs).toFixed(0)} / ${max.toFixed(0)} ms | ≤ ${TARGETS.hangAnswerMs} ms (max) | ${(max / TARGETS.hangAnswerMs).toFixed(2)} | ${ok(max <= TARGETS.hangAnswerMs && all503)} |`;
      }),
    ];
    console.log('| measure | median | target | ratio | result |');
    console.log('|---|---:|---:|---:|---|');
    for (const row of rows) console.log(row);
    console.log(
      `\nCold import samples (ms): ${imports.map((v) => v.toFixed(1)).join(', ')}. ` +
        `Load average while measuring: ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores. ` +
        'CPU excludes I/O: tenant fetch and SQS send are stubbed; logs and EMF go to /dev/null.',
    );
    console.log(`Largest parts of the bundle (esbuild metafile): ${bundle.top.join(', ')}.`);
    for (const h of hangs) {
      console.log(
        `Answer times with ${h.scenario === 'sqs' ? 'SQS' : 'Secrets Manager'} hanging (ms, in order): ` +
          `${h.samplesMs.map((v) => v.toFixed(0)).join(', ')}.`,
      );
    }
  } finally {
    bundle.cleanup();
  }
}

const hangAt = process.argv.indexOf('--hang');
if (process.argv.includes('--cpu')) {
  await cpuChild();
} else if (hangAt >= 0) {
  await hangChild(process.argv[hangAt + 1] as HangScenario, process.argv[hangAt + 2] ?? '');
} else {
  await main();
}
