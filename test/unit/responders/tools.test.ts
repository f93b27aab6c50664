import { describe, expect, it } from 'vitest';
import {
  buildMessages,
  buildSystemParts,
  buildSystemPrompt,
  hiddenInstructions,
} from '../../../lambdas/responders/prompt.js';
import { callTool, fillUrlTemplate, toolSpecs, usableTools } from '../../../lambdas/responders/tools.js';
import { parseTenantDocument, type ToolDeclaration } from '../../../lambdas/shared/tenant.js';
import { turnContext, turnMessage } from './context.js';

function tool(overrides: Record<string, unknown> = {}): ToolDeclaration {
  return parseTenantDocument({
    tenantId: 't',
    channels: {},
    settings: {
      tools: [
        {
          name: 'order_status',
          description: 'Order status',
          inputSchema: { type: 'object' },
          url: 'https://shop.example/orders/{orderId}?lang={lang}',
          ...overrides,
        },
      ],
    },
  }).settings.tools![0]!;
}

/** A fetch answering from a list, recording each call. */
function scriptedFetch(...answers: (Response | Error)[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fn = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const next = answers.shift();
    if (next === undefined) throw new Error('script exhausted');
    if (next instanceof Error) throw next;
    return next;
  }) as unknown as typeof fetch;
  return { fn, calls };
}

const runtime = (fetchFn: typeof fetch, signal = new AbortController().signal) => ({
  secrets: { orders: 's3cret' },
  allowHttp: false,
  signal,
  fetch: fetchFn,
  retryDelayMs: 0,
});

describe('fillUrlTemplate', () => {
  it('fills each field URL-encoded and refuses a missing one', () => {
    expect(fillUrlTemplate('https://x/orders/{id}?q={q}', { id: 'YD/1 2', q: 'áo thun&x' })).toBe(
      'https://x/orders/YD%2F1%202?q=%C3%A1o%20thun%26x',
    );
    expect(fillUrlTemplate('https://x/{n}', { n: 42 })).toBe('https://x/42');
    expect(() => fillUrlTemplate('https://x/{id}', {})).toThrow('no value for "id"');
    expect(() => fillUrlTemplate('https://x/{id}', { id: { nested: 1 } })).toThrow('no value for "id"');
  });
});

describe('usableTools', () => {
  it('offers https tools and lambda tools, http only when allowed, nothing else', () => {
    const tools = [
      tool({ name: 'a' }),
      tool({ name: 'b', url: 'http://10.0.0.1/x' }),
      tool({ name: 'c', url: 'ftp://x/y' }),
      tool({ name: 'd', type: 'lambda', url: undefined, functionName: 'fn' }),
    ];
    expect(usableTools(tools, false).usable.map((t) => t.name)).toEqual(['a', 'd']);
    expect(usableTools(tools, false).refused).toEqual([
      { name: 'b', reason: 'plain http:// URLs are only allowed in the local stack; use https://' },
      { name: 'c', reason: 'the URL must start with https://' },
    ]);
    expect(usableTools(tools, true).usable.map((t) => t.name)).toEqual(['a', 'b', 'd']);
    expect(toolSpecs([tools[0]!])).toEqual([
      { toolSpec: { name: 'a', description: 'Order status', inputSchema: { json: { type: 'object' } } } },
    ]);
  });
});

describe('callTool', () => {
  it('sends the auth header from the secrets and POSTs the input as JSON', async () => {
    const { fn, calls } = scriptedFetch(new Response('{"ok":true}', { status: 200 }));
    const post = tool({
      method: 'POST',
      url: 'https://shop.example/lookup',
      auth: { header: 'X-Key', secret: 'orders' },
    });
    const outcome = await callTool(post, { orderId: 'A1' }, runtime(fn));
    expect(outcome).toMatchObject({
      status: 'success',
      text: '{"ok":true}',
      record: { ok: true, status: 200, attempts: 1 },
    });
    expect(calls[0]!.init).toMatchObject({ method: 'POST', body: '{"orderId":"A1"}', redirect: 'manual' });
    expect((calls[0]!.init.headers as Record<string, string>)['x-key']).toBe('s3cret');
    expect(JSON.stringify(outcome.record)).not.toContain('s3cret');
  });

  it('retries once on a 5xx or a network error, not on a 4xx, and says why it failed', async () => {
    const flaky = scriptedFetch(
      new Response('busy', { status: 503 }),
      new Response('{"s":1}', { status: 200 }),
    );
    expect((await callTool(tool(), { orderId: '1', lang: 'vi' }, runtime(flaky.fn))).record).toMatchObject({
      ok: true,
      attempts: 2,
    });
    const down = scriptedFetch(new TypeError('fetch failed'), new TypeError('fetch failed'));
    const failed = await callTool(tool(), { orderId: '1', lang: 'vi' }, runtime(down.fn));
    expect(failed.record).toMatchObject({
      ok: false,
      attempts: 2,
      error: 'could not be reached (TypeError)',
    });
    expect(failed.status).toBe('error');
    const missing = scriptedFetch(new Response('{"error":"no such order"}', { status: 404 }));
    const notFound = await callTool(tool(), { orderId: '1', lang: 'vi' }, runtime(missing.fn));
    expect(notFound.record).toMatchObject({ ok: false, attempts: 1, status: 404, error: 'HTTP 404' });
    expect(notFound.text).toContain('no such order');
  });

  it('fails without calling when an input field or the auth secret is missing', async () => {
    const { fn, calls } = scriptedFetch();
    const noInput = await callTool(tool(), { orderId: '1' }, runtime(fn));
    expect(noInput.record).toMatchObject({ ok: false, error: 'the input has no value for "lang"' });
    const noSecret = await callTool(
      tool({ url: 'https://x/{orderId}', auth: { header: 'X-Key', secret: 'missing' } }),
      { orderId: '1' },
      runtime(fn),
    );
    expect(noSecret.record.error).toBe('its auth secret "missing" is not set');
    expect(calls).toHaveLength(0);
  });

  it("throws when the answer's own deadline aborts, instead of reporting a tool failure", async () => {
    const controller = new AbortController();
    controller.abort(new Error('deadline'));
    const { fn } = scriptedFetch(new DOMException('aborted', 'AbortError'));
    await expect(
      callTool(tool(), { orderId: '1', lang: 'vi' }, runtime(fn, controller.signal)),
    ).rejects.toThrow();
  });
});

describe('system prompt parts and the turn message', () => {
  it('keeps instructions and persona stable and puts the customer and reason after them', () => {
    const context = turnContext({
      settings: { persona: 'Bạn là Lan.', bannedPhrases: [], fallbackReply: 'x' },
      customer: { id: '1', name: 'Chị Mai' },
      regenerationReason: 'the reply stated the price "1k"',
    });
    const { stable, dynamic } = buildSystemParts(context, { tools: true });
    expect(stable).toContain('Bạn là Lan.');
    expect(stable).toContain('call it first');
    expect(stable).not.toContain('Chị Mai');
    expect(dynamic).toContain('Chị Mai');
    expect(dynamic).toContain('rejected because');
    expect(buildSystemPrompt(context, { tools: true })).toBe(`${stable}\n\n${dynamic}`);
    const sameTenantOtherTurn = buildSystemParts(turnContext({ settings: context.settings }), {
      tools: true,
    });
    expect(sameTenantOtherTurn.stable).toBe(stable);
    expect(hiddenInstructions(context, { tools: true })).toContain('State prices, phone numbers');
  });

  it('puts the passages at the start of the turn and a cache point right after the history', () => {
    const passages = [{ id: 'p#1', text: 'Áo thun 199.000đ', score: 1, source: 's' }];
    const endsWithBot = turnContext({
      history: [
        { role: 'customer', text: 'Chào shop', at: 1 },
        { role: 'bot', text: 'Dạ chào chị', at: 2 },
      ],
      messages: [turnMessage({ text: 'Áo thun giá?' })],
    });
    const messages = buildMessages(endsWithBot, [], { passages, cacheHistory: true });
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(messages[1]!.content).toEqual([{ text: 'Dạ chào chị' }, { cachePoint: { type: 'default' } }]);
    expect(messages[2]!.content![0]!.text).toContain('<passage id="p#1">\nÁo thun 199.000đ\n</passage>');
    expect(messages[2]!.content![1]).toEqual({ text: 'Áo thun giá?' });

    const endsWithCustomer = turnContext({
      history: [{ role: 'customer', text: 'Chào shop', at: 1 }],
      messages: [turnMessage({ text: 'Áo thun giá?' })],
    });
    const merged = buildMessages(endsWithCustomer, [], { passages, cacheHistory: true });
    expect(merged).toHaveLength(1);
    expect(merged[0]!.content!.map((b) => (b.cachePoint ? 'cache' : b.text?.slice(0, 11)))).toEqual([
      'Chào shop',
      'cache',
      '<reference>',
      'Áo thun giá',
    ]);
    expect(buildMessages(turnContext(), [], { cacheHistory: true })[0]!.content).toEqual([{ text: 'hello' }]);
  });
});
