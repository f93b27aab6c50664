import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sentences, splitText } from '../../../lambdas/gates/split.js';

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
    const parts = splitText(text, 1000);
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
    const parts = splitText(text, 1000);
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
          const parts = splitText(text, limit);
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
});
