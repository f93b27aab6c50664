/**
 * Pancake (pages.fm) sender: `reply_inbox` for inbox conversations, `reply_comment` for
 * comment conversations, images uploaded with `upload_contents` first and sent as
 * `content_ids` (never together with `message`: Pancake answers 500 to both). The page access
 * token rides in the query string, so URLs are never logged or put into errors.
 * HTTP 200 with `success != true` is a failure.
 *
 * `reply_comment` names the comment answered with **`message_id`**: Pancake's public API
 * reference (developer.pancake.biz, `POST /pages/{page_id}/conversations/{conversation_id}/messages`,
 * request schema `ReplyComment`: `required: [action, message_id, message]`, "message_id: ID of
 * the comment you want to reply to"; snapshot in the public repo netfull95/pancake-api-mcp,
 * spec/openapi.yaml). The `parent_id` of the send-message guide this project started from is a
 * field of the comment objects Pancake returns ("ID of the parent comment, for replies"), not of
 * the send request, so it is not sent.
 *
 * Pancake's API has no quick replies or buttons: they are sent as numbered text (rich.ts).
 */
import { PermanentSendError, RetryableSendError, type SendError } from '../../shared/errors.js';
import { channelConfig, type PancakeConfig } from '../../shared/tenant.js';
import { textLimit } from '../limits.js';
import type { ChannelSender, SendResult, SendTarget } from '../types.js';
import {
  downloadImage,
  errorFromStatus,
  type HttpAnswer,
  notConfigured,
  parseRetryAfter,
  postJson,
  type ResolvedOptions,
  request,
  resolveOptions,
  type SenderOptions,
} from './http.js';
import { numberedText } from './rich.js';

interface PancakeBody {
  success?: unknown;
  id?: unknown;
  message?: unknown;
  message_id?: unknown;
  data?: { id?: unknown } | null;
}

/** The page access token of `pageId` (a per-page token wins over the shared one). */
export function pancakeToken(config: PancakeConfig, pageId: string): string {
  return config.pageAccessTokens?.[pageId] ?? config.pageAccessToken;
}

function configFor(target: SendTarget): PancakeConfig {
  const config = channelConfig(target.tenant, 'pancake');
  if (!config)
    throw notConfigured('pancake', `tenant "${target.tenant.tenantId}" has no Pancake configuration.`);
  return config;
}

/** Translates a Pancake answer into a send error, or returns undefined when it is a success. */
export function pancakeError(what: string, answer: HttpAnswer): SendError | undefined {
  const body = (answer.json ?? {}) as PancakeBody;
  const detail = typeof body.message === 'string' ? body.message.slice(0, 200) : undefined;
  if (answer.status < 200 || answer.status >= 300) {
    if (answer.status === 429) {
      const retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'));
      return new RetryableSendError('429', `${what}: rate limited (HTTP 429).`, {
        status: 429,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
    }
    return errorFromStatus(what, answer, detail);
  }
  if (body.success !== true) {
    return new PermanentSendError(
      'SUCCESS_FALSE',
      `${what}: Pancake answered success=${String(body.success)}${detail ? ` (${detail})` : ''}.`,
      { status: answer.status },
    );
  }
  return undefined;
}

function messageId(body: PancakeBody): string | undefined {
  for (const candidate of [body.id, body.message_id, body.data?.id]) {
    if (typeof candidate === 'string' && candidate !== '') return candidate;
    if (typeof candidate === 'number') return String(candidate);
  }
  return undefined;
}

/** Creates the Pancake sender. */
export function createPancakeSender(options: SenderOptions = {}): ChannelSender {
  const opts = resolveOptions(options);

  const sendBody = async (
    target: SendTarget,
    body: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): Promise<SendResult> => {
    const config = configFor(target);
    const token = pancakeToken(config, target.pageId);
    const url =
      `${opts.bases().pancake}/api/public_api/v1/pages/${encodeURIComponent(target.pageId)}` +
      `/conversations/${encodeURIComponent(target.conversationId)}/messages` +
      `?page_access_token=${encodeURIComponent(token)}`;
    await opts.beforeCall(target, 'send');
    const answer = await postJson(opts, url, body, { what: 'pancake send', secrets: [token], signal });
    const error = pancakeError('pancake send', answer);
    if (error) throw error;
    const id = messageId(answer.json as PancakeBody);
    if (!id) {
      // Delivered, but without an id the echo filter cannot recognise it: still a success.
      return { platformMessageId: `pancake-noid-${Date.now()}` };
    }
    return { platformMessageId: id };
  };

  const upload = async (
    opts2: ResolvedOptions,
    target: SendTarget,
    imageUrl: string,
    signal: AbortSignal | undefined,
  ): Promise<string> => {
    const config = configFor(target);
    const token = pancakeToken(config, target.pageId);
    const image = await downloadImage(opts2, imageUrl, signal);
    const form = new FormData();
    form.append('file', new Blob([image.bytes], { type: image.contentType }), image.fileName);
    const url =
      `${opts2.bases().pancake}/api/public_api/v1/pages/${encodeURIComponent(target.pageId)}/upload_contents` +
      `?page_access_token=${encodeURIComponent(token)}`;
    await opts2.beforeCall(target, 'upload');
    const answer = await request(opts2, url, {
      method: 'POST',
      body: form,
      what: 'pancake upload',
      secrets: [token],
      ...(signal ? { signal } : {}),
    });
    const error = pancakeError('pancake upload', answer);
    if (error) throw error;
    const id = (answer.json as PancakeBody).id;
    if (typeof id !== 'string' && typeof id !== 'number') {
      throw new PermanentSendError('UPLOAD_NO_ID', 'pancake upload: the answer carried no content id.');
    }
    return String(id);
  };

  return {
    channel: 'pancake',
    async sendText(target, plain, signal, extras) {
      const text = numberedText(plain, extras, { maxLength: textLimit('pancake', target.surface) });
      if (target.surface === 'comment') {
        if (!target.replyToMessageId) {
          throw new PermanentSendError(
            'MISSING_COMMENT_ID',
            'pancake send: a comment reply needs the comment id.',
          );
        }
        // `message_id` is the comment answered (Pancake's ReplyComment schema; see the module comment).
        return sendBody(
          target,
          { action: 'reply_comment', message_id: target.replyToMessageId, message: text },
          signal,
        );
      }
      return sendBody(target, { action: 'reply_inbox', message: text }, signal);
    },
    async sendImage(target, imageUrl, signal) {
      if (target.surface === 'comment') {
        throw new PermanentSendError(
          'UNSUPPORTED',
          'pancake send: images cannot be sent as comment replies.',
        );
      }
      const contentId = await upload(opts, target, imageUrl, signal);
      return sendBody(target, { action: 'reply_inbox', content_ids: [contentId] }, signal);
    },
    // Pancake's public API has no typing indicator.
    typing: async () => {},
  };
}
