/**
 * The knowledge retriever contract: the bedrock responder asks for the passages of a tenant's
 * knowledge that best match a turn. Two implementations share it: the deployed one queries the
 * stack's Bedrock knowledge base filtered by tenant (bedrock-retriever.ts), the local one indexes
 * each tenant's `knowledge/` folder in process (local-retriever.ts). Either way a tenant only
 * ever sees its own documents.
 */
import type { TurnContext } from '../contracts/responder.js';

/** One retrieved passage. */
export interface Passage {
  /** Stable id of the passage (chunk id, or `file#n`): recorded in the audit trail. */
  readonly id: string;
  readonly text: string;
  /** Relevance: cosine similarity (Bedrock, 0–1) or BM25 (local, unbounded); higher is better. */
  readonly score: number;
  /** Where it comes from (`s3://…/knowledge/shop/faq.md`, `shop/products.csv`). */
  readonly source: string;
}

/** A retrieval request. */
export interface RetrieveRequest {
  readonly tenantId: string;
  readonly query: string;
  /** Most passages to return. */
  readonly topK: number;
  readonly signal?: AbortSignal;
}

/** What a retrieval returns, best passage first. */
export interface RetrieveResult {
  readonly passages: readonly Passage[];
}

/** A knowledge retriever. */
export interface Retriever {
  /** `bedrock` or `local` (logs and diagnostics). */
  readonly kind: string;
  /**
   * The best passages of `tenantId`'s knowledge for `query`, never another tenant's.
   * @throws DependencyError when the knowledge store fails (the caller answers without knowledge)
   */
  retrieve(request: RetrieveRequest): Promise<RetrieveResult>;
}

/** Passages put in a prompt by default. */
export const DEFAULT_TOP_K = 5;
/** Longest retrieval query, in characters (Bedrock's Retrieve caps the query text at 1000). */
export const MAX_QUERY_CHARS = 1000;
/** Longest single history line quoted in the query. */
const HISTORY_LINE_CHARS = 200;

/**
 * The retrieval query of a turn: this turn's messages (text, voice/video transcripts, media
 * notes, location names, button titles), then a short summary of the recent conversation (the
 * last two customer lines and the latest episode summary) so "còn size M không?" after a
 * question about a product still finds that product. Empty when the turn says nothing.
 */
export function retrievalQuery(context: TurnContext): string {
  const turn: string[] = [];
  for (const message of context.messages) {
    if (message.text?.trim()) turn.push(message.text.trim());
    if (message.transcript?.trim()) turn.push(message.transcript.trim());
    if (message.mediaNote?.trim()) turn.push(message.mediaNote.trim());
    if (message.postback?.title?.trim()) turn.push(message.postback.title.trim());
    for (const attachment of message.attachments) {
      for (const part of [attachment.title, attachment.address, attachment.name]) {
        if (part?.trim()) turn.push(part.trim());
      }
    }
  }
  if (turn.length === 0) return '';
  const recent = context.history
    .filter((entry) => entry.role === 'customer' && entry.text.trim() !== '')
    .slice(-2)
    .map((entry) => entry.text.trim().slice(0, HISTORY_LINE_CHARS));
  const summary = context.summaries.at(-1)?.trim().slice(0, HISTORY_LINE_CHARS);
  const history = [...recent, ...(summary ? [summary] : [])];
  const query = history.length > 0 ? `${turn.join('\n')}\n\n${history.join('\n')}` : turn.join('\n');
  return query.length > MAX_QUERY_CHARS ? query.slice(0, MAX_QUERY_CHARS) : query;
}
