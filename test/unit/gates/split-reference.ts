/**
 * The splitter as it was before it was made linear (quadratic on long words and whitespace
 * runs): the reference the linear one must agree with, part for part, on every input that is
 * within its bound. Test-only.
 *
 * Splits a reply that is longer than the channel's limit into several messages: at sentence
 * boundaries (`.`, `!`, `?`, `…`, `。`, newline), never mid-word; a single sentence longer than
 * the limit is wrapped at whitespace; only a single word longer than the limit is cut, and then
 * between grapheme clusters, so an emoji or a letter with its diacritics is never broken.
 */

/** Sentence-ending punctuation. CJK full-width marks end a sentence without a following space. */
const TERMINALS = new Set(['.', '!', '?', '…', '。', '！', '？', '‼', '⁇', '⁈', '⁉']);
const CJK_TERMINALS = new Set(['。', '！', '？']);
/** Closing quotes and brackets that belong to the sentence they close. */
const CLOSERS = new Set(['"', "'", '”', '’', '»', ')', ']', '}', '」', '』', '）']);
const WHITESPACE = /\s/u;

/**
 * The sentences of `text`, each with its trailing whitespace, so that joining them gives back
 * `text` exactly. A terminal only ends a sentence when followed by whitespace or the end (so
 * `3.14`, `e.g.x` and URLs stay whole); a newline always does.
 */
export function referenceSentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    let end = -1;
    if (ch === '\n') {
      end = i + 1;
    } else if (TERMINALS.has(ch)) {
      let j = i;
      let cjk = false;
      while (j < text.length && TERMINALS.has(text[j]!)) {
        if (CJK_TERMINALS.has(text[j]!)) cjk = true;
        j += 1;
      }
      while (j < text.length && CLOSERS.has(text[j]!)) j += 1;
      if (j === text.length || cjk || WHITESPACE.test(text[j]!)) end = j;
      else i = j - 1;
    }
    if (end >= 0) {
      while (end < text.length && WHITESPACE.test(text[end]!)) end += 1;
      out.push(text.slice(start, end));
      start = end;
      i = end;
    } else {
      i += 1;
    }
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

/** The words of `text`, each with its trailing whitespace (joining them gives back `text`). */
function words(text: string): string[] {
  return text.match(/\s*\S+\s*/gu) ?? [];
}

const graphemeSegmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Cuts one word into chunks of at most `limit` code units, between grapheme clusters. */
function cutWord(word: string, limit: number): string[] {
  const chunks: string[] = [];
  let current = '';
  for (const { segment } of graphemeSegmenter.segment(word)) {
    // A single grapheme longer than the limit (absurd limits only) falls back to code points.
    const pieces = segment.length > limit ? Array.from(segment) : [segment];
    for (const piece of pieces) {
      if (current.length + piece.length > limit && current !== '') {
        chunks.push(current);
        current = '';
      }
      current += piece;
    }
  }
  if (current !== '') chunks.push(current);
  return chunks;
}

/**
 * Packs units (each carrying its trailing whitespace) greedily into parts of at most `limit`
 * code units once trimmed; a unit that cannot fit in a part of its own goes to `tooLong`.
 */
function pack(units: readonly string[], limit: number, tooLong: (unit: string) => string[]): string[] {
  const parts: string[] = [];
  let current = '';
  const flush = (): void => {
    const trimmed = current.trim();
    if (trimmed !== '') parts.push(trimmed);
    current = '';
  };
  for (const unit of units) {
    if ((current + unit).trim().length <= limit) {
      current += unit;
      continue;
    }
    flush();
    if (unit.trim().length <= limit) {
      current = unit;
    } else {
      const pieces = tooLong(unit.trim());
      // All but the last piece are full; the last one may still share a part with what follows.
      parts.push(...pieces.slice(0, -1));
      current = `${pieces.at(-1) ?? ''}${/\s+$/u.exec(unit)?.[0] ?? ''}`;
    }
  }
  flush();
  return parts;
}

/**
 * Splits `text` into messages of at most `limit` UTF-16 code units each (see the module
 * comment for where it cuts). Text within the limit comes back whole (trimmed); blank text
 * gives no parts.
 * @throws RangeError when `limit` is not a positive integer.
 */
export function referenceSplitText(text: string, limit: number): string[] {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`The length limit must be a positive integer, got ${limit}.`);
  }
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (trimmed.length <= limit) return [trimmed];
  return pack(referenceSentences(trimmed), limit, (sentence) =>
    pack(words(sentence), limit, (word) => cutWord(word, limit)),
  );
}
