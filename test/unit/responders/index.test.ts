import { describe, expect, it } from 'vitest';
import { BedrockResponder, DEFAULT_BEDROCK_MODEL_ID } from '../../../lambdas/responders/bedrock.js';
import { EchoResponder } from '../../../lambdas/responders/echo.js';
import { responderFromEnv } from '../../../lambdas/responders/index.js';
import { LambdaResponder } from '../../../lambdas/responders/lambda.js';
import { ConfigurationError } from '../../../lambdas/shared/errors.js';

describe('responderFromEnv', () => {
  it('defaults to echo when RESPONDER is unset or empty', () => {
    expect(responderFromEnv({})).toBeInstanceOf(EchoResponder);
    expect(responderFromEnv({ RESPONDER: '' })).toBeInstanceOf(EchoResponder);
  });

  it('accepts the name in any case', () => {
    expect(responderFromEnv({ RESPONDER: 'Echo' }).name).toBe('echo');
  });

  it('builds bedrock with the default model and a 20 s timeout', () => {
    const responder = responderFromEnv({ RESPONDER: 'bedrock' }) as BedrockResponder;
    expect(responder).toBeInstanceOf(BedrockResponder);
    expect(responder.modelId).toBe(DEFAULT_BEDROCK_MODEL_ID);
    expect(responder.timeoutMs).toBe(20_000);
  });

  it('rejects a malformed or zero BEDROCK_TIMEOUT_MS', () => {
    expect(() => responderFromEnv({ RESPONDER: 'bedrock', BEDROCK_TIMEOUT_MS: 'soon' })).toThrow(
      ConfigurationError,
    );
    expect(() => responderFromEnv({ RESPONDER: 'bedrock', BEDROCK_TIMEOUT_MS: '0' })).toThrow(
      /greater than 0/,
    );
  });

  it('builds lambda with the configured function', () => {
    const responder = responderFromEnv({
      RESPONDER: 'lambda',
      RESPONDER_FUNCTION_NAME: 'bot:live',
    }) as LambdaResponder;
    expect(responder).toBeInstanceOf(LambdaResponder);
    expect(responder.functionName).toBe('bot:live');
  });

  it('names the accepted values when RESPONDER is unknown', () => {
    expect(() => responderFromEnv({ RESPONDER: 'gpt' })).toThrow(/echo, bedrock, lambda.*"gpt"/);
  });
});
