/**
 * Tenant secrets live at `{secretPrefix}/tenants/{tenantId}` (DESIGN §3). Functions may read
 * exactly those secrets: `secretsmanager:GetSecretValue` on the ARN pattern
 * `arn:{partition}:secretsmanager:{region}:{account}:secret:{prefix}/tenants/*` and nothing else;
 * the delivery function may also `PutSecretValue` them (a refreshed Zalo token pair).
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

import { DEFAULT_SECRET_PREFIX } from '../lambdas/contracts/defaults.js';

export { DEFAULT_SECRET_PREFIX };

/** Valid Secrets Manager name characters, no leading/trailing slash. */
export const SECRET_PREFIX_PATTERN = /^[A-Za-z0-9_+=.@-]+(\/[A-Za-z0-9_+=.@-]+)*$/;

/**
 * The ARN pattern covering every tenant secret under `prefix`. The trailing `*` also covers
 * the six random characters Secrets Manager appends to every secret ARN.
 */
export function tenantSecretsArnPattern(scope: IConstruct, prefix: string): string {
  const stack = Stack.of(scope);
  return stack.formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: `${prefix}/tenants/*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/**
 * Grants `grantee` `secretsmanager:PutSecretValue` on the tenant secrets under `prefix`: the
 * delivery function writes a refreshed Zalo token pair back (lambdas/channels/zalo-token.ts).
 */
export function grantTenantSecretsWrite(scope: IConstruct, grantee: IGrantable, prefix: string): Grant {
  return Grant.addToPrincipal({
    grantee,
    actions: ['secretsmanager:PutSecretValue'],
    resourceArns: [tenantSecretsArnPattern(scope, prefix)],
  });
}

/** Grants `grantee` `secretsmanager:GetSecretValue` on the tenant secrets under `prefix`. */
export function grantTenantSecretsRead(scope: IConstruct, grantee: IGrantable, prefix: string): Grant {
  return Grant.addToPrincipal({
    grantee,
    actions: ['secretsmanager:GetSecretValue'],
    resourceArns: [tenantSecretsArnPattern(scope, prefix)],
  });
}
