import { spawnSync } from 'node:child_process';
import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { batchStdout } from '../../bin/local/stdout-batch.js';

/** A stand-in stdout that records each write(2) it would make. */
function fakeStdout(): { stream: NodeJS.WriteStream; writes: string[] } {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writes.push(chunk.toString('utf8'));
      callback();
    },
  }) as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

describe('stdout batching of the local stack', () => {
  const undos: (() => void)[] = [];
  afterEach(() => {
    for (const undo of undos.splice(0)) undo();
  });

  it('writes the lines of its delay once, in order, when the delay ends', () => {
    vi.useFakeTimers();
    try {
      const { stream, writes } = fakeStdout();
      undos.push(batchStdout(stream, { delayMs: 20 }));
      stream.write('a\n');
      vi.advanceTimersByTime(19);
      stream.write('b 👋\n');
      stream.write('c\n', 'utf8');
      expect(writes).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(writes).toEqual(['a\nb 👋\nc\n']);
      stream.write('d\n');
      vi.advanceTimersByTime(20);
      expect(writes).toEqual(['a\nb 👋\nc\n', 'd\n']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('writes at once when the limit is reached', () => {
    const { stream, writes } = fakeStdout();
    undos.push(batchStdout(stream, { limit: 10 }));
    stream.write('12345');
    stream.write('67890');
    expect(writes).toEqual(['1234567890']);
  });

  it('keeps order around writes it does not batch (bytes, other encodings)', () => {
    const { stream, writes } = fakeStdout();
    undos.push(batchStdout(stream));
    stream.write('text 1\n');
    stream.write(Buffer.from('bytes\n'));
    stream.write('text 2\n');
    stream.write('68690a', 'hex');
    expect(writes).toEqual(['text 1\n', 'bytes\n', 'text 2\n', 'hi\n']);
  });

  it("batches Console's writes (they carry an error callback) and calls each callback once written", async () => {
    const { stream, writes } = fakeStdout();
    undos.push(batchStdout(stream, { delayMs: 1 }));
    const out = new Console({ stdout: stream, stderr: stream });
    out.log('one');
    out.log('two %d', 2);
    const called: string[] = [];
    stream.write('three\n', () => called.push('a'));
    stream.write('four\n', 'utf8', () => called.push('b'));
    expect(writes).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writes).toEqual(['one\ntwo 2\nthree\nfour\n']);
    expect(called).toEqual(['a', 'b']);
  });

  it('writes what is waiting when undone, and writes directly after', () => {
    const { stream, writes } = fakeStdout();
    const undo = batchStdout(stream);
    stream.write('waiting\n');
    undo();
    expect(writes).toEqual(['waiting\n']);
    stream.write('direct\n');
    expect(writes).toEqual(['waiting\n', 'direct\n']);
  });

  it('writes what is waiting when the process exits, through process.exit or a crash', () => {
    const module = new URL('../../bin/local/stdout-batch.ts', import.meta.url).href;
    for (const [end, code] of [
      ['process.exit(3)', 3],
      ['throw new Error("boom")', 1],
    ] as const) {
      const script = `import { batchStdout } from ${JSON.stringify(module)}; batchStdout(); process.stdout.write('one\\n'); process.stdout.write('two\\n'); ${end};`;
      const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(code);
      expect(run.stdout).toBe('one\ntwo\n');
    }
  });
});
