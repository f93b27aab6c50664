/**
 * Zalo OA sender. Zalo answers HTTP 200 with `{"error": <code>, "message": …}`; `error: 0` is
 * success. The access token rides in the `access_token` header and comes from the token provider
 * (lambdas/channels/zalo-token.ts), which refreshes it ahead of expiry; a send refused for an
 * invalid or expired token is refreshed and sent once more (nothing was delivered).
 *
 * Where a reply goes, from the conversation id the Zalo adapter made:
 * - `{oaId}:{userId}`: a consultation message, `POST /v3.0/oa/message/cs`, `recipient.user_id`;
 * - `{oaId}:anonymous:{conversationId}` (a person who does not follow the OA): the same endpoint
 *   with `recipient: {anonymous_id, conversation_id}` (Zalo's anonymous-chat API);
 * - `{oaId}:group:{groupId}` (a group chat, when the tenant enables groups): the group message
 *   API, `POST /v3.0/oa/group/message`, `recipient.group_id`.
 * Quick replies and buttons become Zalo's button message (`attachment.type: "template"` with
 * `payload.buttons`: `oa.open.url` for a URL, `oa.query.hide` for a postback — the customer's tap
 * comes back as a message carrying the payload — and `oa.query.show` for a quick reply, shown in
 * the chat as the customer's own message), at most {@link ZALO_BUTTON_LIMITS}; the rest, or text
 * too long for a button message, goes as numbered text (rich.ts).
 *
 * No official page was available (reference/channels.md): the error codes, the anonymous and
 * group request shapes and the button limits are unconfirmed and kept in the constants here.
 */
import type { QuickReply, ReplyButton } from '../../contracts/responder.js';
import { PermanentSendError, RetryableSendError, type SendError } from '../../shared/errors.js';
import { channelConfig, type ZaloConfig } from '../../shared/tenant.js';
import { TEXT_LIMITS } from '../limits.js';
import type { ChannelSender, SendExtras, SendResult, SendTarget } from '../types.js';
import { createZaloTokenProvider, type ZaloTokenProvider } from '../zalo-token.js';
import {
  errorFromStatus,
  type HttpAnswer,
  notConfigured,
  postJson,
  resolveOptions,
  type SenderOptions,
} from './http.js';
import {
  boundedPayload,
  capItems,
  cutTitle,
  hasExtras,
  numberedText,
  quickReplyPayload,
  type RichLimits,
} from './rich.js';

/**
 * Zalo error codes meaning the access token is invalid or expired (unconfirmed): -216 "access
 * token is invalid", -124 "access token has expired", and -155, which integrators list with them.
 * Each makes the sender refresh the token and send once more.
 */
export const ZALO_TOKEN_CODES: ReadonlySet<number> = new Set([-216, -124, -155]);
/** Zalo error codes worth retrying: rate limits and server errors (unconfirmed). */
export const ZALO_RETRYABLE_CODES: ReadonlySet<number> = new Set([-32, -50, -500, -1]);

/** Consultation messages (followers and anonymous chats). */
export const ZALO_CS_PATH = '/v3.0/oa/message/cs';
/** Group messages (Zalo's group chat API for OAs, "GMF"). Unconfirmed path. */
export const ZALO_GROUP_PATH = '/v3.0/oa/group/message';

/**
 * Zalo's button message: at most 5 buttons (quick replies included), title ≤ 100 characters,
 * `oa.query.*` payload ≤ 1000, text ≤ 2000 (unconfirmed: relayed by integrators such as
 * developers.esms.vn "Send Zalo message Consulting button").
 */
export const ZALO_BUTTON_LIMITS: RichLimits = {
  maxQuickReplies: 5,
  maxButtons: 5,
  titleLength: 100,
  payloadLength: 1000,
  textLength: 2000,
};

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

/** The endpoint and `recipient` of a reply, from the conversation id (see the module comment). */
export function zaloRoute(target: SendTarget): { path: string; recipient: Record<string, string> } {
  const id = target.conversationId;
  const anonymous = id.indexOf(':anonymous:');
  if (anonymous >= 0) {
    return {
      path: ZALO_CS_PATH,
      recipient: {
        anonymous_id: target.recipientId,
        conversation_id: id.slice(anonymous + ':anonymous:'.length),
      },
    };
  }
  const group = id.indexOf(':group:');
  if (group >= 0)
    return { path: ZALO_GROUP_PATH, recipient: { group_id: id.slice(group + ':group:'.length) } };
  return { path: ZALO_CS_PATH, recipient: { user_id: target.recipientId } };
}

/**
 * The Zalo `message` of a text part with its extras: a button message when the choices and the
 * text fit Zalo's limits, else numbered text.
 */
export function zaloTextMessage(text: string, extras: SendExtras | undefined): Record<string, unknown> {
  if (!hasExtras(extras)) return { text };
  const limit = ZALO_BUTTON_LIMITS;
  const buttons: ReplyButton[] = capItems(extras.buttons, limit.maxButtons);
  const quickReplies: QuickReply[] = capItems(extras.quickReplies, limit.maxButtons - buttons.length);
  const dropped =
    (extras.buttons?.length ?? 0) - buttons.length + (extras.quickReplies?.length ?? 0) - quickReplies.length;
  if (dropped > 0 || text.length > limit.textLength || text.trim() === '') {
    return { text: numberedText(text, extras, { maxLength: TEXT_LIMITS.zalo }) };
  }
  const rendered = [
    ...buttons.map((button) =>
      button.type === 'url'
        ? {
            title: cutTitle(button.title, limit.titleLength),
            type: 'oa.open.url',
            payload: { url: button.url },
          }
        : {
            title: cutTitle(button.title, limit.titleLength),
            type: 'oa.query.hide',
            payload: boundedPayload(button.payload, limit.payloadLength),
          },
    ),
    ...quickReplies.map((quickReply) => ({
      title: cutTitle(quickReply.title, limit.titleLength),
      type: 'oa.query.show',
      payload: boundedPayload(quickReplyPayload(quickReply), limit.payloadLength),
    })),
  ];
  return { text, attachment: { type: 'template', payload: { buttons: rendered } } };
}

/** Options of {@link createZaloSender}. */
export interface ZaloSenderOptions extends SenderOptions {
  /** Where access tokens come from. @default a refreshing provider using this sender's fetch */
  readonly tokens?: ZaloTokenProvider;
}

/** Creates the Zalo OA sender. */
export function createZaloSender(options: ZaloSenderOptions = {}): ChannelSender {
  const opts = resolveOptions(options);
  const tokens = options.tokens ?? createZaloTokenProvider(options.fetch ? { fetch: options.fetch } : {});

  const post = async (
    target: SendTarget,
    config: ZaloConfig,
    token: string,
    message: unknown,
    signal: AbortSignal | undefined,
  ): Promise<HttpAnswer> => {
    const route = zaloRoute(target);
    await opts.beforeCall(target, 'send');
    return postJson(
      opts,
      `${opts.bases().zalo}${route.path}`,
      { recipient: route.recipient, message },
      {
        what: 'zalo send',
        secrets: [token, config.accessToken, config.refreshToken, config.appSecretKey],
        signal,
        headers: { access_token: token },
      },
    );
  };

  const send = async (target: SendTarget, message: unknown, signal?: AbortSignal): Promise<SendResult> => {
    const config = channelConfig(target.tenant, 'zalo');
    if (!config) throw notConfigured('zalo', `tenant "${target.tenant.tenantId}" has no Zalo configuration.`);
    const token = await tokens.accessToken(target.tenant, config, signal);
    let answer = await post(target, config, token, message, signal);
    let error = zaloError('zalo send', answer);
    if (error instanceof PermanentSendError && error.tokenInvalid) {
      // Refused for the token: nothing was delivered, so one more send with a fresh token is safe.
      const fresh = await tokens.refreshAfterRefusal(target.tenant, config, token, signal);
      if (fresh !== undefined && fresh !== token) {
        answer = await post(target, config, fresh, message, signal);
        error = zaloError('zalo send', answer);
      }
    }
    if (error) throw error;
    const id = (answer.json as ZaloAnswer).data?.message_id;
    if (typeof id !== 'string' && typeof id !== 'number') {
      throw new PermanentSendError('NO_MESSAGE_ID', 'zalo send: the answer carried no message id.');
    }
    return { platformMessageId: String(id) };
  };
  return {
    channel: 'zalo',
    sendText: (target, text, signal, extras) => send(target, zaloTextMessage(text, extras), signal),
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
