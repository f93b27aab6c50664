/**
 * The knowledge base (issue 15): Bedrock Knowledge Base over S3 Vectors, its documents bucket and
 * data source, the grants (the conversation function retrieves, never writes), tenant-filterable
 * metadata, the prop/context switches and their synth-time conflicts, cdk-nag.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/contracts/env.js';
import {
  ChatRelay,
  ChatRelayKnowledge,
  type ChatRelayProps,
  ChatRelayStack,
  KNOWLEDGE_PREFIX,
  KNOWLEDGE_TENANT_ATTRIBUTE,
  KnowledgeEmbeddingModel,
  Responder,
  readChatRelayContext,
  validateChatRelayProps,
} from '../../lib/index.js';
import {
  acknowledgements,
  actionsOf,
  allows,
  featureFlags,
  functionEnv,
  logicalId,
  nagFindings,
  resourcesOf,
  roleStatements,
  type Synthesised,
  synthRelay,
  TEST_ENV,
  testApp,
} from './synth.js';

const KB_TYPES = [
  'AWS::Bedrock::KnowledgeBase',
  'AWS::Bedrock::DataSource',
  'AWS::S3Vectors::VectorBucket',
  'AWS::S3Vectors::Index',
] as const;

let s: Synthesised;
beforeAll(() => {
  s = synthRelay({});
});

/** A relay in a fresh stack, with `extra` building other constructs of that stack into its props. */
function relayWith(extra: (stack: Stack) => ChatRelayProps): {
  stack: Stack;
  relay: ChatRelay;
  template: Template;
} {
  const stack = new Stack(testApp(), 'T', { env: TEST_ENV });
  const relay = new ChatRelay(stack, 'Relay', extra(stack));
  return { stack, relay, template: Template.fromStack(stack) };
}

const inlineFunction = (stack: Stack, id: string): LambdaFunction =>
  new LambdaFunction(stack, id, {
    runtime: Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: Code.fromInline('exports.handler = async () => ({})'),
  });

function only(template: Template, type: string): [string, { Properties: Record<string, unknown> }] {
  const found = resourcesOf(template, type);
  expect(found, type).toHaveLength(1);
  return found[0] as [string, { Properties: Record<string, unknown> }];
}

describe('knowledge base (default bedrock responder)', () => {
  it('creates one VECTOR knowledge base on S3 Vectors with the multilingual embedding model', () => {
    const [, kb] = only(s.template, 'AWS::Bedrock::KnowledgeBase');
    const [indexId] = only(s.template, 'AWS::S3Vectors::Index');
    expect(kb.Properties.KnowledgeBaseConfiguration).toEqual({
      Type: 'VECTOR',
      VectorKnowledgeBaseConfiguration: {
        EmbeddingModelArn: 'arn:aws:bedrock:us-east-1::foundation-model/cohere.embed-multilingual-v3',
      },
    });
    expect(kb.Properties.StorageConfiguration).toEqual({
      Type: 'S3_VECTORS',
      S3VectorsConfiguration: { IndexArn: { 'Fn::GetAtt': [indexId, 'IndexArn'] } },
    });
    expect(kb.Properties.Name).toMatch(/^([0-9a-zA-Z][_-]?){1,100}$/);
    expect(s.relay.knowledge?.embeddingModel).toBe(KnowledgeEmbeddingModel.COHERE_EMBED_MULTILINGUAL_V3);
  });

  it('sizes the vector index to the model and keeps tenantId filterable (only the Bedrock text keys are not)', () => {
    const [bucketId, bucket] = only(s.template, 'AWS::S3Vectors::VectorBucket');
    const [, index] = only(s.template, 'AWS::S3Vectors::Index');
    expect(bucket.Properties).toEqual({ EncryptionConfiguration: { SseType: 'AES256' } });
    expect(index.Properties).toEqual({
      VectorBucketArn: { 'Fn::GetAtt': [bucketId, 'VectorBucketArn'] },
      DataType: 'float32',
      Dimension: 1024,
      DistanceMetric: 'cosine',
      MetadataConfiguration: {
        NonFilterableMetadataKeys: ['AMAZON_BEDROCK_TEXT', 'AMAZON_BEDROCK_METADATA'],
      },
    });
    const nonFilterable = (index.Properties.MetadataConfiguration as { NonFilterableMetadataKeys: string[] })
      .NonFilterableMetadataKeys;
    expect(nonFilterable).not.toContain(KNOWLEDGE_TENANT_ATTRIBUTE);
  });

  it('reads documents from the knowledge/ prefix of a versioned, encrypted, TLS-only, logged bucket', () => {
    const [, ds] = only(s.template, 'AWS::Bedrock::DataSource');
    const kbId = logicalId(s.stack, s.relay.knowledge!.knowledgeBase);
    const bucketId = logicalId(s.stack, s.relay.knowledge!.bucket);
    expect(ds.Properties).toMatchObject({
      KnowledgeBaseId: { 'Fn::GetAtt': [kbId, 'KnowledgeBaseId'] },
      DataDeletionPolicy: 'DELETE',
      DataSourceConfiguration: {
        Type: 'S3',
        S3Configuration: {
          BucketArn: { 'Fn::GetAtt': [bucketId, 'Arn'] },
          BucketOwnerAccountId: TEST_ENV.account,
          InclusionPrefixes: [KNOWLEDGE_PREFIX],
        },
      },
      VectorIngestionConfiguration: {
        ChunkingConfiguration: {
          ChunkingStrategy: 'FIXED_SIZE',
          FixedSizeChunkingConfiguration: { MaxTokens: 300, OverlapPercentage: 20 },
        },
      },
    });
    const bucket = s.template.toJSON().Resources[bucketId];
    expect(bucket.Properties).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      LoggingConfiguration: {
        DestinationBucketName: { Ref: logicalId(s.stack, s.relay.knowledge!.accessLogsBucket) },
      },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, RestrictPublicBuckets: true },
    });
    expect(bucket.DeletionPolicy).toBe('Retain');
    const policies = resourcesOf(s.template, 'AWS::S3::BucketPolicy').filter(
      ([, p]) => (p.Properties.Bucket as { Ref: string }).Ref === bucketId,
    );
    expect(JSON.stringify(policies)).toContain('"aws:SecureTransport":"false"');
  });

  it('gives the knowledge base role only what ingestion needs: the model, the prefix, the index', () => {
    const k = s.relay.knowledge!;
    const roleId = logicalId(s.stack, k.role);
    const role = s.template.toJSON().Resources[roleId];
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'bedrock.amazonaws.com' },
        Condition: {
          StringEquals: { 'aws:SourceAccount': TEST_ENV.account },
          ArnLike: { 'aws:SourceArn': 'arn:aws:bedrock:us-east-1:123456789012:knowledge-base/*' },
        },
      },
    ]);
    const statements = resourcesOf(s.template, 'AWS::IAM::Policy')
      .filter(([, p]) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
      .flatMap(
        ([, p]) => (p.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement,
      );
    const bucketArn = `<${logicalId(s.stack, k.bucket)}.Arn>`;
    const indexArn = `<${logicalId(s.stack, k.vectorIndex)}.IndexArn>`;
    expect(
      allows(
        statements,
        'bedrock:InvokeModel',
        'arn:aws:bedrock:us-east-1::foundation-model/cohere.embed-multilingual-v3',
      ),
    ).toBe(true);
    expect(allows(statements, 's3:GetObject', `${bucketArn}/knowledge/*`)).toBe(true);
    expect(allows(statements, 's3:ListBucket', bucketArn)).toBe(true);
    for (const action of ['s3vectors:PutVectors', 's3vectors:QueryVectors', 's3vectors:DeleteVectors']) {
      expect(allows(statements, action, indexArn), action).toBe(true);
    }
    const actions = statements.flatMap(actionsOf);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    expect(actions).not.toContain('s3:PutObject');
    expect(actions).not.toContain('s3:DeleteObject');
  });

  it('lets the conversation function retrieve from this knowledge base only, and never write', () => {
    const convId = logicalId(s.stack, s.relay.conversationFunction);
    const statements = roleStatements(s.template, convId);
    const kbArn = `<${logicalId(s.stack, s.relay.knowledge!.knowledgeBase)}.KnowledgeBaseArn>`;
    expect(allows(statements, 'bedrock:Retrieve', kbArn)).toBe(true);
    const retrieve = statements.filter((st) => actionsOf(st).some((a) => a.startsWith('bedrock:Retrieve')));
    expect(retrieve.flatMap(actionsOf)).toEqual(['bedrock:Retrieve']);
    const actions = statements.flatMap(actionsOf);
    for (const forbidden of [
      'bedrock:StartIngestionJob',
      'bedrock:RetrieveAndGenerate',
      's3vectors:PutVectors',
      's3vectors:QueryVectors',
    ]) {
      expect(actions, forbidden).not.toContain(forbidden);
    }
    const knowledgeBucket = `<${logicalId(s.stack, s.relay.knowledge!.bucket)}.Arn>`;
    expect(JSON.stringify(statements)).not.toContain(knowledgeBucket.slice(1, -5));
  });

  it('sets KNOWLEDGE_BASE_ID and TOOL_MAX_ROUNDS on the conversation function', () => {
    const env = functionEnv(s.template, logicalId(s.stack, s.relay.conversationFunction));
    expect(env[ENV.knowledgeBaseId]).toEqual({
      'Fn::GetAtt': [logicalId(s.stack, s.relay.knowledge!.knowledgeBase), 'KnowledgeBaseId'],
    });
    expect(env[ENV.toolMaxRounds]).toBe('3');
    for (const fn of [s.relay.webhookFunction, s.relay.timerFunction, s.relay.deliveryFunction]) {
      expect(functionEnv(s.template, logicalId(s.stack, fn))).not.toHaveProperty(ENV.knowledgeBaseId);
    }
  });

  it('is clean under cdk-nag, with a reason for the one prefix wildcard', () => {
    expect(nagFindings(s.stack)).toEqual([]);
    const acks = acknowledgements(s.relay.knowledge!).filter((a) => a.id.includes('AwsSolutions-IAM5'));
    expect(acks.map((a) => a.id)).toEqual([
      'Annotation::AwsSolutions-IAM5[Resource::<RelayKnowledgeDocuments3DF273B3.Arn>/knowledge/*]',
    ]);
    expect(String(acks[0]?.reason)).toMatch(/prefix/);
  });
});

describe('knowledge switches', () => {
  it('creates none of the knowledge resources when turned off, and sets no KNOWLEDGE_BASE_ID', () => {
    const off = synthRelay({ knowledge: { enabled: false } });
    for (const type of KB_TYPES) expect(resourcesOf(off.template, type), type).toEqual([]);
    expect(off.relay.knowledge).toBeUndefined();
    const env = functionEnv(off.template, logicalId(off.stack, off.relay.conversationFunction));
    expect(env).not.toHaveProperty(ENV.knowledgeBaseId);
    expect(env[ENV.toolMaxRounds]).toBe('3');
    const statements = roleStatements(off.template, logicalId(off.stack, off.relay.conversationFunction));
    expect(statements.flatMap(actionsOf)).not.toContain('bedrock:Retrieve');
  });

  it('is off by default with a lambda or echo responder (no tool rounds either)', () => {
    const lambda = relayWith((stack) => ({ responder: Responder.lambda(inlineFunction(stack, 'Bot')) }));
    const echo = synthRelay({ responder: Responder.echo() });
    for (const other of [lambda, echo]) {
      for (const type of KB_TYPES) expect(resourcesOf(other.template, type), type).toEqual([]);
      const env = functionEnv(other.template, logicalId(other.stack, other.relay.conversationFunction));
      expect(env).not.toHaveProperty(ENV.knowledgeBaseId);
      expect(env).not.toHaveProperty(ENV.toolMaxRounds);
    }
  });

  it('reports knowledge or tools asked of a non-bedrock responder, each with the fix', () => {
    const problems = validateChatRelayProps({
      responder: Responder.echo(),
      knowledge: { enabled: true },
      toolMaxRounds: 2,
    });
    expect(problems).toEqual([
      'knowledge.enabled is true but the responder is Responder.echo(); only Responder.bedrock() retrieves from the knowledge base. Use Responder.bedrock() or set knowledge: { enabled: false }.',
      'toolMaxRounds is set but the responder is Responder.echo(); only Responder.bedrock() calls tenant tools. Remove toolMaxRounds or use Responder.bedrock().',
    ]);
  });

  it('checks the knowledge settings and tool rounds against their ranges', () => {
    const problems = validateChatRelayProps({
      knowledge: { chunkMaxTokens: 600, chunkOverlapPercentage: 0 },
      toolMaxRounds: 11,
    });
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain('knowledge.chunkMaxTokens must be a whole number from 20 to 512');
    expect(problems[1]).toContain('knowledge.chunkOverlapPercentage must be a whole number from 1 to 99');
    expect(problems[2]).toContain('toolMaxRounds must be between 0 and 10');
    // Titan V2 embeds up to 8192 tokens: 600-token chunks are fine there.
    expect(
      validateChatRelayProps({
        knowledge: { embeddingModel: KnowledgeEmbeddingModel.TITAN_TEXT_EMBEDDINGS_V2, chunkMaxTokens: 600 },
      }),
    ).toEqual([]);
  });

  it('reports a bad knowledge setting once at synth through the relay, and through a standalone knowledge construct', () => {
    const relayApp = testApp();
    const relayStack = new Stack(relayApp, 'S', { env: TEST_ENV });
    const relay = new ChatRelay(relayStack, 'Relay', { knowledge: { chunkOverlapPercentage: 100 } });
    const fromRelay = relayStack.node
      .findAll()
      .flatMap((c) => c.node.validate())
      .filter((p) => p.includes('chunkOverlapPercentage'));
    expect(fromRelay).toEqual([
      'knowledge.chunkOverlapPercentage must be a whole number from 1 to 99 (Bedrock fixed-size chunking); got 100. Set it to e.g. 20.',
    ]);
    expect(relay.knowledge).toBeDefined();
    const alone = new Stack(testApp(), 'K', { env: TEST_ENV });
    const knowledge = new ChatRelayKnowledge(alone, 'Knowledge', { chunkMaxTokens: 10 });
    expect(knowledge.node.validate()).toEqual([
      'chunkMaxTokens must be a whole number from 20 to 512 (the input limit of cohere.embed-multilingual-v3); got 10. Set chunkMaxTokens within that range (a model with a larger input allows bigger chunks).',
    ]);
  });

  it('sends Titan V2 its output size and builds the index with it', () => {
    const titan = synthRelay({
      knowledge: { embeddingModel: KnowledgeEmbeddingModel.TITAN_TEXT_EMBEDDINGS_V2 },
    });
    const [, kb] = only(titan.template, 'AWS::Bedrock::KnowledgeBase');
    expect(kb.Properties.KnowledgeBaseConfiguration).toEqual({
      Type: 'VECTOR',
      VectorKnowledgeBaseConfiguration: {
        EmbeddingModelArn: 'arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0',
        EmbeddingModelConfiguration: {
          BedrockEmbeddingModelConfiguration: { Dimensions: 1024, EmbeddingDataType: 'FLOAT32' },
        },
      },
    });
    const small = synthRelay({
      knowledge: {
        embeddingModel: KnowledgeEmbeddingModel.of('amazon.titan-embed-text-v2:0', 256, 8192, true),
      },
    });
    expect(only(small.template, 'AWS::S3Vectors::Index')[1].Properties.Dimension).toBe(256);
  });

  it('encrypts the documents with the customer key and lets the knowledge base role decrypt', () => {
    const withKey = relayWith((stack) => ({
      encryptionKey: new Key(stack, 'Key', { enableKeyRotation: true }),
    }));
    expect(withKey.relay.knowledge?.bucket.encryptionKey).toBeDefined();
    const bucketId = logicalId(withKey.stack, withKey.relay.knowledge!.bucket);
    const bucket = withKey.template.toJSON().Resources[bucketId];
    expect(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0]).toMatchObject({
      BucketKeyEnabled: true,
      ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' },
    });
    const roleId = logicalId(withKey.stack, withKey.relay.knowledge!.role);
    const statements = resourcesOf(withKey.template, 'AWS::IAM::Policy')
      .filter(([, p]) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
      .flatMap(
        ([, p]) => (p.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement,
      );
    expect(statements.flatMap(actionsOf)).toContain('kms:Decrypt');
    expect(nagFindings(withKey.stack)).toEqual([]);
  });

  it('grants lambda tools invoke on exactly the functions named, and nag accepts their versions', () => {
    let tool: LambdaFunction | undefined;
    const { stack, relay, template } = relayWith((st) => {
      tool = inlineFunction(st, 'OrderStatus');
      return { toolFunctions: [tool] };
    });
    if (!tool) throw new Error('no tool function');
    const statements = roleStatements(template, logicalId(stack, relay.conversationFunction));
    const toolArn = `<${logicalId(stack, tool)}.Arn>`;
    expect(allows(statements, 'lambda:InvokeFunction', toolArn)).toBe(true);
    expect(allows(statements, 'lambda:InvokeFunction', `${toolArn}:*`)).toBe(true);
    const invokeResources = statements
      .filter((st) => actionsOf(st).includes('lambda:InvokeFunction'))
      .flatMap((st) => (Array.isArray(st.Resource) ? st.Resource : [st.Resource]));
    expect(invokeResources).toHaveLength(2);
    const findings = nagFindings(stack).filter((f) => f.paths.some((p) => p.startsWith('T/Relay')));
    expect(findings).toEqual([]);
  });
});

describe('grantManageDocuments', () => {
  it('gives an operator role what the tenant CLI needs, on this bucket prefix and knowledge base only', () => {
    const stack = new Stack(testApp(), 'T', { env: TEST_ENV });
    const relay = new ChatRelay(stack, 'Relay');
    const role = new Role(stack, 'Operator', { assumedBy: new AccountRootPrincipal() });
    relay.knowledge!.grantManageDocuments(role);
    const again = Template.fromStack(stack);
    const roleId = logicalId(stack, role);
    const statements = resourcesOf(again, 'AWS::IAM::Policy')
      .filter(([, p]) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
      .flatMap(
        ([, p]) => (p.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement,
      );
    const bucketArn = `<${logicalId(stack, relay.knowledge!.bucket)}.Arn>`;
    const kbArn = `<${logicalId(stack, relay.knowledge!.knowledgeBase)}.KnowledgeBaseArn>`;
    for (const action of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject']) {
      expect(allows(statements, action, `${bucketArn}/knowledge/*`), action).toBe(true);
    }
    expect(allows(statements, 's3:ListBucket', bucketArn)).toBe(true);
    for (const action of [
      'bedrock:StartIngestionJob',
      'bedrock:GetIngestionJob',
      'bedrock:ListIngestionJobs',
    ]) {
      expect(allows(statements, action, kbArn), action).toBe(true);
    }
    expect(statements.flatMap(actionsOf).sort()).toEqual(
      [
        'bedrock:GetIngestionJob',
        'bedrock:ListIngestionJobs',
        'bedrock:StartIngestionJob',
        's3:DeleteObject',
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
      ].sort(),
    );
    expect(nagFindings(stack).filter((f) => f.paths.some((p) => p.startsWith('T/Operator')))).toEqual([]);
  });
});

describe('ChatRelayStack context', () => {
  it('reads chatRelay:knowledge, the embedding model and chatRelay:toolMaxRounds', () => {
    const ctx = readChatRelayContext({
      'chatRelay:knowledge': 'false',
      'chatRelay:toolMaxRounds': '2',
    });
    expect(ctx.problems).toEqual([]);
    expect(ctx.props.knowledge).toEqual({ enabled: false });
    expect(ctx.props.toolMaxRounds).toBe(2);
    const titan = readChatRelayContext({ 'chatRelay:knowledgeEmbeddingModel': 'titan-text-v2' });
    expect(titan.props.knowledge?.embeddingModel).toBe(KnowledgeEmbeddingModel.TITAN_TEXT_EMBEDDINGS_V2);
    const bad = readChatRelayContext({
      'chatRelay:knowledge': 'maybe',
      'chatRelay:knowledgeEmbeddingModel': 'x',
    });
    expect(bad.problems).toHaveLength(2);
    expect(bad.problems[0]).toContain('chatRelay:knowledge must be true or false');
    expect(bad.problems[1]).toContain('cohere-multilingual-v3, titan-text-v2');
  });

  it('outputs the knowledge base id, data source id and bucket the tenant CLI reads, or none when off', () => {
    const on = new ChatRelayStack(
      new App({ context: { ...featureFlags(), 'aws:cdk:bundling-stacks': [] } }),
      'On',
      {
        env: TEST_ENV,
      },
    );
    const outputs = Template.fromStack(on).toJSON().Outputs as Record<string, unknown>;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining(['KnowledgeBaseId', 'KnowledgeDataSourceId', 'KnowledgeBucketName']),
    );
    const off = new ChatRelayStack(
      new App({
        context: { ...featureFlags(), 'aws:cdk:bundling-stacks': [], 'chatRelay:knowledge': false },
      }),
      'Off',
      { env: TEST_ENV },
    );
    const offOutputs = Template.fromStack(off).toJSON().Outputs as Record<string, unknown>;
    expect(Object.keys(offOutputs).filter((k) => k.startsWith('Knowledge'))).toEqual([]);
    for (const type of KB_TYPES) expect(resourcesOf(Template.fromStack(off), type), type).toEqual([]);
  });
});
