/**
 * The shared defaults for every chat-relay Lambda: Node.js 22 on arm64, code from the package's
 * prebundled assets (`dist/assets/<name>`, built by `npm run build` with esbuild: minified, source
 * maps, AWS SDK v3 left to the runtime — see bin/build.ts), an explicit log group with
 * retention, and the Powertools environment. A synth bundles nothing: no esbuild, no Docker, no
 * lockfile on the machine that runs it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import {
  ApplicationLogLevel,
  Architecture,
  Code,
  Function as LambdaFunction,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../lambdas/contracts/metrics.js';
// Type-only: props.ts imports this file's values, so a value import back would be a cycle.
import type { LogLevel } from './props.js';

/**
 * This file's directory. The compiled library is CommonJS, where Node's module wrapper defines
 * `__dirname`. In this repository the TypeScript sources also run as ES modules (tsx, vitest),
 * where only `import.meta` knows a module's location — and `import.meta` does not compile to
 * CommonJS — so there the directory is read from the stack frame that names this file.
 */
function moduleDirectory(): string {
  if (typeof __dirname === 'string' && isAbsolute(__dirname)) return __dirname;
  for (const line of new Error().stack?.split('\n') ?? []) {
    const match = /((?:file:\/\/)?[^\s(]*function-defaults\.[cm]?[jt]s)(?::\d+)*\)?\s*$/.exec(line);
    const file = match?.[1];
    if (file) return dirname(file.startsWith('file:') ? fileURLToPath(file) : file);
  }
  throw new Error('chat-relay: cannot locate lib/function-defaults (no __dirname, no stack frame)');
}

/** The nearest folder at or above `from` whose package.json is chat-relay's. */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'chat-relay'
    ) {
      return dir;
    }
    if (dirname(dir) === dir) throw new Error(`chat-relay: no chat-relay package.json above ${from}`);
  }
}

/**
 * The package root: the repository root when running from the sources (`lib/`), the installed
 * package's folder when running compiled (`dist/lib/`).
 */
export const PROJECT_ROOT = packageRoot(moduleDirectory());

/** The folder of the prebundled assets (`npm run build`; shipped in the package). */
export const ASSETS_ROOT = join(PROJECT_ROOT, 'dist', 'assets');

/**
 * Absolute path of one prebundled asset folder: a Lambda handler (`webhook`, `conversation`,
 * `timer`, `delivery` — one per file in `lambdas/handlers/`) or the media worker's Docker build
 * context (`media`). Fails with the fix when the package was not built.
 */
export function assetPath(name: string): string {
  const path = join(ASSETS_ROOT, name);
  if (!existsSync(path)) {
    throw new Error(
      `chat-relay: prebuilt asset ${path} is missing. In the chat-relay repository run \`npm run build\` ` +
        '(npm test, npm start and npm run synth do it when the sources changed); an installed package always has it.',
    );
  }
  return path;
}

/**
 * Powertools log levels accepted by `POWERTOOLS_LOG_LEVEL`.
 * @deprecated Use the `LogLevel` enum (props.ts); kept while callers move over.
 */
export type RelayLogLevel = LogLevel;

/** Settings shared by every function of one ChatRelay. */
export interface RelayFunctionDefaults {
  /** Retention of each function's log group. */
  readonly logRetention: RetentionDays;
  /** What happens to the log groups when the stack is deleted. */
  readonly logRemovalPolicy: RemovalPolicy;
  /** `POWERTOOLS_LOG_LEVEL` (the enum or its string value). */
  readonly logLevel: LogLevel | `${LogLevel}`;
  /** `POWERTOOLS_SERVICE_NAME`; also the `service` dimension of every metric. */
  readonly serviceName: string;
  /** X-Ray active tracing. */
  readonly tracing: boolean;
}

/** One function's own settings. */
export interface RelayFunctionProps {
  /** Handler name: a file of `lambdas/handlers/` without `.ts`, prebundled as `dist/assets/<entry>`. */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  /** Resource names and tuning values only — never a token. */
  readonly environment: { readonly [name: string]: string };
  readonly reservedConcurrentExecutions?: number;
}

/**
 * A chat-relay Lambda function with its own log group. The function and its log group are
 * children of one construct so that both can be found (and nag-acknowledged) together.
 */
export class RelayFunction extends Construct {
  /** The Lambda function. */
  public readonly function: LambdaFunction;
  /** Its log group (explicit, with retention). */
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, defaults: RelayFunctionDefaults, props: RelayFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: defaults.logRetention,
      removalPolicy: defaults.logRemovalPolicy,
    });
    this.function = new LambdaFunction(this, 'Function', {
      // Prebundled by bin/build.ts (esbuild: node22, CommonJS, minified, source map, the AWS SDK tree-shaken in).
      code: Code.fromAsset(assetPath(props.entry)),
      handler: 'index.handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      // The platform's START/END/REPORT lines are ~0.3 KB per invocation and say nothing the
      // Lambda metrics don't; WARN keeps timeouts, crashes and extension errors.
      systemLogLevelV2: SystemLogLevel.WARN,
      applicationLogLevelV2: applicationLogLevel(defaults.logLevel),
      tracing: defaults.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: defaults.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: defaults.logLevel,
        ...props.environment,
      },
    });
  }
}

/**
 * Lambda's application log filter for a relay log level. Powertools filters by
 * `POWERTOOLS_LOG_LEVEL` itself; Lambda's filter (JSON format, INFO when unset) must only never
 * be stricter than what should reach CloudWatch:
 * - DEBUG: Lambda would otherwise drop the Logger's DEBUG lines at its default INFO.
 * - WARN and ERROR: left unset. EMF metric documents carry no `level` key, which Lambda reads as
 *   INFO, so a WARN filter would drop every metric (and starve the alarms); and Powertools lets
 *   the Lambda level (`AWS_LAMBDA_LOG_LEVEL`) override its own, so an explicit INFO would turn
 *   the relay's WARN back into INFO.
 */
export function applicationLogLevel(level: LogLevel | `${LogLevel}`): ApplicationLogLevel | undefined {
  switch (level) {
    case 'DEBUG':
      return ApplicationLogLevel.DEBUG;
    case 'INFO':
      return ApplicationLogLevel.INFO;
    default:
      return undefined;
  }
}

/** Default memory (MB) and timeout per function. */
export const FUNCTION_DEFAULTS = {
  webhook: { memorySize: 256, timeout: Duration.seconds(10) },
  conversation: { memorySize: 256, timeout: Duration.seconds(60) },
  timer: { memorySize: 256, timeout: Duration.seconds(10) },
  // Room for a 25 s send (SEND_TIMEOUT_MS) after a batch's other sends; outbound visibility is 6 × this.
  delivery: { memorySize: 256, timeout: Duration.seconds(60) },
} as const;

/** Removal policy for log groups given the stack's data removal policy. */
export function logRemovalPolicy(removalPolicy: RemovalPolicy): RemovalPolicy {
  return removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
}
