/**
 * Responder defaults with no dependencies, so the CDK constructs (IAM scoping, environment)
 * and the runtime share one value without the CDK app importing the AWS SDK.
 */

/**
 * The default Bedrock model: Claude Haiku 4.5 through its *global* cross-region inference
 * profile, which works from every commercial region (many chat-relay shops deploy in
 * ap-southeast-1, where a `us.` profile would fail). To keep data in one geography set the
 * model id to `us.`, `eu.`, `apac.`, `jp.` or `au.anthropic.claude-haiku-4-5-20251001-v1:0`.
 * Model access must be enabled in the Bedrock console either way.
 */
export const DEFAULT_BEDROCK_MODEL_ID = 'global.anthropic.claude-haiku-4-5-20251001-v1:0';
/** Default deadline of one Bedrock answer (all attempts and image loads), in ms. */
export const DEFAULT_BEDROCK_TIMEOUT_MS = 20_000;
