import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  csvPassages,
  LocalRetriever,
  parseCsv,
  prosePassages,
} from '../../../lambdas/knowledge/local-retriever.js';
import { retrievalQuery } from '../../../lambdas/knowledge/retriever.js';
import { stripDiacritics, terms, words } from '../../../lambdas/knowledge/tokenise.js';
import { DependencyError } from '../../../lambdas/shared/errors.js';
import { turnContext, turnMessage } from '../responders/context.js';

let dir: string;

function write(tenant: string, name: string, text: string): string {
  mkdirSync(join(dir, tenant), { recursive: true });
  const path = join(dir, tenant, name);
  writeFileSync(path, text);
  return path;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'knowledge-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('tokenise', () => {
  it('keeps diacritics and adds the stripped form and stripped bigrams', () => {
    expect(words('Áo THUN giá 199.000đ')).toEqual(['áo', 'thun', 'giá', '199000', 'đ']);
    expect(stripDiacritics('đồng hồ Đà Nẵng')).toBe('dong ho Da Nang');
    expect(terms('Áo thun')).toEqual(['áo', 's:ao', 'thun', 's:thun', 'b:ao thun']);
  });

  it('normalises decomposed (NFD) input to the same terms as composed input', () => {
    expect(terms('Giá bán'.normalize('NFD'))).toEqual(terms('Giá bán'));
  });
});

describe('passages', () => {
  it('gives one passage per CSV row with its column names, quotes and commas handled', () => {
    const csv =
      '\uFEFFsku,name,price,note\r\nA1,"Áo thun, cotton",199000,\r\nB2,"Quần ""jean""",450000,mới\r\n\r\n';
    expect(parseCsv(csv.slice(1))[1]).toEqual(['A1', 'Áo thun, cotton', '199000', '']);
    expect(csvPassages(csv)).toEqual([
      'sku: A1; name: Áo thun, cotton; price: 199000',
      'sku: B2; name: Quần "jean"; price: 450000; note: mới',
    ]);
  });

  it('cuts prose at headings and blank lines, repeating the heading, within the size', () => {
    const md = '# Giao hàng\nGiao toàn quốc 2-3 ngày.\n\nMiễn phí từ 500k.\n\n# Đổi trả\nĐổi trong 7 ngày.';
    expect(prosePassages(md)).toEqual([
      'Giao hàng\nGiao toàn quốc 2-3 ngày.\n\nMiễn phí từ 500k.',
      'Đổi trả\nĐổi trong 7 ngày.',
    ]);
    const long = prosePassages(`# H\n${'chữ '.repeat(1000)}`, 200);
    expect(long.length).toBeGreaterThan(5);
    expect(long.every((p) => p.length <= 200 && p.startsWith('H\n'))).toBe(true);
  });
});

describe('LocalRetriever', () => {
  it("never returns another tenant's passages, even for the same words", async () => {
    write('shop-a', 'products.csv', 'name,price\nÁo thun basic,199000\nQuần jean,450000\n');
    write('shop-b', 'products.csv', 'name,price\nÁo thun basic,99000\nÁo thun oversize,150000\n');
    const retriever = new LocalRetriever({ dir });
    const a = await retriever.retrieve({ tenantId: 'shop-a', query: 'áo thun giá bao nhiêu', topK: 10 });
    const b = await retriever.retrieve({ tenantId: 'shop-b', query: 'áo thun giá bao nhiêu', topK: 10 });
    expect(a.passages.map((p) => p.text)).toEqual(['name: Áo thun basic; price: 199000']);
    expect(a.passages.every((p) => p.source.startsWith('shop-a/'))).toBe(true);
    expect(b.passages.map((p) => p.source)).toEqual(['shop-b/products.csv', 'shop-b/products.csv']);
    expect(b.passages.some((p) => p.text.includes('199000'))).toBe(false);
    expect(await retriever.retrieve({ tenantId: 'shop-c', query: 'áo thun', topK: 5 })).toEqual({
      passages: [],
    });
  });

  it('refuses a tenant id that could name another folder', async () => {
    write('shop-a', 'faq.md', 'bí mật');
    const retriever = new LocalRetriever({ dir: join(dir, 'shop-b') });
    await expect(
      retriever.retrieve({ tenantId: '../shop-a', query: 'bí mật', topK: 5 }),
    ).rejects.toBeInstanceOf(DependencyError);
  });

  it('finds accented text from a query typed without accents, and ranks the exact product first', async () => {
    write(
      'shop',
      'products.csv',
      'name,price\nÁo khoác gió,350000\nÁo thun trắng,199000\nQuần short thun,150000\nMũ lưỡi trai,90000\n',
    );
    write('shop', 'faq.md', '# Đổi trả\nĐổi hàng trong 7 ngày, giữ nguyên tem mác.');
    const retriever = new LocalRetriever({ dir });
    const result = await retriever.retrieve({ tenantId: 'shop', query: 'ao thun trang con khong', topK: 2 });
    expect(result.passages[0]).toMatchObject({
      id: 'products.csv#2',
      text: 'name: Áo thun trắng; price: 199000',
    });
    expect(result.passages[0]!.score).toBeGreaterThan(result.passages[1]!.score);
    const policy = await retriever.retrieve({ tenantId: 'shop', query: 'doi tra the nao', topK: 1 });
    expect(policy.passages[0]?.id).toBe('faq.md#1');
  });

  it('rebuilds the index when a file changes, and skips PDFs and other files with a warning', async () => {
    const warnings: string[] = [];
    const path = write('shop', 'faq.txt', 'Giao hàng 3 ngày.');
    write('shop', 'catalogue.pdf', '%PDF-1.4');
    write('shop', 'image.png', 'x');
    const retriever = new LocalRetriever({ dir, log: { warn: (m) => warnings.push(m) } });
    expect(await retriever.size('shop')).toBe(1);
    expect(
      (await retriever.retrieve({ tenantId: 'shop', query: 'giao hàng', topK: 1 })).passages[0]?.text,
    ).toBe('Giao hàng 3 ngày.');
    writeFileSync(path, 'Giao hàng 5 ngày.');
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    write('shop', 'policy.md', 'Đổi trả 7 ngày.');
    expect(await retriever.size('shop')).toBe(2);
    expect(
      (await retriever.retrieve({ tenantId: 'shop', query: 'giao hàng', topK: 1 })).passages[0]?.text,
    ).toBe('Giao hàng 5 ngày.');
    expect(warnings).toHaveLength(2);
    expect(warnings.some((w) => w.includes('PDF') && w.includes('.md or .txt'))).toBe(true);
  });
});

describe('retrievalQuery', () => {
  it('puts the turn first, then the last two customer lines and the latest summary', () => {
    const context = turnContext({
      history: [
        { role: 'customer', text: 'Shop có áo khoác không?', at: 1 },
        { role: 'bot', text: 'Dạ có ạ', at: 2 },
        { role: 'customer', text: 'Áo thun trắng giá sao?', at: 3 },
        { role: 'customer', text: 'Còn size M không?', at: 4 },
      ],
      summaries: ['Khách hỏi áo thun.'],
      messages: [
        turnMessage({ text: 'Mình lấy 2 cái' }),
        turnMessage({ transcript: 'giao về Đà Nẵng', attachments: [] }),
      ],
    });
    expect(retrievalQuery(context)).toBe(
      'Mình lấy 2 cái\ngiao về Đà Nẵng\n\nÁo thun trắng giá sao?\nCòn size M không?\nKhách hỏi áo thun.',
    );
    expect(retrievalQuery(turnContext({ messages: [turnMessage({ text: '  ' })] }))).toBe('');
    expect(retrievalQuery(turnContext({ messages: [turnMessage({ text: 'x'.repeat(5000) })] }))).toHaveLength(
      1000,
    );
  });
});
