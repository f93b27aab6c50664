/**
 * The sandbox: a fake of every channel's send API, for the local stack and the tests.
 *
 * Requests to `/sandbox/{pancake|graph|telegram|zalo}/<the real API path>` are answered the way
 * the real platform answers (ids, response shapes, error bodies), so pointing
 * `PANCAKE_API_BASE`, `GRAPH_API_BASE`, `TELEGRAM_API_BASE` and `ZALO_API_BASE` at
 * `{url}/sandbox/{name}` exercises the real senders unchanged. Every request is recorded
 * (tokens stripped): `GET /sandbox/messages` lists the messages the platform accepted (text,
 * image and comment replies, newest last), `GET /sandbox/requests` every request including
 * typing indicators, uploads and refused or failed attempts; `DELETE` on either clears both. Faults are injected with {@link SandboxHandler.fail} or `POST /sandbox/faults`.
 * Pancake's limit of 5 calls per page per second is enforced (HTTP 429 above it).
 * `GET /sandbox/files/<name>` serves a small PNG (`/sandbox/files/missing…` answers 404) so
 * image sends have something to download. `/sandbox/zalo-oauth/…` plays Zalo's OAuth endpoint
 * (token exchange and refresh) and expires a token on demand (sandbox-zalo-oauth.ts).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fdatasync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createZaloOAuthFake, ZALO_OAUTH_MOUNT, type ZaloOAuthFake } from './sandbox-zalo-oauth.js';

/** The API families the sandbox fakes (Messenger, Instagram and WhatsApp share `graph`). */
export const SANDBOX_CHANNELS = ['pancake', 'graph', 'telegram', 'zalo'] as const;
export type SandboxChannel = (typeof SANDBOX_CHANNELS)[number];

/** Kinds of injected failure. */
export const FAULT_KINDS = [
  '429',
  '500',
  'hang',
  '401',
  'success-false',
  'telegram-429',
  'meta-error',
  'zalo-error',
  'network',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** A fault rule: the next `count` matching requests fail the given way. */
export interface FaultRule {
  readonly kind: FaultKind;
  /** Only requests to this API family. */
  readonly channel?: SandboxChannel;
  /** Only requests whose (token-stripped) path contains this string. */
  readonly path?: string;
  /** Only requests whose text contains this string. */
  readonly text?: string;
  /** How many requests to fail. @default 1 (use -1 for "until cleared") */
  readonly count?: number;
  /** Seconds for `Retry-After` / `parameters.retry_after`. @default 1 */
  readonly retryAfter?: number;
  /** Meta error code (`meta-error`, default 100) or Zalo error code (`zalo-error`, default -201). */
  readonly code?: number;
  /** Meta `error_subcode`. */
  readonly subcode?: number;
  /** HTTP status for `meta-error`. @default 400 */
  readonly status?: number;
  /** How long a `hang` holds the request before dropping the connection. @default 60000 */
  readonly hangMs?: number;
}

/** What kind of call a recorded request was. */
export type SandboxCallKind = 'text' | 'image' | 'typing' | 'upload' | 'comment' | 'other';

/** True for a message the platform accepted (not a typing indicator, upload or failed attempt). */
export function isDeliveredMessage(record: SandboxRecord): boolean {
  return record.delivered && (record.kind === 'text' || record.kind === 'image' || record.kind === 'comment');
}

/** One recorded request. */
export interface SandboxRecord {
  /** Arrival order, from 1. */
  readonly seq: number;
  /** Arrival time, epoch ms (taken before the body is read). */
  readonly at: number;
  readonly channel: SandboxChannel;
  /** `pancake`, `messenger` (Send API: Messenger or Instagram), `whatsapp`, `telegram`, `zalo`. */
  readonly api: string;
  readonly method: string;
  /** The path below `/sandbox/{channel}`, with tokens removed (`/bot[redacted]/sendMessage`). */
  readonly path: string;
  readonly kind: SandboxCallKind;
  /** Page, Instagram account, phone number id or bot id. */
  readonly pageId?: string;
  readonly conversationId?: string;
  /** PSID, wa_id, chat id (exact digits), Zalo user id. */
  readonly recipientId?: string;
  readonly text?: string;
  readonly imageUrl?: string;
  /** The JSON body (multipart uploads: `{file:{name,type,size}}`), tokens never included. */
  readonly body: unknown;
  /** HTTP status answered. */
  status: number;
  /** True when the platform would have accepted and delivered the message. */
  delivered: boolean;
  /** The message id answered, when delivered. */
  messageId?: string;
  /** The injected fault or enforced limit that shaped the answer. */
  fault?: FaultKind | 'rate-limit';
}

export interface SandboxOptions {
  /** Pancake calls allowed per page per sliding second (0 disables). @default 5 */
  readonly pancakeRateLimit?: number;
  /**
   * File that keeps the accepted messages across restarts (the local stack's data directory):
   * each is appended and synced to disk before the platform's answer goes out, so a reply the
   * delivery function saw accepted is still listed after a crash. @default in memory only
   */
  readonly journalPath?: string;
}

/** The mountable request handler. */
export interface SandboxHandler {
  /** Handles a request under `/sandbox/`; resolves false (untouched) for any other path. */
  readonly handle: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
  /** Recorded requests, oldest first. */
  readonly messages: () => SandboxRecord[];
  /** Adds a fault rule. */
  readonly fail: (rule: FaultRule) => void;
  /** Clears recorded requests and fault rules. */
  readonly clear: () => void;
  /** Releases hanging requests (call before closing the server). */
  readonly close: () => void;
  /** Zalo's OAuth endpoint and its token state (sandbox-zalo-oauth.ts). */
  readonly zaloOAuth: ZaloOAuthFake;
}

/** A running sandbox server. */
export interface Sandbox {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Base URLs for the senders (`{url}/sandbox/{name}`). */
  readonly baseUrls: {
    readonly pancake: string;
    readonly graph: string;
    readonly telegram: string;
    readonly zalo: string;
  };
  /** The environment variables that point the senders at this sandbox. */
  readonly env: Readonly<Record<string, string>>;
  readonly messages: () => SandboxRecord[];
  readonly fail: (rule: FaultRule) => void;
  readonly clear: () => void;
  readonly stop: () => Promise<void>;
  /** Zalo's OAuth endpoint and its token state (sandbox-zalo-oauth.ts). */
  readonly zaloOAuth: ZaloOAuthFake;
}

// A 1×1 transparent PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface ParsedCall {
  api: string;
  kind: SandboxCallKind;
  pageId?: string;
  conversationId?: string;
  recipientId?: string;
  text?: string;
  imageUrl?: string;
  /** Answer when the call is accepted; a thrown-free validation error otherwise. */
  accept: () => Reply;
  /** Set when the request itself is invalid or unauthenticated (no fault needed). */
  reject?: Reply;
}

const id = (bytes = 8): string => randomBytes(bytes).toString('hex');

function isFaultRule(value: unknown): value is FaultRule {
  if (typeof value !== 'object' || value === null) return false;
  const rule = value as Record<string, unknown>;
  if (!(FAULT_KINDS as readonly unknown[]).includes(rule.kind)) return false;
  if (rule.channel !== undefined && !(SANDBOX_CHANNELS as readonly unknown[]).includes(rule.channel))
    return false;
  for (const key of ['count', 'retryAfter', 'code', 'subcode', 'status', 'hangMs'] as const) {
    if (rule[key] !== undefined && typeof rule[key] !== 'number') return false;
  }
  for (const key of ['path', 'text'] as const) {
    if (rule[key] !== undefined && typeof rule[key] !== 'string') return false;
  }
  return true;
}

/** The error body and status each API family uses for a fault kind. */
function faultReply(channel: SandboxChannel, rule: FaultRule): Reply {
  const retryAfter = rule.retryAfter ?? 1;
  switch (rule.kind) {
    case '429':
      if (channel === 'telegram')
        return telegramError(429, `Too Many Requests: retry after ${retryAfter}`, retryAfter);
      return {
        status: 429,
        headers: { 'retry-after': String(retryAfter) },
        body:
          channel === 'graph'
            ? metaErrorBody(613, undefined, 'Calls to this api have exceeded the rate limit.')
            : channel === 'zalo'
              ? { error: -32, message: 'Exceeded rate limit' }
              : { success: false, message: 'Too many requests' },
      };
    case 'telegram-429':
      return telegramError(429, `Too Many Requests: retry after ${retryAfter}`, retryAfter);
    case '500':
      if (channel === 'telegram') return telegramError(500, 'Internal Server Error');
      if (channel === 'graph')
        return { status: 500, body: metaErrorBody(2, undefined, 'An unexpected error has occurred.') };
      return { status: 500, body: { success: false, message: 'Internal server error' } };
    case '401':
      if (channel === 'telegram') return telegramError(401, 'Unauthorized');
      if (channel === 'graph')
        return { status: 401, body: metaErrorBody(190, 463, 'Error validating access token.') };
      if (channel === 'zalo')
        return { status: 200, body: { error: -216, message: 'Access token is invalid' } };
      return { status: 401, body: { success: false, message: 'Invalid access token' } };
    case 'success-false':
      if (channel === 'telegram') return { status: 200, body: { ok: false, description: 'Unknown failure' } };
      return { status: 200, body: { success: false, message: 'Conversation not found' } };
    case 'meta-error':
      return {
        status: rule.status ?? 400,
        body: metaErrorBody(rule.code ?? 100, rule.subcode, 'Injected Graph API error.'),
      };
    case 'zalo-error':
      return { status: 200, body: { error: rule.code ?? -201, message: 'Injected Zalo error.' } };
    default:
      return { status: 500, body: { error: 'unexpected fault kind' } };
  }
}

function metaErrorBody(code: number, subcode: number | undefined, message: string): unknown {
  return {
    error: {
      message,
      type: code === 190 ? 'OAuthException' : 'GraphMethodException',
      code,
      ...(subcode !== undefined ? { error_subcode: subcode } : {}),
      fbtrace_id: id(6),
    },
  };
}

function telegramError(code: number, description: string, retryAfter?: number): Reply {
  return {
    status: code,
    body: {
      ok: false,
      error_code: code,
      description,
      ...(retryAfter !== undefined ? { parameters: { retry_after: retryAfter } } : {}),
    },
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseJson(raw: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const str = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;

/** The accepted messages a journal kept (a torn last line, from a crash mid-write, is skipped). */
function loadJournal(path: string): SandboxRecord[] {
  if (!existsSync(path)) return [];
  const out: SandboxRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as SandboxRecord);
    } catch {
      // Torn write: the platform never answered it.
    }
  }
  return out;
}

/** Creates the mountable sandbox handler. */
export function createSandboxHandler(options: SandboxOptions = {}): SandboxHandler {
  const pancakeLimit = options.pancakeRateLimit ?? 5;
  let records: SandboxRecord[] = options.journalPath ? loadJournal(options.journalPath) : [];
  let rules: { rule: FaultRule; left: number }[] = [];
  const pancakeCalls = new Map<string, number[]>();
  const hanging = new Set<ServerResponse>();
  const zaloOAuth = createZaloOAuthFake();
  let seq = records.reduce((max, r) => Math.max(max, r.seq), 0);
  // Telegram message ids keep growing across restarts (the echo filter keys on them).
  let telegramMessageId = records.reduce(
    (max, r) => (r.channel === 'telegram' && Number(r.messageId) > max ? Number(r.messageId) : max),
    1000,
  );
  const journal = options.journalPath ? openSync(options.journalPath, 'a') : undefined;
  // Group commit: a delivered record is answered once an fdatasync that started after its write
  // has finished. The syncs run on libuv's pool, not on the thread that also runs the webhook,
  // and one sync covers every record written while the previous one ran.
  let syncing: Promise<void> | undefined;
  let nextSync: Promise<void> | undefined;
  const sync = (fd: number): Promise<void> => {
    if (syncing === undefined) {
      syncing = new Promise<void>((resolve, reject) =>
        fdatasync(fd, (err) => (err ? reject(err) : resolve())),
      ).finally(() => {
        syncing = undefined;
      });
      return syncing;
    }
    nextSync ??= syncing
      .catch(() => undefined)
      .then(() => {
        nextSync = undefined;
        return sync(fd);
      });
    return nextSync;
  };
  const keep = (record: SandboxRecord): Promise<void> => {
    if (journal === undefined) return Promise.resolve();
    writeSync(journal, `${JSON.stringify(record)}\n`);
    return sync(journal);
  };
  const forget = (): void => {
    if (journal !== undefined) ftruncateSync(journal, 0);
  };

  const send = (res: ServerResponse, reply: Reply): void => {
    const text = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...(reply.headers ?? {}),
    });
    res.end(text);
  };

  const takeFault = (
    channel: SandboxChannel,
    path: string,
    text: string | undefined,
  ): FaultRule | undefined => {
    for (const entry of rules) {
      const { rule } = entry;
      if (entry.left === 0) continue;
      if (rule.channel !== undefined && rule.channel !== channel) continue;
      if (rule.path !== undefined && !path.includes(rule.path)) continue;
      if (rule.text !== undefined && !(text ?? '').includes(rule.text)) continue;
      if (entry.left > 0) entry.left -= 1;
      return rule;
    }
    return undefined;
  };

  const pancake = async (path: string, url: URL, req: IncomingMessage, raw: Buffer): Promise<ParsedCall> => {
    const token = url.searchParams.get('page_access_token');
    const unauthorized: Reply = { status: 401, body: { success: false, message: 'Invalid access token' } };
    const upload = /^\/api\/public_api\/v1\/pages\/([^/]+)\/upload_contents$/.exec(path);
    if (upload) {
      let file: { name: string; type: string; size: number } | undefined;
      try {
        const form = await new Response(raw, {
          headers: { 'content-type': String(req.headers['content-type'] ?? '') },
        }).formData();
        const value = form.get('file');
        if (value && typeof value !== 'string')
          file = { name: value.name, type: value.type, size: value.size };
      } catch {
        file = undefined;
      }
      return {
        api: 'pancake',
        kind: 'upload',
        pageId: decodeURIComponent(upload[1] ?? ''),
        ...(token ? {} : { reject: unauthorized }),
        ...(file ? {} : { reject: { status: 400, body: { success: false, message: 'file is required' } } }),
        accept: () => ({
          status: 200,
          body: {
            id: `c_${id()}`,
            attachment_type: file?.type.startsWith('image/') ? 'PHOTO' : 'FILE',
            success: true,
          },
        }),
      };
    }
    const send = /^\/api\/public_api\/v1\/pages\/([^/]+)\/conversations\/([^/]+)\/messages$/.exec(path);
    if (!send) {
      return {
        api: 'pancake',
        kind: 'other',
        reject: { status: 404, body: { success: false, message: 'Not found' } },
        accept: () => ({ status: 404, body: {} }),
      };
    }
    const body = parseJson(raw) ?? {};
    const message = str(body.message);
    const contentIds = Array.isArray(body.content_ids) ? body.content_ids : undefined;
    const action = str(body.action);
    let reject: Reply | undefined;
    if (!token) reject = unauthorized;
    else if (message !== undefined && contentIds !== undefined)
      // The documented quirk: message and content_ids together fail with HTTP 500.
      reject = { status: 500, body: { success: false, message: 'Internal server error' } };
    else if (action !== 'reply_inbox' && action !== 'reply_comment')
      reject = { status: 400, body: { success: false, message: 'Invalid action' } };
    else if (action === 'reply_comment' && !str(body.message_id))
      reject = { status: 400, body: { success: false, message: 'message_id is required' } };
    else if (message === undefined && contentIds === undefined)
      reject = { status: 400, body: { success: false, message: 'message or content_ids is required' } };
    return {
      api: 'pancake',
      kind: action === 'reply_comment' ? 'comment' : contentIds ? 'image' : 'text',
      pageId: decodeURIComponent(send[1] ?? ''),
      conversationId: decodeURIComponent(send[2] ?? ''),
      ...(message !== undefined ? { text: message } : {}),
      ...(reject ? { reject } : {}),
      accept: () => {
        const messageId = `m_${id()}`;
        return {
          status: 200,
          body: { success: true, id: messageId, message: { id: messageId, message: message ?? '' } },
        };
      },
    };
  };

  const graph = (path: string, url: URL, req: IncomingMessage, raw: Buffer): ParsedCall => {
    const match = /^\/v\d+\.\d+\/([^/]+)\/messages$/.exec(path);
    const body = parseJson(raw) ?? {};
    // Public comment replies: Facebook `POST /{comment-id}/comments`, Instagram `/{comment-id}/replies`.
    const commentReply = /^\/v\d+\.\d+\/([^/]+)\/(comments|replies)$/.exec(path);
    if (commentReply && req.method === 'POST') {
      const message = str(body.message) ?? str(body.attachment_url);
      return {
        api: commentReply[2] === 'replies' ? 'instagram-comment' : 'facebook-comment',
        kind: 'comment',
        recipientId: decodeURIComponent(commentReply[1] ?? ''),
        ...(message !== undefined ? { text: message } : {}),
        ...(!url.searchParams.get('access_token')
          ? { reject: { status: 401, body: metaErrorBody(190, undefined, 'Invalid OAuth access token.') } }
          : !message
            ? { reject: { status: 400, body: metaErrorBody(100, undefined, '(#100) message is required.') } }
            : {}),
        accept: () => ({ status: 200, body: { id: `${commentReply[1]}_${id(6)}` } }),
      };
    }
    if (!match || req.method !== 'POST') {
      return {
        api: 'graph',
        kind: 'other',
        reject: { status: 400, body: metaErrorBody(100, 33, 'Unsupported post request.') },
        accept: () => ({ status: 400, body: {} }),
      };
    }
    const pageId = decodeURIComponent(match[1] ?? '');
    const invalidToken: Reply = {
      status: 401,
      body: metaErrorBody(190, undefined, 'Invalid OAuth access token.'),
    };
    if (body.messaging_product === 'whatsapp') {
      const auth = String(req.headers.authorization ?? '');
      const to = str(body.to);
      const type = str(body.type);
      // Interactive messages (reply buttons, lists, cta_url) carry their text in `interactive.body`.
      const text =
        str((body.text as { body?: unknown } | undefined)?.body) ??
        str((body.interactive as { body?: { text?: unknown } } | undefined)?.body?.text);
      const link = str((body.image as { link?: unknown } | undefined)?.link);
      let reject: Reply | undefined;
      if (!/^Bearer \S+/.test(auth)) reject = invalidToken;
      else if (!to)
        reject = { status: 400, body: metaErrorBody(100, undefined, '(#100) The parameter to is required.') };
      else if (type === 'text' && !text)
        reject = { status: 400, body: metaErrorBody(100, undefined, '(#100) text.body is required.') };
      return {
        api: 'whatsapp',
        kind: type === 'image' ? 'image' : 'text',
        pageId,
        ...(to ? { recipientId: to } : {}),
        ...(text !== undefined ? { text } : {}),
        ...(link !== undefined ? { imageUrl: link } : {}),
        ...(reject ? { reject } : {}),
        accept: () => ({
          status: 200,
          body: {
            messaging_product: 'whatsapp',
            contacts: [{ input: to, wa_id: to }],
            messages: [{ id: `wamid.${Buffer.from(id(12)).toString('base64')}` }],
          },
        }),
      };
    }
    // A private reply to a comment names the comment instead of the person.
    const to = body.recipient as { id?: unknown; comment_id?: unknown } | undefined;
    const recipient = str(to?.id) ?? str(to?.comment_id);
    const message = body.message as
      | { text?: unknown; attachment?: { type?: unknown; payload?: { url?: unknown; text?: unknown } } }
      | undefined;
    const senderAction = str(body.sender_action);
    // A button template carries its text in the template payload.
    const text = str(message?.text) ?? str(message?.attachment?.payload?.text);
    const imageUrl = message?.attachment?.type === 'image' ? str(message.attachment.payload?.url) : undefined;
    let reject: Reply | undefined;
    if (!url.searchParams.get('access_token')) reject = invalidToken;
    else if (!recipient)
      reject = {
        status: 400,
        body: metaErrorBody(100, undefined, '(#100) param recipient must be non-empty.'),
      };
    else if (!senderAction && !message)
      reject = { status: 400, body: metaErrorBody(100, undefined, '(#100) message is required.') };
    else if (!senderAction && !body.messaging_type)
      reject = { status: 400, body: metaErrorBody(100, undefined, '(#100) messaging_type is required.') };
    return {
      api: 'messenger',
      kind: senderAction ? 'typing' : imageUrl ? 'image' : 'text',
      pageId,
      ...(recipient ? { recipientId: recipient } : {}),
      ...(text !== undefined ? { text } : {}),
      ...(imageUrl !== undefined ? { imageUrl } : {}),
      ...(reject ? { reject } : {}),
      accept: () =>
        senderAction
          ? { status: 200, body: { recipient_id: recipient } }
          : { status: 200, body: { recipient_id: recipient, message_id: `m_${id(16)}` } },
    };
  };

  const telegram = (path: string, raw: Buffer): ParsedCall & { path: string } => {
    const match = /^\/bot([^/]*)\/([A-Za-z]+)$/.exec(path);
    const token = match?.[1] ?? '';
    const method = match?.[2] ?? '';
    const safePath = match ? `/bot[redacted]/${method}` : path.replace(/\/bot[^/]*/, '/bot[redacted]');
    const body = parseJson(raw) ?? {};
    // Read chat_id from the raw text so a 64-bit id sent as a number is not rounded.
    const rawChat = /"chat_id"\s*:\s*"?(-?\d+)"?/.exec(raw.toString('utf8'))?.[1] ?? str(body.chat_id);
    const text = str(body.text) ?? str(body.caption);
    const photo = str(body.photo);
    let reject: Reply | undefined;
    if (!/^\d+:[A-Za-z0-9_-]+$/.test(token)) reject = telegramError(401, 'Unauthorized');
    else if (!['sendMessage', 'sendPhoto', 'sendChatAction'].includes(method))
      reject = telegramError(404, 'Not Found');
    else if (!rawChat) reject = telegramError(400, 'Bad Request: chat_id is empty');
    else if (method === 'sendMessage' && !text)
      reject = telegramError(400, 'Bad Request: message text is empty');
    else if (method === 'sendPhoto' && !photo)
      reject = telegramError(400, 'Bad Request: there is no photo in the request');
    return {
      api: 'telegram',
      path: safePath,
      kind: method === 'sendChatAction' ? 'typing' : method === 'sendPhoto' ? 'image' : 'text',
      pageId: token.split(':')[0] ?? '',
      ...(rawChat ? { recipientId: rawChat } : {}),
      ...(text !== undefined ? { text } : {}),
      ...(photo !== undefined ? { imageUrl: photo } : {}),
      ...(reject ? { reject } : {}),
      accept: () => {
        if (method === 'sendChatAction') return { status: 200, body: { ok: true, result: true } };
        telegramMessageId += 1;
        return {
          status: 200,
          body: {
            ok: true,
            result: {
              message_id: telegramMessageId,
              date: Math.floor(Date.now() / 1000),
              chat: { id: Number(rawChat), type: 'private' },
              ...(text !== undefined ? { text } : {}),
            },
          },
        };
      },
    };
  };

  const zalo = (path: string, req: IncomingMessage, raw: Buffer): ParsedCall => {
    const body = parseJson(raw) ?? {};
    const to = (body.recipient ?? {}) as { user_id?: unknown; anonymous_id?: unknown; group_id?: unknown };
    const group = path === '/v3.0/oa/group/message';
    // Followers by user_id; anonymous chats by anonymous_id + conversation_id; groups by group_id.
    const recipient = group
      ? str(to.group_id)
      : (str(to.user_id) ??
        (str((to as { conversation_id?: unknown }).conversation_id) ? str(to.anonymous_id) : undefined));
    const token = typeof req.headers.access_token === 'string' ? req.headers.access_token : undefined;
    const message = body.message as
      | { text?: unknown; attachment?: { payload?: { elements?: { url?: unknown }[] } } }
      | undefined;
    const text = str(message?.text);
    const imageUrl = str(message?.attachment?.payload?.elements?.[0]?.url);
    let reject: Reply | undefined;
    const refusal = zaloOAuth.refusal(token);
    if (path !== '/v3.0/oa/message/cs' && !group)
      reject = { status: 404, body: { error: 404, message: 'Not found' } };
    else if (!token) reject = { status: 200, body: { error: -216, message: 'Access token is invalid' } };
    else if (refusal) reject = { status: 200, body: refusal };
    else if (!recipient) reject = { status: 200, body: { error: -201, message: 'user_id is invalid' } };
    else if (!text && !imageUrl)
      reject = { status: 200, body: { error: -201, message: 'message is invalid' } };
    return {
      api: 'zalo',
      kind: imageUrl ? 'image' : 'text',
      ...(recipient ? { recipientId: recipient } : {}),
      ...(text !== undefined ? { text } : {}),
      ...(imageUrl !== undefined ? { imageUrl } : {}),
      ...(reject ? { reject } : {}),
      accept: () => ({
        status: 200,
        body: { error: 0, message: 'Success', data: { message_id: id(16), user_id: recipient } },
      }),
    };
  };

  /** Strips tokens from a recorded body. */
  const cleanBody = (channel: SandboxChannel, raw: Buffer, req: IncomingMessage): unknown => {
    const type = String(req.headers['content-type'] ?? '');
    if (type.startsWith('multipart/')) return { multipart: true, bytes: raw.length };
    const body = parseJson(raw);
    if (!body) return raw.length === 0 ? undefined : { unparsed: true, bytes: raw.length };
    const { access_token: _a, page_access_token: _p, ...rest } = body;
    void channel;
    return rest;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const at = Date.now();
    const url = new URL(req.url ?? '/', 'http://sandbox.local');
    const pathname = url.pathname;
    if (!pathname.startsWith('/sandbox/') && pathname !== '/sandbox') return false;

    if (pathname === '/sandbox/messages' || pathname === '/sandbox/requests') {
      if (req.method === 'GET') {
        // `?after=N`: only the records with a larger `seq` (it never goes back, not even after a
        // DELETE), so a poller reads what is new instead of everything again.
        const afterParam = url.searchParams.get('after');
        const after = afterParam === null ? 0 : Number(afterParam);
        if (!Number.isSafeInteger(after) || after < 0 || afterParam === '') {
          send(res, { status: 400, body: { error: '"after" must be a record seq: an integer ≥ 0' } });
          return true;
        }
        const recent = after === 0 ? records : records.filter((r) => r.seq > after);
        const body = pathname === '/sandbox/requests' ? recent : recent.filter(isDeliveredMessage);
        send(res, { status: 200, body });
      } else if (req.method === 'DELETE') {
        records = [];
        forget();
        pancakeCalls.clear();
        send(res, { status: 204, body: null });
      } else send(res, { status: 405, body: { error: 'method not allowed' } });
      return true;
    }
    if (pathname === '/sandbox/faults') {
      if (req.method === 'GET')
        send(res, { status: 200, body: rules.map((r) => ({ ...r.rule, left: r.left })) });
      else if (req.method === 'DELETE') {
        rules = [];
        send(res, { status: 204, body: null });
      } else if (req.method === 'POST') {
        const body = parseJson(await readBody(req));
        if (!isFaultRule(body)) {
          send(res, {
            status: 400,
            body: {
              error: `a fault rule needs "kind" (one of ${FAULT_KINDS.join(', ')}), optional "channel" (${SANDBOX_CHANNELS.join(', ')}), "path", "text", "count", "retryAfter", "code", "subcode", "status", "hangMs"`,
            },
          });
        } else {
          rules.push({ rule: body, left: body.count ?? 1 });
          send(res, { status: 201, body });
        }
      } else send(res, { status: 405, body: { error: 'method not allowed' } });
      return true;
    }
    if (pathname.startsWith('/sandbox/files/')) {
      if (pathname.startsWith('/sandbox/files/missing'))
        send(res, { status: 404, body: { error: 'not found' } });
      else {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length });
        res.end(PNG);
      }
      return true;
    }

    if (pathname === ZALO_OAUTH_MOUNT || pathname.startsWith(`${ZALO_OAUTH_MOUNT}/`)) {
      zaloOAuth.handle(req, res, await readBody(req), pathname);
      return true;
    }

    const match = /^\/sandbox\/([a-z]+)(\/.*)?$/.exec(pathname);
    const channel = match?.[1] as SandboxChannel | undefined;
    if (!channel || !(SANDBOX_CHANNELS as readonly string[]).includes(channel)) {
      send(res, { status: 404, body: { error: `unknown sandbox path ${pathname}` } });
      return true;
    }
    const path = match?.[2] ?? '/';
    const raw = await readBody(req);
    let call: ParsedCall;
    let recordPath = path;
    if (channel === 'pancake') call = await pancake(path, url, req, raw);
    else if (channel === 'graph') call = graph(path, url, req, raw);
    else if (channel === 'telegram') {
      const t = telegram(path, raw);
      call = t;
      recordPath = t.path;
    } else call = zalo(path, req, raw);

    seq += 1;
    const record: SandboxRecord = {
      seq,
      at,
      channel,
      api: call.api,
      method: req.method ?? 'GET',
      path: recordPath,
      kind: call.kind,
      ...(call.pageId !== undefined ? { pageId: call.pageId } : {}),
      ...(call.conversationId !== undefined ? { conversationId: call.conversationId } : {}),
      ...(call.recipientId !== undefined ? { recipientId: call.recipientId } : {}),
      ...(call.text !== undefined ? { text: call.text } : {}),
      ...(call.imageUrl !== undefined ? { imageUrl: call.imageUrl } : {}),
      body: cleanBody(channel, raw, req),
      status: 0,
      delivered: false,
    };
    records.push(record);

    const fault = takeFault(channel, recordPath, call.text);
    if (fault?.kind === 'hang') {
      record.fault = 'hang';
      hanging.add(res);
      const timer = setTimeout(() => {
        hanging.delete(res);
        res.destroy();
      }, fault.hangMs ?? 60_000);
      res.on('close', () => {
        clearTimeout(timer);
        hanging.delete(res);
      });
      return true;
    }
    if (fault?.kind === 'network') {
      record.fault = 'network';
      res.destroy();
      return true;
    }
    let reply: Reply;
    if (fault) {
      record.fault = fault.kind;
      reply = faultReply(channel, fault);
    } else if (call.reject) {
      reply = call.reject;
    } else if (channel === 'pancake' && pancakeLimit > 0 && call.pageId) {
      // Pancake: 5 calls per page per second, HTTP 429 above (sliding one-second window).
      const recent = (pancakeCalls.get(call.pageId) ?? []).filter((t) => t > at - 1000);
      if (recent.length >= pancakeLimit) {
        record.fault = 'rate-limit';
        reply = {
          status: 429,
          headers: { 'retry-after': '1' },
          body: { success: false, message: 'Rate limit exceeded' },
        };
      } else {
        reply = call.accept();
      }
      recent.push(at);
      pancakeCalls.set(call.pageId, recent);
    } else {
      reply = call.accept();
    }
    record.status = reply.status;
    if (reply.status === 200 && call.kind !== 'typing' && call.kind !== 'upload' && call.kind !== 'other') {
      const b = reply.body as Record<string, unknown>;
      const messageId =
        channel === 'pancake'
          ? b.success === true
            ? str(b.id)
            : undefined
          : channel === 'graph'
            ? (str(b.message_id) ??
              str((b.messages as { id?: unknown }[] | undefined)?.[0]?.id) ??
              (call.kind === 'comment' ? str(b.id) : undefined))
            : channel === 'telegram'
              ? b.ok === true
                ? str((b.result as { message_id?: unknown }).message_id)
                : undefined
              : b.error === 0
                ? str((b.data as { message_id?: unknown }).message_id)
                : undefined;
      if (messageId !== undefined) {
        record.delivered = true;
        record.messageId = messageId;
        await keep(record);
      }
    }
    send(res, reply);
    return true;
  };

  return {
    handle,
    messages: () => records.map((r) => ({ ...r })),
    fail: (rule) => {
      if (!isFaultRule(rule)) throw new TypeError(`Invalid fault rule: ${JSON.stringify(rule)}`);
      rules.push({ rule, left: rule.count ?? 1 });
    },
    clear: () => {
      records = [];
      forget();
      rules = [];
      pancakeCalls.clear();
      zaloOAuth.clear();
    },
    close: () => {
      for (const res of hanging) res.destroy();
      hanging.clear();
      if (journal !== undefined) closeSync(journal);
    },
    zaloOAuth,
  };
}

/** The environment variables that point the senders at a sandbox served at `url`. */
export function sandboxEnv(url: string): Record<string, string> {
  const base = url.replace(/\/+$/, '');
  return {
    PANCAKE_API_BASE: `${base}/sandbox/pancake`,
    GRAPH_API_BASE: `${base}/sandbox/graph`,
    TELEGRAM_API_BASE: `${base}/sandbox/telegram`,
    ZALO_API_BASE: `${base}/sandbox/zalo`,
    ZALO_OAUTH_BASE: `${base}${ZALO_OAUTH_MOUNT}`,
  };
}

/** Starts a standalone sandbox server on 127.0.0.1 (`port` 0 = any free port). */
export async function startSandbox(options: SandboxOptions & { port?: number } = {}): Promise<Sandbox> {
  const handler = createSandboxHandler(options);
  const server: Server = createServer((req, res) => {
    handler.handle(req, res).then(
      (handled) => {
        if (!handled) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'not a sandbox path' }));
        }
      },
      (err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(err) }));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const env = sandboxEnv(url);
  return {
    url,
    baseUrls: {
      pancake: env.PANCAKE_API_BASE as string,
      graph: env.GRAPH_API_BASE as string,
      telegram: env.TELEGRAM_API_BASE as string,
      zalo: env.ZALO_API_BASE as string,
    },
    env,
    messages: handler.messages,
    fail: handler.fail,
    clear: handler.clear,
    zaloOAuth: handler.zaloOAuth,
    stop: () =>
      new Promise<void>((resolve) => {
        handler.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
