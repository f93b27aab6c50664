/**
 * What API Gateway (HTTP API, payload format 2.0) does between a platform and the webhook
 * Lambda: turn an HTTP request into an `APIGatewayProxyEventV2`, and the Lambda's result back
 * into an HTTP response, including its quirks (base64 bodies for non-text content types,
 * comma-joined repeated headers and query parameters, cookies moved out of the headers,
 * the 10 MB payload limit, the 30 s integration timeout, inferred responses).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';

/** API Gateway's payload limit (HTTP APIs): 10 MB. */
export const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** API Gateway's maximum integration timeout (HTTP APIs): 30 s. */
export const API_GATEWAY_TIMEOUT_MS = 30_000;

/** The body exceeded {@link API_GATEWAY_MAX_BODY_BYTES}. */
export class BodyTooLargeError extends Error {
  constructor() {
    super('Request body exceeds the 10 MB API Gateway limit.');
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Reads the whole request body, failing fast (without buffering the rest) beyond `limit` bytes.
 * @throws BodyTooLargeError
 */
export async function readBody(req: IncomingMessage, limit = API_GATEWAY_MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new BodyTooLargeError();
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

// API Gateway passes these content types as text and base64-encodes everything else.
const TEXT_TYPES = [/^text\//, /[/+]json\b/, /[/+]xml\b/, /^application\/javascript\b/];

/** True when API Gateway would hand this body to Lambda as text rather than base64. */
export function isTextContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.toLowerCase().trim();
  return TEXT_TYPES.some((re) => re.test(type));
}

function clfTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(
    date.getUTCHours(),
  )}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** Inputs of {@link toApiGatewayEvent}. */
export interface ApiGatewayRequest {
  readonly method: string;
  /** The request target as received (path and query string). */
  readonly url: string;
  /** Node's `rawHeaders` (name, value, name, value…). */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly sourceIp: string;
  readonly httpVersion: string;
  /** Route template, e.g. `/webhooks/{channel}/{tenantId}`. */
  readonly routePath: string;
  readonly pathParameters?: Record<string, string>;
  readonly receivedAt?: number;
  readonly domainName?: string;
}

/**
 * Decodes a path parameter as API Gateway does, or undefined when its percent-encoding is
 * malformed (`%`, `%E0%A4%A`), which API Gateway refuses with 400 before any integration runs.
 */
export function decodePathParameter(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** API Gateway's answer to a request line it cannot parse (the JSON shape of its own errors). */
export const BAD_REQUEST = { statusCode: 400, body: { message: 'Bad Request' } } as const;

/** Builds the event API Gateway (payload format 2.0) would give the Lambda for this request. */
export function toApiGatewayEvent(request: ApiGatewayRequest): APIGatewayProxyEventV2 {
  const now = request.receivedAt ?? Date.now();
  const queryIndex = request.url.indexOf('?');
  const rawPath = queryIndex < 0 ? request.url : request.url.slice(0, queryIndex);
  const rawQueryString = queryIndex < 0 ? '' : request.url.slice(queryIndex + 1);

  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i]!.toLowerCase();
    const value = request.rawHeaders[i + 1]!;
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((c) => c.trim())
          .filter((c) => c !== ''),
      );
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  headers['x-forwarded-for'] ??= request.sourceIp;
  headers['x-forwarded-proto'] ??= 'http';

  let queryStringParameters: Record<string, string> | undefined;
  if (rawQueryString !== '') {
    queryStringParameters = {};
    for (const [key, value] of new URLSearchParams(rawQueryString)) {
      const prev = queryStringParameters[key];
      queryStringParameters[key] = prev === undefined ? value : `${prev},${value}`;
    }
  }

  const method = request.method.toUpperCase();
  const routeKey = `${method} ${request.routePath}`;
  const domainName = request.domainName ?? headers.host ?? 'localhost';
  const requestId = randomUUID();
  const text = isTextContentType(headers['content-type']);
  const hasBody = request.body.length > 0;

  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    ...(request.pathParameters ? { pathParameters: request.pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method,
        path: rawPath,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey,
      stage: '$default',
      time: clfTime(new Date(now)),
      timeEpoch: now,
    },
    ...(hasBody ? { body: text ? request.body.toString('utf8') : request.body.toString('base64') } : {}),
    isBase64Encoded: hasBody && !text,
  };
}

/** An HTTP response as API Gateway would send it. */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly cookies: readonly string[];
  readonly body: Buffer;
}

/**
 * Maps a Lambda result to the response API Gateway sends. Results without a `statusCode`
 * (a string, an object) are inferred the way HTTP APIs do: 200, JSON, the value as the body.
 */
export function fromApiGatewayResult(result: APIGatewayProxyResultV2 | undefined): HttpResponse {
  if (result === undefined || result === null) {
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      cookies: [],
      body: Buffer.alloc(0),
    };
  }
  if (typeof result === 'string' || typeof result !== 'object' || !('statusCode' in result)) {
    const body = typeof result === 'string' ? result : JSON.stringify(result);
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      cookies: [],
      body: Buffer.from(body, 'utf8'),
    };
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  const raw = result.body ?? '';
  const body = result.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (headers['content-type'] === undefined && body.length > 0) headers['content-type'] = 'application/json';
  return { statusCode: result.statusCode ?? 200, headers, cookies: result.cookies ?? [], body };
}

/** Writes an {@link HttpResponse} to a Node response. */
export function writeHttpResponse(res: ServerResponse, response: HttpResponse): void {
  const headers: Record<string, string | string[]> = { ...response.headers };
  if (response.cookies.length > 0) headers['set-cookie'] = [...response.cookies];
  headers['content-length'] = String(response.body.length);
  headers['apigw-requestid'] ??= randomUUID();
  res.writeHead(response.statusCode, headers);
  res.end(response.body);
}

/** Writes a JSON body with a status code. */
export function writeJson(res: ServerResponse, statusCode: number, body: unknown): void {
  const text = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(statusCode, { 'content-type': 'application/json', 'content-length': String(text.length) });
  res.end(text);
}
