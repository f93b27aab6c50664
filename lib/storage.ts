/**
 * The DynamoDB table, built from `TABLE_DEFINITIONS` (lambdas/contracts/definitions.ts): the memory table
 * (`pk`/`sk`, TTL `expiresAt`). There is no idempotency table: a platform message is de-duplicated by the
 * conversation state and a reply part by its delivery record (docs/conversation.md, docs/delivery.md).
 * On-demand, with point-in-time recovery and AWS-managed (or your KMS key's) encryption, retained on stack
 * deletion unless the removal policy says otherwise.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { TABLE_DEFINITIONS, type TableDefinition } from '../lambdas/contracts/definitions.js';

/** Properties of {@link RelayStorage}. */
export interface RelayStorageProps {
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Physical table name prefix (`{prefix}-{name}`); CloudFormation generates names when unset. */
  readonly namePrefix?: string;
  /**
   * A customer-managed KMS key encrypting the table.
   * @default - AWS-managed encryption
   */
  readonly encryptionKey?: IKey;
}

function buildTable(
  scope: Construct,
  id: string,
  def: TableDefinition,
  props: RelayStorageProps,
  removalPolicy: RemovalPolicy,
): Table {
  return new Table(scope, id, {
    tableName: props.namePrefix ? `${props.namePrefix}-${def.name}` : undefined,
    partitionKey: { name: def.partitionKey, type: AttributeType.STRING },
    sortKey: def.sortKey ? { name: def.sortKey, type: AttributeType.STRING } : undefined,
    timeToLiveAttribute: def.ttlAttribute,
    billingMode: BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    ...(props.encryptionKey
      ? { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.encryptionKey }
      : { encryption: TableEncryption.AWS_MANAGED }),
    removalPolicy,
  });
}

/** The memory table. */
export class RelayStorage extends Construct {
  /** Conversation state, history, summaries, profiles, facts, sent ids, rate-limit windows. */
  public readonly memoryTable: Table;

  constructor(scope: Construct, id: string, props: RelayStorageProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.memoryTable = buildTable(this, 'MemoryTable', TABLE_DEFINITIONS.memory, props, removalPolicy);
  }
}
