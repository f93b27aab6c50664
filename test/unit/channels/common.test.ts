import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { epochMs, kindOf, parseJsonObject } from '../../../lambdas/channels/common.js';
import { prefixedHexMatches, safeEqual } from '../../../lambdas/channels/crypto.js';
import { InvalidPayloadError } from '../../../lambdas/shared/errors.js';

describe('lossless JSON parsing', () => {
  it('turns integers beyond 2^53 into their exact digits and leaves everything else as JSON.parse would', () => {
    const text =
      '{"a":-1009007199254740993,"b":12345678901234567890,"c":9007199254740991,"d":1.23456789012345678,"e":"x 90071992547409931 y","f":[1e21,123456789012345678e2],"g":"\\"9007199254740993"}';
    const parsed = parseJsonObject(Buffer.from(text));
    expect(parsed).toEqual({
      a: '-1009007199254740993',
      b: '12345678901234567890',
      c: 9007199254740991,
      d: Number('1.23456789012345678'),
      e: 'x 90071992547409931 y',
      f: [1e21, Number('123456789012345678e2')],
      g: '"9007199254740993',
    });
  });

  it('agrees with JSON.parse on any JSON without unsafe integers, and keeps any unsafe one exact', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.bigInt({ min: 2n ** 53n + 1n, max: 10n ** 40n }),
        fc.boolean(),
        (value, big, negative) => {
          // Digits in strings and keys (fc.jsonValue produces them) must stay untouched.
          // Unsafe integers (fc.jsonValue makes 2^53 and beyond) are the case checked below.
          const text = JSON.stringify({ value, pad: '1234567890123456' }, (_key, v: unknown) =>
            typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v) ? 0 : v,
          );
          expect(parseJsonObject(Buffer.from(text))).toEqual(JSON.parse(text));
          const literal = `${negative ? '-' : ''}${big}`;
          expect(parseJsonObject(Buffer.from(`{"id":${literal},"v":${text}}`))).toEqual({
            id: literal,
            v: JSON.parse(text),
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('scans a 1 MiB body of unterminated escaped quotes once (it used to take minutes)', () => {
    // The test timeout is only a hang detector: the scan is linear in the body.
    const body = Buffer.from(`{"a":"${'\\"'.repeat(524_288)} 1234567890123456789`);
    expect(body.length).toBeGreaterThan(1_000_000);
    expect(() => parseJsonObject(body)).toThrow(InvalidPayloadError);
    const valid = Buffer.from(`{"a":"${'\\"'.repeat(524_288)}","id":12345678901234567890}`);
    expect(parseJsonObject(valid)).toEqual({ a: '"'.repeat(524_288), id: '12345678901234567890' });
  });

  it('accepts a UTF-8 byte order mark and rejects non-objects with InvalidPayloadError', () => {
    expect(parseJsonObject(Buffer.from('\ufeff{"a":1}'))).toEqual({ a: 1 });
    for (const text of ['', '1', 'null', '[]', '"s"', '{', '{"a":1}x']) {
      expect(() => parseJsonObject(Buffer.from(text))).toThrow(InvalidPayloadError);
    }
  });
});

describe('constant-time comparisons', () => {
  it('compares equal strings as equal and any difference, including length, as different', () => {
    expect(safeEqual('secret', 'secret')).toBe(true);
    expect(safeEqual('secret', 'secreT')).toBe(false);
    expect(safeEqual('secret', 'secret ')).toBe(false);
    expect(safeEqual('', 'secret')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });

  it('matches prefixed hex signatures case-insensitively and nothing else', () => {
    expect(prefixedHexMatches('sha256=ABCDEF', 'sha256=', 'abcdef')).toBe(true);
    expect(prefixedHexMatches(' sha256=abcdef ', 'sha256=', 'abcdef')).toBe(true);
    expect(prefixedHexMatches('sha1=abcdef', 'sha256=', 'abcdef')).toBe(false);
    expect(prefixedHexMatches('abcdef', 'sha256=', 'abcdef')).toBe(false);
    expect(prefixedHexMatches(undefined, 'sha256=', 'abcdef')).toBe(false);
  });
});

describe('value helpers', () => {
  it('reads epoch seconds and milliseconds alike', () => {
    expect(epochMs(1718000000)).toBe(1718000000000);
    expect(epochMs('1749416383')).toBe(1749416383000);
    expect(epochMs(1718000000123)).toBe(1718000000123);
    expect(epochMs('x')).toBeUndefined();
    expect(epochMs(-5)).toBeUndefined();
  });

  it('derives the message kind from the first attachment, else text', () => {
    expect(kindOf([{ kind: 'audio' }], 'caption')).toBe('audio');
    expect(kindOf([{ kind: 'other' }], 'see link')).toBe('text');
    expect(kindOf([], 'hi')).toBe('text');
    expect(kindOf([], undefined)).toBe('other');
  });
});
