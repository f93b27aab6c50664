/**
 * The `bedrock` responder: Amazon Bedrock's Converse API (Claude Haiku by default). It sends
 * the tenant persona and memory as the system prompt, history as alternating turns, customer
 * photos and video keyframes as image blocks, and asks for a structured answer through the
 * `reply` tool (messages, handoff, facts, summary). Throttling is retried with backoff inside
 * one deadline; every failure surfaces as a ResponderError.
 */
import {
  BedrockRuntimeClient,
  type ContentBlock,
  ConverseCommand,
  type ConverseCommandInput,
  type ConverseCommandOutput,
  type Message,
  type SystemContentBlock,
  type TokenUsage,
  type ToolChoice,
} from '@aws-sdk/client-bedrock-runtime';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { ResponderDiagnostics } from '../contracts/responder.js';
import { DEFAULT_TOP_K, type Passage, type Retriever, retrievalQuery } from '../knowledge/retriever.js';
import { ENV } from '../shared/env.js';
import { ConfigurationError, ResponderError } from '../shared/errors.js';
import { emitMetric, logger } from '../shared/powertools.js';
import type { TenantDocument, ToolDeclaration } from '../shared/tenant.js';
import { loadTenant as loadTenantFromStore } from '../shared/tenant-store.js';
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
  buildSystemParts,
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
import { callTool, type ToolCallRecord, type ToolOutcome, toolSpecs, usableTools } from './tools.js';
import type { Responder, ResponderReply, TurnContext } from './types.js';

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
  /** Where knowledge passages come from; none: answers without knowledge. */
  readonly retriever?: Retriever;
  /** Passages put in the prompt. Default {@link DEFAULT_TOP_K}. */
  readonly topK?: number;
  /** Time allowed to retrieve, in ms (default a quarter of the deadline, at most 3 s). */
  readonly retrievalTimeoutMs?: number;
  /**
   * Reads the tenant document (settings.tools, settings.knowledge, secrets). Default: the tenant
   * store when `TENANT_SECRET_PREFIX` is set (its cache makes this free after the actor's read).
   */
  readonly loadTenant?: (tenantId: string) => Promise<TenantDocument>;
  /** Most tool rounds per answer before the model must reply. Default `TOOL_MAX_ROUNDS` or 3. */
  readonly maxToolRounds?: number;
  /** Let tools call `http://` URLs (the local stack). Default `TOOL_ALLOW_HTTP`. */
  readonly allowHttpTools?: boolean;
  /** Tool calls: fetch, Lambda client, wait before the retry (tests). */
  readonly toolRuntime?: {
    readonly fetch?: typeof fetch;
    readonly lambda?: LambdaClient;
    readonly retryDelayMs?: number;
  };
  /**
   * Mark the stable part of the prompt (tools, instructions, persona) as a Converse cache point.
   * Default: on for models that support prompt caching (Claude 3.5 Haiku, 3.7 Sonnet and the
   * Claude 4 family; Amazon Nova).
   */
  readonly promptCache?: boolean;
}

/** Default most tool rounds per answer. */
export const DEFAULT_TOOL_MAX_ROUNDS = 3;

/** True when Bedrock supports Converse `cachePoint` for `modelId` (by its model family). */
export function supportsPromptCache(modelId: string): boolean {
  return /anthropic\.claude-(3-7-sonnet|3-5-haiku|sonnet-4|opus-4|haiku-4)|amazon\.nova-(micro|lite|pro|premier)/.test(
    modelId,
  );
}

/** What one turn's extras put in the Converse request. */
export interface RequestExtras {
  readonly passages?: readonly Passage[];
  readonly tools?: readonly ToolDeclaration[];
  /** The conversation so far in this answer (tool rounds appended); default from the context. */
  readonly messages?: Message[];
  /** Force the `reply` tool (last round, or no tenant tools). Default: forced when no tools. */
  readonly forceReply?: boolean;
}

/** A turn's retrieval: passages (with text, for the prompt), its time and any failure. */
interface RetrievalOutcome {
  readonly passages: readonly Passage[];
  readonly latencyMs: number;
  readonly error?: string;
}

interface Tokens {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

function addUsage(total: Tokens, usage: TokenUsage | undefined): void {
  total.input += usage?.inputTokens ?? 0;
  total.output += usage?.outputTokens ?? 0;
  total.cacheRead += usage?.cacheReadInputTokens ?? 0;
  total.cacheWrite += usage?.cacheWriteInputTokens ?? 0;
}

/** Answers with a Claude model on Amazon Bedrock through the Converse API. */
export class BedrockResponder implements Responder {
  readonly name = 'bedrock';
  readonly grounded = true;
  readonly modelId: string;
  readonly timeoutMs: number;
  private readonly client: BedrockRuntimeClient;
  private readonly retry: RetryPolicy;
  private readonly structured: boolean;
  private readonly options: BedrockResponderOptions;
  private readonly promptCache: boolean;
  /** Most tool rounds per answer. */
  readonly maxToolRounds: number;
  /** The last retrieval, reused by the regeneration of the same turn. */
  private lastRetrieval: { key: string; passages: readonly Passage[] } | undefined;

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
    this.promptCache = options.promptCache ?? supportsPromptCache(this.modelId);
    const rounds = options.maxToolRounds ?? Number(process.env[ENV.toolMaxRounds] || DEFAULT_TOOL_MAX_ROUNDS);
    if (!Number.isInteger(rounds) || rounds < 0) {
      throw new ConfigurationError(`${ENV.toolMaxRounds} must be a non-negative integer, got ${rounds}.`);
    }
    this.maxToolRounds = rounds;
    // Retries are ours (backoff inside our deadline), so the SDK makes one attempt per call.
    this.client =
      options.client ??
      new BedrockRuntimeClient({
        maxAttempts: 1,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      });
  }

  /** The hidden instructions (for the leaked-internals gate); the tool line included, whether used or not. */
  systemPrompt(context: TurnContext): string {
    return hiddenInstructions(context, { structured: this.structured, tools: true });
  }

  /** The Converse request for a turn, images already loaded (exported for tests and debugging). */
  buildRequest(
    context: TurnContext,
    images: readonly TurnImage[] = [],
    extras: RequestExtras = {},
  ): ConverseCommandInput {
    const tools = this.structured ? (extras.tools ?? []) : [];
    const promptOptions = { structured: this.structured, tools: tools.length > 0 };
    let system: SystemContentBlock[];
    if (this.promptCache) {
      // Tools, then the stable system text, form the first cached prefix; the customer and any
      // regeneration reason come after it, then the history (a second cache point at its end)
      // and the turn with its reference material.
      const { stable, dynamic } = buildSystemParts(context, promptOptions);
      system = [
        { text: stable },
        { cachePoint: { type: 'default' } },
        ...(dynamic ? [{ text: dynamic }] : []),
      ];
    } else {
      system = [{ text: buildSystemPrompt(context, promptOptions) }];
    }
    const forceReply = extras.forceReply ?? tools.length === 0;
    const toolChoice: ToolChoice = forceReply ? { tool: { name: REPLY_TOOL } } : { any: {} };
    return {
      modelId: this.modelId,
      system,
      messages:
        extras.messages ??
        buildMessages(context, images, {
          ...(extras.passages ? { passages: extras.passages } : {}),
          cacheHistory: this.promptCache,
        }),
      inferenceConfig: {
        maxTokens: this.options.maxTokens ?? 1024,
        temperature: this.options.temperature ?? 0.3,
      },
      ...(this.structured
        ? { toolConfig: { tools: [REPLY_TOOL_SPEC, ...toolSpecs(tools)], toolChoice } }
        : {}),
    };
  }

  async respond(context: TurnContext, signal?: AbortSignal): Promise<ResponderReply> {
    const deadline = deadlineSignal(this.timeoutMs, signal);
    const log = { tenant: context.tenantId, channel: context.channel, conversation: context.conversationKey };
    try {
      const tenant = await this.tenantFor(context.tenantId, log);
      const knowledgeOn = this.options.retriever !== undefined && tenant?.settings.knowledge !== false;
      const [images, retrieval] = await Promise.all([
        this.loadImages(context, deadline, log),
        knowledgeOn ? this.retrieve(context, deadline, log) : Promise.resolve(undefined),
      ]);
      const passages = retrieval?.passages ?? [];
      // TOOL_MAX_ROUNDS=0 turns tools off: nothing is offered.
      const tools = this.structured && this.maxToolRounds > 0 ? this.offeredTools(tenant, log) : [];
      const secrets = tenant?.secrets ?? {};
      const messages = buildMessages(context, images, { passages, cacheHistory: this.promptCache });
      const tokens: Tokens = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
      const calls: ToolCallRecord[] = [];
      const evidence = passages.map((p) => p.text);
      let content: ContentBlock[] = [];
      for (let round = 0; ; round += 1) {
        const last = tools.length === 0 || round >= this.maxToolRounds;
        const input = this.buildRequest(context, images, { passages, tools, messages, forceReply: last });
        const output = await this.converse(input, deadline, log);
        addUsage(tokens, output.usage);
        if (output.stopReason === 'max_tokens') {
          logger.warn('Bedrock stopped at maxTokens; the answer may be cut', log);
        }
        content = output.output?.message?.content ?? [];
        const uses = content.filter((b) => b.toolUse !== undefined && b.toolUse.name !== REPLY_TOOL);
        const replied = content.some((b) => b.toolUse?.name === REPLY_TOOL);
        if (replied || uses.length === 0 || last) break;
        const outcomes = await Promise.all(
          uses.map((b) =>
            this.runTool(tools, b.toolUse!.name ?? '', b.toolUse!.input, secrets, deadline, log),
          ),
        );
        messages.push({ role: 'assistant', content });
        messages.push({
          role: 'user',
          content: uses.map((b, i) => ({
            toolResult: {
              toolUseId: b.toolUse!.toolUseId,
              content: [{ text: outcomes[i]!.text }],
              status: outcomes[i]!.status,
            },
          })),
        });
        for (const outcome of outcomes) {
          calls.push(outcome.record);
          if (outcome.status === 'success') evidence.push(outcome.text);
        }
      }
      const reply = parseModelOutput(content);
      for (const [kind, value] of Object.entries(tokens)) {
        if (kind === 'input' || kind === 'output' || value > 0)
          emitMetric('ResponderTokens', value, { kind });
      }
      const diagnostics: ResponderDiagnostics = {
        ...(retrieval
          ? {
              retrieval: {
                passages: retrieval.passages.map((p) => ({ id: p.id, score: p.score })),
                latencyMs: retrieval.latencyMs,
                ...(retrieval.error !== undefined ? { error: retrieval.error } : {}),
              },
            }
          : {}),
        ...(calls.length > 0 ? { tools: calls } : {}),
        tokens: {
          input: tokens.input,
          output: tokens.output,
          ...(tokens.cacheRead > 0 ? { cacheRead: tokens.cacheRead } : {}),
          ...(tokens.cacheWrite > 0 ? { cacheWrite: tokens.cacheWrite } : {}),
        },
      };
      return { ...reply, diagnostics, evidence };
    } catch (err) {
      throw this.translate(err, deadline, signal);
    }
  }

  /** One Converse call, throttling retried inside the deadline. */
  private converse(
    input: ConverseCommandInput,
    deadline: AbortSignal,
    log: Record<string, string>,
  ): Promise<ConverseCommandOutput> {
    return withRetry<ConverseCommandOutput>(
      () => this.client.send(new ConverseCommand(input), { abortSignal: deadline }),
      isBedrockThrottle,
      this.retry,
      deadline,
      (err, attempt) =>
        logger.warn('Bedrock throttled; retrying', { ...log, attempt, error: errorName(err) }),
    );
  }

  /** The tenant document, or undefined (no tools, knowledge on) when it cannot be read. */
  private async tenantFor(
    tenantId: string,
    log: Record<string, string>,
  ): Promise<TenantDocument | undefined> {
    const load =
      this.options.loadTenant ??
      (process.env[ENV.tenantSecretPrefix] ? (id: string) => loadTenantFromStore(id) : undefined);
    if (!load) return undefined;
    try {
      return await load(tenantId);
    } catch (err) {
      logger.warn('Tenant settings unreadable; answering without tools', { ...log, error: errorName(err) });
      return undefined;
    }
  }

  /** The tenant's tools that can be offered (https, or http when allowed). */
  private offeredTools(tenant: TenantDocument | undefined, log: Record<string, string>): ToolDeclaration[] {
    const declared = tenant?.settings.tools ?? [];
    if (declared.length === 0) return [];
    const allowHttp =
      this.options.allowHttpTools ?? /^(true|1|yes)$/i.test(process.env[ENV.toolAllowHttp] ?? '');
    const { usable, refused } = usableTools(declared, allowHttp);
    for (const tool of refused)
      logger.warn('Tool not offered', { ...log, tool: tool.name, reason: tool.reason });
    return usable;
  }

  /** Runs one tool call of the model; logs and counts it (no secret, no body). */
  private async runTool(
    tools: readonly ToolDeclaration[],
    name: string,
    input: unknown,
    secrets: Readonly<Record<string, string>>,
    deadline: AbortSignal,
    log: Record<string, string>,
  ): Promise<ToolOutcome> {
    const tool = tools.find((t) => t.name === name);
    if (!tool) {
      return {
        record: { name: name.slice(0, 64), ok: false, attempts: 0, latencyMs: 0, error: 'unknown tool' },
        status: 'error',
        text: `There is no tool named "${name}". Answer with the ${REPLY_TOOL} tool.`,
      };
    }
    const outcome = await callTool(tool, input, {
      secrets,
      allowHttp: this.options.allowHttpTools ?? /^(true|1|yes)$/i.test(process.env[ENV.toolAllowHttp] ?? ''),
      signal: deadline,
      ...(this.options.toolRuntime?.fetch ? { fetch: this.options.toolRuntime.fetch } : {}),
      ...(this.options.toolRuntime?.lambda ? { lambda: this.options.toolRuntime.lambda } : {}),
      ...(this.options.toolRuntime?.retryDelayMs !== undefined
        ? { retryDelayMs: this.options.toolRuntime.retryDelayMs }
        : {}),
    });
    emitMetric('ToolCalls', 1, { outcome: outcome.record.ok ? 'ok' : 'failed' });
    const record = { ...log, ...outcome.record, tool: outcome.record.name };
    if (outcome.record.ok) logger.info('Tool called', record);
    else logger.warn('Tool failed', record);
    return outcome;
  }

  /** Time allowed to retrieve: option, else a quarter of the deadline, at most 3 s. */
  private retrievalTimeoutMs(): number {
    return this.options.retrievalTimeoutMs ?? Math.max(1, Math.min(3000, Math.floor(this.timeoutMs / 4)));
  }

  /**
   * The turn's passages. A failure (or a retrieval slower than its slice of the deadline) is
   * logged and counted, and the turn goes on without knowledge; only the answer's own deadline
   * or cancellation ends it. A regeneration of the same turn reuses the first retrieval.
   */
  private async retrieve(
    context: TurnContext,
    deadline: AbortSignal,
    log: Record<string, string>,
  ): Promise<RetrievalOutcome> {
    const retriever = this.options.retriever!;
    const query = retrievalQuery(context);
    if (query === '') return { passages: [], latencyMs: 0 };
    const key = `${context.tenantId}\u0000${context.turnId}\u0000${query}`;
    if (this.lastRetrieval?.key === key) return { passages: this.lastRetrieval.passages, latencyMs: 0 };
    const started = Date.now();
    try {
      const result = await retriever.retrieve({
        tenantId: context.tenantId,
        query,
        topK: this.options.topK ?? DEFAULT_TOP_K,
        signal: deadlineSignal(this.retrievalTimeoutMs(), deadline),
      });
      const latencyMs = Date.now() - started;
      emitMetric('KnowledgeRetrievalLatency', latencyMs);
      this.lastRetrieval = { key, passages: result.passages };
      logger.info('Knowledge retrieved', {
        ...log,
        turn: context.turnId,
        retriever: retriever.kind,
        passages: result.passages.map((p) => ({ id: p.id, score: p.score })),
        latencyMs,
      });
      return { passages: result.passages, latencyMs };
    } catch (err) {
      if (deadline.aborted) throw err;
      const latencyMs = Date.now() - started;
      emitMetric('KnowledgeRetrievalFailed', 1);
      const error = `${errorName(err)}: ${err instanceof Error ? err.message : String(err)}`.slice(0, 300);
      logger.warn('Knowledge retrieval failed; answering without knowledge', {
        ...log,
        turn: context.turnId,
        retriever: retriever.kind,
        error,
      });
      return { passages: [], latencyMs, error };
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
