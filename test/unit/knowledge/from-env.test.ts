import { describe, expect, it } from 'vitest';
import { BedrockRetriever, retrieveInput } from '../../../lambdas/knowledge/bedrock-retriever.js';
import { retrieverFromEnv } from '../../../lambdas/knowledge/index.js';
import { LocalRetriever } from '../../../lambdas/knowledge/local-retriever.js';
import { BedrockResponder } from '../../../lambdas/responders/bedrock.js';
import { responderFromEnv } from '../../../lambdas/responders/index.js';
import { ConfigurationError } from '../../../lambdas/shared/errors.js';

describe('retrieverFromEnv', () => {
  it('picks the knowledge base when KNOWLEDGE_BASE_ID is set, else the local folder, else none', () => {
    const deployed = retrieverFromEnv({ KNOWLEDGE_BASE_ID: 'KB123', KNOWLEDGE_DIR: '/tmp/k' });
    expect(deployed).toBeInstanceOf(BedrockRetriever);
    expect((deployed as BedrockRetriever).knowledgeBaseId).toBe('KB123');
    expect(retrieverFromEnv({ KNOWLEDGE_DIR: '/tmp/k' })).toBeInstanceOf(LocalRetriever);
    expect(retrieverFromEnv({ KNOWLEDGE_BASE_ID: ' ' })).toBeUndefined();
    expect(retrieverFromEnv({})).toBeUndefined();
  });
});

describe('retrieveInput', () => {
  it('always carries the tenant filter, caps the query at 1000 characters and topK at 100', () => {
    const input = retrieveInput('KB1', { tenantId: 'acme', query: 'x'.repeat(3000), topK: 500 });
    expect(input.retrievalQuery?.text).toHaveLength(1000);
    expect(input.retrievalConfiguration?.vectorSearchConfiguration).toEqual({
      numberOfResults: 100,
      filter: { equals: { key: 'tenantId', value: 'acme' } },
    });
  });
});

describe('responderFromEnv (bedrock)', () => {
  it('reads TOOL_MAX_ROUNDS and refuses a malformed one', () => {
    const responder = responderFromEnv({ RESPONDER: 'bedrock', TOOL_MAX_ROUNDS: '2' });
    expect(responder).toBeInstanceOf(BedrockResponder);
    expect((responder as BedrockResponder).maxToolRounds).toBe(2);
    expect((responderFromEnv({ RESPONDER: 'bedrock' }) as BedrockResponder).maxToolRounds).toBe(3);
    expect(() => responderFromEnv({ RESPONDER: 'bedrock', TOOL_MAX_ROUNDS: 'many' })).toThrow(
      ConfigurationError,
    );
  });
});
