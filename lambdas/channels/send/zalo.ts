/**
 * Zalo OA sender: `POST /v3.0/oa/message/cs` with the OA access token in the `access_token`
 * header. Zalo answers HTTP 200 with `{"error": <code>, "message": …}`; `error: 0` is success.
 * The error-code tables are unconfirmed (no official page was available): keep them here.
 */
import { PermanentSendError, RetryableSendError, type SendError } from '../../shared/errors.js';
import { channelConfig } from '../../shared/tenant.js';
import type { ChannelSender, SendResult, SendTarget } from '../types.js';
import {
  errorFromStatus,
  type HttpAnswer,
  notConfigured,
  postJson,
  resolveOptions,
  type SenderOptions,
} from './http.js';

/** Zalo error codes meaning the access token is invalid or expired (unconfirmed). */
export const ZALO_TOKEN_CODES: ReadonlySet<number> = new Set([-216, -124, -155]);
/** Zalo error codes worth retrying: rate limits and server errors (unconfirmed). */
export const ZALO_RETRYABLE_CODES: ReadonlySet<number> = new Set([-32, -50, -500, -1]);

interface ZaloAnswer {
  error?: unknown;
  message?: unknown;
  data?: { message_id?: unknown };
}

/** Translates a Zalo answer into a send error, or returns undefined when `error` is 0. */
export function zaloError(what: string, answer: HttpAnswer): SendError | undefined {
  const body = (answer.json ?? {}) as ZaloAnswer;
  if (answer.status < 200 || answer.status >= 300) return errorFromStatus(what, answer);
  if (body.error === 0) return undefined;
  if (typeof body.error !== 'number') {
    return new PermanentSendError('MALFORMED', `${what}: unexpected answer without an error code.`, {
      status: answer.status,
    });
  }
  const code = body.error;
  const detail = typeof body.message === 'string' ? ` (${body.message.slice(0, 200)})` : '';
  const message = `${what}: Zalo error ${code}${detail}`;
  if (ZALO_RETRYABLE_CODES.has(code))
    return new RetryableSendError(String(code), message, { status: answer.status });
  return new PermanentSendError(String(code), message, {
    status: answer.status,
    tokenInvalid: ZALO_TOKEN_CODES.has(code),
  });
}

/** Creates the Zalo OA sender. */
export function createZaloSender(options: SenderOptions = {}): ChannelSender {
  const opts = resolveOptions(options);
  const send = async (target: SendTarget, message: unknown, signal?: AbortSignal): Promise<SendResult> => {
    const config = channelConfig(target.tenant, 'zalo');
    if (!config) throw notConfigured('zalo', `tenant "${target.tenant.tenantId}" has no Zalo configuration.`);
    await opts.beforeCall(target, 'send');
    const answer = await postJson(
      opts,
      `${opts.bases().zalo}/v3.0/oa/message/cs`,
      { recipient: { user_id: target.recipientId }, message },
      {
        what: 'zalo send',
        secrets: [config.accessToken],
        signal,
        headers: { access_token: config.accessToken },
      },
    );
    const error = zaloError('zalo send', answer);
    if (error) throw error;
    const id = (answer.json as ZaloAnswer).data?.message_id;
    if (typeof id !== 'string' && typeof id !== 'number') {
      throw new PermanentSendError('NO_MESSAGE_ID', 'zalo send: the answer carried no message id.');
    }
    return { platformMessageId: String(id) };
  };
  return {
    channel: 'zalo',
    sendText: (target, text, signal) => send(target, { text }, signal),
    sendImage: (target, imageUrl, signal) =>
      send(
        target,
        {
          attachment: {
            type: 'template',
            payload: { template_type: 'media', elements: [{ media_type: 'image', url: imageUrl }] },
          },
        },
        signal,
      ),
    // Zalo OA has no typing indicator in its public API.
    typing: async () => {},
  };
}
