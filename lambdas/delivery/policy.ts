/**
 * Pure delivery policy: retry backoff, messaging windows and typing delays. No I/O here.
 */
import type { ChannelName } from '../shared/model.js';

const HOUR = 3_600_000;

/**
 * How long after the customer's last message each channel lets a business answer freely:
 * 24 h on Messenger, Instagram and WhatsApp, 48 h on Zalo (consultation window). Pancake and
 * Telegram have no window we can check.
 */
export const MESSAGING_WINDOW_MS: Readonly<Partial<Record<ChannelName, number>>> = {
  messenger: 24 * HOUR,
  instagram: 24 * HOUR,
  whatsapp: 24 * HOUR,
  zalo: 48 * HOUR,
};

/** True when a reply sent now would fall outside the channel's messaging window. */
export function windowClosed(channel: ChannelName, customerLastMessageAt: number, now: number): boolean {
  const window = MESSAGING_WINDOW_MS[channel];
  return window !== undefined && now - customerLastMessageAt > window;
}

export interface BackoffOptions {
  /** First delay. @default 2000 */
  readonly baseMs?: number;
  /** Largest delay from the exponential schedule. @default 900000 (15 min) */
  readonly capMs?: number;
  /** Random source in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** SQS's largest visibility timeout: 12 hours. */
export const MAX_VISIBILITY_SECONDS = 43_200;

/**
 * Visibility timeout (whole seconds, ≥ 1) before retry number `attempt` (1 = after the first
 * failure): exponential from `baseMs`, capped at `capMs`, with "equal jitter" (half fixed,
 * half random), and never shorter than what the platform asked for (`Retry-After`).
 */
export function backoffSeconds(
  attempt: number,
  retryAfterMs: number | undefined,
  options: BackoffOptions = {},
): number {
  const base = options.baseMs ?? 2000;
  const cap = options.capMs ?? 900_000;
  const random = options.random ?? Math.random;
  const exp = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
  let delay = exp / 2 + random() * (exp / 2);
  if (retryAfterMs !== undefined && retryAfterMs > delay) delay = retryAfterMs;
  return Math.min(MAX_VISIBILITY_SECONDS, Math.max(1, Math.ceil(delay / 1000)));
}

export interface TypingDelayOptions {
  /** @default 30 */
  readonly msPerChar?: number;
  /** @default 3000 */
  readonly capMs?: number;
}

/** The pause that makes a reply of `text` look typed: proportional to its length, capped. */
export function typingDelayMs(text: string | undefined, options: TypingDelayOptions = {}): number {
  const perChar = options.msPerChar ?? 30;
  const cap = options.capMs ?? 3000;
  return Math.min(cap, Math.max(0, [...(text ?? '')].length * perChar));
}
