/**
 * `npm run tenant -- knowledge <add|list|remove|sync>`: a tenant's knowledge documents.
 *
 * Deployed, documents go to the stack's knowledge bucket under `knowledge/{tenantId}/`, each with
 * a `<key>.metadata.json` sidecar `{"metadataAttributes":{"tenantId":"…"}}` — the attribute the
 * runtime's Retrieve filters on — and `sync` runs the data source's ingestion job. A CSV product
 * catalogue is split into one Markdown document per row (`<file>.rows/row-00001.md`…), so each
 * product is embedded, retrieved and quoted whole (name, price and stock together).
 *
 * Locally (the local stack's data directory), `add` copies files into the folder the local
 * retriever indexes, `<dir of the tenants file>/knowledge/{tenantId}/`, unchanged (it reads CSV
 * rows itself and needs no sidecar); `sync` has nothing to do.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import {
  BedrockAgentClient,
  GetIngestionJobCommand,
  type IngestionJob,
  ListIngestionJobsCommand,
  StartIngestionJobCommand,
} from '@aws-sdk/client-bedrock-agent';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { TENANT_ID_PATTERN } from '../../lambdas/contracts/tenant.js';
import { parseCsv } from '../../lambdas/knowledge/csv.js';
import type { CliIo } from './cli.js';

/** Exit codes, as for the other verbs: 0 ok, 1 AWS error, 2 usage or validation error. */
const EXIT = { ok: 0, aws: 1, usage: 2 } as const;

/** The bucket prefix of every tenant's documents (the data source's inclusion prefix). */
export const KNOWLEDGE_PREFIX = 'knowledge/';
/** Bedrock Knowledge Bases' per-file limit for S3 data sources. */
export const MAX_DOCUMENT_BYTES = 50 * 1024 * 1024;
/** The local retriever skips files above this size. */
export const LOCAL_MAX_BYTES = 5 * 1024 * 1024;
/** Rows of one CSV catalogue (each becomes a document). */
export const MAX_CSV_ROWS = 50_000;
/** The suffix of the folder holding a CSV catalogue's rows. */
export const ROWS_SUFFIX = '.rows/';
/** The sidecar suffix Bedrock reads document attributes from. */
export const METADATA_SUFFIX = '.metadata.json';

/** File types accepted, with their S3 content type. */
export const KNOWLEDGE_TYPES: Readonly<Record<string, string>> = {
  '.md': 'text/markdown; charset=utf-8',
  '.markdown': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.pdf': 'application/pdf',
};

/** Stack outputs the deployed verbs read (lib/stack.ts). */
export const KNOWLEDGE_OUTPUTS = {
  bucket: 'KnowledgeBucketName',
  knowledgeBaseId: 'KnowledgeBaseId',
  dataSourceId: 'KnowledgeDataSourceId',
} as const;

export const KNOWLEDGE_USAGE = `Usage: npm run tenant -- knowledge <command> [options]

Commands:
  add <tenantId> <file>...   Add or replace documents: Markdown (.md), text (.txt), PDF (.pdf),
                             CSV product catalogues (.csv, header row, one product per row:
                             each row becomes its own document). At most 50 MB per file.
  list <tenantId>            The tenant's documents.
  remove <tenantId> <name>...
                             Remove documents by the name list prints.
  sync [--no-wait] [--timeout <minutes>]
                             Start the knowledge base's ingestion job (all tenants' changes)
                             and wait for it, printing progress (default: up to 30 minutes).

Deployed options (read from the stack outputs of --stack unless given):
  --stack <name>             stack with the Knowledge* outputs (default "ChatRelay")
  --bucket <name>            documents bucket   (or $CHAT_RELAY_KNOWLEDGE_BUCKET)
  --knowledge-base-id <id>   knowledge base id  (or $CHAT_RELAY_KNOWLEDGE_BASE_ID)
  --data-source-id <id>      data source id     (or $CHAT_RELAY_KNOWLEDGE_DATA_SOURCE_ID)

Local stack (npm start):
  --local                    use the local stack's knowledge folder (also implied by
                             $CHAT_RELAY_TENANTS_FILE, $CHAT_RELAY_DATA_DIR, $KNOWLEDGE_DIR or
                             an AWS_ENDPOINT_URL on localhost/127.0.0.1)
  --knowledge-dir <dir>      the folder (default: knowledge/ next to the tenants file:
                             $KNOWLEDGE_DIR, else dirname($CHAT_RELAY_TENANTS_FILE)/knowledge,
                             else $CHAT_RELAY_DATA_DIR/knowledge, else .tmp/local/knowledge)

Exit codes: 0 ok, 2 usage or validation error (nothing written), 1 AWS error or failed ingestion.`;

/** A usage or validation mistake: exit code 2, the message says the fix. */
export class KnowledgeUsageError extends Error {
  override readonly name = 'KnowledgeUsageError';
}

/** An AWS call or the ingestion job failed: exit code 1. */
export class KnowledgeAwsError extends Error {
  override readonly name = 'KnowledgeAwsError';
}

/** Injectable waiting and clock, so `sync` polls deterministically in tests. */
export interface KnowledgeDeps {
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  /** Poll interval of `sync`, ms. @default 5000 */
  readonly pollMs?: number;
}

type Verb = 'add' | 'list' | 'remove' | 'sync';

interface KnowledgeArgs {
  readonly verb: Verb;
  readonly tenantId?: string;
  readonly names: readonly string[];
  readonly stack?: string;
  readonly bucket?: string;
  readonly knowledgeBaseId?: string;
  readonly dataSourceId?: string;
  readonly local: boolean;
  readonly knowledgeDir?: string;
  readonly wait: boolean;
  readonly timeoutMinutes: number;
}

/** Parses `knowledge …` arguments (after the word `knowledge`). @throws KnowledgeUsageError */
export function parseKnowledgeArgs(argv: readonly string[]): KnowledgeArgs | 'help' {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  const valued = new Set([
    '--stack',
    '--bucket',
    '--knowledge-base-id',
    '--data-source-id',
    '--knowledge-dir',
    '--timeout',
  ]);
  const booleans = new Set(['--local', '--no-wait', '--help', '-h']);
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (booleans.has(flag)) {
      flags[flag] = true;
    } else if (valued.has(flag)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[i + 1];
      if (value === undefined || value === '' || (eq < 0 && value.startsWith('--'))) {
        throw new KnowledgeUsageError(`${flag} needs a value.`);
      }
      if (eq < 0) i += 1;
      flags[flag] = value;
    } else {
      throw new KnowledgeUsageError(`Unknown option ${flag}. Run npm run tenant -- knowledge --help.`);
    }
  }
  if (flags['--help'] || flags['-h'] || positional.length === 0) return 'help';
  const [verb, ...rest] = positional;
  if (verb !== 'add' && verb !== 'list' && verb !== 'remove' && verb !== 'sync') {
    throw new KnowledgeUsageError(
      `Unknown knowledge command "${verb}"; use add, list, remove or sync (npm run tenant -- knowledge --help).`,
    );
  }
  const str = (flag: string): string | undefined =>
    typeof flags[flag] === 'string' ? (flags[flag] as string) : undefined;
  let tenantId: string | undefined;
  let names: string[] = [];
  if (verb === 'sync') {
    // A tenant id is accepted (and ignored): one job ingests every tenant's changes.
    if (rest.length > 1) throw new KnowledgeUsageError('sync takes no file names.');
    tenantId = rest[0];
  } else {
    tenantId = rest[0];
    names = rest.slice(1);
    if (tenantId === undefined) throw new KnowledgeUsageError(`knowledge ${verb} needs a tenant id.`);
    if (verb === 'add' && names.length === 0)
      throw new KnowledgeUsageError(
        'knowledge add needs at least one file: knowledge add <tenantId> <file>...',
      );
    if (verb === 'remove' && names.length === 0)
      throw new KnowledgeUsageError(
        'knowledge remove needs at least one document name (as knowledge list prints it).',
      );
    if (verb === 'list' && names.length > 0)
      throw new KnowledgeUsageError('knowledge list takes only a tenant id.');
  }
  if (tenantId !== undefined && !TENANT_ID_PATTERN.test(tenantId)) {
    throw new KnowledgeUsageError(
      `Tenant id "${tenantId}" is not valid: use 1–63 lowercase letters, digits and "-", starting with a letter or digit.`,
    );
  }
  const timeoutRaw = str('--timeout');
  const timeoutMinutes = timeoutRaw === undefined ? 30 : Number(timeoutRaw);
  if (!Number.isFinite(timeoutMinutes) || timeoutMinutes <= 0) {
    throw new KnowledgeUsageError(`--timeout must be a positive number of minutes; got "${timeoutRaw}".`);
  }
  return {
    verb,
    ...(tenantId !== undefined ? { tenantId } : {}),
    names,
    ...(str('--stack') !== undefined ? { stack: str('--stack') } : {}),
    ...(str('--bucket') !== undefined ? { bucket: str('--bucket') } : {}),
    ...(str('--knowledge-base-id') !== undefined ? { knowledgeBaseId: str('--knowledge-base-id') } : {}),
    ...(str('--data-source-id') !== undefined ? { dataSourceId: str('--data-source-id') } : {}),
    ...(str('--knowledge-dir') !== undefined ? { knowledgeDir: str('--knowledge-dir') } : {}),
    local: flags['--local'] === true,
    wait: flags['--no-wait'] !== true,
    timeoutMinutes,
  };
}

// ---------------------------------------------------------------------------------------------
// Documents

/** A file made ready for upload: its stored name and the objects it becomes. */
export interface PreparedDocument {
  /** The file given on the command line. */
  readonly path: string;
  /** The name under `knowledge/{tenantId}/` (what list prints and remove takes). */
  readonly name: string;
  readonly bytes: number;
  /** Objects to write, keys relative to the tenant's prefix. */
  readonly objects: readonly {
    readonly key: string;
    readonly body: Buffer | string;
    readonly contentType: string;
  }[];
  /** CSV rows, when the file is a catalogue. */
  readonly rows?: number;
}

/**
 * An S3-safe, readable document name: Vietnamese (and other) diacritics folded to ASCII, anything
 * but letters, digits, `.`, `_` and `-` turned into `-`.
 */
export function documentName(path: string): string {
  const base = basename(path)
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[đĐ]/g, (c) => (c === 'đ' ? 'd' : 'D'))
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/-+\./g, '.')
    .replace(/^[-.]+/, '');
  return base === '' || base.startsWith('.') ? `document${extname(path).toLowerCase()}` : base;
}

/** Splits CSV text into rows (RFC 4180 quoting; `,` or, when the header has none, `;`). */
export function parseCsvRows(text: string): string[][] {
  const clean = text.replace(/^\uFEFF/, '');
  const firstLine = clean.slice(0, clean.search(/\r?\n|$/));
  const delimiter = !firstLine.includes(',') && firstLine.includes(';') ? ';' : ',';
  return parseCsv(clean, delimiter);
}

/**
 * One Markdown document per catalogue row: a heading naming the product (the first non-empty
 * cell) and the catalogue, then `column: value` lines — every column, so a price or a stock
 * count is always next to the product it belongs to.
 */
export function csvRowDocuments(name: string, text: string): { key: string; body: string }[] {
  const rows = parseCsvRows(text);
  const header = rows[0]?.map((h) => h.trim());
  if (!header || header.length === 0 || header.every((h) => h === '')) {
    throw new KnowledgeUsageError(
      `${name}: the CSV is empty; it needs a header row and one product per row.`,
    );
  }
  const blank = header.indexOf('');
  if (blank >= 0) {
    throw new KnowledgeUsageError(
      `${name}: column ${blank + 1} of the header row has no name; name every column (e.g. name, price, stock).`,
    );
  }
  const data = rows.slice(1);
  if (data.length === 0) throw new KnowledgeUsageError(`${name}: the CSV has a header but no product rows.`);
  if (data.length > MAX_CSV_ROWS) {
    throw new KnowledgeUsageError(
      `${name}: ${data.length} rows is more than ${MAX_CSV_ROWS}; split the catalogue into several files.`,
    );
  }
  const width = String(data.length).length < 5 ? 5 : String(data.length).length;
  return data.map((cells, i) => {
    if (cells.length > header.length) {
      throw new KnowledgeUsageError(
        `${name}: row ${i + 2} has ${cells.length} fields but the header has ${header.length}; quote values that contain the delimiter.`,
      );
    }
    const title = cells.find((c) => c.trim() !== '')?.trim() ?? `row ${i + 1}`;
    const lines = header
      .map((column, j) => [column, (cells[j] ?? '').trim()] as const)
      .filter(([, value]) => value !== '')
      .map(([column, value]) => `${column}: ${value.replace(/\s*\r?\n\s*/g, ' ')}`);
    const body = `# ${title}\n\n${lines.join('\n')}\n\n(${name}, row ${i + 1})\n`;
    return { key: `row-${String(i + 1).padStart(width, '0')}.md`, body };
  });
}

/** Reads and checks one file; every problem is a {@link KnowledgeUsageError} naming the fix. */
export function prepareDocument(
  path: string,
  tenantId: string,
  maxBytes = MAX_DOCUMENT_BYTES,
): PreparedDocument {
  const ext = extname(path).toLowerCase();
  const contentType = KNOWLEDGE_TYPES[ext];
  if (contentType === undefined) {
    throw new KnowledgeUsageError(
      `${path}: ${ext ? `"${ext}" files are` : 'a file without an extension is'} not supported; add Markdown (.md), text (.txt), a CSV catalogue (.csv) or a PDF (.pdf) — save other documents as PDF or Markdown first.`,
    );
  }
  let info: ReturnType<typeof statSync>;
  try {
    info = statSync(path);
  } catch (err) {
    throw new KnowledgeUsageError(
      `${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)}).`,
    );
  }
  if (!info.isFile()) throw new KnowledgeUsageError(`${path}: not a file.`);
  if (info.size === 0) throw new KnowledgeUsageError(`${path}: the file is empty.`);
  if (info.size > maxBytes) {
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
    throw new KnowledgeUsageError(
      `${path}: ${mb(info.size)} is over the ${mb(maxBytes)} limit per document${maxBytes === MAX_DOCUMENT_BYTES ? ' (Amazon Bedrock Knowledge Bases)' : ' (local retriever)'}; split it into smaller files.`,
    );
  }
  const name = documentName(path);
  const body = readFileSync(path);
  if (ext !== '.pdf' && body.includes(0)) {
    throw new KnowledgeUsageError(
      `${path}: holds binary data, not ${ext.slice(1).toUpperCase()} text; check the file type.`,
    );
  }
  const sidecar = JSON.stringify({ metadataAttributes: { tenantId } });
  if (ext === '.csv') {
    const rows = csvRowDocuments(name, body.toString('utf8'));
    return {
      path,
      name,
      bytes: info.size,
      rows: rows.length,
      objects: rows.flatMap((row) => [
        { key: `${name}${ROWS_SUFFIX}${row.key}`, body: row.body, contentType: KNOWLEDGE_TYPES['.md']! },
        {
          key: `${name}${ROWS_SUFFIX}${row.key}${METADATA_SUFFIX}`,
          body: sidecar,
          contentType: 'application/json',
        },
      ]),
    };
  }
  return {
    path,
    name,
    bytes: info.size,
    objects: [
      { key: name, body, contentType },
      { key: `${name}${METADATA_SUFFIX}`, body: sidecar, contentType: 'application/json' },
    ],
  };
}

/** Prepares every file, collecting every problem before anything is written. */
function prepareAll(paths: readonly string[], tenantId: string, maxBytes: number): PreparedDocument[] {
  const problems: string[] = [];
  const docs: PreparedDocument[] = [];
  for (const path of paths) {
    try {
      docs.push(prepareDocument(path, tenantId, maxBytes));
    } catch (err) {
      if (err instanceof KnowledgeUsageError) problems.push(err.message);
      else throw err;
    }
  }
  const seen = new Map<string, string>();
  for (const doc of docs) {
    const other = seen.get(doc.name);
    if (other !== undefined)
      problems.push(`${other} and ${doc.path} would both be stored as "${doc.name}"; rename one.`);
    seen.set(doc.name, doc.path);
  }
  if (problems.length > 0) {
    throw new KnowledgeUsageError(
      problems.length === 1
        ? problems[0]!
        : `Nothing was added; fix these and run again:\n- ${problems.join('\n- ')}`,
    );
  }
  return docs;
}

// ---------------------------------------------------------------------------------------------
// Local stack

/** Whether the local stack is the target (see the usage text). */
export function isLocal(
  args: {
    local: boolean;
    knowledgeDir?: string;
    stack?: string;
    bucket?: string;
    knowledgeBaseId?: string;
    dataSourceId?: string;
  },
  env: NodeJS.ProcessEnv,
): boolean {
  if (args.local || args.knowledgeDir) return true;
  // A deployed target named on the command line wins over the environment's hints.
  if (args.stack || args.bucket || args.knowledgeBaseId || args.dataSourceId) return false;
  if (env.CHAT_RELAY_TENANTS_FILE || env.CHAT_RELAY_DATA_DIR || env.KNOWLEDGE_DIR) return true;
  const endpoint = env.AWS_ENDPOINT_URL;
  if (!endpoint) return false;
  try {
    return ['localhost', '127.0.0.1', '[::1]'].includes(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

/** The local knowledge folder: next to the tenants file the local stack reads and writes. */
export function localKnowledgeDir(args: { knowledgeDir?: string }, env: NodeJS.ProcessEnv): string {
  if (args.knowledgeDir) return resolve(args.knowledgeDir);
  if (env.KNOWLEDGE_DIR) return resolve(env.KNOWLEDGE_DIR);
  if (env.CHAT_RELAY_TENANTS_FILE) return join(dirname(resolve(env.CHAT_RELAY_TENANTS_FILE)), 'knowledge');
  return join(resolve(env.CHAT_RELAY_DATA_DIR || '.tmp/local'), 'knowledge');
}

function localVerb(args: KnowledgeArgs, io: CliIo): number {
  const root = localKnowledgeDir(args, io.env);
  if (args.verb === 'sync') {
    io.out(
      `Local stack: nothing to sync. The local retriever indexes ${root}/<tenantId>/ itself and re-reads it when a file changes (npm start wires the folder when it exists at start).`,
    );
    return EXIT.ok;
  }
  const tenantId = args.tenantId!;
  const dir = join(root, tenantId);
  if (args.verb === 'add') {
    const docs = prepareAll(args.names, tenantId, LOCAL_MAX_BYTES);
    const rootExisted = existsSync(root);
    mkdirSync(dir, { recursive: true });
    for (const doc of docs) {
      copyFileSync(doc.path, join(dir, doc.name));
      const what = doc.rows !== undefined ? ` (${doc.rows} products)` : '';
      io.out(`Added ${doc.name}${what} to ${dir}.`);
      if (extname(doc.name).toLowerCase() === '.pdf') {
        io.err(
          `Note: the local retriever does not read PDFs (the deployed knowledge base does); save ${doc.path} as .md or .txt to use it locally.`,
        );
      }
    }
    io.out(
      rootExisted
        ? 'The local stack picks the files up at its next retrieval; no sync needed.'
        : `Created ${root}: restart npm start (it indexes the knowledge folder only when the folder exists at start); no sync needed.`,
    );
    return EXIT.ok;
  }
  const files = existingFiles(dir);
  if (args.verb === 'list') {
    if (files.length === 0) io.err(`No documents for tenant "${tenantId}" in ${dir}.`);
    for (const f of files) io.out(`${f.name}\t${f.size} B\t${new Date(f.mtimeMs).toISOString()}`);
    return EXIT.ok;
  }
  const missing = args.names.filter((n) => !files.some((f) => f.name === n));
  if (missing.length > 0) {
    throw new KnowledgeUsageError(
      `Tenant "${tenantId}" has no document ${missing.map((m) => `"${m}"`).join(', ')} in ${dir}; see knowledge list ${tenantId}.`,
    );
  }
  for (const name of args.names) {
    rmSync(join(dir, name));
    io.out(`Removed ${name}.`);
  }
  return EXIT.ok;
}

function existingFiles(dir: string): { name: string; size: number; mtimeMs: number }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .sort()
    .map((name) => ({ name, info: statSync(join(dir, name)) }))
    .filter((f) => f.info.isFile())
    .map((f) => ({ name: f.name, size: f.info.size, mtimeMs: f.info.mtimeMs }));
}

// ---------------------------------------------------------------------------------------------
// Deployed

interface Deployed {
  readonly bucket?: string;
  readonly knowledgeBaseId?: string;
  readonly dataSourceId?: string;
}

function awsError(action: string, err: unknown): KnowledgeAwsError {
  const name = err instanceof Error ? err.name : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  let hint = '';
  if (/credential/i.test(message) || name === 'CredentialsProviderError') {
    hint = ' Configure AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).';
  } else if (/region/i.test(message)) hint = ' Set AWS_REGION.';
  else if (name === 'AccessDenied' || name === 'AccessDeniedException') {
    hint =
      ' Your identity needs s3:ListBucket/GetObject/PutObject/DeleteObject on the knowledge bucket and bedrock:StartIngestionJob/GetIngestionJob/ListIngestionJobs on the knowledge base (ChatRelayKnowledge.grantManageDocuments).';
  }
  return new KnowledgeAwsError(`${action} failed: ${name}: ${message}.${hint}`);
}

/** Flags, then environment, then the stack outputs (read only when something is still missing). */
async function resolveDeployed(
  args: KnowledgeArgs,
  io: CliIo,
  need: (keyof Deployed)[],
): Promise<Required<Deployed>> {
  const found: { -readonly [K in keyof Deployed]: Deployed[K] } = {
    bucket: args.bucket ?? (io.env.CHAT_RELAY_KNOWLEDGE_BUCKET || undefined),
    knowledgeBaseId: args.knowledgeBaseId ?? (io.env.CHAT_RELAY_KNOWLEDGE_BASE_ID || undefined),
    dataSourceId: args.dataSourceId ?? (io.env.CHAT_RELAY_KNOWLEDGE_DATA_SOURCE_ID || undefined),
  };
  const stack = args.stack ?? 'ChatRelay';
  if (need.some((k) => found[k] === undefined)) {
    const cfn = new CloudFormationClient({});
    try {
      const res = await cfn.send(new DescribeStacksCommand({ StackName: stack }));
      const outputs = res.Stacks?.[0]?.Outputs ?? [];
      const output = (key: string) => outputs.find((o) => o.OutputKey === key)?.OutputValue;
      found.bucket ??= output(KNOWLEDGE_OUTPUTS.bucket);
      found.knowledgeBaseId ??= output(KNOWLEDGE_OUTPUTS.knowledgeBaseId);
      found.dataSourceId ??= output(KNOWLEDGE_OUTPUTS.dataSourceId);
    } catch (err) {
      if (err instanceof Error && err.name === 'ValidationError' && /does not exist/.test(err.message)) {
        throw new KnowledgeUsageError(
          `Stack ${stack} does not exist; pass --stack <name>, or --bucket/--knowledge-base-id/--data-source-id (for the local stack: --local).`,
        );
      }
      throw awsError(`Reading the outputs of stack ${stack}`, err);
    } finally {
      cfn.destroy();
    }
  }
  const missing = need.filter((k) => found[k] === undefined);
  if (missing.length > 0) {
    throw new KnowledgeUsageError(
      `Stack ${stack} has no knowledge base (no ${missing.map((k) => KNOWLEDGE_OUTPUTS[k]).join(', ')} output): deploy it with the bedrock responder and chatRelay:knowledge true, or pass ${missing.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(' ')}.`,
    );
  }
  return found as Required<Deployed>;
}

async function listKeys(
  s3: S3Client,
  bucket: string,
  prefix: string,
): Promise<{ key: string; size: number; modified?: Date }[]> {
  const keys: { key: string; size: number; modified?: Date }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const o of page.Contents ?? []) {
      if (o.Key)
        keys.push({ key: o.Key, size: o.Size ?? 0, ...(o.LastModified ? { modified: o.LastModified } : {}) });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

async function deleteKeys(s3: S3Client, bucket: string, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const res = await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
      }),
    );
    const failed = res.Errors ?? [];
    if (failed.length > 0) {
      throw new KnowledgeAwsError(
        `Deleting ${failed.length} object(s) failed, e.g. ${failed[0]?.Key}: ${failed[0]?.Code} ${failed[0]?.Message ?? ''}`.trim(),
      );
    }
  }
}

async function deployedAdd(args: KnowledgeArgs, io: CliIo): Promise<number> {
  const tenantId = args.tenantId!;
  const docs = prepareAll(args.names, tenantId, MAX_DOCUMENT_BYTES);
  const { bucket } = await resolveDeployed(args, io, ['bucket']);
  const prefix = `${KNOWLEDGE_PREFIX}${tenantId}/`;
  const s3 = new S3Client({});
  try {
    for (const doc of docs) {
      const written = new Set<string>();
      for (const object of doc.objects) {
        const key = `${prefix}${object.key}`;
        try {
          await s3.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: object.body,
              ContentType: object.contentType,
            }),
          );
        } catch (err) {
          throw awsError(`Uploading s3://${bucket}/${key}`, err);
        }
        written.add(key);
      }
      if (doc.rows !== undefined) {
        // Re-adding a shorter catalogue: rows beyond the new end are removed.
        let stale: string[];
        try {
          stale = (await listKeys(s3, bucket, `${prefix}${doc.name}${ROWS_SUFFIX}`))
            .map((o) => o.key)
            .filter((k) => !written.has(k));
          await deleteKeys(s3, bucket, stale);
        } catch (err) {
          if (err instanceof KnowledgeAwsError) throw err;
          throw awsError(`Removing old rows of ${doc.name}`, err);
        }
        io.out(
          `Added ${doc.name}: ${doc.rows} products, one document each (s3://${bucket}/${prefix}${doc.name}${ROWS_SUFFIX})${stale.length > 0 ? `; removed ${stale.length / 2} old rows` : ''}.`,
        );
      } else {
        io.out(`Added ${doc.name} (${doc.bytes} B, s3://${bucket}/${prefix}${doc.name}).`);
      }
    }
  } finally {
    s3.destroy();
  }
  io.out(`Run npm run tenant -- knowledge sync to index ${docs.length === 1 ? 'it' : 'them'}.`);
  return EXIT.ok;
}

/** Groups a tenant's keys into the documents list and remove speak of. */
export function groupDocuments(
  prefix: string,
  keys: readonly { key: string; size: number; modified?: Date }[],
): { name: string; size: number; rows?: number; modified?: Date }[] {
  const docs = new Map<string, { name: string; size: number; rows?: number; modified?: Date }>();
  for (const o of keys) {
    const rel = o.key.slice(prefix.length);
    if (rel.endsWith(METADATA_SUFFIX) || rel === '') continue;
    const rowsAt = rel.indexOf(ROWS_SUFFIX);
    const name = rowsAt > 0 ? rel.slice(0, rowsAt) : rel;
    const doc = docs.get(name) ?? { name, size: 0 };
    doc.size += o.size;
    if (rowsAt > 0) doc.rows = (doc.rows ?? 0) + 1;
    if (o.modified && (!doc.modified || o.modified > doc.modified)) doc.modified = o.modified;
    docs.set(name, doc);
  }
  return [...docs.values()].sort((a, b) => a.name.localeCompare(b.name));
}

async function deployedList(args: KnowledgeArgs, io: CliIo): Promise<number> {
  const tenantId = args.tenantId!;
  const { bucket } = await resolveDeployed(args, io, ['bucket']);
  const prefix = `${KNOWLEDGE_PREFIX}${tenantId}/`;
  const s3 = new S3Client({});
  let keys: { key: string; size: number; modified?: Date }[];
  try {
    keys = await listKeys(s3, bucket, prefix);
  } catch (err) {
    throw awsError(`Listing s3://${bucket}/${prefix}`, err);
  } finally {
    s3.destroy();
  }
  const docs = groupDocuments(prefix, keys);
  if (docs.length === 0) io.err(`No documents for tenant "${tenantId}" (s3://${bucket}/${prefix}).`);
  for (const d of docs) {
    const rows = d.rows !== undefined ? `\t${d.rows} products` : '';
    io.out(`${d.name}\t${d.size} B${rows}\t${d.modified?.toISOString() ?? ''}`.trimEnd());
  }
  return EXIT.ok;
}

async function deployedRemove(args: KnowledgeArgs, io: CliIo): Promise<number> {
  const tenantId = args.tenantId!;
  const { bucket } = await resolveDeployed(args, io, ['bucket']);
  const prefix = `${KNOWLEDGE_PREFIX}${tenantId}/`;
  const s3 = new S3Client({});
  try {
    const plan: { name: string; keys: string[] }[] = [];
    const missing: string[] = [];
    for (const name of args.names) {
      if (name.includes('/') || name.startsWith('.')) {
        throw new KnowledgeUsageError(
          `"${name}" is not a document name; use a name knowledge list ${tenantId} prints.`,
        );
      }
      let keys: string[] = [];
      try {
        await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}${name}` }));
        keys = [`${prefix}${name}`, `${prefix}${name}${METADATA_SUFFIX}`];
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (
          !(err instanceof Error && (err.name === 'NotFound' || err.name === 'NoSuchKey')) &&
          status !== 404
        ) {
          throw awsError(`Reading s3://${bucket}/${prefix}${name}`, err);
        }
        try {
          keys = (await listKeys(s3, bucket, `${prefix}${name}${ROWS_SUFFIX}`)).map((o) => o.key);
        } catch (listErr) {
          throw awsError(`Listing s3://${bucket}/${prefix}${name}${ROWS_SUFFIX}`, listErr);
        }
      }
      if (keys.length === 0) missing.push(name);
      else plan.push({ name, keys });
    }
    if (missing.length > 0) {
      throw new KnowledgeUsageError(
        `Tenant "${tenantId}" has no document ${missing.map((m) => `"${m}"`).join(', ')}; nothing was removed. See knowledge list ${tenantId}.`,
      );
    }
    for (const item of plan) {
      try {
        await deleteKeys(s3, bucket, item.keys);
      } catch (err) {
        if (err instanceof KnowledgeAwsError) throw err;
        throw awsError(`Deleting ${item.name}`, err);
      }
      io.out(`Removed ${item.name}.`);
    }
  } finally {
    s3.destroy();
  }
  io.out(
    'Run npm run tenant -- knowledge sync to drop the passages from the knowledge base (the bucket is versioned: a removed file can be restored from its previous version).',
  );
  return EXIT.ok;
}

const RUNNING = new Set(['STARTING', 'IN_PROGRESS', 'STOPPING']);

function progressLine(job: IngestionJob): string {
  const s = job.statistics ?? {};
  const parts = [
    `${s.numberOfDocumentsScanned ?? 0} scanned`,
    `${(s.numberOfNewDocumentsIndexed ?? 0) + (s.numberOfModifiedDocumentsIndexed ?? 0)} indexed`,
    `${s.numberOfDocumentsDeleted ?? 0} deleted`,
    `${s.numberOfDocumentsFailed ?? 0} failed`,
  ];
  return `Ingestion job ${job.ingestionJobId}: ${job.status} (${parts.join(', ')})`;
}

async function deployedSync(args: KnowledgeArgs, io: CliIo, deps: KnowledgeDeps): Promise<number> {
  const { knowledgeBaseId, dataSourceId } = await resolveDeployed(args, io, [
    'knowledgeBaseId',
    'dataSourceId',
  ]);
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = deps.now ?? Date.now;
  const pollMs = deps.pollMs ?? 5000;
  const client = new BedrockAgentClient({});
  try {
    let job: IngestionJob | undefined;
    try {
      job = (
        await client.send(
          new StartIngestionJobCommand({
            knowledgeBaseId,
            dataSourceId,
            description: `npm run tenant -- knowledge sync${args.tenantId ? ` (${args.tenantId})` : ''}`,
          }),
        )
      ).ingestionJob;
    } catch (err) {
      if (!(err instanceof Error && err.name === 'ConflictException')) {
        throw awsError(`Starting an ingestion job on knowledge base ${knowledgeBaseId}`, err);
      }
      // One job per data source at a time: follow the one already running.
      try {
        const running = await client.send(
          new ListIngestionJobsCommand({
            knowledgeBaseId,
            dataSourceId,
            sortBy: { attribute: 'STARTED_AT', order: 'DESCENDING' },
            maxResults: 10,
          }),
        );
        const summary = running.ingestionJobSummaries?.find((j) => RUNNING.has(j.status ?? ''));
        if (!summary?.ingestionJobId) throw err;
        job = { ...summary, knowledgeBaseId, dataSourceId } as IngestionJob;
        io.out(`An ingestion job is already running (${summary.ingestionJobId}); following it.`);
      } catch (listErr) {
        throw awsError(`Finding the running ingestion job of knowledge base ${knowledgeBaseId}`, listErr);
      }
    }
    if (!job?.ingestionJobId) throw new KnowledgeAwsError('StartIngestionJob returned no job id.');
    const jobId = job.ingestionJobId;
    let current: IngestionJob = job;
    io.out(progressLine(current));
    if (!args.wait) {
      io.out(
        `Not waiting (--no-wait). Follow it with: aws bedrock-agent get-ingestion-job --knowledge-base-id ${knowledgeBaseId} --data-source-id ${dataSourceId} --ingestion-job-id ${jobId}`,
      );
      return EXIT.ok;
    }
    const deadline = now() + args.timeoutMinutes * 60_000;
    let last = progressLine(current);
    while (RUNNING.has(current.status ?? '')) {
      if (now() >= deadline) {
        io.err(
          `Ingestion job ${jobId} is still ${current.status} after ${args.timeoutMinutes} minutes; it keeps running. Run sync again later to follow it, or raise --timeout.`,
        );
        return EXIT.aws;
      }
      await sleep(pollMs);
      try {
        const res: { ingestionJob?: IngestionJob } = await client.send(
          new GetIngestionJobCommand({ knowledgeBaseId, dataSourceId, ingestionJobId: jobId }),
        );
        if (res.ingestionJob) current = res.ingestionJob;
      } catch (err) {
        throw awsError(`Reading ingestion job ${jobId}`, err);
      }
      const line = progressLine(current);
      if (line !== last) io.out(line);
      last = line;
    }
    const failedDocs = current.statistics?.numberOfDocumentsFailed ?? 0;
    if (current.status === 'COMPLETE' && failedDocs === 0) {
      io.out('Knowledge base is up to date.');
      return EXIT.ok;
    }
    const reasons = current.failureReasons ?? [];
    io.err(
      `Ingestion job ${jobId} ended ${current.status}${failedDocs > 0 ? ` with ${failedDocs} document(s) failed` : ''}${reasons.length > 0 ? `:\n- ${reasons.join('\n- ')}` : '.'}`,
    );
    return EXIT.aws;
  } finally {
    client.destroy();
  }
}

/** Runs `knowledge …`; resolves to the exit code. Never throws. */
export async function runKnowledgeCli(
  argv: readonly string[],
  io: CliIo,
  deps: KnowledgeDeps = {},
): Promise<number> {
  try {
    const args = parseKnowledgeArgs(argv);
    if (args === 'help') {
      io.out(KNOWLEDGE_USAGE);
      return EXIT.ok;
    }
    if (isLocal(args, io.env)) return localVerb(args, io);
    switch (args.verb) {
      case 'add':
        return await deployedAdd(args, io);
      case 'list':
        return await deployedList(args, io);
      case 'remove':
        return await deployedRemove(args, io);
      case 'sync':
        return await deployedSync(args, io, deps);
    }
  } catch (err) {
    if (err instanceof KnowledgeUsageError) {
      io.err(err.message);
      return EXIT.usage;
    }
    if (err instanceof KnowledgeAwsError) {
      io.err(err.message);
      return EXIT.aws;
    }
    io.err(`Unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT.aws;
  }
}
