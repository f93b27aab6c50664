import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_REPLY_PARTS,
  type SplitProbe,
  sentences,
  splitText,
  TRUNCATION_MARKER,
} from '../../../lambdas/gates/split.js';
import { referenceSentences, referenceSplitText } from './split-reference.js';

/** The words of a text, whitespace-separated (what must survive splitting unchanged). */
const wordsOf = (text: string): string[] => text.split(/\s+/u).filter((w) => w !== '');

describe('sentences', () => {
  it('splits after ., !, ?, …, 。 and newlines and keeps the whitespace, so joining gives the text back', () => {
    const text = 'Hi there. How are you? Great! Wait… ok。次\nnext line';
    const parts = sentences(text);
    expect(parts).toEqual(['Hi there. ', 'How are you? ', 'Great! ', 'Wait… ', 'ok。', '次\n', 'next line']);
    expect(parts.join('')).toBe(text);
  });

  it('does not split inside numbers, abbreviations without a space, or URLs', () => {
    expect(sentences('Price 3.14 at example.com/a.b today.')).toEqual([
      'Price 3.14 at example.com/a.b today.',
    ]);
  });

  it('keeps closing quotes and brackets with their sentence', () => {
    expect(sentences('He said "yes." Then (ok!) more')).toEqual(['He said "yes." ', 'Then (ok!) ', 'more']);
  });
});

describe('splitText', () => {
  it('returns a text within the limit whole, trimmed', () => {
    expect(splitText('  Xin chào bạn!  ', 100)).toEqual(['Xin chào bạn!']);
  });

  it('returns nothing for blank text', () => {
    expect(splitText(' \n ', 10)).toEqual([]);
  });

  it('splits at sentence boundaries rather than filling each part to the limit', () => {
    const parts = splitText('First sentence here. Second one is here. Third.', 25);
    expect(parts).toEqual(['First sentence here.', 'Second one is here.', 'Third.']);
  });

  it('packs several short sentences into one part when they fit', () => {
    expect(splitText('A. B. C. D.', 5)).toEqual(['A. B.', 'C. D.']);
  });

  it('wraps a single over-long sentence at whitespace, never mid-word', () => {
    const parts = splitText('alpha beta gamma delta epsilon zeta', 12);
    expect(parts).toEqual(['alpha beta', 'gamma delta', 'epsilon zeta']);
  });

  it('cuts mid-token only a single word longer than the limit', () => {
    const parts = splitText('see https://example.com/aaaaaaaaaaaaaaaaaaaa now', 10);
    expect(parts.every((p) => p.length <= 10)).toBe(true);
    expect(parts[0]).toBe('see');
    expect(parts.at(-1)).toContain('now');
    expect(parts.join('').replace(/\s/g, '')).toBe('seehttps://example.com/aaaaaaaaaaaaaaaaaaaanow');
  });

  it('never breaks an emoji or a letter with its combining diacritics when cutting a word', () => {
    const family = '👨‍👩‍👧‍👦';
    const decomposed = 'Tiếng'.normalize('NFD');
    const word = `${family.repeat(3)}${decomposed.repeat(3)}`;
    const parts = splitText(word, 12);
    const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    const graphemes = (s: string) => Array.from(segmenter.segment(s), (g) => g.segment);
    expect(parts.join('')).toBe(word);
    expect(parts.flatMap(graphemes)).toEqual(graphemes(word));
    expect(parts.every((p) => p.length <= 12)).toBe(true);
  });

  it('splits a 10 000-character reply to Instagram’s 1000 limit: every part ≤ 1000, none cut mid-word', () => {
    const vocabulary = ['Cảm', 'ơn', 'bạn', 'đã', 'liên', 'hệ', 'shop', '🙂', 'sản', 'phẩm', 'giao', 'hàng'];
    const sentenceList: string[] = [];
    let i = 0;
    while (sentenceList.join(' ').length < 10_000) {
      const length = 5 + (i % 17);
      const words = Array.from({ length }, (_, k) => vocabulary[(i * 7 + k * 3) % vocabulary.length]!);
      sentenceList.push(`${words.join(' ')}${['.', '!', '?', '…'][i % 4]}`);
      i += 1;
    }
    const text = sentenceList.join(' ');
    expect(text.length).toBeGreaterThanOrEqual(10_000);
    const parts = splitText(text, 1000, { maxParts: 100 });
    expect(parts.length).toBeGreaterThanOrEqual(10);
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(1000);
      // Sentence packing: each part ends a sentence.
      expect(part).toMatch(/[.!?…]$/u);
    }
    expect(parts.flatMap(wordsOf)).toEqual(wordsOf(text));
  });

  it('splits a single 10 000-character sentence with no punctuation at whitespace only', () => {
    const text = Array.from({ length: 2000 }, (_, k) => `từ${k % 10}`).join(' ');
    const parts = splitText(text, 1000, { maxParts: 100 });
    for (const part of parts) expect(part.length).toBeLessThanOrEqual(1000);
    expect(parts.flatMap(wordsOf)).toEqual(wordsOf(text));
  });

  it('rejects a limit that is not a positive integer', () => {
    expect(() => splitText('abc', 0)).toThrow(RangeError);
    expect(() => splitText('abc', 1.5)).toThrow(RangeError);
  });

  it('for any text and limit: parts are within the limit, non-empty, and keep every word whole when words fit', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.stringMatching(/^[a-zà-ỹ0-9🙂]{1,12}$/u),
            fc.constantFrom(' ', '  ', '. ', '! ', '? ', '\n', '… ', '。'),
          ),
          { minLength: 1, maxLength: 80 },
        ),
        fc.integer({ min: 24, max: 200 }),
        (pieces, limit) => {
          const text = pieces.map(([w, sep]) => w + sep).join('');
          const parts = splitText(text, limit, { maxParts: 1000 });
          for (const part of parts) {
            expect(part.length).toBeGreaterThan(0);
            expect(part.length).toBeLessThanOrEqual(limit);
          }
          // No word is longer than the limit here (≤ 12 characters of ≤ 2 code units), so none may be cut: whitespace/CJK-stop separated tokens survive.
          const tokens = (s: string) => s.split(/[\s。]+/u).filter((t) => t !== '');
          expect(parts.flatMap(tokens)).toEqual(tokens(text));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('agrees part for part with the reference (pre-linear) splitter on any text within its bound', () => {
    // Limits from 12 up: below that, a grapheme of the vocabulary (the family emoji is 11 code
    // units) is longer than the limit and the two cut it between code points slightly differently.
    const token = fc.oneof(
      fc.stringMatching(/^[a-zà-ỹ0-9]{1,30}$/u),
      fc.constantFrom(
        '🙂',
        '👨‍👩‍👧‍👦',
        'Tiếng'.normalize('NFD'),
        '🇻🇳🇻🇳',
        'e\u0301',
        '3.14',
        'example.com/a.b',
      ),
    );
    const separator = fc.constantFrom(
      ' ',
      '   ',
      '. ',
      '! ',
      '? ',
      '\n',
      '\n\n',
      '… ',
      '。',
      '." ',
      '\t',
      '\u00a0',
      '',
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(token, separator), { minLength: 1, maxLength: 120 }),
        fc.integer({ min: 12, max: 120 }),
        fc.constantFrom('', ' ', '\n '),
        (pieces, limit, pad) => {
          const text = pad + pieces.map(([w, sep]) => w + sep).join('') + pad;
          expect(sentences(text)).toEqual(referenceSentences(text));
          expect(splitText(text, limit, { maxParts: 100_000 })).toEqual(referenceSplitText(text, limit));
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('splitText bounds', () => {
  it('with absurd limits (a grapheme longer than the limit) still keeps every part within it and every character', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('👨‍👩‍👧‍👦', 'Tiếng'.normalize('NFD'), '😀', 'ab', ' ', '. ', '🇻🇳'), {
          minLength: 1,
          maxLength: 60,
        }),
        // From 2: a limit of 1 cannot hold an astral character, which then goes whole (2 units).
        fc.integer({ min: 2, max: 11 }),
        (pieces, limit) => {
          const text = pieces.join('');
          const parts = splitText(text, limit, { maxParts: 100_000 });
          for (const part of parts) expect(part.length).toBeLessThanOrEqual(limit);
          expect(parts.join('').replace(/\s/gu, '')).toBe(text.replace(/\s/gu, ''));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('cuts a reply longer than limit × maxParts to maxParts parts, the last ending with the marker', () => {
    const text = 'word '.repeat(200_000);
    const parts = splitText(text, 2000);
    expect(parts).toHaveLength(MAX_REPLY_PARTS);
    for (const part of parts) expect(part.length).toBeLessThanOrEqual(2000);
    expect(parts.at(-1)?.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(parts.slice(0, -1).some((p) => p.endsWith(TRUNCATION_MARKER))).toBe(false);
  });

  it('marks the cut even when the parts of a long reply would outnumber maxParts only by packing', () => {
    // 12 sentences of 150 characters at a 200 limit: 12 parts are needed, 3 are allowed.
    const text = Array.from(
      { length: 12 },
      (_, i) => `${String(i).padStart(2, '0')}${'x'.repeat(147)}.`,
    ).join(' ');
    const parts = splitText(text, 200, { maxParts: 3 });
    expect(parts).toHaveLength(3);
    expect(parts[0]).toBe(`00${'x'.repeat(147)}.`);
    expect(parts[2]).toBe(`02${'x'.repeat(147)}.${TRUNCATION_MARKER}`);
  });

  it('keeps the marker within the limit and never breaks an emoji when the last part is full', () => {
    const family = '👨‍👩‍👧‍👦';
    const parts = splitText(family.repeat(1000), 100, { maxParts: 2 });
    expect(parts).toHaveLength(2);
    const last = parts[1]!;
    expect(last.length).toBeLessThanOrEqual(100);
    expect(last.endsWith(TRUNCATION_MARKER)).toBe(true);
    const body = last.slice(0, -TRUNCATION_MARKER.length);
    expect(body).toBe(family.repeat(body.length / family.length));
  });

  it('returns 10 parts of at most the limit for 1 MB of one unbroken word, 1 MB of mixed text and 1 MB of spaces', () => {
    const inputs = [
      'w'.repeat(1_000_000),
      'Xin chào bạn 🙂! Cảm ơn nhé. '.repeat(36_000),
      `a${' '.repeat(1_000_000)}b`,
      '😀'.repeat(500_000),
    ];
    for (const text of inputs) {
      const parts = splitText(text, 4096);
      expect(parts.length).toBeLessThanOrEqual(MAX_REPLY_PARTS);
      expect(parts.length).toBeGreaterThan(0);
      for (const part of parts) expect(part.length).toBeLessThanOrEqual(4096);
    }
  });

  it('does work proportional to its input: code units examined ≤ 6 × the bounded input, for any shape', () => {
    // Counted, not timed: the quadratic splitter re-trimmed and re-scanned the packed text for
    // every unit, which this count would show as growing with the square of the input.
    const shapes: Record<string, (n: number) => string> = {
      'one word': (n) => 'w'.repeat(n),
      emoji: (n) => '😀'.repeat(n / 2),
      'whitespace run': (n) => `a${' '.repeat(n - 2)}b`,
      'short words': (n) => 'ab '.repeat(n / 3),
      sentences: (n) => 'Hi there. '.repeat(n / 10),
      'one long sentence of words': (n) => 'từ '.repeat(n / 3),
    };
    for (const [name, make] of Object.entries(shapes)) {
      for (const n of [30_000, 120_000]) {
        const probe: SplitProbe = { scanned: 0 };
        const text = make(n);
        splitText(text, 2000, { maxParts: 1000, probe });
        expect(probe.scanned, name).toBeGreaterThan(0);
        expect(probe.scanned, name).toBeLessThanOrEqual(6 * text.length);
      }
    }
  });

  it('rejects a part limit that is not a positive integer', () => {
    expect(() => splitText('abc', 10, { maxParts: 0 })).toThrow(RangeError);
  });
});
