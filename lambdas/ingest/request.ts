/**
 * Turning an API Gateway HTTP API (payload format 2.0) event into the request the webhook
 * logic works on: route parameters, lower-cased headers, decoded query parameters and the
 * body as the exact bytes the platform sent (base64 bodies decoded, never re-serialised).
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** A webhook request before any channel or tenant checks. */
export interface IncomingRequest {
  /** HTTP method, upper case. */
  readonly method: string;
  /** The `{channel}` path parameter, when present. */
  readonly channel: string | undefined;
  /** The `{tenantId}` path parameter, when present. */
  readonly tenantId: string | undefined;
  /** Header names lower-cased (API Gateway joins repeated headers with commas). */
  readonly headers: Readonly<Record<string, string>>;
  /** Query parameters, decoded; the first value wins when a name repeats. */
  readonly query: Readonly<Record<string, string>>;
  /** The body as API Gateway delivered it (possibly base64), or undefined. */
  readonly body: string | undefined;
  readonly isBase64Encoded: boolean;
  /** When the request arrived, epoch ms. */
  readonly receivedAt: number;
}

const ROUTE = /\/webhooks\/([^/]+)\/([^/]+)\/?$/;

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Header names lower-cased; undefined values dropped. */
export function normaliseHeaders(
  headers: Readonly<Record<string, string | undefined>> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value !== undefined) out[name.toLowerCase()] = value;
  }
  return out;
}

/**
 * Query parameters. The raw query string is preferred (API Gateway's parsed map joins repeated
 * names with commas, which would corrupt a token containing one); the parsed map is the fallback.
 */
export function parseQuery(
  rawQueryString: string | undefined,
  parsed: Readonly<Record<string, string | undefined>> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (rawQueryString) {
    for (const [name, value] of new URLSearchParams(rawQueryString)) {
      if (!(name in out)) out[name] = value;
    }
    return out;
  }
  if (parsed) {
    for (const name of Object.keys(parsed)) {
      const value = parsed[name];
      if (value !== undefined) out[name] = value;
    }
  }
  return out;
}

/** Reads the route, headers, query and body out of an API Gateway v2 event. */
export function fromApiGatewayEvent(event: APIGatewayProxyEventV2, receivedAt = Date.now()): IncomingRequest {
  let channel = event.pathParameters?.channel;
  let tenantId = event.pathParameters?.tenantId;
  if (channel === undefined || tenantId === undefined) {
    // Without path parameters (a catch-all route, or a hand-made event) fall back to the path.
    const match = ROUTE.exec(event.rawPath ?? '');
    if (match) {
      channel ??= safeDecode(match[1]!);
      tenantId ??= safeDecode(match[2]!);
    }
  }
  return {
    method: (event.requestContext?.http?.method ?? 'GET').toUpperCase(),
    channel,
    tenantId,
    headers: normaliseHeaders(event.headers),
    query: parseQuery(event.rawQueryString, event.queryStringParameters),
    body: event.body,
    isBase64Encoded: event.isBase64Encoded === true,
    receivedAt,
  };
}

/**
 * The size of the decoded body in bytes, computed without decoding it, so an oversized
 * body is refused before it is copied.
 */
export function decodedBodyLength(body: string | undefined, isBase64Encoded: boolean): number {
  if (body === undefined || body === '') return 0;
  return Buffer.byteLength(body, isBase64Encoded ? 'base64' : 'utf8');
}

/** The exact bytes the platform sent. */
export function decodeBody(body: string | undefined, isBase64Encoded: boolean): Buffer {
  if (body === undefined || body === '') return Buffer.alloc(0);
  return Buffer.from(body, isBase64Encoded ? 'base64' : 'utf8');
}
