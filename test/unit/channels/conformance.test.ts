/**
 * Conformance against the corpus of published webhook bodies (issue 13): each payload of
 * `<repo>/../shared/corpus/manifest.json` is signed for a test tenant subscribed to the page /
 * phone number it is addressed to, authenticated and parsed by the channel's adapter, and its
 * events are compared with the manifest's expected classification, one per item. Nothing of the
 * corpus is copied into the repository: the test reads it beside the clone (as CI checks it out)
 * and is skipped, saying so, only when that folder is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { arr, idOf, obj, parseJsonObject } from '../../../lambdas/channels/common.js';
import { adapterFor } from '../../../lambdas/channels/index.js';
import { TELEGRAM_SECRET_HEADER } from '../../../lambdas/channels/telegram.js';
import type { AdapterContext } from '../../../lambdas/channels/types.js';
import type { ChannelName, ParsedEvent } from '../../../lambdas/shared/model.js';
import { type ChannelConfigs, parseTenantDocument } from '../../../lambdas/shared/tenant.js';
import { hubSignature, post, RECEIVED_AT, TENANT } from './helpers.js';

const CORPUS = fileURLToPath(new URL('../../../../shared/corpus/', import.meta.url));
const MANIFEST = `${CORPUS}manifest.json`;

interface Expectation {
  readonly class: 'customer-message' | 'echo' | 'human-agent' | 'receipt/other';
  readonly kind?: string;
}

interface ManifestItem {
  readonly file: string;
  readonly channel: ChannelName;
  readonly source: string;
  readonly kind: string;
  readonly expected: readonly Expectation[];
  readonly note?: string;
}

/**
 * Expectations of the manifest this test replaces, with the platform documentation that decides.
 * Keep the payload; assert what the docs say.
 */
const OVERRIDES: Readonly<Record<string, { readonly expected: readonly string[]; readonly source: string }>> =
  {};

/** One event as the manifest names its class. */
function classify(event: ParsedEvent): string {
  if (event.type === 'message') return `customer-message:${event.message.kind}`;
  if (event.type === 'human-active') return event.activity.action === 'resume' ? 'resume' : 'human-agent';
  return event.reason === 'echo' ? 'echo' : 'receipt/other';
}

const expectedOf = (item: ManifestItem): string[] =>
  item.expected.map((e) => (e.class === 'customer-message' ? `${e.class}:${e.kind}` : e.class));

/** The page / account / phone number ids a Meta body is addressed to (the tenant subscribes them). */
function metaAccounts(body: Buffer): string[] {
  const ids = new Set<string>();
  for (const rawEntry of arr(parseJsonObject(body).entry)) {
    const entry = obj(rawEntry);
    const id = idOf(entry?.id);
    if (id) ids.add(id);
    for (const change of arr(entry?.changes)) {
      const phone = idOf(obj(obj(obj(change)?.value)?.metadata)?.phone_number_id);
      if (phone) ids.add(phone);
    }
  }
  return [...ids];
}

/** The test tenant, subscribed to what `body` is addressed to, and the signed request. */
function signed(channel: ChannelName, body: Buffer) {
  const accounts = channel === 'telegram' ? [] : metaAccounts(body);
  const pages = Object.fromEntries(accounts.map((id) => [id, { accessToken: `token-${id}` }]));
  const channels = {
    ...TENANT.channels,
    messenger: { ...TENANT.channels.messenger, pages: { ...TENANT.channels.messenger?.pages, ...pages } },
    instagram: {
      ...TENANT.channels.instagram,
      accounts: { ...TENANT.channels.instagram?.accounts, ...pages },
    },
    whatsapp: {
      ...TENANT.channels.whatsapp,
      phoneNumberIds: [...(TENANT.channels.whatsapp?.phoneNumberIds ?? []), ...accounts],
    },
  };
  const tenant = parseTenantDocument({ ...TENANT, channels });
  const config = tenant.channels[channel] as ChannelConfigs[typeof channel];
  const ctx = { tenant, config, receivedAt: RECEIVED_AT } as AdapterContext<typeof channel>;
  const headers: Record<string, string> =
    channel === 'telegram'
      ? { [TELEGRAM_SECRET_HEADER]: (config as ChannelConfigs['telegram']).secretToken }
      : { 'x-hub-signature-256': hubSignature((config as ChannelConfigs['messenger']).appSecret, body) };
  return { ctx, request: post(body, headers) };
}

const present = existsSync(MANIFEST);
const manifest: ManifestItem[] = present ? JSON.parse(readFileSync(MANIFEST, 'utf8')) : [];

describe.skipIf(!present)(
  `Conformance corpus${present ? '' : ` (skipped: ${MANIFEST} is absent; clone the shared corpus beside the repository)`}`,
  () => {
    it('holds the 132 payloads of issue 13', () => {
      expect(manifest).toHaveLength(132);
    });

    it.each(
      manifest.map((item) => [`${item.channel} ${item.file.split('/').pop()} (${item.kind})`, item] as const),
    )('%s is classified as the platform documents it', (_name, item) => {
      const body = readFileSync(`${CORPUS}${item.file}`);
      const adapter = adapterFor(item.channel);
      const { ctx, request } = signed(item.channel, body);
      expect(() => adapter.authenticate(request, ctx)).not.toThrow();
      const events = adapter.parse(request.rawBody, ctx);
      const override = OVERRIDES[item.file];
      expect(events.map(classify)).toEqual(override ? override.expected : expectedOf(item));
    });
  },
);
