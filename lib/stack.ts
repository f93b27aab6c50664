/**
 * `ChatRelayStack`: a deployable stack holding one `ChatRelay`, configured from `cdk.json`
 * context (`chatRelay:*` keys, also settable with `-c key=value`). Context values given on the
 * command line arrive as strings, so every key is coerced and validated; unknown `chatRelay:*`
 * keys are reported too (a typo must not silently fall back to a default).
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { DEFAULT_RATE_LIMITS, DEFAULTS } from '../lambdas/contracts/defaults.js';
import { ChatRelay } from './chat-relay.js';
import { addProblemsValidation, ValidationError } from './errors.js';
import { KnowledgeEmbeddingModel } from './knowledge.js';
import type { ChatRelayMonitoringThresholds } from './monitoring/index.js';
import { type ApiBaseUrls, type ChatRelayProps, LogLevel } from './props.js';
import { Responder } from './responder.js';

/** Prefix of every context key the stack reads. */
export const CONTEXT_PREFIX = 'chatRelay:';

const D = DEFAULTS;

/** Every context key, with what it sets (docs/deploy.md renders the same table); defaults from lambdas/contracts. */
export const CONTEXT_KEYS = {
  'chatRelay:stackName': 'Stack name (read by bin/app.ts). Default ChatRelay.',
  'chatRelay:secretPrefix': `secretPrefix (string). Default ${D.secretPrefix}.`,
  'chatRelay:namePrefix': 'namePrefix for queue/table names (string). Default: generated names.',
  'chatRelay:removalPolicy': 'retain | destroy (tables and log groups). Default retain.',
  'chatRelay:logRetentionDays':
    'Log retention in days (a CloudWatch Logs value: 1, 3, 5, 7, 14, 30, 60, 90…). Default 30.',
  'chatRelay:logLevel': `DEBUG | INFO | WARN | ERROR. Default ${D.logLevel}.`,
  'chatRelay:tracing': `X-Ray tracing (true | false). Default ${D.tracing}.`,
  'chatRelay:throttleRate': `API stage rate limit, requests/s. Default ${D.throttleRateLimit}.`,
  'chatRelay:throttleBurst': `API stage burst limit. Default ${D.throttleBurstLimit}.`,
  'chatRelay:maxBodyBytes': `Largest webhook body (bytes). Default ${D.maxBodyBytes}.`,
  'chatRelay:maxReceiveCount': `Receives before the DLQ: a number for all queues or an object; default ${JSON.stringify(D.maxReceiveCount)}.`,
  'chatRelay:debounceMs': `Debounce quiet time (ms). Default ${D.debounceMs}.`,
  'chatRelay:maxTurnWaitMs': `Turn wait cap (ms). Default ${D.maxTurnWaitMs}.`,
  'chatRelay:mediaTimeoutMs': `Media wait cap (ms). Default ${D.mediaTimeoutMs}.`,
  'chatRelay:historyTtlDays': `History retention (days). Default ${D.historyTtlDays}.`,
  'chatRelay:historyLimit': `History entries per turn. Default ${D.historyLimit}.`,
  'chatRelay:summaryEveryTurns': `Episode summary every K turns (0 = off). Default ${D.summaryEveryTurns}.`,
  'chatRelay:humanTakeoverMinutes': `Minutes a human agent reply pauses the bot (a tenant setting overrides it). Default ${D.humanTakeoverMinutes}.`,
  'chatRelay:sendFallbackOnFailure': `Send the fallback reply when a turn fails for good (true | false). Default ${D.sendFallbackOnFailure}.`,
  'chatRelay:responder':
    'bedrock | lambda | echo (Responder.bedrock(), Responder.lambda(fn), Responder.echo()). Default bedrock.',
  'chatRelay:bedrockModelId': `Bedrock model id, inference profile id or ARN. Default ${D.bedrockModelId}.`,
  'chatRelay:bedrockTimeoutSeconds': `Timeout of one Bedrock answer (s). Default ${D.bedrockTimeoutMs / 1000}.`,
  'chatRelay:responderFunctionArn': 'ARN of your responder function (required when responder is lambda).',
  'chatRelay:apiBaseUrls':
    'Outbound API bases: {"pancake","graph","telegram","zalo"} (object or JSON string). Default real hosts.',
  'chatRelay:graphApiVersion': `Meta Graph API version of Messenger, Instagram and WhatsApp calls. Default ${D.graphApiVersion}.`,
  'chatRelay:sendTimeoutSeconds': `Timeout of one platform send (s). Default ${D.sendTimeoutMs / 1000}.`,
  'chatRelay:typingDelay': `Typing delay before sends (true | false). Default ${D.typingDelay}.`,
  'chatRelay:rateLimits': `Send rates per second: ${JSON.stringify(DEFAULT_RATE_LIMITS)} (the defaults); give only the ones to change.`,
  'chatRelay:deliveryReservedConcurrency':
    'Reserved concurrency of the delivery function. Default unreserved.',
  'chatRelay:alarmEmail': 'E-mail subscribed to the alarm topic. Default none.',
  'chatRelay:media':
    'Media worker for voice notes and videos (true | false; deploying it needs Docker). Default true.',
  'chatRelay:mediaMinTasks': 'Fewest media worker tasks (0 = scale to zero). Default 0.',
  'chatRelay:mediaMaxTasks': 'Most media worker tasks. Default 2.',
  'chatRelay:mediaCpu': 'Media task CPU units (1024 = 1 vCPU). Default 1024.',
  'chatRelay:mediaMemoryMiB': 'Media task memory (MiB). Default 2048.',
  'chatRelay:whisperModel': 'whisper.cpp model baked into the image (base, small…). Default base.',
  'chatRelay:monitoring': 'Dashboard and alarms (true | false). Default true.',
  'chatRelay:knowledge':
    'Tenant knowledge base: Bedrock Knowledge Base over S3 Vectors (true | false). Default true with the bedrock responder, false otherwise.',
  'chatRelay:knowledgeEmbeddingModel':
    'Embedding model of the knowledge base: cohere-multilingual-v3 | titan-text-v2. Default cohere-multilingual-v3.',
  'chatRelay:toolMaxRounds': 'Most tenant-tool rounds in one bedrock answer (0–10). Default 3.',
  'chatRelay:alarmThresholds':
    'Alarm thresholds to change, JSON: numbers for dlqMessages, webhook5xxPercent, webhook4xxPercent, webhookMinRequests, signatureRejects, tokenInvalid, sendFailurePercent, sendMinParts, lambdaErrors, lambdaThrottles, mediaFailures; periodMinutes; oldestMessageAgeMinutes {queue: minutes}. Defaults in docs/metrics.md.',
} as const;

export type ContextKey = keyof typeof CONTEXT_KEYS;

/** Keys earlier versions read, with why they went (a stale cdk.json gets this rather than "not a setting"). */
const REMOVED_CONTEXT_KEYS: Readonly<Record<string, string>> = {
  'chatRelay:dedupTtlDays':
    'it had no effect: de-duplication is by the conversation state, see docs/conversation.md',
};

/** What the stack reads from context: the construct props and the extra stack settings. */
export interface ChatRelayContext {
  readonly props: ChatRelayProps;
  /**
   * Lambda responder ARN (resolved into an `IFunction` by the stack).
   * @default - not a lambda responder
   */
  readonly responderFunctionArn?: string;
  /**
   * `chatRelay:alarmEmail`.
   * @default - no e-mail subscription
   */
  readonly alarmEmail?: string;
  /** Problems found while coercing context values (each says the fix). */
  readonly problems: string[];
}

const RETENTION_VALUES = new Set<number>(
  Object.values(RetentionDays).filter((v): v is number => typeof v === 'number'),
);

/**
 * Reads and coerces every `chatRelay:*` context value. Pure: `context` is the node's full
 * context (`node.getAllContext()`).
 */
export function readChatRelayContext(context: Readonly<Record<string, unknown>>): ChatRelayContext {
  const problems: string[] = [];
  const fix = (key: string, example: string) => `Set it in cdk.json "context" or pass -c ${key}=${example}.`;
  const get = (key: ContextKey): unknown => {
    const v = context[key];
    return v === null || v === '' ? undefined : v;
  };
  const str = (key: ContextKey): string | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      problems.push(`Context ${key} must be a string; got ${JSON.stringify(v)}. ${fix(key, 'value')}`);
      return undefined;
    }
    return v;
  };
  const num = (key: ContextKey, example: string): number | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
    if (!Number.isFinite(n)) {
      problems.push(`Context ${key} must be a number; got ${JSON.stringify(v)}. ${fix(key, example)}`);
      return undefined;
    }
    return n;
  };
  const bool = (key: ContextKey): boolean | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (typeof v === 'boolean') return v;
    if (v === 'true') return true;
    if (v === 'false') return false;
    problems.push(`Context ${key} must be true or false; got ${JSON.stringify(v)}. ${fix(key, 'true')}`);
    return undefined;
  };
  const json = (key: ContextKey, example: string): unknown => {
    const v = get(key);
    if (typeof v !== 'string') return v;
    const trimmed = v.trim();
    if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return v;
    try {
      return JSON.parse(trimmed);
    } catch {
      problems.push(`Context ${key} is not valid JSON; got ${JSON.stringify(v)}. ${fix(key, example)}`);
      return undefined;
    }
  };
  const oneOf = <T extends string>(key: ContextKey, allowed: readonly T[]): T | undefined => {
    const v = str(key);
    if (v === undefined) return undefined;
    const match = allowed.find((a) => a.toLowerCase() === v.toLowerCase());
    if (!match) {
      problems.push(
        `Context ${key} must be one of ${allowed.join(', ')}; got ${JSON.stringify(v)}. ${fix(key, allowed[0] ?? '')}`,
      );
    }
    return match;
  };

  for (const key of Object.keys(context)) {
    if (key.startsWith(CONTEXT_PREFIX) && !(key in CONTEXT_KEYS)) {
      const why = REMOVED_CONTEXT_KEYS[key];
      if (why) {
        problems.push(`Context ${key} was removed (${why}). Remove it from cdk.json.`);
        continue;
      }
      problems.push(
        `Context ${key} is not a chat-relay setting. Known keys: ${Object.keys(CONTEXT_KEYS).join(', ')}. Fix the spelling or remove it.`,
      );
    }
  }

  const removal = oneOf('chatRelay:removalPolicy', ['retain', 'destroy'] as const);
  const retentionDays = num('chatRelay:logRetentionDays', '30');
  let logRetention: RetentionDays | undefined;
  if (retentionDays !== undefined) {
    if (RETENTION_VALUES.has(retentionDays)) logRetention = retentionDays as RetentionDays;
    else {
      problems.push(
        `Context chatRelay:logRetentionDays must be a CloudWatch Logs retention (${[...RETENTION_VALUES].sort((a, b) => a - b).join(', ')}); got ${retentionDays}. ${fix('chatRelay:logRetentionDays', '30')}`,
      );
    }
  }

  let maxReceiveCount: ChatRelayProps['maxReceiveCount'];
  const mrc = json('chatRelay:maxReceiveCount', '5');
  if (mrc !== undefined) {
    const asNum = typeof mrc === 'number' ? mrc : typeof mrc === 'string' ? Number(mrc) : Number.NaN;
    if (Number.isFinite(asNum)) maxReceiveCount = { inbound: asNum, timer: asNum, outbound: asNum };
    else if (typeof mrc === 'object' && mrc !== null && !Array.isArray(mrc)) {
      const o = mrc as Record<string, unknown>;
      const bad = Object.keys(o).filter(
        (k) => !['inbound', 'timer', 'outbound'].includes(k) || typeof o[k] !== 'number',
      );
      if (bad.length > 0) {
        problems.push(
          `Context chatRelay:maxReceiveCount may only hold numeric inbound, timer and outbound; got ${JSON.stringify(mrc)}. ${fix('chatRelay:maxReceiveCount', '\'{"inbound":5}\'')}`,
        );
      } else maxReceiveCount = o as ChatRelayProps['maxReceiveCount'];
    } else {
      problems.push(
        `Context chatRelay:maxReceiveCount must be a number or an object; got ${JSON.stringify(mrc)}. ${fix('chatRelay:maxReceiveCount', '5')}`,
      );
    }
  }

  let apiBaseUrls: ApiBaseUrls | undefined;
  const urls = json('chatRelay:apiBaseUrls', '\'{"telegram":"https://tg.example.com"}\'');
  if (urls !== undefined) {
    if (typeof urls === 'object' && urls !== null && !Array.isArray(urls)) {
      const o = urls as Record<string, unknown>;
      const bad = Object.keys(o).filter(
        (k) => !['pancake', 'graph', 'telegram', 'zalo'].includes(k) || typeof o[k] !== 'string',
      );
      if (bad.length > 0) {
        problems.push(
          `Context chatRelay:apiBaseUrls may only hold string pancake, graph, telegram and zalo URLs; got ${JSON.stringify(urls)}. ${fix('chatRelay:apiBaseUrls', '\'{"telegram":"https://tg.example.com"}\'')}`,
        );
      } else apiBaseUrls = o as ApiBaseUrls;
    } else {
      problems.push(
        `Context chatRelay:apiBaseUrls must be an object of URLs; got ${JSON.stringify(urls)}. ${fix('chatRelay:apiBaseUrls', '\'{"telegram":"https://tg.example.com"}\'')}`,
      );
    }
  }

  const responderType = oneOf('chatRelay:responder', ['bedrock', 'lambda', 'echo'] as const);
  const bedrockModelId = str('chatRelay:bedrockModelId');
  const bedrockTimeout = num('chatRelay:bedrockTimeoutSeconds', '20');
  const responderFunctionArn = str('chatRelay:responderFunctionArn');
  let responder: Responder | undefined;
  if (responderType === 'bedrock' || (responderType === undefined && (bedrockModelId || bedrockTimeout))) {
    responder = Responder.bedrock({
      ...(bedrockModelId !== undefined ? { modelId: bedrockModelId } : {}),
      ...(bedrockTimeout !== undefined
        ? { timeout: Duration.millis(Math.round(bedrockTimeout * 1000)) }
        : {}),
    });
  } else if (responderType === 'echo') {
    responder = Responder.echo();
  }
  if (responderType === 'lambda' && !responderFunctionArn) {
    problems.push(
      `Context chatRelay:responderFunctionArn is required when chatRelay:responder is "lambda"; got none. ${fix('chatRelay:responderFunctionArn', 'arn:aws:lambda:REGION:ACCOUNT:function:NAME')}`,
    );
  }
  if (
    responderFunctionArn &&
    !/^arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$/.test(
      responderFunctionArn,
    )
  ) {
    problems.push(
      `Context chatRelay:responderFunctionArn must be a Lambda function ARN; got ${JSON.stringify(responderFunctionArn)}. ${fix('chatRelay:responderFunctionArn', 'arn:aws:lambda:REGION:ACCOUNT:function:NAME')}`,
    );
  }
  if (responderFunctionArn && responderType !== 'lambda') {
    problems.push(
      `Context chatRelay:responderFunctionArn is set but chatRelay:responder is ${JSON.stringify(responderType ?? 'bedrock')}. Set chatRelay:responder to "lambda" or remove chatRelay:responderFunctionArn.`,
    );
  }

  const alarmEmail = str('chatRelay:alarmEmail');
  if (alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail)) {
    problems.push(
      `Context chatRelay:alarmEmail must be an e-mail address; got ${JSON.stringify(alarmEmail)}. ${fix('chatRelay:alarmEmail', 'ops@example.com')}`,
    );
  }

  const NUMERIC_THRESHOLDS = [
    'dlqMessages',
    'webhook5xxPercent',
    'webhook4xxPercent',
    'webhookMinRequests',
    'signatureRejects',
    'tokenInvalid',
    'sendFailurePercent',
    'sendMinParts',
    'lambdaErrors',
    'lambdaThrottles',
    'mediaFailures',
  ];
  const thresholdsOf = (value: unknown): ChatRelayMonitoringThresholds | undefined => {
    if (value === undefined) return undefined;
    const example = '\'{"dlqMessages":1,"periodMinutes":5}\'';
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(
        `Context chatRelay:alarmThresholds must be an object; got ${JSON.stringify(value)}. ${fix('chatRelay:alarmThresholds', example)}`,
      );
      return undefined;
    }
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (NUMERIC_THRESHOLDS.includes(key) && typeof v === 'number') out[key] = v;
      else if (key === 'periodMinutes' && typeof v === 'number') out.period = Duration.minutes(v);
      else if (
        key === 'oldestMessageAgeMinutes' &&
        typeof v === 'object' &&
        v !== null &&
        !Array.isArray(v)
      ) {
        const ages: Record<string, Duration> = {};
        for (const [queue, minutes] of Object.entries(v)) {
          if (typeof minutes === 'number') ages[queue] = Duration.minutes(minutes);
          else
            problems.push(
              `Context chatRelay:alarmThresholds.oldestMessageAgeMinutes.${queue} must be a number of minutes; got ${JSON.stringify(minutes)}. ${fix('chatRelay:alarmThresholds', example)}`,
            );
        }
        out.oldestMessageAge = ages;
      } else {
        problems.push(
          `Context chatRelay:alarmThresholds.${key} is not a threshold (or not a number); the keys are ${[...NUMERIC_THRESHOLDS, 'periodMinutes', 'oldestMessageAgeMinutes'].join(', ')}. ${fix('chatRelay:alarmThresholds', example)}`,
        );
      }
    }
    return out as ChatRelayMonitoringThresholds;
  };
  const rateLimitsOf = (value: unknown): ChatRelayProps['rateLimits'] => {
    if (value === undefined) return undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(
        `Context chatRelay:rateLimits must be an object of rates; got ${JSON.stringify(value)}. ${fix('chatRelay:rateLimits', '\'{"pancakePage":3}\'')}`,
      );
      return undefined;
    }
    return value as ChatRelayProps['rateLimits'];
  };

  const days = (key: ContextKey) => {
    const n = num(key, '7');
    return n === undefined ? undefined : Duration.hours(Math.round(n * 24));
  };
  const secs = (key: ContextKey, example: string) => {
    const n = num(key, example);
    return n === undefined ? undefined : Duration.millis(Math.round(n * 1000));
  };
  const sendTimeout = secs('chatRelay:sendTimeoutSeconds', '10');

  const mediaEnabled = bool('chatRelay:media');
  const mediaOptions = Object.fromEntries(
    Object.entries({
      minTasks: num('chatRelay:mediaMinTasks', '0'),
      maxTasks: num('chatRelay:mediaMaxTasks', '2'),
      cpu: num('chatRelay:mediaCpu', '1024'),
      memoryLimitMiB: num('chatRelay:mediaMemoryMiB', '2048'),
      whisperModel: str('chatRelay:whisperModel'),
    }).filter(([, v]) => v !== undefined),
  );
  const knowledgeEnabled = bool('chatRelay:knowledge');
  const embedding = oneOf('chatRelay:knowledgeEmbeddingModel', [
    'cohere-multilingual-v3',
    'titan-text-v2',
  ] as const);
  const knowledgeSettings =
    embedding === undefined
      ? {}
      : {
          embeddingModel:
            embedding === 'titan-text-v2'
              ? KnowledgeEmbeddingModel.TITAN_TEXT_EMBEDDINGS_V2
              : KnowledgeEmbeddingModel.COHERE_EMBED_MULTILINGUAL_V3,
        };
  const monitoringEnabled = bool('chatRelay:monitoring');
  const thresholds = thresholdsOf(json('chatRelay:alarmThresholds', '\'{"dlqMessages":1}\''));
  const monitoringSettings = {
    ...(alarmEmail !== undefined ? { alarmEmail } : {}),
    ...(thresholds !== undefined ? { thresholds } : {}),
  };

  const props: ChatRelayProps = {
    media:
      mediaEnabled === false
        ? { enabled: false }
        : Object.keys(mediaOptions).length > 0
          ? mediaOptions
          : undefined,
    monitoring:
      monitoringEnabled === false
        ? { enabled: false }
        : Object.keys(monitoringSettings).length > 0
          ? monitoringSettings
          : undefined,
    knowledge:
      knowledgeEnabled === undefined && embedding === undefined
        ? undefined
        : {
            ...(knowledgeEnabled !== undefined ? { enabled: knowledgeEnabled } : {}),
            ...knowledgeSettings,
          },
    toolMaxRounds: num('chatRelay:toolMaxRounds', '3'),
    secretPrefix: str('chatRelay:secretPrefix'),
    namePrefix: str('chatRelay:namePrefix'),
    removalPolicy:
      removal === undefined
        ? undefined
        : removal === 'destroy'
          ? RemovalPolicy.DESTROY
          : RemovalPolicy.RETAIN,
    logRetention,
    logLevel: oneOf('chatRelay:logLevel', Object.values(LogLevel)),
    tracing: bool('chatRelay:tracing'),
    throttleRateLimit: num('chatRelay:throttleRate', '100'),
    throttleBurstLimit: num('chatRelay:throttleBurst', '200'),
    maxBodyBytes: num('chatRelay:maxBodyBytes', '1048576'),
    maxReceiveCount,
    debounceMs: num('chatRelay:debounceMs', '2500'),
    maxTurnWaitMs: num('chatRelay:maxTurnWaitMs', '15000'),
    mediaTimeoutMs: num('chatRelay:mediaTimeoutMs', '120000'),
    historyTtl: days('chatRelay:historyTtlDays'),
    historyLimit: num('chatRelay:historyLimit', '20'),
    summaryEveryTurns: num('chatRelay:summaryEveryTurns', '10'),
    sendFallbackOnFailure: bool('chatRelay:sendFallbackOnFailure'),
    humanTakeoverMinutes: num('chatRelay:humanTakeoverMinutes', '30'),
    responder,
    apiBaseUrls,
    graphApiVersion: str('chatRelay:graphApiVersion'),
    sendTimeout,
    typingDelay: bool('chatRelay:typingDelay'),
    rateLimits: rateLimitsOf(json('chatRelay:rateLimits', '\'{"pancakePage":3}\'')),
    deliveryReservedConcurrency: num('chatRelay:deliveryReservedConcurrency', '10'),
  };
  str('chatRelay:stackName');
  return {
    props,
    responderFunctionArn: responderType === 'lambda' ? responderFunctionArn : undefined,
    alarmEmail,
    problems,
  };
}

/** Properties of {@link ChatRelayStack}. */
export interface ChatRelayStackProps extends StackProps {
  /**
   * Props for the relay; each one given here wins over its `chatRelay:*` context value.
   * @default - everything from context
   */
  readonly relay?: ChatRelayProps;
}

/** A stack with one ChatRelay, configured from `cdk.json` context. */
export class ChatRelayStack extends Stack {
  /** The relay. */
  public readonly relay: ChatRelay;
  /** `chatRelay:alarmEmail`, for the monitoring construct. */
  public readonly alarmEmail?: string;

  constructor(scope: Construct, id: string, props: ChatRelayStackProps = {}) {
    super(scope, id, {
      description: 'chat-relay: chat-platform webhooks answered by AI in your own AWS account',
      ...props,
    });
    const ctx = readChatRelayContext(this.node.getAllContext());
    const fromContext: ChatRelayProps = { ...ctx.props };
    let responder = fromContext.responder;
    if (ctx.responderFunctionArn && ctx.problems.length === 0) {
      responder = Responder.lambda(
        LambdaFunction.fromFunctionArn(this, 'ResponderFunction', ctx.responderFunctionArn),
      );
    }
    const defined = Object.fromEntries(
      Object.entries({ ...fromContext, responder }).filter(([, v]) => v !== undefined),
    ) as ChatRelayProps;
    const relayProps: ChatRelayProps = { ...defined, ...props.relay };
    // Context problems are reported at synth with the relay's own (node.addValidation), all at once.
    addProblemsValidation(this, ctx.problems);
    this.alarmEmail = ctx.alarmEmail;

    try {
      this.relay = new ChatRelay(this, 'Relay', relayProps);
    } catch (error) {
      if (ctx.problems.length === 0) throw error;
      const relayProblems = error instanceof ValidationError ? error.problems : [];
      throw new ValidationError('Invalid chat-relay context', [...ctx.problems, ...relayProblems], this);
    }
    // Stable output keys for the tenant CLI and for people reading `cdk deploy` output.
    this.relay.webhookBaseUrlOutput.overrideLogicalId('WebhookBaseUrl');
    new CfnOutput(this, 'TenantSecretPrefix', {
      description: 'Tenant secrets are {prefix}/tenants/{tenantId} in Secrets Manager.',
      value: this.relay.secretPrefix,
    });
    new CfnOutput(this, 'InboundDlqName', { value: this.relay.inboundDlq.queueName });
    new CfnOutput(this, 'OutboundDlqName', { value: this.relay.outboundDlq.queueName });
    new CfnOutput(this, 'MemoryTableName', { value: this.relay.memoryTable.tableName });
    // The tenant CLI's `knowledge` verbs read these three.
    const knowledge = this.relay.knowledge;
    if (knowledge) {
      new CfnOutput(this, 'KnowledgeBaseId', { value: knowledge.knowledgeBaseId });
      new CfnOutput(this, 'KnowledgeDataSourceId', { value: knowledge.dataSourceId });
      new CfnOutput(this, 'KnowledgeBucketName', {
        description: 'Tenant documents go under knowledge/{tenantId}/ (npm run tenant -- knowledge add).',
        value: knowledge.bucket.bucketName,
      });
    }
  }
}
