import { describe, expect, it } from 'vitest';
import { coalescingPoster, eachMessage } from '../../bin/local/inproc-server.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the coalescing poster between the stack threads', () => {
  it('posts what a turn queued in one message at its end, and a lone message alone', async () => {
    const posted: unknown[] = [];
    const post = coalescingPoster<number>({ postMessage: (m: unknown) => posted.push(m) }, 10);
    post(1);
    post(2);
    post(3);
    expect(posted).toEqual([]);
    await nextTurn();
    expect(posted).toEqual([[1, 2, 3]]);
    post(4);
    await nextTurn();
    expect(posted).toEqual([[1, 2, 3], 4]);
    await nextTurn();
    expect(posted).toHaveLength(2);
  });

  it('posts a full batch at once and the rest of the turn at its end, keeping the order', async () => {
    const posted: unknown[] = [];
    const post = coalescingPoster<number>({ postMessage: (m: unknown) => posted.push(m) }, 4);
    for (let i = 1; i <= 10; i += 1) post(i);
    expect(posted).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    await nextTurn();
    expect(posted).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10],
    ]);
    // A turn that ended on a full batch leaves nothing to post (no empty message).
    for (let i = 11; i <= 14; i += 1) post(i);
    await nextTurn();
    expect(posted).toHaveLength(4);
    expect(posted[3]).toEqual([11, 12, 13, 14]);
  });

  it('hands each message of a coalesced array to the handler in order, and a single one as is', () => {
    const seen: number[] = [];
    const handle = eachMessage<number>((m) => seen.push(m));
    handle(1);
    handle([2, 3]);
    expect(seen).toEqual([1, 2, 3]);
  });
});
