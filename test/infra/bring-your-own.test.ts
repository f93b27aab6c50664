/**
 * Bring-your-own resources of a larger stack: a customer-managed KMS key used by every queue,
 * the memory table and the media bucket (and granted to the functions and the worker), and the media
 * worker running in a given VPC. Both stay cdk-nag clean.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { Key } from 'aws-cdk-lib/aws-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChatRelay } from '../../lib/index.js';
import {
  actionsOf,
  logicalId,
  nagFindings,
  resourcesOf,
  resourcesOfStatement,
  roleStatements,
  TEST_ENV,
  testApp,
} from './synth.js';

describe('ChatRelay with a customer-managed KMS key and a given VPC', () => {
  let stack: Stack;
  let relay: ChatRelay;
  let template: Template;
  let keyRef: string;
  let vpc: Vpc;

  beforeAll(() => {
    stack = new Stack(testApp(), 'Shop', { env: TEST_ENV });
    const key = new Key(stack, 'DataKey', { enableKeyRotation: true });
    vpc = new Vpc(stack, 'SharedVpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
      ],
    });
    relay = new ChatRelay(stack, 'Relay', { encryptionKey: key, media: { vpc } });
    template = Template.fromStack(stack);
    keyRef = logicalId(stack, key);
  });

  const keyArn = (): Record<string, unknown> => ({ 'Fn::GetAtt': [keyRef, 'Arn'] });

  it('encrypts every queue and dead-letter queue with the key', () => {
    const queues = resourcesOf(template, 'AWS::SQS::Queue');
    // inbound, timer, outbound and media-jobs, each with its DLQ
    expect(queues).toHaveLength(8);
    for (const [, queue] of queues) {
      expect(queue.Properties.KmsMasterKeyId).toEqual(keyArn());
      expect(queue.Properties.SqsManagedSseEnabled).toBeUndefined();
    }
  });

  it('encrypts the memory table with the key', () => {
    const tables = resourcesOf(template, 'AWS::DynamoDB::Table');
    expect(tables).toHaveLength(1);
    for (const [, table] of tables) {
      expect(table.Properties.SSESpecification).toEqual({
        KMSMasterKeyId: keyArn(),
        SSEEnabled: true,
        SSEType: 'KMS',
      });
    }
  });

  it('encrypts the media bucket with the key (bucket key on)', () => {
    const bucket = template.toJSON().Resources[logicalId(stack, relay.media?.bucket as never)] as {
      Properties: { BucketEncryption: unknown };
    };
    expect(bucket.Properties.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          BucketKeyEnabled: true,
          ServerSideEncryptionByDefault: { KMSMasterKeyID: keyArn(), SSEAlgorithm: 'aws:kms' },
        },
      ],
    });
  });

  it('lets the functions and the media worker use the key', () => {
    const keyResource = `<${keyRef}.Arn>`;
    const kmsActions = (statements: Record<string, unknown>[]): string[] =>
      statements
        .filter((st) => resourcesOfStatement(st).includes(keyResource))
        .flatMap((st) => actionsOf(st));
    for (const fn of [
      relay.webhookFunction,
      relay.conversationFunction,
      relay.timerFunction,
      relay.deliveryFunction,
    ]) {
      const actions = kmsActions(roleStatements(template, logicalId(stack, fn)));
      expect(actions, fn.node.path).toContain('kms:GenerateDataKey*');
      expect(actions, fn.node.path).toContain('kms:Decrypt');
    }
    const taskRoleId = logicalId(stack, relay.media?.taskRole as never);
    const taskStatements = Object.values(
      template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
    )
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(taskRoleId))
      .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement);
    const taskActions = kmsActions(taskStatements);
    expect(taskActions).toContain('kms:GenerateDataKey*');
    expect(taskActions).toContain('kms:Decrypt');
  });

  it('runs the media worker in the given VPC, in its private subnets, without a VPC of its own', () => {
    expect(relay.media?.vpc).toBe(vpc);
    template.resourceCountIs('AWS::EC2::VPC', 1);
    const privateSubnets = vpc.privateSubnets.map((s) => ({ Ref: logicalId(stack, s) }));
    const [, service] = resourcesOf(template, 'AWS::ECS::Service')[0] ?? [];
    const network = service?.Properties.NetworkConfiguration as {
      AwsvpcConfiguration: { Subnets: unknown[]; AssignPublicIp: string };
    };
    expect(network.AwsvpcConfiguration.Subnets).toEqual(privateSubnets);
    expect(network.AwsvpcConfiguration.AssignPublicIp).toBe('DISABLED');
  });

  it('stays cdk-nag clean', () => {
    expect(nagFindings(relay)).toEqual([]);
  });
});
