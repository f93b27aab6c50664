/**
 * The grounding gate: a price, phone number, URL or order status in a reply must appear in the
 * evidence — the retrieved passages, the tool results, the conversation (history, this turn,
 * the customer's profile and facts) or the tenant's persona. A hallucinated price is the
 * costliest mistake a shop bot can make, so the check is on values, not wording:
 *
 * - prices are normalised before comparing: `199.000đ`, `199,000 VND`, `199k`, `199 nghìn`,
 *   `1,2 triệu`, `1tr2`, `$19.99` become numbers, and a price is grounded when the evidence
 *   holds the same number in any of those spellings (a catalogue's bare `199000` included);
 * - phone numbers compare by digits (`+84 912 345 678` = `0912.345.678`);
 * - URLs compare without scheme, `www.`, case of the host or a trailing slash;
 * - an order status ("đơn hàng … đã được giao", "your order has shipped") must be backed by a
 *   status of the same kind in the retrieved passages, the tool results or an earlier bot or
 *   agent message (`"status": "delivered"` backs "đã giao") — not by the customer's question.
 */
import type { ResponderReply, TurnContext } from '../responders/types.js';
import { foldText } from './normalise.js';

/** Kinds of grounded facts. */
export type GroundedKind = 'price' | 'phone' | 'url' | 'order status';

/** A fact in a reply the evidence does not back. */
export interface UngroundedFact {
  readonly kind: GroundedKind;
  /** As written in the reply. */
  readonly text: string;
}

// ---------- numbers and prices ----------

/**
 * The values a number token may mean. The last separator decides: followed by one, two or four+
 * digits it is a decimal point (`19.99`, `1,2`, `1,299.99`); followed by exactly three it groups
 * thousands (`199.000`, `1.200.000`), and with a single separator the decimal reading is kept
 * too (`1.500` may be 1.5) unless `grouped` (a đồng amount has no decimals).
 */
export function numberReadings(token: string, grouped = false): number[] {
  const last = Math.max(token.lastIndexOf('.'), token.lastIndexOf(','));
  if (last < 0) return /^\d+$/.test(token) ? [Number(token)] : [];
  const before = token.slice(0, last).replace(/[.,]/g, '');
  const after = token.slice(last + 1);
  if (!/^\d+$/.test(before) || !/^\d+$/.test(after)) return [];
  if (after.length !== 3) return [Number(`${before}.${after}`)];
  const out = [Number(`${before}${after}`)];
  const separators = token.match(/[.,]/g)?.length ?? 0;
  if (!grouped && separators === 1) out.push(Number(`${before}.${after}`));
  return out;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

/** Number token: digits with `.`/`,` group or decimal separators (spaces between groups of three too). */
const NUM = String.raw`\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d+)?`;

/** A price in text: what was written and its possible values. */
interface PriceMatch {
  readonly text: string;
  readonly values: readonly number[];
}

const MULTIPLIERS: Record<string, number> = {
  k: 1000,
  nghin: 1000,
  ngan: 1000,
  tr: 1_000_000,
  trieu: 1_000_000,
  cu: 1_000_000,
  ty: 1_000_000_000,
};

/**
 * Prices in `text` (folded: lower case, no diacritics, `đ` → `d`, so `199.000đ` is `199.000d`).
 * Currency after (`199.000d`, `199.000 vnd`, `199k`, `1,2 trieu`, `1tr2`, `19.99 usd`, `19.99$`)
 * or before (`$19.99`, `vnd 199.000`, `gia 199.000`).
 */
function findPrices(folded: string): PriceMatch[] {
  const out: PriceMatch[] = [];
  const taken: [number, number][] = [];
  const after = new RegExp(
    String.raw`(?<![\p{L}\p{N}])(${NUM})\s?(k|nghin|ngan|tr|trieu|cu|ty)(\d{1,3})?(?![\p{L}\p{N}])|(?<![\p{L}\p{N}])(${NUM})\s?(d|dong|vnd|usd|\$|€|eur)(?![\p{L}\p{N}])`,
    'gu',
  );
  for (const m of folded.matchAll(after)) {
    taken.push([m.index, m.index + m[0].length]);
    if (m[1] !== undefined) {
      const unit = MULTIPLIERS[m[2]!]!;
      // `1tr2` = 1.2 million; `2k5` = 2500.
      const tail = m[3] !== undefined ? Number(`0.${m[3]}`) : 0;
      const values = numberReadings(m[1]).map((n) => round2((n + (Number.isInteger(n) ? tail : 0)) * unit));
      out.push({ text: m[0], values });
    } else if (m[4] !== undefined) {
      const dong = ['d', 'dong', 'vnd'].includes(m[5]!);
      out.push({ text: m[0], values: numberReadings(m[4], dong).map(round2) });
    }
  }
  const before = new RegExp(
    String.raw`(?:\$|€|(?<![\p{L}])(?:usd|vnd|gia(?:\s(?:la|chi|ban|goc|moi|khuyen mai|km|sale|uu dai|con))?:?))\s?(${NUM})(?![\p{L}\p{N}]|[.,]\d)`,
    'gu',
  );
  for (const m of folded.matchAll(before)) {
    const end = m.index + m[0].length;
    // `giá 199.000đ` is already a price with its currency after it.
    if (taken.some(([from, to]) => m.index < to && end > from)) continue;
    out.push({ text: m[0], values: numberReadings(m[1]!).map(round2) });
  }
  return out;
}

/** Every value a number in the evidence may stand for (prices, bare catalogue numbers, `k`/`triệu` forms). */
function evidenceNumbers(folded: string): Set<number> {
  const values = new Set<number>();
  for (const m of folded.matchAll(new RegExp(NUM, 'g'))) {
    for (const n of numberReadings(m[0])) values.add(round2(n));
  }
  for (const price of findPrices(folded)) for (const v of price.values) values.add(v);
  return values;
}

// ---------- phones ----------

/** Phone-like runs: `+84…`, `0…` or `1800/1900…`, 8–15 digits with spaces, dots, dashes, brackets. */
const PHONE = /(?<![\p{L}\p{N}\-/.])(\+?\(?\d[\d\s.()-]{6,20}\d)(?![\p{L}\p{N}])/gu;

/** The canonical digits of a phone number (`+84` becomes `0`), or undefined when it is not one. */
export function phoneDigits(text: string): string | undefined {
  let digits = text.replace(/\D/g, '');
  if (text.trim().startsWith('+84')) digits = `0${digits.slice(2)}`;
  else if (text.trim().startsWith('+')) digits = `+${digits}`;
  const bare = digits.replace(/^\+/, '');
  if (bare.length < 8 || bare.length > 15) return undefined;
  if (!(digits.startsWith('0') || digits.startsWith('+') || /^1[89]00/.test(digits))) return undefined;
  return digits;
}

function findPhones(text: string): { text: string; digits: string }[] {
  const out: { text: string; digits: string }[] = [];
  for (const m of text.matchAll(PHONE)) {
    const raw = m[1]!.trim();
    // A date (`01.02.2026`, `1-2-26`) is not a phone.
    if (/^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$/.test(raw)) continue;
    const digits = phoneDigits(raw);
    if (digits !== undefined) out.push({ text: raw, digits });
  }
  return out;
}

// ---------- URLs ----------

const URL_PATTERN = /\b(?:https?:\/\/|www\.)[^\s<>"'`]+/giu;

/** A URL without scheme, `www.`, trailing punctuation or slash, host lower-cased. */
export function canonicalUrl(url: string): string {
  const trimmed = url.replace(/[.,;:!?)\]}'"»]+$/u, '');
  const noScheme = trimmed.replace(/^https?:\/\//i, '').replace(/^www\./i, '');
  const slash = noScheme.indexOf('/');
  const host = (slash < 0 ? noScheme : noScheme.slice(0, slash)).toLowerCase();
  const rest = slash < 0 ? '' : noScheme.slice(slash);
  return `${host}${rest}`.replace(/\/+$/, '');
}

function findUrls(text: string): string[] {
  return [...text.matchAll(URL_PATTERN)].map((m) => m[0]);
}

// ---------- order statuses ----------

/** Status kinds and their phrasings (folded), Vietnamese and English. */
const STATUS_KINDS: Record<string, readonly string[]> = {
  delivered: ['da giao', 'da duoc giao', 'giao thanh cong', 'da nhan hang', 'da den noi', 'delivered'],
  shipping: [
    'dang giao',
    'dang duoc giao',
    'dang van chuyen',
    'dang tren duong',
    'da gui hang',
    'da duoc gui',
    'da ban giao',
    'da xuat kho',
    'shipped',
    'shipping',
    'in transit',
    'out for delivery',
    'dispatched',
  ],
  processing: [
    'dang xu ly',
    'dang chuan bi',
    'da xac nhan',
    'cho xac nhan',
    'dang dong goi',
    'cho lay hang',
    'processing',
    'pending',
    'confirmed',
    'preparing',
  ],
  cancelled: ['da huy', 'da bi huy', 'bi huy', 'cancelled', 'canceled'],
  returned: ['hoan hang', 'da hoan tien', 'hoan tra', 'returned', 'refunded'],
};

/** Words that make a sentence about an order (the status phrases alone are too common). */
const ORDER_WORDS =
  /(?<![\p{L}])(?:don|don hang|ma don|kien hang|goi hang|order|package|parcel|shipment)(?![\p{L}])/u;

function statusPattern(phrase: string): RegExp {
  return new RegExp(`(?<![\\p{L}\\p{N}])${phrase.replace(/ /g, '\\s+')}(?![\\p{L}\\p{N}])`, 'u');
}

const STATUS_PATTERNS: readonly { kind: string; phrase: string; pattern: RegExp }[] = Object.entries(
  STATUS_KINDS,
).flatMap(([kind, phrases]) => phrases.map((phrase) => ({ kind, phrase, pattern: statusPattern(phrase) })));

/** Order-status kinds stated in sentences of `folded` that are about an order. */
function findStatuses(folded: string, requireOrderWord: boolean): { kind: string; phrase: string }[] {
  const out: { kind: string; phrase: string }[] = [];
  const sentences = requireOrderWord ? folded.split(/(?<=[.!?\n])\s+/u) : [folded];
  for (const sentence of sentences) {
    if (requireOrderWord && !ORDER_WORDS.test(sentence)) continue;
    for (const { kind, phrase, pattern } of STATUS_PATTERNS) {
      if (pattern.test(sentence)) out.push({ kind, phrase });
    }
  }
  return out;
}

// ---------- the gate ----------

/** The evidence texts of a turn: the conversation, the persona, the customer, and the reply's own evidence. */
export function turnEvidence(context: TurnContext, extra: readonly string[] = []): string[] {
  const texts: string[] = [];
  if (context.settings.persona) texts.push(context.settings.persona);
  if (context.customer.name) texts.push(context.customer.name);
  if (context.customer.phone) texts.push(context.customer.phone);
  for (const [key, value] of Object.entries(context.facts)) texts.push(`${key}: ${value}`);
  for (const summary of context.summaries) texts.push(summary);
  for (const entry of context.history) texts.push(entry.text);
  for (const message of context.messages) {
    for (const part of [message.text, message.transcript, message.mediaNote, message.postback?.title]) {
      if (part) texts.push(part);
    }
  }
  texts.push(...extra);
  return texts;
}

/** Evidence prepared once per reply check. */
interface PreparedEvidence {
  readonly numbers: Set<number>;
  readonly phones: Set<string>;
  readonly urls: readonly string[];
  readonly statuses: Set<string>;
  readonly folded: string;
}

function prepare(evidence: readonly string[]): PreparedEvidence {
  const raw = evidence.join('\n');
  const folded = foldText(raw);
  const phones = new Set<string>();
  for (const phone of findPhones(raw)) phones.add(phone.digits);
  // A bare digit run in a tool's JSON (`"phone":"0912345678"`) counts too.
  for (const m of raw.matchAll(/\+?\d{8,15}/g)) {
    const digits = phoneDigits(m[0]);
    if (digits) phones.add(digits);
  }
  return {
    numbers: evidenceNumbers(folded),
    phones,
    urls: findUrls(raw).map(canonicalUrl),
    statuses: new Set(findStatuses(folded, false).map((s) => s.kind)),
    folded,
  };
}

/**
 * The facts of `text` the evidence does not back, in order of appearance within each kind
 * (prices, phones, URLs, order statuses).
 */
export function ungroundedFacts(
  text: string,
  evidence: readonly string[],
  statusEvidence: readonly string[] = evidence,
): UngroundedFact[] {
  const folded = foldText(text);
  const prices = findPrices(folded);
  const phones = findPhones(text);
  const urls = findUrls(text);
  const statuses = findStatuses(folded, true);
  if (prices.length + phones.length + urls.length + statuses.length === 0) return [];
  const ev = prepare(evidence);
  const statusKinds =
    statusEvidence === evidence
      ? ev.statuses
      : new Set(findStatuses(foldText(statusEvidence.join('\n')), false).map((s) => s.kind));
  const out: UngroundedFact[] = [];
  for (const price of prices) {
    if (!price.values.some((v) => ev.numbers.has(v))) out.push({ kind: 'price', text: price.text.trim() });
  }
  for (const phone of phones) {
    if (!ev.phones.has(phone.digits)) out.push({ kind: 'phone', text: phone.text });
  }
  for (const url of urls) {
    const canonical = canonicalUrl(url);
    const known = ev.urls.some((u) => u === canonical || u.toLowerCase() === canonical.toLowerCase());
    if (!known) out.push({ kind: 'url', text: url.replace(/[.,;:!?)\]}'"»]+$/u, '') });
  }
  for (const status of statuses) {
    if (!statusKinds.has(status.kind)) out.push({ kind: 'order status', text: status.phrase });
  }
  return out;
}

/** Result of the grounding gate. */
export type GroundingResult = { readonly pass: true } | { readonly pass: false; readonly reason: string };

/**
 * Grounded: every price, phone number, URL and order status in the reply's texts appears in the
 * evidence. The reason names what was not backed, for the one regeneration.
 */
export function checkGrounded(reply: ResponderReply, context: TurnContext): GroundingResult {
  const evidence = turnEvidence(context, reply.evidence);
  // An order's status is only known from the shop's data (or what the bot already said), never
  // from the customer's own question ("đã giao chưa?").
  const statusEvidence = [
    ...(reply.evidence ?? []),
    ...context.history.filter((h) => h.role !== 'customer').map((h) => h.text),
  ];
  const facts: UngroundedFact[] = [];
  for (const message of reply.messages) {
    if (message.text) facts.push(...ungroundedFacts(message.text, evidence, statusEvidence));
    // A button's link and the labels of buttons and quick replies are stated to the customer too.
    const labels = [...(message.buttons ?? []), ...(message.quickReplies ?? [])].map((b) =>
      'url' in b ? `${b.title} ${b.url}` : b.title,
    );
    if (labels.length > 0) facts.push(...ungroundedFacts(labels.join('\n'), evidence, statusEvidence));
  }
  if (facts.length === 0) return { pass: true };
  const listed = facts
    .slice(0, 5)
    .map((f) => `the ${f.kind} "${f.text.slice(0, 80)}"`)
    .join(', ');
  return {
    pass: false,
    reason: `the reply stated ${listed}, which appear${facts.length === 1 ? 's' : ''} nowhere in the reference material, the tool results or the conversation; give only prices, phone numbers, links and order statuses found there, or say you will check`,
  };
}
