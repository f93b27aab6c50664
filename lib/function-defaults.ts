/**
 * The shared NodejsFunction defaults for every chat-relay Lambda: Node.js 22 on arm64, bundled
 * locally by esbuild (no Docker), minified with source maps, AWS SDK v3 left to the runtime, an
 * explicit log group with retention, and the Powertools environment.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../lambdas/shared/metrics-catalogue.js';

/** The repository root (this file lives in `lib/`). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Absolute path of a Lambda entry under `lambdas/handlers/`. */
export function handlerEntry(name: 'webhook' | 'conversation' | 'timer' | 'delivery' | string): string {
  return join(PROJECT_ROOT, 'lambdas', 'handlers', `${name}.ts`);
}

/** Powertools log levels accepted by `POWERTOOLS_LOG_LEVEL`. */
export type RelayLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** Settings shared by every function of one ChatRelay. */
export interface RelayFunctionDefaults {
  /** Retention of each function's log group. */
  readonly logRetention: RetentionDays;
  /** What happens to the log groups when the stack is deleted. */
  readonly logRemovalPolicy: RemovalPolicy;
  /** `POWERTOOLS_LOG_LEVEL`. */
  readonly logLevel: RelayLogLevel;
  /** `POWERTOOLS_SERVICE_NAME`; also the `service` dimension of every metric. */
  readonly serviceName: string;
  /** X-Ray active tracing. */
  readonly tracing: boolean;
}

/** One function's own settings. */
export interface RelayFunctionProps {
  /** Handler file name under `lambdas/handlers/` (without `.ts`), or an absolute entry path. */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  /** Resource names and tuning values only — never a token. */
  readonly environment: Readonly<Record<string, string>>;
  readonly reservedConcurrentExecutions?: number;
}

/**
 * A chat-relay Lambda function with its own log group. The function and its log group are
 * children of one construct so that both can be found (and nag-acknowledged) together.
 */
export class RelayFunction extends Construct {
  /** The Lambda function. */
  public readonly function: NodejsFunction;
  /** Its log group (explicit, with retention). */
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, defaults: RelayFunctionDefaults, props: RelayFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: defaults.logRetention,
      removalPolicy: defaults.logRemovalPolicy,
    });
    const entry = props.entry.endsWith('.ts') ? props.entry : handlerEntry(props.entry);
    this.function = new NodejsFunction(this, 'Function', {
      entry,
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      tracing: defaults.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: defaults.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: defaults.logLevel,
        ...props.environment,
      },
      bundling: {
        // Local esbuild from node_modules; bundling must never need Docker.
        forceDockerBundling: false,
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        target: 'node22',
        // CJS: Powertools ships CJS builds and CJS needs no createRequire banner.
        format: OutputFormat.CJS,
        mainFields: ['module', 'main'],
        // The nodejs22.x runtime ships AWS SDK v3.
        externalModules: ['@aws-sdk/*'],
        tsconfig: join(PROJECT_ROOT, 'tsconfig.json'),
      },
    });
  }
}

/** Default memory (MB) and timeout per function. */
export const FUNCTION_DEFAULTS = {
  webhook: { memorySize: 256, timeout: Duration.seconds(10) },
  conversation: { memorySize: 256, timeout: Duration.seconds(60) },
  timer: { memorySize: 256, timeout: Duration.seconds(10) },
  delivery: { memorySize: 256, timeout: Duration.seconds(30) },
} as const;

/** Removal policy for log groups given the stack's data removal policy. */
export function logRemovalPolicy(removalPolicy: RemovalPolicy): RemovalPolicy {
  return removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
}
