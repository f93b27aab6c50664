/**
 * `ChatRelay`: the whole relay as one construct. A minimal deployment is
 * `new ChatRelay(this, 'Relay')`. The constructor resolves defaults, validates the props
 * (every problem at once), then builds the sub-constructs: storage, queues, ingest,
 * conversation, delivery. Media (`ChatRelayMedia`) and monitoring (`ChatRelayMonitoring`)
 * attach to the public resources below.
 */
import { CfnOutput, type Duration, Stack } from 'aws-cdk-lib';
import type { HttpApi, HttpRoute, HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { IMetric, Metric, MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { Grant, IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { IQueue, Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CHANNELS, isChannelName } from '../lambdas/contracts/channels.js';
import { DEFAULT_MEDIA_SERVICE_NAME } from '../lambdas/contracts/defaults.js';
import { ENV } from '../lambdas/contracts/env.js';
import type { MetricName } from '../lambdas/contracts/metrics.js';
import { TENANT_ID_PATTERN } from '../lambdas/contracts/tenant.js';
import { RelayConversation } from './conversation.js';
import { RelayDelivery } from './delivery.js';
import { addProblemsValidation, ChatRelayPropsError } from './errors.js';
import {
  FUNCTION_DEFAULTS,
  logRemovalPolicy,
  type RelayFunction,
  type RelayFunctionDefaults,
} from './function-defaults.js';
import { RelayIngest } from './ingest.js';
import {
  ChatRelayKnowledge,
  type ChatRelayKnowledgeProps,
  KNOWLEDGE_SETTINGS_VALIDATED,
} from './knowledge.js';
import { ChatRelayMedia } from './media.js';
import {
  type ChatRelayMetricOptions,
  ChatRelayMonitoring,
  chatRelayChannelMetric,
  chatRelayMetric,
  chatRelayMetricTotal,
  validateMonitoringSettings,
  withMetricOptions,
} from './monitoring/index.js';

/**
 * Dashboard and alarm name prefix: `{stack}-chat-relay` for the usual construct id `Relay`,
 * `{stack}-{id}-chat-relay` otherwise, so two relays in one stack never share a name.
 */
function defaultMonitoringName(stackName: string, id: string): string {
  const safeId = id.replace(/[^A-Za-z0-9_-]/g, '');
  return id === 'Relay' ? `${stackName}-chat-relay` : `${stackName}-${safeId}-chat-relay`;
}

import { acknowledge, acknowledgeRelayFindings, iam5ResourceId, NAG_REASONS } from './nag.js';
import {
  CHAT_RELAY_DEFAULTS,
  type ChatRelayProps,
  isEnabled,
  isKnowledgeEnabled,
  validateChatRelayProps,
} from './props.js';
import { RelayQueues } from './queues.js';
import { Responder, ResponderType } from './responder.js';
import { RelayStorage } from './storage.js';
import {
  grantTenantSecretsRead,
  grantTenantSecretsWrite,
  tenantSecretsArnPattern,
} from './tenant-secrets.js';

export type { ChatRelayProps } from './props.js';

/** A dead-letter queue of the relay (for {@link ChatRelay.metricDlqDepth}). */
export enum DlqName {
  /** inbound.fifo's DLQ: turns that failed for good. */
  INBOUND = 'inbound',
  /** The timer queue's DLQ. */
  TIMER = 'timer',
  /** outbound.fifo's DLQ: reply parts that could not be delivered. */
  OUTBOUND = 'outbound',
  /** The media jobs' DLQ (only when media is on). */
  MEDIA_JOBS = 'mediaJobs',
}

/** The chat-relay construct: webhooks in, answered conversations out. */
export class ChatRelay extends Construct {
  // Ingest
  /** The webhook HTTP API. */
  public readonly api: HttpApi;
  /** Its `$default` stage (throttling, access logs). */
  public readonly stage: HttpStage;
  /** The `GET` and `POST /webhooks/{channel}/{tenantId}` routes. */
  public readonly routes: HttpRoute[];
  /** API access logs (JSON; never the path with its query, headers or body). */
  public readonly accessLogGroup: LogGroup;
  /** `https://…/webhooks`: a platform's URL is `{webhookBaseUrl}/{channel}/{tenantId}`. */
  public readonly webhookBaseUrl: string;
  /** The `WebhookBaseUrl` output. */
  public readonly webhookBaseUrlOutput: CfnOutput;
  // Functions
  /** The webhook function (behind the HTTP API). */
  public readonly webhookFunction: LambdaFunction;
  /** The conversation actor (consumes inbound.fifo). */
  public readonly conversationFunction: LambdaFunction;
  /** The debounce timer (consumes the timer queue). */
  public readonly timerFunction: LambdaFunction;
  /** The delivery function (consumes outbound.fifo). */
  public readonly deliveryFunction: LambdaFunction;
  public readonly webhookLogGroup: LogGroup;
  public readonly conversationLogGroup: LogGroup;
  public readonly timerLogGroup: LogGroup;
  public readonly deliveryLogGroup: LogGroup;
  // Queues
  public readonly inboundQueue: Queue;
  public readonly inboundDlq: Queue;
  public readonly timerQueue: Queue;
  public readonly timerDlq: Queue;
  public readonly outboundQueue: Queue;
  public readonly outboundDlq: Queue;
  // Table
  public readonly memoryTable: Table;
  // Settings other constructs (media, monitoring, CLIs) need
  /** Tenant secrets live at `{secretPrefix}/tenants/{tenantId}`. */
  public readonly secretPrefix: string;
  /** The ARN pattern of the tenant secrets (`…:secret:{prefix}/tenants/*`). */
  public readonly tenantSecretsArn: string;
  /** The responder in use. */
  public readonly responder: Responder;
  /** The customer-managed key of the queues, tables and media bucket, when one was given. */
  public readonly encryptionKey?: IKey;
  /** `POWERTOOLS_SERVICE_NAME` of the functions: the `service` dimension of their metrics. */
  public readonly serviceName: string;
  /** Shared function defaults (runtime settings, log retention), for sub-constructs added later. */
  private readonly functionDefaults: RelayFunctionDefaults;
  /** The conversation sub-construct (media wiring calls `addMediaJobsQueue`). */
  private readonly conversation: RelayConversation;
  // Media and monitoring (undefined when turned off with `media: { enabled: false }` / `monitoring: { enabled: false }`)
  /** The media worker, its jobs queue and bucket. */
  public readonly media?: ChatRelayMedia;
  /** The dashboard, the alarms and their SNS topic. */
  public readonly monitoring?: ChatRelayMonitoring;
  /**
   * The tenants' knowledge base (undefined when off: `knowledge: { enabled: false }`, or a
   * `lambda`/`echo` responder without `knowledge: { enabled: true }`).
   */
  public readonly knowledge?: ChatRelayKnowledge;

  constructor(scope: Construct, id: string, props: ChatRelayProps = {}) {
    super(scope, id);
    const problems = validateChatRelayProps(props);
    const serviceName = props.serviceName ?? CHAT_RELAY_DEFAULTS.serviceName;
    const mediaOn = isEnabled(props.media);
    const monitoringOn = isEnabled(props.monitoring);
    const monitoringName = monitoringOn
      ? (props.monitoring?.namePrefix ?? defaultMonitoringName(Stack.of(scope).stackName, id))
      : undefined;
    if (monitoringOn && monitoringName !== undefined) {
      // Monitoring settings are reported together with the relay's own, all at once.
      problems.push(
        ...validateMonitoringSettings(props.monitoring ?? {}, {
          queueKeys: ['inbound', 'timer', 'outbound', ...(mediaOn ? ['mediaJobs'] : [])],
          namePrefix: monitoringName,
          serviceName,
          mediaServiceName: DEFAULT_MEDIA_SERVICE_NAME,
        }).map((p: string) => `monitoring.${p}`),
      );
    }
    // Every problem is reported at synth (node.addValidation), all at once, with the construct path.
    addProblemsValidation(this, problems);
    try {
      const d = CHAT_RELAY_DEFAULTS;
      const removalPolicy = props.removalPolicy ?? d.removalPolicy;
      this.secretPrefix = props.secretPrefix ?? d.secretPrefix;
      this.responder = props.responder instanceof Responder ? props.responder : Responder.bedrock();
      if (props.encryptionKey) this.encryptionKey = props.encryptionKey;
      const sizing = (key: keyof typeof FUNCTION_DEFAULTS): { memorySize: number; timeout: Duration } => ({
        memorySize: props.functions?.[key]?.memorySize ?? FUNCTION_DEFAULTS[key].memorySize,
        timeout: props.functions?.[key]?.timeout ?? FUNCTION_DEFAULTS[key].timeout,
      });
      this.serviceName = props.serviceName ?? d.serviceName;
      this.functionDefaults = {
        logRetention: props.logRetention ?? d.logRetention,
        logRemovalPolicy: logRemovalPolicy(removalPolicy),
        logLevel: props.logLevel ?? d.logLevel,
        serviceName: props.serviceName ?? d.serviceName,
        tracing: props.tracing ?? d.tracing,
      };

      const storage = new RelayStorage(this, 'Storage', {
        removalPolicy,
        namePrefix: props.namePrefix,
        encryptionKey: props.encryptionKey,
      });
      this.memoryTable = storage.memoryTable;

      const queues = new RelayQueues(this, 'Queues', {
        namePrefix: props.namePrefix,
        encryptionKey: props.encryptionKey,
        maxReceiveCount: {
          inbound: props.maxReceiveCount?.inbound ?? d.maxReceiveCount.inbound,
          timer: props.maxReceiveCount?.timer ?? d.maxReceiveCount.timer,
          outbound: props.maxReceiveCount?.outbound ?? d.maxReceiveCount.outbound,
        },
        consumerTimeouts: {
          inbound: sizing('conversation').timeout,
          timer: sizing('timer').timeout,
          outbound: sizing('delivery').timeout,
        },
      });
      this.inboundQueue = queues.inbound.queue;
      this.inboundDlq = queues.inbound.deadLetterQueue;
      this.timerQueue = queues.timer.queue;
      this.timerDlq = queues.timer.deadLetterQueue;
      this.outboundQueue = queues.outbound.queue;
      this.outboundDlq = queues.outbound.deadLetterQueue;

      // Environment shared by the functions that read tenant secrets.
      const tenantEnv = {
        [ENV.tenantSecretPrefix]: this.secretPrefix,
        [ENV.tenantCacheSeconds]: String((props.tenantCacheTtl ?? d.tenantCacheTtl).toSeconds()),
      };
      const apiEnv: Record<string, string> = {};
      const urls = props.apiBaseUrls ?? {};
      if (urls.pancake) apiEnv[ENV.pancakeApiBase] = urls.pancake;
      if (urls.graph) apiEnv[ENV.graphApiBase] = urls.graph;
      if (urls.telegram) apiEnv[ENV.telegramApiBase] = urls.telegram;
      if (urls.zalo) apiEnv[ENV.zaloApiBase] = urls.zalo;
      // The conversation (typing indicators), delivery and the media worker call the Graph API.
      const graphApiVersion = props.graphApiVersion ?? d.graphApiVersion;
      apiEnv[ENV.graphApiVersion] = graphApiVersion;
      const sendTimeoutMs = String((props.sendTimeout ?? d.sendTimeout).toMilliseconds());

      const ingest = new RelayIngest(this, 'Ingest', {
        functionDefaults: this.functionDefaults,
        inboundQueue: this.inboundQueue,
        environment: {
          ...tenantEnv,
          [ENV.maxBodyBytes]: String(props.maxBodyBytes ?? d.maxBodyBytes),
          [ENV.enqueueBudgetMs]: String((props.enqueueBudget ?? d.enqueueBudget).toMilliseconds()),
        },
        ...sizing('webhook'),
        throttleRateLimit: props.throttleRateLimit ?? d.throttleRateLimit,
        throttleBurstLimit: props.throttleBurstLimit ?? d.throttleBurstLimit,
        logRetention: this.functionDefaults.logRetention,
        logRemovalPolicy: this.functionDefaults.logRemovalPolicy,
      });
      this.api = ingest.api;
      this.stage = ingest.stage;
      this.routes = ingest.routes;
      this.accessLogGroup = ingest.accessLogGroup;
      this.webhookBaseUrl = ingest.webhookBaseUrl;
      this.webhookBaseUrlOutput = ingest.webhookBaseUrlOutput;

      this.conversation = new RelayConversation(this, 'Conversation', {
        functionDefaults: this.functionDefaults,
        inboundQueue: this.inboundQueue,
        inboundDlq: this.inboundDlq,
        timerQueue: this.timerQueue,
        outboundQueue: this.outboundQueue,
        memoryTable: this.memoryTable,
        responder: this.responder,
        bedrockModelId: this.responder.modelId ?? d.bedrockModelId,
        bedrockTimeout: this.responder.timeout ?? d.bedrockTimeout,
        environment: {
          ...tenantEnv,
          ...apiEnv,
          // Typing indicators are sent at flush start.
          [ENV.sendTimeoutMs]: sendTimeoutMs,
          [ENV.debounceMs]: String(props.debounceMs ?? d.debounceMs),
          [ENV.maxTurnWaitMs]: String(props.maxTurnWaitMs ?? d.maxTurnWaitMs),
          [ENV.mediaTimeoutMs]: String(props.mediaTimeoutMs ?? d.mediaTimeoutMs),
          [ENV.historyTtlDays]: String((props.historyTtl ?? d.historyTtl).toDays()),
          [ENV.historyLimit]: String(props.historyLimit ?? d.historyLimit),
          [ENV.summaryEveryTurns]: String(props.summaryEveryTurns ?? d.summaryEveryTurns),
          [ENV.maxReceiveCount]: String(queues.inbound.maxReceiveCount),
          [ENV.sendFallbackOnFailure]: String(props.sendFallbackOnFailure ?? d.sendFallbackOnFailure),
          [ENV.humanTakeoverMinutes]: String(props.humanTakeoverMinutes ?? d.humanTakeoverMinutes),
        },
        conversation: sizing('conversation'),
        timer: sizing('timer'),
      });

      const delivery = new RelayDelivery(this, 'Delivery', {
        functionDefaults: this.functionDefaults,
        outboundQueue: this.outboundQueue,
        memoryTable: this.memoryTable,
        environment: {
          ...tenantEnv,
          ...apiEnv,
          [ENV.sendTimeoutMs]: sendTimeoutMs,
          [ENV.typingDelay]: String(props.typingDelay ?? d.typingDelay),
          ...(props.rateLimits && Object.keys(props.rateLimits).length > 0
            ? { [ENV.rateLimits]: JSON.stringify(props.rateLimits) }
            : {}),
          [ENV.maxReceiveCount]: String(queues.outbound.maxReceiveCount),
        },
        ...sizing('delivery'),
        reservedConcurrency: props.deliveryReservedConcurrency,
      });

      const functions: Record<'webhook' | 'conversation' | 'timer' | 'delivery', RelayFunction> = {
        webhook: ingest.webhook,
        conversation: this.conversation.conversation,
        timer: this.conversation.timer,
        delivery: delivery.delivery,
      };
      this.webhookFunction = functions.webhook.function;
      this.conversationFunction = functions.conversation.function;
      this.timerFunction = functions.timer.function;
      this.deliveryFunction = functions.delivery.function;
      this.webhookLogGroup = functions.webhook.logGroup;
      this.conversationLogGroup = functions.conversation.logGroup;
      this.timerLogGroup = functions.timer.logGroup;
      this.deliveryLogGroup = functions.delivery.logGroup;

      this.tenantSecretsArn = tenantSecretsArnPattern(this, this.secretPrefix);
      for (const fn of [this.webhookFunction, this.conversationFunction, this.deliveryFunction]) {
        this.grantTenantSecretsRead(fn);
      }
      // Only delivery writes: it stores the Zalo token pair it refreshed.
      grantTenantSecretsWrite(this, this.deliveryFunction, this.secretPrefix);

      acknowledgeRelayFindings({
        allFunctions: [
          this.webhookFunction,
          this.conversationFunction,
          this.timerFunction,
          this.deliveryFunction,
        ],
        secretReaders: [this.webhookFunction, this.conversationFunction, this.deliveryFunction],
        tenantSecretsArn: this.tenantSecretsArn,
        routes: ingest.routes,
        tracing: this.functionDefaults.tracing,
        conversationFunction: this.conversationFunction,
        bedrockRoutedArns: this.conversation.bedrockRoutedModelArns,
        ...(props.encryptionKey
          ? {
              keyUsers: [
                this.webhookFunction,
                this.conversationFunction,
                this.timerFunction,
                this.deliveryFunction,
              ].map((fn) => fn.role ?? fn),
            }
          : {}),
        responderFunctionArn:
          this.responder.type === ResponderType.LAMBDA
            ? this.responder.lambdaFunction?.functionArn
            : undefined,
      });

      if (this.responder.type === ResponderType.BEDROCK) {
        this.conversationFunction.addEnvironment(
          ENV.toolMaxRounds,
          String(props.toolMaxRounds ?? d.toolMaxRounds),
        );
      }
      if (isKnowledgeEnabled(props)) {
        const { enabled: _enabled, ...knowledgeSettings } = props.knowledge ?? {};
        const knowledgeProps: ChatRelayKnowledgeProps & { [KNOWLEDGE_SETTINGS_VALIDATED]: boolean } = {
          ...knowledgeSettings,
          // validateChatRelayProps has reported these settings already (as knowledge.…).
          [KNOWLEDGE_SETTINGS_VALIDATED]: true,
          removalPolicy,
          ...(props.encryptionKey ? { encryptionKey: props.encryptionKey } : {}),
        };
        this.knowledge = new ChatRelayKnowledge(this, 'Knowledge', knowledgeProps);
        this.conversationFunction.addEnvironment(ENV.knowledgeBaseId, this.knowledge.knowledgeBaseId);
        this.knowledge.grantRetrieve(this.conversationFunction);
      }
      for (const fn of props.toolFunctions ?? []) this.grantToolInvoke(fn);

      if (mediaOn) {
        const { enabled: _enabled, ...mediaOptions } = props.media ?? {};
        this.media = new ChatRelayMedia(this, 'Media', {
          removalPolicy,
          logRetention: this.functionDefaults.logRetention,
          ...(props.namePrefix ? { queueNamePrefix: props.namePrefix } : {}),
          ...mediaOptions,
          environment: { [ENV.graphApiVersion]: graphApiVersion, ...mediaOptions.environment },
          inboundQueue: this.inboundQueue,
          memoryTable: this.memoryTable,
          secretPrefix: this.secretPrefix,
          ...(props.encryptionKey ? { encryptionKey: props.encryptionKey } : {}),
        });
        this.conversation.addMediaJobsQueue(this.media.jobsQueue);
        // Keyframes reach the responder (Bedrock image blocks) as S3 objects under media/.
        this.conversationFunction.addEnvironment(ENV.mediaBucket, this.media.bucket.bucketName);
        this.media.grantReadMedia(this.conversationFunction);
      }

      if (monitoringOn && monitoringName !== undefined) {
        const { enabled: _enabled, ...monitoringOptions } = props.monitoring ?? {};
        this.monitoring = new ChatRelayMonitoring(this, 'Monitoring', {
          ...monitoringOptions,
          namePrefix: monitoringName,
          api: this.api,
          stage: this.stage,
          functions: {
            webhook: this.webhookFunction,
            conversation: this.conversationFunction,
            timer: this.timerFunction,
            delivery: this.deliveryFunction,
          },
          queues: {
            inbound: { queue: this.inboundQueue, dlq: this.inboundDlq },
            timer: { queue: this.timerQueue, dlq: this.timerDlq },
            outbound: { queue: this.outboundQueue, dlq: this.outboundDlq },
          },
          tables: { memory: this.memoryTable },
          ...(this.media
            ? {
                media: {
                  service: this.media.service.service,
                  jobsQueue: this.media.jobsQueue,
                  jobsDlq: this.media.jobsDlq,
                },
              }
            : {}),
          serviceName: this.functionDefaults.serviceName,
          mediaServiceName: DEFAULT_MEDIA_SERVICE_NAME,
        });
      }
    } catch (error) {
      // An invalid value can make a CDK construct throw half-way: report every problem instead.
      if (problems.length > 0) throw new ChatRelayPropsError(problems, this);
      throw error;
    }
  }

  /**
   * Lets the conversation function hand audio and video to a media worker of your own: sets
   * `MEDIA_JOBS_QUEUE_URL` and grants `sqs:SendMessage` on `queue` (the built-in media worker is
   * wired this way; turn it off with `media: { enabled: false }` first).
   */
  public addMediaJobsQueue(queue: IQueue): void {
    this.conversation.addMediaJobsQueue(queue);
  }

  /**
   * Grants `secretsmanager:GetSecretValue` on the tenant secrets (`{secretPrefix}/tenants/*`)
   * and nothing else — for your own functions that need tenant configuration.
   */
  public grantTenantSecretsRead(grantee: IGrantable): Grant {
    return grantTenantSecretsRead(this, grantee, this.secretPrefix);
  }

  /**
   * Lets tenants use `fn` as a `lambda` tool (`"type": "lambda", "functionName": …` in their
   * settings): grants the conversation function `lambda:InvokeFunction` on `fn` and its versions
   * and aliases, nothing else. The `toolFunctions` prop does the same at construction.
   */
  public grantToolInvoke(fn: IFunction): Grant {
    const grant = fn.grantInvoke(this.conversationFunction);
    const role = this.conversationFunction.role ?? this.conversationFunction;
    acknowledge(role, [
      { id: iam5ResourceId(role, `${fn.functionArn}:*`), reason: NAG_REASONS.toolVersions },
    ]);
    return grant;
  }

  /** The webhook URL a platform must call for `tenantId` on `channel`. */
  public webhookUrl(channel: string, tenantId: string): string {
    return `${this.webhookBaseUrl}/${channel}/${tenantId}`;
  }

  /**
   * Adds one stack output per channel holding that tenant's webhook URL
   * (`{webhookBaseUrl}/{channel}/{tenantId}`). Pancake also needs `?token={webhookToken}`
   * appended — the token is never put in a template. Returns the outputs.
   */
  public addTenantOutputs(tenantId: string, channels: string[]): CfnOutput[] {
    const problems: string[] = [];
    if (!TENANT_ID_PATTERN.test(tenantId)) {
      problems.push(
        `tenantId must match ${TENANT_ID_PATTERN} (lower-case letters, digits and "-", 1–63 characters); got "${tenantId}". Use the id the tenant CLI created.`,
      );
    }
    for (const channel of channels) {
      if (!isChannelName(channel)) {
        problems.push(
          `channel must be one of ${CHANNELS.join(', ')}; got "${String(channel)}". Fix the channel name.`,
        );
      }
    }
    if (channels.length === 0)
      problems.push('channels must list at least one channel; got none. Pass e.g. ["telegram"].');
    if (problems.length > 0) throw new ChatRelayPropsError(problems, this);
    return [...new Set(channels)].map((channel) => {
      const idPart = `${tenantId}-${channel}`.replace(/[^A-Za-z0-9]/g, '');
      return new CfnOutput(this, `WebhookUrl${idPart}`, {
        description: `Webhook URL of tenant ${tenantId} on ${channel}${channel === 'pancake' ? ' (append ?token={webhookToken})' : ''}`,
        value: this.webhookUrl(channel, tenantId),
      });
    });
  }

  /**
   * One catalogued chat-relay metric (see the README's metric catalogue) as published by this
   * relay's functions: every dimension of the metric must be given. For a total over every
   * value of a dimension use {@link metricTotal}.
   */
  public metric(name: string, options: ChatRelayMetricOptions = {}): Metric {
    const metricName = name as MetricName;
    return chatRelayMetric(metricName, { service: this.serviceNameOf(metricName), ...options });
  }

  /** A catalogued metric added up over all its dimension values (Metrics Insights; usable in alarms). */
  public metricTotal(name: string, props?: MetricOptions): IMetric {
    const metricName = name as MetricName;
    return withMetricOptions(
      chatRelayMetricTotal(metricName, { service: this.serviceNameOf(metricName) }),
      props,
    );
  }

  /** Customer messages and human-activity events enqueued, for one channel or all. */
  public metricMessagesEnqueued(channel?: string, props?: MetricOptions): IMetric {
    return withMetricOptions(this.channelMetric('MessagesEnqueued', channel), props);
  }

  /** Reply parts refused permanently by the platform, for one channel or all (every code). */
  public metricSendFailed(channel?: string, props?: MetricOptions): IMetric {
    return withMetricOptions(this.channelMetric('SendFailedByChannel', channel, 'SendFailed'), props);
  }

  /** Reply parts delivered, for one channel or all. */
  public metricSendSucceeded(channel?: string, props?: MetricOptions): IMetric {
    return withMetricOptions(this.channelMetric('SendSucceeded', channel), props);
  }

  /** Sends refused because the access token is invalid (401, Meta 190), for one channel or all. */
  public metricTokenInvalid(channel?: string, props?: MetricOptions): IMetric {
    return withMetricOptions(this.channelMetric('TokenInvalid', channel), props);
  }

  /** Webhook POSTs rejected for a bad signature, for one channel or all. */
  public metricSignatureRejected(channel?: string, props?: MetricOptions): IMetric {
    return withMetricOptions(this.channelMetric('SignatureRejected', channel), props);
  }

  /** Webhook received-at to send acknowledged on `channel` (statistic `p99` unless `props` says otherwise). */
  public metricReplyLatency(channel: string, props?: MetricOptions): IMetric {
    this.checkChannel(channel);
    return withMetricOptions(
      this.metric('ReplyLatency', { dimensions: { channel }, statistic: 'p99' }),
      props,
    );
  }

  /** Turns answered on `channel`. */
  public metricTurnsFlushed(channel: string, props?: MetricOptions): IMetric {
    this.checkChannel(channel);
    return withMetricOptions(this.metric('TurnsFlushed', { dimensions: { channel } }), props);
  }

  /**
   * Messages waiting in a dead-letter queue: inbound, timer, outbound, or the media jobs' DLQ
   * (`DlqName.MEDIA_JOBS`, when media is on).
   */
  public metricDlqDepth(queue: DlqName, props?: MetricOptions): IMetric {
    const dlqs: { [key: string]: Queue | undefined } = {
      [DlqName.INBOUND]: this.inboundDlq,
      [DlqName.TIMER]: this.timerDlq,
      [DlqName.OUTBOUND]: this.outboundDlq,
      [DlqName.MEDIA_JOBS]: this.media?.jobsDlq,
    };
    const dlq = dlqs[queue];
    if (dlq === undefined) {
      throw new ChatRelayPropsError(
        [
          queue === DlqName.MEDIA_JOBS
            ? 'metricDlqDepth(DlqName.MEDIA_JOBS) needs the media worker, which is turned off (media: { enabled: false }). Turn media on or drop this metric.'
            : `metricDlqDepth: "${String(queue)}" is not a dead-letter queue of the relay. Use one of DlqName.INBOUND, TIMER, OUTBOUND, MEDIA_JOBS.`,
        ],
        this,
      );
    }
    return dlq.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', ...props });
  }

  /** Webhook messages that could not be enqueued (the request got a 5xx), for one channel or all. */
  public metricEnqueueFailed(channel?: string, props?: MetricOptions): IMetric {
    if (channel !== undefined) this.checkChannel(channel);
    const metric = channel
      ? this.metric('EnqueueFailed', { dimensions: { channel } })
      : this.metricTotal('EnqueueFailed');
    return withMetricOptions(metric, props);
  }

  /** 5xx answers of the webhook API (the platforms retry these; too many and they suspend the webhook). */
  public metricWebhook5xx(props?: MetricOptions): Metric {
    return this.api.metricServerError({ statistic: 'Sum', ...props });
  }

  /** Age of the oldest message in inbound.fifo (`DlqName.INBOUND`) or outbound.fifo (`DlqName.OUTBOUND`), in seconds. */
  public metricOldestMessageAge(queue: DlqName, props?: MetricOptions): Metric {
    if (queue !== DlqName.INBOUND && queue !== DlqName.OUTBOUND) {
      throw new ChatRelayPropsError(
        [
          `metricOldestMessageAge takes DlqName.INBOUND or DlqName.OUTBOUND; got "${String(queue)}". Pick one of those.`,
        ],
        this,
      );
    }
    const q = queue === DlqName.INBOUND ? this.inboundQueue : this.outboundQueue;
    return q.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', ...props });
  }

  private checkChannel(channel: string): void {
    if (!isChannelName(channel)) {
      throw new ChatRelayPropsError(
        [
          `channel must be one of ${CHANNELS.join(', ')}; got ${JSON.stringify(channel)}. Fix the channel name.`,
        ],
        this,
      );
    }
  }

  private channelMetric(name: MetricName, channel: string | undefined, totalName?: MetricName): IMetric {
    if (channel !== undefined) this.checkChannel(channel);
    return chatRelayChannelMetric(name, channel, {
      service: this.serviceNameOf(name),
      ...(totalName !== undefined ? { totalName } : {}),
    });
  }

  private serviceNameOf(name: MetricName): string {
    return (['MediaJobs', 'MediaDuration', 'MediaFailed'] as string[]).includes(name)
      ? DEFAULT_MEDIA_SERVICE_NAME
      : this.functionDefaults.serviceName;
  }
}
