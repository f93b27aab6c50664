/**
 * `npm run tenant -- knowledge …`. The local-stack path runs for real on a temporary folder. The
 * deployed path talks to S3, Bedrock Agent and CloudFormation, for which no emulator exists, so
 * those calls are answered by aws-sdk-client-mock; the tests assert what is sent (keys, sidecars,
 * filters) and how each answer (conflict, failure, timeout) becomes output and an exit code.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BedrockAgentClient,
  GetIngestionJobCommand,
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
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runTenantCli } from '../../bin/tenant/cli.js';
import {
  csvRowDocuments,
  documentName,
  groupDocuments,
  isLocal,
  localKnowledgeDir,
  MAX_DOCUMENT_BYTES,
  parseCsvRows,
  parseKnowledgeArgs,
  runKnowledgeCli,
} from '../../bin/tenant/knowledge.js';
import { KNOWLEDGE_TENANT_ATTRIBUTE, KNOWLEDGE_PREFIX as LIB_PREFIX } from '../../lib/knowledge.js';

const root = mkdtempSync(join(tmpdir(), 'tenant-knowledge-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function io(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t), env }, out, err };
}

function file(name: string, content: string | Buffer): string {
  const dir = mkdtempSync(join(root, 'src-'));
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const CATALOGUE = [
  'Tên sản phẩm,Giá (VND),Tồn kho,Mô tả',
  'Áo thun cotton,199000,12,"Size S, M, L"',
  'Quần jean,459000,0,"Xanh đậm; ""slim fit"""',
  '',
].join('\n');

describe('knowledge arguments', () => {
  it('parses each verb with its options, and --no-wait and --timeout for sync', () => {
    expect(parseKnowledgeArgs(['add', 'acme', 'a.md', 'b.csv', '--stack', 'Prod'])).toMatchObject({
      verb: 'add',
      tenantId: 'acme',
      names: ['a.md', 'b.csv'],
      stack: 'Prod',
      wait: true,
    });
    expect(parseKnowledgeArgs(['sync', '--no-wait', '--timeout=5'])).toMatchObject({
      verb: 'sync',
      wait: false,
      timeoutMinutes: 5,
    });
    expect(parseKnowledgeArgs(['--help'])).toBe('help');
  });

  const bad: [string[], RegExp][] = [
    [['frob'], /Unknown knowledge command "frob"/],
    [['add', 'acme'], /needs at least one file/],
    [['add'], /needs a tenant id/],
    [['remove', 'acme'], /needs at least one document name/],
    [['list', 'acme', 'x'], /takes only a tenant id/],
    [['add', 'Bad_Id', 'a.md'], /Tenant id "Bad_Id" is not valid/],
    [['sync', '--timeout', '0'], /--timeout must be a positive number/],
    [['sync', '--bogus'], /Unknown option --bogus/],
    [['add', 'acme', 'a.md', '--bucket'], /--bucket needs a value/],
  ];
  for (const [argv, message] of bad) {
    it(`rejects "${argv.join(' ')}" with exit code 2 and the fix`, async () => {
      const { io: cli, err } = io();
      expect(await runTenantCli(['knowledge', ...argv], cli)).toBe(2);
      expect(err.join('\n')).toMatch(message);
    });
  }
});

describe('documents', () => {
  it('names documents S3-safely, folding Vietnamese diacritics', () => {
    expect(documentName('/x/Chính sách đổi trả.md')).toBe('Chinh-sach-doi-tra.md');
    expect(documentName('/x/bảng giá (2026).CSV')).toBe('bang-gia-2026.CSV');
    expect(documentName('/x/.hidden.md')).toBe('hidden.md');
  });

  it('parses RFC 4180 CSV with quotes, escaped quotes, CRLF, a BOM, and ";" exports', () => {
    expect(parseCsvRows('\uFEFFa,b\r\n"x, y","say ""hi"""\r\n')).toEqual([
      ['a', 'b'],
      ['x, y', 'say "hi"'],
    ]);
    expect(parseCsvRows('tên;giá\nÁo;199000\n')).toEqual([
      ['tên', 'giá'],
      ['Áo', '199000'],
    ]);
  });

  it('turns each catalogue row into its own Markdown document with every column next to the product', () => {
    const docs = csvRowDocuments('catalogue.csv', CATALOGUE);
    expect(docs.map((d) => d.key)).toEqual(['row-00001.md', 'row-00002.md']);
    expect(docs[0]?.body).toBe(
      '# Áo thun cotton\n\nTên sản phẩm: Áo thun cotton\nGiá (VND): 199000\nTồn kho: 12\nMô tả: Size S, M, L\n\n(catalogue.csv, row 1)\n',
    );
    expect(docs[1]?.body).toContain('Tồn kho: 0\nMô tả: Xanh đậm; "slim fit"');
  });

  it('rejects catalogues without a usable header or rows, and rows wider than the header', () => {
    expect(() => csvRowDocuments('c.csv', '')).toThrow(/empty/);
    expect(() => csvRowDocuments('c.csv', 'name,price\n')).toThrow(/no product rows/);
    expect(() => csvRowDocuments('c.csv', 'name,,stock\na,1,2\n')).toThrow(
      /column 2 of the header row has no name/,
    );
    expect(() => csvRowDocuments('c.csv', 'name,price\na,1,extra\n')).toThrow(/row 2 has 3 fields/);
  });

  it("groups a tenant's keys into documents: sidecars hidden, catalogue rows counted", () => {
    const prefix = 'knowledge/acme/';
    const at = new Date('2026-12-01T00:00:00Z');
    expect(
      groupDocuments(prefix, [
        { key: `${prefix}faq.md`, size: 100, modified: at },
        { key: `${prefix}faq.md.metadata.json`, size: 40 },
        { key: `${prefix}catalogue.csv.rows/row-00001.md`, size: 50 },
        { key: `${prefix}catalogue.csv.rows/row-00001.md.metadata.json`, size: 40 },
        { key: `${prefix}catalogue.csv.rows/row-00002.md`, size: 60 },
      ]),
    ).toEqual([
      { name: 'catalogue.csv', size: 110, rows: 2 },
      { name: 'faq.md', size: 100, modified: at },
    ]);
  });
});

describe('local stack (real files)', () => {
  let tenantsDir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    tenantsDir = mkdtempSync(join(root, 'local-'));
    env = { CHAT_RELAY_TENANTS_FILE: join(tenantsDir, 'tenants.json') };
  });

  it('finds the knowledge folder next to the tenants file, or in the data directory', () => {
    expect(localKnowledgeDir({}, env)).toBe(join(tenantsDir, 'knowledge'));
    expect(localKnowledgeDir({}, { CHAT_RELAY_DATA_DIR: '/data' })).toBe('/data/knowledge');
    expect(localKnowledgeDir({}, { KNOWLEDGE_DIR: '/k', CHAT_RELAY_TENANTS_FILE: '/t/x.json' })).toBe('/k');
    expect(isLocal({ local: false }, { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' })).toBe(true);
    expect(isLocal({ local: false }, { AWS_ENDPOINT_URL: 'https://s3.example.com' })).toBe(false);
    expect(isLocal({ local: false }, {})).toBe(false);
    expect(isLocal({ local: false }, { CHAT_RELAY_DATA_DIR: '/data' })).toBe(true);
    expect(isLocal({ local: false, stack: 'Prod' }, { CHAT_RELAY_DATA_DIR: '/data' })).toBe(false);
  });

  it('adds, lists and removes files in knowledge/<tenant>/, copied unchanged and without sidecars', async () => {
    const md = file('Chính sách.md', '# Đổi trả\nTrong 7 ngày.\n');
    const csv = file('catalogue.csv', CATALOGUE);
    const add = io(env);
    expect(await runKnowledgeCli(['add', 'acme', md, csv], add.io)).toBe(0);
    const dir = join(tenantsDir, 'knowledge', 'acme');
    expect(readdirSync(dir).sort()).toEqual(['Chinh-sach.md', 'catalogue.csv']);
    expect(readFileSync(join(dir, 'catalogue.csv'), 'utf8')).toBe(CATALOGUE);
    expect(add.out.join('\n')).toContain('Added catalogue.csv (2 products)');
    // The first add creates the knowledge folder: npm start only wires one that exists at start.
    expect(add.out.join('\n')).toContain('restart npm start');
    const more = io(env);
    expect(await runKnowledgeCli(['add', 'acme', file('more.txt', 'x')], more.io)).toBe(0);
    expect(more.out.join('\n')).toContain('picks the files up at its next retrieval');
    rmSync(join(dir, 'more.txt'));

    const list = io(env);
    expect(await runKnowledgeCli(['list', 'acme'], list.io)).toBe(0);
    expect(list.out.map((l) => l.split('\t')[0])).toEqual(['Chinh-sach.md', 'catalogue.csv']);

    const other = io(env);
    expect(await runKnowledgeCli(['list', 'globex'], other.io)).toBe(0);
    expect(other.out).toEqual([]);
    expect(other.err.join('')).toContain('No documents for tenant "globex"');

    const remove = io(env);
    expect(await runKnowledgeCli(['remove', 'acme', 'catalogue.csv'], remove.io)).toBe(0);
    expect(readdirSync(dir)).toEqual(['Chinh-sach.md']);
    const again = io(env);
    expect(await runKnowledgeCli(['remove', 'acme', 'catalogue.csv'], again.io)).toBe(2);
    expect(again.err.join('')).toContain('has no document "catalogue.csv"');
  });

  it('refuses unsupported, empty and over-size files, listing every problem and copying nothing', async () => {
    const docx = file('policy.docx', 'x');
    const empty = file('empty.md', '');
    const big = file('big.txt', Buffer.alloc(5 * 1024 * 1024 + 1, 'a'));
    const good = file('ok.md', 'ok');
    const run = io(env);
    expect(await runKnowledgeCli(['add', 'acme', good, docx, empty, big], run.io)).toBe(2);
    const message = run.err.join('\n');
    expect(message).toContain('Nothing was added');
    expect(message).toContain('".docx" files are not supported');
    expect(message).toContain('the file is empty');
    expect(message).toContain('over the 5.0 MB limit per document (local retriever)');
    expect(() => readdirSync(join(tenantsDir, 'knowledge', 'acme'))).toThrow();
  });

  it('says sync has nothing to do locally', async () => {
    const run = io(env);
    expect(await runKnowledgeCli(['sync'], run.io)).toBe(0);
    expect(run.out.join('')).toContain('Local stack: nothing to sync');
  });

  it('notes that the local retriever does not read PDFs, but keeps the file for parity', async () => {
    const pdf = file('menu.pdf', '%PDF-1.4\n');
    const run = io(env);
    expect(await runKnowledgeCli(['add', 'acme', pdf, '--local'], run.io)).toBe(0);
    expect(run.err.join('')).toContain('does not read PDFs');
    expect(readdirSync(join(tenantsDir, 'knowledge', 'acme'))).toEqual(['menu.pdf']);
  });
});

describe('deployed (S3, Bedrock Agent and CloudFormation answered by aws-sdk-client-mock)', () => {
  const s3 = mockClient(S3Client);
  const agent = mockClient(BedrockAgentClient);
  const cfn = mockClient(CloudFormationClient);
  const env = { AWS_REGION: 'us-east-1' };
  beforeEach(() => {
    s3.reset();
    agent.reset();
    cfn.reset();
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'ChatRelay',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'KnowledgeBucketName', OutputValue: 'kb-docs' },
            { OutputKey: 'KnowledgeBaseId', OutputValue: 'KB123' },
            { OutputKey: 'KnowledgeDataSourceId', OutputValue: 'DS456' },
          ],
        },
      ],
    });
  });
  afterEach(() => {
    s3.reset();
    agent.reset();
    cfn.reset();
  });

  it('uploads each document with a tenantId sidecar under knowledge/<tenant>/, the bucket read from the stack', async () => {
    s3.on(PutObjectCommand).resolves({});
    const md = file('faq.md', '# FAQ\n');
    const run = io(env);
    expect(await runKnowledgeCli(['add', 'acme', md], run.io)).toBe(0);
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => [p.Bucket, p.Key, p.ContentType])).toEqual([
      ['kb-docs', 'knowledge/acme/faq.md', 'text/markdown; charset=utf-8'],
      ['kb-docs', 'knowledge/acme/faq.md.metadata.json', 'application/json'],
    ]);
    expect(JSON.parse(String(puts[1]?.Body))).toEqual({
      metadataAttributes: { [KNOWLEDGE_TENANT_ATTRIBUTE]: 'acme' },
    });
    expect(puts[0]?.Key?.startsWith(LIB_PREFIX)).toBe(true);
    expect(cfn.commandCalls(DescribeStacksCommand)[0]?.args[0].input).toEqual({ StackName: 'ChatRelay' });
    expect(run.out.join('\n')).toContain('knowledge sync');
  });

  it('writes one document and sidecar per catalogue row, and deletes rows left from a longer catalogue', async () => {
    s3.on(PutObjectCommand).resolves({});
    s3.on(ListObjectsV2Command).resolves({
      Contents: [
        'row-00001.md',
        'row-00001.md.metadata.json',
        'row-00003.md',
        'row-00003.md.metadata.json',
      ].map((k) => ({ Key: `knowledge/acme/catalogue.csv.rows/${k}`, Size: 1 })),
    });
    s3.on(DeleteObjectsCommand).resolves({});
    const csv = file('catalogue.csv', CATALOGUE);
    const run = io({ ...env, CHAT_RELAY_KNOWLEDGE_BUCKET: 'env-bucket' });
    expect(await runKnowledgeCli(['add', 'acme', csv], run.io)).toBe(0);
    // The bucket came from the environment: no stack lookup.
    expect(cfn.commandCalls(DescribeStacksCommand)).toHaveLength(0);
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key)).toEqual([
      'knowledge/acme/catalogue.csv.rows/row-00001.md',
      'knowledge/acme/catalogue.csv.rows/row-00001.md.metadata.json',
      'knowledge/acme/catalogue.csv.rows/row-00002.md',
      'knowledge/acme/catalogue.csv.rows/row-00002.md.metadata.json',
    ]);
    expect(puts.every((p) => p.Bucket === 'env-bucket')).toBe(true);
    expect(String(puts[2]?.Body)).toContain('Giá (VND): 459000');
    const deleted = s3
      .commandCalls(DeleteObjectsCommand)[0]
      ?.args[0].input.Delete?.Objects?.map((o) => o.Key);
    expect(deleted).toEqual([
      'knowledge/acme/catalogue.csv.rows/row-00003.md',
      'knowledge/acme/catalogue.csv.rows/row-00003.md.metadata.json',
    ]);
    expect(run.out.join('\n')).toContain('2 products, one document each');
  });

  it('refuses a document over the 50 MB Bedrock limit before any upload (exit 2)', async () => {
    const big = file('manual.pdf', Buffer.alloc(MAX_DOCUMENT_BYTES + 1, 1));
    const run = io(env);
    expect(await runKnowledgeCli(['add', 'acme', big], run.io)).toBe(2);
    expect(run.err.join('')).toContain('50.0 MB limit per document (Amazon Bedrock Knowledge Bases)');
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('reports a stack without a knowledge base with the fix (exit 2), and S3 access denied with the permissions (exit 1)', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        { StackName: 'ChatRelay', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [] },
      ],
    });
    const none = io(env);
    expect(await runKnowledgeCli(['list', 'acme'], none.io)).toBe(2);
    expect(none.err.join('')).toContain('has no knowledge base (no KnowledgeBucketName output)');

    s3.on(ListObjectsV2Command).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
    const denied = io(env);
    expect(await runKnowledgeCli(['list', 'acme', '--bucket', 'b'], denied.io)).toBe(1);
    expect(denied.err.join('')).toContain('grantManageDocuments');
  });

  it('lists documents by name, and removes a file with its sidecar or a whole catalogue', async () => {
    const prefix = 'knowledge/acme/';
    s3.on(ListObjectsV2Command, { Prefix: prefix }).resolves({
      Contents: [
        { Key: `${prefix}faq.md`, Size: 10 },
        { Key: `${prefix}faq.md.metadata.json`, Size: 5 },
        { Key: `${prefix}catalogue.csv.rows/row-00001.md`, Size: 7 },
      ],
    });
    const list = io(env);
    expect(await runKnowledgeCli(['list', 'acme'], list.io)).toBe(0);
    expect(list.out).toEqual(['catalogue.csv\t7 B\t1 products', 'faq.md\t10 B']);

    s3.on(HeadObjectCommand, { Key: `${prefix}faq.md` }).resolves({});
    s3.on(HeadObjectCommand, { Key: `${prefix}catalogue.csv` }).rejects(
      Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
    );
    s3.on(ListObjectsV2Command, { Prefix: `${prefix}catalogue.csv.rows/` }).resolves({
      Contents: [
        { Key: `${prefix}catalogue.csv.rows/row-00001.md` },
        { Key: `${prefix}catalogue.csv.rows/row-00001.md.metadata.json` },
      ],
    });
    s3.on(DeleteObjectsCommand).resolves({});
    const remove = io(env);
    expect(await runKnowledgeCli(['remove', 'acme', 'faq.md', 'catalogue.csv'], remove.io)).toBe(0);
    const deletes = s3
      .commandCalls(DeleteObjectsCommand)
      .map((c) => c.args[0].input.Delete?.Objects?.map((o) => o.Key));
    expect(deletes).toEqual([
      [`${prefix}faq.md`, `${prefix}faq.md.metadata.json`],
      [`${prefix}catalogue.csv.rows/row-00001.md`, `${prefix}catalogue.csv.rows/row-00001.md.metadata.json`],
    ]);
  });

  it('removes nothing when one of the names does not exist (exit 2)', async () => {
    s3.on(HeadObjectCommand).rejects(
      Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
    );
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    const run = io(env);
    expect(await runKnowledgeCli(['remove', 'acme', 'ghost.md', '--bucket', 'b'], run.io)).toBe(2);
    expect(run.err.join('')).toContain('has no document "ghost.md"; nothing was removed');
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
  });

  it('syncs: starts the job, polls it with the injected sleep, prints each change, exits 0 when complete', async () => {
    agent.on(StartIngestionJobCommand).resolves({
      ingestionJob: { ingestionJobId: 'J1', status: 'STARTING' } as never,
    });
    agent
      .on(GetIngestionJobCommand)
      .resolvesOnce({
        ingestionJob: {
          ingestionJobId: 'J1',
          status: 'IN_PROGRESS',
          statistics: { numberOfDocumentsScanned: 4 },
        } as never,
      })
      .resolvesOnce({
        ingestionJob: {
          ingestionJobId: 'J1',
          status: 'IN_PROGRESS',
          statistics: { numberOfDocumentsScanned: 4 },
        } as never,
      })
      .resolves({
        ingestionJob: {
          ingestionJobId: 'J1',
          status: 'COMPLETE',
          statistics: {
            numberOfDocumentsScanned: 4,
            numberOfNewDocumentsIndexed: 3,
            numberOfDocumentsDeleted: 1,
          },
        } as never,
      });
    const sleeps: number[] = [];
    const run = io(env);
    const code = await runKnowledgeCli(['sync'], run.io, {
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      now: () => 0,
      pollMs: 7,
    });
    expect(code).toBe(0);
    expect(agent.commandCalls(StartIngestionJobCommand)[0]?.args[0].input).toMatchObject({
      knowledgeBaseId: 'KB123',
      dataSourceId: 'DS456',
    });
    expect(sleeps).toEqual([7, 7, 7]);
    expect(run.out).toEqual([
      'Ingestion job J1: STARTING (0 scanned, 0 indexed, 0 deleted, 0 failed)',
      'Ingestion job J1: IN_PROGRESS (4 scanned, 0 indexed, 0 deleted, 0 failed)',
      'Ingestion job J1: COMPLETE (4 scanned, 3 indexed, 1 deleted, 0 failed)',
      'Knowledge base is up to date.',
    ]);
  });

  it('follows the job already running when a sync conflicts, and --no-wait returns at once', async () => {
    agent
      .on(StartIngestionJobCommand)
      .rejects(Object.assign(new Error('A job is running'), { name: 'ConflictException' }));
    agent.on(ListIngestionJobsCommand).resolves({
      ingestionJobSummaries: [
        { ingestionJobId: 'OLD', status: 'COMPLETE' } as never,
        { ingestionJobId: 'J9', status: 'IN_PROGRESS' } as never,
      ],
    });
    const run = io(env);
    expect(
      await runKnowledgeCli(['sync', '--no-wait'], run.io, { sleep: async () => {}, now: () => 0 }),
    ).toBe(0);
    expect(run.out[0]).toContain('already running (J9); following it');
    expect(run.out.join('\n')).toContain('--ingestion-job-id J9');
    expect(agent.commandCalls(GetIngestionJobCommand)).toHaveLength(0);
  });

  it('exits 1 with the reasons when ingestion fails or documents fail, and when the wait times out', async () => {
    agent
      .on(StartIngestionJobCommand)
      .resolves({ ingestionJob: { ingestionJobId: 'J2', status: 'IN_PROGRESS' } as never });
    agent.on(GetIngestionJobCommand).resolves({
      ingestionJob: {
        ingestionJobId: 'J2',
        status: 'COMPLETE',
        statistics: { numberOfDocumentsFailed: 1 },
        failureReasons: ['knowledge/acme/bad.pdf: unsupported encryption'],
      } as never,
    });
    const failed = io(env);
    expect(await runKnowledgeCli(['sync'], failed.io, { sleep: async () => {}, now: () => 0 })).toBe(1);
    expect(failed.err.join('')).toContain(
      'ended COMPLETE with 1 document(s) failed:\n- knowledge/acme/bad.pdf',
    );

    agent
      .on(GetIngestionJobCommand)
      .resolves({ ingestionJob: { ingestionJobId: 'J2', status: 'IN_PROGRESS' } as never });
    let clock = 0;
    const slow = io(env);
    const code = await runKnowledgeCli(['sync', '--timeout', '1'], slow.io, {
      sleep: async (ms) => {
        clock += ms;
      },
      now: () => clock,
      pollMs: 20_000,
    });
    expect(code).toBe(1);
    expect(slow.err.join('')).toContain('Ingestion job J2 is still IN_PROGRESS after 1 minutes');
    expect(agent.commandCalls(GetIngestionJobCommand).length).toBeGreaterThanOrEqual(3);
  });
});

describe('ordinary verbs still dispatch', () => {
  it('prints the knowledge usage from the tenant CLI and mentions it in the main usage', async () => {
    const k = io();
    expect(await runTenantCli(['knowledge', '--help'], k.io)).toBe(0);
    expect(k.out.join('')).toContain('knowledge <command>');
    const main = io();
    expect(await runTenantCli(['--help'], main.io)).toBe(0);
    expect(main.out.join('')).toContain('knowledge <add|list|remove|sync>');
  });

  it('keeps the local folder separate per tenant', async () => {
    const dir = mkdtempSync(join(root, 'iso-'));
    mkdirSync(join(dir, 'knowledge', 'globex'), { recursive: true });
    writeFileSync(join(dir, 'knowledge', 'globex', 'secret.md'), 'globex only');
    const env = { KNOWLEDGE_DIR: join(dir, 'knowledge') };
    const list = io(env);
    expect(await runKnowledgeCli(['list', 'acme'], list.io)).toBe(0);
    expect(list.out).toEqual([]);
  });
});
