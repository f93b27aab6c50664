/**
 * The `lambda` responder: the extension point for larger stacks. It invokes the user's own
 * function synchronously with the TurnContext as JSON and expects a Reply as JSON back,
 * validated field by field. Throttling is retried with backoff; everything else surfaces as a
 * ResponderError naming the function and what went wrong.
 */
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import * as z from 'zod';
import { ConfigurationError, ResponderError } from '../shared/errors.js';
import { logger } from '../shared/powertools.js';
import {
  DEFAULT_RETRY,
  deadlineSignal,
  errorName,
  httpStatus,
  isAbort,
  type RetryPolicy,
  withRetry,
} from './retry.js';
import type { Reply, Responder, TurnContext } from './types.js';

/** Default deadline of one invocation (all attempts), in ms. */
export const DEFAULT_LAMBDA_TIMEOUT_MS = 30_000;

const THROTTLE_NAMES = new Set([
  'TooManyRequestsException',
  'ThrottlingException',
  'EC2ThrottledException',
  'ServiceException',
  'ResourceNotReadyException',
]);

/** True when a Lambda Invoke error is throttling or transient (worth a retry). */
export function isLambdaThrottle(err: unknown): boolean {
  const status = httpStatus(err);
  return THROTTLE_NAMES.has(errorName(err)) || status === 429 || status === 502 || status === 503;
}

const quickReplySchema = z
  .object({ title: z.string().min(1).max(1000), payload: z.string().min(1).max(1000).optional() })
  .strict();
const buttonSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('url'),
      title: z.string().min(1).max(1000),
      url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }),
    })
    .strict(),
  z
    .object({
      type: z.literal('postback'),
      title: z.string().min(1).max(1000),
      payload: z.string().min(1).max(1000),
    })
    .strict(),
]);

const replyMessageSchema = z
  .object({
    text: z.string().optional(),
    imageUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
    /** At most 13 (ReplyMessage contract); each channel renders what it can (docs/channels.md). */
    quickReplies: z.array(quickReplySchema).max(13).optional(),
    /** At most 3 (ReplyMessage contract). */
    buttons: z.array(buttonSchema).max(3).optional(),
  })
  .strict()
  .refine((m) => m.text !== undefined || m.imageUrl !== undefined, {
    message: 'needs text or imageUrl',
  });

/** The zod schema of a {@link Reply} (what the user's function must return). */
export const replySchema = z
  .object({
    messages: z.array(replyMessageSchema),
    handoff: z.boolean().optional(),
    memory: z
      .object({
        facts: z.record(z.string(), z.string()).optional(),
        summary: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * Validates a Reply from untrusted JSON.
 * @throws ResponderError naming every bad field (`messages.0.text: expected string, received number`).
 */
export function parseReply(value: unknown, source: string): Reply {
  const result = replySchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(reply)';
    return `${path}: ${issue.message}`;
  });
  throw new ResponderError(`${source} returned an invalid Reply: ${problems.join('; ')}.`);
}

export interface LambdaResponderOptions {
  /** Function name, ARN or partial ARN (with an optional `:alias`). */
  readonly functionName: string;
  /** Deadline of one respond call, in ms. Default {@link DEFAULT_LAMBDA_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  readonly retry?: RetryPolicy;
  /** A client to use; default one built from the environment (`AWS_ENDPOINT_URL_LAMBDA`). */
  readonly client?: LambdaClient;
  /** Endpoint override when no client is given (a local server speaking Lambda Invoke). */
  readonly endpoint?: string;
}

/** Answers by invoking the user's Lambda function with the TurnContext JSON. */
export class LambdaResponder implements Responder {
  readonly name = 'lambda';
  readonly functionName: string;
  readonly timeoutMs: number;
  private readonly client: LambdaClient;
  private readonly retry: RetryPolicy;

  constructor(options: LambdaResponderOptions) {
    if (!options.functionName?.trim()) {
      throw new ConfigurationError(
        'The lambda responder needs a function name: set RESPONDER_FUNCTION_NAME (name, ARN or name:alias).',
      );
    }
    this.functionName = options.functionName.trim();
    this.timeoutMs = options.timeoutMs ?? DEFAULT_LAMBDA_TIMEOUT_MS;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.client =
      options.client ??
      new LambdaClient({ maxAttempts: 1, ...(options.endpoint ? { endpoint: options.endpoint } : {}) });
  }

  async respond(context: TurnContext, signal?: AbortSignal): Promise<Reply> {
    const deadline = deadlineSignal(this.timeoutMs, signal);
    const source = `Responder function ${this.functionName}`;
    const log = { tenant: context.tenantId, channel: context.channel, conversation: context.conversationKey };
    const payload = new TextEncoder().encode(JSON.stringify(context));
    let output: InvokeCommandOutput;
    try {
      output = await withRetry(
        () =>
          this.client.send(
            new InvokeCommand({
              FunctionName: this.functionName,
              InvocationType: 'RequestResponse',
              Payload: payload,
            }),
            { abortSignal: deadline },
          ),
        isLambdaThrottle,
        this.retry,
        deadline,
        (err, attempt) =>
          logger.warn('Responder function throttled; retrying', { ...log, attempt, error: errorName(err) }),
      );
    } catch (err) {
      if (isAbort(err, deadline)) {
        const why = signal?.aborted ? 'was cancelled' : `did not answer within ${this.timeoutMs} ms`;
        throw new ResponderError(`${source} ${why}.`, { cause: err });
      }
      const name = errorName(err);
      const status = httpStatus(err);
      const throttled = isLambdaThrottle(err);
      const detail = err instanceof Error ? err.message : String(err);
      throw new ResponderError(
        throttled
          ? `${source} is throttled (${name}) after ${this.retry.attempts} attempts.`
          : `${source} could not be invoked: ${name}${status ? ` (HTTP ${status})` : ''}: ${detail}`,
        { cause: err, throttled },
      );
    }

    const body = output.Payload ? new TextDecoder().decode(output.Payload) : '';
    if (output.FunctionError) {
      throw new ResponderError(`${source} failed (${output.FunctionError}): ${describeFunctionError(body)}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch (err) {
      throw new ResponderError(`${source} returned a body that is not JSON (${body.length} bytes).`, {
        cause: err,
      });
    }
    return parseReply(value, source);
  }
}

/** `errorType: errorMessage` from a Lambda error payload (or its first 300 characters). */
function describeFunctionError(body: string): string {
  try {
    const parsed = JSON.parse(body) as { errorType?: unknown; errorMessage?: unknown };
    const type = typeof parsed.errorType === 'string' ? parsed.errorType : 'Error';
    const message = typeof parsed.errorMessage === 'string' ? parsed.errorMessage : '';
    return message ? `${type}: ${message}` : type;
  } catch {
    return body.slice(0, 300) || '(no details)';
  }
}
