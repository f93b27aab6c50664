/**
 * Fixtures and request builders for the channel adapter tests.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { adapterFor } from '../../../lambdas/channels/index.js';
import type { AdapterContext, WebhookRequest } from '../../../lambdas/channels/types.js';
import type {
  ChannelName,
  HumanActivity,
  NormalisedMessage,
  ParsedEvent,
} from '../../../lambdas/shared/model.js';
import {
  type ChannelConfigs,
  parseTenantDocument,
  type TenantDocument,
} from '../../../lambdas/shared/tenant.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/channels/', import.meta.url));

/** The exact bytes of a fixture file. */
export function fixture(name: string): Buffer {
  return readFileSync(`${FIXTURES}${name}`);
}

/** The lines of a JSON Lines fixture, each as its exact bytes. */
export function fixtureLines(name: string): Buffer[] {
  return fixture(name)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => Buffer.from(line, 'utf8'));
}

/** The test tenant (every channel configured). */
export const TENANT: TenantDocument = parseTenantDocument(
  JSON.parse(fixture('tenant.json').toString('utf8')),
);

/** After every fixture's timestamps (a platform time later than receipt is clamped to it). */
export const RECEIVED_AT = 1_750_000_000_000;

/** The adapter context for `channel` of the test tenant (optionally with config overrides). */
export function ctxFor<C extends ChannelName>(
  channel: C,
  overrides: Partial<ChannelConfigs[C]> = {},
  receivedAt = RECEIVED_AT,
): AdapterContext<C> {
  const config = { ...(TENANT.channels[channel] as ChannelConfigs[C]), ...overrides };
  return { tenant: TENANT, config, receivedAt };
}

/** A POST request with these bytes. */
export function post(
  rawBody: Buffer,
  headers: Record<string, string> = {},
  query: Record<string, string> = {},
  receivedAt = RECEIVED_AT,
): WebhookRequest {
  return { method: 'POST', rawBody, headers, query, receivedAt };
}

export const hubSignature = (secret: string, body: Buffer): string =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

export const zaloMac = (appId: string, body: Buffer, timestamp: string, key: string): string =>
  `mac=${createHash('sha256').update(appId).update(body).update(timestamp).update(key).digest('hex')}`;

/** Parses `body` with the channel's adapter for the test tenant. */
export function parse<C extends ChannelName>(
  channel: C,
  body: Buffer,
  overrides: Partial<ChannelConfigs[C]> = {},
) {
  return adapterFor(channel).parse(body, ctxFor(channel, overrides));
}

/** The messages among parsed events. */
export function messages(events: readonly ParsedEvent[]): NormalisedMessage[] {
  return events.flatMap((e) => (e.type === 'message' ? [e.message] : []));
}

/** The human activities among parsed events. */
export function humans(events: readonly ParsedEvent[]): HumanActivity[] {
  return events.flatMap((e) => (e.type === 'human-active' ? [e.activity] : []));
}

/** `type` or `ignored:<reason>` of each event, in order. */
export function outcomes(events: readonly ParsedEvent[]): string[] {
  return events.map((e) => (e.type === 'ignored' ? `ignored:${e.reason}` : e.type));
}
