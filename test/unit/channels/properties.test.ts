import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adapterFor } from '../../../lambdas/channels/index.js';
import {
  escapedJsonBytes,
  MAX_ATTACHMENTS,
  MAX_EVENT_BYTES,
  textLimit,
} from '../../../lambdas/channels/limits.js';
import { InvalidPayloadError, InvalidSignatureError } from '../../../lambdas/shared/errors.js';
import {
  conversationPk,
  customerPk,
  historySk,
  messageGroupId,
  PK_MAX_BYTES,
  SK_MAX_BYTES,
} from '../../../lambdas/shared/keys.js';
import {
  CHANNELS,
  type ChannelName,
  type HumanActivity,
  humanActivitySchema,
  type NormalisedMessage,
  normalisedMessageSchema,
  type ParsedEvent,
} from '../../../lambdas/shared/model.js';
import { ctxFor, fixture, fixtureLines, post } from './helpers.js';

const RUNS = 150;

/** One documented fixture per channel: the structure mutations start from. */
const SEEDS: Record<ChannelName, Buffer[]> = {
  messenger: [fixture('messenger-batch-3x2.json'), fixture('messenger-echoes.json')],
  instagram: [fixture('instagram-messaging.json'), fixture('instagram-comments.json')],
  whatsapp: [fixture('whatsapp-messages.json'), fixture('whatsapp-smb-echoes.json')],
  telegram: [fixture('telegram-photo.json'), ...fixtureLines('telegram-other-updates.jsonl').slice(0, 2)],
  zalo: fixtureLines('zalo-events.jsonl').slice(0, 8),
  pancake: fixtureLines('pancake-events.jsonl').slice(0, 6),
};

/** What every message and human activity obeys whatever the body held (docs/channels.md, limits). */
function expectBounded(item: NormalisedMessage | HumanActivity): void {
  expect(escapedJsonBytes(item)).toBeLessThanOrEqual(MAX_EVENT_BYTES);
  expect(Number.isSafeInteger(item.timestamp)).toBe(true);
  expect(item.timestamp).toBeLessThanOrEqual(item.receivedAt);
  expect(Buffer.byteLength(conversationPk(item.conversationKey))).toBeLessThanOrEqual(PK_MAX_BYTES);
  expect(Buffer.byteLength(historySk(item.receivedAt, item.messageId))).toBeLessThanOrEqual(SK_MAX_BYTES);
  expect(messageGroupId(item.conversationKey).length).toBeLessThanOrEqual(128);
}

/** Calls `parse` and checks the outcome obeys the contract; returns the events (or undefined when rejected). */
function parseChecked(channel: ChannelName, body: Buffer): ParsedEvent[] | undefined {
  let events: ParsedEvent[];
  try {
    events = adapterFor(channel).parse(body, ctxFor(channel) as never);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidPayloadError);
    return undefined;
  }
  expect(Array.isArray(events)).toBe(true);
  for (const event of events) {
    if (event.type === 'message') {
      const m = event.message;
      expect(normalisedMessageSchema.safeParse(m).success).toBe(true);
      expect(m.messageId.trim()).not.toBe('');
      expect(m.conversationKey.startsWith(`acme#${channel}#`)).toBe(true);
      expect(m.conversationKey.length).toBeGreaterThan(`acme#${channel}#`.length);
      expectBounded(m);
      expect(m.text?.length ?? 0).toBeLessThanOrEqual(textLimit(channel, m.surface) + 40);
      expect(m.attachments.length).toBeLessThanOrEqual(MAX_ATTACHMENTS);
      expect(Buffer.byteLength(customerPk('acme', channel, m.customer.id))).toBeLessThanOrEqual(PK_MAX_BYTES);
    } else if (event.type === 'human-active') {
      expect(humanActivitySchema.safeParse(event.activity).success).toBe(true);
      expect(event.activity.conversationKey.startsWith(`acme#${channel}#`)).toBe(true);
      expectBounded(event.activity);
    } else {
      expect(event.type).toBe('ignored');
    }
  }
  return events;
}

function authenticateChecked(
  channel: ChannelName,
  body: Buffer,
  headers: Record<string, string>,
  query: Record<string, string>,
) {
  try {
    adapterFor(channel).authenticate(post(body, headers, query), ctxFor(channel) as never);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidSignatureError);
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path (list of keys/indices) into a JSON value. */
function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push(...paths(v, [...prefix, i]));
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  }
  return out;
}

function setAt(root: Json, path: (string | number)[], replacement: Json): Json {
  if (path.length === 0) return replacement;
  let node = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  node[path[path.length - 1]!] = replacement;
  return root;
}

/** Any JSON, plus the odd values platforms can sign: huge texts and ids, extreme numbers, lone surrogates. */
const oddJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(1e308, -1e308, 5e-324, 2 ** 64, 1e15, -1, 0.5, '\uD800', '\uDFFF\uD800'),
  fc
    .tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }), fc.integer({ min: 500, max: 20_000 }))
    .map(([unit, times]) => unit.repeat(times)),
  fc.integer({ min: 17, max: 6000 }).map((n) => '9'.repeat(n)),
);

const headerNames = fc.constantFrom(
  'x-hub-signature-256',
  'x-telegram-bot-api-secret-token',
  'x-zevent-signature',
  'x-pancake-signature',
  'x-pancake-timestamp',
  'content-type',
);
const headerValue = fc.oneof(
  fc.string(),
  fc.string().map((s) => `sha256=${s}`),
  fc.string().map((s) => `mac=${s}`),
  fc.stringMatching(/^sha256=[0-9a-f]{64}$/),
  fc.integer().map(String),
);

describe.each(CHANNELS)('%s adapter under arbitrary input', (channel) => {
  it('never throws anything but InvalidPayloadError from parse for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        parseChecked(channel, Buffer.from(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws anything but InvalidPayloadError from parse for arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        parseChecked(channel, Buffer.from(JSON.stringify(value) ?? 'null'));
      }),
      { numRuns: RUNS },
    );
  });

  it('keeps the contract when any part of a documented body is replaced by arbitrary JSON', () => {
    const seeds = SEEDS[channel].map((b) => b.toString('utf8'));
    fc.assert(
      fc.property(
        fc.nat({ max: seeds.length - 1 }),
        fc.array(fc.tuple(fc.nat(), oddJson), { minLength: 1, maxLength: 4 }),
        (seedIndex, mutations) => {
          let value = JSON.parse(seeds[seedIndex]!) as Json;
          for (const [pick, replacement] of mutations) {
            const all = paths(value);
            value = setAt(value, all[pick % all.length]!, replacement as Json);
          }
          parseChecked(channel, Buffer.from(JSON.stringify(value) ?? 'null'));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('never throws anything but InvalidSignatureError from authenticate', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
          fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '')),
          fc
            .record({ app_id: fc.jsonValue(), timestamp: fc.jsonValue() })
            .map((v) => Buffer.from(JSON.stringify(v))),
        ),
        fc.dictionary(headerNames, headerValue),
        fc.dictionary(fc.constantFrom('token', 'hub.mode'), fc.string()),
        (body, headers, query) => {
          authenticateChecked(channel, body, headers, query);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('documented bodies', () => {
  it('all parse into events that satisfy the contract', () => {
    let total = 0;
    for (const channel of CHANNELS) {
      for (const seed of SEEDS[channel]) {
        const events = parseChecked(channel, seed);
        expect(events).toBeDefined();
        total += events?.length ?? 0;
      }
    }
    expect(total).toBeGreaterThan(30);
  });
});
