/**
 * Webhook ingest: an HTTP API with `GET` and `POST /webhooks/{channel}/{tenantId}` in front of
 * the webhook Lambda, default-stage throttling, and JSON access logs that never hold the path
 * with its query string, headers or body (Pancake's webhook token rides in the query).
 */
import { CfnOutput, type Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  type HttpRoute,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../lambdas/contracts/env.js';
import { RelayFunction, type RelayFunctionDefaults } from './function-defaults.js';

/** The route path every platform posts to. */
export const WEBHOOK_ROUTE_PATH = '/webhooks/{channel}/{tenantId}';

/**
 * The access log record: one compact JSON line per request (CloudWatch Logs bills every byte;
 * the event's own timestamp is the request time). Keys: `id` request id, `ip` source ip, `m`
 * method, `s` status, `ms` response latency, `len` response length, `is` / `ims` integration
 * status and latency, `err` / `ierr` API Gateway's and the integration's error message (`-`
 * when none). Only `$context` variables that cannot carry a secret. Deliberately absent: the
 * path (tenant ids from scanners), the query string (Pancake's webhook token), headers
 * (including the user agent) and the body.
 */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  id: '$context.requestId',
  ip: '$context.identity.sourceIp',
  m: '$context.httpMethod',
  s: '$context.status',
  ms: '$context.responseLatency',
  len: '$context.responseLength',
  is: '$context.integrationStatus',
  ims: '$context.integrationLatency',
  err: '$context.error.message',
  ierr: '$context.integrationErrorMessage',
};

/** Properties of {@link RelayIngest}. */
export interface RelayIngestProps {
  readonly functionDefaults: RelayFunctionDefaults;
  readonly inboundQueue: IQueue;
  /** Environment of the webhook function besides the inbound queue URL. */
  readonly environment: Readonly<Record<string, string>>;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly throttleRateLimit: number;
  readonly throttleBurstLimit: number;
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/** HTTP API, its `$default` stage with access logs, and the webhook Lambda. */
export class RelayIngest extends Construct {
  public readonly api: HttpApi;
  public readonly stage: HttpStage;
  /** `GET` and `POST /webhooks/{channel}/{tenantId}`. */
  public readonly routes: HttpRoute[];
  public readonly accessLogGroup: LogGroup;
  public readonly webhook: RelayFunction;
  /** `https://{api}.execute-api.{region}.amazonaws.com/webhooks` — append `/{channel}/{tenantId}`. */
  public readonly webhookBaseUrl: string;
  /** The `WebhookBaseUrl` stack output. */
  public readonly webhookBaseUrlOutput: CfnOutput;

  constructor(scope: Construct, id: string, props: RelayIngestProps) {
    super(scope, id);
    this.webhook = new RelayFunction(this, 'Webhook', props.functionDefaults, {
      entry: 'webhook',
      description: 'chat-relay webhook: authenticates, normalises and enqueues platform events',
      memorySize: props.memorySize,
      timeout: props.timeout,
      environment: {
        [ENV.inboundQueueUrl]: props.inboundQueue.queueUrl,
        ...props.environment,
      },
    });
    props.inboundQueue.grantSendMessages(this.webhook.function);

    this.api = new HttpApi(this, 'HttpApi', {
      description: 'chat-relay webhooks',
      createDefaultStage: false,
    });
    const integration = new HttpLambdaIntegration('WebhookIntegration', this.webhook.function);
    this.routes = this.api.addRoutes({
      path: WEBHOOK_ROUTE_PATH,
      methods: [HttpMethod.GET, HttpMethod.POST],
      integration,
    });

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit, burstLimit: props.throttleBurstLimit },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    this.webhookBaseUrl = `${this.api.apiEndpoint}/webhooks`;
    this.webhookBaseUrlOutput = new CfnOutput(this, 'WebhookBaseUrl', {
      description: 'Webhook base URL: append /{channel}/{tenantId} for each platform.',
      value: this.webhookBaseUrl,
    });
  }
}
