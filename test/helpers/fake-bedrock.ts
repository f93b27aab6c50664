/**
 * A local HTTP server speaking the Bedrock Runtime Converse API
 * (`POST /model/{modelId}/converse`, JSON, restJson1 errors with `x-amzn-ErrorType`) and the
 * Bedrock Agent Runtime Retrieve API (`POST /knowledgebases/{id}/retrieve`), so the real
 * `@aws-sdk/client-bedrock-runtime` and `@aws-sdk/client-bedrock-agent-runtime` can be pointed
 * at it with an endpoint. It speaks HTTP/2 without TLS (h2c), because both clients' default
 * handler is HTTP/2 only. It records every request and answers from a script (then from a
 * default handler).
 *
 * Retrieve answers from documents given with `setKnowledge`, honouring the request's
 * `vectorSearchConfiguration.filter` (`equals`, `andAll`, `orAll` on metadata) the way the
 * knowledge base does: without a filter every tenant's documents can come back, which is what
 * the tenant-isolation tests prove the retriever never allows. Scores are word overlap (0–1).
 *
 * With `tokens: true` the Converse usage is computed from the request (about 4 bytes of JSON
 * per token) and prompt caching is emulated as Bedrock documents it: the prefix up to a
 * `cachePoint` (tools, system blocks, then message blocks, in that order) is written to the
 * cache the first time (`cacheWriteInputTokens`) and read from it while unchanged
 * (`cacheReadInputTokens`, the longest earlier prefix found at a block boundary), when it holds
 * at least `cacheMinTokens`; `inputTokens` counts the rest.
 */
import { createHash } from 'node:crypto';
import {
  createServer,
  type Http2ServerRequest,
  type Http2Session,
  type IncomingHttpHeaders,
} from 'node:http2';
import type { AddressInfo } from 'node:net';

/** One recorded Converse request. */
export interface ConverseRequest {
  readonly modelId: string;
  readonly headers: IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: raw JSON as the client sent it, inspected by tests
  readonly body: any;
}

/** A scripted answer. */
export interface FakeResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
  /** Wait this long before answering (timeouts). */
  readonly delayMs?: number;
}

/** One recorded Retrieve request. */
export interface RetrieveRequestRecord {
  readonly knowledgeBaseId: string;
  // biome-ignore lint/suspicious/noExplicitAny: raw JSON as the client sent it, inspected by tests
  readonly body: any;
}

/** A document of the fake knowledge base (one chunk). */
export interface FakeKnowledgeDocument {
  readonly id: string;
  readonly text: string;
  readonly uri: string;
  readonly metadata: Readonly<Record<string, string | number | boolean>>;
}

/** A 200 Converse response whose assistant message calls tenant tool `name` with `input`. */
export function toolUse(name: string, input: unknown, toolUseId = `tooluse_${name}`): FakeResponse {
  return converseOutput([{ toolUse: { toolUseId, name, input } }], 'tool_use');
}

/** A 200 Converse response whose assistant message calls the `reply` tool with `input`. */
export function toolReply(input: unknown): FakeResponse {
  return converseOutput([{ toolUse: { toolUseId: 'tooluse_1', name: 'reply', input } }], 'tool_use');
}

/** A 200 Converse response with plain text. */
export function textReply(text: string): FakeResponse {
  return converseOutput([{ text }], 'end_turn');
}

/** A 200 Converse response with the given content blocks. */
export function converseOutput(
  content: unknown[],
  stopReason = 'end_turn',
  usage: Record<string, number> = { inputTokens: 100, outputTokens: 20, totalTokens: 120 },
): FakeResponse {
  return {
    status: 200,
    body: {
      output: { message: { role: 'assistant', content } },
      stopReason,
      usage,
      metrics: { latencyMs: 5 },
    },
  };
}

/** An error response as Bedrock sends it (`ThrottlingException` 429, `ValidationException` 400…). */
export function errorReply(status: number, type: string, message: string): FakeResponse {
  return {
    status,
    body: { message },
    headers: { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/` },
  };
}

export interface FakeBedrock {
  /** Base URL to use as the client endpoint. */
  readonly url: string;
  readonly requests: ConverseRequest[];
  /** Every Retrieve request, in order. */
  readonly retrievals: RetrieveRequestRecord[];
  /** Queue answers for the next requests, in order. */
  enqueue(...responses: FakeResponse[]): void;
  /** Queue answers for the next Retrieve requests (errors, delays), before the documents. */
  enqueueRetrieve(...responses: FakeResponse[]): void;
  /** The knowledge base's documents (replacing earlier ones). */
  setKnowledge(documents: readonly FakeKnowledgeDocument[]): void;
  /** Forgets recorded requests, unused scripted answers and the prompt cache (tests stay independent). */
  reset(): void;
  close(): Promise<void>;
}

/** Options of {@link startFakeBedrock}. */
export interface FakeBedrockOptions {
  /** Compute usage from the request and emulate prompt caching (see the module comment). */
  readonly tokens?: boolean;
  /** Smallest cacheable prefix, in tokens (1024 for Claude Sonnet 4.x, 4096 for Claude Haiku 4.5). @default 1024 */
  readonly cacheMinTokens?: number;
}

/** The fake's token estimate of a JSON value: its UTF-8 bytes / 4, rounded up. */
export function estimateTokens(value: unknown): number {
  return Math.ceil(Buffer.byteLength(JSON.stringify(value ?? ''), 'utf8') / 4);
}

/**
 * Usage of a Converse request with prompt caching emulated: the request is a sequence of blocks
 * (tools, system blocks, message content blocks); a `cachePoint` marks the prefix before it. The
 * longest prefix cached by an earlier request (at any block boundary, as Bedrock looks back from
 * a cache point) is read; the part from there to the last cache point is written, when that
 * prefix reaches `minTokens`; the rest is plain input. `cachePoint` blocks themselves are free.
 */
// biome-ignore lint/suspicious/noExplicitAny: raw request JSON
function usageOf(body: any, output: unknown, cache: Set<string>, minTokens: number): Record<string, number> {
  const blocks: { key: string; tokens: number }[] = [];
  const checkpoints: number[] = [];
  const add = (scope: string, block: unknown): void => {
    if (typeof block === 'object' && block !== null && 'cachePoint' in block) {
      if (blocks.length > 0) checkpoints.push(blocks.length);
      return;
    }
    blocks.push({ key: `${scope}:${JSON.stringify(block)}`, tokens: estimateTokens(block) });
  };
  for (const tool of body.toolConfig?.tools ?? []) add('tool', tool);
  for (const block of body.system ?? []) add('system', block);
  for (const message of body.messages ?? [])
    for (const block of message.content ?? []) add(message.role, block);
  const prefixKeys: string[] = [];
  const prefixTokens: number[] = [0];
  const hash = createHash('sha256');
  for (const block of blocks) {
    hash.update(block.key);
    prefixKeys.push(hash.copy().digest('hex'));
    prefixTokens.push(prefixTokens.at(-1)! + block.tokens);
  }
  const total = prefixTokens.at(-1)!;
  const outputTokens = estimateTokens(output);
  const plain = { inputTokens: total, outputTokens, totalTokens: total + outputTokens };
  const eligible = checkpoints.filter((c) => prefixTokens[c]! >= minTokens);
  const last = eligible.at(-1);
  if (last === undefined) return plain;
  let read = 0;
  for (let n = last; n > 0; n -= 1) {
    if (cache.has(prefixKeys[n - 1]!)) {
      read = n;
      break;
    }
  }
  for (const c of eligible) cache.add(prefixKeys[c - 1]!);
  const cacheRead = prefixTokens[read]!;
  const cacheWrite = prefixTokens[last]! - cacheRead;
  return {
    inputTokens: total - prefixTokens[last]!,
    outputTokens,
    totalTokens: total + outputTokens,
    ...(cacheRead > 0 ? { cacheReadInputTokens: cacheRead } : {}),
    ...(cacheWrite > 0 ? { cacheWriteInputTokens: cacheWrite } : {}),
  };
}

// biome-ignore lint/suspicious/noExplicitAny: a RetrievalFilter as JSON
function matches(filter: any, metadata: Readonly<Record<string, unknown>>): boolean {
  if (!filter) return true;
  if (filter.equals) return metadata[filter.equals.key] === filter.equals.value;
  if (filter.notEquals) return metadata[filter.notEquals.key] !== filter.notEquals.value;
  if (filter.andAll) return (filter.andAll as unknown[]).every((f) => matches(f, metadata));
  if (filter.orAll) return (filter.orAll as unknown[]).some((f) => matches(f, metadata));
  throw new Error(`fake-bedrock: unsupported filter ${JSON.stringify(filter)}`);
}

const wordsOf = (text: string): string[] =>
  text
    .normalize('NFC')
    .toLowerCase()
    .match(/[\p{L}\p{N}]+/gu) ?? [];

/** The Retrieve answer for a request body over `documents`. */
// biome-ignore lint/suspicious/noExplicitAny: raw request JSON
function retrieveAnswer(body: any, documents: readonly FakeKnowledgeDocument[]): FakeResponse {
  const query = new Set(wordsOf(String(body?.retrievalQuery?.text ?? '')));
  const config = body?.retrievalConfiguration?.vectorSearchConfiguration ?? {};
  const limit = Number(config.numberOfResults ?? 5);
  const results = documents
    .filter((d) => matches(config.filter, d.metadata))
    .map((d) => {
      const words = new Set(wordsOf(d.text));
      const overlap = [...query].filter((w) => words.has(w)).length;
      return { d, score: query.size === 0 ? 0 : overlap / query.size };
    })
    .filter((r) => r.score > 0)
    .sort((a, b) => b.score - a.score)
    .slice(0, limit)
    .map(({ d, score }) => ({
      content: { type: 'TEXT', text: d.text },
      location: { type: 'S3', s3Location: { uri: d.uri } },
      score,
      metadata: {
        ...d.metadata,
        'x-amz-bedrock-kb-source-uri': d.uri,
        'x-amz-bedrock-kb-chunk-id': d.id,
        'x-amz-bedrock-kb-data-source-id': 'FAKEDS0001',
      },
    }));
  return { status: 200, body: { retrievalResults: results } };
}

/** Starts the fake on 127.0.0.1 (ephemeral port). Unscripted requests get `fallback` (default: a reply tool call). */
export async function startFakeBedrock(
  fallback: (request: ConverseRequest) => FakeResponse = () => toolReply({ messages: ['ok'] }),
  options: FakeBedrockOptions = {},
): Promise<FakeBedrock> {
  const requests: ConverseRequest[] = [];
  const retrievals: RetrieveRequestRecord[] = [];
  const script: FakeResponse[] = [];
  const retrieveScript: FakeResponse[] = [];
  let documents: readonly FakeKnowledgeDocument[] = [];
  const cache = new Set<string>();
  const sessions = new Set<Http2Session>();
  const server = createServer((req: Http2ServerRequest, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const match = /^\/model\/([^/]+)\/converse$/.exec(req.url ?? '');
      const retrieve = /^\/knowledgebases\/([^/]+)\/retrieve$/.exec(req.url ?? '');
      if (req.method === 'POST' && retrieve) {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = undefined;
        }
        retrievals.push({ knowledgeBaseId: decodeURIComponent(retrieve[1]!), body });
        const response = retrieveScript.shift() ?? retrieveAnswer(body, documents);
        const send = (): void => {
          if (res.stream.destroyed) return;
          res.writeHead(response.status, { 'content-type': 'application/json', ...response.headers });
          res.end(JSON.stringify(response.body));
        };
        if (response.delayMs) setTimeout(send, response.delayMs).unref();
        else send();
        return;
      }
      if (req.method !== 'POST' || !match) {
        res.writeHead(404, {
          'content-type': 'application/json',
          'x-amzn-errortype': 'UnknownOperationException',
        });
        res.end(JSON.stringify({ message: `No route ${req.method} ${req.url}` }));
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': 'ValidationException' });
        res.end(JSON.stringify({ message: 'Malformed JSON' }));
        return;
      }
      const request: ConverseRequest = { modelId: decodeURIComponent(match[1]!), headers: req.headers, body };
      requests.push(request);
      let response = script.shift() ?? fallback(request);
      if (options.tokens && response.status === 200) {
        // biome-ignore lint/suspicious/noExplicitAny: the scripted body
        const answer = response.body as any;
        const usage = usageOf(body, answer?.output, cache, options.cacheMinTokens ?? 1024);
        response = { ...response, body: { ...answer, usage } };
      }
      const send = (): void => {
        if (res.stream.destroyed) return;
        res.writeHead(response.status, { 'content-type': 'application/json', ...response.headers });
        res.end(JSON.stringify(response.body));
      };
      if (response.delayMs) setTimeout(send, response.delayMs).unref();
      else send();
    });
  });
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    retrievals,
    enqueue: (...responses) => script.push(...responses),
    enqueueRetrieve: (...responses) => retrieveScript.push(...responses),
    setKnowledge: (docs) => {
      documents = [...docs];
    },
    reset: () => {
      requests.length = 0;
      retrievals.length = 0;
      script.length = 0;
      retrieveScript.length = 0;
      cache.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}
