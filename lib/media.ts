/**
 * `ChatRelayMedia`: voice notes and videos understood inside the client's account.
 *
 * A standard `media-jobs` queue (with DLQ) feeds a Fargate worker (arm64, ffmpeg + whisper.cpp,
 * built from `lambdas/media/Dockerfile`) that scales on queue depth from `minTasks` (default 0)
 * to `maxTasks`. Keyframes go to a private media bucket (SSE, TLS only, objects expire after one
 * day); results go to the memory table and back to `inbound.fifo` as `media-ready` events.
 * By default the tasks run in a minimal VPC with public subnets and no NAT gateway (cost).
 */
import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AdjustmentType, MetricAggregationType } from 'aws-cdk-lib/aws-applicationautoscaling';
import { MathExpression } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { QueueProcessingFargateService } from 'aws-cdk-lib/aws-ecs-patterns';
import { Grant, type IGrantable, type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_MEDIA_SERVICE_NAME, DEFAULTS } from '../lambdas/contracts/defaults.js';
import { QUEUE_DEFINITIONS, queueName } from '../lambdas/contracts/definitions.js';
import { ENV } from '../lambdas/contracts/env.js';
import { METRICS_NAMESPACE } from '../lambdas/contracts/metrics.js';
import { accessLogsBucket, dataBucketEncryption } from './buckets.js';
import { addProblemsValidation, ValidationError } from './errors.js';
import { assetPath } from './function-defaults.js';
import { acknowledgeKeyGrant, iam5ResourceId } from './nag.js';

/** Default size cap of a downloaded attachment (the worker's default, from the contracts). */
export const DEFAULT_MEDIA_MAX_BYTES = DEFAULTS.maxMediaBytes;

/** The settings of {@link ChatRelayMedia} (the relay-supplied resources are in {@link ChatRelayMediaProps}). */
export interface ChatRelayMediaSettings {
  /** Run the tasks in this VPC (private subnets with egress when it has them). @default a new VPC: 2 AZs, public subnets only, no NAT gateway */
  readonly vpc?: ec2.IVpc;
  /** Subnets of the tasks. @default private-with-egress subnets of a given VPC that has them, else public subnets */
  readonly taskSubnets?: ec2.SubnetSelection;
  /** Fewest tasks (0 = nothing runs while the queue is empty; the first job then waits a few minutes for a task). @default 0 */
  readonly minTasks?: number;
  /** Most tasks. @default 2 */
  readonly maxTasks?: number;
  /** Task CPU units. @default 1024 (1 vCPU; use 2048 with the `small` model) */
  readonly cpu?: number;
  /** Task memory. @default 2048 (use 4096 with the `small` model) */
  readonly memoryLimitMiB?: number;
  /** whisper.cpp model baked into the image (`base`, `small` — better for Vietnamese —, `base.en`…). @default 'base' */
  readonly whisperModel?: string;
  /** Largest attachment downloaded, in bytes. @default 25 MB */
  readonly maxMediaBytes?: number;
  /** Keyframes per video. @default 4 */
  readonly keyframeCount?: number;
  /** Jobs one task processes at once. @default 1 */
  readonly concurrency?: number;
  /** Retention of the worker's log group. @default one month */
  readonly logRetention?: RetentionDays;
  /** What happens to the bucket, queues and logs on stack deletion (DESTROY also empties the buckets). @default RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Physical queue names become `{queueNamePrefix}-media-jobs` and `…-media-jobs-dlq`. @default generated names */
  readonly queueNamePrefix?: string;
  /** Run on Fargate Spot (about 70% cheaper; interrupted jobs are released and retried). @default false */
  readonly spot?: boolean;
  /** Container Insights on the cluster (extra CloudWatch cost). @default false */
  readonly containerInsights?: boolean;
  /**
   * A prebuilt image instead of building `lambdas/media/Dockerfile` at deploy time.
   * @default - built from the worker's Dockerfile (needs Docker or Finch at deploy time)
   */
  readonly image?: ecs.ContainerImage;
  /**
   * Extra environment for the worker (e.g. `GRAPH_API_BASE` for a sandbox). Never tokens.
   * @default - none
   */
  readonly environment?: { [name: string]: string };
}

/** Props of {@link ChatRelayMedia}. */
export interface ChatRelayMediaProps extends ChatRelayMediaSettings {
  /** `inbound.fifo`: the worker sends `media-ready` events to it. */
  readonly inboundQueue: IQueue;
  /** The memory table: the worker writes media results (`media#…` items) to it. */
  readonly memoryTable: ITable;
  /** Tenant secrets live at `{secretPrefix}/tenants/{tenantId}` (media download tokens). */
  readonly secretPrefix: string;
  /**
   * A customer-managed KMS key encrypting the jobs queues and the media bucket; the worker is
   * granted its use.
   * @default - SQS-managed and S3-managed encryption
   */
  readonly encryptionKey?: kms.IKey;
}

/** The media pipeline: jobs queue, media bucket, Fargate worker and its VPC. */
export class ChatRelayMedia extends Construct {
  /** The `media-jobs` queue the conversation actor sends `MediaJob`s to. */
  public readonly jobsQueue: Queue;
  /** Jobs that failed `maxReceiveCount` times (should stay empty: alarm on it). */
  public readonly jobsDlq: Queue;
  /** Keyframes (`media/{tenant}/{conversation}/{message}/…`), expiring after one day. */
  public readonly bucket: Bucket;
  /** Server access logs of {@link bucket}. */
  public readonly accessLogsBucket: Bucket;
  public readonly vpc: ec2.IVpc;
  public readonly cluster: ecs.Cluster;
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly container: ecs.ContainerDefinition;
  /** The queue-processing Fargate service (`.service` is the ECS service). */
  public readonly service: QueueProcessingFargateService;
  public readonly taskRole: IRole;
  public readonly logGroup: LogGroup;
  /** Tenant secrets prefix the worker may read under. */
  private readonly secretPrefix: string;

  constructor(scope: Construct, id: string, props: ChatRelayMediaProps) {
    super(scope, id);
    this.secretPrefix = props.secretPrefix.replace(/\/+$/, '');
    // Access-log delivery by bucket policy (AWS's recommendation), not ACLs, whatever the app's flags.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const destroy = removalPolicy === RemovalPolicy.DESTROY;
    const minTasks = props.minTasks ?? 0;
    const maxTasks = props.maxTasks ?? 2;
    const whisperModel = props.whisperModel ?? 'base';
    const problems: string[] = [];
    if (!Number.isInteger(minTasks) || minTasks < 0)
      problems.push(`minTasks must be a whole number ≥ 0; got ${minTasks}. Set minTasks to 0 or more.`);
    if (!Number.isInteger(maxTasks) || maxTasks < Math.max(1, minTasks)) {
      problems.push(
        `maxTasks must be a whole number ≥ max(1, minTasks); got ${maxTasks}. Raise maxTasks or lower minTasks.`,
      );
    }
    if (!/^[a-z0-9.-]+$/.test(whisperModel))
      problems.push(
        `whisperModel must name a whisper.cpp ggml model such as "base" or "small"; got "${whisperModel}". Use a model name from whisper.cpp's models/download-ggml-model.sh.`,
      );
    addProblemsValidation(this, problems);
    // Scaling with a negative or inverted range would fail inside CDK before synth: report ours instead.
    if (problems.length > 0 && (maxTasks < 1 || maxTasks < minTasks || minTasks < 0)) {
      throw new ValidationError('Invalid ChatRelayMedia props', problems, this);
    }
    const queueEncryption = props.encryptionKey
      ? { encryption: QueueEncryption.KMS, encryptionMasterKey: props.encryptionKey }
      : { encryption: QueueEncryption.SQS_MANAGED };

    // Queues, from the one shared definition.
    const def = QUEUE_DEFINITIONS.mediaJobs;
    const prefix = props.queueNamePrefix;
    this.jobsDlq = new Queue(this, 'JobsDlq', {
      ...(prefix ? { queueName: queueName(prefix, def.dlq.name, def.fifo) } : {}),
      retentionPeriod: Duration.days(def.dlq.retentionDays),
      ...queueEncryption,
      enforceSSL: true,
      removalPolicy,
    });
    this.jobsQueue = new Queue(this, 'JobsQueue', {
      ...(prefix ? { queueName: queueName(prefix, def.name, def.fifo) } : {}),
      visibilityTimeout: Duration.seconds(def.visibilityTimeoutSeconds),
      retentionPeriod: Duration.days(def.retentionDays),
      deadLetterQueue: { queue: this.jobsDlq, maxReceiveCount: def.dlq.maxReceiveCount },
      ...queueEncryption,
      enforceSSL: true,
      removalPolicy,
    });

    // Buckets: media (1-day objects) and its access logs.
    this.accessLogsBucket = accessLogsBucket(this, 'AccessLogs', removalPolicy, destroy);
    this.bucket = new Bucket(this, 'Bucket', {
      ...dataBucketEncryption(props.encryptionKey),
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        {
          id: 'expire-media',
          expiration: Duration.days(1),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'media-bucket/',
      removalPolicy,
      autoDeleteObjects: destroy,
    });

    // Network: the user's VPC, or a minimal one with no NAT gateway (tasks get public IPs).
    this.vpc =
      props.vpc ??
      new ec2.Vpc(this, 'Vpc', {
        maxAzs: 2,
        natGateways: 0,
        subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
        // Free gateway endpoints keep S3 and DynamoDB traffic inside AWS.
        gatewayEndpoints: {
          S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
          DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
        },
      });
    const usePrivate = props.vpc !== undefined && props.vpc.privateSubnets.length > 0;
    const taskSubnets = props.taskSubnets ?? {
      subnetType: usePrivate ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PUBLIC,
    };
    const assignPublicIp = !usePrivate;

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: props.containerInsights
        ? ecs.ContainerInsights.ENABLED
        : ecs.ContainerInsights.DISABLED,
      enableFargateCapacityProviders: props.spot === true,
    });

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy,
    });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: props.cpu ?? 1024,
      memoryLimitMiB: props.memoryLimitMiB ?? 2048,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    this.taskRole = this.taskDefinition.taskRole;

    const image =
      props.image ??
      // The prebuilt build context (`npm run build`): the Dockerfile and the bundled worker.
      ecs.ContainerImage.fromAsset(assetPath('media'), {
        platform: Platform.LINUX_ARM64,
        buildArgs: { WHISPER_MODEL: whisperModel },
      });

    this.container = this.taskDefinition.addContainer('worker', {
      image,
      essential: true,
      // ECS waits this long between SIGTERM and SIGKILL: the worker drains for DRAIN_MS of it.
      stopTimeout: Duration.seconds(60),
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'media', logGroup: this.logGroup }),
      environment: {
        [ENV.mediaJobsQueueUrl]: this.jobsQueue.queueUrl,
        [ENV.inboundQueueUrl]: props.inboundQueue.queueUrl,
        [ENV.memoryTable]: props.memoryTable.tableName,
        [ENV.mediaBucket]: this.bucket.bucketName,
        [ENV.tenantSecretPrefix]: props.secretPrefix,
        [ENV.maxMediaBytes]: String(props.maxMediaBytes ?? DEFAULT_MEDIA_MAX_BYTES),
        [ENV.keyframeCount]: String(props.keyframeCount ?? DEFAULTS.keyframeCount),
        [ENV.mediaConcurrency]: String(props.concurrency ?? DEFAULTS.mediaConcurrency),
        DRAIN_MS: '45000',
        POWERTOOLS_SERVICE_NAME: DEFAULT_MEDIA_SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
    });

    this.service = new QueueProcessingFargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      queue: this.jobsQueue,
      minScalingCapacity: minTasks,
      maxScalingCapacity: maxTasks,
      // Scale out on waiting jobs only; scale-in is below (it must also count jobs in progress).
      scalingSteps: [
        { upper: 0, change: 0 },
        { lower: 1, change: +1 },
        { lower: 10, change: +2 },
      ],
      disableCpuBasedScaling: true,
      taskSubnets,
      assignPublicIp,
      circuitBreaker: { rollback: true },
      // A deploy starts new tasks before stopping old ones, so jobs in hand are not cut short.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      enableECSManagedTags: true,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      ...(props.spot
        ? {
            capacityProviderStrategies: [
              { capacityProvider: 'FARGATE_SPOT', weight: 1 },
              { capacityProvider: 'FARGATE', weight: 0 },
            ],
          }
        : {}),
    });

    // Scale in only when nothing waits and nothing is in progress: a job in hand is invisible,
    // so "visible = 0" alone would stop a busy task.
    const backlog = new MathExpression({
      expression: 'visible + inflight',
      usingMetrics: {
        visible: this.jobsQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
        inflight: this.jobsQueue.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1) }),
      },
      period: Duration.minutes(1),
      label: 'media jobs waiting or in progress',
    });
    const taskCount = this.service.service.node.findChild('TaskCount') as ecs.ScalableTaskCount;
    taskCount.scaleOnMetric('IdleScaleIn', {
      metric: backlog,
      scalingSteps: [
        { upper: 0, change: -maxTasks },
        { lower: 1, change: 0 },
      ],
      adjustmentType: AdjustmentType.CHANGE_IN_CAPACITY,
      metricAggregationType: MetricAggregationType.MAXIMUM,
      evaluationPeriods: 10,
      cooldown: Duration.minutes(5),
    });

    const secretArn = Stack.of(this).formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: `${props.secretPrefix.replace(/\/+$/, '')}/tenants/*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    // Least privilege. The pattern already grants consuming the jobs queue.
    this.taskRole.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['s3:PutObject'], resources: [this.bucket.arnForObjects('media/*')] }),
    );
    // A customer-managed key: writing keyframes and sending media-ready events need it.
    props.encryptionKey?.grantEncryptDecrypt(this.taskRole);
    props.inboundQueue.grantSendMessages(this.taskRole);
    props.memoryTable.grant(this.taskRole, 'dynamodb:PutItem');
    props.memoryTable.encryptionKey?.grantEncrypt(this.taskRole);
    this.taskRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [secretArn],
      }),
    );
    this.acknowledgeNagFindings(props.vpc === undefined, secretArn);
    if (props.encryptionKey) acknowledgeKeyGrant(this.taskRole);
  }

  /** cdk-nag AwsSolutions findings that are deliberate, each with its reason. */
  private acknowledgeNagFindings(ownVpc: boolean, secretArn: string): void {
    if (ownVpc) {
      Validations.of(this.vpc).acknowledge({
        id: 'AwsSolutions-VPC7',
        reason:
          "The minimal VPC only carries the media worker's outbound calls (SQS, S3, platform CDNs); flow logs are an " +
          'opt-in cost — pass your own `vpc` with flow logs to have them.',
      });
    }
    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-ECS4',
      reason:
        'Container Insights is opt-in (`containerInsights: true`) for cost; the worker publishes its own EMF metrics ' +
        '(MediaJobs, MediaDuration, MediaFailed) and the queue metrics show its health.',
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds resource names and tuning values only; tenant tokens are read from Secrets Manager at run time.',
    });
    Validations.of(this.taskRole).acknowledge({
      id: iam5ResourceId(this, this.bucket.arnForObjects('media/*')),
      reason:
        "PutObject is scoped to the media bucket's `media/*` prefix: one key per keyframe, unknown in advance.",
    });
    Validations.of(this.taskRole).acknowledge({
      id: iam5ResourceId(this, secretArn),
      reason:
        'GetSecretValue is scoped to `{secretPrefix}/tenants/*`: one secret per tenant, and tenants are added without a redeploy.',
    });
    if (this.taskDefinition.executionRole) {
      Validations.of(this.taskDefinition.executionRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ecr:GetAuthorizationToken has no resource-level permissions: AWS requires Resource "*".',
      });
    }
  }

  /**
   * Lets `grantee` (e.g. the conversation Lambda, whose responder sends keyframes to Bedrock)
   * read objects under `media/` and nothing else. Acknowledges the resulting cdk-nag IAM5
   * finding on `grantee` when it is a construct.
   */
  public grantReadMedia(grantee: IGrantable): Grant {
    const objects = this.bucket.arnForObjects('media/*');
    const grant = Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [objects] });
    if (this.bucket.encryptionKey) this.bucket.encryptionKey.grantDecrypt(grantee);
    if (grantee instanceof Construct) {
      Validations.of(grantee).acknowledge({
        id: iam5ResourceId(this, objects),
        reason:
          "GetObject is scoped to the media bucket's `media/*` prefix: keyframe keys are only known at run time.",
      });
    }
    return grant;
  }
}
