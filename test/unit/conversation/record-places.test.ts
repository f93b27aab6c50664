import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { recordPlaces } from '../../../lambdas/conversation/runtime.js';
import type { ConversationEvent } from '../../../lambdas/shared/model.js';

/** A record whose body is a stand-in event: `type` and conversation key are all `recordPlaces` reads. */
function record(id: string, conversation: string, type: ConversationEvent['type'] | 'invalid'): SQSRecord {
  return {
    messageId: id,
    body: JSON.stringify({ type, conversationKey: conversation }),
    attributes: { MessageGroupId: conversation },
  } as unknown as SQSRecord;
}

const parse = (r: SQSRecord): ConversationEvent | undefined => {
  const body = JSON.parse(r.body) as { type: string };
  return body.type === 'invalid' ? undefined : (body as unknown as ConversationEvent);
};

describe('recordPlaces', () => {
  it('marks each message of a burst as followed by a message, and only the last as last', () => {
    const places = recordPlaces(
      [record('a', 'c1', 'message'), record('b', 'c1', 'message'), record('c', 'c1', 'message')],
      parse,
    );
    expect([...places.entries()]).toEqual([
      ['c', { more: false, last: true }],
      ['b', { more: true, last: false }],
      ['a', { more: true, last: false }],
    ]);
  });

  it('keeps conversations apart: a record is last of its own conversation whatever follows from others', () => {
    const places = recordPlaces(
      [record('a', 'c1', 'message'), record('x', 'c2', 'message'), record('y', 'c2', 'message')],
      parse,
    );
    expect(places.get('a')).toEqual({ more: false, last: true });
    expect(places.get('x')).toEqual({ more: true, last: false });
    expect(places.get('y')).toEqual({ more: false, last: true });
  });

  it('does not let a message defer to an agent reply or a media result, but does not call it last either', () => {
    const places = recordPlaces(
      [record('a', 'c1', 'message'), record('h', 'c1', 'human-active'), record('m', 'c1', 'media-ready')],
      parse,
    );
    expect(places.get('a')).toEqual({ more: false, last: false });
    expect(places.get('h')).toEqual({ more: false, last: false });
    expect(places.get('m')).toEqual({ more: false, last: true });
  });

  it('skips invalid records: the message before one is the last of its conversation', () => {
    const places = recordPlaces([record('a', 'c1', 'message'), record('bad', 'c1', 'invalid')], parse);
    expect(places.get('a')).toEqual({ more: false, last: true });
    expect(places.has('bad')).toBe(false);
  });

  it('marks the record that ends a full batch as possibly cut from the rest of its conversation', () => {
    const records = Array.from({ length: 10 }, (_, i) => record(`r${i}`, `c${i % 4}`, 'message'));
    const places = recordPlaces(records, parse);
    expect(places.get('r9')).toEqual({ more: false, last: true, cut: true });
    expect([...places.values()].filter((p) => p.cut)).toHaveLength(1);
    expect(recordPlaces(records.slice(0, 9), parse).get('r8')).toEqual({ more: false, last: true });
  });
});
