/**
 * Signature primitives shared by the channel adapters. Every comparison of a secret or a
 * signature is constant time: both sides are hashed to a fixed length first, so neither the
 * content nor the length of the expected value leaks through timing.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Lower-case hex HMAC-SHA256 of `data` keyed with `secret`. */
export function hmacSha256Hex(secret: string, data: Buffer | string): string {
  return createHmac('sha256', secret).update(data).digest('hex');
}

/** Lower-case hex SHA-256 of the concatenation of `parts` (strings as UTF-8, buffers as is). */
export function sha256HexOf(...parts: readonly (Buffer | string)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Constant-time string equality. Both values are reduced to SHA-256 digests (equal length) before
 * `timingSafeEqual`, and the length check happens after the timing-safe comparison, so a length
 * difference short-circuits nothing an attacker can measure.
 */
export function safeEqual(received: string, expected: string): boolean {
  const same = timingSafeEqual(digest(received), digest(expected));
  return same && received.length === expected.length;
}

/**
 * Checks a `<prefix><hex>` signature header (`sha256=…`, `mac=…`) against the expected hex digest,
 * in constant time. Hex case is ignored (platforms document lower case; some proxies upper-case).
 */
export function prefixedHexMatches(header: string | undefined, prefix: string, expectedHex: string): boolean {
  if (header === undefined) return false;
  const trimmed = header.trim();
  if (!trimmed.toLowerCase().startsWith(prefix)) return false;
  const hex = trimmed.slice(prefix.length).toLowerCase();
  return safeEqual(hex, expectedHex.toLowerCase());
}
