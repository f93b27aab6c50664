/**
 * A local HTTP server speaking the Bedrock Runtime Converse API
 * (`POST /model/{modelId}/converse`, JSON, restJson1 errors with `x-amzn-ErrorType`), so the
 * real `@aws-sdk/client-bedrock-runtime` can be pointed at it with an endpoint. It speaks
 * HTTP/2 without TLS (h2c), because that client's default handler is HTTP/2 only. It records
 * every request and answers from a script (then from a default handler).
 */
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

/** A 200 Converse response whose assistant message calls the `reply` tool with `input`. */
export function toolReply(input: unknown): FakeResponse {
  return converseOutput([{ toolUse: { toolUseId: 'tooluse_1', name: 'reply', input } }], 'tool_use');
}

/** A 200 Converse response with plain text. */
export function textReply(text: string): FakeResponse {
  return converseOutput([{ text }], 'end_turn');
}

/** A 200 Converse response with the given content blocks. */
export function converseOutput(content: unknown[], stopReason = 'end_turn'): FakeResponse {
  return {
    status: 200,
    body: {
      output: { message: { role: 'assistant', content } },
      stopReason,
      usage: { inputTokens: 100, outputTokens: 20, totalTokens: 120 },
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
  /** Queue answers for the next requests, in order. */
  enqueue(...responses: FakeResponse[]): void;
  /** Forgets recorded requests and unused scripted answers (tests stay independent). */
  reset(): void;
  close(): Promise<void>;
}

/** Starts the fake on 127.0.0.1 (ephemeral port). Unscripted requests get `fallback` (default: a reply tool call). */
export async function startFakeBedrock(
  fallback: (request: ConverseRequest) => FakeResponse = () => toolReply({ messages: ['ok'] }),
): Promise<FakeBedrock> {
  const requests: ConverseRequest[] = [];
  const script: FakeResponse[] = [];
  const sessions = new Set<Http2Session>();
  const server = createServer((req: Http2ServerRequest, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const match = /^\/model\/([^/]+)\/converse$/.exec(req.url ?? '');
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
      const response = script.shift() ?? fallback(request);
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
    enqueue: (...responses) => script.push(...responses),
    reset: () => {
      requests.length = 0;
      script.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}
