import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../../bin/local/sandbox.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => sandbox.stop());
beforeEach(() => sandbox.clear());

const pancakeUrl = (page: string) =>
  `${sandbox.baseUrls.pancake}/api/public_api/v1/pages/${page}/conversations/c1/messages?page_access_token=secret-tok`;
const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('sandbox fake platform', () => {
  it('keeps the accepted messages in its journal across a restart, and forgets them when cleared', async () => {
    const journalPath = join(mkdtempSync(join(tmpdir(), 'sandbox-journal-')), 'sandbox.jsonl');
    const first = await startSandbox({ journalPath });
    const tg = (text: string) =>
      post(`${first.baseUrls.telegram}/bot123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ/sendMessage`, {
        chat_id: 7,
        text,
      });
    const sent = (await (await tg('before the crash')).json()) as { result: { message_id: number } };
    first.fail({ channel: 'telegram', kind: '500', count: 1 });
    await tg('refused');
    // No graceful stop: what was accepted is already on disk.
    const second = await startSandbox({ journalPath });
    try {
      expect(second.messages().map((m) => m.text)).toEqual(['before the crash']);
      const again = (await (
        await post(`${second.baseUrls.telegram}/bot123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ/sendMessage`, {
          chat_id: 7,
          text: 'after the restart',
        })
      ).json()) as { result: { message_id: number } };
      expect(again.result.message_id).toBeGreaterThan(sent.result.message_id);
      expect(second.messages().map((m) => m.text)).toEqual(['before the crash', 'after the restart']);
      second.clear();
    } finally {
      await second.stop();
      await first.stop();
    }
    const third = await startSandbox({ journalPath });
    expect(third.messages()).toEqual([]);
    await third.stop();
  });

  it('lists recorded requests over HTTP without their tokens, and clears them', async () => {
    await post(pancakeUrl('p1'), { action: 'reply_inbox', message: 'one' });
    const listed = (await (await fetch(`${sandbox.url}/sandbox/messages`)).json()) as Record<
      string,
      unknown
    >[];
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      channel: 'pancake',
      pageId: 'p1',
      text: 'one',
      delivered: true,
      status: 200,
    });
    expect(JSON.stringify(listed)).not.toContain('secret-tok');
    expect((await fetch(`${sandbox.url}/sandbox/messages`, { method: 'DELETE' })).status).toBe(204);
    expect(sandbox.messages()).toEqual([]);
  });

  it('lists only accepted messages at /sandbox/messages and every request at /sandbox/requests', async () => {
    const graph = (body: unknown) =>
      post(`${sandbox.baseUrls.graph}/v25.0/page1/messages?access_token=tok`, body);
    await graph({ recipient: { id: 'u1' }, sender_action: 'typing_on' });
    await graph({ recipient: { id: 'u1' }, messaging_type: 'RESPONSE', message: { text: 'hello' } });
    sandbox.fail({ channel: 'graph', kind: '500', count: 1 });
    await graph({ recipient: { id: 'u1' }, messaging_type: 'RESPONSE', message: { text: 'lost' } });
    const get = async (path: string) =>
      (await (await fetch(`${sandbox.url}${path}`)).json()) as {
        kind: string;
        text?: string;
        delivered: boolean;
      }[];
    const messages = await get('/sandbox/messages');
    expect(messages.map((m) => [m.kind, m.text])).toEqual([['text', 'hello']]);
    const requests = await get('/sandbox/requests');
    expect(requests.map((m) => [m.kind, m.delivered])).toEqual([
      ['typing', false],
      ['text', true],
      ['text', false],
    ]);
  });

  it('lists only the records after a seq with ?after=N, and refuses a seq that is not an integer', async () => {
    const graph = (text: string) =>
      post(`${sandbox.baseUrls.graph}/v25.0/page1/messages?access_token=tok`, {
        recipient: { id: 'u2' },
        messaging_type: 'RESPONSE',
        message: { text },
      });
    await graph('first');
    const all = (await (await fetch(`${sandbox.url}/sandbox/messages`)).json()) as {
      seq: number;
      text?: string;
    }[];
    const last = all[all.length - 1]!;
    expect(last.text).toBe('first');
    await graph('second');
    await graph('third');
    const after = (await (await fetch(`${sandbox.url}/sandbox/messages?after=${last.seq}`)).json()) as {
      seq: number;
      text?: string;
    }[];
    expect(after.map((m) => m.text)).toEqual(['second', 'third']);
    const requestsAfter = (await (
      await fetch(`${sandbox.url}/sandbox/requests?after=${last.seq + 1}`)
    ).json()) as {
      text?: string;
    }[];
    expect(requestsAfter.map((m) => m.text)).toEqual(['third']);
    const everything = (await (await fetch(`${sandbox.url}/sandbox/messages?after=0`)).json()) as unknown[];
    expect(everything.length).toBe(all.length + 2);
    for (const bad of ['-1', '1.5', 'x', '']) {
      const res = await fetch(`${sandbox.url}/sandbox/messages?after=${bad}`);
      expect(res.status, bad).toBe(400);
    }
  });

  it('accepts fault rules over HTTP, applies them count times, and rejects malformed rules', async () => {
    const created = await post(`${sandbox.url}/sandbox/faults`, {
      channel: 'pancake',
      kind: '500',
      count: 2,
    });
    expect(created.status).toBe(201);
    const statuses = [];
    for (let i = 0; i < 3; i += 1)
      statuses.push((await post(pancakeUrl(`f${i}`), { action: 'reply_inbox', message: 'x' })).status);
    expect(statuses).toEqual([500, 500, 200]);
    expect((await post(`${sandbox.url}/sandbox/faults`, { kind: 'explode' })).status).toBe(400);
  });

  it('answers HTTP 500 when Pancake gets both message and content_ids, like the real API', async () => {
    const res = await post(pancakeUrl('p1'), { action: 'reply_inbox', message: 'x', content_ids: ['c'] });
    expect(res.status).toBe(500);
    expect(sandbox.messages()[0]?.delivered).toBe(false);
  });

  it("enforces Pancake's 5 calls per page per second with HTTP 429", async () => {
    const statuses = await Promise.all(
      Array.from({ length: 7 }, () =>
        post(pancakeUrl('busy'), { action: 'reply_inbox', message: 'x' }).then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);
    expect((await post(pancakeUrl('quiet'), { action: 'reply_inbox', message: 'x' })).status).toBe(200);
  });

  it('rejects sends without a token the way each platform does', async () => {
    const pc = await post(`${sandbox.baseUrls.pancake}/api/public_api/v1/pages/p/conversations/c/messages`, {
      action: 'reply_inbox',
      message: 'x',
    });
    expect(pc.status).toBe(401);
    const graph = await post(`${sandbox.baseUrls.graph}/v25.0/123/messages`, {
      recipient: { id: '1' },
      messaging_type: 'RESPONSE',
      message: { text: 'x' },
    });
    expect(graph.status).toBe(401);
    expect(((await graph.json()) as { error: { code: number } }).error.code).toBe(190);
    const tg = await post(`${sandbox.baseUrls.telegram}/botnot-a-token/sendMessage`, {
      chat_id: '1',
      text: 'x',
    });
    expect(((await tg.json()) as { error_code: number }).error_code).toBe(401);
    const zalo = await post(`${sandbox.baseUrls.zalo}/v3.0/oa/message/cs`, {
      recipient: { user_id: 'u' },
      message: { text: 'x' },
    });
    expect(((await zalo.json()) as { error: number }).error).toBe(-216);
  });

  it('leaves paths outside /sandbox to the server it is mounted in', async () => {
    const res = await fetch(`${sandbox.url}/webhooks/pancake/acme`);
    expect(res.status).toBe(404);
    expect(sandbox.messages()).toEqual([]);
  });
});
