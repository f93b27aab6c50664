/**
 * Per-page rate limits shared by every delivery Lambda instance, kept in the memory table
 * (one item per scope: `ratePk(scope)` / `rateSk(0)`).
 *
 * Each scope holds `next`, the earliest time its next send may go out. A send claims the slot
 * `t = max(now, next)` and moves `next` to `t + interval`, where `interval = (1000 + marginMs) /
 * limit` — atomically: a busy scope is claimed with one conditional increment (`next = next +
 * interval` while `next` is in the future and within reach), an idle one with one conditional
 * set (`next = now + interval` while `next` is in the past), so concurrent senders never
 * conflict and an idle chat or page sends at once. The send then waits for `t` and only goes if
 * it is still within `toleranceMs` of it (a slot used late is abandoned, which only wastes
 * capacity). Since consecutive slots are `interval` apart and every send happens within
 * `toleranceMs` of its slot, any sliding second — even as the platform sees it, up to
 * `marginMs - toleranceMs` of network jitter later — holds at most `limit` sends.
 *
 * An earlier version cut time into fixed buckets; it was as safe but made a send to an idle
 * chat wait for the next bucket (up to 1.1 s on Telegram's 1 message per second per chat).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
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
export const RATE_LIMITS = {
  /** Pancake: 5 calls per page per second. */
  pancakePage: 5,
  /** Telegram: about 1 message per second per chat. */
  telegramChat: 1,
  /** Telegram: about 30 messages per second per bot. */
  telegramBot: 30,
  /** WhatsApp Cloud API: 80 messages per second per phone number (default tier). */
  whatsappNumber: 80,
  /** Messenger and Instagram: 300 text messages per second per page. */
  metaPage: 300,
} as const;

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
  /** Extra length of each one-second window, absorbing network jitter. @default 100 */
  readonly marginMs?: number;
  /** How late after its slot a send may still go. @default 40 */
  readonly toleranceMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The result of {@link RateLimiter.acquire}. */
export type Acquired =
  | { readonly ok: true; readonly waitedMs: number; readonly delayed: boolean }
  | { readonly ok: false; readonly retryAfterMs: number };

const sleepFor = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Milliseconds between consecutive slots of a rule. */
export function intervalOf(limit: number, marginMs: number): number {
  return (1000 + marginMs) / Math.max(1, limit);
}

const isConditionFailure = (err: unknown): boolean =>
  err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException';

/** The shared limiter. */
export class RateLimiter {
  readonly #table: string;
  readonly #margin: number;
  readonly #tolerance: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: RateLimiterOptions) {
    this.#table = options.tableName;
    this.#margin = options.marginMs ?? 100;
    this.#tolerance = options.toleranceMs ?? 40;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? sleepFor;
  }

  /**
   * Claims a slot under every rule and waits for it, when that wait is at most `maxWaitMs`.
   * Otherwise claims nothing more and says how long to come back after.
   * @throws DependencyError when DynamoDB fails
   */
  async acquire(rules: readonly RateRule[], maxWaitMs: number): Promise<Acquired> {
    if (rules.length === 0) return { ok: true, waitedMs: 0, delayed: false };
    const began = this.#now();
    let delayed = false;
    let from = began;
    for (let round = 0; round < 8; round += 1) {
      const slots: number[] = [];
      let restartAt: number | undefined;
      for (const [index, rule] of rules.entries()) {
        const slot = await this.#claim(rule, from, began + maxWaitMs);
        if ('retryAfterMs' in slot) return { ok: false, retryAfterMs: slot.retryAfterMs };
        if (slot.at > from + this.#tolerance) {
          delayed = true;
          if (index > 0) {
            // A later rule pushed the send past the earlier slots: claim again from there (the
            // earlier slots are abandoned, which is always safe).
            restartAt = slot.at;
            break;
          }
          // The first rule sets the time the others are claimed for.
          from = slot.at;
        }
        slots.push(slot.at);
      }
      if (restartAt !== undefined) {
        from = restartAt;
        continue;
      }
      const sendAt = Math.max(...slots);
      const wait = sendAt - this.#now();
      if (wait > 0) await this.#sleep(wait);
      if (this.#now() > Math.min(...slots) + this.#tolerance) {
        // Woke too late to use the slots: abandon them and claim new ones.
        from = this.#now();
        delayed = true;
        continue;
      }
      return { ok: true, waitedMs: Math.max(0, this.#now() - began), delayed };
    }
    return { ok: false, retryAfterMs: 1000 };
  }

  /** Claims the earliest slot at or after `from`, or says when to come back if it is past `deadline`. */
  async #claim(
    rule: RateRule,
    from: number,
    deadline: number,
  ): Promise<{ at: number } | { retryAfterMs: number }> {
    const interval = intervalOf(rule.limit, this.#margin);
    const key = { pk: ratePk(rule.scope), sk: rateSk(0) };
    const names = { '#n': 'next', '#e': 'expiresAt' };
    for (let attempt = 0; attempt < 8; attempt += 1) {
      const expiresAt = Math.ceil(Math.max(from, this.#now()) / 1000) + 3600;
      try {
        // Busy scope: take the next slot, if it is within reach.
        const out = await documentClient().send(
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
          }),
        );
        return { at: Number(out.Attributes?.next) - interval };
      } catch (err) {
        if (!isConditionFailure(err)) throw this.#dependency(err);
      }
      try {
        // Idle scope: the slot is `from` itself.
        await documentClient().send(
          new UpdateCommand({
            TableName: this.#table,
            Key: key,
            UpdateExpression: 'SET #n = :next, #e = :exp',
            ConditionExpression: 'attribute_not_exists(#n) OR #n <= :from',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':next': from + interval, ':from': from, ':exp': expiresAt },
          }),
        );
        return { at: from };
      } catch (err) {
        if (!isConditionFailure(err)) throw this.#dependency(err);
      }
      // Neither: the next slot is beyond the deadline, or another sender raced us. Look.
      let next: number;
      try {
        const current = await documentClient().send(
          new GetCommand({ TableName: this.#table, Key: key, ConsistentRead: true }),
        );
        next = Number(current.Item?.next ?? 0);
      } catch (err) {
        throw this.#dependency(err);
      }
      if (next > deadline) return { retryAfterMs: Math.max(1, Math.ceil(next - deadline)) };
    }
    return { retryAfterMs: Math.ceil(interval) };
  }

  #dependency(err: unknown): DependencyError {
    return new DependencyError(`Rate limiter: DynamoDB failed (${(err as Error).name}).`, { cause: err });
  }
}
