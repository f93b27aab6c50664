/**
 * Editing tenant documents for the CLI: applying `--set` operations, generating the secrets a
 * platform is told about (webhook, verify and secret tokens), and masking tokens for display.
 */
import { randomBytes } from 'node:crypto';
import type { ChannelName } from '../../lambdas/shared/model.js';
import type { SetOperation } from './args.js';
import { UsageError } from './args.js';

/** A tenant document being edited (validated only before it is written). */
export type DraftDocument = Record<string, unknown> & { channels?: Record<string, unknown> };

/** Fields holding lists, given on the command line comma-separated. */
const LIST_FIELDS = new Set(['pageIds', 'phoneNumberIds', 'bannedPhrases']);
/** Numeric and boolean document fields (everything else is a string). */
const NUMBER_FIELDS = new Set(['debounceMs', 'maxTurnWaitMs', 'humanTakeoverMinutes']);
const BOOLEAN_FIELDS = new Set(['sendFallbackOnFailure']);

/** Fields whose values are credentials: masked by `show`. */
export const SECRET_FIELDS = new Set([
  'pageAccessToken',
  'webhookToken',
  'signingSecret',
  'appSecret',
  'verifyToken',
  'accessToken',
  'botToken',
  'secretToken',
  'oaSecretKey',
]);
/** Fields whose every value is a credential (per-page token maps). */
const SECRET_MAPS = new Set(['pageAccessTokens']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function coerce(field: string, raw: string): unknown {
  if (LIST_FIELDS.has(field)) {
    if (raw.trimStart().startsWith('[')) {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        throw new UsageError(`--set ${field}: "${raw}" is not a JSON list; or give items comma-separated.`);
      }
    }
    return raw === '' ? [] : raw.split(',').map((item) => item.trim());
  }
  if (NUMBER_FIELDS.has(field)) {
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value)) {
      throw new UsageError(`--set ${field}: "${raw}" is not a number.`);
    }
    return value;
  }
  if (BOOLEAN_FIELDS.has(field)) {
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    throw new UsageError(`--set ${field}: use true or false, not "${raw}".`);
  }
  return raw;
}

/** Applies `--set` operations in order; a channel named with `--channel` is created when absent. */
export function applySets(
  doc: DraftDocument,
  channels: readonly ChannelName[],
  sets: readonly SetOperation[],
): void {
  if (!isRecord(doc.channels)) doc.channels = {};
  const docChannels = doc.channels;
  for (const channel of channels) {
    if (!isRecord(docChannels[channel])) docChannels[channel] = {};
  }
  for (const op of sets) {
    let target: Record<string, unknown> =
      op.channel === undefined ? doc : (docChannels[op.channel] as Record<string, unknown>);
    const path = op.path;
    for (let i = 0; i < path.length - 1; i += 1) {
      const key = path[i]!;
      const next = target[key];
      if (next !== undefined && !isRecord(next)) {
        throw new UsageError(
          `--set ${path.join('.')}: "${path.slice(0, i + 1).join('.')}" is not an object.`,
        );
      }
      if (next === undefined) target[key] = {};
      target = target[key] as Record<string, unknown>;
    }
    const field = path[path.length - 1]!;
    target[field] = coerce(field, op.value);
  }
}

/** A random URL-safe token (also valid for Telegram's `secret_token` alphabet `A-Za-z0-9_-`). */
export function generateToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** The generated field of each channel: what the operator pastes into the platform. */
const GENERATED: Partial<Record<ChannelName, string>> = {
  pancake: 'webhookToken',
  messenger: 'verifyToken',
  instagram: 'verifyToken',
  whatsapp: 'verifyToken',
  telegram: 'secretToken',
};

/** Fills in missing webhook/verify/secret tokens; returns the `channel.field` names generated. */
export function generateMissingTokens(doc: DraftDocument): string[] {
  const generated: string[] = [];
  const docChannels = isRecord(doc.channels) ? doc.channels : {};
  for (const [channel, field] of Object.entries(GENERATED) as [ChannelName, string][]) {
    const config = docChannels[channel];
    if (!isRecord(config)) continue;
    if (config[field] === undefined || config[field] === '') {
      config[field] = generateToken();
      generated.push(`${channel}.${field}`);
    }
  }
  return generated;
}

/** `****` + the last 4 characters (everything masked when the value is too short to show any). */
export function maskToken(value: string): string {
  return value.length > 8 ? `****${value.slice(-4)}` : '****';
}

/** A deep copy with every credential masked. */
export function maskDocument<T>(value: T, key?: string, inSecretMap = false): T {
  if (typeof value === 'string') {
    return (inSecretMap || (key !== undefined && SECRET_FIELDS.has(key)) ? maskToken(value) : value) as T;
  }
  if (Array.isArray(value)) return value.map((item) => maskDocument(item, key, inSecretMap)) as T;
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = maskDocument(v, k, inSecretMap || SECRET_MAPS.has(k));
    }
    return out as T;
  }
  return value;
}
