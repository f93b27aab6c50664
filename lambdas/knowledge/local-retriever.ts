/**
 * The local stack's retriever: an in-process BM25 index of each tenant's knowledge folder,
 * `<dir>/<tenantId>/*.md|*.txt|*.csv` (the folder `knowledge/` next to the tenants file). Each
 * tenant has its own index built from its own folder only, so isolation is structural: a
 * query for one tenant never reads another tenant's files. The index is rebuilt when a file is
 * added, removed or changed (names, sizes and mtimes are compared on each query).
 *
 * Passages: Markdown is cut at headings and blank lines, plain text at blank lines, both packed
 * up to {@link MAX_PASSAGE_CHARS} with the heading repeated; a CSV catalogue gives one passage
 * per row (`column: value; …`). PDFs are not read locally (text extraction needs a large
 * dependency): they are skipped with a warning; the deployed knowledge base parses them.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { TENANT_ID_PATTERN } from '../contracts/index.js';
import { DependencyError } from '../shared/errors.js';
import { parseCsv } from './csv.js';
import type { Passage, RetrieveRequest, RetrieveResult, Retriever } from './retriever.js';
import { terms } from './tokenise.js';

/** Longest passage cut from a Markdown or text file, in characters. */
export const MAX_PASSAGE_CHARS = 1200;
/** Files larger than this are skipped (a knowledge file is prose or a catalogue, not a dump). */
export const MAX_FILE_BYTES = 5 * 1024 * 1024;
/** The file types indexed locally. */
export const LOCAL_EXTENSIONS = ['.md', '.markdown', '.txt', '.csv'] as const;

export { parseCsv } from './csv.js';

const K1 = 1.2;
const B = 0.75;

/** Where the local retriever reports skipped files. */
export interface LocalRetrieverLog {
  warn(message: string, detail?: Record<string, unknown>): void;
}

export interface LocalRetrieverOptions {
  /** The knowledge folder: one sub-folder per tenant id. */
  readonly dir: string;
  readonly log?: LocalRetrieverLog;
}

interface Doc {
  readonly passage: Omit<Passage, 'score'>;
  readonly tf: Map<string, number>;
  readonly length: number;
}

interface TenantIndex {
  readonly signature: string;
  readonly docs: readonly Doc[];
  readonly df: Map<string, number>;
  readonly avgLength: number;
}

/** One passage per catalogue row: `column: value; column: value` (empty cells left out). */
export function csvPassages(text: string): string[] {
  const [header, ...rows] = parseCsv(text.replace(/^\uFEFF/, ''));
  if (!header) return [];
  return rows.map((row) =>
    row
      .map((value, i) => [header[i]?.trim() || `column ${i + 1}`, value.trim()] as const)
      .filter(([, value]) => value !== '')
      .map(([name, value]) => `${name}: ${value}`)
      .join('; '),
  );
}

/**
 * Prose passages: blocks separated by blank lines (and Markdown headings), packed up to
 * `maxChars`; each passage starts with the heading it sits under so it reads on its own.
 */
export function prosePassages(text: string, maxChars: number = MAX_PASSAGE_CHARS): string[] {
  const out: string[] = [];
  let heading = '';
  let current = '';
  const flush = (): void => {
    if (current.trim() !== '') out.push(current.trim());
    current = '';
  };
  const add = (block: string): void => {
    if (current !== '' && current.length + block.length + 2 > maxChars) flush();
    if (current === '') current = heading ? `${heading}\n` : '';
    else current += '\n\n';
    // A single block longer than a passage is cut at whitespace.
    let rest = block;
    while (current.length + rest.length > maxChars) {
      const room = Math.max(1, maxChars - current.length);
      const cut = rest.lastIndexOf(' ', room);
      const at = cut > room / 2 ? cut : room;
      current += rest.slice(0, at);
      flush();
      current = heading ? `${heading}\n` : '';
      rest = rest.slice(at).trimStart();
    }
    current += rest;
  };
  const blocks = text.replace(/\r\n?/g, '\n').split(/\n\s*\n|\n(?=#{1,6}\s)/);
  for (const raw of blocks) {
    const block = raw.trim();
    if (block === '') continue;
    const headingMatch = /^(#{1,6})\s+(.*)$/m.exec(block);
    if (headingMatch && headingMatch.index === 0) {
      flush();
      heading = headingMatch[2]!.trim();
      const body = block.slice(headingMatch[0].length).trim();
      if (body !== '') add(body);
      continue;
    }
    add(block);
  }
  flush();
  return out;
}

function termFrequencies(text: string): { tf: Map<string, number>; length: number } {
  const tf = new Map<string, number>();
  const list = terms(text);
  for (const term of list) tf.set(term, (tf.get(term) ?? 0) + 1);
  return { tf, length: list.length };
}

/** Retrieves from per-tenant folders with BM25 (k1 1.2, b 0.75). */
export class LocalRetriever implements Retriever {
  readonly kind = 'local';
  private readonly dir: string;
  private readonly log: LocalRetrieverLog | undefined;
  private readonly indexes = new Map<string, TenantIndex>();
  private readonly warned = new Set<string>();

  constructor(options: LocalRetrieverOptions) {
    this.dir = options.dir;
    this.log = options.log;
  }

  async retrieve(request: RetrieveRequest): Promise<RetrieveResult> {
    const index = await this.index(request.tenantId);
    if (index.docs.length === 0) return { passages: [] };
    const queryTerms = [...new Set(terms(request.query))];
    const n = index.docs.length;
    const scored: Passage[] = [];
    for (const doc of index.docs) {
      let score = 0;
      for (const term of queryTerms) {
        const tf = doc.tf.get(term);
        if (tf === undefined) continue;
        const df = index.df.get(term) ?? 0;
        const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
        score += (idf * tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * doc.length) / index.avgLength));
      }
      if (score > 0) scored.push({ ...doc.passage, score: Math.round(score * 1000) / 1000 });
    }
    scored.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id));
    return { passages: scored.slice(0, Math.max(0, request.topK)) };
  }

  /** Number of passages indexed for `tenantId` (rebuilding the index if its files changed). */
  async size(tenantId: string): Promise<number> {
    return (await this.index(tenantId)).docs.length;
  }

  private tenantDir(tenantId: string): string {
    // The id becomes a path: only well-formed ids, so `../other` can never name another folder.
    if (!TENANT_ID_PATTERN.test(tenantId)) {
      throw new DependencyError(`Not a tenant id: "${tenantId.slice(0, 64)}".`);
    }
    return join(this.dir, tenantId);
  }

  private async listing(dir: string): Promise<{ name: string; size: number; mtimeMs: number }[]> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new DependencyError(`Cannot read the knowledge folder ${dir}.`, { cause: err });
    }
    const files: { name: string; size: number; mtimeMs: number }[] = [];
    for (const name of names.sort()) {
      const info = await stat(join(dir, name)).catch(() => undefined);
      if (info?.isFile()) files.push({ name, size: info.size, mtimeMs: info.mtimeMs });
    }
    return files;
  }

  private warnOnce(key: string, message: string, detail: Record<string, unknown>): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log?.warn(message, detail);
  }

  private async index(tenantId: string): Promise<TenantIndex> {
    const dir = this.tenantDir(tenantId);
    const files = await this.listing(dir);
    const signature = files.map((f) => `${f.name}:${f.size}:${f.mtimeMs}`).join('|');
    const cached = this.indexes.get(tenantId);
    if (cached?.signature === signature) return cached;

    const docs: Doc[] = [];
    for (const file of files) {
      const ext = extname(file.name).toLowerCase();
      const source = `${tenantId}/${file.name}`;
      if (!(LOCAL_EXTENSIONS as readonly string[]).includes(ext)) {
        this.warnOnce(
          `${source}:${file.mtimeMs}`,
          ext === '.pdf'
            ? 'PDF knowledge files are not indexed by the local stack (the deployed knowledge base reads them); save it as .md or .txt to use it locally'
            : 'Knowledge file skipped: the local stack indexes .md, .txt and .csv files',
          { file: source },
        );
        continue;
      }
      if (file.size > MAX_FILE_BYTES) {
        this.warnOnce(`${source}:${file.mtimeMs}`, 'Knowledge file skipped: larger than 5 MB', {
          file: source,
          bytes: file.size,
        });
        continue;
      }
      const text = await readFile(join(dir, file.name), 'utf8');
      const passages = ext === '.csv' ? csvPassages(text) : prosePassages(text);
      passages.forEach((passageText, i) => {
        const { tf, length } = termFrequencies(passageText);
        docs.push({ passage: { id: `${file.name}#${i + 1}`, text: passageText, source }, tf, length });
      });
    }
    const df = new Map<string, number>();
    for (const doc of docs) for (const term of doc.tf.keys()) df.set(term, (df.get(term) ?? 0) + 1);
    const avgLength = docs.length > 0 ? docs.reduce((sum, d) => sum + d.length, 0) / docs.length : 1;
    const index: TenantIndex = { signature, docs, df, avgLength: avgLength || 1 };
    this.indexes.set(tenantId, index);
    return index;
  }
}
