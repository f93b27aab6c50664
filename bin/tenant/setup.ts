/**
 * Webhook URLs and the exact setup step on each platform, printed after `add`, `update` and
 * `show`. The base URL is the stack's `WebhookBaseUrl` output (the HTTP API endpoint).
 */
import { CHANNELS, type ChannelName } from '../../lambdas/shared/model.js';
import type { TenantDocument } from '../../lambdas/shared/tenant.js';
import { maskToken } from './document.js';

/** Shown in place of the base URL when it could not be found. */
export const BASE_URL_PLACEHOLDER = '<WebhookBaseUrl>';

/** `{base}/webhooks/{channel}/{tenantId}` (a base already ending in `/webhooks` is not doubled). */
export function webhookUrl(baseUrl: string, channel: ChannelName, tenantId: string): string {
  const base = baseUrl.replace(/\/+$/, '').replace(/\/webhooks$/, '');
  return `${base}/webhooks/${channel}/${encodeURIComponent(tenantId)}`;
}

/** Single-quotes a value for a POSIX shell. */
function sh(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** One configured channel's webhook URL and the step to register it. */
export interface ChannelSetup {
  readonly channel: ChannelName;
  readonly url: string;
  readonly steps: readonly string[];
}

/**
 * The setup of every configured channel. With `reveal: false` every credential in the output
 * is masked (the URL shape and the step stay readable).
 */
export function channelSetups(tenant: TenantDocument, baseUrl: string, reveal: boolean): ChannelSetup[] {
  const show = (value: string): string => (reveal ? value : maskToken(value));
  const out: ChannelSetup[] = [];
  for (const channel of CHANNELS) {
    const url = webhookUrl(baseUrl, channel, tenant.tenantId);
    switch (channel) {
      case 'pancake': {
        const c = tenant.channels.pancake;
        if (!c) break;
        const full = `${url}?token=${encodeURIComponent(show(c.webhookToken))}`;
        out.push({
          channel,
          url: full,
          steps: [
            `In Pancake (pages.fm), open the settings of page(s) ${c.pageIds.join(', ')} → Webhook, paste`,
            `  ${full}`,
            '  and enable the "messaging" event. Keep this URL secret: the token in it authenticates Pancake.',
            ...(c.signingSecret
              ? ['  Signing is required too: Pancake must send X-Pancake-Signature and X-Pancake-Timestamp.']
              : []),
          ],
        });
        break;
      }
      case 'messenger':
      case 'instagram': {
        const c = channel === 'messenger' ? tenant.channels.messenger : tenant.channels.instagram;
        if (!c) break;
        const ids = Object.keys('pages' in c ? c.pages : c.accounts);
        const product = channel === 'messenger' ? 'Messenger' : 'Instagram';
        const fields =
          channel === 'messenger'
            ? 'messages, messaging_postbacks, message_echoes'
            : 'messages, messaging_postbacks (Instagram delivers echoes inside "messages")';
        out.push({
          channel,
          url,
          steps: [
            `In the Meta App dashboard → ${product} → Settings → Webhooks, set`,
            `  Callback URL: ${url}`,
            `  Verify token: ${show(c.verifyToken)}`,
            `  then subscribe ${channel === 'messenger' ? 'page' : 'account'}(s) ${ids.join(', ')} to the fields: ${fields}.`,
          ],
        });
        break;
      }
      case 'whatsapp': {
        const c = tenant.channels.whatsapp;
        if (!c) break;
        out.push({
          channel,
          url,
          steps: [
            'In the Meta App dashboard → WhatsApp → Configuration → Webhook, set',
            `  Callback URL: ${url}`,
            `  Verify token: ${show(c.verifyToken)}`,
            `  then subscribe the field: messages (phone number id(s) ${c.phoneNumberIds.join(', ')}).`,
          ],
        });
        break;
      }
      case 'telegram': {
        const c = tenant.channels.telegram;
        if (!c) break;
        out.push({
          channel,
          url,
          steps: [
            'Register the webhook with the Bot API:',
            `  curl https://api.telegram.org/bot${show(c.botToken)}/setWebhook -d url=${sh(url)} -d secret_token=${sh(show(c.secretToken))}`,
          ],
        });
        break;
      }
      case 'zalo': {
        const c = tenant.channels.zalo;
        if (!c) break;
        out.push({
          channel,
          url,
          steps: [
            `In the Zalo developer console (developers.zalo.me) → your app → Webhook, set the URL for OA ${c.oaId}:`,
            `  ${url}`,
            '  and enable the user_send_* events (text, image, audio, video, file, sticker, link, location).',
          ],
        });
        break;
      }
    }
  }
  return out;
}

/** The setup as printable text. */
export function formatSetups(setups: readonly ChannelSetup[]): string {
  if (setups.length === 0) return 'No channel is configured yet.';
  return setups.map((s) => [`[${s.channel}] ${s.url}`, ...s.steps].join('\n')).join('\n\n');
}
