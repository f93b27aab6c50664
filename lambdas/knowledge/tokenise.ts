/**
 * Vietnamese-friendly tokenisation for the local retriever. Text is NFC-normalised and
 * lower-cased; each word is indexed as written (diacritics kept: `bán` and `bàn` differ) AND
 * diacritic-stripped (`ban`, `đ` → `d`), because customers often type without accents. Adjacent
 * stripped words also form bigrams: Vietnamese words are mostly two syllables (`áo thun`,
 * `giao hàng`), so a bigram match is worth more than two loose syllables. Numbers keep their
 * digits only (`199.000` → `199000`) so a price written either way matches.
 */

const MARKS = /\p{M}+/gu;
const D_STROKE = /[đĐ]/g;
/** Words: letters/digits, a number may carry `.`/`,` group separators. */
const WORD = /[\p{L}\p{M}\p{N}]+(?:[.,]\p{N}+)*/gu;

/** `word` without diacritics (`đ` → `d`). */
export function stripDiacritics(word: string): string {
  return word
    .normalize('NFD')
    .replace(MARKS, '')
    .replace(D_STROKE, (c) => (c === 'đ' ? 'd' : 'D'))
    .normalize('NFC');
}

/** The words of `text`: NFC, lower case, numbers reduced to their digits. */
export function words(text: string): string[] {
  const out: string[] = [];
  for (const match of text.normalize('NFC').toLowerCase().matchAll(WORD)) {
    const word = match[0];
    out.push(/^[\p{N}.,]+$/u.test(word) ? word.replace(/[.,]/g, '') : word);
  }
  return out;
}

/**
 * The index terms of `text`: each word as written, its stripped form when different (`s:`
 * prefix keeps `ban` typed bare from colliding with the marked-form vocabulary), and stripped
 * bigrams (`b:` prefix).
 */
export function terms(text: string): string[] {
  const list = words(text);
  const out: string[] = [];
  let previous: string | undefined;
  for (const word of list) {
    const stripped = stripDiacritics(word);
    out.push(word);
    out.push(`s:${stripped}`);
    if (previous !== undefined) out.push(`b:${previous} ${stripped}`);
    previous = stripped;
  }
  return out;
}
