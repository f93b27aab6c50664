/**
 * The delivery Lambda on `outbound.fifo`: batch 10 with partial batch failures, optional
 * reserved concurrency. It changes message visibility itself for backoff, so it gets the
 * queue URL and the consume grant (which includes `sqs:ChangeMessageVisibility`), and it moves a
 * part that failed for good to the outbound DLQ itself, so it gets that URL and a send grant.
 */
import type { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { type IQueue, Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../lambdas/contracts/env.js';
import { RelayFunction, type RelayFunctionDefaults } from './function-defaults.js';

/** Properties of {@link RelayDelivery} (resolved values; defaults live in ChatRelay). */
export interface RelayDeliveryProps {
  readonly functionDefaults: RelayFunctionDefaults;
  readonly outboundQueue: IQueue;
  /** Where delivery moves parts that failed for good. @default the outbound queue's own DLQ */
  readonly outboundDlq?: IQueue;
  readonly memoryTable: ITable;
  /** Shared environment (secret prefix, cache, API bases, send timeout, typing delay…). */
  readonly environment: Readonly<Record<string, string>>;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly reservedConcurrency?: number;
}

/** The delivery Lambda and its event source. */
export class RelayDelivery extends Construct {
  public readonly delivery: RelayFunction;
  public readonly eventSource: SqsEventSource;

  constructor(scope: Construct, id: string, props: RelayDeliveryProps) {
    super(scope, id);
    const dlq =
      props.outboundDlq ??
      (props.outboundQueue instanceof Queue ? props.outboundQueue.deadLetterQueue?.queue : undefined);
    this.delivery = new RelayFunction(this, 'Delivery', props.functionDefaults, {
      entry: 'delivery',
      description: 'chat-relay delivery: sends replies through each channel API with rate limits and retries',
      memorySize: props.memorySize,
      timeout: props.timeout,
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: {
        [ENV.outboundQueueUrl]: props.outboundQueue.queueUrl,
        ...(dlq ? { [ENV.outboundDlqUrl]: dlq.queueUrl } : {}),
        [ENV.memoryTable]: props.memoryTable.tableName,
        ...props.environment,
      },
    });
    const fn = this.delivery.function;
    props.outboundQueue.grantConsumeMessages(fn);
    dlq?.grantSendMessages(fn);
    props.memoryTable.grantReadWriteData(fn);
    this.eventSource = new SqsEventSource(props.outboundQueue, {
      batchSize: 10,
      reportBatchItemFailures: true,
    });
    fn.addEventSource(this.eventSource);
  }
}
