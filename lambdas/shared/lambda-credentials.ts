/**
 * AWS credentials of a Lambda function, from the environment the Lambda runtime sets for every
 * invocation (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
 *
 * The Lambda bundles (bin/build.ts) alias `@aws-sdk/credential-provider-node` to this module: the
 * SDK's default chain (profiles, SSO, web identity, process, container and instance metadata,
 * with their own STS and SSO clients) is about 100 KB of code a Lambda function never runs, and
 * loading it was a fifth of the webhook's cold start. Only the handler bundles use this module;
 * the local stack, the tests and the CLIs keep the SDK's chain.
 */

/** One set of credentials, as the SDK's credential providers return it. */
export interface EnvironmentCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** Raised when the environment has no credentials (never in Lambda). */
export class CredentialsProviderError extends Error {
  override readonly name = 'CredentialsProviderError';
}

/**
 * The SDK's `credentialDefaultProvider` signature: called once per client with its settings,
 * returns the provider the client calls before signing.
 */
export function defaultProvider(_init?: unknown): () => Promise<EnvironmentCredentials> {
  return async () => {
    const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey) {
      throw new CredentialsProviderError(
        'No AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): this bundle is built for AWS Lambda, which sets them.',
      );
    }
    const sessionToken = process.env.AWS_SESSION_TOKEN;
    return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  };
}
