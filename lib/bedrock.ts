/**
 * Bedrock invoke permission scoped to the configured model. A foundation model id gets
 * `bedrock:InvokeModel` on that model in the stack's region. A cross-region inference profile
 * (`us.…`, `eu.…`, `apac.…`, `global.…`) or a profile ARN gets it on the profile, plus on the
 * foundation model(s) the profile routes to — in any region, but only when the call comes
 * through that profile (condition `bedrock:InferenceProfileArn`), as the Bedrock docs prescribe.
 * The Converse API is authorised by `bedrock:InvokeModel`.
 */
import { Stack } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

// One default shared with the runtime (lambdas/responders/defaults.ts has no SDK imports).
export { DEFAULT_BEDROCK_MODEL_ID } from '../lambdas/contracts/defaults.js';

/** Geography prefixes of system-defined cross-region inference profiles. */
const PROFILE_PREFIX = /^(us|us-gov|eu|apac|ap|jp|au|ca|global)\.(.+)$/;

/** What a model id / ARN is allowed to look like. */
export const BEDROCK_MODEL_ID_PATTERN =
  /^(arn:[a-z-]+:bedrock:[a-z0-9-]*:\d{0,12}:[a-z-]+\/[A-Za-z0-9.:_/-]+|[A-Za-z0-9][A-Za-z0-9.:_-]*)$/;

/** How a configured model id is invoked. */
export interface BedrockTarget {
  /** ARNs the function may invoke directly. */
  readonly directArns: readonly string[];
  /** Foundation-model ARNs reachable only through {@link profileArn}. */
  readonly routedModelArns: readonly string[];
  /** The inference profile ARN, when the id names one. */
  readonly profileArn?: string;
}

/** Resolves a model id or ARN to the ARNs an IAM policy must name. */
export function bedrockTarget(scope: IConstruct, modelId: string): BedrockTarget {
  const stack = Stack.of(scope);
  const arn = (resource: string, resourceName: string, region?: string, account?: string): string =>
    stack.formatArn({ service: 'bedrock', resource, resourceName, region, account });
  if (modelId.startsWith('arn:')) {
    const resource = modelId.split(':').slice(5).join(':');
    const [type, ...rest] = resource.split('/');
    const name = rest.join('/');
    if (type === 'inference-profile' || type === 'application-inference-profile') {
      const base = type === 'inference-profile' ? PROFILE_PREFIX.exec(name)?.[2] : undefined;
      return {
        directArns: [modelId],
        profileArn: modelId,
        routedModelArns: routedModelArns(arn, base ?? '*', name.startsWith('global.')),
      };
    }
    return { directArns: [modelId], routedModelArns: [] };
  }
  const profile = PROFILE_PREFIX.exec(modelId);
  if (profile) {
    const profileArn = arn('inference-profile', modelId);
    return {
      directArns: [profileArn],
      profileArn,
      routedModelArns: routedModelArns(arn, profile[2] ?? '*', profile[1] === 'global'),
    };
  }
  return {
    directArns: [arn('foundation-model', modelId, undefined, '')],
    routedModelArns: [],
  };
}

type ArnFn = (resource: string, resourceName: string, region?: string, account?: string) => string;

function routedModelArns(arn: ArnFn, baseModel: string, global: boolean): string[] {
  const arns = [arn('foundation-model', baseModel, '*', '')];
  // Global profiles are authorised against a region-less foundation-model ARN as well.
  if (global) arns.push(arn('foundation-model', baseModel, '', ''));
  return arns;
}

/** Grants `grantee` `bedrock:InvokeModel` on `modelId` (see the module comment). */
export function grantBedrockInvoke(scope: IConstruct, grantee: IGrantable, modelId: string): void {
  const target = bedrockTarget(scope, modelId);
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['bedrock:InvokeModel'], resources: [...target.directArns] }),
  );
  if (target.profileArn && target.routedModelArns.length > 0) {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['bedrock:InvokeModel'],
        resources: [...target.routedModelArns],
        conditions: { StringEquals: { 'bedrock:InferenceProfileArn': target.profileArn } },
      }),
    );
  }
}
