/**
 * `npm start`: the whole chat-relay pipeline on this machine, no AWS account needed.
 * Configuration (environment): HOST, PORT, CHAT_RELAY_TENANTS_FILE, PANCAKE_API_BASE,
 * GRAPH_API_BASE, TELEGRAM_API_BASE, ZALO_API_BASE, DEBOUNCE_MS, RESPONDER, LOG_LEVEL
 * (see docs/local-stack.md). Bad values exit with code 2 and a one-line message.
 */
import { resolve } from 'node:path';
import { LOG_LEVELS, LocalConfigError, type LogLevel, parseLocalConfig } from './local/config.js';
import type { LocalStack, StackLog } from './local/stack.js';
import { batchStdout } from './local/stdout-batch.js';

/** How long SIGINT/SIGTERM may take before the process exits regardless. */
const SHUTDOWN_LIMIT_MS = 4500;

function consoleLog(level: LogLevel): StackLog {
  const rank = (l: LogLevel): number => LOG_LEVELS.indexOf(l);
  const enabled = (l: LogLevel): boolean => rank(level) <= rank(l);
  return {
    warn: (m) => {
      if (enabled('WARN')) console.error(`[local] warning: ${m}`);
    },
    info: (m) => {
      if (enabled('INFO')) console.error(`[local] ${m}`);
    },
    debug: (m) => {
      if (enabled('DEBUG')) console.error(`[local] ${m}`);
    },
  };
}

async function main(): Promise<void> {
  // Node 20 is this project's tool runtime; the SDK's notice about future versions is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let config: ReturnType<typeof parseLocalConfig>;
  try {
    config = parseLocalConfig(process.env, process.argv.slice(2));
  } catch (err) {
    if (err instanceof LocalConfigError) {
      console.error(`chat-relay: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = consoleLog(config.logLevel);
  // The functions' log lines leave in one write per 20 ms (bin/local/stdout-batch.ts).
  batchStdout();

  let stack: LocalStack | undefined;
  let shuttingDown = false;
  const shutdown = (signal: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info(`${signal}: stopping`);
    const force = setTimeout(() => {
      console.error(`chat-relay: shutdown took longer than ${SHUTDOWN_LIMIT_MS} ms; exiting anyway`);
      process.exit(0);
    }, SHUTDOWN_LIMIT_MS);
    force.unref();
    void (stack?.stop() ?? Promise.resolve()).then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // `npm start` does not pass SIGTERM on: npm exits and leaves its child running. A change of
  // parent process means whoever started us is gone, so stop the same way.
  const parent = process.ppid;
  const orphanWatch = setInterval(() => {
    if (process.ppid !== parent) shutdown('parent exited');
  }, 250);
  orphanWatch.unref();

  // Loaded after the configuration is known to be good, so a bad value fails fast.
  const { startLocalStack } = await import('./local/stack.js');
  const { configuredChannels, describeTenant, redactTenantSecrets } = await import('./local/tenants.js');
  try {
    // The handlers share the main thread unless LOCAL_FUNCTION_THREADS=1: with the in-process
    // transports a thread hop costs more than it spreads (docs/local-stack.md, "Throughput").
    stack = await startLocalStack({ ...config, functionThreads: config.functionThreads ?? false }, log);
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : '';
    if (err instanceof LocalConfigError) {
      console.error(`chat-relay: ${err.message}`);
    } else if (code === 'EADDRINUSE') {
      console.error(`chat-relay: ${config.host}:${config.port} is already in use; set PORT to a free port.`);
    } else if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
      console.error(`chat-relay: cannot listen on HOST "${config.host}" (${code}).`);
    } else {
      console.error(
        `chat-relay: the local stack failed to start: ${err instanceof Error ? err.stack : String(err)}`,
      );
    }
    process.exit(1);
  }
  if (shuttingDown) return;

  const lines: string[] = [''];
  for (const tenant of stack.tenants) lines.push(...describeTenant(stack.url, tenant, stack.demo));
  lines.push('');
  lines.push(`tenant documents: ${stack.tenantsPath}`);
  lines.push(
    `responder: ${config.responder}   debounce: ${config.debounceMs} ms   log level: ${config.logLevel}`,
  );
  const bases = [
    ['pancake', stack.env.PANCAKE_API_BASE],
    ['graph', stack.env.GRAPH_API_BASE],
    ['telegram', stack.env.TELEGRAM_API_BASE],
    ['zalo', stack.env.ZALO_API_BASE],
  ];
  lines.push(`sends: ${bases.map(([n, u]) => `${n} → ${u}`).join('   ')}`);
  lines.push(`sent messages: GET ${stack.url}/sandbox/messages`);
  const first = stack.tenants[0];
  const channel =
    first && !first.channels.telegram ? (configuredChannels(first)[0] ?? 'telegram') : 'telegram';
  const flags = [
    stack.demo ? '' : ` --tenant ${first?.tenantId}`,
    stack.url === 'http://127.0.0.1:3000' ? '' : ` --url ${stack.url}`,
    stack.tenantsPath === resolve('.tmp/local/tenants.json') ? '' : ` --tenants-file ${stack.tenantsPath}`,
  ].join('');
  lines.push(`try it: npm run webhook -- ${channel} "hello"${flags}`);
  lines.push('');
  // Tenants from a file are real: none of their secrets may reach the terminal (or a CI log).
  const banner = lines.join('\n');
  console.log(stack.demo ? banner : redactTenantSecrets(banner, stack.tenants));
  console.log(`chat-relay local stack listening on ${stack.url}`);
}

void main();
