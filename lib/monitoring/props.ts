/** Props of the monitoring construct: the resources to watch and the settings. */
import type { IHttpApi, IHttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { FargateService } from 'aws-cdk-lib/aws-ecs';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { ChatRelayMonitoringThresholds } from './thresholds.js';

/** The media pipeline to watch. */
export interface ChatRelayMonitoringMedia {
  /**
   * The worker's ECS service (`ChatRelayMedia.service.service`).
   * @default - the worker's service is not drawn
   */
  readonly service?: FargateService;
  /** The jobs queue. */
  readonly jobsQueue: IQueue;
  /** The jobs queue's dead-letter queue. */
  readonly jobsDlq: IQueue;
}

/** A queue to watch and its dead-letter queue. */
export interface ChatRelayMonitoredQueue {
  /** The queue. */
  readonly queue: IQueue;
  /**
   * Its dead-letter queue.
   * @default - no DLQ alarm or widgets
   */
  readonly dlq?: IQueue;
}

/** The settings of {@link ChatRelayMonitoring} (the watched resources are in {@link ChatRelayMonitoringProps}). */
export interface ChatRelayMonitoringSettings {
  /**
   * Channels drawn and alarmed per channel (pancake, messenger, instagram, whatsapp, telegram, zalo).
   * @default - all six
   */
  readonly channels?: string[];
  /**
   * Subscribe this address to the alarm topic (the subscription must be confirmed from the email).
   * @default - no subscription (subscribe to `alarmTopic` yourself)
   */
  readonly alarmEmail?: string;
  /**
   * Alarm thresholds.
   * @default - DEFAULT_MONITORING_THRESHOLDS
   */
  readonly thresholds?: ChatRelayMonitoringThresholds;
  /**
   * Prefix of the dashboard name and of every alarm name (both unique per account and region).
   * @default `${stackName}-chat-relay`
   */
  readonly namePrefix?: string;
}

/** Props of {@link ChatRelayMonitoring}. */
export interface ChatRelayMonitoringProps extends ChatRelayMonitoringSettings {
  /** The webhook HTTP API. */
  readonly api: IHttpApi;
  /**
   * Its stage.
   * @default - the `$default` stage
   */
  readonly stage?: IHttpStage;
  /** The functions to watch, by short name (webhook, conversation, timer, delivery…). */
  readonly functions: { [name: string]: IFunction };
  /** The queues to watch, by short name (inbound, timer, outbound…), each with its DLQ. */
  readonly queues: { [name: string]: ChatRelayMonitoredQueue };
  /** The tables to watch, by short name (on-demand billing assumed). */
  readonly tables: { [name: string]: ITable };
  /**
   * The media pipeline.
   * @default - media is not watched
   */
  readonly media?: ChatRelayMonitoringMedia;
  /**
   * `POWERTOOLS_SERVICE_NAME` of the Lambdas (ChatRelay's `serviceName`).
   * @default 'chat-relay'
   */
  readonly serviceName?: string;
  /**
   * `POWERTOOLS_SERVICE_NAME` of the media worker.
   * @default 'chat-relay-media'
   */
  readonly mediaServiceName?: string;
}
