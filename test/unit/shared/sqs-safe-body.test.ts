/**
 * SQS message bodies stay valid for SQS (and the local emulator) whatever a customer typed:
 * JSON bodies become ASCII-only JSON that parses back to the exact same value.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sqsSafeBody } from '../../../lambdas/shared/sqs-client.js';

/** The characters real SQS accepts in a body (XML 1.0 Char), checked per code point. */
const SQS_ALLOWED = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;
/** What our bodies are held to: printable ASCII, DEL and the three whitespace controls. */
const ASCII_SAFE = /^[\t\n\r\u0020-\u007f]*$/;

/** One UTF-16 code unit or code point, biased towards what SQS refuses. */
const unit = fc.oneof(
  fc.constantFrom('\uFFFE', '\uFFFF', '\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\u0000', '\u0008', '\u001F'),
  fc.constantFrom('😀', '👍🏽', '🇻🇳', '\u007F', '\u2028', '\u2029', 'ệ', 'ạ', '"', '\\', '\n', '\t'),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
);
const anyText = fc.array(unit, { maxLength: 40 }).map((units) => units.join(''));

describe('sqsSafeBody', () => {
  it('turns any JSON body into one SQS accepts that parses back to the exact value', () => {
    fc.assert(
      fc.property(anyText, fc.dictionary(anyText, anyText, { maxKeys: 3 }), (text, extra) => {
        const value = { text, extra, nested: [text, { again: text }] };
        const body = sqsSafeBody(JSON.stringify(value));
        expect(body).toMatch(ASCII_SAFE);
        expect(body).toMatch(SQS_ALLOWED);
        expect(JSON.parse(body)).toEqual(value);
        // Exact code units, lone surrogates included (toEqual compares strings exactly too).
        expect((JSON.parse(body) as { text: string }).text === text).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('escapes each half of a surrogate pair and each lone surrogate as \\uXXXX', () => {
    const body = sqsSafeBody(JSON.stringify({ t: 'a😀\uD800\uFFFF' }));
    expect(body).toBe('{"t":"a\\ud83d\\ude00\\ud800\\uffff"}');
  });

  it('returns an ASCII body unchanged and leaves a body that is not JSON alone', () => {
    const ascii = '{"t":"plain"}';
    expect(sqsSafeBody(ascii)).toBe(ascii);
    expect(sqsSafeBody('not json: ệ')).toBe('not json: ệ');
  });

  it('is idempotent: a safe body stays as it is', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const once = sqsSafeBody(JSON.stringify({ text }));
        expect(sqsSafeBody(once)).toBe(once);
      }),
    );
  });
});
