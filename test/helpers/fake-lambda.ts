/**
 * A local HTTP server speaking the Lambda Invoke API
 * (`POST /2015-03-31/functions/{name}/invocations`), so the real `@aws-sdk/client-lambda` can
 * be pointed at it (`AWS_ENDPOINT_URL_LAMBDA` or an endpoint option). Functions are plain async
 * handlers; a thrown error becomes a function error (`X-Amz-Function-Error: Unhandled`, with
 * the Lambda error payload), and scripted responses inject service errors such as throttling.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface InvokeRequest {
  readonly functionName: string;
  readonly invocationType: string | undefined;
  readonly headers: IncomingMessage['headers'];
  /** The raw payload text. */
  readonly payload: string;
}

/** A scripted raw HTTP answer (service errors, odd payloads). */
export interface FakeInvokeResponse {
  readonly status: number;
  readonly body: string;
  readonly headers?: Record<string, string>;
  readonly delayMs?: number;
}

/** A function: gets the parsed event, returns the result (serialised as JSON) or throws. */
export type FakeFunction = (event: unknown) => unknown | Promise<unknown>;

/** The answer Lambda gives when the caller is throttled. */
export function throttled(): FakeInvokeResponse {
  return {
    status: 429,
    headers: { 'x-amzn-errortype': 'TooManyRequestsException' },
    body: JSON.stringify({
      Type: 'User',
      message: 'Rate Exceeded.',
      Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
    }),
  };
}

export interface FakeLambda {
  readonly url: string;
  readonly requests: InvokeRequest[];
  /** Registers (or replaces) a function by name. */
  define(name: string, fn: FakeFunction): void;
  /** Queue raw answers for the next invocations, whatever the function. */
  enqueue(...responses: FakeInvokeResponse[]): void;
  close(): Promise<void>;
}

export async function startFakeLambda(functions: Record<string, FakeFunction> = {}): Promise<FakeLambda> {
  const registry = new Map(Object.entries(functions));
  const requests: InvokeRequest[] = [];
  const script: FakeInvokeResponse[] = [];

  const answer = async (req: IncomingMessage, raw: string): Promise<FakeInvokeResponse> => {
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations(?:\?.*)?$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) {
      return { status: 404, headers: { 'x-amzn-errortype': 'UnknownOperationException' }, body: '{}' };
    }
    const functionName = decodeURIComponent(match[1]!);
    requests.push({
      functionName,
      invocationType: req.headers['x-amz-invocation-type'] as string | undefined,
      headers: req.headers,
      payload: raw,
    });
    const scripted = script.shift();
    if (scripted) return scripted;
    const fn = registry.get(functionName);
    if (!fn) {
      return {
        status: 404,
        headers: { 'x-amzn-errortype': 'ResourceNotFoundException' },
        body: JSON.stringify({ Type: 'User', Message: `Function not found: ${functionName}` }),
      };
    }
    try {
      const result = await fn(raw === '' ? {} : JSON.parse(raw));
      return {
        status: 200,
        headers: { 'x-amz-executed-version': '$LATEST' },
        body: JSON.stringify(result ?? null),
      };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      return {
        status: 200,
        headers: { 'x-amz-function-error': 'Unhandled', 'x-amz-executed-version': '$LATEST' },
        body: JSON.stringify({ errorType: error.name, errorMessage: error.message, trace: [] }),
      };
    }
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void answer(req, Buffer.concat(chunks).toString('utf8')).then((response) => {
        const send = (): void => {
          if (res.destroyed) return;
          res.writeHead(response.status, { 'content-type': 'application/json', ...response.headers });
          res.end(response.body);
        };
        if (response.delayMs) setTimeout(send, response.delayMs).unref();
        else send();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    define: (name, fn) => registry.set(name, fn),
    enqueue: (...responses) => script.push(...responses),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
