/**
 * Text normalisation for comparisons: case-, diacritics- and spacing-insensitive, so
 * `Miễn phí`, `MIEN PHI` and `mien  phi` compare equal. Vietnamese `đ`/`Đ` has no canonical
 * decomposition (it is a distinct letter, not d + mark), so it is mapped to `d` explicitly.
 */

const MARKS = /\p{M}+/gu;
const D_STROKE = /[đĐ]/g;

/** Lowercase, strip diacritics (NFD, drop combining marks, đ → d), NFKC-fold compatibility forms. */
export function foldText(text: string): string {
  return text.normalize('NFKD').replace(MARKS, '').replace(D_STROKE, 'd').toLowerCase().normalize('NFC');
}

/**
 * The words of `text` after {@link foldText}: runs of letters and digits. Punctuation, emoji
 * and whitespace only separate words.
 */
export function foldedWords(text: string): string[] {
  return foldText(text).match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** {@link foldedWords} joined with single spaces: the canonical form used for comparisons. */
export function canonical(text: string): string {
  return foldedWords(text).join(' ');
}

/** Invisible characters that make a reply look non-empty while showing nothing. */
const INVISIBLE = /(?:[\s\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e]|\u034f)/gu;

/** True when `text` shows nothing to a reader (empty, whitespace, zero-width characters). */
export function isBlank(text: string | undefined): boolean {
  return text === undefined || text.replace(INVISIBLE, '') === '';
}
