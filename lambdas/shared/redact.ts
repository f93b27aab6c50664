/**
 * The process-wide set of known secrets and the function that blanks them out of log text.
 *
 * `loadTenant()` registers the secrets of every tenant document it loads
 * ({@link registerTenantSecrets}); the shared Powertools Logger runs {@link redactSecrets} over
 * every string value of every log line it writes. So a platform error that quotes an access
 * token ("Error validating access token EAAG…") reaches the logs as `[REDACTED]`, whichever
 * handler logs it and however the text travelled (error message, cause, stack, extra key).
 *
 * The rule (docs/tenants.md): every string leaf under `channels.*` of a tenant document is a
 * secret, except the fields whose name ends in `Id` or `Ids` (page, phone-number, OA and app ids
 * are public identifiers; record keys such as page ids are keys, never leaves) and strings
 * shorter than {@link MIN_SECRET_LENGTH}. For each secret its URL-encoded form is registered
 * too, and for a Telegram bot token (`<botId>:<secret>`) its secret half on its own.
 *
 * A secret is also redacted when only a prefix of it appears (senders cut platform messages at
 * 200 characters, which can cut a long token): any run of at least
 * {@link MIN_PARTIAL_LENGTH} characters that starts a secret is replaced, up to where the text
 * stops matching it. Shorter prefixes are left alone: a secret may start with ordinary words
 * ("messenger-…") or, for Telegram, with the public bot id.
 */

/** What replaces a secret in a log line. */
export const REDACTED = '[REDACTED]';

/**
 * Strings shorter than this are not treated as secrets: a short value ("verify", "1") would
 * blank out ordinary words in every log line, and is no real secret anyway.
 */
export const MIN_SECRET_LENGTH = 8;

/** Shortest prefix of a secret that is redacted on its own (a cut-off token). */
export const MIN_PARTIAL_LENGTH = 16;

/** Secrets by their first {@link MIN_SECRET_LENGTH} characters (the part the scan looks for). */
const byHead = new Map<string, string[]>();
let pattern: RegExp | undefined;

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function addSecret(secret: string): boolean {
  if (secret.length < MIN_SECRET_LENGTH) return false;
  const head = secret.slice(0, MIN_SECRET_LENGTH);
  const list = byHead.get(head);
  if (list === undefined) {
    byHead.set(head, [secret]);
    return true;
  }
  if (list.includes(secret)) return false;
  list.push(secret);
  return true;
}

/**
 * Registers secret values. Returns how many were new. Values shorter than
 * {@link MIN_SECRET_LENGTH} are ignored; the URL-encoded form of each is registered as well.
 */
export function registerSecrets(values: Iterable<string>): number {
  let added = 0;
  for (const value of values) {
    if (addSecret(value)) added += 1;
    const encoded = encodeURIComponent(value);
    if (encoded !== value && addSecret(encoded)) added += 1;
  }
  if (added > 0) {
    pattern = new RegExp([...byHead.keys()].map(escapeRegExp).join('|'), 'g');
  }
  return added;
}

/** The secret values of a tenant document's `channels` object, per the rule above. */
export function tenantSecretValues(channels: unknown): string[] {
  const out: string[] = [];
  const visit = (value: unknown, key: string | undefined): void => {
    if (typeof value === 'string') {
      if (key !== undefined && /Ids?$/.test(key)) return;
      out.push(value);
      // Telegram: `<botId>:<secret>`; the secret half is a secret on its own.
      const colon = value.indexOf(':');
      if (key === 'botToken' && colon > 0) out.push(value.slice(colon + 1));
      return;
    }
    if (Array.isArray(value)) {
      for (const item of value) visit(item, key);
      return;
    }
    if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) visit(v, k);
    }
  };
  if (typeof channels === 'object' && channels !== null) {
    for (const config of Object.values(channels)) visit(config, undefined);
  }
  return out;
}

let registeredDocuments = new WeakSet<object>();

/**
 * Registers the secrets of a tenant document (see the module doc for the rule). Cheap to call
 * on every load: a document object already registered is skipped.
 */
export function registerTenantSecrets(doc: { readonly channels?: unknown }): void {
  if (registeredDocuments.has(doc)) return;
  registeredDocuments.add(doc);
  registerSecrets(tenantSecretValues(doc.channels));
}

/**
 * Replaces every known secret in `text`, and every prefix of one at least
 * {@link MIN_PARTIAL_LENGTH} characters long, with {@link REDACTED}.
 */
export function redactSecrets(text: string): string {
  if (pattern === undefined || text.length < MIN_SECRET_LENGTH) return text;
  pattern.lastIndex = 0;
  let match = pattern.exec(text);
  if (match === null) return text;
  let out = '';
  let copied = 0;
  while (match !== null) {
    const start = match.index;
    // The longest stretch from here that is a whole secret, or a long enough prefix of one.
    let end = -1;
    for (const secret of byHead.get(match[0]) ?? []) {
      let i = MIN_SECRET_LENGTH;
      while (i < secret.length && start + i < text.length && text[start + i] === secret[i]) i += 1;
      if (i === secret.length || i >= MIN_PARTIAL_LENGTH) end = Math.max(end, start + i);
    }
    if (end > start) {
      out += text.slice(copied, start) + REDACTED;
      copied = end;
      pattern.lastIndex = end;
    } else {
      pattern.lastIndex = start + 1;
    }
    match = pattern.exec(text);
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** Forgets every registered secret (tests only). */
export function clearSecrets(): void {
  byHead.clear();
  registeredDocuments = new WeakSet<object>();
  pattern = undefined;
}
