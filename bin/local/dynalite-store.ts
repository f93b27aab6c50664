/**
 * A Level-compatible store for dynalite in the local stack: plain JS structures (a `Map` of
 * JSON strings and a sorted key array), synchronous inside, with an append-only journal in the
 * data directory instead of LevelDB.
 *
 * dynalite 4.0 (`node_modules/dynalite/db/index.js`) builds its store with
 * `new Level(path, { valueEncoding: 'json' })` or `new MemoryLevel({ valueEncoding: 'json' })`
 * and uses only `put`, `get`, `del`, `batch` and `close` (all promise-returning; it wraps them in
 * callbacks itself) and `keys(options)` / `values(options)` (async iterators read with `next()`
 * and `return()`, options `gt`/`gte`/`lt`/`lte`/`reverse`/`limit`). That surface is what
 * {@link DynaliteStore} implements, and {@link loadDynalite} loads a copy of dynalite bound to it.
 * LevelDB (via classic-level) made each get and put a trip through libuv's thread pool and its
 * iterators a native round trip per item: the largest item on the emulator thread's profile.
 *
 * Durability is LevelDB's default: each put, del and batch is appended to the journal with one
 * synchronous `write(2)` before its promise resolves (so it is in the operating system when
 * dynalite answers, and a killed process loses nothing it acknowledged), without an `fsync` per
 * write. The journal is replayed on open (an incomplete last record, left by a kill mid-write, is
 * dropped) and rewritten with only the live entries (temporary file, `fsync`, rename) when it has
 * grown well past them. A data directory from before this store holds a LevelDB in the same
 * directory: {@link prepareDynaliteStore} imports it once.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import type dynalite from 'dynalite';
import { cacheExpressionParser, type ExpressionParser } from './dynalite-parse-cache.js';
import { renameDurably } from './sqs-journal.js';

/** The journal's file name inside the store's directory (`<dataDir>/dynamodb/`). */
export const JOURNAL_FILE = 'tables.jsonl';

/** Rewrite the journal at open once it is this many times the live entries' size (and ≥ the floor). */
const COMPACT_FACTOR_AT_OPEN = 2;
/** Rewrite it while running once it is this many times their size (and ≥ the floor). */
const COMPACT_FACTOR_RUNNING = 4;
const COMPACT_FLOOR_BYTES = 1 << 20;

/** The error code abstract-level gives an operation on a closed database (dynalite maps it). */
const NOT_OPEN = 'LEVEL_DATABASE_NOT_OPEN';

/** An error shaped like abstract-level's (`code`), which dynalite's wrappers test. */
export class DynaliteStoreError extends Error {
  override readonly name = 'DynaliteStoreError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Range options of `keys()` / `values()`, as abstract-level reads them. */
export interface RangeOptions {
  readonly gt?: string;
  readonly gte?: string;
  readonly lt?: string;
  readonly lte?: string;
  readonly reverse?: boolean;
  /** `-1` or absent: no limit. */
  readonly limit?: number;
}

/** One operation of {@link DynaliteStore.batch}. */
export type BatchOperation =
  | { readonly type: 'put'; readonly key: string; readonly value: unknown }
  | { readonly type: 'del'; readonly key: string };

/**
 * What dynalite's stream wrapper reads: `next()` resolving to the next key or value, or
 * `undefined` at the end (abstract-level's iterator contract, not the ES one), and `return()`.
 * The range is taken when the iterator is created (LevelDB iterators read a snapshot too).
 */
export class RangeIterator<T> {
  #items: readonly string[];
  #index = 0;
  readonly #parse: boolean;

  /** @internal */
  constructor(items: readonly string[], parse: boolean) {
    this.#items = items;
    this.#parse = parse;
  }

  /** The next key or value, `undefined` after the last. */
  next(): Promise<T | undefined> {
    const raw = this.#items[this.#index];
    if (raw === undefined) return Promise.resolve(undefined);
    this.#index++;
    return Promise.resolve((this.#parse ? JSON.parse(raw) : raw) as T);
  }

  /** Ends the iteration early. */
  return(): Promise<void> {
    this.#items = [];
    return Promise.resolve();
  }

  /** abstract-level's name for {@link return}. */
  close(): Promise<void> {
    return this.return();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const item = await this.next();
      if (item === undefined) return;
      yield item;
    }
  }
}

type JournalRecord = { k: string; v: unknown } | { d: string } | { b: Array<[string, unknown] | [string]> };

/** Index of the first key ≥ `key` (`strict`: > `key`) in the sorted array. */
function bound(keys: readonly string[], key: string, strict: boolean): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = keys[mid] as string;
    if (k < key || (strict && k === key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function notOpen(): Promise<never> {
  return Promise.reject(new DynaliteStoreError(NOT_OPEN, 'Database is not open'));
}

function putLine(key: string, raw: string): string {
  return `{"k":${JSON.stringify(key)},"v":${raw}}\n`;
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}

/** Writes `lines` to `path` through a temporary file, `fsync` and rename (and syncs the directory). */
function replaceFile(path: string, lines: Iterable<string>): number {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  let bytes = 0;
  try {
    let chunk = '';
    for (const line of lines) {
      chunk += line;
      if (chunk.length >= 1 << 20) {
        writeAll(fd, chunk);
        bytes += Buffer.byteLength(chunk);
        chunk = '';
      }
    }
    writeAll(fd, chunk);
    bytes += Buffer.byteLength(chunk);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameDurably(tmp, path);
  return bytes;
}

/** What opening a journal found (for tests and diagnostics). */
export interface JournalOpenStats {
  /** Complete records replayed. */
  readonly records: number;
  /** Bytes of an incomplete last record dropped (a kill mid-write). */
  readonly tornBytes: number;
  /** Whether the journal was rewritten with only the live entries. */
  readonly compacted: boolean;
}

/**
 * dynalite's store: `new DynaliteStore(path, { valueEncoding: 'json' })` keeps its entries in
 * `path/tables.jsonl`; `new DynaliteStore({ valueEncoding: 'json' })` only in memory.
 */
export class DynaliteStore {
  /** Sorted keys (ASCII here, so JS string order is LevelDB's byte order). */
  #keys: string[] = [];
  /** Values as JSON text: every `get` returns a fresh object, as LevelDB's decoding does. */
  readonly #values = new Map<string, string>();
  #open = true;
  #fd: number | undefined;
  #journalPath: string | undefined;
  #journalBytes = 0;
  #liveBytes = 0;
  /** What opening the journal found; `undefined` in memory. */
  readonly opened: JournalOpenStats | undefined;

  constructor(location?: string | { valueEncoding?: string }, options?: { valueEncoding?: string }) {
    const opts = typeof location === 'string' ? options : location;
    if (opts?.valueEncoding !== undefined && opts.valueEncoding !== 'json') {
      throw new DynaliteStoreError(
        'LEVEL_ENCODING_NOT_SUPPORTED',
        `DynaliteStore stores JSON values only, not ${opts.valueEncoding}`,
      );
    }
    if (typeof location === 'string') this.opened = this.#openJournal(location);
  }

  /** The value stored at `key` (a fresh copy), or `undefined`. */
  get(key: string): Promise<unknown> {
    if (!this.#open) return notOpen();
    const raw = this.#values.get(key);
    return Promise.resolve(raw === undefined ? undefined : JSON.parse(raw));
  }

  /** Stores `value` at `key`; resolves once it is in the journal (in the operating system). */
  put(key: string, value: unknown): Promise<void> {
    if (!this.#open) return notOpen();
    if (value === null || value === undefined) return invalidValue();
    const raw = JSON.stringify(value);
    if (this.#fd !== undefined) this.#append(putLine(key, raw));
    this.#set(key, raw);
    this.#maybeCompact();
    return Promise.resolve();
  }

  /** Deletes `key` (a missing key is no error). */
  del(key: string): Promise<void> {
    if (!this.#open) return notOpen();
    if (this.#fd !== undefined) this.#append(`{"d":${JSON.stringify(key)}}\n`);
    this.#delete(key);
    this.#maybeCompact();
    return Promise.resolve();
  }

  /** Applies every operation, atomically: one journal record for the whole batch. */
  batch(operations: readonly BatchOperation[]): Promise<void> {
    if (!this.#open) return notOpen();
    const raws: Array<string | undefined> = [];
    for (const op of operations) {
      if (op.type === 'put') {
        if (op.value === null || op.value === undefined) return invalidValue();
        raws.push(JSON.stringify(op.value));
      } else raws.push(undefined);
    }
    if (this.#fd !== undefined && operations.length > 0) {
      const parts = operations.map((op, i) => {
        const raw = raws[i];
        return raw === undefined ? `[${JSON.stringify(op.key)}]` : `[${JSON.stringify(op.key)},${raw}]`;
      });
      this.#append(`{"b":[${parts.join(',')}]}\n`);
    }
    operations.forEach((op, i) => {
      const raw = raws[i];
      if (raw === undefined) this.#delete(op.key);
      else this.#set(op.key, raw);
    });
    this.#maybeCompact();
    return Promise.resolve();
  }

  /** Keys in the range, in order (`reverse`: descending), at most `limit`. */
  keys(options: RangeOptions = {}): RangeIterator<string> {
    return new RangeIterator<string>(this.#range(options, false), false);
  }

  /** Values (fresh copies) of the keys in the range, in key order. */
  values(options: RangeOptions = {}): RangeIterator<unknown> {
    return new RangeIterator<unknown>(this.#range(options, true), true);
  }

  /** Closes the store (and its journal); later operations fail with `LEVEL_DATABASE_NOT_OPEN`. */
  close(): Promise<void> {
    if (this.#open) {
      this.#open = false;
      if (this.#fd !== undefined) closeSync(this.#fd);
      this.#fd = undefined;
    }
    return Promise.resolve();
  }

  /** `'open'` or `'closed'` (abstract-level's `status`). */
  get status(): 'open' | 'closed' {
    return this.#open ? 'open' : 'closed';
  }

  /** Number of live entries. */
  get size(): number {
    return this.#keys.length;
  }

  #range(options: RangeOptions, values: boolean): string[] {
    // abstract-level throws here, synchronously, when the database is closed.
    if (!this.#open) throw new DynaliteStoreError(NOT_OPEN, 'Database is not open');
    const keys = this.#keys;
    // abstract-level's precedence: gte over gt, lte over lt.
    const lo =
      options.gte !== undefined
        ? bound(keys, options.gte, false)
        : options.gt !== undefined
          ? bound(keys, options.gt, true)
          : 0;
    const hi =
      options.lte !== undefined
        ? bound(keys, options.lte, true)
        : options.lt !== undefined
          ? bound(keys, options.lt, false)
          : keys.length;
    const limit =
      Number.isInteger(options.limit) && (options.limit as number) >= 0 ? (options.limit as number) : -1;
    const count = Math.max(0, limit === -1 ? hi - lo : Math.min(hi - lo, limit));
    const out = new Array<string>(count);
    for (let i = 0; i < count; i++) {
      const key = keys[options.reverse ? hi - 1 - i : lo + i] as string;
      out[i] = values ? (this.#values.get(key) as string) : key;
    }
    return out;
  }

  #set(key: string, raw: string): void {
    const previous = this.#values.get(key);
    if (previous === undefined) {
      const keys = this.#keys;
      // Appending in order is the common case when loading a snapshot.
      const last = keys[keys.length - 1];
      if (last === undefined || last < key) keys.push(key);
      else keys.splice(bound(keys, key, false), 0, key);
      this.#liveBytes += key.length + raw.length + 16;
    } else this.#liveBytes += raw.length - previous.length;
    this.#values.set(key, raw);
  }

  #delete(key: string): void {
    const previous = this.#values.get(key);
    if (previous === undefined) return;
    this.#values.delete(key);
    this.#keys.splice(bound(this.#keys, key, false), 1);
    this.#liveBytes -= key.length + previous.length + 16;
  }

  #append(line: string): void {
    const fd = this.#fd as number;
    const bytes = Buffer.from(line, 'utf8');
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    this.#journalBytes += bytes.length;
  }

  #snapshotLines(): Iterable<string> {
    const values = this.#values;
    return this.#keys.map((key) => putLine(key, values.get(key) as string));
  }

  #maybeCompact(): void {
    if (
      this.#fd !== undefined &&
      this.#journalBytes > COMPACT_FLOOR_BYTES &&
      this.#journalBytes > COMPACT_FACTOR_RUNNING * this.#liveBytes
    ) {
      this.#compact();
    }
  }

  #compact(): void {
    const path = this.#journalPath as string;
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    this.#journalBytes = replaceFile(path, this.#snapshotLines());
    this.#fd = openSync(path, 'a', 0o600);
  }

  #openJournal(location: string): JournalOpenStats {
    mkdirSync(location, { recursive: true, mode: 0o700 });
    const path = join(location, JOURNAL_FILE);
    this.#journalPath = path;
    if (!existsSync(path) && existsSync(join(location, 'CURRENT'))) {
      throw new DynaliteStoreError(
        'LEVEL_DATABASE_NOT_OPEN',
        `${location} holds a LevelDB store from an earlier version: import it with prepareDynaliteStore() first`,
      );
    }
    let records = 0;
    let tornBytes = 0;
    let goodBytes = 0;
    if (existsSync(path)) {
      const text = readFileSync(path);
      let start = 0;
      for (;;) {
        const end = text.indexOf(10, start);
        if (end === -1) {
          tornBytes = text.length - start;
          break;
        }
        const line = text.toString('utf8', start, end);
        let record: JournalRecord;
        try {
          record = JSON.parse(line) as JournalRecord;
        } catch (err) {
          throw new DynaliteStoreError(
            'LEVEL_CORRUPTION',
            `${path}: record ${records + 1} (byte ${start}) is not JSON`,
            { cause: err },
          );
        }
        this.#apply(record);
        records++;
        start = end + 1;
      }
      goodBytes = start;
    }
    const compacted = goodBytes > COMPACT_FLOOR_BYTES && goodBytes > COMPACT_FACTOR_AT_OPEN * this.#liveBytes;
    if (compacted) {
      this.#journalBytes = replaceFile(path, this.#snapshotLines());
      this.#fd = openSync(path, 'a', 0o600);
    } else {
      this.#fd = openSync(path, 'a', 0o600);
      // Appending after an incomplete record would glue the next one to it.
      if (tornBytes > 0) {
        ftruncateSync(this.#fd, goodBytes);
        fsyncSync(this.#fd);
      }
      this.#journalBytes = fstatSync(this.#fd).size;
    }
    return { records, tornBytes, compacted };
  }

  #apply(record: JournalRecord): void {
    if ('k' in record) this.#set(record.k, JSON.stringify(record.v));
    else if ('d' in record) this.#delete(record.d);
    else {
      for (const op of record.b) {
        if (op.length === 1) this.#delete(op[0]);
        else this.#set(op[0], JSON.stringify(op[1]));
      }
    }
  }
}

function invalidValue(): Promise<never> {
  return Promise.reject(new DynaliteStoreError('LEVEL_INVALID_VALUE', 'Value cannot be null or undefined'));
}

const requireHere = createRequire(import.meta.url);

/** The path of dynalite's entry module and a `require` that resolves as dynalite does. */
function dynaliteModule(): { main: string; require: NodeJS.Require } {
  const main = requireHere.resolve('dynalite');
  return { main, require: createRequire(main) };
}

/** What {@link prepareDynaliteStore} did. */
export interface PrepareResult {
  /** Entries imported from an earlier version's LevelDB store (0 when there was none). */
  readonly imported: number;
}

/**
 * Readies `location` (`<dataDir>/dynamodb`) for {@link DynaliteStore}: a LevelDB store left
 * there by an earlier version (dynalite on classic-level) and not yet imported is read with the
 * real `level` package and written as the journal (temporary file, `fsync`, rename), once. The
 * LevelDB files are left where they are and ignored from then on.
 */
export async function prepareDynaliteStore(location: string): Promise<PrepareResult> {
  const journal = join(location, JOURNAL_FILE);
  if (existsSync(journal) || !existsSync(join(location, 'CURRENT'))) return { imported: 0 };
  const { Level } = dynaliteModule().require('level') as typeof import('level');
  const db = new Level<string, string>(location, {
    keyEncoding: 'utf8',
    valueEncoding: 'utf8',
    createIfMissing: false,
  });
  await db.open();
  const lines: string[] = [];
  try {
    for await (const [key, value] of db.iterator()) lines.push(putLine(key, value));
  } finally {
    await db.close();
  }
  replaceFile(journal, lines);
  return { imported: lines.length };
}

/**
 * Whether the local stack runs dynalite on {@link DynaliteStore}: yes unless
 * `LOCAL_DYNALITE_STORE` is `level` (stock dynalite on LevelDB / memory-level, as before; for
 * comparisons only: it neither reads nor writes the journal).
 */
export function dynaliteStoreEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.LOCAL_DYNALITE_STORE?.trim().toLowerCase() !== 'level';
}

/** Stock dynalite, on the `level` package it depends on. */
export function loadStockDynalite(): typeof dynalite {
  return requireHere('dynalite') as typeof dynalite;
}

let loaded: typeof dynalite | undefined;

/**
 * dynalite bound to {@link DynaliteStore}: its `level` and `memory-level` dependencies are
 * replaced in `require.cache` while a fresh copy of its modules loads (dynalite reads them once,
 * at load), then restored, and dynalite's modules are dropped from the cache again, so any other
 * `require('dynalite')` or `require('level')` in the process still gets the stock packages.
 */
export function loadDynalite(): typeof dynalite {
  if (loaded) return loaded;
  const { main, require: fromDynalite } = dynaliteModule();
  const cache = requireHere.cache;
  const dir = dirname(main) + sep;
  const own = `${dir}node_modules${sep}`;
  const evict = (): void => {
    for (const key of Object.keys(cache)) {
      if (key.startsWith(dir) && !key.startsWith(own)) delete cache[key];
    }
  };
  const stand = (path: string, exports: object): Module => {
    const m = new Module(path);
    m.filename = path;
    m.loaded = true;
    m.exports = exports;
    return m;
  };
  const replaced = [
    [fromDynalite.resolve('level'), { Level: DynaliteStore }],
    [fromDynalite.resolve('memory-level'), { MemoryLevel: DynaliteStore }],
  ] as const;
  const saved = replaced.map(([path]) => [path, cache[path]] as const);
  evict();
  try {
    for (const [path, exports] of replaced) cache[path] = stand(path, exports);
    loaded = requireHere(main) as typeof dynalite;
    // This copy's expression parsers, before they leave the cache (bin/local/dynalite-parse-cache.ts).
    for (const name of ['conditionParser', 'updateParser', 'projectionParser']) {
      const parser = cache[join(dir, 'db', `${name}.js`)]?.exports as ExpressionParser | undefined;
      if (typeof parser?.parse !== 'function') throw new Error(`dynalite's db/${name}.js was not loaded`);
      cacheExpressionParser(parser);
    }
  } finally {
    for (const [path, m] of saved) {
      if (m === undefined) delete cache[path];
      else cache[path] = m;
    }
    evict();
  }
  return loaded;
}
