/**
 * HTTP answers of the webhook: the success body, the handshake echo, and the mapping of every
 * error to a status, a `{"error":{"code","message"}}` body, the metric that counts it and how
 * loudly to log it. Pure functions: the handler applies the outcome.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  ConfigurationError,
  DependencyError,
  EnqueueError,
  HandshakeFailedError,
  InvalidPayloadError,
  InvalidSignatureError,
  NotFoundError,
  PayloadTooLargeError,
  TenantConfigError,
  TooManyEventsError,
} from '../shared/errors.js';
import type { MetricName } from '../shared/metrics-catalogue.js';

export type WebhookResponse = APIGatewayProxyStructuredResultV2 & {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
};

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/** A JSON response. */
export function jsonResponse(statusCode: number, body: unknown): WebhookResponse {
  return { statusCode, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) };
}

/** `{"error":{"code","message"}}` with the given status. */
export function errorResponse(statusCode: number, code: string, message: string): WebhookResponse {
  return jsonResponse(statusCode, { error: { code, message } });
}

/**
 * 200 for a POST whose messages are all on the queue. With one message accepted its platform id
 * is echoed as `messageId` (the Pancake integration guide's answer shape).
 */
export function queuedResponse(accepted: number, ignored: number, messageId?: string): WebhookResponse {
  return jsonResponse(200, {
    success: true,
    status: 'queued',
    accepted,
    ignored,
    ...(messageId !== undefined ? { messageId } : {}),
  });
}

/** 200 with the handshake challenge, as plain text (never interpreted as HTML). */
export function handshakeResponse(challenge: string): WebhookResponse {
  return {
    statusCode: 200,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' },
    body: challenge,
  };
}

/** What to do about an error: the response, the metric to count, the log level. */
export interface ErrorOutcome {
  readonly response: WebhookResponse;
  readonly metric?: { readonly name: MetricName; readonly reason?: string };
  /** `info` for expected client errors, `warn` for rejections worth watching, `error` for our faults. */
  readonly log: 'info' | 'warn' | 'error';
}

/**
 * Maps an error thrown while handling a webhook to its outcome. Client errors carry the
 * error's own (safe) message; server errors a generic one, the details staying in the logs.
 */
export function errorOutcome(err: unknown): ErrorOutcome {
  if (err instanceof NotFoundError) {
    return {
      response: errorResponse(404, err.code, err.message),
      metric: { name: 'WebhookNotFound' },
      log: 'info',
    };
  }
  if (err instanceof PayloadTooLargeError) {
    return {
      response: errorResponse(413, err.code, err.message),
      metric: { name: 'WebhookRejected', reason: 'too-large' },
      log: 'warn',
    };
  }
  if (err instanceof TooManyEventsError) {
    return {
      response: errorResponse(413, err.code, err.message),
      metric: { name: 'WebhookRejected', reason: 'too-many-events' },
      log: 'warn',
    };
  }
  if (err instanceof InvalidPayloadError) {
    return {
      response: errorResponse(400, err.code, err.message),
      metric: { name: 'WebhookRejected', reason: 'invalid-payload' },
      log: 'warn',
    };
  }
  if (err instanceof InvalidSignatureError) {
    return {
      response: errorResponse(401, err.code, err.message),
      metric: { name: 'SignatureRejected' },
      log: 'warn',
    };
  }
  if (err instanceof HandshakeFailedError) {
    return {
      response: errorResponse(403, err.code, err.message),
      metric: { name: 'HandshakeFailed' },
      log: 'warn',
    };
  }
  if (err instanceof EnqueueError) {
    // The metric (EnqueueFailed += failed count) is emitted where the count is known.
    return {
      response: errorResponse(503, err.code, 'Some messages could not be queued; please retry.'),
      log: 'error',
    };
  }
  if (err instanceof DependencyError) {
    return {
      response: errorResponse(503, err.code, 'A dependency is unavailable; please retry.'),
      log: 'error',
    };
  }
  if (err instanceof TenantConfigError) {
    return {
      response: errorResponse(500, err.code, 'The tenant configuration is invalid.'),
      log: 'error',
    };
  }
  if (err instanceof ConfigurationError) {
    return {
      response: errorResponse(500, err.code, 'The webhook is misconfigured.'),
      log: 'error',
    };
  }
  return { response: errorResponse(500, 'INTERNAL', 'Internal error.'), log: 'error' };
}
