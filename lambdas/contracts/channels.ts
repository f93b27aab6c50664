/** The channels chat-relay speaks, shared by the constructs (dashboard, validation) and the runtime. */

/** The channels chat-relay speaks. */
export const CHANNELS = ['pancake', 'messenger', 'instagram', 'whatsapp', 'telegram', 'zalo'] as const;
/** One of {@link CHANNELS}. */
export type ChannelName = (typeof CHANNELS)[number];

/** True when `value` names a supported channel. */
export function isChannelName(value: string): value is ChannelName {
  return (CHANNELS as readonly string[]).includes(value);
}
