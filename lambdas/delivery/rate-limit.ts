/**
 * Per-page rate limits shared by every delivery Lambda instance, kept in the memory table
 * (one item per scope: `ratePk(scope)` / `rateSk(0)`).
 *
 * Each scope holds `next`, the earliest time its next send may go out. A send claims the slot
 * `t = max(from, next)` and moves `next` to `t + interval`, `interval = (1000 + marginMs) / limit`,
 * in **one conditional UpdateItem** — there are two shapes and a local guess picks one:
 *
 * - *idle* (`next` ≤ from, or no item): `SET next = :from + :i` if `attribute_not_exists(next) OR
 *   next <= :from`; the slot is `from`, so a send to an idle chat or page is not delayed;
 * - *busy* (`next` > from): `SET next = next + :i` if `next > :from AND next <= :deadline`; the slot
 *   is the old `next`.
 *
 * The guess comes from the last `next` this instance saw for the scope. `next` never decreases, so
 * a cached value above `from` proves the scope busy: the busy write is then always the right one.
 * Unknown or past values guess idle, which is right for an idle scope. A wrong guess fails its
 * condition and returns the current item (`ReturnValuesOnConditionCheckFailure: ALL_OLD`; an
 * emulator that omits it costs one consistent GetItem instead), and the other shape follows.
 * Calls per scope and send: idle 1; busy 1 when this instance has seen the scope busy, else 2;
 * a lost race between two idle writes costs its loser one more. When the slot would lie past the
 * caller's deadline nothing is claimed and the caller is told when to come back.
 *
 * **A claimed slot is always used, however late** (a slow DynamoDB answer, a stalled event loop,
 * a timer firing late). Why the bound still holds: slots of a scope are at least `interval` apart
 * in claimed time, so any window of `1000 + marginMs` holds at most `limit` of them. A send goes
 * out at `t + d` (`d` ≥ 0: claim round trip, timer lateness, network). Sends in a one-second window
 * `[w, w + 1000)` have slots in `[w - dmax, w + 1000 - dmin)`, a window of `1000 + (dmax - dmin)`;
 * so when the lateness of the sends of one scope varies by at most `marginMs` (100 ms) within a
 * second, at most `limit` reach the platform in any second. Lateness that is the same for every
 * send (a uniformly slow DynamoDB) costs nothing; a late send of an under-used scope cannot crowd
 * anything. The usual cause of uneven lateness, an event-loop stall that wakes several sleepers at
 * once, is paced locally: an instance lets the sends of one scope go at least `interval` apart in
 * its own time, so late slots leave spread out (later still, never given up). What remains — two
 * instances late by different amounts in a scope saturated at that very moment — ends in a
 * platform 429, which is retried after its `Retry-After` and never dead-letters a reply. Giving the slot up instead (as
 * an earlier version did past 40 ms) turned a slow machine into deferrals and dead letters.
 *
 * With several rules (a Telegram chat and its bot) the send goes at the latest of its slots; an
 * earlier slot used later than claimed is moved to the real send time when nobody claimed after it
 * (always true of a chat, whose sends are serialised by its FIFO group): one more write, only then.
 *
 * An earlier version cut time into fixed buckets; it was as safe but made a send to an idle
 * chat wait for the next bucket (up to 1.1 s on Telegram's 1 message per second per chat).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  GetCommand,
  type GetCommandOutput,
  UpdateCommand,
  type UpdateCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DEFAULT_RATE_LIMITS } from '../contracts/defaults.js';
import { documentClient } from '../shared/clients.js';
import { ENV } from '../shared/env.js';
import { ConfigurationError, DependencyError } from '../shared/errors.js';
import { ratePk, rateSk } from '../shared/keys.js';
import type { ChannelName } from '../shared/model.js';

/** One limit: at most `limit` calls per second in `scope`. */
export interface RateRule {
  readonly scope: string;
  readonly limit: number;
}

/** Platform limits (calls per second). */
export const RATE_LIMITS = DEFAULT_RATE_LIMITS;

/** Overrides of {@link RATE_LIMITS} (calls per second). */
export type RateLimitSettings = { readonly [K in keyof typeof RATE_LIMITS]?: number };

/**
 * Limit overrides from `RATE_LIMITS` (JSON such as `{"pancakePage":3}`), e.g. for a Pancake plan
 * or WhatsApp tier with other limits. Unknown keys or values that are not positive numbers
 * throw a ConfigurationError naming them.
 */
export function rateLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): RateLimitSettings {
  const raw = env[ENV.rateLimits];
  if (raw === undefined || raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new ConfigurationError(`${ENV.rateLimits} is not valid JSON: ${raw.slice(0, 100)}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigurationError(`${ENV.rateLimits} must be a JSON object such as {"pancakePage":5}.`);
  }
  const limits: { -readonly [K in keyof typeof RATE_LIMITS]?: number } = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(key in RATE_LIMITS)) {
      throw new ConfigurationError(
        `${ENV.rateLimits} has an unknown key "${key}"; the keys are ${Object.keys(RATE_LIMITS).join(', ')}.`,
      );
    }
    if (typeof value !== 'number' || !(value > 0)) {
      throw new ConfigurationError(
        `${ENV.rateLimits}.${key} must be a positive number; got ${JSON.stringify(value)}.`,
      );
    }
    limits[key as keyof typeof RATE_LIMITS] = value;
  }
  return limits;
}

/** The limits a send to this destination is subject to, coarsest first. */
export function rateRules(
  channel: ChannelName,
  pageId: string,
  recipientId: string,
  limits: RateLimitSettings = {},
): RateRule[] {
  const l = { ...RATE_LIMITS, ...limits };
  switch (channel) {
    case 'pancake':
      return [{ scope: `pancake#page#${pageId}`, limit: l.pancakePage }];
    case 'messenger':
    case 'instagram':
      return [{ scope: `${channel}#page#${pageId}`, limit: l.metaPage }];
    case 'whatsapp':
      return [{ scope: `whatsapp#number#${pageId}`, limit: l.whatsappNumber }];
    case 'telegram':
      return [
        { scope: `telegram#chat#${pageId}:${recipientId}`, limit: l.telegramChat },
        { scope: `telegram#bot#${pageId}`, limit: l.telegramBot },
      ];
    default:
      // Zalo documents no per-OA send rate.
      return [];
  }
}

export interface RateLimiterOptions {
  /** The memory table. */
  readonly tableName: string;
  /** Extra length of each one-second window, absorbing variation in send lateness. @default 100 */
  readonly marginMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The result of {@link RateLimiter.acquire}. `calls` counts the DynamoDB calls it made. */
export type Acquired =
  | {
      readonly ok: true;
      /** Time from the call to the moment the send may go. */
      readonly waitedMs: number;
      /** True when a slot lay in the future (the scope was busy), so the send waited for it. */
      readonly delayed: boolean;
      /** The time the send was cleared for (the latest of its slots). */
      readonly sendAt: number;
      readonly calls: number;
    }
  | { readonly ok: false; readonly retryAfterMs: number; readonly calls: number };

const sleepFor = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Milliseconds between consecutive slots of a rule. */
export function intervalOf(limit: number, marginMs: number): number {
  return (1000 + marginMs) / Math.max(1, limit);
}

const isConditionFailure = (err: unknown): boolean =>
  err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException';

/** Scopes whose last seen `next` is remembered; the cache is dropped whole past this size. */
const CACHE_LIMIT = 10_000;
/** Conditional writes one claim may make before giving up (only endless races get there). */
const MAX_CLAIM_WRITES = 6;

type Claim = { readonly at: number; readonly next: number } | { readonly retryAfterMs: number };

/** The shared limiter. */
export class RateLimiter {
  readonly #table: string;
  readonly #margin: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  /** The last `next` seen per scope: `next` only grows, so a future value proves the scope busy. */
  readonly #seen = new Map<string, number>();
  /** When this instance last let a send of each scope go (local pacing of late slots). */
  readonly #sent = new Map<string, number>();
  #calls = 0;

  constructor(options: RateLimiterOptions) {
    this.#table = options.tableName;
    this.#margin = options.marginMs ?? 100;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? sleepFor;
  }

  /**
   * Claims a slot under every rule and waits for the latest, when that wait is at most
   * `maxWaitMs`; the slots are then used whenever the wait ends, never given up. Otherwise
   * claims nothing more and says how long to come back after (slots already claimed under
   * earlier rules stay claimed and unused: capacity lost, never a reply).
   * @throws DependencyError when DynamoDB fails
   */
  async acquire(rules: readonly RateRule[], maxWaitMs: number): Promise<Acquired> {
    const callsBefore = this.#calls;
    const calls = () => this.#calls - callsBefore;
    if (rules.length === 0) return { ok: true, waitedMs: 0, delayed: false, sendAt: this.#now(), calls: 0 };
    const began = this.#now();
    const deadline = began + Math.max(0, maxWaitMs);
    let from = began;
    const claimed: { rule: RateRule; at: number; next: number }[] = [];
    for (const rule of rules) {
      const slot = await this.#claim(rule, from, deadline);
      if ('retryAfterMs' in slot) return { ok: false, retryAfterMs: slot.retryAfterMs, calls: calls() };
      claimed.push({ rule, ...slot });
      // Later rules are claimed for the time the earlier ones allow, not before.
      from = Math.max(from, slot.at);
    }
    const sendAt = from;
    for (const slot of claimed) {
      if (slot.at < sendAt) await this.#move(slot.rule, slot.next, sendAt);
    }
    const wait = sendAt - this.#now();
    if (wait > 0) await this.#sleep(wait);
    // Woken late (a stalled event loop wakes every sleeper at once): keep this instance's own
    // sends of each scope an interval apart, so late slots go out spread, not in a burst.
    const paced = Math.max(
      ...claimed.map(
        (c) =>
          (this.#sent.get(c.rule.scope) ?? Number.NEGATIVE_INFINITY) + intervalOf(c.rule.limit, this.#margin),
      ),
    );
    if (paced > this.#now()) await this.#sleep(paced - this.#now());
    const sentAt = this.#now();
    if (this.#sent.size >= CACHE_LIMIT) this.#sent.clear();
    for (const c of claimed) this.#sent.set(c.rule.scope, sentAt);
    return {
      ok: true,
      waitedMs: Math.max(0, this.#now() - began),
      delayed: sendAt > began,
      sendAt,
      calls: calls(),
    };
  }

  /** Claims the earliest slot at or after `from`, or says when to come back if it is past `deadline`. */
  async #claim(rule: RateRule, from: number, deadline: number): Promise<Claim> {
    const interval = intervalOf(rule.limit, this.#margin);
    const key = { pk: ratePk(rule.scope), sk: rateSk(0) };
    const names = { '#n': 'next', '#e': 'expiresAt' };
    const seen = this.#seen.get(rule.scope);
    let busy = seen !== undefined && seen > from;
    for (let write = 0; write < MAX_CLAIM_WRITES; write += 1) {
      const expiresAt = Math.ceil(Math.max(from, deadline) / 1000) + 3600;
      let current: number | undefined;
      try {
        if (busy) {
          const out = await this.#update(
            new UpdateCommand({
              TableName: this.#table,
              Key: key,
              UpdateExpression: 'SET #n = #n + :i, #e = :exp',
              ConditionExpression: '#n > :from AND #n <= :deadline',
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: {
                ':i': interval,
                ':from': from,
                ':deadline': deadline,
                ':exp': expiresAt,
              },
              ReturnValues: 'UPDATED_NEW',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            }),
          );
          const next = Number(out.Attributes?.next);
          this.#remember(rule.scope, next);
          return { at: next - interval, next };
        }
        await this.#update(
          new UpdateCommand({
            TableName: this.#table,
            Key: key,
            UpdateExpression: 'SET #n = :next, #e = :exp',
            ConditionExpression: 'attribute_not_exists(#n) OR #n <= :from',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':next': from + interval, ':from': from, ':exp': expiresAt },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        this.#remember(rule.scope, from + interval);
        return { at: from, next: from + interval };
      } catch (err) {
        if (!isConditionFailure(err)) throw this.#dependency(err);
        current = await this.#current(err, key);
      }
      if (current !== undefined) this.#remember(rule.scope, current);
      if (current !== undefined && current > deadline) {
        return { retryAfterMs: Math.max(1, Math.ceil(current - deadline)) };
      }
      busy = current !== undefined && current > from;
    }
    return { retryAfterMs: Math.ceil(interval) };
  }

  /** `next` from a failed condition's ALL_OLD item, or read when the service did not return it. */
  async #current(err: unknown, key: Record<string, string>): Promise<number | undefined> {
    const item = (err as { Item?: Record<string, unknown> }).Item;
    if (item !== undefined) {
      const next = unmarshall(item as Parameters<typeof unmarshall>[0]).next;
      return next === undefined ? undefined : Number(next);
    }
    try {
      const out = await this.#get(new GetCommand({ TableName: this.#table, Key: key, ConsistentRead: true }));
      return out.Item?.next === undefined ? undefined : Number(out.Item.next);
    } catch (readErr) {
      throw this.#dependency(readErr);
    }
  }

  /**
   * Moves a slot claimed for an earlier time to `sendAt` (its real send time), when nobody has
   * claimed after it; otherwise leaves it (used late, see the module comment).
   */
  async #move(rule: RateRule, next: number, sendAt: number): Promise<void> {
    const interval = intervalOf(rule.limit, this.#margin);
    try {
      await this.#update(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: ratePk(rule.scope), sk: rateSk(0) },
          UpdateExpression: 'SET #n = :moved',
          // Nobody claimed after us when `next` is still ours: a later claim adds a whole interval
          // (compared with half an interval of slack, as the stored decimal and ours may differ
          // in the last digits).
          ConditionExpression: '#n < :mine',
          ExpressionAttributeNames: { '#n': 'next' },
          ExpressionAttributeValues: { ':moved': sendAt + interval, ':mine': next + interval / 2 },
        }),
      );
      this.#remember(rule.scope, sendAt + interval);
    } catch (err) {
      if (!isConditionFailure(err)) throw this.#dependency(err);
    }
  }

  #update(command: UpdateCommand): Promise<UpdateCommandOutput> {
    this.#calls += 1;
    return documentClient().send(command);
  }

  #get(command: GetCommand): Promise<GetCommandOutput> {
    this.#calls += 1;
    return documentClient().send(command);
  }

  #remember(scope: string, next: number): void {
    if (!Number.isFinite(next)) return;
    if (this.#seen.size >= CACHE_LIMIT && !this.#seen.has(scope)) this.#seen.clear();
    if (next > (this.#seen.get(scope) ?? Number.NEGATIVE_INFINITY)) this.#seen.set(scope, next);
  }

  #dependency(err: unknown): DependencyError {
    return new DependencyError(`Rate limiter: DynamoDB failed (${(err as Error).name}).`, { cause: err });
  }
}
