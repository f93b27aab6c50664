/**
 * The operator console of the local stack: the page at `/`, its script, and the JSON API under
 * `/api/` (docs/console.md). It reads the audit trail through bin/ops/trail.ts (the same reader
 * `npm run ops` uses), posts playground messages as signed platform webhooks built by
 * bin/local/webhook-builder.ts to the stack's own webhook route, hosts uploaded media for the
 * pipeline to download, and redrives dead letters with bin/ops/redrive.ts. Changes reach open
 * pages as server-sent events (`/api/events`).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { ConversationSummary } from '../../../lambdas/contracts/audit.js';
import { CHANNELS, type ChannelName, isChannelName } from '../../../lambdas/shared/model.js';
import type { TenantDocument } from '../../../lambdas/shared/tenant.js';
import { DLQ_KINDS, type DlqKind, type RedriveResult, redrive } from '../../ops/redrive.js';
import type { ConversationAddress, TrailApi } from '../../ops/trail.js';
import { BodyTooLargeError, readBody, writeJson } from '../api-gateway.js';
import type { SandboxHandler } from '../sandbox.js';
import { buildWebhook, UnsupportedWebhookError, type WebhookKind, webhookUrl } from '../webhook-builder.js';
import { consoleScript, INDEX_HTML } from './assets.js';

/** Everything the console needs from the running stack. */
export interface ConsoleOptions {
  /** The stack's own URL (`http://HOST:PORT`): playground webhooks and media URLs use it. */
  readonly url: () => string;
  readonly tenants: readonly TenantDocument[];
  /** The audit trail, once the stack has opened it. */
  readonly trail: () => TrailApi | undefined;
  readonly sandbox: SandboxHandler;
  readonly sqs: () => SQSClient | undefined;
  readonly queues: () => Partial<Record<DlqKind, { readonly queueUrl: string; readonly dlqUrl: string }>>;
  /** How often open event streams look for changes. @default 400 */
  readonly pollMs?: number;
  readonly log?: { warn(message: string): void };
}

/** The mounted console. */
export interface ConsoleMount {
  /** Serves `/`, `/console/*` and `/api/*`; resolves false for any other path (untouched). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Something arrived (a webhook): look for changes often for a while. */
  touch(): void;
  stop(): void;
}

/** After a webhook or a platform call, how long the event streams look for changes at every poll. */
const BUSY_MS = 8000;
/** Otherwise, how often they look (a pause from `npm run ops`, a turn flushed late). */
const IDLE_SCAN_MS = 3000;

/** A piece of media uploaded for the playground. */
interface Upload {
  readonly type: string;
  readonly bytes: Buffer;
}

const MAX_UPLOAD_BYTES = 8 * 1024 * 1024;
const MAX_UPLOADS = 50;
/** Playground texts kept to show beside the trail (the trail keeps no text). */
const MAX_TEXTS = 2000;

const CONVERSATION_PATH = /^\/api\/conversations\/([^/]+)\/([^/]+)\/([^/]+)(?:\/(pause|resume|resend))?$/;

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

function apiError(res: ServerResponse, status: number, code: string, message: string): void {
  writeJson(res, status, { error: { code, message } });
}

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req, 1024 * 1024);
  if (raw.length === 0) return {};
  const parsed = JSON.parse(raw.toString('utf8')) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SyntaxError('The body must be a JSON object.');
  }
  return parsed as Record<string, unknown>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/**
 * The customer (and page) to write as, from what the page sends: a conversation id as the trail
 * has it (`{page}:{customer}`; Pancake's `{page}_{customer}` is what its webhooks carry) or a
 * bare customer id.
 */
export function addressee(
  channel: ChannelName,
  id: string | undefined,
): { conversation?: string; pageId?: string } {
  if (id === undefined) return {};
  if (channel === 'pancake') return { conversation: id };
  const colon = id.lastIndexOf(':');
  if (colon <= 0) return { conversation: id };
  return { pageId: id.slice(0, colon), conversation: id.slice(colon + 1) };
}

/** Which channels of a tenant are configured, in the canonical order. */
function tenantChannels(tenant: TenantDocument): ChannelName[] {
  return CHANNELS.filter((c) => tenant.channels[c] !== undefined);
}

/** Creates the console for a local stack. */
export function createConsole(options: ConsoleOptions): ConsoleMount {
  const uploads = new Map<string, Upload>();
  const texts = new Map<string, string>();
  const clients = new Set<ServerResponse>();
  const known = new Map<string, string>();
  let lastSandboxCount = options.sandbox.messages().length;
  let timer: NodeJS.Timeout | undefined;
  let scanning = false;
  // Listing is a scan of the memory table plus a query per conversation: only run it often
  // while something is happening.
  let busyUntil = 0;
  let lastScanEnd = 0;
  let lastScanMs = 0;
  const pollMs = options.pollMs ?? 400;

  const broadcast = (event: string, data: unknown): void => {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const client of clients) client.write(frame);
  };

  // One listing per tenant at a time: a page's GET and the event stream's scan share it (each is
  // a table scan plus a query per conversation).
  const inFlight = new Map<string, Promise<ConversationSummary[]>>();
  const listOnce = (trail: TrailApi, tenantId: string): Promise<ConversationSummary[]> => {
    let pending = inFlight.get(tenantId);
    if (!pending) {
      pending = trail.list({ tenantId }).finally(() => inFlight.delete(tenantId));
      inFlight.set(tenantId, pending);
    }
    return pending;
  };

  const tenantOf = (tenantId: string): TenantDocument | undefined =>
    options.tenants.find((t) => t.tenantId === tenantId);

  const requireTrail = (res: ServerResponse): TrailApi | undefined => {
    const trail = options.trail();
    if (!trail) apiError(res, 503, 'TRAIL_UNAVAILABLE', 'The audit trail is not available in this build.');
    return trail;
  };

  /** Looks for changed conversations and new platform calls; emits what changed. */
  const scan = async (force = false): Promise<void> => {
    if (scanning) return;
    const now = Date.now();
    const count = options.sandbox.messages().length;
    if (count !== lastSandboxCount) {
      lastSandboxCount = count;
      busyUntil = now + BUSY_MS;
      broadcast('activity', { sandboxCalls: count });
    }
    const sinceLast = now - lastScanEnd;
    if (!force && now >= busyUntil && sinceLast < IDLE_SCAN_MS) return;
    // A scan is a table scan plus a query per conversation: leave the pipeline at least as much
    // time between scans as the last one took, so a large table is not scanned back to back.
    if (!force && sinceLast < lastScanMs) return;
    scanning = true;
    try {
      const trail = options.trail();
      if (!trail) return;
      for (const tenant of options.tenants) {
        const list = await listOnce(trail, tenant.tenantId);
        for (const summary of list) {
          const key = `${summary.tenantId}\u0000${summary.channel}\u0000${summary.conversationId}`;
          const json = JSON.stringify(summary);
          if (known.get(key) !== json) {
            known.set(key, json);
            broadcast('conversation', summary);
          }
        }
      }
    } catch (err) {
      options.log?.warn(`console: change scan failed: ${(err as Error).message}`);
    } finally {
      scanning = false;
      lastScanEnd = Date.now();
      lastScanMs = lastScanEnd - now;
    }
  };

  const startScanning = (): void => {
    if (timer) return;
    timer = setInterval(() => void scan(), pollMs);
    timer.unref();
  };
  const stopScanning = (): void => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };

  const events = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.write(`retry: 1000\n\n`);
    clients.add(res);
    // Every conversation seen before this client came is news to it only if it changes.
    startScanning();
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    keepAlive.unref();
    req.on('close', () => {
      clearInterval(keepAlive);
      clients.delete(res);
      if (clients.size === 0) stopScanning();
    });
  };

  const listConversations = async (url: URL, res: ServerResponse): Promise<void> => {
    const tenantId = url.searchParams.get('tenant');
    if (!tenantId) return apiError(res, 400, 'TENANT_REQUIRED', 'Pass ?tenant=<tenantId>.');
    if (!tenantOf(tenantId))
      return apiError(res, 404, 'UNKNOWN_TENANT', `No tenant "${tenantId}" in this stack.`);
    const trail = requireTrail(res);
    if (!trail) return;
    const since = url.searchParams.get('since');
    const sinceMs = since !== null && /^\d+$/.test(since) ? Number(since) : undefined;
    const all = await listOnce(trail, tenantId);
    const list = all
      .filter((c) => sinceMs === undefined || c.lastActivityAt >= sinceMs)
      .sort((a, b) => b.lastActivityAt - a.lastActivityAt);
    writeJson(res, 200, { tenantId, conversations: list });
  };

  /** Reply texts the sandbox platform recorded, by platform message id (the trail keeps none). */
  const sentTexts = (): Map<string, { text?: string; imageUrl?: string }> => {
    const byId = new Map<string, { text?: string; imageUrl?: string }>();
    for (const r of options.sandbox.messages()) {
      if (r.messageId) {
        byId.set(r.messageId, {
          ...(r.text !== undefined ? { text: r.text } : {}),
          ...(r.imageUrl !== undefined ? { imageUrl: r.imageUrl } : {}),
        });
      }
    }
    return byId;
  };

  const conversation = async (
    req: IncomingMessage,
    res: ServerResponse,
    address: ConversationAddress,
    action: string | undefined,
  ): Promise<void> => {
    const trail = requireTrail(res);
    if (!trail) return;
    if (action === undefined) {
      if (req.method !== 'GET') return apiError(res, 405, 'METHOD_NOT_ALLOWED', 'GET a conversation.');
      const found = await trail.read(address);
      if (!found) return apiError(res, 404, 'UNKNOWN_CONVERSATION', 'No such conversation.');
      const sent = sentTexts();
      writeJson(res, 200, {
        ...found,
        // What the local stack saw besides the trail: playground texts and the sandbox's sends.
        texts: Object.fromEntries(
          found.turns.flatMap((t) =>
            t.messages.flatMap((m) => {
              const text = texts.get(`${address.tenantId}\u0000${address.channel}\u0000${m.messageId}`);
              return text === undefined ? [] : [[m.messageId, text]];
            }),
          ),
        ),
        sent: Object.fromEntries(
          found.turns.flatMap((t) =>
            t.deliveries.flatMap((d) => {
              const s = d.platformMessageId ? sent.get(d.platformMessageId) : undefined;
              return s ? [[d.platformMessageId, s]] : [];
            }),
          ),
        ),
      });
      return;
    }
    if (req.method !== 'POST') return apiError(res, 405, 'METHOD_NOT_ALLOWED', `POST to ${action}.`);
    const body = await jsonBody(req);
    const current = await trail.read(address);
    if (!current) return apiError(res, 404, 'UNKNOWN_CONVERSATION', 'No such conversation.');
    if (action === 'pause' || action === 'resume') {
      if (action === 'pause') await trail.pause(address);
      else await trail.resume(address);
      const after = await trail.read(address);
      void scan(true);
      writeJson(res, 200, { paused: after?.paused ?? action === 'pause', conversation: after });
      return;
    }
    // resend: a dead-lettered reply part goes back to the outbound queue.
    const replyId = str(body.replyId);
    if (!replyId) return apiError(res, 400, 'REPLY_ID_REQUIRED', 'Pass {"replyId": "<turnId>:<part>"}.');
    const result = await redriveKind('outbound', (r) => {
      try {
        const part = JSON.parse(r.body) as { replyId?: unknown };
        return part.replyId === replyId;
      } catch {
        return false;
      }
    });
    if (!result) return apiError(res, 503, 'QUEUES_UNAVAILABLE', 'The outbound queue is not known yet.');
    if (result.moved.length === 0) {
      return apiError(
        res,
        409,
        'NOT_DEAD_LETTERED',
        `Reply part ${replyId} is not in the outbound DLQ: only a dead-lettered part still has its message to send again.`,
      );
    }
    writeJson(res, 200, { resent: result.moved.map((m) => m.messageId) });
  };

  const redriveKind = async (
    kind: DlqKind,
    filter?: (r: { body: string }) => boolean,
  ): Promise<RedriveResult | undefined> => {
    const sqs = options.sqs();
    const pair = options.queues()[kind];
    if (!sqs || !pair) return undefined;
    return redrive({
      sqs,
      target: { kind, ...pair },
      waitTimeSeconds: 0,
      visibilityTimeoutSeconds: 30,
      ...(filter ? { filter } : {}),
    });
  };

  const dlqs = async (res: ServerResponse): Promise<void> => {
    const sqs = options.sqs();
    const queues = options.queues();
    const out: Record<string, number> = {};
    if (sqs) {
      for (const kind of DLQ_KINDS) {
        const pair = queues[kind];
        if (!pair) continue;
        const attrs = await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: pair.dlqUrl,
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
          }),
        );
        out[kind] =
          Number(attrs.Attributes?.ApproximateNumberOfMessages ?? 0) +
          Number(attrs.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
      }
    }
    writeJson(res, 200, { dlq: out });
  };

  const playground = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await jsonBody(req);
    const tenantId = str(body.tenantId);
    const channel = str(body.channel);
    const tenant = tenantId ? tenantOf(tenantId) : undefined;
    if (!tenant) return apiError(res, 400, 'UNKNOWN_TENANT', `No tenant "${tenantId ?? ''}" in this stack.`);
    if (!channel || !isChannelName(channel) || !tenant.channels[channel]) {
      return apiError(
        res,
        400,
        'UNKNOWN_CHANNEL',
        `Tenant "${tenant.tenantId}" has no channel "${channel ?? ''}".`,
      );
    }
    const kind = (str(body.kind) ?? 'text') as WebhookKind;
    if (!['text', 'image', 'audio', 'human'].includes(kind)) {
      return apiError(res, 400, 'BAD_KIND', 'kind is text, image, audio or human.');
    }
    const text = typeof body.text === 'string' ? body.text : '';
    const mediaId = str(body.mediaId);
    if ((kind === 'image' || kind === 'audio') && (!mediaId || !uploads.has(mediaId))) {
      return apiError(
        res,
        400,
        'MEDIA_REQUIRED',
        'Upload the file first (POST /api/media) and pass its mediaId.',
      );
    }
    if ((kind === 'image' || kind === 'audio') && (channel === 'whatsapp' || channel === 'telegram')) {
      return apiError(
        res,
        400,
        'MEDIA_BY_ID',
        `${channel} sends media by id, fetched from the platform's media API, which the sandbox does not serve; attach files on Messenger, Instagram, Zalo or Pancake.`,
      );
    }
    const target = addressee(channel, str(body.conversationId));
    let built: ReturnType<typeof buildWebhook>;
    try {
      built = buildWebhook({
        tenant,
        channel,
        kind,
        text,
        ...target,
        ...(mediaId ? { mediaUrl: `${options.url()}/api/media/${mediaId}` } : {}),
      });
    } catch (err) {
      if (err instanceof UnsupportedWebhookError || err instanceof Error) {
        return apiError(res, 400, 'UNSUPPORTED', err.message);
      }
      throw err;
    }
    const posted = await fetch(webhookUrl(options.url(), built), {
      method: 'POST',
      headers: built.headers,
      body: built.body,
    });
    const answer = await posted.text();
    if (text) {
      if (texts.size >= MAX_TEXTS) texts.delete(texts.keys().next().value as string);
      texts.set(`${tenant.tenantId}\u0000${channel}\u0000${built.messageId}`, text);
    }
    broadcast('activity', { webhook: posted.status });
    busyUntil = Date.now() + BUSY_MS;
    void scan(true);
    writeJson(res, 200, { status: posted.status, answer, messageId: built.messageId });
  };

  const upload = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const type = String(req.headers['content-type'] ?? 'application/octet-stream');
    if (!/^(image|audio|video)\//.test(type)) {
      req.resume();
      return apiError(res, 415, 'UNSUPPORTED_MEDIA', 'Upload an image, audio or video file.');
    }
    const bytes = await readBody(req, MAX_UPLOAD_BYTES);
    if (uploads.size >= MAX_UPLOADS) uploads.delete(uploads.keys().next().value as string);
    const id = randomBytes(9).toString('base64url');
    uploads.set(id, { type, bytes });
    writeJson(res, 200, { mediaId: id, url: `${options.url()}/api/media/${id}`, size: bytes.length });
  };

  const route = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/' || path === '/index.html') {
      if (method !== 'GET' && method !== 'HEAD') return false;
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy':
          "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: http: https:; media-src 'self' http: https:",
      });
      res.end(method === 'HEAD' ? undefined : INDEX_HTML);
      return true;
    }
    if (path === '/console/app.js' && method === 'GET') {
      const script = await consoleScript();
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(script);
      return true;
    }
    if (!path.startsWith('/api/')) return false;
    if (path === '/api/events' && method === 'GET') {
      events(req, res);
      return true;
    }
    if (path === '/api/tenants' && method === 'GET') {
      writeJson(res, 200, {
        tenants: options.tenants.map((t) => ({ tenantId: t.tenantId, channels: tenantChannels(t) })),
      });
      return true;
    }
    if (path === '/api/conversations' && method === 'GET') {
      await listConversations(url, res);
      return true;
    }
    const match = CONVERSATION_PATH.exec(path);
    if (match) {
      const [tenantId, channel, conversationId] = [decode(match[1]!), decode(match[2]!), decode(match[3]!)];
      if (tenantId === undefined || channel === undefined || conversationId === undefined) {
        apiError(res, 400, 'BAD_PATH', 'Malformed percent-encoding in the path.');
        return true;
      }
      if (!isChannelName(channel)) {
        apiError(res, 404, 'UNKNOWN_CHANNEL', `No channel "${channel}".`);
        return true;
      }
      await conversation(req, res, { tenantId, channel, conversationId }, match[4]);
      return true;
    }
    if (path === '/api/playground' && method === 'POST') {
      await playground(req, res);
      return true;
    }
    if (path === '/api/media' && method === 'POST') {
      await upload(req, res);
      return true;
    }
    const media = /^\/api\/media\/([A-Za-z0-9_-]+)$/.exec(path);
    if (media && (method === 'GET' || method === 'HEAD')) {
      const found = uploads.get(media[1]!);
      if (!found) {
        apiError(res, 404, 'UNKNOWN_MEDIA', 'No such upload (uploads live in memory until the stack stops).');
        return true;
      }
      res.writeHead(200, { 'content-type': found.type, 'content-length': found.bytes.length });
      res.end(method === 'HEAD' ? undefined : found.bytes);
      return true;
    }
    if (path === '/api/dlq' && method === 'GET') {
      await dlqs(res);
      return true;
    }
    const dlq = /^\/api\/dlq\/([a-z]+)\/redrive$/.exec(path);
    if (dlq && method === 'POST') {
      const kind = dlq[1] as DlqKind;
      if (!(DLQ_KINDS as readonly string[]).includes(kind)) {
        apiError(res, 404, 'UNKNOWN_QUEUE', `No queue "${kind}"; use one of ${DLQ_KINDS.join(', ')}.`);
        return true;
      }
      req.resume();
      const result = await redriveKind(kind);
      if (!result) {
        apiError(res, 503, 'QUEUES_UNAVAILABLE', 'The queues are not known yet.');
        return true;
      }
      broadcast('activity', { redriven: kind });
      writeJson(res, 200, {
        kind,
        moved: result.moved.map(({ body: _body, ...r }) => r),
      });
      return true;
    }
    req.resume();
    apiError(res, 404, 'NOT_FOUND', `No console route for ${method} ${path}.`);
    return true;
  };

  return {
    handle: async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://console.local');
      try {
        return await route(req, res, url);
      } catch (err) {
        if (res.headersSent) {
          res.destroy();
          return true;
        }
        if (err instanceof BodyTooLargeError) apiError(res, 413, 'PAYLOAD_TOO_LARGE', err.message);
        else if (err instanceof SyntaxError) apiError(res, 400, 'BAD_JSON', err.message);
        else {
          options.log?.warn(`console: ${req.method} ${url.pathname} failed: ${(err as Error).message}`);
          apiError(res, 500, 'INTERNAL', (err as Error).message);
        }
        return true;
      }
    },
    touch: () => {
      busyUntil = Date.now() + BUSY_MS;
    },
    stop: () => {
      stopScanning();
      for (const client of clients) client.end();
      clients.clear();
    },
  };
}
