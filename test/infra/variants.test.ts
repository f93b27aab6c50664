import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env.js';
import { ChatRelayPropsError, ValidationError } from '../../lib/errors.js';
import { ChatRelay, ChatRelayStack, Responder } from '../../lib/index.js';
import {
  acknowledgements,
  actionsOf,
  allows,
  functionEnv,
  logicalId,
  nagFindings,
  resourcesOf,
  resourcesOfStatement,
  roleStatements,
  TEST_ENV,
  testApp,
} from './synth.js';

const RESPONDER_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:my-bot';

describe('ChatRelayStack configured from -c style string context', () => {
  let stack: ChatRelayStack;
  let template: Template;
  const id = (c: unknown) => logicalId(stack, c as never);

  beforeAll(() => {
    const app = testApp(false, {
      'chatRelay:removalPolicy': 'destroy',
      'chatRelay:debounceMs': '3000',
      'chatRelay:throttleRate': '25',
      'chatRelay:throttleBurst': '50',
      'chatRelay:secretPrefix': 'acme/relay',
      'chatRelay:responder': 'lambda',
      'chatRelay:responderFunctionArn': RESPONDER_ARN,
      'chatRelay:apiBaseUrls': '{"telegram":"http://127.0.0.1:9000","pancake":"https://pancake.example.com"}',
      'chatRelay:tracing': 'true',
      'chatRelay:deliveryReservedConcurrency': '3',
      'chatRelay:maxReceiveCount': '{"inbound":3}',
      'chatRelay:namePrefix': 'relay-dev',
      'chatRelay:logRetentionDays': '7',
      'chatRelay:rateLimits': '{"pancakePage":3}',
      'chatRelay:humanTakeoverMinutes': '45',
      'chatRelay:graphApiVersion': 'v26.0',
    });
    stack = new ChatRelayStack(app, 'Configured', { env: TEST_ENV });
    template = Template.fromStack(stack);
  });

  it('destroys tables and log groups with removalPolicy destroy', () => {
    for (const [, table] of resourcesOf(template, 'AWS::DynamoDB::Table')) {
      expect(table.DeletionPolicy).toBe('Delete');
    }
    const groups = resourcesOf(template, 'AWS::Logs::LogGroup');
    // Four functions, the API access log and the media worker.
    expect(groups).toHaveLength(6);
    for (const [, group] of groups) {
      expect(group.DeletionPolicy).toBe('Delete');
      expect(group.Properties.RetentionInDays).toBe(7);
    }
  });

  it('passes coerced values to the functions and the stage', () => {
    expect(functionEnv(template, id(stack.relay.deliveryFunction))).toMatchObject({
      [ENV.rateLimits]: '{"pancakePage":3}',
    });
    expect(functionEnv(template, id(stack.relay.conversationFunction))).toMatchObject({
      [ENV.humanTakeoverMinutes]: '45',
      [ENV.debounceMs]: '3000',
      [ENV.maxReceiveCount]: '3',
      [ENV.tenantSecretPrefix]: 'acme/relay',
      [ENV.responder]: 'lambda',
      [ENV.responderFunctionName]: RESPONDER_ARN,
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 25, ThrottlingBurstLimit: 50 },
    });
  });

  it('gives API base URLs to the functions that call platforms, and only those', () => {
    const expected = {
      [ENV.telegramApiBase]: 'http://127.0.0.1:9000',
      [ENV.pancakeApiBase]: 'https://pancake.example.com',
    };
    expect(functionEnv(template, id(stack.relay.conversationFunction))).toMatchObject(expected);
    expect(functionEnv(template, id(stack.relay.deliveryFunction))).toMatchObject(expected);
    expect(functionEnv(template, id(stack.relay.webhookFunction))).not.toHaveProperty(ENV.telegramApiBase);
    expect(functionEnv(template, id(stack.relay.deliveryFunction))).not.toHaveProperty(ENV.graphApiBase);
  });

  it('gives the Graph API version of the context to the conversation, delivery and media worker', () => {
    for (const fn of [stack.relay.conversationFunction, stack.relay.deliveryFunction]) {
      expect(functionEnv(template, id(fn))).toMatchObject({ [ENV.graphApiVersion]: 'v26.0' });
    }
    expect(functionEnv(template, id(stack.relay.webhookFunction))).not.toHaveProperty(ENV.graphApiVersion);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: Match.arrayWith([
        Match.objectLike({
          Environment: Match.arrayWith([{ Name: ENV.graphApiVersion, Value: 'v26.0' }]),
        }),
      ]),
    });
  });

  it('names queues from the definitions with the prefix and honours maxReceiveCount', () => {
    const names = resourcesOf(template, 'AWS::SQS::Queue')
      .map(([, q]) => q.Properties.QueueName)
      .sort();
    expect(names).toEqual([
      'relay-dev-inbound-dlq.fifo',
      'relay-dev-inbound.fifo',
      'relay-dev-media-jobs',
      'relay-dev-media-jobs-dlq',
      'relay-dev-outbound-dlq.fifo',
      'relay-dev-outbound.fifo',
      'relay-dev-timer',
      'relay-dev-timer-dlq',
    ]);
    const inbound = template.toJSON().Resources[id(stack.relay.inboundQueue)];
    expect(inbound.Properties.RedrivePolicy.maxReceiveCount).toBe(3);
    const tables = resourcesOf(template, 'AWS::DynamoDB::Table').map(([, t]) => t.Properties.TableName);
    expect(tables).toEqual(['relay-dev-memory']);
  });

  it('scopes tenant secrets to the configured prefix', () => {
    const statements = roleStatements(template, id(stack.relay.webhookFunction));
    expect(
      allows(
        statements,
        'secretsmanager:GetSecretValue',
        'arn:aws:secretsmanager:us-east-1:123456789012:secret:acme/relay/tenants/*',
      ),
    ).toBe(true);
  });

  it('lets the conversation function invoke only the responder function, with no Bedrock access', () => {
    const statements = roleStatements(template, id(stack.relay.conversationFunction));
    expect(allows(statements, 'lambda:InvokeFunction', RESPONDER_ARN)).toBe(true);
    const invokeResources = statements
      .filter((st) => actionsOf(st).includes('lambda:InvokeFunction'))
      .flatMap(resourcesOfStatement);
    expect(invokeResources.every((r) => r === RESPONDER_ARN || r === `${RESPONDER_ARN}:*`)).toBe(true);
    expect(statements.some((st) => actionsOf(st).some((a) => a.startsWith('bedrock:')))).toBe(false);
    expect(functionEnv(template, id(stack.relay.conversationFunction))).not.toHaveProperty(
      ENV.bedrockModelId,
    );
  });

  it('enables X-Ray tracing and reserved concurrency', () => {
    for (const fn of [stack.relay.webhookFunction, stack.relay.deliveryFunction]) {
      expect(template.toJSON().Resources[id(fn)].Properties.TracingConfig).toEqual({ Mode: 'Active' });
    }
    expect(
      template.toJSON().Resources[id(stack.relay.deliveryFunction)].Properties.ReservedConcurrentExecutions,
    ).toBe(3);
  });

  it('exposes stable output keys for the tenant CLI', () => {
    const outputs = template.toJSON().Outputs as Record<string, unknown>;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        'WebhookBaseUrl',
        'TenantSecretPrefix',
        'InboundDlqName',
        'OutboundDlqName',
        'MemoryTableName',
      ]),
    );
    expect(outputs.TenantSecretPrefix).toMatchObject({ Value: 'acme/relay' });
  });

  it('stays cdk-nag clean with tracing and a lambda responder, each acknowledgement reasoned', () => {
    expect(nagFindings(stack)).toEqual([]);
    for (const ack of acknowledgements(stack)) expect(String(ack.reason).length).toBeGreaterThan(30);
  });
});

describe('ChatRelay with an inference profile, media jobs and tenant outputs', () => {
  let stack: Stack;
  let relay: ChatRelay;
  let template: Template;

  beforeAll(() => {
    stack = new Stack(testApp(), 'Profiled', { env: TEST_ENV });
    relay = new ChatRelay(stack, 'Relay', {
      responder: Responder.bedrock({ modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0' }),
      // Media is wired by hand below (the hook a custom media worker would use).
      media: { enabled: false },
      monitoring: { enabled: false },
    });
    const mediaJobs = new Queue(stack, 'MediaJobs', { enforceSSL: true });
    relay.addMediaJobsQueue(mediaJobs);
    relay.addTenantOutputs('acme', ['telegram', 'pancake']);
    template = Template.fromStack(stack);
  });

  it('grants the profile directly and its model only through the profile', () => {
    const statements = roleStatements(template, logicalId(stack, relay.conversationFunction));
    const bedrock = statements.filter((st) => actionsOf(st).includes('bedrock:InvokeModel'));
    const profileArn =
      'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0';
    expect(
      bedrock.map((st) => ({
        actions: actionsOf(st),
        resources: resourcesOfStatement(st),
        condition: st.Condition,
      })),
    ).toEqual([
      { actions: ['bedrock:InvokeModel'], resources: [profileArn], condition: undefined },
      {
        actions: ['bedrock:InvokeModel'],
        resources: ['arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0'],
        condition: { StringEquals: { 'bedrock:InferenceProfileArn': profileArn } },
      },
    ]);
    expect(functionEnv(template, logicalId(stack, relay.conversationFunction))).toMatchObject({
      [ENV.bedrockModelId]: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
    });
  });

  it('wires the media-jobs queue into the conversation function', () => {
    const fnId = logicalId(stack, relay.conversationFunction);
    const queueId = stack.getLogicalId(stack.node.findChild('MediaJobs').node.defaultChild as never);
    expect(functionEnv(template, fnId)[ENV.mediaJobsQueueUrl]).toEqual({ Ref: queueId });
    expect(allows(roleStatements(template, fnId), 'sqs:SendMessage', `<${queueId}.Arn>`)).toBe(true);
  });

  it('adds one webhook URL output per channel of the tenant', () => {
    const outputs = Object.values(
      template.toJSON().Outputs as Record<string, { Value: unknown; Description: string }>,
    );
    const tenant = outputs.filter((o) => o.Description?.includes('tenant acme'));
    expect(tenant).toHaveLength(2);
    const values = tenant.map((o) => resourcesOfStatement({ Resource: o.Value })[0]);
    const endpoint = `<${logicalId(stack, relay.api)}.ApiEndpoint>`;
    expect(values.sort()).toEqual([
      `${endpoint}/webhooks/pancake/acme`,
      `${endpoint}/webhooks/telegram/acme`,
    ]);
    expect(() => relay.addTenantOutputs('Bad Id', ['sms'])).toThrow(ChatRelayPropsError);
    expect(() => relay.addTenantOutputs('Bad Id', ['sms'])).toThrow(ValidationError);
  });

  it('stays cdk-nag clean with a cross-region inference profile', () => {
    expect(nagFindings(relay)).toEqual([]);
  });
});

describe('ChatRelayStack validation', () => {
  it('reports context problems and prop problems together, each with the construct path', () => {
    const app = testApp(false, { 'chatRelay:debounceMs': 'soon', 'chatRelay:historyLimit': '0' });
    const stack = new ChatRelayStack(app, 'Broken', { env: TEST_ENV });
    let message = '';
    try {
      app.synth();
    } catch (err) {
      message = (err as Error).message;
    }
    expect(stack.relay).toBeDefined();
    expect(message).toContain(
      '[Broken] Context chatRelay:debounceMs must be a number; got "soon". Set it in cdk.json "context" or pass -c chatRelay:debounceMs=2500.',
    );
    expect(message).toContain(
      '[Broken/Relay] historyLimit must be between 1 and 200; got 0. Set historyLimit to a larger value.',
    );
  });
});
