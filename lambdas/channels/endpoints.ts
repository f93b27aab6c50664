/**
 * Outbound API base URLs. The real hosts are the defaults; tests, sandboxes and the local
 * stack point them elsewhere with the environment variables named here. Paths appended to
 * them are exactly the real APIs' paths.
 */
import { ENV } from '../shared/env.js';

export const DEFAULT_API_BASES = {
  pancake: 'https://pages.fm',
  graph: 'https://graph.facebook.com',
  telegram: 'https://api.telegram.org',
  zalo: 'https://openapi.zalo.me',
} as const;

/** Graph API version used for Messenger, Instagram and WhatsApp sends. */
export const GRAPH_API_VERSION = 'v25.0';

export interface ApiBases {
  readonly pancake: string;
  readonly graph: string;
  readonly telegram: string;
  readonly zalo: string;
}

const trim = (url: string): string => url.replace(/\/+$/, '');

/** Base URLs from the environment, falling back to the real hosts. */
export function apiBases(env: NodeJS.ProcessEnv = process.env): ApiBases {
  return {
    pancake: trim(env[ENV.pancakeApiBase] || DEFAULT_API_BASES.pancake),
    graph: trim(env[ENV.graphApiBase] || DEFAULT_API_BASES.graph),
    telegram: trim(env[ENV.telegramApiBase] || DEFAULT_API_BASES.telegram),
    zalo: trim(env[ENV.zaloApiBase] || DEFAULT_API_BASES.zalo),
  };
}
