/**
 * The webhook logic: from an API Gateway event to an answer, with every dependency (tenant
 * store, adapters, queue, metrics, logger) injected so it runs unchanged in the Lambda, the
 * local stack, the unit tests and the benchmark.
 *
 * Flow: count → channel → body size → decode → tenant → channel configured? → GET handshake,
 * or POST authenticate → parse → entries → enqueue. Any message not enqueued answers 503 so
 * the platform retries; 200 is never sent for a message that is not on the queue.
 *
 * Every request has an answer deadline (`deadlineMs`, default 1500 ms from its start): the
 * tenant lookup and the enqueue get its abort signal, and when it passes the request answers
 * 503 at once (`DEPENDENCY_FAILED` while the tenant was being read, `ENQUEUE_FAILED` while
 * sending), even if a dependency ignores the signal. Zalo wants an answer within 2 s, Meta 5 s.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { MAX_EVENTS_PER_REQUEST } from '../channels/limits.js';
import type { ChannelAdapter, WebhookRequest } from '../channels/types.js';
import { DEFAULTS } from '../contracts/defaults.js';
import {
  DependencyError,
  EnqueueError,
  HandshakeFailedError,
  InvalidSignatureError,
  isChatRelayError,
  NotFoundError,
  PayloadTooLargeError,
  TenantConfigError,
  TooManyEventsError,
} from '../shared/errors.js';
import type { MetricName } from '../shared/metrics-catalogue.js';
import { type ChannelName, isChannelName } from '../shared/model.js';
import type { QueueEntry, SendOutcome } from '../shared/queue.js';
import { channelConfig, type TenantDocument } from '../shared/tenant.js';
import { prepareEntries } from './entries.js';
import { decodeBody, decodedBodyLength, fromApiGatewayEvent } from './request.js';
import {
  errorOutcome,
  handshakeResponse,
  jsonResponse,
  queuedResponse,
  type WebhookResponse,
} from './responses.js';

/** How many (conversation, messageId) pairs a multi-event request logs at INFO. */
const LOGGED_EVENTS = 100;

/** Default body limit: 1 MiB of decoded bytes. */
export const DEFAULT_MAX_BODY_BYTES = DEFAULTS.maxBodyBytes;

/** Default answer deadline of a request, ms from its start. */
export const DEFAULT_DEADLINE_MS = DEFAULTS.enqueueBudgetMs;

/** Why entries count as unsent when the deadline passed during the enqueue. */
export const DEADLINE_PASSED = 'DeadlineExceeded: the answer deadline passed before SQS confirmed the send';

/** Arms a timer: `expire` runs after `ms` unless the returned function is called first. */
export type StartTimer = (ms: number, expire: () => void) => () => void;

const realTimer: StartTimer = (ms, expire) => {
  const timer = setTimeout(expire, ms);
  return () => clearTimeout(timer);
};

/**
 * `promise`'s outcome, or `onExpire()`'s (its value, or what it throws) when `signal` aborts
 * first: the answer never waits on a dependency that ignores the signal.
 */
function beforeDeadline<T>(promise: Promise<T>, signal: AbortSignal, onExpire: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const expire = (): void => {
      try {
        resolve(onExpire());
      } catch (err) {
        reject(err);
      }
    };
    if (signal.aborted) expire();
    else signal.addEventListener('abort', expire, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', expire);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', expire);
        reject(err);
      },
    );
  });
}

/** The logging the webhook needs (Powertools Logger satisfies it). */
export interface WebhookLogger {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** Errors a newer version of the tenant document could turn into a success. */
function isStaleEvidence(err: unknown): boolean {
  return (
    err instanceof InvalidSignatureError ||
    err instanceof HandshakeFailedError ||
    (err instanceof NotFoundError && UNCONFIGURED.has(err))
  );
}

/** The NotFoundErrors raised for a channel the tenant document does not configure. */
const UNCONFIGURED = new WeakSet<Error>();

/** Everything the webhook logic talks to. */
export interface WebhookDeps {
  /**
   * The tenant document (cached). Throws NotFoundError, TenantConfigError or DependencyError.
   * `signal` aborts when the request's deadline passes.
   */
  readonly loadTenant: (tenantId: string, signal: AbortSignal) => Promise<TenantDocument>;
  /**
   * Re-reads a tenant whose cached document refused the request (bad signature or token, failed
   * handshake, unconfigured channel), rate-limited per tenant; `changed` says whether the secret
   * changed. Without it a refusal is final.
   */
  readonly refreshTenant?: (
    tenantId: string,
    signal: AbortSignal,
  ) => Promise<{ readonly tenant: TenantDocument; readonly reread: boolean; readonly changed: boolean }>;
  /** The adapter of a channel. */
  readonly adapterFor: (channel: ChannelName) => ChannelAdapter;
  /**
   * Sends entries to inbound.fifo (chunks of 10, retries inside the budget). `signal` aborts
   * when the request's deadline passes; entries not confirmed by then must count as failed.
   */
  readonly send: (entries: readonly QueueEntry[], signal: AbortSignal) => Promise<SendOutcome>;
  /** Counts a catalogued metric. */
  readonly metric: (name: MetricName, value: number, dimensions: Record<string, string>) => void;
  readonly logger: WebhookLogger;
  /**
   * Logs the INFO summary of an accepted request (the Lambda entry writes it with the request's
   * EMF document: lambdas/shared/powertools.ts `logSummary`). @default logger.info
   */
  readonly summary?: (message: string, fields: Record<string, unknown>) => void;
  /** Largest accepted body in decoded bytes. @default 1048576 */
  readonly maxBodyBytes?: number;
  /** Clock, epoch ms. @default Date.now */
  readonly now?: () => number;
  /** Answer deadline of a request, ms from its start. @default 1500 */
  readonly deadlineMs?: number;
  /** Timer behind the deadline (tests fire it themselves). @default setTimeout */
  readonly startTimer?: StartTimer;
}

/** A webhook handler: API Gateway v2 event in, structured response out. Never throws. */
export type WebhookHandler = (event: APIGatewayProxyEventV2) => Promise<WebhookResponse>;

/** Log-safe rendering of a route parameter that may be anything a scanner sent. */
function shown(value: string | undefined): string {
  if (value === undefined) return '(none)';
  return value.length > 64 ? `${value.slice(0, 64)}…` : value;
}

/** Builds the handler around its dependencies. */
export function createWebhookHandler(deps: WebhookDeps): WebhookHandler {
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const now = deps.now ?? Date.now;
  const deadlineMs = deps.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const startTimer = deps.startTimer ?? realTimer;
  const { logger, metric } = deps;
  const summary =
    deps.summary ?? ((message: string, fields: Record<string, unknown>) => logger.info(message, fields));

  return async (event) => {
    const deadline = new AbortController();
    const stopTimer = startTimer(deadlineMs, () => deadline.abort());
    try {
      return await respond(event, deadline.signal);
    } finally {
      stopTimer();
    }
  };

  async function respond(event: APIGatewayProxyEventV2, signal: AbortSignal): Promise<WebhookResponse> {
    const request = fromApiGatewayEvent(event, now());
    const channel: ChannelName | undefined =
      request.channel !== undefined && isChannelName(request.channel) ? request.channel : undefined;
    // Unknown channels share one dimension value so a scanner cannot mint metric series.
    const dims = { channel: channel ?? 'unknown' };
    const keys: Record<string, unknown> = { tenant: shown(request.tenantId), channel: dims.channel };
    metric('WebhookReceived', 1, dims);

    try {
      if (channel === undefined) throw new NotFoundError(`Unknown channel "${shown(request.channel)}".`);
      if (request.method !== 'GET' && request.method !== 'POST') {
        throw new NotFoundError(`No route for ${request.method}.`);
      }
      if (!request.tenantId) throw new NotFoundError('No tenant in the path.');
      const size = decodedBodyLength(request.body, request.isBase64Encoded);
      if (size > maxBodyBytes) {
        throw new PayloadTooLargeError(
          `The request body is ${size} bytes; the limit is ${maxBodyBytes} bytes.`,
        );
      }
      const rawBody = decodeBody(request.body, request.isBase64Encoded);
      const tenantId = request.tenantId;
      const withinDeadline = <T>(promise: Promise<T>): Promise<T> =>
        beforeDeadline(promise, signal, () => {
          throw new DependencyError(
            `The tenant lookup did not finish within the ${deadlineMs} ms answer deadline.`,
          );
        });
      const adapter = deps.adapterFor(channel);
      const adapterRequest: WebhookRequest = {
        method: request.method,
        rawBody,
        headers: request.headers,
        query: request.query,
        receivedAt: request.receivedAt,
      };
      /** The request checked against one version of the tenant document. */
      const check = (tenant: TenantDocument) => {
        const config = channelConfig(tenant, channel);
        if (config === undefined) {
          const err = new NotFoundError(`Channel "${channel}" is not configured for this tenant.`);
          UNCONFIGURED.add(err);
          throw err;
        }
        const ctx = { tenant, config, receivedAt: request.receivedAt };
        if (request.method === 'GET') {
          if (!adapter.handshake) throw new NotFoundError(`Channel "${channel}" has no GET handshake.`);
          return { ctx, challenge: adapter.handshake(adapterRequest, ctx) };
        }
        adapter.authenticate(adapterRequest, ctx);
        return { ctx, challenge: undefined };
      };
      let checked: ReturnType<typeof check>;
      const cached = await withinDeadline(deps.loadTenant(tenantId, signal));
      try {
        checked = check(cached);
      } catch (err) {
        // A token, signature or channel the cached document refuses may be one rotated or added
        // since it was read: re-read it (at most once per tenant per interval) and check again.
        if (!deps.refreshTenant || !isStaleEvidence(err)) throw err;
        const refreshed = await withinDeadline(deps.refreshTenant(tenantId, signal));
        if (!refreshed.changed) throw err;
        logger.info('Tenant secret re-read after a refused request', { ...keys, reread: refreshed.reread });
        checked = check(refreshed.tenant);
      }
      const { ctx } = checked;
      const { tenant } = ctx;

      if (checked.challenge !== undefined) {
        metric('HandshakeSucceeded', 1, dims);
        logger.info('Handshake answered', keys);
        return handshakeResponse(checked.challenge);
      }

      const events = adapter.parse(rawBody, ctx);
      const prepared = prepareEntries(tenant.tenantId, channel, events);
      for (const [reason, count] of prepared.ignored) {
        metric('EventsIgnored', count, { ...dims, reason });
      }
      const { entries } = prepared;
      if (entries.length > MAX_EVENTS_PER_REQUEST) {
        throw new TooManyEventsError(entries.length, MAX_EVENTS_PER_REQUEST);
      }
      if (entries.length > 0) {
        const outcome = await beforeDeadline(deps.send(entries, signal), signal, () => ({
          sent: [],
          failed: entries.map((e) => ({ id: e.id, error: DEADLINE_PASSED })),
        }));
        if (outcome.sent.length > 0) metric('MessagesEnqueued', outcome.sent.length, dims);
        if (outcome.failed.length > 0) {
          metric('EnqueueFailed', outcome.failed.length, dims);
          const byId = new Map(entries.map((e) => [e.id, e]));
          logger.error('Messages could not be enqueued; answering 503 so the platform retries', {
            ...keys,
            failed: outcome.failed.map((f) => ({
              conversation: byId.get(f.id)?.conversationKey,
              messageId: byId.get(f.id)?.messageId,
              error: f.error,
            })),
            sent: outcome.sent.length,
          });
          throw new EnqueueError(
            outcome.failed.length,
            `${outcome.failed.length} of ${entries.length} events could not be enqueued.`,
          );
        }
      }
      const first = entries[0];
      summary('Webhook accepted', {
        ...keys,
        ...(entries.length === 1 && first
          ? { conversation: first.conversationKey, messageId: first.messageId }
          : { events: entries.slice(0, LOGGED_EVENTS).map((e) => [e.conversationKey, e.messageId]) }),
        accepted: entries.length,
        ...(prepared.ignoredCount > 0 ? { ignored: prepared.ignoredCount } : {}),
      });
      const queued = queuedResponse(
        entries.length,
        prepared.ignoredCount,
        // Pancake's integration guide answers with the message id.
        channel === 'pancake' && entries.length === 1 ? first?.messageId : undefined,
      );
      // A call the platform makes with our answer (Telegram: answerCallbackQuery for a button press).
      const fields = entries.length > 0 ? adapter.answerFields?.(rawBody) : undefined;
      return fields ? jsonResponse(200, { ...(JSON.parse(queued.body) as object), ...fields }) : queued;
    } catch (err) {
      const outcome = errorOutcome(err);
      if (outcome.metric) {
        metric(
          outcome.metric.name,
          1,
          outcome.metric.reason === undefined ? dims : { ...dims, reason: outcome.metric.reason },
        );
      }
      const detail: Record<string, unknown> = {
        ...keys,
        status: outcome.response.statusCode,
        code: isChatRelayError(err) ? err.code : 'INTERNAL',
      };
      if (err instanceof TenantConfigError) {
        // Name the tenant and the fields at fault, never the document's values.
        detail.problems = err.problems.map((p) => p.split(':', 1)[0]);
        logger.error(`The stored secret of tenant "${shown(request.tenantId)}" is invalid`, detail);
      } else if (outcome.log === 'error') {
        logger.error('Webhook failed', { ...detail, error: err });
      } else {
        logger[outcome.log]('Webhook rejected', {
          ...detail,
          reason: err instanceof Error ? err.message : String(err),
        });
      }
      return outcome.response;
    }
  }
}
