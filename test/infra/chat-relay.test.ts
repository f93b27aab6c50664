import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env.js';
import { DEFAULT_BEDROCK_MODEL_ID, LogLevel } from '../../lib/index.js';
import { ACCESS_LOG_FIELDS } from '../../lib/ingest.js';
import {
  acknowledgements,
  actionsOf,
  allows,
  functionEnv,
  logicalId,
  nagFindings,
  normalisedTemplate,
  resourcesOf,
  resourcesOfStatement,
  roleStatements,
  type Synthesised,
  synthRelay,
} from './synth.js';

// One real synthesis (esbuild bundling included) shared by every test in this file.
let s: Synthesised;
let ids: { webhook: string; conversation: string; timer: string; delivery: string };

beforeAll(() => {
  s = synthRelay({}, { bundle: true });
  ids = {
    webhook: logicalId(s.stack, s.relay.webhookFunction),
    conversation: logicalId(s.stack, s.relay.conversationFunction),
    timer: logicalId(s.stack, s.relay.timerFunction),
    delivery: logicalId(s.stack, s.relay.deliveryFunction),
  };
});

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:chat-relay/tenants/*';

describe('functions', () => {
  it('runs every function on nodejs22.x arm64 with 256 MB and a short timeout', () => {
    const expected = { webhook: 10, conversation: 60, timer: 10, delivery: 60 };
    for (const [name, timeout] of Object.entries(expected)) {
      const fn = s.template.toJSON().Resources[ids[name as keyof typeof ids]];
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        MemorySize: 256,
        Timeout: timeout,
        Handler: 'index.handler',
      });
    }
    // Besides ours, only CDK's own provider for the media VPC's default-security-group lockdown.
    const others = Object.entries(s.template.findResources('AWS::Lambda::Function')).filter(
      ([id]) => !Object.values(ids).includes(id),
    );
    expect(others.map(([id]) => id)).toEqual([expect.stringMatching(/^CustomVpcRestrictDefaultSG/)]);
  });

  it('gives every function the Powertools environment and source maps', () => {
    for (const id of Object.values(ids)) {
      expect(functionEnv(s.template, id)).toMatchObject({
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'chat-relay',
        POWERTOOLS_METRICS_NAMESPACE: 'ChatRelay',
        POWERTOOLS_LOG_LEVEL: 'INFO',
      });
    }
  });

  it('gives each function exactly the environment variable names it reads', () => {
    const base = [
      'NODE_OPTIONS',
      'POWERTOOLS_LOG_LEVEL',
      'POWERTOOLS_METRICS_NAMESPACE',
      'POWERTOOLS_SERVICE_NAME',
    ];
    const names = (id: string) => Object.keys(functionEnv(s.template, id)).sort();
    expect(names(ids.webhook)).toEqual(
      [
        ...base,
        ENV.inboundQueueUrl,
        ENV.tenantSecretPrefix,
        ENV.tenantCacheSeconds,
        ENV.maxBodyBytes,
        ENV.enqueueBudgetMs,
      ].sort(),
    );
    expect(names(ids.timer)).toEqual([...base, ENV.inboundQueueUrl, ENV.timerQueueUrl].sort());
    expect(names(ids.conversation)).toEqual(
      [
        ...base,
        ENV.inboundQueueUrl,
        ENV.timerQueueUrl,
        ENV.outboundQueueUrl,
        ENV.inboundDlqUrl,
        ENV.memoryTable,
        ENV.tenantSecretPrefix,
        ENV.tenantCacheSeconds,
        ENV.sendTimeoutMs,
        ENV.debounceMs,
        ENV.maxTurnWaitMs,
        ENV.mediaTimeoutMs,
        ENV.historyTtlDays,
        ENV.historyLimit,
        ENV.summaryEveryTurns,
        ENV.maxReceiveCount,
        ENV.mediaJobsQueueUrl,
        ENV.mediaBucket,
        ENV.sendFallbackOnFailure,
        ENV.humanTakeoverMinutes,
        ENV.responder,
        ENV.bedrockModelId,
        ENV.bedrockTimeoutMs,
        ENV.graphApiVersion,
        ENV.knowledgeBaseId,
        ENV.toolMaxRounds,
      ].sort(),
    );
    expect(names(ids.delivery)).toEqual(
      [
        ...base,
        ENV.outboundQueueUrl,
        ENV.outboundDlqUrl,
        ENV.memoryTable,
        ENV.tenantSecretPrefix,
        ENV.tenantCacheSeconds,
        ENV.sendTimeoutMs,
        ENV.typingDelay,
        ENV.maxReceiveCount,
        ENV.graphApiVersion,
      ].sort(),
    );
  });

  it('sets the documented defaults as environment values', () => {
    expect(functionEnv(s.template, ids.conversation)).toMatchObject({
      [ENV.debounceMs]: '2500',
      [ENV.maxTurnWaitMs]: '15000',
      [ENV.mediaTimeoutMs]: '120000',
      [ENV.historyTtlDays]: '30',
      [ENV.historyLimit]: '20',
      [ENV.summaryEveryTurns]: '10',
      [ENV.maxReceiveCount]: '5',
      [ENV.humanTakeoverMinutes]: '30',
      [ENV.responder]: 'bedrock',
      [ENV.bedrockModelId]: DEFAULT_BEDROCK_MODEL_ID,
      [ENV.tenantSecretPrefix]: 'chat-relay',
      [ENV.tenantCacheSeconds]: '3600',
      [ENV.graphApiVersion]: 'v25.0',
    });
    expect(functionEnv(s.template, ids.webhook)).toMatchObject({
      [ENV.maxBodyBytes]: '1048576',
      [ENV.enqueueBudgetMs]: '1500',
    });
    expect(functionEnv(s.template, ids.delivery)).toMatchObject({
      [ENV.typingDelay]: 'false',
      [ENV.sendTimeoutMs]: '25000',
      [ENV.maxReceiveCount]: '100',
      [ENV.graphApiVersion]: 'v25.0',
    });
  });

  it('logs each function to its own log group retained for a month', () => {
    for (const id of Object.values(ids)) {
      const fn = s.template.toJSON().Resources[id];
      const groupId = fn.Properties.LoggingConfig.LogGroup.Ref as string;
      const group = s.template.toJSON().Resources[groupId];
      expect(group.Type).toBe('AWS::Logs::LogGroup');
      expect(group.Properties.RetentionInDays).toBe(30);
      expect(group.DeletionPolicy).toBe('Retain');
    }
  });

  it('logs JSON with the platform lines at WARN and the application lines at the relay log level', () => {
    for (const id of Object.values(ids)) {
      const fn = s.template.toJSON().Resources[id];
      expect(fn.Properties.LoggingConfig).toEqual({
        LogFormat: 'JSON',
        SystemLogLevel: 'WARN',
        ApplicationLogLevel: 'INFO',
        LogGroup: { Ref: expect.any(String) },
      });
    }
  });

  it("lets DEBUG lines through Lambda's filter and never filters above INFO, where EMF metrics would be dropped", () => {
    const levels = (logLevel: LogLevel) => {
      const other = synthRelay({ logLevel });
      return [
        other.relay.webhookFunction,
        other.relay.conversationFunction,
        other.relay.timerFunction,
        other.relay.deliveryFunction,
      ].map((fn) => {
        const config = other.template.toJSON().Resources[logicalId(other.stack, fn)].Properties.LoggingConfig;
        return [config.LogFormat, config.SystemLogLevel, config.ApplicationLogLevel];
      });
    };
    expect(levels(LogLevel.DEBUG)).toEqual(Array(4).fill(['JSON', 'WARN', 'DEBUG']));
    expect(levels(LogLevel.WARN)).toEqual(Array(4).fill(['JSON', 'WARN', undefined]));
    expect(levels(LogLevel.ERROR)).toEqual(Array(4).fill(['JSON', 'WARN', undefined]));
  });

  it('bundles each handler as a zip asset from the local build', () => {
    for (const id of Object.values(ids)) {
      const fn = s.template.toJSON().Resources[id];
      expect(fn.Properties.Code.S3Key).toMatch(/^[0-9a-f]{64}\.zip$/);
    }
  });
});

describe('webhook API', () => {
  it('routes GET and POST /webhooks/{channel}/{tenantId} to the webhook Lambda', () => {
    const routes = resourcesOf(s.template, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey);
    expect(routes.sort()).toEqual([
      'GET /webhooks/{channel}/{tenantId}',
      'POST /webhooks/{channel}/{tenantId}',
    ]);
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: { 'Fn::GetAtt': [ids.webhook, 'Arn'] },
      PayloadFormatVersion: '2.0',
    });
    s.template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
  });

  it('throttles the default stage with the configured rate and burst', () => {
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
    });
  });

  it('writes compact JSON access logs with method, status and latencies but never path, query, headers or body', () => {
    const stages = resourcesOf(s.template, 'AWS::ApiGatewayV2::Stage');
    expect(stages).toHaveLength(1);
    const stage = stages[0]![1];
    const settings = stage.Properties.AccessLogSettings as {
      Format: string;
      DestinationArn: { 'Fn::GetAtt': string[] };
    };
    const format = JSON.parse(settings.Format) as Record<string, string>;
    expect(format).toEqual(ACCESS_LOG_FIELDS);
    expect(Object.values(format).sort()).toEqual(
      [
        '$context.requestId',
        '$context.identity.sourceIp',
        '$context.httpMethod',
        '$context.status',
        '$context.responseLatency',
        '$context.responseLength',
        '$context.integrationStatus',
        '$context.integrationLatency',
        '$context.error.message',
        '$context.integrationErrorMessage',
      ].sort(),
    );
    const lower = settings.Format.toLowerCase();
    for (const forbidden of [
      '$context.path',
      'querystring',
      'query',
      'header',
      'body',
      '$input',
      'useragent',
      'authorizer',
    ]) {
      expect(lower).not.toContain(forbidden);
    }
    const groupId = settings.DestinationArn['Fn::GetAtt'][0] as string;
    expect(s.template.toJSON().Resources[groupId].Properties.RetentionInDays).toBe(30);
  });

  it('outputs the webhook base URL', () => {
    const outputs = s.template.findOutputs('*', {
      Value: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.anyValue(), 'ApiEndpoint'] }, '/webhooks']] },
    });
    expect(Object.keys(outputs)).toHaveLength(1);
  });
});

describe('queues', () => {
  const queueProps = (q: unknown) => s.template.toJSON().Resources[logicalId(s.stack, q as never)].Properties;

  it('makes inbound and outbound high-throughput FIFO queues with FIFO DLQs', () => {
    for (const [queue, dlq, receives] of [
      [s.relay.inboundQueue, s.relay.inboundDlq, 5],
      [s.relay.outboundQueue, s.relay.outboundDlq, 100],
    ] as const) {
      expect(queueProps(queue)).toMatchObject({
        FifoQueue: true,
        FifoThroughputLimit: 'perMessageGroupId',
        DeduplicationScope: 'messageGroup',
        SqsManagedSseEnabled: true,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(s.stack, dlq), 'Arn'] },
          maxReceiveCount: receives,
        },
      });
      expect(queueProps(dlq)).toMatchObject({
        FifoQueue: true,
        MessageRetentionPeriod: 14 * 86400,
        SqsManagedSseEnabled: true,
      });
    }
  });

  it('makes the timer queue a standard queue with its own DLQ', () => {
    const timer = queueProps(s.relay.timerQueue);
    expect(timer.FifoQueue).toBeUndefined();
    expect(timer.RedrivePolicy.maxReceiveCount).toBe(5);
    expect(queueProps(s.relay.timerDlq)).toMatchObject({
      MessageRetentionPeriod: 14 * 86400,
      SqsManagedSseEnabled: true,
    });
  });

  it('sets each visibility timeout to at least six times its consumer timeout', () => {
    expect(queueProps(s.relay.inboundQueue).VisibilityTimeout).toBeGreaterThanOrEqual(6 * 60);
    expect(queueProps(s.relay.timerQueue).VisibilityTimeout).toBeGreaterThanOrEqual(6 * 10);
    expect(queueProps(s.relay.outboundQueue).VisibilityTimeout).toBeGreaterThanOrEqual(6 * 60);
  });

  it('denies every non-TLS request on all eight queues (six core, two media)', () => {
    const policies = resourcesOf(s.template, 'AWS::SQS::QueuePolicy');
    expect(policies).toHaveLength(8);
    for (const [, policy] of policies) {
      expect(policy.Properties.PolicyDocument).toMatchObject({
        Statement: expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      });
    }
  });
});

describe('tables', () => {
  it('creates the memory table with pk/sk and TTL expiresAt, and no other table (no idempotency table)', () => {
    s.template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    expect(resourcesOf(s.template, 'AWS::DynamoDB::Table')).toHaveLength(1);
  });
});

describe('event sources', () => {
  it('consumes the three queues in batches of 10 with partial batch failures and no batching window', () => {
    const mappings = resourcesOf(s.template, 'AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(3);
    const byFunction = new Map(
      mappings.map(([, m]) => [(m.Properties.FunctionName as { Ref: string }).Ref, m.Properties]),
    );
    const expectedSource = {
      [ids.conversation]: logicalId(s.stack, s.relay.inboundQueue),
      [ids.timer]: logicalId(s.stack, s.relay.timerQueue),
      [ids.delivery]: logicalId(s.stack, s.relay.outboundQueue),
    };
    for (const [fnId, queueId] of Object.entries(expectedSource)) {
      const props = byFunction.get(fnId);
      expect(props).toMatchObject({
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      });
      expect(props?.MaximumBatchingWindowInSeconds).toBeUndefined();
    }
  });
});

describe('IAM', () => {
  const secretStatements = (fnId: string) =>
    roleStatements(s.template, fnId).filter((st) =>
      actionsOf(st).some((a) => a.startsWith('secretsmanager:')),
    );

  it('lets the webhook read only {prefix}/tenants/* secrets and send to inbound', () => {
    const statements = roleStatements(s.template, ids.webhook);
    const secrets = secretStatements(ids.webhook);
    expect(secrets).toHaveLength(1);
    expect(actionsOf(secrets[0]!)).toEqual(['secretsmanager:GetSecretValue']);
    expect(resourcesOfStatement(secrets[0]!)).toEqual([SECRET_ARN]);
    const all = statements.flatMap(actionsOf);
    expect(all.some((a) => a.startsWith('dynamodb:'))).toBe(false);
    expect(all).toContain('sqs:SendMessage');
    expect(all).not.toContain('sqs:ReceiveMessage');
    const resources = statements.flatMap(resourcesOfStatement);
    expect(resources).not.toContain('*');
    expect(resources.filter((r) => r.includes('sqs') || r.startsWith('<'))).toEqual([
      `<${logicalId(s.stack, s.relay.inboundQueue)}.Arn>`,
    ]);
  });

  it('gives the conversation, delivery and webhook functions the same tenant-secret grant and the timer none', () => {
    for (const id of [ids.conversation, ids.delivery]) {
      const secrets = secretStatements(id);
      expect(secrets.flatMap(actionsOf).filter((a) => a !== 'secretsmanager:PutSecretValue')).toEqual([
        'secretsmanager:GetSecretValue',
      ]);
      expect([...new Set(secrets.flatMap(resourcesOfStatement))]).toEqual([SECRET_ARN]);
    }
    expect(secretStatements(ids.timer)).toHaveLength(0);
  });

  it('lets only delivery write the tenant secrets (a refreshed Zalo token pair), on the tenant secrets alone', () => {
    const actions = (id: string) => secretStatements(id).flatMap(actionsOf).sort();
    expect(actions(ids.delivery)).toEqual(['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
    expect([...new Set(secretStatements(ids.delivery).flatMap(resourcesOfStatement))]).toEqual([SECRET_ARN]);
    for (const id of [ids.conversation, ids.webhook, ids.timer]) {
      expect(actions(id), id).not.toContain('secretsmanager:PutSecretValue');
    }
  });

  it('scopes the Bedrock permission to the default inference profile and the model it routes to', () => {
    // bedrock:Retrieve on the knowledge base is checked in knowledge.test.ts.
    const bedrock = roleStatements(s.template, ids.conversation).filter((st) =>
      actionsOf(st).includes('bedrock:InvokeModel'),
    );
    expect(bedrock).toHaveLength(2);
    const profileArn = `arn:aws:bedrock:us-east-1:123456789012:inference-profile/${DEFAULT_BEDROCK_MODEL_ID}`;
    const [direct, routed] = bedrock;
    expect(actionsOf(direct!)).toEqual(['bedrock:InvokeModel']);
    expect(resourcesOfStatement(direct!)).toEqual([profileArn]);
    expect(actionsOf(routed!)).toEqual(['bedrock:InvokeModel']);
    const baseModel = DEFAULT_BEDROCK_MODEL_ID.replace(/^global\./, '');
    expect(resourcesOfStatement(routed!)).toEqual([
      `arn:aws:bedrock:*::foundation-model/${baseModel}`,
      `arn:aws:bedrock:::foundation-model/${baseModel}`,
    ]);
    expect(routed!.Condition).toEqual({ StringEquals: { 'bedrock:InferenceProfileArn': profileArn } });
  });

  it('lets the timer only consume the timer queue and send to inbound and back to the timer queue', () => {
    const statements = roleStatements(s.template, ids.timer);
    const inbound = `<${logicalId(s.stack, s.relay.inboundQueue)}.Arn>`;
    const timer = `<${logicalId(s.stack, s.relay.timerQueue)}.Arn>`;
    const resourcesFor = (action: string): string[] =>
      statements.filter((st) => actionsOf(st).includes(action)).flatMap((st) => resourcesOfStatement(st));
    expect(resourcesFor('sqs:SendMessage').sort()).toEqual([inbound, timer].sort());
    expect(resourcesFor('sqs:ReceiveMessage')).toEqual([timer]);
    const actions = statements.flatMap((st) => actionsOf(st));
    expect(actions.some((a) => a.startsWith('dynamodb:') || a.startsWith('bedrock:'))).toBe(false);
  });

  it('lets delivery consume outbound, change visibility, read/write the memory table and send only to the outbound DLQ', () => {
    const statements = roleStatements(s.template, ids.delivery);
    const pairs = statements.flatMap((st) =>
      actionsOf(st).map((a) => `${a} ${resourcesOfStatement(st).join(',')}`),
    );
    const outbound = `<${logicalId(s.stack, s.relay.outboundQueue)}.Arn>`;
    expect(pairs).toContain(`sqs:ChangeMessageVisibility ${outbound}`);
    expect(pairs).toContain(`sqs:DeleteMessage ${outbound}`);
    const memory = `<${logicalId(s.stack, s.relay.memoryTable)}.Arn>`;
    for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query']) {
      expect(allows(statements, action, memory), `${action} on ${memory}`).toBe(true);
    }
    // It moves a part that failed for good to the DLQ itself, and sends nowhere else.
    const dlq = `<${logicalId(s.stack, s.relay.outboundDlq)}.Arn>`;
    expect(pairs).toContain(`sqs:SendMessage ${dlq}`);
    expect(pairs.filter((p) => p.startsWith('sqs:SendMessage'))).toEqual([`sqs:SendMessage ${dlq}`]);
    expect(pairs.some((p) => p.startsWith('bedrock:'))).toBe(false);
  });
});

describe('cdk-nag', () => {
  it('reports no unacknowledged AwsSolutions findings', () => {
    expect(nagFindings(s.app)).toEqual([]);
  });

  it('gives every acknowledgement a written reason', () => {
    const acks = acknowledgements(s.app);
    expect(acks.length).toBeGreaterThanOrEqual(4 + 4 + 3 + 2);
    for (const ack of acks) {
      expect(typeof ack.reason, `${ack.path} ${ack.id}`).toBe('string');
      expect((ack.reason as string).trim().length, `${ack.path} ${ack.id}`).toBeGreaterThan(30);
    }
    const secretAck =
      'AwsSolutions-IAM5[Resource::arn:aws:secretsmanager:us-east-1:123456789012:secret:chat-relay/tenants/*]';
    // Three functions and the media task role read tenant secrets.
    expect(acks.filter((a) => a.id.endsWith(secretAck))).toHaveLength(4);
  });
});

describe('snapshot', () => {
  it('matches the stored template with asset hashes normalised', () => {
    expect(normalisedTemplate(s.template)).toMatchSnapshot();
  });
});
