/**
 * Responder defaults with no dependencies, so the CDK constructs (IAM scoping, environment)
 * and the runtime share one value without the CDK app importing the AWS SDK.
 */

/**
 * The default Bedrock model: the Claude Haiku 4.5 US cross-region inference profile. Outside
 * US regions set `BEDROCK_MODEL_ID` to your geography's profile (`eu.`, `apac.`, `jp.`, `au.`
 * or `global.anthropic.claude-haiku-4-5-20251001-v1:0`) and enable model access in Bedrock.
 */
export const DEFAULT_BEDROCK_MODEL_ID = 'us.anthropic.claude-haiku-4-5-20251001-v1:0';
/** Default deadline of one Bedrock answer (all attempts and image loads), in ms. */
export const DEFAULT_BEDROCK_TIMEOUT_MS = 20_000;
