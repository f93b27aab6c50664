import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_DEFINITIONS } from '../../lib/definitions.js';
import { ChatRelayMedia, type ChatRelayMediaProps } from '../../lib/media.js';

function build(
  props: Partial<ChatRelayMediaProps> = {},
  env: { account: string; region: string } | undefined = { account: '111111111111', region: 'eu-west-1' },
): { app: App; stack: Stack; media: ChatRelayMedia } {
  const app = new App();
  const stack = new Stack(app, 'MediaTest', env ? { env } : {});
  // Fixtures shaped like the real ones, so nag findings here can only come from the media construct.
  const inboundDlq = new Queue(stack, 'InboundDlq', {
    fifo: true,
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  const inboundQueue = new Queue(stack, 'Inbound', {
    fifo: true,
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    deadLetterQueue: { queue: inboundDlq, maxReceiveCount: 5 },
  });
  const memoryTable = new Table(stack, 'Memory', {
    partitionKey: { name: 'pk', type: AttributeType.STRING },
    sortKey: { name: 'sk', type: AttributeType.STRING },
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
  });
  const media = new ChatRelayMedia(stack, 'Media', {
    inboundQueue,
    memoryTable,
    secretPrefix: 'chat-relay',
    ...props,
  });
  return { app, stack, media };
}

let template: Template;
let built: ReturnType<typeof build>;
beforeAll(() => {
  built = build();
  template = Template.fromStack(built.stack);
});

function taskPolicyStatements(t: Template): Record<string, unknown>[] {
  const policies = t.findResources('AWS::IAM::Policy', {
    Properties: { Roles: [{ Ref: Match.stringLikeRegexp('MediaTaskDefinitionTaskRole') }] },
  });
  return Object.values(policies).flatMap(
    (p) =>
      (p as { Properties: { PolicyDocument: { Statement: Record<string, unknown>[] } } }).Properties
        .PolicyDocument.Statement,
  );
}

describe('media bucket', () => {
  it('is encrypted, TLS-only, private, expires objects after a day and logs access', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 1, Status: 'Enabled' })]),
      },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'media-bucket/' },
    });
    const mediaBucketId = built.stack.getLogicalId(built.media.bucket.node.defaultChild as never);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: mediaBucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('is retained by default and emptied on delete only with a DESTROY policy', () => {
    expect(
      Object.values(template.findResources('AWS::S3::Bucket')).every(
        (b) => (b as { DeletionPolicy?: string }).DeletionPolicy === 'Retain',
      ),
    ).toBe(true);
    expect(template.findResources('Custom::S3AutoDeleteObjects')).toEqual({});
    const destroyed = Template.fromStack(build({ removalPolicy: RemovalPolicy.DESTROY }).stack);
    expect(Object.keys(destroyed.findResources('Custom::S3AutoDeleteObjects'))).toHaveLength(2);
  });
});

describe('media-jobs queue', () => {
  it('is a standard queue with the shared definition and a dead-letter queue', () => {
    const def = QUEUE_DEFINITIONS.mediaJobs;
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: def.visibilityTimeoutSeconds,
      MessageRetentionPeriod: def.retentionDays * 86_400,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: Match.anyValue(), maxReceiveCount: def.dlq.maxReceiveCount },
    });
    const jobs = template.findResources('AWS::SQS::Queue', {
      Properties: { VisibilityTimeout: def.visibilityTimeoutSeconds },
    });
    expect(
      Object.values(jobs).every(
        (q) => (q as { Properties: { FifoQueue?: boolean } }).Properties.FifoQueue !== true,
      ),
    ).toBe(true);
    template.hasResourceProperties('AWS::SQS::Queue', {
      MessageRetentionPeriod: def.dlq.retentionDays * 86_400,
      SqsManagedSseEnabled: true,
    });
  });

  it('takes physical names from the shared definition when a prefix is given', () => {
    const named = Template.fromStack(
      build({ queueNamePrefix: 'acme-relay', image: ContainerImage.fromRegistry('example/media') }).stack,
    );
    named.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'acme-relay-media-jobs' });
    named.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'acme-relay-media-jobs-dlq' });
  });
});

describe('Fargate worker', () => {
  it('runs on arm64 Linux with the default 1 vCPU / 2 GB and a 60 s stop timeout', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '1024',
      Memory: '2048',
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      RequiresCompatibilities: ['FARGATE'],
      ContainerDefinitions: [
        Match.objectLike({
          StopTimeout: 60,
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          Environment: Match.arrayWith([
            Match.objectLike({ Name: 'MEDIA_JOBS_QUEUE_URL' }),
            Match.objectLike({ Name: 'INBOUND_QUEUE_URL' }),
            Match.objectLike({ Name: 'MEMORY_TABLE' }),
            Match.objectLike({ Name: 'MEDIA_BUCKET' }),
            { Name: 'TENANT_SECRET_PREFIX', Value: 'chat-relay' },
            { Name: 'MAX_MEDIA_BYTES', Value: String(25 * 1024 * 1024) },
            { Name: 'KEYFRAME_COUNT', Value: '4' },
          ]),
        }),
      ],
    });
  });

  it('takes CPU, memory, cap and model from props and passes the model to the image build', () => {
    const { app, stack } = build({
      cpu: 2048,
      memoryLimitMiB: 4096,
      maxMediaBytes: 10_000_000,
      whisperModel: 'small',
    });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '2048',
      Memory: '4096',
      ContainerDefinitions: [
        Match.objectLike({ Environment: Match.arrayWith([{ Name: 'MAX_MEDIA_BYTES', Value: '10000000' }]) }),
      ],
    });
    const assembly = app.synth();
    const manifest = JSON.parse(
      readFileSync(join(assembly.directory, `${stack.artifactId}.assets.json`), 'utf8'),
    ) as {
      dockerImages: Record<
        string,
        {
          source: {
            directory: string;
            dockerBuildArgs?: Record<string, string>;
            dockerFile?: string;
            platform?: string;
          };
        }
      >;
    };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0]?.source).toMatchObject({
      dockerBuildArgs: { WHISPER_MODEL: 'small' },
      platform: 'linux/arm64',
    });
    // The build context is the prebuilt one (npm run build): the Dockerfile and the bundled
    // worker, no sources, node_modules, lib/ or tests.
    const context = join(assembly.directory, images[0]?.source.directory ?? '');
    expect(readdirSync(context).sort()).toEqual([
      'Dockerfile',
      'main.mjs',
      'main.mjs.map',
      'selftest.mjs',
      'selftest.mjs.map',
    ]);
    expect(existsSync(join(context, 'lib'))).toBe(false);
  });

  it('scales on queue depth from zero tasks to maxTasks, without CPU scaling', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 0,
      MaxCapacity: 2,
    });
    template.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 2);
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'StepScaling',
      StepScalingPolicyConfiguration: Match.objectLike({
        StepAdjustments: Match.arrayWith([Match.objectLike({ ScalingAdjustment: 1 })]),
      }),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
    });
    const policies = template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy');
    expect(Object.values(policies).some((p) => JSON.stringify(p).includes('TargetTrackingScaling'))).toBe(
      false,
    );
  });

  it('scales in only when no job is waiting or in progress', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ComparisonOperator: 'LessThanOrEqualToThreshold',
      Threshold: 0,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'visible + inflight' }),
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'ApproximateNumberOfMessagesNotVisible' }),
          }),
        }),
      ]),
    });
  });

  it('accepts minTasks and maxTasks and rejects impossible ones', () => {
    const t = Template.fromStack(build({ minTasks: 1, maxTasks: 5 }).stack);
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 1,
      MaxCapacity: 5,
    });
    expect(() => build({ minTasks: 3, maxTasks: 2 })).toThrow(/maxTasks/);
    expect(() => build({ minTasks: -1 })).toThrow(/minTasks/);
  });

  it('can run on Fargate Spot', () => {
    const t = Template.fromStack(build({ spot: true }).stack);
    t.hasResourceProperties('AWS::ECS::Service', {
      CapacityProviderStrategy: Match.arrayWith([
        Match.objectLike({ CapacityProvider: 'FARGATE_SPOT', Weight: 1 }),
      ]),
    });
  });
});

describe('network', () => {
  it('creates a VPC with public subnets only and no NAT gateway, and gives tasks public IPs', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    const subnets = template.findResources('AWS::EC2::Subnet');
    expect(
      Object.values(subnets).every(
        (s) => (s as { Properties: { MapPublicIpOnLaunch: boolean } }).Properties.MapPublicIpOnLaunch,
      ),
    ).toBe(true);
    template.hasResourceProperties('AWS::ECS::Service', {
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'ENABLED' }) },
    });
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 2);
  });

  it('uses the private subnets of a given VPC without public IPs', () => {
    const app = new App();
    const stack = new Stack(app, 'WithVpc', { env: { account: '111111111111', region: 'eu-west-1' } });
    const vpc = new Vpc(stack, 'Own', {
      natGateways: 1,
      maxAzs: 2,
      subnetConfiguration: [
        { name: 'pub', subnetType: SubnetType.PUBLIC },
        { name: 'priv', subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      ],
    });
    const inboundQueue = new Queue(stack, 'Inbound', { fifo: true });
    const memoryTable = new Table(stack, 'Memory', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
    });
    const media = new ChatRelayMedia(stack, 'Media', { inboundQueue, memoryTable, secretPrefix: 'x', vpc });
    expect(media.vpc).toBe(vpc);
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::EC2::VPC', 1);
    t.hasResourceProperties('AWS::ECS::Service', {
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
    });
  });
});

describe('task role', () => {
  it('has exactly the least-privilege statements the worker needs', () => {
    const statements = taskPolicyStatements(template);
    const actions = statements.map((s) => s.Action);
    expect(actions).toEqual(
      expect.arrayContaining([
        expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']),
        expect.arrayContaining(['sqs:SendMessage']),
        's3:PutObject',
        'dynamodb:PutItem',
        'secretsmanager:GetSecretValue',
      ]),
    );
    expect(statements).toHaveLength(5);
    const json = JSON.stringify(statements);
    expect(json).not.toMatch(/"s3:\*"|"sqs:\*"|"dynamodb:\*"|"Resource":"\*"/);
    expect(json).not.toMatch(/dynamodb:(DeleteItem|UpdateItem|BatchWriteItem|Scan|Query)/);
    const put = statements.find((s) => s.Action === 's3:PutObject');
    expect(JSON.stringify(put?.Resource)).toContain('/media/*');
    const secret = statements.find((s) => s.Action === 'secretsmanager:GetSecretValue');
    expect(JSON.stringify(secret?.Resource)).toContain(':secret:chat-relay/tenants/*');
  });

  it('grants read of keyframes to another principal on request', () => {
    const { stack, media } = build();
    const reader = new Role(stack, 'Reader', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    media.grantReadMedia(reader);
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('Reader') }],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: 's3:GetObject',
            Resource: { 'Fn::Join': ['', [Match.anyValue(), '/media/*']] },
          }),
        ],
      },
    });
  });
});

describe('cdk-nag', () => {
  it.each([
    ['an account-bound stack', { account: '111111111111', region: 'eu-west-1' }],
    ['an environment-agnostic stack', undefined],
  ] as const)('reports no AwsSolutions finding for %s', (_name, env) => {
    const { app } = build({}, env);
    const report = new AwsSolutionsChecks(app).validateScope(app);
    const findings = report.violations.map(
      (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
  });

  it('reports no finding with a DESTROY removal policy and Container Insights on', () => {
    const { app } = build({ removalPolicy: RemovalPolicy.DESTROY, containerInsights: true });
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});
