import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createInprocFetch, type InprocListener } from '../../bin/local/inproc-fetch.js';
import { errorCode } from '../../lambdas/channels/send/http.js';

const ORIGIN = 'http://127.0.0.1:3999';

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Seen {
  method?: string;
  url?: string;
  headers?: IncomingMessage['headers'];
  body?: string;
  closed: boolean;
}

function setup(answer: (req: IncomingMessage, res: ServerResponse, seen: Seen) => Promise<void> | void) {
  const seen: Seen = { closed: false };
  const fallbackCalls: string[] = [];
  const listener: InprocListener = async (req, res) => {
    seen.method = req.method;
    seen.url = req.url;
    seen.headers = req.headers;
    seen.body = (await readAll(req)).toString('utf8');
    res.on('close', () => {
      seen.closed = true;
    });
    await answer(req, res, seen);
  };
  const fallback = (async (input: string | URL | Request) => {
    fallbackCalls.push(String(input instanceof Request ? input.url : input));
    return new Response('from the network', { status: 299 });
  }) as typeof fetch;
  const inproc = createInprocFetch({ origin: ORIGIN, pathPrefix: '/sandbox', listener }, fallback);
  return { inproc, seen, fallbackCalls };
}

describe('the in-process fetch to the sandbox', () => {
  it('hands a sandbox request to the listener and returns its status, headers and body', async () => {
    const t = setup((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-thing': 'a' });
      res.end(JSON.stringify({ message_id: 'm.1', emoji: '👋' }));
    });
    const res = await t.inproc(`${ORIGIN}/sandbox/graph/v25.0/me/messages?access_token=tok`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', Authorization: 'Bearer x' },
      body: JSON.stringify({ text: 'héllo 👋' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-thing')).toBe('a');
    expect(await res.json()).toEqual({ message_id: 'm.1', emoji: '👋' });
    expect(t.seen.method).toBe('POST');
    expect(t.seen.url).toBe('/sandbox/graph/v25.0/me/messages?access_token=tok');
    expect(t.seen.headers?.authorization).toBe('Bearer x');
    expect(t.seen.headers?.['content-length']).toBe(
      String(Buffer.byteLength(JSON.stringify({ text: 'héllo 👋' }))),
    );
    expect(t.seen.body).toBe(JSON.stringify({ text: 'héllo 👋' }));
    expect(t.fallbackCalls).toEqual([]);
  });

  it('sends form bodies as the network would: URL-encoded and multipart with their content types', async () => {
    const t = setup((_req, res) => {
      res.writeHead(200, {});
      res.end();
    });
    await t.inproc(`${ORIGIN}/sandbox/zalo-oauth/v4/oa/access_token`, {
      method: 'POST',
      body: new URLSearchParams({ refresh_token: 'r 1', grant_type: 'refresh_token' }),
    });
    expect(t.seen.headers?.['content-type']).toContain('application/x-www-form-urlencoded');
    expect(t.seen.body).toBe('refresh_token=r+1&grant_type=refresh_token');

    const form = new FormData();
    form.set('chat_id', '42');
    const res = await t.inproc(`${ORIGIN}/sandbox/telegram/botX/sendPhoto`, { method: 'POST', body: form });
    expect(t.seen.headers?.['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(t.seen.body).toContain('name="chat_id"');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('passes other origins and paths to the real fetch', async () => {
    const t = setup(() => undefined);
    const other = await t.inproc('http://127.0.0.1:4000/sandbox/graph/x');
    const outside = await t.inproc(`${ORIGIN}/webhooks/messenger/demo`);
    const lookalike = await t.inproc(`${ORIGIN}/sandboxes/x`);
    expect([other.status, outside.status, lookalike.status]).toEqual([299, 299, 299]);
    expect(t.fallbackCalls).toEqual([
      'http://127.0.0.1:4000/sandbox/graph/x',
      `${ORIGIN}/webhooks/messenger/demo`,
      `${ORIGIN}/sandboxes/x`,
    ]);
    expect(t.seen.method).toBeUndefined();
  });

  it('rejects a dropped connection as undici does: fetch failed, caused by UND_ERR_SOCKET', async () => {
    const t = setup((_req, res) => {
      res.destroy();
    });
    const err = await t
      .inproc(`${ORIGIN}/sandbox/telegram/botX/sendMessage`, { method: 'POST', body: '{}' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toBe('fetch failed');
    expect(errorCode(err)).toBe('UND_ERR_SOCKET');
    expect(t.seen.closed).toBe(true);
  });

  it('waits for an answer that never comes until the abort signal, then rejects with its reason and closes the response', async () => {
    let release: () => void = () => undefined;
    const t = setup(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    const controller = new AbortController();
    const pending = t.inproc(`${ORIGIN}/sandbox/zalo/v3.0/oa/message/cs`, {
      method: 'POST',
      body: '{}',
      signal: controller.signal,
    });
    // The listener has the request and holds it.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(t.seen.method).toBe('POST');
    expect(t.seen.closed).toBe(false);
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    await expect(pending).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(t.seen.closed).toBe(true);
    release();
  });

  it('rejects at once when the signal has already fired, without calling the listener', async () => {
    const t = setup(() => undefined);
    const controller = new AbortController();
    controller.abort(new DOMException('aborted', 'AbortError'));
    await expect(
      t.inproc(`${ORIGIN}/sandbox/graph/x`, { method: 'POST', body: '{}', signal: controller.signal }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(t.seen.method).toBeUndefined();
  });

  it('turns a listener that throws before answering into a failed fetch', async () => {
    const t = setup(() => {
      throw new Error('sandbox bug');
    });
    const err = await t.inproc(`${ORIGIN}/sandbox/graph/x`, { method: 'POST', body: '{}' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TypeError);
    expect(errorCode(err)).toBe('UND_ERR_SOCKET');
  });

  it('gives a 204 answer no body', async () => {
    const t = setup((_req, res) => {
      res.writeHead(204, {});
      res.end();
    });
    const res = await t.inproc(`${ORIGIN}/sandbox/graph/x`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
  });
  it('reads a plain request (string URL, header record, text body) the same as through a Request', async () => {
    const inits: RequestInit[] = [
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-A': ' padded\t' },
        body: '{"t":"é 👋"}',
      },
      { method: 'post', body: 'plain text, no content type' },
      { method: 'put', headers: { 'x-a': '1', 'X-A': '2' }, body: '' },
      { method: 'PATCH', headers: { accept: 'application/json' }, body: 'x' },
      { headers: { authorization: 'Bearer t' } },
      { method: 'delete' },
      {},
    ];
    for (const init of inits) {
      const views: Seen[] = [];
      for (const input of [`${ORIGIN}/sandbox/p?q=1`, new URL(`${ORIGIN}/sandbox/p?q=1`)]) {
        const t = setup((_req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('ok');
        });
        const res = await t.inproc(input, init);
        expect(await res.text()).toBe('ok');
        views.push(t.seen);
      }
      expect(views[0], JSON.stringify(init)).toEqual(views[1]);
    }
  });

  it('fails a plain request the way a Request fails it (bad method, header, or a body on GET)', async () => {
    const t = setup((_req, res) => {
      res.end('never');
    });
    const bad: RequestInit[] = [
      { method: 'GET', body: 'x' },
      { method: 'CONNECT' },
      { headers: { 'bad name': 'x' } },
      { headers: { ok: 'line\nbreak' } },
    ];
    for (const init of bad) {
      const viaString = await t.inproc(`${ORIGIN}/sandbox/p`, init).then(
        () => 'resolved',
        (err: unknown) => (err as Error).name,
      );
      const viaUrl = await t.inproc(new URL(`${ORIGIN}/sandbox/p`), init).then(
        () => 'resolved',
        (err: unknown) => (err as Error).name,
      );
      expect(viaString, JSON.stringify(init)).toBe('TypeError');
      expect(viaUrl).toBe(viaString);
    }
    expect(t.seen.method).toBeUndefined();
  });
});
