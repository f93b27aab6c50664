/**
 * Outbound API base URLs. The real hosts are the defaults; tests, sandboxes and the local
 * stack point them elsewhere with the environment variables named here. Paths appended to
 * them are exactly the real APIs' paths.
 */
import { DEFAULTS, GRAPH_API_VERSION_PATTERN } from '../contracts/defaults.js';
import { ENV } from '../shared/env.js';
import { ConfigurationError } from '../shared/errors.js';

export const DEFAULT_API_BASES = {
  pancake: 'https://pages.fm',
  graph: 'https://graph.facebook.com',
  telegram: 'https://api.telegram.org',
  zalo: 'https://openapi.zalo.me',
} as const;

/** Default Graph API version of Messenger, Instagram and WhatsApp calls (`GRAPH_API_VERSION` overrides it). */
export const GRAPH_API_VERSION = DEFAULTS.graphApiVersion;

export interface ApiBases {
  readonly pancake: string;
  readonly graph: string;
  readonly telegram: string;
  readonly zalo: string;
  /** Graph API version put after the graph base. @default GRAPH_API_VERSION */
  readonly graphVersion?: string;
}

const trim = (url: string): string => url.replace(/\/+$/, '');

/** Base URLs from the environment, falling back to the real hosts. */
export function apiBases(env: NodeJS.ProcessEnv = process.env): ApiBases {
  return {
    pancake: trim(env[ENV.pancakeApiBase] || DEFAULT_API_BASES.pancake),
    graph: trim(env[ENV.graphApiBase] || DEFAULT_API_BASES.graph),
    telegram: trim(env[ENV.telegramApiBase] || DEFAULT_API_BASES.telegram),
    zalo: trim(env[ENV.zaloApiBase] || DEFAULT_API_BASES.zalo),
    graphVersion: graphApiVersion(env),
  };
}

/**
 * The Graph API version from `GRAPH_API_VERSION`, else the default. A malformed value is a
 * deployment mistake (the construct rejects it at synth), so it fails loudly rather than
 * sending every call to a path Meta answers with an error.
 */
export function graphApiVersion(env: NodeJS.ProcessEnv = process.env): string {
  const value = env[ENV.graphApiVersion];
  if (value === undefined || value === '') return GRAPH_API_VERSION;
  if (!GRAPH_API_VERSION_PATTERN.test(value)) {
    throw new ConfigurationError(
      `Environment variable ${ENV.graphApiVersion} must look like "v25.0"; got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

/** `{graph base}/{version}`: the root every Messenger, Instagram and WhatsApp API path hangs from. */
export function graphRoot(bases: ApiBases): string {
  return `${bases.graph}/${bases.graphVersion ?? GRAPH_API_VERSION}`;
}
