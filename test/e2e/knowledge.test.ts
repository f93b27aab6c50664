/**
 * Knowledge and tools end to end through the local stack (`npm start` as a child process):
 * the tenants file has a `knowledge/` folder next to it, so the stack indexes it in process;
 * the bedrock responder talks to the fake Bedrock (Converse with tool use) and calls a tenant
 * tool on a local HTTP server; the grounding gate replaces a made-up price with the fallback.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTenantDocument } from '../../lambdas/shared/tenant.js';
import {
  type ConverseRequest,
  type FakeBedrock,
  type FakeResponse,
  startFakeBedrock,
  toolReply,
  toolUse,
} from '../helpers/fake-bedrock.js';
import { type LocalStackProcess, startLocalStackProcess } from '../helpers/local-stack.js';
import { customerWebhook, e2eTenant, HANG_MS, newCustomer, repliesTo, tag } from './support.js';

const SECRET = 'e2e-orders-secret';
const FALLBACK = 'Dạ shop sẽ kiểm tra và báo lại bạn ngay ạ.';

let dir: string;
let bedrock: FakeBedrock;
let tools: Server;
const toolCalls: { url: string; auth: string | undefined }[] = [];
let stack: LocalStackProcess;

// biome-ignore lint/suspicious/noExplicitAny: raw request JSON
const blocks = (request: ConverseRequest): any[] => request.body.messages.at(-1)?.content ?? [];
const system = (request: ConverseRequest): string =>
  // biome-ignore lint/suspicious/noExplicitAny: raw request JSON
  request.body.system.map((b: any) => b.text ?? '').join('\n');

/** The fake model: tool for an order code, the tool's answer, else the first price of the passages. */
function model(request: ConverseRequest): FakeResponse {
  const result = blocks(request).find((b) => b.toolResult)?.toolResult;
  if (result) {
    if (result.status === 'error')
      return toolReply({ messages: ['Xin lỗi, shop chưa tra được đơn lúc này ạ.'] });
    const data = JSON.parse(result.content[0].text) as { orderId: string; status: string };
    return toolReply({ messages: [`Đơn hàng ${data.orderId} đã được giao ngày 12/3 ạ (${data.status}).`] });
  }
  const order = /[A-Z]{2}-\d{8}-\d{3}/.exec(JSON.stringify(blocks(request)))?.[0];
  if (order) return toolUse('order_status', { orderId: order });
  const price = /price: (\d+)/.exec(JSON.stringify(blocks(request)))?.[1];
  return toolReply({
    messages: [
      price ? `Áo thun basic giá ${Number(price).toLocaleString('de-DE')}đ ạ.` : 'Shop chưa có thông tin ạ.',
    ],
  });
}

const tenant = parseTenantDocument({
  ...e2eTenant('kb-shop', { fallbackReply: FALLBACK, persona: 'Bạn là Lan của shop Hoa.' }),
  secrets: { orders: SECRET },
});

beforeAll(async () => {
  bedrock = await startFakeBedrock(model);
  tools = createServer((req, res) => {
    toolCalls.push({ url: req.url ?? '', auth: req.headers['x-api-key'] as string | undefined });
    const orderId = decodeURIComponent((req.url ?? '').split('/').at(-1) ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ orderId, status: 'delivered' }));
  });
  await new Promise<void>((resolve) => tools.listen(0, '127.0.0.1', resolve));
  const toolUrl = `http://127.0.0.1:${(tools.address() as AddressInfo).port}`;

  dir = mkdtempSync(join(tmpdir(), 'chat-relay-knowledge-'));
  const withTools = parseTenantDocument({
    ...tenant,
    settings: {
      ...tenant.settings,
      tools: [
        {
          name: 'order_status',
          description: "An order's status by its code",
          inputSchema: { type: 'object', properties: { orderId: { type: 'string' } } },
          url: `${toolUrl}/orders/{orderId}`,
          auth: { header: 'X-Api-Key', secret: 'orders' },
        },
      ],
    },
  });
  writeFileSync(join(dir, 'tenants.json'), JSON.stringify([withTools]));
  mkdirSync(join(dir, 'knowledge', 'kb-shop'), { recursive: true });
  writeFileSync(
    join(dir, 'knowledge', 'kb-shop', 'products.csv'),
    'name,price,sizes\nÁo thun basic,199000,S M L\nQuần jean slim,450000,29 30 31\n',
  );
  writeFileSync(join(dir, 'knowledge', 'kb-shop', 'policy.md'), '# Đổi trả\nĐổi hàng trong 7 ngày.');

  stack = await startLocalStackProcess({
    env: {
      CHAT_RELAY_TENANTS_FILE: join(dir, 'tenants.json'),
      RESPONDER: 'bedrock',
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrock.url,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      DEBOUNCE_MS: '200',
    },
  });
}, 120_000);

afterAll(async () => {
  const stopped = await stack?.stop();
  await bedrock?.close();
  tools?.closeAllConnections();
  await new Promise<void>((resolve) => tools?.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
  expect(stopped?.code).toBe(0);
});

describe('knowledge and tools through the local stack', () => {
  it(
    'answers from the local knowledge folder, calls the tenant tool, and replaces a made-up price by the fallback',
    async () => {
      const customer = newCustomer('telegram');
      const send = async (text: string, replies: number): Promise<string[]> => {
        const posted = await stack.post(customerWebhook(tenant, customer, text));
        expect(posted.status).toBe(200);
        const records = await stack.waitForMessages(
          (r) => repliesTo(r, customer).length >= replies,
          HANG_MS,
          `reply ${replies}`,
        );
        return repliesTo(records, customer);
      };

      // 1. Retrieval from knowledge/kb-shop/products.csv, grounded price.
      const t = tag();
      let replies = await send(`Áo thun basic giá bao nhiêu vậy shop? ${t}`, 1);
      expect(replies[0]).toBe('Áo thun basic giá 199.000đ ạ.');
      const first = bedrock.requests.find((r) => JSON.stringify(r.body.messages).includes(t))!;
      const turn = JSON.stringify(blocks(first));
      expect(turn).toContain('<passage id=\\"products.csv#1\\">');
      expect(turn).toContain('Áo thun basic; price: 199000');

      // 2. A tool call: the order tool answers, its result reaches the reply.
      replies = await send('Kiểm tra giúp mình đơn YD-20260312-001', 2);
      expect(replies[1]).toBe('Đơn hàng YD-20260312-001 đã được giao ngày 12/3 ạ (delivered).');
      expect(toolCalls).toEqual([{ url: '/orders/YD-20260312-001', auth: SECRET }]);

      // 3. The grounding gate: a price in neither the passages nor the conversation, twice.
      bedrock.enqueue(
        toolReply({ messages: ['Quần jean slim giá 520.000đ ạ.'] }),
        toolReply({ messages: ['Quần jean slim chỉ 499k ạ.'] }),
      );
      replies = await send('Còn quần jean slim giá sao?', 3);
      expect(replies[2]).toBe(FALLBACK);
      const regeneration = bedrock.requests.at(-1)!;
      expect(system(regeneration)).toContain('the price "520.000d"');
    },
    HANG_MS,
  );
});
