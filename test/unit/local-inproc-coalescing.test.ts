import { describe, expect, it } from 'vitest';
import { coalescingPoster, eachMessage } from '../../bin/local/inproc-server.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the coalescing poster between the stack threads', () => {
  it('posts the first message of a turn at once and the rest of the turn together at its end', async () => {
    const posted: unknown[] = [];
    const post = coalescingPoster<number>({ postMessage: (m: unknown) => posted.push(m) });
    post(1);
    expect(posted).toEqual([1]);
    post(2);
    post(3);
    post(4);
    expect(posted).toEqual([1]);
    await nextTurn();
    expect(posted).toEqual([1, [2, 3, 4]]);
    // A lone message of a later turn goes at once again, and alone.
    await nextTurn();
    post(5);
    expect(posted).toEqual([1, [2, 3, 4], 5]);
    post(6);
    await nextTurn();
    expect(posted).toEqual([1, [2, 3, 4], 5, 6]);
    await nextTurn();
    expect(posted).toHaveLength(4);
  });

  it('hands each message of a coalesced array to the handler in order, and a single one as is', () => {
    const seen: number[] = [];
    const handle = eachMessage<number>((m) => seen.push(m));
    handle(1);
    handle([2, 3]);
    expect(seen).toEqual([1, 2, 3]);
  });
});
