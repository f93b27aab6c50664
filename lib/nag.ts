/**
 * cdk-nag (AwsSolutions) acknowledgements for the resources ChatRelay creates, each with the
 * reason it is acceptable. They use CDK's `Validations.of(...).acknowledge(...)` (the cdk-nag 3
 * mechanism) on the narrowest construct that carries the finding. IAM5 findings name the exact
 * wildcard resource, computed here the way cdk-nag flattens it, so an unexpected new wildcard
 * is still reported.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';

/** A cdk-nag finding id plus the reason it is acceptable. */
export interface NagAcknowledgement {
  readonly id: string;
  readonly reason: string;
}

/** Reasons, written once. */
export const NAG_REASONS = {
  lambdaBasicExecution:
    'AWSLambdaBasicExecutionRole only allows the function to write its own CloudWatch Logs; it is the AWS-maintained minimal policy for Lambda logging.',
  lambdaRuntime:
    'chat-relay pins nodejs22.x (the runtime its bundles and Powertools 2.x are built and tested for); the runtime is upgraded deliberately, not by a linter.',
  tenantSecrets:
    'The wildcard is the least privilege: tenants are added at run time without a redeploy, each as its own secret {prefix}/tenants/{tenantId}; the pattern also covers the random suffix Secrets Manager appends to every secret ARN. Only GetSecretValue under this prefix is allowed.',
  webhookAuthorizer:
    'Chat platforms cannot present AWS credentials or tokens to an authorizer; each request is authenticated inside the webhook Lambda by the platform mechanism (HMAC signature over the raw body, secret header or token), and unauthenticated requests get 401/404.',
  bedrockRouted:
    'A cross-region inference profile routes the call to the same foundation model in several regions; the model ARN needs a region wildcard and is usable only through the configured profile (condition bedrock:InferenceProfileArn), as the Bedrock documentation prescribes.',
  kmsKeyGrant:
    'kms:GenerateDataKey* and kms:ReEncrypt* are the standard actions of a CDK key grant (IKey.grantEncryptDecrypt), scoped to the one customer-managed key given as encryptionKey.',
  responderVersions:
    'lambda:InvokeFunction on the configured responder function and its versions/aliases (the ":*" suffix), nothing else.',
  toolVersions:
    'lambda:InvokeFunction on a function granted as a tenant lambda tool (ChatRelay.grantToolInvoke / toolFunctions) and its versions/aliases (the ":*" suffix), nothing else.',
  xray: 'X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions; "*" is the only possible resource.',
} as const;

/** Turns a resolved CloudFormation value into the flat string cdk-nag uses in finding ids. */
export function flattenForNag(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
      return items.map(flattenForNag).join(delimiter);
    }
    if ('Fn::Sub' in o) return flattenForNag(o['Fn::Sub']);
    if (Array.isArray(o['Fn::GetAtt'])) {
      const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenForNag(resource)}.${flattenForNag(attribute)}>`;
    }
    if ('Fn::ImportValue' in o) return flattenForNag(o['Fn::ImportValue']);
    if ('Ref' in o) return `<${flattenForNag(o.Ref)}>`;
  }
  return JSON.stringify(value);
}

/** The IAM5 finding id for a wildcard resource ARN as granted from `scope`. */
export function iam5ResourceId(scope: IConstruct, arn: string): string {
  return `AwsSolutions-IAM5[Resource::${flattenForNag(Stack.of(scope).resolve(arn))}]`;
}

/** Acknowledges findings on one construct (and its children). */
export function acknowledge(scope: IConstruct, acks: readonly NagAcknowledgement[]): void {
  for (const ack of acks) Validations.of(scope).acknowledge({ id: ack.id, reason: ack.reason });
}

/** What ChatRelay tells {@link acknowledgeRelayFindings} about itself. */
export interface RelayNagTargets {
  /** Every function with the tenant-secrets grant. */
  readonly secretReaders: readonly IFunction[];
  readonly allFunctions: readonly IFunction[];
  readonly tenantSecretsArn: string;
  /** API routes (no authorizer by design). */
  readonly routes: readonly IConstruct[];
  readonly tracing: boolean;
  /** The conversation function and the extra wildcard resources it was granted. */
  readonly conversationFunction: IFunction;
  readonly bedrockRoutedArns: readonly string[];
  readonly responderFunctionArn?: string;
  /** Roles granted the customer-managed key (`encryptionKey`), when one was given. */
  readonly keyUsers?: readonly IConstruct[];
}

/** Acknowledges the wildcard actions of a CDK key grant on `role`. */
export function acknowledgeKeyGrant(role: IConstruct): void {
  acknowledge(role, [
    { id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason: NAG_REASONS.kmsKeyGrant },
    { id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', reason: NAG_REASONS.kmsKeyGrant },
  ]);
}

/** Acknowledges the known, justified AwsSolutions findings on a ChatRelay's resources. */
export function acknowledgeRelayFindings(targets: RelayNagTargets): void {
  for (const fn of targets.allFunctions) {
    const role = fn.role ?? fn;
    acknowledge(role, [
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: NAG_REASONS.lambdaBasicExecution,
      },
    ]);
    if (targets.tracing)
      acknowledge(role, [{ id: 'AwsSolutions-IAM5[Resource::*]', reason: NAG_REASONS.xray }]);
    acknowledge(fn, [{ id: 'AwsSolutions-L1', reason: NAG_REASONS.lambdaRuntime }]);
  }
  for (const fn of targets.secretReaders) {
    acknowledge(fn.role ?? fn, [
      { id: iam5ResourceId(fn, targets.tenantSecretsArn), reason: NAG_REASONS.tenantSecrets },
    ]);
  }
  const convRole = targets.conversationFunction.role ?? targets.conversationFunction;
  for (const arn of targets.bedrockRoutedArns) {
    acknowledge(convRole, [{ id: iam5ResourceId(convRole, arn), reason: NAG_REASONS.bedrockRouted }]);
  }
  if (targets.responderFunctionArn) {
    acknowledge(convRole, [
      {
        id: iam5ResourceId(convRole, `${targets.responderFunctionArn}:*`),
        reason: NAG_REASONS.responderVersions,
      },
    ]);
  }
  for (const role of targets.keyUsers ?? []) acknowledgeKeyGrant(role);
  for (const route of targets.routes) {
    acknowledge(route, [{ id: 'AwsSolutions-APIG4', reason: NAG_REASONS.webhookAuthorizer }]);
  }
}
