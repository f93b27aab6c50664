/**
 * Knowledge and tools in a bedrock turn, against the fake Bedrock (Converse and Retrieve over
 * h2c, driven by the real SDK clients), a local tool server and the fake Lambda: tenant
 * isolation of Bedrock retrieval, passages in the prompt, retrieval failures degrading, tool
 * calls and their failures, tool rounds, https-only tools, prompt caching and the grounding
 * gate through the reply pipeline.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BedrockAgentRuntimeClient, RetrieveCommand } from '@aws-sdk/client-bedrock-agent-runtime';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { produceReply } from '../../lambdas/gates/pipeline.js';
import { BedrockRetriever } from '../../lambdas/knowledge/bedrock-retriever.js';
import { BedrockResponder, type BedrockResponderOptions } from '../../lambdas/responders/bedrock.js';
import { DependencyError } from '../../lambdas/shared/errors.js';
import { parseTenantDocument, type TenantDocument } from '../../lambdas/shared/tenant.js';
import {
  type ConverseRequest,
  errorReply,
  type FakeBedrock,
  type FakeResponse,
  startFakeBedrock,
  toolReply,
  toolUse,
} from '../helpers/fake-bedrock.js';
import { type FakeLambda, startFakeLambda } from '../helpers/fake-lambda.js';
import { turnContext, turnMessage } from '../unit/responders/context.js';

const emitted = vi.hoisted(() => [] as { name: string; value: number; dimensions: Record<string, string> }[]);
vi.mock('../../lambdas/shared/powertools.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../lambdas/shared/powertools.js')>();
  return {
    ...original,
    emitMetric: (name: string, value: number, dimensions: Record<string, string> = {}) => {
      emitted.push({ name, value, dimensions });
    },
  };
});

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const KB = 'KBFAKE0001';
const SECRET = 'tool-secret-value-123';

let bedrock: FakeBedrock;
let toolServer: Server;
let toolUrl: string;
let lambda: FakeLambda;
/** What the tool server does next: a status and body, or hang. */
let toolBehaviour: (req: IncomingMessage) => { status: number; body: string } | 'hang' = () => ({
  status: 200,
  body: '{}',
});
const toolRequests: { url: string; method: string; auth: string | undefined; body: string }[] = [];

/** The last user message's tool results in a Converse request. */
// biome-ignore lint/suspicious/noExplicitAny: raw request JSON
function toolResults(request: ConverseRequest): any[] {
  const last = request.body.messages.at(-1);
  // biome-ignore lint/suspicious/noExplicitAny: raw request JSON
  return (last?.content ?? []).filter((b: any) => b.toolResult).map((b: any) => b.toolResult);
}

function systemText(request: ConverseRequest): string {
  // biome-ignore lint/suspicious/noExplicitAny: raw request JSON
  return request.body.system.map((b: any) => b.text ?? '').join('\n');
}

/**
 * A tiny "model" for the fake: asks the order tool when the customer gives an order code and
 * the tool is offered, answers from the tool result (politely saying so when it failed), else
 * quotes the first price of the reference material.
 */
function model(request: ConverseRequest): FakeResponse {
  const results = toolResults(request);
  if (results.length > 0) {
    const result = results[0];
    if (result.status === 'error') {
      return toolReply({
        messages: ['Dạ xin lỗi chị, hiện shop chưa tra cứu được đơn hàng. Nhân viên sẽ liên hệ chị sớm ạ.'],
      });
    }
    const data = JSON.parse(result.content[0].text) as { orderId: string; status: string };
    const status = data.status === 'shipped' ? 'đang được giao' : data.status;
    return toolReply({ messages: [`Dạ đơn hàng ${data.orderId} của chị ${status} ạ.`] });
  }
  const user = JSON.stringify(request.body.messages.at(-1)?.content ?? []);
  const order = /[A-Z]{2}-\d{8}-\d{3}/.exec(user)?.[0];
  // biome-ignore lint/suspicious/noExplicitAny: raw request JSON
  const offered = (request.body.toolConfig?.tools ?? []).map((t: any) => t.toolSpec?.name);
  if (order && offered.includes('order_status')) return toolUse('order_status', { orderId: order });
  const price = /price: (\d+)/.exec(JSON.stringify(request.body.messages))?.[1];
  return toolReply({
    messages: [
      price
        ? `Dạ áo thun giá ${Number(price).toLocaleString('de-DE')}đ ạ.`
        : 'Dạ shop kiểm tra rồi báo chị ạ.',
    ],
  });
}

const documents = [
  { tenant: 'shop-a', id: 'a-1', text: 'name: Áo thun basic; price: 199000; sizes: S M L' },
  { tenant: 'shop-a', id: 'a-2', text: 'Đổi trả trong 7 ngày.' },
  { tenant: 'shop-b', id: 'b-1', text: 'name: Áo thun basic; price: 99000; sizes: M' },
  { tenant: 'shop-b', id: 'b-2', text: 'name: Áo thun oversize; price: 150000' },
].map((d) => ({
  id: d.id,
  text: d.text,
  uri: `s3://knowledge-bucket/knowledge/${d.tenant}/products.csv`,
  metadata: { tenantId: d.tenant },
}));

function tenant(overrides: Record<string, unknown> = {}): TenantDocument {
  return parseTenantDocument({
    tenantId: 'shop-a',
    channels: {},
    settings: {
      tools: [
        {
          name: 'order_status',
          description: "Looks up an order's status by its code.",
          inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] },
          type: 'http',
          method: 'GET',
          url: `${toolUrl}/orders/{orderId}`,
          auth: { header: 'Authorization', secret: 'orders' },
          // The longest allowed: an answering tool never times out on a loaded machine.
          timeoutMs: 5000,
        },
      ],
      ...(overrides.settings as object),
    },
    secrets: { orders: SECRET },
    ...overrides,
  });
}

function responder(options: Partial<BedrockResponderOptions> = {}, doc: TenantDocument = tenant()) {
  return new BedrockResponder({
    endpoint: bedrock.url,
    retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
    retriever: new BedrockRetriever({ knowledgeBaseId: KB, endpoint: bedrock.url }),
    loadTenant: async () => doc,
    allowHttpTools: true,
    toolRuntime: { retryDelayMs: 5 },
    ...options,
  });
}

const shopA = (text: string) =>
  turnContext({
    tenantId: 'shop-a',
    settings: { bannedPhrases: [], fallbackReply: 'Dạ shop sẽ kiểm tra và báo lại chị ạ.' },
    messages: [turnMessage({ text })],
  });

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  process.env.AWS_REGION ??= 'us-east-1';
  bedrock = await startFakeBedrock(model, { tokens: true, cacheMinTokens: 0 });
  toolServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      toolRequests.push({
        url: req.url ?? '',
        method: req.method ?? '',
        auth: req.headers.authorization,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const behaviour = toolBehaviour(req);
      if (behaviour === 'hang') return;
      res.writeHead(behaviour.status, { 'content-type': 'application/json' });
      res.end(behaviour.body);
    });
  });
  await new Promise<void>((resolve) => toolServer.listen(0, '127.0.0.1', resolve));
  toolUrl = `http://127.0.0.1:${(toolServer.address() as AddressInfo).port}`;
  lambda = await startFakeLambda();
});

afterAll(async () => {
  await bedrock?.close();
  toolServer?.closeAllConnections();
  await new Promise<void>((resolve) => toolServer?.close(() => resolve()));
  await lambda?.close();
});

beforeEach(() => {
  bedrock.reset();
  bedrock.setKnowledge(documents);
  toolRequests.length = 0;
  emitted.length = 0;
  toolBehaviour = () => ({ status: 200, body: '{}' });
});

describe('BedrockRetriever', () => {
  it("sends the tenant filter on every Retrieve, so a tenant never gets another tenant's documents", async () => {
    const retriever = new BedrockRetriever({ knowledgeBaseId: KB, endpoint: bedrock.url });
    const a = await retriever.retrieve({ tenantId: 'shop-a', query: 'áo thun giá', topK: 5 });
    const b = await retriever.retrieve({ tenantId: 'shop-b', query: 'áo thun giá', topK: 5 });
    expect(
      bedrock.retrievals.map((r) => r.body.retrievalConfiguration.vectorSearchConfiguration.filter),
    ).toEqual([
      { equals: { key: 'tenantId', value: 'shop-a' } },
      { equals: { key: 'tenantId', value: 'shop-b' } },
    ]);
    expect(bedrock.retrievals[0]).toMatchObject({
      knowledgeBaseId: KB,
      body: { retrievalQuery: { text: 'áo thun giá' } },
    });
    expect(a.passages.map((p) => p.id)).toEqual(['a-1']);
    expect(b.passages.map((p) => p.id).sort()).toEqual(['b-1', 'b-2']);
    expect(a.passages[0]).toMatchObject({ source: 's3://knowledge-bucket/knowledge/shop-a/products.csv' });

    // The same query without the filter reaches the other tenant's documents: the filter is what isolates.
    const raw = new BedrockAgentRuntimeClient({ endpoint: bedrock.url, region: 'us-east-1', credentials });
    const unfiltered = await raw.send(
      new RetrieveCommand({ knowledgeBaseId: KB, retrievalQuery: { text: 'áo thun giá' } }),
    );
    expect(unfiltered.retrievalResults?.map((r) => r.metadata?.tenantId)).toContain('shop-b');
  });

  it('drops a result whose metadata names another tenant, and translates failures', async () => {
    bedrock.enqueueRetrieve({
      status: 200,
      body: {
        retrievalResults: [
          { content: { text: 'của shop-b' }, score: 0.9, metadata: { tenantId: 'shop-b' } },
          {
            content: { text: 'của shop-a' },
            score: 0.5,
            metadata: { tenantId: 'shop-a' },
            location: { type: 'S3', s3Location: { uri: 's3://k/a.md' } },
          },
        ],
      },
    });
    const retriever = new BedrockRetriever({ knowledgeBaseId: KB, endpoint: bedrock.url });
    const result = await retriever.retrieve({ tenantId: 'shop-a', query: 'x', topK: 5 });
    expect(result.passages).toEqual([
      { id: 's3://k/a.md#2', text: 'của shop-a', score: 0.5, source: 's3://k/a.md' },
    ]);

    bedrock.enqueueRetrieve(errorReply(404, 'ResourceNotFoundException', 'No knowledge base KBFAKE0001'));
    const error = await retriever
      .retrieve({ tenantId: 'shop-a', query: 'x', topK: 5 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyError);
    expect((error as Error).message).toContain('ResourceNotFoundException');
  });
});

describe('retrieval in a turn', () => {
  it('puts the passages in the turn, after the cached prefix, and reports their ids and scores, no text', async () => {
    const reply = await responder().respond(shopA('Áo thun basic giá bao nhiêu?'));
    expect(reply.messages).toEqual([{ text: 'Dạ áo thun giá 199.000đ ạ.' }]);
    const request = bedrock.requests[0]!;
    expect(request.body.system[1]).toEqual({ cachePoint: { type: 'default' } });
    expect(systemText(request)).not.toContain('199000');
    const turn = JSON.stringify(request.body.messages.at(-1).content);
    expect(turn).toContain('<passage id=\\"a-1\\">');
    expect(turn).not.toContain('price: 99000');
    expect(reply.diagnostics?.retrieval?.passages).toEqual([{ id: 'a-1', score: expect.any(Number) }]);
    expect(JSON.stringify(reply.diagnostics)).not.toContain('Áo thun');
    expect(reply.evidence).toContain('name: Áo thun basic; price: 199000; sizes: S M L');
    expect(emitted.map((m) => m.name)).toContain('KnowledgeRetrievalLatency');
  });

  it('answers without knowledge when retrieval fails, counting it, never failing the turn', async () => {
    bedrock.enqueueRetrieve(errorReply(500, 'InternalServerException', 'boom'));
    const reply = await responder().respond(shopA('Áo thun basic giá bao nhiêu?'));
    expect(reply.messages).toEqual([{ text: 'Dạ shop kiểm tra rồi báo chị ạ.' }]);
    expect(reply.diagnostics?.retrieval).toMatchObject({
      passages: [],
      error: expect.stringContaining('InternalServerException'),
    });
    expect(emitted.filter((m) => m.name === 'KnowledgeRetrievalFailed')).toHaveLength(1);
    expect(JSON.stringify(bedrock.requests[0]!.body)).not.toContain('<passage');
  });

  it('answers without knowledge when retrieval outlasts its slice of the deadline', async () => {
    bedrock.enqueueRetrieve({ status: 200, body: { retrievalResults: [] }, delayMs: 2000 });
    const reply = await responder({ retrievalTimeoutMs: 50 }).respond(shopA('Áo thun?'));
    expect(reply.messages).toHaveLength(1);
    expect(reply.diagnostics?.retrieval?.error).toBeDefined();
    expect(emitted.filter((m) => m.name === 'KnowledgeRetrievalFailed')).toHaveLength(1);
  });

  it('does not retrieve for a tenant with settings.knowledge false', async () => {
    await responder({}, tenant({ settings: { knowledge: false } })).respond(shopA('Áo thun?'));
    expect(bedrock.retrievals).toHaveLength(0);
    expect(bedrock.requests).toHaveLength(1);
  });

  it('retrieves once for a turn and its regeneration', async () => {
    const r = responder();
    const plan = await produceReply(r, shopA('Áo thun basic giá?'), {
      previousBotReply: 'Dạ áo thun giá 199.000đ ạ.',
    });
    expect(plan.outcome).not.toBe('ok');
    expect(bedrock.requests).toHaveLength(2);
    expect(bedrock.retrievals).toHaveLength(1);
  });
});

describe('tenant tools', () => {
  it('calls the tool with the secret header and a URL-encoded template, and the result reaches the reply', async () => {
    toolBehaviour = () => ({
      status: 200,
      body: JSON.stringify({ orderId: 'YD-20260312-001', status: 'shipped' }),
    });
    const plan = await produceReply(responder(), shopA('Kiểm tra đơn YD-20260312-001 giúp mình'));
    expect(plan.outcome).toBe('ok');
    expect(plan.parts).toEqual([{ text: 'Dạ đơn hàng YD-20260312-001 của chị đang được giao ạ.' }]);
    expect(toolRequests).toEqual([{ url: '/orders/YD-20260312-001', method: 'GET', auth: SECRET, body: '' }]);
    expect(bedrock.requests).toHaveLength(2);
    expect(bedrock.requests[0]!.body.toolConfig.toolChoice).toEqual({ any: {} });
    expect(
      bedrock.requests[0]!.body.toolConfig.tools.map((t: { toolSpec: { name: string } }) => t.toolSpec.name),
    ).toEqual(['reply', 'order_status']);
    expect(toolResults(bedrock.requests[1]!)).toEqual([
      {
        toolUseId: 'tooluse_order_status',
        status: 'success',
        content: [{ text: '{"orderId":"YD-20260312-001","status":"shipped"}' }],
      },
    ]);
    expect(plan.diagnostics?.tools).toEqual([
      { name: 'order_status', ok: true, status: 200, attempts: 1, latencyMs: expect.any(Number) },
    ]);
    expect(JSON.stringify(plan.diagnostics)).not.toContain(SECRET);
    expect(plan.gates.find((g) => g.gate === 'grounded')).toEqual({ gate: 'grounded', outcome: 'pass' });
    expect(emitted).toContainEqual({ name: 'ToolCalls', value: 1, dimensions: { outcome: 'ok' } });
  });

  it.each([
    ['answers 500', () => ({ status: 500, body: '{"error":"db down"}' }), 'HTTP 500'],
    ['times out', () => 'hang' as const, 'did not answer within 300 ms'],
  ])('leaves a polite reply saying so when the tool %s (retried once)', async (_, behaviour, error) => {
    toolBehaviour = behaviour;
    const doc = tenant();
    const quick = parseTenantDocument({
      ...doc,
      settings: { tools: [{ ...doc.settings.tools![0]!, timeoutMs: 300 }] },
    });
    const plan = await produceReply(responder({}, quick), shopA('Đơn YD-20260312-001 tới đâu rồi shop?'));
    expect(plan.outcome).toBe('ok');
    expect(plan.parts[0]?.text).toMatch(/xin lỗi.*chưa tra cứu được đơn hàng/i);
    expect(toolRequests).toHaveLength(2);
    const [result] = toolResults(bedrock.requests[1]!);
    expect(result.status).toBe('error');
    expect(result.content[0].text).toContain(error);
    expect(result.content[0].text).toContain('cannot check this right now');
    expect(result.content[0].text).not.toContain('db down');
    expect(plan.diagnostics?.tools).toEqual([
      expect.objectContaining({ name: 'order_status', ok: false, attempts: 2, error }),
    ]);
    expect(emitted).toContainEqual({ name: 'ToolCalls', value: 1, dimensions: { outcome: 'failed' } });
  });

  it('forces the reply tool after TOOL_MAX_ROUNDS rounds of tool calls', async () => {
    toolBehaviour = () => ({ status: 200, body: '{"orderId":"YD-1","status":"pending"}' });
    bedrock.enqueue(
      toolUse('order_status', { orderId: 'YD-1' }),
      toolUse('order_status', { orderId: 'YD-1' }, 'tooluse_2'),
      toolReply({ messages: ['Dạ đơn đang chờ xử lý ạ.'] }),
    );
    const reply = await responder({ maxToolRounds: 2 }).respond(shopA('Đơn YD-1?'));
    expect(reply.messages).toEqual([{ text: 'Dạ đơn đang chờ xử lý ạ.' }]);
    expect(bedrock.requests.map((r) => r.body.toolConfig.toolChoice)).toEqual([
      { any: {} },
      { any: {} },
      { tool: { name: 'reply' } },
    ]);
    expect(toolRequests).toHaveLength(2);
    expect(reply.diagnostics?.tools).toHaveLength(2);
  });

  it('offers no tool when TOOL_MAX_ROUNDS is 0', async () => {
    await responder({ maxToolRounds: 0 }).respond(shopA('Đơn YD-20260312-001?'));
    expect(bedrock.requests[0]!.body.toolConfig.tools).toHaveLength(1);
    expect(toolRequests).toHaveLength(0);
  });

  it('does not offer an http:// tool unless http is allowed (deployed stacks are https only)', async () => {
    await responder({ allowHttpTools: false }).respond(shopA('Đơn YD-20260312-001?'));
    expect(bedrock.requests[0]!.body.toolConfig.tools).toHaveLength(1);
    expect(bedrock.requests[0]!.body.toolConfig.toolChoice).toEqual({ tool: { name: 'reply' } });
    expect(toolRequests).toHaveLength(0);
  });

  it('cuts a response at the tool byte cap before the model sees it', async () => {
    toolBehaviour = () => ({
      status: 200,
      body: JSON.stringify({ orderId: 'YD-1', notes: 'x'.repeat(5000) }),
    });
    const doc = tenant();
    const capped = parseTenantDocument({
      ...doc,
      settings: { tools: [{ ...doc.settings.tools![0]!, maxResponseBytes: 300 }] },
    });
    bedrock.enqueue(
      toolUse('order_status', { orderId: 'YD-1' }),
      toolReply({ messages: ['Dạ shop đã xem ạ.'] }),
    );
    await responder({}, capped).respond(shopA('Đơn YD-1?'));
    const text = toolResults(bedrock.requests[1]!)[0].content[0].text as string;
    expect(Buffer.byteLength(text.replace('\n[…response cut]', ''))).toBeLessThanOrEqual(300);
    expect(text.endsWith('[…response cut]')).toBe(true);
  });

  it('invokes a lambda tool with the input as its event', async () => {
    lambda.define('orders-fn', (event) => ({
      orderId: (event as { orderId: string }).orderId,
      status: 'shipped',
    }));
    const doc = parseTenantDocument({
      tenantId: 'shop-a',
      channels: {},
      settings: {
        tools: [
          {
            name: 'order_status',
            description: 'Order status',
            inputSchema: { type: 'object' },
            type: 'lambda',
            functionName: 'orders-fn',
          },
        ],
      },
    });
    const client = new LambdaClient({
      endpoint: lambda.url,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });
    const reply = await responder({ toolRuntime: { lambda: client, retryDelayMs: 5 } }, doc).respond(
      shopA('Đơn YD-20260312-001?'),
    );
    expect(reply.messages).toEqual([{ text: 'Dạ đơn hàng YD-20260312-001 của chị đang được giao ạ.' }]);
    expect(JSON.parse(lambda.requests[0]!.payload)).toEqual({ orderId: 'YD-20260312-001' });
  });
});

describe('prompt caching and tokens', () => {
  it('writes the stable prefix to the cache on the first turn and reads it on the next, summing tokens', async () => {
    const r = responder();
    const first = await r.respond(shopA('Áo thun basic giá?'));
    const second = await r.respond({ ...shopA('Còn size M không?'), turnId: 'turn-2' });
    expect(first.diagnostics?.tokens?.cacheWrite).toBeGreaterThan(0);
    expect(first.diagnostics?.tokens?.cacheRead).toBeUndefined();
    expect(second.diagnostics?.tokens?.cacheRead).toBe(first.diagnostics?.tokens?.cacheWrite);
    expect(second.diagnostics?.tokens?.input).toBeGreaterThan(0);
    const kinds = emitted.filter((m) => m.name === 'ResponderTokens').map((m) => m.dimensions.kind);
    expect(kinds).toEqual(['input', 'output', 'cacheWrite', 'input', 'output', 'cacheRead']);
  });

  it('sends one system block without a cache point when caching is off', async () => {
    const reply = await responder({ promptCache: false }).respond(shopA('Áo thun basic giá?'));
    expect(bedrock.requests[0]!.body.system).toHaveLength(1);
    expect(reply.diagnostics?.tokens).toEqual({ input: expect.any(Number), output: expect.any(Number) });
  });
});

describe('grounding gate through the pipeline', () => {
  it('catches a price that is not in the passages: one regeneration with the reason, then the fallback', async () => {
    bedrock.enqueue(
      toolReply({ messages: ['Dạ áo thun basic giá 250.000đ ạ.'] }),
      toolReply({ messages: ['Dạ áo thun basic chỉ 249k thôi ạ.'] }),
    );
    const plan = await produceReply(responder(), shopA('Áo thun basic giá bao nhiêu?'));
    expect(plan.outcome).toBe('fallback');
    expect(plan.parts).toEqual([{ text: 'Dạ shop sẽ kiểm tra và báo lại chị ạ.' }]);
    expect(systemText(bedrock.requests[1]!)).toContain('the price "250.000d"');
    expect(plan.gates.filter((g) => g.gate === 'grounded').map((g) => g.outcome)).toEqual([
      'fail',
      'fail',
      'fallback',
    ]);
  });

  it('lets the regeneration through when it quotes the passage price', async () => {
    bedrock.enqueue(toolReply({ messages: ['Dạ áo thun basic giá 250.000đ ạ.'] }));
    const plan = await produceReply(responder(), shopA('Áo thun basic giá bao nhiêu?'));
    expect(plan.outcome).toBe('regenerated');
    expect(plan.parts).toEqual([{ text: 'Dạ áo thun giá 199.000đ ạ.' }]);
  });
});
