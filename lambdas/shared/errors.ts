/**
 * The runtime error hierarchy. Every error chat-relay throws at runtime is a `ChatRelayError`;
 * SDK and HTTP errors are translated into one of these at the adapter boundary, so handlers
 * map errors to outcomes (HTTP status, retry, give up) by class, never by message text.
 */

/** Options accepted by every chat-relay error. */
export interface ChatRelayErrorOptions {
  /** The underlying error, kept for logs. */
  readonly cause?: unknown;
}

/** Base class of every chat-relay runtime error. */
export class ChatRelayError extends Error {
  /** A stable machine-readable code (also used in HTTP error bodies and metrics). */
  readonly code: string;

  constructor(code: string, message: string, options: ChatRelayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** The request is not authentic: a missing, malformed or wrong signature or token. HTTP 401. */
export class InvalidSignatureError extends ChatRelayError {
  constructor(
    message = 'The request signature is missing or does not match.',
    options?: ChatRelayErrorOptions,
  ) {
    super('INVALID_SIGNATURE', message, options);
  }
}

/** A GET verification handshake failed (wrong mode or verify token). HTTP 403. */
export class HandshakeFailedError extends ChatRelayError {
  constructor(message = 'The verification handshake failed.', options?: ChatRelayErrorOptions) {
    super('HANDSHAKE_FAILED', message, options);
  }
}

/** Unknown tenant, unknown channel, or a channel the tenant has not configured. HTTP 404. */
export class NotFoundError extends ChatRelayError {
  constructor(message = 'Not found.', options?: ChatRelayErrorOptions) {
    super('NOT_FOUND', message, options);
  }
}

/** The body is larger than the configured limit. HTTP 413. */
export class PayloadTooLargeError extends ChatRelayError {
  constructor(message = 'The request body is too large.', options?: ChatRelayErrorOptions) {
    super('PAYLOAD_TOO_LARGE', message, options);
  }
}

/** The body is not what the channel documents (not JSON, wrong shape). HTTP 400. */
export class InvalidPayloadError extends ChatRelayError {
  constructor(message = 'The request body could not be parsed.', options?: ChatRelayErrorOptions) {
    super('INVALID_PAYLOAD', message, options);
  }
}

/** A tenant document failed validation (CLI input, or a secret edited by hand). */
export class TenantConfigError extends ChatRelayError {
  /** One line per problem found, each naming the field and the fix. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options?: ChatRelayErrorOptions) {
    super('TENANT_CONFIG_INVALID', `Invalid tenant document:\n- ${problems.join('\n- ')}`, options);
    this.problems = problems;
  }
}

/** A required environment variable or configuration value is missing or malformed. */
export class ConfigurationError extends ChatRelayError {
  constructor(message: string, options?: ChatRelayErrorOptions) {
    super('CONFIGURATION', message, options);
  }
}

/** Some messages of a request could not be enqueued within the time budget. HTTP 5xx. */
export class EnqueueError extends ChatRelayError {
  /** How many messages were not enqueued. */
  readonly failed: number;

  constructor(failed: number, message: string, options?: ChatRelayErrorOptions) {
    super('ENQUEUE_FAILED', message, options);
    this.failed = failed;
  }
}

/** A dependency (AWS service) failed in a way that is worth retrying. */
export class DependencyError extends ChatRelayError {
  constructor(message: string, options?: ChatRelayErrorOptions) {
    super('DEPENDENCY_FAILED', message, options);
  }
}

/** An event on a queue does not match its schema. Never retried: it can only fail again. */
export class InvalidEventError extends ChatRelayError {
  constructor(message: string, options?: ChatRelayErrorOptions) {
    super('INVALID_EVENT', message, options);
  }
}

/** The responder failed; the turn is retried (only its conversation waits). */
export class ResponderError extends ChatRelayError {
  /** True when the failure was throttling (worth retrying with backoff). */
  readonly throttled: boolean;

  constructor(message: string, options: ChatRelayErrorOptions & { throttled?: boolean } = {}) {
    super('RESPONDER_FAILED', message, options);
    this.throttled = options.throttled ?? false;
  }
}

/** Base of send errors raised by channel senders. */
export class SendError extends ChatRelayError {
  /** The platform's error code (HTTP status or the platform's own code), as a string. */
  readonly platformCode: string;
  /** HTTP status of the failed call, when there was one. */
  readonly status: number | undefined;

  constructor(
    code: string,
    platformCode: string,
    message: string,
    options: ChatRelayErrorOptions & { status?: number } = {},
  ) {
    super(code, message, options);
    this.platformCode = platformCode;
    this.status = options.status;
  }
}

/** A send failure worth retrying (429, 5xx, network, timeouts, platform rate limits). */
export class RetryableSendError extends SendError {
  /** How long the platform asked us to wait, in milliseconds, when it said. */
  readonly retryAfterMs: number | undefined;

  constructor(
    platformCode: string,
    message: string,
    options: ChatRelayErrorOptions & { status?: number; retryAfterMs?: number } = {},
  ) {
    super('SEND_RETRYABLE', platformCode, message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * A send whose outcome is unknown: the request was sent but no answer came (timeout, connection
 * lost mid-request). The platform may have delivered it, so a retry may duplicate the message.
 */
export class AmbiguousSendError extends RetryableSendError {}

/** A send failure that will not succeed on retry (bad token, no permission, window closed…). */
export class PermanentSendError extends SendError {
  /** True when the platform rejected our access token (401, Meta 190). */
  readonly tokenInvalid: boolean;

  constructor(
    platformCode: string,
    message: string,
    options: ChatRelayErrorOptions & { status?: number; tokenInvalid?: boolean } = {},
  ) {
    super('SEND_PERMANENT', platformCode, message, options);
    this.tokenInvalid = options.tokenInvalid ?? false;
  }
}

/** Media could not be fetched or processed; carried inside `media-ready` so the turn goes on. */
export class MediaError extends ChatRelayError {
  constructor(
    code: 'MEDIA_DOWNLOAD_FAILED' | 'MEDIA_TOO_LARGE' | 'MEDIA_CORRUPT' | 'MEDIA_TIMEOUT' | 'MEDIA_FAILED',
    message: string,
    options?: ChatRelayErrorOptions,
  ) {
    super(code, message, options);
  }
}

/** The transcription engine is not available (no binary or model configured). */
export class EngineUnavailableError extends ChatRelayError {
  constructor(message: string, options?: ChatRelayErrorOptions) {
    super('ENGINE_UNAVAILABLE', message, options);
  }
}

/**
 * A signed webhook body holds more events to act on than one request may enqueue within its
 * answer deadline (more than any platform documents in a batch): refused whole before anything
 * is enqueued, so nothing is accepted and then left half-done. HTTP 413.
 */
export class TooManyEventsError extends ChatRelayError {
  /** How many events the body held, and the most one request takes. */
  readonly events: number;
  readonly limit: number;

  constructor(events: number, limit: number, options?: ChatRelayErrorOptions) {
    super(
      'TOO_MANY_EVENTS',
      `The request holds ${events} events to enqueue; the limit is ${limit} per request.`,
      options,
    );
    this.events = events;
    this.limit = limit;
  }
}

/** True when `err` is a chat-relay error. */
export function isChatRelayError(err: unknown): err is ChatRelayError {
  return err instanceof ChatRelayError;
}
