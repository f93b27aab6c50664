/**
 * The webhook logic: from an API Gateway event to an answer, with every dependency (tenant
 * store, adapters, queue, metrics, logger) injected so it runs unchanged in the Lambda, the
 * local stack, the unit tests and the benchmark.
 *
 * Flow: count → channel → body size → decode → tenant → channel configured? → GET handshake,
 * or POST authenticate → parse → entries → enqueue. Any message not enqueued answers 503 so
 * the platform retries; 200 is never sent for a message that is not on the queue.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { ChannelAdapter, WebhookRequest } from '../channels/types.js';
import {
  EnqueueError,
  isChatRelayError,
  NotFoundError,
  PayloadTooLargeError,
  TenantConfigError,
} from '../shared/errors.js';
import type { MetricName } from '../shared/metrics-catalogue.js';
import { type ChannelName, isChannelName } from '../shared/model.js';
import type { QueueEntry, SendOutcome } from '../shared/queue.js';
import { channelConfig, type TenantDocument } from '../shared/tenant.js';
import { prepareEntries } from './entries.js';
import { decodeBody, decodedBodyLength, fromApiGatewayEvent } from './request.js';
import { errorOutcome, handshakeResponse, queuedResponse, type WebhookResponse } from './responses.js';

/** How many (conversation, messageId) pairs a multi-event request logs at INFO. */
const LOGGED_EVENTS = 100;

/** Default body limit: 1 MiB of decoded bytes. */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

/** The logging the webhook needs (Powertools Logger satisfies it). */
export interface WebhookLogger {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** Everything the webhook logic talks to. */
export interface WebhookDeps {
  /** The tenant document (cached). Throws NotFoundError, TenantConfigError or DependencyError. */
  readonly loadTenant: (tenantId: string) => Promise<TenantDocument>;
  /** The adapter of a channel. */
  readonly adapterFor: (channel: ChannelName) => ChannelAdapter;
  /** Sends entries to inbound.fifo (chunks of 10, retries inside the budget). */
  readonly send: (entries: readonly QueueEntry[]) => Promise<SendOutcome>;
  /** Counts a catalogued metric. */
  readonly metric: (name: MetricName, value: number, dimensions: Record<string, string>) => void;
  readonly logger: WebhookLogger;
  /** Largest accepted body in decoded bytes. @default 1048576 */
  readonly maxBodyBytes?: number;
  /** Clock, epoch ms. @default Date.now */
  readonly now?: () => number;
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
  const { logger, metric } = deps;

  return async (event) => {
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
      const tenant = await deps.loadTenant(request.tenantId);
      const config = channelConfig(tenant, channel);
      if (config === undefined) {
        throw new NotFoundError(`Channel "${channel}" is not configured for this tenant.`);
      }
      const adapter = deps.adapterFor(channel);
      const adapterRequest: WebhookRequest = {
        method: request.method,
        rawBody,
        headers: request.headers,
        query: request.query,
        receivedAt: request.receivedAt,
      };
      const ctx = { tenant, config, receivedAt: request.receivedAt };

      if (request.method === 'GET') {
        if (!adapter.handshake) throw new NotFoundError(`Channel "${channel}" has no GET handshake.`);
        const challenge = adapter.handshake(adapterRequest, ctx);
        metric('HandshakeSucceeded', 1, dims);
        logger.info('Handshake answered', keys);
        return handshakeResponse(challenge);
      }

      adapter.authenticate(adapterRequest, ctx);
      const events = adapter.parse(rawBody, ctx);
      const prepared = prepareEntries(tenant.tenantId, channel, events);
      for (const [reason, count] of prepared.ignored) {
        metric('EventsIgnored', count, { ...dims, reason });
      }
      const { entries } = prepared;
      if (entries.length > 0) {
        const outcome = await deps.send(entries);
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
      logger.info('Webhook accepted', {
        ...keys,
        ...(entries.length === 1 && first
          ? { conversation: first.conversationKey, messageId: first.messageId }
          : { events: entries.slice(0, LOGGED_EVENTS).map((e) => [e.conversationKey, e.messageId]) }),
        accepted: entries.length,
        ignored: prepared.ignoredCount,
      });
      return queuedResponse(entries.length, prepared.ignoredCount);
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
  };
}
