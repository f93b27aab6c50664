/**
 * The retriever configured by the environment: `KNOWLEDGE_BASE_ID` (deployed: the stack's
 * Bedrock knowledge base), else `KNOWLEDGE_DIR` (the local stack: the `knowledge/` folder next
 * to the tenants file), else none (answers without knowledge).
 */
import { ENV } from '../shared/env.js';
import { logger } from '../shared/powertools.js';
import { BedrockRetriever } from './bedrock-retriever.js';
import { LocalRetriever } from './local-retriever.js';
import type { Retriever } from './retriever.js';

export { BedrockRetriever, retrieveInput, TENANT_METADATA_KEY } from './bedrock-retriever.js';
export { parseCsv } from './csv.js';
export { csvPassages, LocalRetriever, prosePassages } from './local-retriever.js';
export type { Passage, RetrieveRequest, RetrieveResult, Retriever } from './retriever.js';
export { DEFAULT_TOP_K, retrievalQuery } from './retriever.js';

/** The retriever named by the environment, or undefined when none is configured. */
export function retrieverFromEnv(env: NodeJS.ProcessEnv = process.env): Retriever | undefined {
  const knowledgeBaseId = env[ENV.knowledgeBaseId]?.trim();
  if (knowledgeBaseId) return new BedrockRetriever({ knowledgeBaseId });
  const dir = env[ENV.knowledgeDir]?.trim();
  if (dir) {
    return new LocalRetriever({
      dir,
      log: { warn: (message, detail) => logger.warn(message, detail ?? {}) },
    });
  }
  return undefined;
}
