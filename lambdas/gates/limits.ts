/**
 * Per-channel limits on one outbound text message, in UTF-16 code units (JavaScript string
 * length). Platforms count "characters"; a UTF-16 count is never smaller than a code-point
 * count, so staying under it is safe for both readings.
 */
import type { ChannelName } from '../shared/model.js';

/**
 * Maximum characters per outbound text message, with the source of each number
 * (see /work/shared/reference/channels.md):
 * - messenger 2000: Messenger Platform "send-messages" (confirmed).
 * - instagram 1000: Instagram Messaging send API (confirmed).
 * - whatsapp 4096: WhatsApp Cloud API text message `body` (confirmed).
 * - telegram 4096: Bot API `sendMessage` text, 1–4096 characters (confirmed).
 * - zalo 2000: Zalo OA consultation message text (unconfirmed: secondary sources only).
 * - pancake 2000: not documented by Pancake (unconfirmed); set to the strictest limit of the
 *   inboxes it fronts that carry long text (Facebook 2000); Instagram pages behind Pancake are
 *   still bounded by Instagram's own 1000 on Pancake's side.
 */
export const MAX_REPLY_LENGTH: Readonly<Record<ChannelName, number>> = {
  messenger: 2000,
  instagram: 1000,
  whatsapp: 4096,
  telegram: 4096,
  zalo: 2000,
  pancake: 2000,
};

/** Maximum characters per outbound text message on `channel`. */
export function maxReplyLength(channel: ChannelName): number {
  return MAX_REPLY_LENGTH[channel];
}
