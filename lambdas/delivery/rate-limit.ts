/**
 * Per-page rate limits shared by every delivery Lambda instance, kept in the memory table
 * (`ratePk(scope)` / `rateSk(bucketStart)`).
 *
 * Time is cut into buckets of `ceil((1000 + marginMs) / floor(limit / capacity))` ms, each holding
 * at most `capacity` sends (a conditional increment decides). A send claims the earliest bucket
 * that starts no sooner than now, waits for that start, and only goes out if it is still within
 * `toleranceMs` of it. Because every send happens within the first `toleranceMs` of its bucket
 * and buckets are `1000 + marginMs` / `(limit / capacity)` long, any sliding second (even as the
 * platform sees it, up to `marginMs - toleranceMs` of network jitter later) holds at most
 * `limit` sends: fixed windows alone would allow twice the limit across a window edge.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../shared/clients.js';
import { DependencyError } from '../shared/errors.js';
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

/** The limits a send to this destination is subject to, coarsest first. */
export function rateRules(
  channel: ChannelName,
  pageId: string,
  recipientId: string,
  limits: Partial<typeof RATE_LIMITS> = {},
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
  /** How late after its bucket's start a send may still go. @default 40 */
  readonly toleranceMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The result of {@link RateLimiter.acquire}. */
export type Acquired =
  | { readonly ok: true; readonly waitedMs: number; readonly delayed: boolean }
  | { readonly ok: false; readonly retryAfterMs: number };

interface Claim {
  readonly rule: RateRule;
  readonly start: number;
}

const sleepFor = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Bucket geometry of a rule. */
export function bucketOf(limit: number, marginMs: number): { capacity: number; lengthMs: number } {
  const capacity = Math.max(1, Math.floor(limit / 10));
  // Whole buckets per window: capacity × buckets never exceeds the limit, even when the
  // limit is not a multiple of the capacity.
  const buckets = Math.max(1, Math.floor(limit / capacity));
  return { capacity, lengthMs: Math.ceil((1000 + marginMs) / buckets) };
}

/** The shared limiter. */
export class RateLimiter {
  readonly #table: string;
  readonly #margin: number;
  readonly #tolerance: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  /** Per scope: the first bucket start not known to be full (saves probes within an instance). */
  readonly #hint = new Map<string, number>();

  constructor(options: RateLimiterOptions) {
    this.#table = options.tableName;
    this.#margin = options.marginMs ?? 100;
    this.#tolerance = options.toleranceMs ?? 40;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? sleepFor;
  }

  /**
   * Claims a slot under every rule and waits for it, when that wait is at most `maxWaitMs`.
   * Otherwise claims nothing and says how long to come back after.
   * @throws DependencyError when DynamoDB fails
   */
  async acquire(rules: readonly RateRule[], maxWaitMs: number): Promise<Acquired> {
    if (rules.length === 0) return { ok: true, waitedMs: 0, delayed: false };
    const began = this.#now();
    let from = began;
    let delayed = false;
    for (let round = 0; round < 8; round += 1) {
      const claims: Claim[] = [];
      let restartAt: number | undefined;
      for (const rule of rules) {
        const claim = await this.#claim(rule, from, began + maxWaitMs);
        if ('retryAfterMs' in claim) {
          await this.#release(claims);
          return { ok: false, retryAfterMs: claim.retryAfterMs };
        }
        if (claim.skipped) delayed = true;
        claims.push(claim);
        if (claim.start > from + this.#tolerance) {
          // A later rule pushed the send past the earlier claims' buckets: start over from there.
          restartAt = claim.start;
          break;
        }
      }
      if (restartAt !== undefined) {
        await this.#release(claims);
        from = restartAt;
        continue;
      }
      const sendAt = Math.max(...claims.map((c) => c.start));
      const earliest = Math.min(...claims.map((c) => c.start));
      const wait = sendAt - this.#now();
      if (wait > 0) await this.#sleep(wait);
      if (this.#now() > earliest + this.#tolerance) {
        // The claim arrived too late to be used inside its bucket: give it back and retry.
        await this.#release(claims);
        from = this.#now();
        continue;
      }
      return { ok: true, waitedMs: this.#now() - began, delayed };
    }
    return { ok: false, retryAfterMs: 1000 };
  }

  async #claim(
    rule: RateRule,
    from: number,
    deadline: number,
  ): Promise<(Claim & { skipped: boolean }) | { retryAfterMs: number }> {
    const { capacity, lengthMs } = bucketOf(rule.limit, this.#margin);
    const first = Math.ceil(from / lengthMs) * lengthMs;
    let start = Math.max(first, this.#hint.get(rule.scope) ?? 0);
    let skipped = start > first;
    for (;;) {
      if (start > deadline) return { retryAfterMs: Math.max(1, start - this.#now()) };
      try {
        await documentClient().send(
          new UpdateCommand({
            TableName: this.#table,
            Key: { pk: ratePk(rule.scope), sk: rateSk(start) },
            UpdateExpression: 'ADD #n :one SET #e = :exp',
            ConditionExpression: 'attribute_not_exists(#n) OR #n < :cap',
            ExpressionAttributeNames: { '#n': 'count', '#e': 'expiresAt' },
            ExpressionAttributeValues: {
              ':one': 1,
              ':cap': capacity,
              ':exp': Math.ceil(start / 1000) + 120,
            },
          }),
        );
        return { rule, start, skipped };
      } catch (err) {
        if (
          err instanceof ConditionalCheckFailedException ||
          (err as Error).name === 'ConditionalCheckFailedException'
        ) {
          start += lengthMs;
          skipped = true;
          this.#hint.set(rule.scope, start);
          continue;
        }
        throw new DependencyError(`Rate limiter: DynamoDB failed (${(err as Error).name}).`, { cause: err });
      }
    }
  }

  async #release(claims: readonly Claim[]): Promise<void> {
    await Promise.allSettled(
      claims.map((claim) =>
        documentClient().send(
          new UpdateCommand({
            TableName: this.#table,
            Key: { pk: ratePk(claim.rule.scope), sk: rateSk(claim.start) },
            UpdateExpression: 'ADD #n :minus',
            ConditionExpression: 'attribute_exists(#n)',
            ExpressionAttributeNames: { '#n': 'count' },
            ExpressionAttributeValues: { ':minus': -1 },
          }),
        ),
      ),
    );
  }
}
