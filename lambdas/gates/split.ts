/**
 * Splits a reply that is longer than the channel's limit into several messages: at sentence
 * boundaries (`.`, `!`, `?`, `…`, `。`, newline), never mid-word; a single sentence longer than
 * the limit is wrapped at whitespace; only a single word longer than the limit is cut, and then
 * between grapheme clusters, so an emoji or a letter with its diacritics is never broken.
 *
 * Linear time: every step works on index ranges of the one input string (no string built by
 * repeated concatenation, no regular expression over the whole text, nothing scanned twice
 * except a constant number of times), and a long word is segmented into graphemes one window
 * of `limit` code units at a time rather than whole. The input is bounded too: a reply longer
 * than `limit × maxParts` is cut first and ends with {@link TRUNCATION_MARKER}.
 */

/** Sentence-ending punctuation. CJK full-width marks end a sentence without a following space. */
const TERMINALS = new Set(['.', '!', '?', '…', '。', '！', '？', '‼', '⁇', '⁈', '⁉']);
const CJK_TERMINALS = new Set(['。', '！', '？']);
/** Closing quotes and brackets that belong to the sentence they close. */
const CLOSERS = new Set(['"', "'", '”', '’', '»', ')', ']', '}', '」', '』', '）']);

/** At most this many messages per reply (the length gate's output bound). */
export const MAX_REPLY_PARTS = 10;
/** What ends a reply that was cut to {@link MAX_REPLY_PARTS} parts. */
export const TRUNCATION_MARKER = ' […]';

/**
 * Optional instrumentation: `scanned` grows by the code units each step examines, so a test can
 * assert the splitter's work is proportional to its input without timing it.
 */
export interface SplitProbe {
  scanned: number;
}

/** The code units JavaScript's `\s` matches (checked by code, not by a regular expression). */
export function isWhitespaceCode(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** A slice `[start, end)` of the input whose non-whitespace core is `[coreStart, coreEnd)`. */
interface Range {
  readonly start: number;
  readonly end: number;
  readonly coreStart: number;
  readonly coreEnd: number;
}

function rangeOf(text: string, start: number, end: number, probe?: SplitProbe): Range {
  let coreStart = start;
  while (coreStart < end && isWhitespaceCode(text.charCodeAt(coreStart))) coreStart += 1;
  let coreEnd = end;
  while (coreEnd > coreStart && isWhitespaceCode(text.charCodeAt(coreEnd - 1))) coreEnd -= 1;
  if (probe) probe.scanned += coreStart - start + (end - coreEnd);
  return { start, end, coreStart, coreEnd };
}

/** Sentence ranges of `text[from, to)`, each with its trailing whitespace. */
function sentenceRanges(text: string, from: number, to: number, probe?: SplitProbe): Range[] {
  const out: Range[] = [];
  let start = from;
  let i = from;
  while (i < to) {
    const ch = text[i]!;
    let end = -1;
    if (ch === '\n') {
      end = i + 1;
    } else if (TERMINALS.has(ch)) {
      let j = i;
      let cjk = false;
      while (j < to && TERMINALS.has(text[j]!)) {
        if (CJK_TERMINALS.has(text[j]!)) cjk = true;
        j += 1;
      }
      while (j < to && CLOSERS.has(text[j]!)) j += 1;
      if (j === to || cjk || isWhitespaceCode(text.charCodeAt(j))) end = j;
      else i = j - 1;
    }
    if (end >= 0) {
      while (end < to && isWhitespaceCode(text.charCodeAt(end))) end += 1;
      out.push(rangeOf(text, start, end, probe));
      start = end;
      i = end;
    } else {
      i += 1;
    }
  }
  if (probe) probe.scanned += to - from;
  if (start < to) out.push(rangeOf(text, start, to, probe));
  return out;
}

/**
 * The sentences of `text`, each with its trailing whitespace, so that joining them gives back
 * `text` exactly. A terminal only ends a sentence when followed by whitespace or the end (so
 * `3.14`, `e.g.x` and URLs stay whole); a newline always does.
 */
export function sentences(text: string): string[] {
  return sentenceRanges(text, 0, text.length).map((r) => text.slice(r.start, r.end));
}

/** Word ranges of `text[from, to)`: leading whitespace (first word only), the word, trailing whitespace. */
function wordRanges(text: string, from: number, to: number, probe?: SplitProbe): Range[] {
  const out: Range[] = [];
  let i = from;
  let start = from;
  while (i < to && isWhitespaceCode(text.charCodeAt(i))) i += 1;
  while (i < to) {
    const coreStart = i;
    while (i < to && !isWhitespaceCode(text.charCodeAt(i))) i += 1;
    const coreEnd = i;
    while (i < to && isWhitespaceCode(text.charCodeAt(i))) i += 1;
    out.push({ start, end: i, coreStart, coreEnd });
    start = i;
  }
  if (probe) probe.scanned += to - from;
  return out;
}

const graphemeSegmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
/** Look-ahead past the limit so the grapheme at the cut is seen whole. */
const GRAPHEME_WINDOW_SLACK = 64;

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

/**
 * Cuts `text[from, to)` (one word) into chunks of at most `limit` code units, between grapheme
 * clusters. Each chunk segments only a window of `limit` + a little code units, so a word of
 * any length costs time proportional to its length.
 */
function cutWord(text: string, from: number, to: number, limit: number, probe?: SplitProbe): Range[] {
  const chunks: Range[] = [];
  let start = from;
  while (start < to) {
    if (to - start <= limit) {
      chunks.push({ start, end: to, coreStart: start, coreEnd: to });
      break;
    }
    const windowEnd = Math.min(to, start + limit + GRAPHEME_WINDOW_SLACK);
    const window = text.slice(start, windowEnd);
    if (probe) probe.scanned += window.length;
    // `containing` finds the grapheme at the cut without walking the window segment by
    // segment (iterating segments costs ~1 µs each; this is one lookup). The window starts at
    // a grapheme boundary, so the boundaries it reports are those of the whole text.
    const at = graphemeSegmenter.segment(window).containing(limit);
    let cut = at?.index ?? 0;
    if (cut === 0 || (at !== undefined && at.segment.length > limit)) {
      // A single grapheme longer than the limit (absurd limits only): fill up with its code points.
      // (A limit of 1 cannot hold an astral character: it goes whole rather than as lone surrogates.)
      cut = !isHighSurrogate(text.charCodeAt(start + limit - 1)) ? limit : limit > 1 ? limit - 1 : 2;
    }
    chunks.push({ start, end: start + cut, coreStart: start, coreEnd: start + cut });
    start += cut;
  }
  return chunks;
}

/**
 * Packs units greedily into parts of at most `limit` code units once trimmed; a unit whose core
 * cannot fit in a part of its own is broken by `tooLong` into pieces of at most `limit`. Units
 * are contiguous ranges of the input, so a part is always one slice `[first.coreStart, last.coreEnd)`.
 */
function pack(units: readonly Range[], limit: number, tooLong: (unit: Range) => Range[], out: Range[]): void {
  let open: Range | undefined;
  const flush = (): void => {
    if (open && open.coreEnd > open.coreStart) out.push(open);
    open = undefined;
  };
  for (const unit of units) {
    if (unit.coreEnd === unit.coreStart) {
      if (open) open = { ...open, end: unit.end };
      continue;
    }
    const coreStart = open && open.coreEnd > open.coreStart ? open.coreStart : unit.coreStart;
    if (unit.coreEnd - coreStart <= limit) {
      open = { start: open?.start ?? unit.start, end: unit.end, coreStart, coreEnd: unit.coreEnd };
      continue;
    }
    flush();
    if (unit.coreEnd - unit.coreStart <= limit) {
      open = unit;
    } else {
      const pieces = tooLong(unit);
      // All but the last piece are full; the last one may still share a part with what follows.
      for (let k = 0; k < pieces.length - 1; k += 1) out.push(pieces[k]!);
      const last = pieces.at(-1);
      if (last) open = { start: last.start, end: unit.end, coreStart: last.coreStart, coreEnd: last.coreEnd };
    }
  }
  flush();
}

/** The largest cut ≤ `at` that does not split a surrogate pair. */
function safeCut(text: string, at: number): number {
  return at > 0 && at < text.length && isHighSurrogate(text.charCodeAt(at - 1)) ? at - 1 : at;
}

/** The largest grapheme boundary of `text` at or before `at` (never splits an emoji or a letter). */
export function graphemeCut(text: string, at: number): number {
  if (at >= text.length) return text.length;
  if (at <= 0) return 0;
  const start = Math.max(0, at - GRAPHEME_WINDOW_SLACK);
  let cut = 0;
  // Segment only a window ending just past `at`: boundaries before `at` are decided by it.
  for (const { index } of graphemeSegmenter.segment(text.slice(start, Math.min(text.length, at + 1)))) {
    if (start + index > at) break;
    cut = start + index;
  }
  // A window start inside a huge cluster (absurd input): fall back to a code-point cut.
  return cut > start || start === 0 ? cut : safeCut(text, at);
}

/**
 * `text` cut to at most `limit` code units (at a grapheme boundary), ending with
 * {@link TRUNCATION_MARKER} when it was cut; `text` itself when it fits.
 */
export function withMarker(text: string, limit: number): string {
  if (text.length <= limit) return text;
  if (limit <= TRUNCATION_MARKER.length) return TRUNCATION_MARKER.trim().slice(0, limit);
  const keep = graphemeCut(text, limit - TRUNCATION_MARKER.length);
  return `${text.slice(0, keep).trimEnd()}${TRUNCATION_MARKER}`;
}

/** Options of {@link splitText}. */
export interface SplitOptions {
  /** At most this many parts (default {@link MAX_REPLY_PARTS}); the last one then ends with the marker. */
  readonly maxParts?: number;
  readonly probe?: SplitProbe;
}

/**
 * Splits `text` into messages of at most `limit` UTF-16 code units each (see the module
 * comment for where it cuts), at most `maxParts` of them: a longer reply is cut, its last part
 * ending with {@link TRUNCATION_MARKER}. Text within the limit comes back whole (trimmed);
 * blank text gives no parts. Time and memory linear in `min(text.length, limit × maxParts)`.
 * @throws RangeError when `limit` or `maxParts` is not a positive integer.
 */
export function splitText(text: string, limit: number, options: SplitOptions = {}): string[] {
  const maxParts = options.maxParts ?? MAX_REPLY_PARTS;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`The length limit must be a positive integer, got ${limit}.`);
  }
  if (!Number.isInteger(maxParts) || maxParts < 1) {
    throw new RangeError(`The part limit must be a positive integer, got ${maxParts}.`);
  }
  const probe = options.probe;
  // Bound the work first: nothing past limit × maxParts (+1 to know it was longer) can be sent.
  const budget = limit * maxParts;
  let source = text;
  let cut = false;
  const whole = rangeOf(text, 0, text.length);
  if (whole.coreEnd - whole.coreStart > budget) {
    source = text.slice(whole.coreStart, safeCut(text, whole.coreStart + budget + 1));
    cut = true;
  } else {
    source = text.slice(whole.coreStart, whole.coreEnd);
  }
  if (probe) probe.scanned += source.length;
  if (source === '') return [];
  if (!cut && source.length <= limit) return [source];

  const ranges: Range[] = [];
  pack(
    sentenceRanges(source, 0, source.length, probe),
    limit,
    (sentence) => {
      const words: Range[] = [];
      pack(
        wordRanges(source, sentence.coreStart, sentence.coreEnd, probe),
        limit,
        (word) => cutWord(source, word.coreStart, word.coreEnd, limit, probe),
        words,
      );
      return words;
    },
    ranges,
  );
  const parts = ranges.slice(0, maxParts).map((r) => source.slice(r.coreStart, r.coreEnd));
  if (cut || ranges.length > maxParts) {
    const lastIndex = parts.length - 1;
    const last = parts[lastIndex] ?? '';
    parts[lastIndex] =
      last.length + TRUNCATION_MARKER.length <= limit
        ? `${last}${TRUNCATION_MARKER}`
        : withMarker(`${last}${TRUNCATION_MARKER}`, limit);
  }
  return parts;
}
