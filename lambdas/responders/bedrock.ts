/**
 * The `bedrock` responder: Amazon Bedrock's Converse API (Claude Haiku by default). It sends
 * the tenant persona and memory as the system prompt, history as alternating turns, customer
 * photos and video keyframes as image blocks, and asks for a structured answer through the
 * `reply` tool (messages, handoff, facts, summary). Throttling is retried with backoff inside
 * one deadline; every failure surfaces as a ResponderError.
 */
import {
  BedrockRuntimeClient,
  ConverseCommand,
  type ConverseCommandInput,
  type ConverseCommandOutput,
} from '@aws-sdk/client-bedrock-runtime';
import { ConfigurationError, ResponderError } from '../shared/errors.js';
import { logger } from '../shared/powertools.js';
import { DEFAULT_BEDROCK_MODEL_ID, DEFAULT_BEDROCK_TIMEOUT_MS } from './defaults.js';
import {
  describeRef,
  type ImageLoaderOptions,
  loadImage,
  loadPlatformImage,
  MAX_IMAGE_BYTES,
  MAX_IMAGES,
  type PlatformImageRef,
} from './images.js';
import {
  buildMessages,
  buildSystemPrompt,
  hiddenInstructions,
  parseModelOutput,
  REPLY_TOOL,
  REPLY_TOOL_SPEC,
  type TurnImage,
} from './prompt.js';
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

export { DEFAULT_BEDROCK_MODEL_ID, DEFAULT_BEDROCK_TIMEOUT_MS };

/** Error names Bedrock uses for "slow down / try again". */
const THROTTLE_NAMES = new Set([
  'ThrottlingException',
  'ServiceUnavailableException',
  'TooManyRequestsException',
  'ModelNotReadyException',
]);

/** True when a Bedrock error is throttling or a transient unavailability (worth a retry). */
export function isBedrockThrottle(err: unknown): boolean {
  const status = httpStatus(err);
  return THROTTLE_NAMES.has(errorName(err)) || status === 429 || status === 503;
}

export interface BedrockResponderOptions {
  /** Model id, inference profile id or ARN. Default {@link DEFAULT_BEDROCK_MODEL_ID}. */
  readonly modelId?: string;
  /** Deadline of one respond call, in ms. Default {@link DEFAULT_BEDROCK_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Retry policy for throttling. */
  readonly retry?: RetryPolicy;
  /** A client to use (tests); default one built from the environment (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`). */
  readonly client?: BedrockRuntimeClient;
  /** Endpoint override when no client is given (a local Converse server). */
  readonly endpoint?: string;
  /** Ask for the `reply` tool (default true); false for models without forced tool choice. */
  readonly structured?: boolean;
  readonly maxTokens?: number;
  readonly temperature?: number;
  /** Image loading: size cap, media bucket, S3 client. */
  readonly images?: ImageLoaderOptions & { readonly maxImages?: number; readonly timeoutMs?: number };
}

/** Answers with a Claude model on Amazon Bedrock through the Converse API. */
export class BedrockResponder implements Responder {
  readonly name = 'bedrock';
  readonly modelId: string;
  readonly timeoutMs: number;
  private readonly client: BedrockRuntimeClient;
  private readonly retry: RetryPolicy;
  private readonly structured: boolean;
  private readonly options: BedrockResponderOptions;

  constructor(options: BedrockResponderOptions = {}) {
    this.options = options;
    this.modelId = options.modelId?.trim() || DEFAULT_BEDROCK_MODEL_ID;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_BEDROCK_TIMEOUT_MS;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs <= 0) {
      throw new ConfigurationError(
        `The Bedrock timeout must be a positive integer of ms, got ${this.timeoutMs}.`,
      );
    }
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.structured = options.structured ?? true;
    // Retries are ours (backoff inside our deadline), so the SDK makes one attempt per call.
    this.client =
      options.client ??
      new BedrockRuntimeClient({
        maxAttempts: 1,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      });
  }

  /** The hidden instructions (for the leaked-internals gate). */
  systemPrompt(context: TurnContext): string {
    return hiddenInstructions(context, { structured: this.structured });
  }

  /** The Converse request for a turn, images already loaded (exported for tests and debugging). */
  buildRequest(context: TurnContext, images: readonly TurnImage[] = []): ConverseCommandInput {
    return {
      modelId: this.modelId,
      system: [{ text: buildSystemPrompt(context, { structured: this.structured }) }],
      messages: buildMessages(context, images),
      inferenceConfig: {
        maxTokens: this.options.maxTokens ?? 1024,
        temperature: this.options.temperature ?? 0.3,
      },
      ...(this.structured
        ? { toolConfig: { tools: [REPLY_TOOL_SPEC], toolChoice: { tool: { name: REPLY_TOOL } } } }
        : {}),
    };
  }

  async respond(context: TurnContext, signal?: AbortSignal): Promise<Reply> {
    const deadline = deadlineSignal(this.timeoutMs, signal);
    const log = { tenant: context.tenantId, channel: context.channel, conversation: context.conversationKey };
    try {
      const images = await this.loadImages(context, deadline, log);
      const input = this.buildRequest(context, images);
      const output = await withRetry<ConverseCommandOutput>(
        () => this.client.send(new ConverseCommand(input), { abortSignal: deadline }),
        isBedrockThrottle,
        this.retry,
        deadline,
        (err, attempt) =>
          logger.warn('Bedrock throttled; retrying', { ...log, attempt, error: errorName(err) }),
      );
      if (output.stopReason === 'max_tokens') {
        logger.warn('Bedrock stopped at maxTokens; the answer may be cut', log);
      }
      return parseModelOutput(output.output?.message?.content);
    } catch (err) {
      throw this.translate(err, deadline, signal);
    }
  }

  private translate(err: unknown, deadline: AbortSignal, signal: AbortSignal | undefined): ResponderError {
    if (err instanceof ResponderError) return err;
    if (isAbort(err, deadline)) {
      const why = signal?.aborted ? 'was cancelled' : `did not answer within ${this.timeoutMs} ms`;
      return new ResponderError(`Bedrock (${this.modelId}) ${why}.`, { cause: err });
    }
    const name = errorName(err);
    const status = httpStatus(err);
    const detail = err instanceof Error ? err.message : String(err);
    if (isBedrockThrottle(err)) {
      return new ResponderError(
        `Bedrock (${this.modelId}) is throttling (${name}) after ${this.retry.attempts} attempts.`,
        { cause: err, throttled: true },
      );
    }
    const hint =
      name === 'AccessDeniedException'
        ? ' Check the function role allows bedrock:InvokeModel on this model and that model access is enabled.'
        : name === 'ResourceNotFoundException' || name === 'ValidationException'
          ? ' Check BEDROCK_MODEL_ID names a model or inference profile available in this region.'
          : '';
    return new ResponderError(
      `Bedrock (${this.modelId}) failed: ${name}${status ? ` (HTTP ${status})` : ''}: ${detail}.${hint}`,
      { cause: err },
    );
  }

  /** Time allowed to load one image: a third of the deadline, at most 5 s (option `images.timeoutMs`). */
  private imageTimeoutMs(): number {
    return this.options.images?.timeoutMs ?? Math.max(1, Math.min(5000, Math.floor(this.timeoutMs / 3)));
  }

  /** Customer photos (by URL) and keyframes, at most `maxImages`; failures become notes. */
  private async loadImages(
    context: TurnContext,
    signal: AbortSignal,
    log: Record<string, string>,
  ): Promise<TurnImage[]> {
    const maxImages = this.options.images?.maxImages ?? MAX_IMAGES;
    const wanted: { messageIndex: number; ref: string; label: string; platform?: PlatformImageRef }[] = [];
    context.messages.forEach((message, messageIndex) => {
      for (const attachment of message.attachments) {
        if (attachment.kind !== 'image') continue;
        if (attachment.url) wanted.push({ messageIndex, ref: attachment.url, label: 'photo' });
        else if (attachment.fileId && (context.channel === 'telegram' || context.channel === 'whatsapp')) {
          // Known only by its platform file id: fetched with the tenant's token.
          wanted.push({
            messageIndex,
            ref: `${context.channel}-file:${attachment.fileId}`,
            label: 'photo',
            platform: {
              tenantId: context.tenantId,
              channel: context.channel,
              conversationId: context.conversationId,
              conversationKey: context.conversationKey,
              turnId: context.turnId,
              messageId: message.messageId,
              attachment,
            },
          });
        } else wanted.push({ messageIndex, ref: '', label: 'photo' });
      }
      for (const key of message.keyframes ?? [])
        wanted.push({ messageIndex, ref: key, label: 'video frame' });
    });
    const loaders = wanted.map(async (item, index): Promise<TurnImage> => {
      if (index >= maxImages) {
        return {
          messageIndex: item.messageIndex,
          note: `[${item.label} not shown: too many images in this turn]`,
        };
      }
      if (item.ref === '') {
        return {
          messageIndex: item.messageIndex,
          note: `[the customer sent a ${item.label} that cannot be shown]`,
        };
      }
      try {
        // A slow image host gets a slice of the deadline, then the image becomes a note.
        const imageSignal = deadlineSignal(this.imageTimeoutMs(), signal);
        const maxBytes = this.options.images?.maxBytes ?? MAX_IMAGE_BYTES;
        const image = item.platform
          ? await loadPlatformImage(item.platform, imageSignal, {
              maxBytes,
              ...(this.options.images?.loadTenant ? { loadTenant: this.options.images.loadTenant } : {}),
            })
          : await loadImage(item.ref, imageSignal, {
              maxBytes,
              ...(this.options.images?.bucket ? { bucket: this.options.images.bucket } : {}),
              ...(this.options.images?.s3 ? { s3: this.options.images.s3 } : {}),
            });
        return { messageIndex: item.messageIndex, image };
      } catch (err) {
        if (signal.aborted) throw err;
        logger.warn('Image skipped', { ...log, image: describeRef(item.ref), error: errorName(err) });
        return {
          messageIndex: item.messageIndex,
          note: `[the customer sent a ${item.label} that could not be loaded]`,
        };
      }
    });
    return Promise.all(loaders);
  }
}
