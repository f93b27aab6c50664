/**
 * The deployed retriever: Bedrock Agent Runtime `Retrieve` on the stack's knowledge base
 * (`KNOWLEDGE_BASE_ID`). One knowledge base holds every tenant's documents; each document's
 * metadata carries its `tenantId` (written at ingestion), and every query sends the filter
 * `equals {key: 'tenantId', value}` so the vector store only returns that tenant's chunks. A
 * result whose metadata names another tenant is dropped as well (defence in depth).
 */
import {
  BedrockAgentRuntimeClient,
  type KnowledgeBaseRetrievalResult,
  RetrieveCommand,
  type RetrieveCommandInput,
} from '@aws-sdk/client-bedrock-agent-runtime';
import { DependencyError } from '../shared/errors.js';
import {
  MAX_QUERY_CHARS,
  type Passage,
  type RetrieveRequest,
  type RetrieveResult,
  type Retriever,
} from './retriever.js';

/** The metadata key holding a document's tenant (set by the ingestion side, lib/ and the tenant CLI). */
export const TENANT_METADATA_KEY = 'tenantId';
/** The metadata key of a chunk's id in Retrieve results. */
const CHUNK_ID_KEY = 'x-amz-bedrock-kb-chunk-id';

export interface BedrockRetrieverOptions {
  readonly knowledgeBaseId: string;
  /** A client (tests); default one built from the environment (`AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME`). */
  readonly client?: BedrockAgentRuntimeClient;
  /** Endpoint override when no client is given. */
  readonly endpoint?: string;
}

/** The Retrieve request for one query, tenant filter included (exported for tests). */
export function retrieveInput(knowledgeBaseId: string, request: RetrieveRequest): RetrieveCommandInput {
  return {
    knowledgeBaseId,
    retrievalQuery: { text: request.query.slice(0, MAX_QUERY_CHARS) },
    retrievalConfiguration: {
      vectorSearchConfiguration: {
        numberOfResults: Math.max(1, Math.min(100, request.topK)),
        filter: { equals: { key: TENANT_METADATA_KEY, value: request.tenantId } },
      },
    },
  };
}

/** Retrieves from a Bedrock knowledge base, always filtered by tenant. */
export class BedrockRetriever implements Retriever {
  readonly kind = 'bedrock';
  readonly knowledgeBaseId: string;
  private readonly client: BedrockAgentRuntimeClient;

  constructor(options: BedrockRetrieverOptions) {
    this.knowledgeBaseId = options.knowledgeBaseId;
    // One attempt per call: the responder's deadline bounds retrieval, and a failure only
    // means answering without knowledge.
    this.client =
      options.client ??
      new BedrockAgentRuntimeClient({
        maxAttempts: 1,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      });
  }

  async retrieve(request: RetrieveRequest): Promise<RetrieveResult> {
    if (request.query.trim() === '') return { passages: [] };
    let results: KnowledgeBaseRetrievalResult[];
    try {
      const output = await this.client.send(
        new RetrieveCommand(retrieveInput(this.knowledgeBaseId, request)),
        request.signal ? { abortSignal: request.signal } : {},
      );
      results = output.retrievalResults ?? [];
    } catch (err) {
      const name = err instanceof Error ? err.name : typeof err;
      throw new DependencyError(
        `Knowledge base ${this.knowledgeBaseId} Retrieve failed: ${name}${err instanceof Error ? `: ${err.message}` : ''}`,
        { cause: err },
      );
    }
    const passages: Passage[] = [];
    results.forEach((result, i) => {
      const text = result.content?.text?.trim();
      if (!text) return;
      const owner = result.metadata?.[TENANT_METADATA_KEY];
      if (owner !== undefined && owner !== request.tenantId) return;
      const source =
        result.location?.s3Location?.uri ??
        result.location?.webLocation?.url ??
        result.location?.customDocumentLocation?.id ??
        'knowledge-base';
      const chunk = result.metadata?.[CHUNK_ID_KEY];
      passages.push({
        id: typeof chunk === 'string' && chunk !== '' ? chunk : `${source}#${i + 1}`,
        text,
        score: result.score ?? 0,
        source,
      });
    });
    return { passages: passages.slice(0, request.topK) };
  }
}
