/**
 * The sender registry: one {@link ChannelSender} per channel. `senderFor(channel)` returns the
 * shared default sender (base URLs from the environment, no rate limiter), which is what the
 * conversation actor uses for `typing`; delivery builds its own with `createSender(channel,
 * { beforeCall })` to put its per-page rate limiter in front of every call.
 */
import type { ChannelName } from '../../shared/model.js';
import type { ChannelSender } from '../types.js';
import type { SenderOptions } from './http.js';
import { createInstagramSender, createMessengerSender, createWhatsappSender } from './meta.js';
import { createPancakeSender } from './pancake.js';
import { createTelegramSender } from './telegram.js';
import { createZaloSender } from './zalo.js';

export type { CallKind, SenderOptions } from './http.js';
export { createInstagramSender, createMessengerSender, createWhatsappSender, graphError } from './meta.js';
export { createPancakeSender, pancakeError } from './pancake.js';
export { createTelegramSender, telegramError } from './telegram.js';
export { createZaloSender, zaloError } from './zalo.js';

const FACTORIES: Record<ChannelName, (options?: SenderOptions) => ChannelSender> = {
  pancake: createPancakeSender,
  messenger: createMessengerSender,
  instagram: createInstagramSender,
  whatsapp: createWhatsappSender,
  telegram: createTelegramSender,
  zalo: createZaloSender,
};

/** Creates a sender for `channel` with the given options. */
export function createSender(channel: ChannelName, options: SenderOptions = {}): ChannelSender {
  return FACTORIES[channel](options);
}

const defaults = new Map<ChannelName, ChannelSender>();

/** The shared default sender of `channel`. */
export function senderFor(channel: ChannelName): ChannelSender {
  let sender = defaults.get(channel);
  if (!sender) {
    sender = createSender(channel);
    defaults.set(channel, sender);
  }
  return sender;
}
