/**
 * Meta Graph API senders: Messenger and Instagram (Send API, `messaging_type: RESPONSE`,
 * token in the `access_token` query parameter) and WhatsApp Cloud API (bearer token).
 * Graph errors (`{"error":{"code","error_subcode","message"}}`) are classified by code here.
 */

import type { QuickReply } from '../../contracts/responder.js';
import { PermanentSendError, RetryableSendError, type SendError } from '../../shared/errors.js';
import { channelConfig } from '../../shared/tenant.js';
import { graphRoot } from '../endpoints.js';
import { COMMENT_TEXT_LIMITS, TEXT_LIMITS } from '../limits.js';
import type { ChannelSender, SendExtras, SendResult, SendTarget } from '../types.js';
import {
  bestEffort,
  errorFromStatus,
  type HttpAnswer,
  notConfigured,
  parseRetryAfter,
  postJson,
  resolveOptions,
  type SenderOptions,
} from './http.js';
import {
  boundedPayload,
  capItems,
  choicesOf,
  cutTitle,
  hasExtras,
  INSTAGRAM_BUTTON_LIMITS,
  INSTAGRAM_QUICK_REPLY_LIMITS,
  MESSENGER_BUTTON_LIMITS,
  MESSENGER_QUICK_REPLY_LIMITS,
  numberedText,
  quickReplyPayload,
  WHATSAPP_BUTTON_LIMITS,
  WHATSAPP_CTA_URL_LIMITS,
  WHATSAPP_LIST_LIMITS,
} from './rich.js';

/** Graph error codes worth retrying: API throttling, temporary errors, WhatsApp throughput. */
export const META_RETRYABLE_CODES: ReadonlySet<number> = new Set([
  1, 2, 4, 17, 32, 613, 130429, 131056, 131000, 133004,
]);
/** Graph error codes meaning the access token is invalid or expired. */
export const META_TOKEN_CODES: ReadonlySet<number> = new Set([190, 102]);
/** Codes (or subcodes) worth naming in metrics instead of the generic code. */
const META_SPECIFIC_CODES: ReadonlySet<number> = new Set([1545041, 131047, 551, 2018278, 2018108]);

interface GraphError {
  code?: unknown;
  error_subcode?: unknown;
  message?: unknown;
  is_transient?: unknown;
}

/** Translates a Graph API answer into a send error, or returns undefined for a 2xx answer. */
export function graphError(what: string, answer: HttpAnswer): SendError | undefined {
  const error = (answer.json as { error?: GraphError } | undefined)?.error;
  if (answer.status >= 200 && answer.status < 300 && !error) return undefined;
  if (!error || typeof error.code !== 'number') return errorFromStatus(what, answer);
  const code = error.code;
  const subcode = typeof error.error_subcode === 'number' ? error.error_subcode : undefined;
  const platformCode =
    subcode !== undefined && META_SPECIFIC_CODES.has(subcode) ? String(subcode) : String(code);
  const detail = typeof error.message === 'string' ? error.message.slice(0, 200) : '';
  const message = `${what}: Graph error ${code}${subcode !== undefined ? `/${subcode}` : ''}${detail ? ` (${detail})` : ''}`;
  if (
    META_RETRYABLE_CODES.has(code) ||
    error.is_transient === true ||
    answer.status >= 500 ||
    answer.status === 429
  ) {
    const retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'));
    return new RetryableSendError(String(code), message, {
      status: answer.status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  return new PermanentSendError(platformCode, message, {
    status: answer.status,
    tokenInvalid: META_TOKEN_CODES.has(code) || answer.status === 401,
  });
}

function sentId(
  what: string,
  answer: HttpAnswer,
  pick: (body: Record<string, unknown>) => unknown,
): SendResult {
  const id = pick((answer.json ?? {}) as Record<string, unknown>);
  if (typeof id !== 'string' || id === '') {
    throw new PermanentSendError('NO_MESSAGE_ID', `${what}: the answer carried no message id.`, {
      status: answer.status,
    });
  }
  return { platformMessageId: id };
}

/**
 * The Send API `message` for a text with quick replies and buttons (Messenger and Instagram):
 * buttons as a button template (`template_type: button`, 1–3 buttons, text ≤ 640), quick replies
 * as `quick_replies` (≤ 13, title ≤ 20). What does not fit natively — a text over 640 with
 * buttons, a fourth button — is listed as numbered text (./rich.ts). Instagram documents quick
 * replies and buttons separately and third parties report it refuses them together: there the
 * quick replies of a message with buttons are listed in the template's text.
 */
export function sendApiMessage(
  channel: 'messenger' | 'instagram',
  text: string,
  extras: SendExtras | undefined,
): Record<string, unknown> {
  if (!hasExtras(extras)) return { text };
  const quickLimits = channel === 'messenger' ? MESSENGER_QUICK_REPLY_LIMITS : INSTAGRAM_QUICK_REPLY_LIMITS;
  const buttonLimits = channel === 'messenger' ? MESSENGER_BUTTON_LIMITS : INSTAGRAM_BUTTON_LIMITS;
  const textLimit = TEXT_LIMITS[channel];
  const buttons = capItems(extras.buttons, buttonLimits.maxButtons);
  const extraButtons = (extras.buttons ?? []).slice(buttons.length);
  let quickReplies = capItems(extras.quickReplies, quickLimits.maxQuickReplies);
  if (buttons.length > 0) {
    // Instagram: quick replies ride in the template's text; a fourth button too, anywhere.
    const inText: SendExtras = {
      buttons: extraButtons,
      ...(channel === 'instagram' ? { quickReplies } : {}),
    };
    const templateText = numberedText(text, inText);
    if (templateText.length <= buttonLimits.textLength && templateText.trim() !== '') {
      if (channel === 'instagram') quickReplies = [];
      const message: Record<string, unknown> = {
        attachment: {
          type: 'template',
          payload: {
            template_type: 'button',
            text: templateText,
            buttons: buttons.map((button) =>
              button.type === 'url'
                ? {
                    type: 'web_url',
                    url: button.url,
                    title: cutTitle(button.title, buttonLimits.titleLength),
                  }
                : {
                    type: 'postback',
                    title: cutTitle(button.title, buttonLimits.titleLength),
                    payload: boundedPayload(button.payload, buttonLimits.payloadLength),
                  },
            ),
          },
        },
      };
      if (quickReplies.length > 0) message.quick_replies = metaQuickReplies(quickReplies);
      return message;
    }
    // Too long for a template: every button as a line of the text, quick replies still native
    // on Messenger (Instagram: listed too, as above).
    const listed: SendExtras = {
      buttons: extras.buttons ?? [],
      ...(channel === 'instagram' ? { quickReplies } : {}),
    };
    if (channel === 'instagram') quickReplies = [];
    const message: Record<string, unknown> = { text: numberedText(text, listed, { maxLength: textLimit }) };
    if (quickReplies.length > 0) message.quick_replies = metaQuickReplies(quickReplies);
    return message;
  }
  return { text: text === '' ? ' ' : text, quick_replies: metaQuickReplies(quickReplies) };
}

function metaQuickReplies(quickReplies: readonly QuickReply[]): Record<string, unknown>[] {
  return quickReplies.map((quickReply) => ({
    content_type: 'text',
    title: cutTitle(quickReply.title, MESSENGER_QUICK_REPLY_LIMITS.titleLength),
    payload: boundedPayload(quickReplyPayload(quickReply), MESSENGER_QUICK_REPLY_LIMITS.payloadLength),
  }));
}

/** How a comment is answered: the tenant's `settings.comments` (`private` by default). */
function commentMode(target: SendTarget): 'private' | 'public' | 'both' {
  const mode = target.tenant.settings.comments;
  return mode === 'public' || mode === 'both' ? mode : 'private';
}

/** Messenger and Instagram share the Send API; they differ in where the token lives. */
function createSendApiSender(channel: 'messenger' | 'instagram', options: SenderOptions): ChannelSender {
  const opts = resolveOptions(options);
  const token = (target: SendTarget): string => {
    if (channel === 'messenger') {
      const config = channelConfig(target.tenant, 'messenger');
      if (!config)
        throw notConfigured(channel, `tenant "${target.tenant.tenantId}" has no Messenger configuration.`);
      const page = config.pages[target.pageId];
      if (!page) throw notConfigured(channel, `page ${target.pageId} is not configured.`);
      return page.accessToken;
    }
    const config = channelConfig(target.tenant, 'instagram');
    if (!config)
      throw notConfigured(channel, `tenant "${target.tenant.tenantId}" has no Instagram configuration.`);
    const account = config.accounts[target.pageId];
    if (!account) throw notConfigured(channel, `account ${target.pageId} is not configured.`);
    return account.accessToken;
  };
  const what = `${channel} send`;
  const post = async (
    target: SendTarget,
    path: string,
    body: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<HttpAnswer> => {
    const accessToken = token(target);
    const url = `${graphRoot(opts.bases())}/${path}` + `?access_token=${encodeURIComponent(accessToken)}`;
    return postJson(opts, url, body, { what, secrets: [accessToken], signal });
  };
  const call = (target: SendTarget, body: Record<string, unknown>, signal?: AbortSignal) =>
    post(target, `${encodeURIComponent(target.pageId)}/messages`, body, signal);
  /**
   * A comment is answered with a private reply (`recipient: {comment_id}`: the only first
   * message Meta allows to a commenter, once, within 7 days — developers.facebook.com/docs/
   * messenger-platform/discovery/private-replies; Instagram: .../instagram-platform/private-replies),
   * else an inbox message to the customer.
   */
  const recipient = (target: SendTarget): Record<string, string> =>
    target.surface === 'comment' && target.replyToMessageId
      ? { comment_id: target.replyToMessageId }
      : { id: target.recipientId };
  const send = async (target: SendTarget, message: unknown, signal?: AbortSignal): Promise<SendResult> => {
    token(target); // configuration errors before the limiter spends a slot
    await opts.beforeCall(target, 'send');
    const answer = await call(
      target,
      { recipient: recipient(target), messaging_type: 'RESPONSE', message },
      signal,
    );
    const error = graphError(what, answer);
    if (error) throw error;
    return sentId(what, answer, (b) => b.message_id);
  };
  /**
   * A public reply under the comment: Facebook `POST /{comment-id}/comments`
   * (developers.facebook.com/docs/graph-api/reference/object/comments), Instagram
   * `POST /{ig-comment-id}/replies` (developers.facebook.com/docs/instagram-platform/
   * instagram-graph-api/reference/ig-comment/replies); both answer `{id}`. Text only: quick
   * replies and buttons are listed as numbered text; an image goes as its URL (Facebook:
   * `attachment_url`).
   */
  const publicReply = async (
    target: SendTarget,
    fields: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<SendResult> => {
    const commentId = target.replyToMessageId;
    if (!commentId)
      throw new PermanentSendError('NO_COMMENT_ID', `${what}: a comment reply needs the comment id.`);
    token(target);
    await opts.beforeCall(target, 'send');
    const edge = channel === 'instagram' ? 'replies' : 'comments';
    const answer = await post(target, `${encodeURIComponent(commentId)}/${edge}`, fields, signal);
    const error = graphError(`${channel} comment reply`, answer);
    if (error) throw error;
    return sentId(`${channel} comment reply`, answer, (b) => b.id);
  };
  /**
   * Answers a comment per `settings.comments`. `both`: the private reply first (it opens the
   * conversation), then the public one best-effort — a failed public reply must not make a
   * retry spend the comment's single private reply again.
   */
  const answerComment = async (
    target: SendTarget,
    privateMessage: Record<string, unknown>,
    publicFields: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<SendResult> => {
    const mode = commentMode(target);
    if (mode === 'public') return publicReply(target, publicFields, signal);
    const sent = await send(target, privateMessage, signal);
    if (mode === 'both') await bestEffort(() => publicReply(target, publicFields, signal));
    return sent;
  };
  const isComment = (target: SendTarget): boolean =>
    target.surface === 'comment' && target.replyToMessageId !== undefined;
  return {
    channel,
    sendText: (target, text, signal, extras) =>
      isComment(target)
        ? answerComment(
            target,
            sendApiMessage(channel, text, extras),
            { message: numberedText(text, extras, { maxLength: COMMENT_TEXT_LIMITS[channel] ?? 8000 }) },
            signal,
          )
        : send(target, sendApiMessage(channel, text, extras), signal),
    sendImage: (target, imageUrl, signal) => {
      const message = { attachment: { type: 'image', payload: { url: imageUrl, is_reusable: true } } };
      if (!isComment(target)) return send(target, message, signal);
      const fields: Record<string, string> =
        channel === 'messenger' ? { attachment_url: imageUrl } : { message: imageUrl };
      if (commentMode(target) !== 'private') return publicReply(target, fields, signal);
      // A comment takes one private reply: the image (sent before its text) would spend it and the
      // text would be refused, so the text is the one sent and the image part is recorded failed.
      return Promise.reject(
        new PermanentSendError(
          'PRIVATE_REPLY_IMAGE',
          `${channel} send: a comment's single private reply carries the reply's text, not its image.`,
        ),
      );
    },
    typing: (target, signal) =>
      // No typing indicator under a comment (the private reply opens the thread).
      isComment(target)
        ? Promise.resolve()
        : bestEffort(() =>
            call(target, { recipient: { id: target.recipientId }, sender_action: 'typing_on' }, signal),
          ),
  };
}

/** Creates the Messenger sender (token of the page in the tenant document). */
export function createMessengerSender(options: SenderOptions = {}): ChannelSender {
  return createSendApiSender('messenger', options);
}

/** Creates the Instagram sender (the IG account id and its token). */
export function createInstagramSender(options: SenderOptions = {}): ChannelSender {
  return createSendApiSender('instagram', options);
}

/** The label of a WhatsApp list's menu button (≤ 20 characters), in the tenant's language when known. */
function listButtonLabel(language: string | undefined): string {
  return language?.toLowerCase().startsWith('vi') ? 'Chọn' : 'Choose';
}

/**
 * The WhatsApp payload for a text with quick replies and buttons
 * (developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-*-messages):
 * - choices (postback buttons and quick replies) ≤ 3 and body ≤ 1024: `interactive.button`
 *   reply buttons (title ≤ 20, id ≤ 256);
 * - 4–10 choices and body ≤ 4096: `interactive.list`, one section (row title ≤ 24, id ≤ 200;
 *   a longer title is cut and kept whole in the row's description, ≤ 72);
 * - a single URL button and nothing else, body ≤ 1024: `interactive.cta_url`;
 * URL buttons next to choices are listed in the body as `Title: url`; titles that collide once
 * cut (WhatsApp wants them unique), more than 10 choices, or a body too long: numbered text.
 */
export function whatsappPayload(
  text: string,
  extras: SendExtras | undefined,
  language?: string,
): Record<string, unknown> {
  const plain = (body: string) => ({ type: 'text', text: { preview_url: false, body } });
  if (!hasExtras(extras)) return plain(text);
  const choices = choicesOf(extras).filter((c) => c.url === undefined);
  const urls = (extras.buttons ?? []).filter((b) => b.type === 'url');
  const fallback = () => plain(numberedText(text, extras, { maxLength: TEXT_LIMITS.whatsapp }));
  if (choices.length === 0) {
    const [only] = urls;
    if (
      urls.length === 1 &&
      only &&
      text.trim() !== '' &&
      text.length <= WHATSAPP_CTA_URL_LIMITS.textLength
    ) {
      return {
        type: 'interactive',
        interactive: {
          type: 'cta_url',
          body: { text },
          action: {
            name: 'cta_url',
            parameters: {
              display_text: cutTitle(only.title, WHATSAPP_CTA_URL_LIMITS.titleLength),
              url: only.url,
            },
          },
        },
      };
    }
    return fallback();
  }
  const body = numberedText(text, { buttons: urls });
  if (body.trim() === '') return fallback();
  const unique = (titles: string[]) => new Set(titles).size === titles.length;
  if (
    choices.length <= WHATSAPP_BUTTON_LIMITS.maxButtons &&
    body.length <= WHATSAPP_BUTTON_LIMITS.textLength
  ) {
    const titles = choices.map((c) => cutTitle(c.title, WHATSAPP_BUTTON_LIMITS.titleLength));
    if (!unique(titles)) return fallback();
    return {
      type: 'interactive',
      interactive: {
        type: 'button',
        body: { text: body },
        action: {
          buttons: choices.map((c, i) => ({
            type: 'reply',
            reply: {
              id: boundedPayload(c.payload ?? c.title, WHATSAPP_BUTTON_LIMITS.payloadLength),
              title: titles[i],
            },
          })),
        },
      },
    };
  }
  if (
    choices.length <= WHATSAPP_LIST_LIMITS.maxQuickReplies &&
    body.length <= WHATSAPP_LIST_LIMITS.textLength
  ) {
    const titles = choices.map((c) => cutTitle(c.title, WHATSAPP_LIST_LIMITS.titleLength));
    const ids = choices.map((c) => boundedPayload(c.payload ?? c.title, WHATSAPP_LIST_LIMITS.payloadLength));
    if (!unique(ids)) return fallback();
    return {
      type: 'interactive',
      interactive: {
        type: 'list',
        body: { text: body },
        action: {
          button: listButtonLabel(language),
          sections: [
            {
              rows: choices.map((c, i) => ({
                id: ids[i],
                title: titles[i],
                ...(titles[i] !== c.title.trim() ? { description: cutTitle(c.title, 72) } : {}),
              })),
            },
          ],
        },
      },
    };
  }
  return fallback();
}

/** Creates the WhatsApp Cloud API sender. */
export function createWhatsappSender(options: SenderOptions = {}): ChannelSender {
  const opts = resolveOptions(options);
  const what = 'whatsapp send';
  const send = async (
    target: SendTarget,
    payload: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<SendResult> => {
    const config = channelConfig(target.tenant, 'whatsapp');
    if (!config)
      throw notConfigured('whatsapp', `tenant "${target.tenant.tenantId}" has no WhatsApp configuration.`);
    if (!config.phoneNumberIds.includes(target.pageId)) {
      throw notConfigured('whatsapp', `phone number id ${target.pageId} is not configured.`);
    }
    const url = `${graphRoot(opts.bases())}/${encodeURIComponent(target.pageId)}/messages`;
    await opts.beforeCall(target, 'send');
    const answer = await postJson(
      opts,
      url,
      { messaging_product: 'whatsapp', recipient_type: 'individual', to: target.recipientId, ...payload },
      {
        what,
        secrets: [config.accessToken],
        signal,
        headers: { authorization: `Bearer ${config.accessToken}` },
      },
    );
    const error = graphError(what, answer);
    if (error) throw error;
    return sentId(what, answer, (b) =>
      Array.isArray(b.messages) ? (b.messages[0] as { id?: unknown })?.id : undefined,
    );
  };
  return {
    channel: 'whatsapp',
    sendText: (target, text, signal, extras) =>
      send(target, whatsappPayload(text, extras, target.tenant.settings.language), signal),
    sendImage: (target, imageUrl, signal) =>
      send(target, { type: 'image', image: { link: imageUrl } }, signal),
    // WhatsApp's typing indicator needs the id of the customer's message being answered, which
    // a reply part does not carry: no-op.
    typing: async () => {},
  };
}
