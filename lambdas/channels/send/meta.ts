/**
 * Meta Graph API senders: Messenger and Instagram (Send API, `messaging_type: RESPONSE`,
 * token in the `access_token` query parameter) and WhatsApp Cloud API (bearer token).
 * Graph errors (`{"error":{"code","error_subcode","message"}}`) are classified by code here.
 */
import { PermanentSendError, RetryableSendError, type SendError } from '../../shared/errors.js';
import { channelConfig } from '../../shared/tenant.js';
import { graphRoot } from '../endpoints.js';
import type { ChannelSender, SendResult, SendTarget } from '../types.js';
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
  const call = async (
    target: SendTarget,
    body: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<HttpAnswer> => {
    const accessToken = token(target);
    const url =
      `${graphRoot(opts.bases())}/${encodeURIComponent(target.pageId)}/messages` +
      `?access_token=${encodeURIComponent(accessToken)}`;
    return postJson(opts, url, body, { what, secrets: [accessToken], signal });
  };
  const send = async (target: SendTarget, message: unknown, signal?: AbortSignal): Promise<SendResult> => {
    token(target); // configuration errors before the limiter spends a slot
    await opts.beforeCall(target, 'send');
    const answer = await call(
      target,
      { recipient: { id: target.recipientId }, messaging_type: 'RESPONSE', message },
      signal,
    );
    const error = graphError(what, answer);
    if (error) throw error;
    return sentId(what, answer, (b) => b.message_id);
  };
  return {
    channel,
    sendText: (target, text, signal) => send(target, { text }, signal),
    sendImage: (target, imageUrl, signal) =>
      send(target, { attachment: { type: 'image', payload: { url: imageUrl, is_reusable: true } } }, signal),
    typing: (target, signal) =>
      bestEffort(() =>
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
    sendText: (target, text, signal) =>
      send(target, { type: 'text', text: { preview_url: false, body: text } }, signal),
    sendImage: (target, imageUrl, signal) =>
      send(target, { type: 'image', image: { link: imageUrl } }, signal),
    // WhatsApp's typing indicator needs the id of the customer's message being answered, which
    // a reply part does not carry: no-op.
    typing: async () => {},
  };
}
