/**
 * Responder defaults: defined once in the contracts (shared with the CDK constructs, which scope
 * IAM and set the environment from them); re-exported here for the runtime.
 */
export { DEFAULT_BEDROCK_MODEL_ID, DEFAULT_BEDROCK_TIMEOUT_MS } from '../contracts/defaults.js';
