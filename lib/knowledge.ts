/**
 * `ChatRelayKnowledge`: one Amazon Bedrock Knowledge Base shared by every tenant. Documents live
 * in a private S3 bucket under `knowledge/{tenantId}/`, each with a `<file>.metadata.json` sidecar
 * holding `{"metadataAttributes":{"tenantId":"…"}}` (the tenant CLI writes both); the vectors live
 * in Amazon S3 Vectors, which bills storage and queries only — no cluster runs while idle. The
 * conversation function retrieves with a `tenantId` equals-filter, so one tenant never sees
 * another's passages (docs/knowledge.md).
 */
import { Duration, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { CfnDataSource, CfnKnowledgeBase } from 'aws-cdk-lib/aws-bedrock';
import { Effect, Grant, type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { CfnIndex, CfnVectorBucket } from 'aws-cdk-lib/aws-s3vectors';
import { Construct } from 'constructs';
import { accessLogsBucket, dataBucketEncryption } from './buckets.js';
import { addProblemsValidation } from './errors.js';
import { acknowledgeKeyGrant, iam5ResourceId } from './nag.js';

/** The S3 key prefix every tenant document lives under: `knowledge/{tenantId}/…`. */
export const KNOWLEDGE_PREFIX = 'knowledge/';

/** The document metadata attribute retrieval filters on. */
export const KNOWLEDGE_TENANT_ATTRIBUTE = 'tenantId';

/**
 * Metadata keys Bedrock writes on every vector (the chunk text and its bookkeeping). S3 Vectors
 * limits filterable metadata to 2 KB per vector, so these are stored non-filterable; the
 * document attributes (`tenantId`) stay filterable.
 */
export const KNOWLEDGE_NON_FILTERABLE_KEYS: readonly string[] = [
  'AMAZON_BEDROCK_TEXT',
  'AMAZON_BEDROCK_METADATA',
];

/**
 * Marks props whose settings the caller has already validated and reports itself (`ChatRelay`
 * reports them with its own props, as `knowledge.…`), so a problem is not listed twice.
 */
export const KNOWLEDGE_SETTINGS_VALIDATED: unique symbol = Symbol.for(
  'chat-relay.knowledge.settings-validated',
);

/** The embedding model of a knowledge base, and the vector size the index is created with. */
export class KnowledgeEmbeddingModel {
  /**
   * Cohere Embed Multilingual v3 (1024 dimensions, 512 input tokens): trained for retrieval in
   * 100+ languages including Vietnamese, the default (docs/knowledge.md says why).
   */
  public static readonly COHERE_EMBED_MULTILINGUAL_V3 = new KnowledgeEmbeddingModel(
    'cohere.embed-multilingual-v3',
    1024,
    512,
    false,
  );
  /**
   * Amazon Titan Text Embeddings V2 at 1024 dimensions (8192 input tokens): a first-party model
   * (no AWS Marketplace subscription), cheaper per token, weaker on Vietnamese retrieval.
   */
  public static readonly TITAN_TEXT_EMBEDDINGS_V2 = new KnowledgeEmbeddingModel(
    'amazon.titan-embed-text-v2:0',
    1024,
    8192,
    true,
  );

  /**
   * Another Bedrock embedding model the knowledge base supports. `dimensions` must be the size of
   * the vectors it returns (the index is created with it); `configurableDimensions` sends it to
   * Bedrock as the model's output size (models like Titan V2 that offer several).
   */
  public static of(
    modelId: string,
    dimensions: number,
    maxInputTokens: number,
    configurableDimensions?: boolean,
  ): KnowledgeEmbeddingModel {
    return new KnowledgeEmbeddingModel(modelId, dimensions, maxInputTokens, configurableDimensions ?? false);
  }

  /**
   * @param modelId Bedrock foundation model id.
   * @param dimensions Vector size.
   * @param maxInputTokens Largest input the model embeds (chunks must fit).
   * @param configurableDimensions Whether `dimensions` is passed to Bedrock.
   */
  private constructor(
    public readonly modelId: string,
    public readonly dimensions: number,
    public readonly maxInputTokens: number,
    public readonly configurableDimensions: boolean,
  ) {}
}

/** Settings of the knowledge base (the `knowledge` prop of `ChatRelay`). */
export interface ChatRelayKnowledgeSettings {
  /**
   * The embedding model; the vector index's dimension follows it. Changing it replaces the index
   * and the knowledge base: run `npm run tenant -- knowledge sync` afterwards.
   * @default KnowledgeEmbeddingModel.COHERE_EMBED_MULTILINGUAL_V3
   */
  readonly embeddingModel?: KnowledgeEmbeddingModel;
  /**
   * Largest chunk, in tokens, a document is split into (fixed-size chunking). At most the model's
   * `maxInputTokens`. A catalogue row added by the CLI is one document, usually one chunk.
   * @default 300
   */
  readonly chunkMaxTokens?: number;
  /**
   * Overlap between consecutive chunks, in percent of `chunkMaxTokens` (1–99).
   * @default 20
   */
  readonly chunkOverlapPercentage?: number;
}

/** Properties of {@link ChatRelayKnowledge}. */
export interface ChatRelayKnowledgeProps extends ChatRelayKnowledgeSettings {
  /**
   * What happens to the documents bucket, the vector bucket and index and the knowledge base on
   * stack deletion. `DESTROY` deletes the vectors too (the documents bucket must be emptied first).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * A customer-managed KMS key encrypting the documents bucket (the knowledge base's role may
   * decrypt with it). The vector bucket keeps S3-managed encryption.
   * @default - S3-managed encryption
   */
  readonly encryptionKey?: IKey;
}

/** The knowledge base, its documents bucket, its vector store and its data source. */
export class ChatRelayKnowledge extends Construct {
  /** Tenant documents, under `knowledge/{tenantId}/` with `.metadata.json` sidecars. */
  public readonly bucket: Bucket;
  /** Server access logs of {@link bucket}. */
  public readonly accessLogsBucket: Bucket;
  /** The S3 Vectors bucket holding the embeddings. */
  public readonly vectorBucket: CfnVectorBucket;
  /** The vector index (float32, cosine, the model's dimension; `tenantId` filterable). */
  public readonly vectorIndex: CfnIndex;
  /** The role Bedrock assumes to read the documents, embed them and write the index. */
  public readonly role: Role;
  /** The Bedrock knowledge base (type VECTOR, storage S3_VECTORS). */
  public readonly knowledgeBase: CfnKnowledgeBase;
  /** The S3 data source: the documents bucket, prefix `knowledge/`. */
  public readonly dataSource: CfnDataSource;
  /** The knowledge base id (`KNOWLEDGE_BASE_ID`). */
  public readonly knowledgeBaseId: string;
  /** The knowledge base ARN. */
  public readonly knowledgeBaseArn: string;
  /** The data source id (the CLI's `sync` starts ingestion jobs on it). */
  public readonly dataSourceId: string;
  /** The embedding model in use. */
  public readonly embeddingModel: KnowledgeEmbeddingModel;

  constructor(scope: Construct, id: string, props: ChatRelayKnowledgeProps = {}) {
    super(scope, id);
    // Access-log delivery by bucket policy (AWS's recommendation), not ACLs, whatever the app's flags.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const stack = Stack.of(this);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.embeddingModel = props.embeddingModel ?? KnowledgeEmbeddingModel.COHERE_EMBED_MULTILINGUAL_V3;
    const model = this.embeddingModel;
    const chunkMaxTokens = props.chunkMaxTokens ?? 300;
    const overlap = props.chunkOverlapPercentage ?? 20;
    if (!(props as { [KNOWLEDGE_SETTINGS_VALIDATED]?: boolean })[KNOWLEDGE_SETTINGS_VALIDATED]) {
      addProblemsValidation(this, validateKnowledgeSettings(props));
    }

    this.accessLogsBucket = accessLogsBucket(this, 'AccessLogs', removalPolicy);
    this.bucket = new Bucket(this, 'Documents', {
      ...dataBucketEncryption(props.encryptionKey),
      enforceSSL: true,
      // Versioned: a document removed or overwritten by mistake can be restored.
      versioned: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        {
          id: 'expire-old-versions',
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'knowledge-bucket/',
      removalPolicy,
    });

    this.vectorBucket = new CfnVectorBucket(this, 'VectorBucket', {
      encryptionConfiguration: { sseType: 'AES256' },
    });
    this.vectorBucket.applyRemovalPolicy(removalPolicy);
    this.vectorIndex = new CfnIndex(this, 'VectorIndex', {
      vectorBucketArn: this.vectorBucket.attrVectorBucketArn,
      dataType: 'float32',
      dimension: model.dimensions,
      distanceMetric: 'cosine',
      metadataConfiguration: { nonFilterableMetadataKeys: [...KNOWLEDGE_NON_FILTERABLE_KEYS] },
    });
    this.vectorIndex.applyRemovalPolicy(removalPolicy);

    const kbArnPattern = stack.formatArn({
      service: 'bedrock',
      resource: 'knowledge-base',
      resourceName: '*',
    });
    this.role = new Role(this, 'Role', {
      description: 'Assumed by Amazon Bedrock to ingest chat-relay tenant documents into the knowledge base',
      assumedBy: new ServicePrincipal('bedrock.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': kbArnPattern },
        },
      }),
    });
    const modelArn = stack.formatArn({
      service: 'bedrock',
      resource: 'foundation-model',
      resourceName: model.modelId,
      account: '',
    });
    this.role.addToPolicy(new PolicyStatement({ actions: ['bedrock:InvokeModel'], resources: [modelArn] }));
    const documents = this.bucket.arnForObjects(`${KNOWLEDGE_PREFIX}*`);
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringEquals: { 'aws:ResourceAccount': stack.account } },
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [documents],
        conditions: { StringEquals: { 'aws:ResourceAccount': stack.account } },
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        actions: [
          's3vectors:GetIndex',
          's3vectors:PutVectors',
          's3vectors:GetVectors',
          's3vectors:DeleteVectors',
          's3vectors:QueryVectors',
        ],
        resources: [this.vectorIndex.attrIndexArn],
      }),
    );
    if (props.encryptionKey) {
      props.encryptionKey.grantDecrypt(this.role);
    }
    Validations.of(this.role).acknowledge({
      id: iam5ResourceId(this, documents),
      reason: `GetObject is scoped to the documents bucket's \`${KNOWLEDGE_PREFIX}\` prefix: tenant documents are added at run time by the tenant CLI, one key each.`,
    });
    if (props.encryptionKey) acknowledgeKeyGrant(this.role);

    this.knowledgeBase = new CfnKnowledgeBase(this, 'KnowledgeBase', {
      name: Names.uniqueResourceName(this, { maxLength: 100, separator: '-' }),
      description:
        'chat-relay tenant knowledge (documents under knowledge/{tenantId}/, filtered by tenantId)',
      roleArn: this.role.roleArn,
      knowledgeBaseConfiguration: {
        type: 'VECTOR',
        vectorKnowledgeBaseConfiguration: {
          embeddingModelArn: modelArn,
          ...(model.configurableDimensions
            ? {
                embeddingModelConfiguration: {
                  bedrockEmbeddingModelConfiguration: {
                    dimensions: model.dimensions,
                    embeddingDataType: 'FLOAT32',
                  },
                },
              }
            : {}),
        },
      },
      storageConfiguration: {
        type: 'S3_VECTORS',
        s3VectorsConfiguration: { indexArn: this.vectorIndex.attrIndexArn },
      },
    });
    this.knowledgeBase.applyRemovalPolicy(removalPolicy);
    // Bedrock checks the role's access to the index and the model when it creates the knowledge base.
    this.knowledgeBase.node.addDependency(this.role);

    this.dataSource = new CfnDataSource(this, 'DataSource', {
      knowledgeBaseId: this.knowledgeBase.attrKnowledgeBaseId,
      name: 'tenant-documents',
      description: 'Tenant documents: s3://<bucket>/knowledge/{tenantId}/ with .metadata.json sidecars',
      // Removing the data source removes its vectors; a removed document's vectors go at the next sync.
      dataDeletionPolicy: 'DELETE',
      dataSourceConfiguration: {
        type: 'S3',
        s3Configuration: {
          bucketArn: this.bucket.bucketArn,
          bucketOwnerAccountId: stack.account,
          inclusionPrefixes: [KNOWLEDGE_PREFIX],
        },
      },
      vectorIngestionConfiguration: {
        chunkingConfiguration: {
          chunkingStrategy: 'FIXED_SIZE',
          fixedSizeChunkingConfiguration: { maxTokens: chunkMaxTokens, overlapPercentage: overlap },
        },
      },
    });
    this.dataSource.applyRemovalPolicy(removalPolicy);

    this.knowledgeBaseId = this.knowledgeBase.attrKnowledgeBaseId;
    this.knowledgeBaseArn = this.knowledgeBase.attrKnowledgeBaseArn;
    this.dataSourceId = this.dataSource.attrDataSourceId;
  }

  /**
   * Lets `grantee` retrieve passages from this knowledge base (`bedrock:Retrieve` on it, nothing
   * else: no ingestion, no document access).
   */
  public grantRetrieve(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['bedrock:Retrieve'],
      resourceArns: [this.knowledgeBaseArn],
    });
  }

  /**
   * Lets `grantee` (an operator's role, a pipeline) manage the documents as the tenant CLI does:
   * list, read, write and delete objects under `knowledge/`, and start and read ingestion jobs of
   * the data source.
   */
  public grantManageDocuments(grantee: IGrantable): Grant {
    const documents = this.bucket.arnForObjects(`${KNOWLEDGE_PREFIX}*`);
    const grant = Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resourceArns: [documents],
    });
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['bedrock:StartIngestionJob', 'bedrock:GetIngestionJob', 'bedrock:ListIngestionJobs'],
        resources: [this.knowledgeBaseArn],
      }),
    );
    if (this.bucket.encryptionKey) this.bucket.encryptionKey.grantEncryptDecrypt(grantee);
    if (grantee instanceof Construct) {
      Validations.of(grantee).acknowledge({
        id: iam5ResourceId(this, documents),
        reason: `Object access is scoped to the documents bucket's \`${KNOWLEDGE_PREFIX}\` prefix: one key per tenant document, unknown in advance.`,
      });
    }
    return grant;
  }
}

/** Every problem with the knowledge settings, each with its fix (unresolved tokens are not checked). */
export function validateKnowledgeSettings(settings: ChatRelayKnowledgeSettings, prefix = ''): string[] {
  const problems: string[] = [];
  const model = settings.embeddingModel ?? KnowledgeEmbeddingModel.COHERE_EMBED_MULTILINGUAL_V3;
  if (!Number.isInteger(model.dimensions) || model.dimensions < 1 || model.dimensions > 4096) {
    problems.push(
      `${prefix}embeddingModel.dimensions must be a whole number from 1 to 4096 (S3 Vectors limit); got ${model.dimensions}. Give the vector size the model returns.`,
    );
  }
  if (!/^[a-z0-9][a-z0-9.:-]*$/.test(model.modelId)) {
    problems.push(
      `${prefix}embeddingModel.modelId must be a Bedrock foundation model id such as "amazon.titan-embed-text-v2:0"; got ${JSON.stringify(model.modelId)}. Copy the id from the Bedrock model catalog.`,
    );
  }
  const max = settings.chunkMaxTokens;
  if (max !== undefined && (!Number.isInteger(max) || max < 20 || max > model.maxInputTokens)) {
    problems.push(
      `${prefix}chunkMaxTokens must be a whole number from 20 to ${model.maxInputTokens} (the input limit of ${model.modelId}); got ${max}. Set chunkMaxTokens within that range (a model with a larger input allows bigger chunks).`,
    );
  }
  const overlap = settings.chunkOverlapPercentage;
  if (overlap !== undefined && (!Number.isInteger(overlap) || overlap < 1 || overlap > 99)) {
    problems.push(
      `${prefix}chunkOverlapPercentage must be a whole number from 1 to 99 (Bedrock fixed-size chunking); got ${overlap}. Set it to e.g. 20.`,
    );
  }
  return problems;
}
