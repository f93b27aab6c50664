/**
 * The six channel adapters behind one contract ({@link ChannelAdapter}).
 */
import type { ChannelName } from '../shared/model.js';
import { instagramAdapter } from './instagram.js';
import { messengerAdapter } from './messenger.js';
import { pancakeAdapter } from './pancake.js';
import { telegramAdapter } from './telegram.js';
import type { ChannelAdapter } from './types.js';
import { whatsappAdapter } from './whatsapp.js';
import { zaloAdapter } from './zalo.js';

/** Every adapter, by channel. */
export const ADAPTERS: { readonly [C in ChannelName]: ChannelAdapter<C> } = {
  pancake: pancakeAdapter,
  messenger: messengerAdapter,
  instagram: instagramAdapter,
  whatsapp: whatsappAdapter,
  telegram: telegramAdapter,
  zalo: zaloAdapter,
};

/** The adapter of `channel`. */
export function adapterFor<C extends ChannelName>(channel: C): ChannelAdapter<C> {
  return ADAPTERS[channel] as ChannelAdapter<C>;
}

export { PAGE_INBOX_APP_IDS } from './meta.js';
export { instagramAdapter, messengerAdapter, pancakeAdapter, telegramAdapter, whatsappAdapter, zaloAdapter };
