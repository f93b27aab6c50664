import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DynaliteStore, JOURNAL_FILE, type RangeOptions } from '../../bin/local/dynalite-store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dynalite-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const memory = (): DynaliteStore => new DynaliteStore({ valueEncoding: 'json' });
const onDisk = (): DynaliteStore => new DynaliteStore(dir, { valueEncoding: 'json' });

async function drain<T>(iterator: { next(): Promise<T | undefined> }): Promise<T[]> {
  const out: T[] = [];
  for (let item = await iterator.next(); item !== undefined; item = await iterator.next()) out.push(item);
  return out;
}

async function contents(store: DynaliteStore): Promise<Array<[string, unknown]>> {
  const keys = await drain(store.keys());
  const values = await drain(store.values());
  return keys.map((k, i) => [k, values[i]]);
}

describe('DynaliteStore in memory', () => {
  it('returns keys in byte order whatever order they were written in', async () => {
    const store = memory();
    for (const key of ['item-t~b/2', 'item-t~a/1', 'table~t', 'item-t~a/10', 'item-t~a/0', 'item-t~B']) {
      await store.put(key, { key });
    }
    expect(await drain(store.keys())).toEqual([
      'item-t~B',
      'item-t~a/0',
      'item-t~a/1',
      'item-t~a/10',
      'item-t~b/2',
      'table~t',
    ]);
    expect(await drain(store.values())).toEqual([
      { key: 'item-t~B' },
      { key: 'item-t~a/0' },
      { key: 'item-t~a/1' },
      { key: 'item-t~a/10' },
      { key: 'item-t~b/2' },
      { key: 'table~t' },
    ]);
  });

  it('reads the ranges, directions and limits abstract-level defines', async () => {
    const store = memory();
    for (const key of ['a', 'b', 'c', 'd', 'e']) await store.put(key, key.toUpperCase());
    const cases: Array<[RangeOptions, string[]]> = [
      [{}, ['a', 'b', 'c', 'd', 'e']],
      [{ gte: 'b' }, ['b', 'c', 'd', 'e']],
      [{ gt: 'b' }, ['c', 'd', 'e']],
      [{ lt: 'd' }, ['a', 'b', 'c']],
      [{ lte: 'd' }, ['a', 'b', 'c', 'd']],
      [{ gt: 'a', lt: 'e' }, ['b', 'c', 'd']],
      [{ gte: 'bb', lte: 'dd' }, ['c', 'd']],
      // gte wins over gt and lte over lt, as in memory-level
      [{ gte: 'b', gt: 'b', lte: 'd', lt: 'd' }, ['b', 'c', 'd']],
      [{ reverse: true }, ['e', 'd', 'c', 'b', 'a']],
      [{ reverse: true, gt: 'a', lte: 'd' }, ['d', 'c', 'b']],
      [{ limit: 2 }, ['a', 'b']],
      [{ limit: 2, reverse: true, lt: 'e' }, ['d', 'c']],
      [{ limit: 0 }, []],
      [{ limit: -1, gte: 'd' }, ['d', 'e']],
      [{ gt: 'e' }, []],
      [{ gt: 'c', lt: 'b' }, []],
      [{ gte: 'a~', lt: 'a~~' }, []],
    ];
    for (const [options, expected] of cases) {
      expect({ options, keys: await drain(store.keys(options)) }).toEqual({ options, keys: expected });
      expect(await drain(store.values(options))).toEqual(expected.map((k) => k.toUpperCase()));
    }
  });

  it('gives every get a fresh copy, so a caller mutating it does not change the store', async () => {
    const store = memory();
    const item = { pk: { S: 'a' }, list: { L: [{ N: '1' }] } };
    await store.put('k', item);
    item.pk.S = 'changed after put';
    const first = (await store.get('k')) as typeof item;
    first.list.L.push({ N: '2' });
    expect(await store.get('k')).toEqual({ pk: { S: 'a' }, list: { L: [{ N: '1' }] } });
    expect(await store.get('missing')).toBeUndefined();
  });

  it('overwrites, deletes and ignores deleting a missing key', async () => {
    const store = memory();
    await store.put('a', 1);
    await store.put('b', 2);
    await store.put('a', 3);
    await store.del('b');
    await store.del('never');
    expect(await contents(store)).toEqual([['a', 3]]);
    expect(store.size).toBe(1);
  });

  it('applies a batch of puts and deletes in order', async () => {
    const store = memory();
    await store.put('x', 0);
    await store.batch([
      { type: 'put', key: 'b', value: { v: 1 } },
      { type: 'put', key: 'a', value: { v: 2 } },
      { type: 'del', key: 'x' },
      { type: 'put', key: 'c', value: { v: 3 } },
      { type: 'del', key: 'c' },
    ]);
    expect(await contents(store)).toEqual([
      ['a', { v: 2 }],
      ['b', { v: 1 }],
    ]);
  });

  it('lets an iterator read the range as it was when it was created', async () => {
    const store = memory();
    for (const key of ['a', 'b', 'c']) await store.put(key, key);
    const keys = store.keys();
    const values = store.values();
    await store.del('b');
    await store.put('aa', 'aa');
    await store.put('c', 'changed');
    expect(await drain(keys)).toEqual(['a', 'b', 'c']);
    expect(await drain(values)).toEqual(['a', 'b', 'c']);
  });

  it('ends an iterator early on return()', async () => {
    const store = memory();
    for (const key of ['a', 'b', 'c']) await store.put(key, key);
    const keys = store.keys();
    expect(await keys.next()).toBe('a');
    await keys.return();
    expect(await keys.next()).toBeUndefined();
  });

  it('refuses a null or undefined value as LevelDB does, leaving the store unchanged', async () => {
    const store = memory();
    await expect(store.put('a', null)).rejects.toMatchObject({ code: 'LEVEL_INVALID_VALUE' });
    await expect(
      store.batch([
        { type: 'put', key: 'b', value: 1 },
        { type: 'put', key: 'c', value: undefined },
      ]),
    ).rejects.toMatchObject({ code: 'LEVEL_INVALID_VALUE' });
    expect(store.size).toBe(0);
  });

  it('fails every operation on a closed store with the code dynalite maps to "Database is closed"', async () => {
    const store = memory();
    await store.put('a', 1);
    await store.close();
    expect(store.status).toBe('closed');
    await expect(store.get('a')).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' });
    await expect(store.put('a', 2)).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' });
    await expect(store.del('a')).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' });
    await expect(store.batch([{ type: 'del', key: 'a' }])).rejects.toMatchObject({
      code: 'LEVEL_DATABASE_NOT_OPEN',
    });
    // abstract-level throws synchronously when an iterator is asked of a closed database
    expect(() => store.values()).toThrow(expect.objectContaining({ code: 'LEVEL_DATABASE_NOT_OPEN' }));
    await store.close();
  });

  it('accepts only the JSON value encoding dynalite uses', () => {
    expect(() => new DynaliteStore({ valueEncoding: 'utf8' })).toThrow(/JSON values only/);
    expect(memory().opened).toBeUndefined();
  });
});

describe('DynaliteStore journal', () => {
  const journal = (): string => join(dir, JOURNAL_FILE);

  it('replays puts, deletes and batches on open', async () => {
    const store = onDisk();
    await store.put('b', { n: 1 });
    await store.put('a', { s: 'é"\n' });
    await store.put('b', { n: 2 });
    await store.batch([
      { type: 'put', key: 'c', value: [1, 'two'] },
      { type: 'del', key: 'a' },
    ]);
    await store.put('d', true);
    await store.del('d');
    // no close(): a killed process never closes; each call wrote before it resolved
    const reopened = onDisk();
    expect(await contents(reopened)).toEqual([
      ['b', { n: 2 }],
      ['c', [1, 'two']],
    ]);
    expect(reopened.opened).toEqual({ records: 6, tornBytes: 0, compacted: false });
    await store.close();
    await reopened.close();
  });

  it('writes one record per batch, so a batch is replayed whole or not at all', async () => {
    const store = onDisk();
    await store.batch([
      { type: 'put', key: 'a', value: 1 },
      { type: 'put', key: 'b', value: 2 },
    ]);
    await store.close();
    const lines = readFileSync(journal(), 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    // the same batch cut off by a kill mid-write: neither entry comes back
    writeFileSync(journal(), lines[0]!.slice(0, -5));
    const reopened = onDisk();
    expect(reopened.size).toBe(0);
    await reopened.close();
  });

  it('drops an incomplete last record left by a kill and appends after the last complete one', async () => {
    const store = onDisk();
    await store.put('a', { n: 1 });
    await store.put('b', { n: 2 });
    await store.close();
    const complete = statSync(journal()).size;
    appendFileSync(journal(), '{"k":"c","v":{"n":');
    const reopened = onDisk();
    expect(reopened.opened).toEqual({ records: 2, tornBytes: 18, compacted: false });
    expect(statSync(journal()).size).toBe(complete);
    await reopened.put('d', { n: 4 });
    await reopened.close();
    const third = onDisk();
    expect(await contents(third)).toEqual([
      ['a', { n: 1 }],
      ['b', { n: 2 }],
      ['d', { n: 4 }],
    ]);
    expect(third.opened?.tornBytes).toBe(0);
    await third.close();
  });

  it('refuses to open a journal with a damaged record before its end', async () => {
    writeFileSync(journal(), '{"k":"a","v":1}\nnot json\n{"k":"b","v":2}\n');
    expect(() => onDisk()).toThrow(expect.objectContaining({ code: 'LEVEL_CORRUPTION' }));
  });

  it('rewrites a journal that has grown past twice its live entries when it opens', async () => {
    const value = { text: 'x'.repeat(1000) };
    // an earlier run's journal: 2300 overwrites of 10 keys, about 2.3 MB
    let text = '';
    for (let i = 0; i < 2300; i++) text += `${JSON.stringify({ k: `k${i % 10}`, v: { ...value, i } })}\n`;
    writeFileSync(journal(), text);
    const before = statSync(journal()).size;
    expect(before).toBeGreaterThan(1 << 20);
    const reopened = onDisk();
    expect(reopened.opened?.compacted).toBe(true);
    const after = statSync(journal()).size;
    expect(after).toBeLessThan(20_000);
    expect(existsSync(`${journal()}.tmp`)).toBe(false);
    expect(reopened.size).toBe(10);
    expect(await reopened.get('k9')).toEqual({ ...value, i: 2299 });
    await reopened.put('k0', { i: -1 });
    await reopened.close();
    const third = onDisk();
    expect(await third.get('k0')).toEqual({ i: -1 });
    expect(await third.get('k5')).toEqual({ ...value, i: 2295 });
    await third.close();
  });

  it('rewrites the journal while running once it passes four times its live entries', async () => {
    const store = onDisk();
    const value = { text: 'y'.repeat(1000) };
    for (let i = 0; i < 5000; i++) await store.put(`k${i % 5}`, { ...value, i });
    // 5000 writes of ~1 KB would be ~5 MB without the rewrite
    expect(statSync(journal()).size).toBeLessThan(2 << 20);
    await store.del('k0');
    const reopened = onDisk();
    expect(await drain(reopened.keys())).toEqual(['k1', 'k2', 'k3', 'k4']);
    expect(await reopened.get('k4')).toEqual({ ...value, i: 4999 });
    await store.close();
    await reopened.close();
  });

  it('will not open over a LevelDB store that has not been imported', () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'CURRENT'), 'MANIFEST-000001\n');
    expect(() => onDisk()).toThrow(/LevelDB store from an earlier version/);
  });
});
