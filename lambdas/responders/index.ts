/**
 * Responder selection from the environment, and the public surface of the responders.
 *
 * | variable | meaning |
 * |---|---|
 * | `RESPONDER` | `echo` (default), `bedrock` or `lambda` |
 * | `BEDROCK_MODEL_ID` | model or inference profile id (default Claude Haiku 4.5, US profile) |
 * | `BEDROCK_TIMEOUT_MS` | deadline of one Bedrock answer, all retries included (default 20000) |
 * | `RESPONDER_FUNCTION_NAME` | the user's function for `lambda` (name, ARN or name:alias) |
 */

import { retrieverFromEnv } from '../knowledge/index.js';
import { ENV, intEnv, optionalEnv, requireEnv } from '../shared/env.js';
import { ConfigurationError } from '../shared/errors.js';
import {
  BedrockResponder,
  DEFAULT_BEDROCK_MODEL_ID,
  DEFAULT_BEDROCK_TIMEOUT_MS,
  DEFAULT_TOOL_MAX_ROUNDS,
} from './bedrock.js';
import { EchoResponder } from './echo.js';
import { LambdaResponder } from './lambda.js';
import type { Responder } from './types.js';

export { BedrockResponder, DEFAULT_BEDROCK_MODEL_ID, DEFAULT_BEDROCK_TIMEOUT_MS } from './bedrock.js';
export { EchoResponder, echoText } from './echo.js';
export { LambdaResponder, parseReply, replySchema } from './lambda.js';
export type { HistoryEntry, Reply, ReplyMessage, Responder, TurnContext, TurnMessage } from './types.js';

/** The responder names `RESPONDER` accepts. */
export const RESPONDER_NAMES = ['echo', 'bedrock', 'lambda'] as const;
export type ResponderName = (typeof RESPONDER_NAMES)[number];

/**
 * The responder configured by the environment (see the module comment).
 * @throws ConfigurationError for an unknown `RESPONDER`, a malformed timeout, or `lambda`
 * without `RESPONDER_FUNCTION_NAME`.
 */
export function responderFromEnv(env: NodeJS.ProcessEnv = process.env): Responder {
  const name = optionalEnv(ENV.responder, 'echo', env).trim().toLowerCase();
  switch (name) {
    case 'echo':
      return new EchoResponder();
    case 'bedrock': {
      const timeoutMs = intEnv(ENV.bedrockTimeoutMs, DEFAULT_BEDROCK_TIMEOUT_MS, env);
      if (timeoutMs === 0) {
        throw new ConfigurationError(`Environment variable ${ENV.bedrockTimeoutMs} must be greater than 0.`);
      }
      const retriever = retrieverFromEnv(env);
      return new BedrockResponder({
        modelId: optionalEnv(ENV.bedrockModelId, DEFAULT_BEDROCK_MODEL_ID, env),
        timeoutMs,
        maxToolRounds: intEnv(ENV.toolMaxRounds, DEFAULT_TOOL_MAX_ROUNDS, env),
        allowHttpTools: /^(true|1|yes)$/i.test(env[ENV.toolAllowHttp] ?? ''),
        ...(retriever ? { retriever } : {}),
      });
    }
    case 'lambda':
      return new LambdaResponder({ functionName: requireEnv(ENV.responderFunctionName, env) });
    default:
      throw new ConfigurationError(
        `Environment variable ${ENV.responder} must be one of ${RESPONDER_NAMES.join(', ')}, got "${name}".`,
      );
  }
}
