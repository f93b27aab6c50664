/**
 * The operator console in a real browser: Debian's chromium driven by playwright-core against
 * the local stack (`npm start` as a child process). A message posted by the test appears live
 * in the conversation list, its timeline shows the reply and its delivery, pausing from the page
 * stops the next reply, and the playground sends as a customer. The first paint of a list of
 * 100 conversations is measured and printed (never asserted: a figure, not a test).
 *
 * `CONSOLE_SCREENSHOTS=<dir>` also writes the README's screenshots (desktop and phone size).
 */
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationSummary, ConversationTrail } from '../../lambdas/contracts/audit.js';
import { type LocalStackProcess, startLocalStackProcess } from '../helpers/local-stack.js';
import {
  type Customer,
  customerWebhook,
  e2eTenant,
  HANG_MS,
  newCustomer,
  repliesTo,
  tag,
  waitForIdle,
} from './support.js';

const shop = e2eTenant('shop');
const hundred = e2eTenant('hundred');
let stack: LocalStackProcess;
let browser: Browser;

beforeAll(async () => {
  [stack, browser] = await Promise.all([
    startLocalStackProcess({ tenants: [shop, hundred] }),
    chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--no-first-run',
      ],
    }),
  ]);
}, HANG_MS);

afterAll(async () => {
  await browser?.close();
  expect((await stack?.stop())?.code).toBe(0);
});

async function openConsole(viewport = { width: 1280, height: 800 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  page.setDefaultTimeout(HANG_MS);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${stack.url}/`);
  await page
    .locator('[data-testid=tenant] option', { hasText: 'shop' })
    .first()
    .waitFor({ state: 'attached' });
  expect(errors).toEqual([]);
  return page;
}

/** The trail's conversation id of a customer (what the list and the API key on). */
async function conversationOf(customer: Customer, tenantId = 'shop'): Promise<ConversationSummary> {
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    const res = await fetch(`${stack.url}/api/conversations?tenant=${tenantId}`);
    const { conversations } = (await res.json()) as { conversations: ConversationSummary[] };
    const found = conversations.find(
      (c) =>
        c.channel === customer.channel &&
        (c.conversationId.endsWith(`:${customer.id}`) || c.conversationId === customer.conversation),
    );
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`conversation of ${customer.id} never listed`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const row = (c: Pick<ConversationSummary, 'tenantId' | 'channel' | 'conversationId'>): string =>
  `[data-testid=conversation][data-key="${c.tenantId}/${c.channel}/${c.conversationId}"]`;

async function trail(c: ConversationSummary): Promise<ConversationTrail> {
  const res = await fetch(
    `${stack.url}/api/conversations/${c.tenantId}/${c.channel}/${encodeURIComponent(c.conversationId)}`,
  );
  expect(res.status).toBe(200);
  return (await res.json()) as ConversationTrail;
}

describe('the operator console in chromium', () => {
  const customer = newCustomer('telegram');
  const word = tag();
  let summary: ConversationSummary;
  let page: Page;

  it(
    'shows a message posted to the webhook live in the list, and its reply delivered in the timeline',
    async () => {
      page = await openConsole();
      // The page is open before the message exists: it can only learn of it from the event stream.
      const posted = await stack.post(
        customerWebhook(shop, customer, `Chào shop, còn hàng không ạ? ${word}`),
      );
      expect(posted.status, posted.body).toBe(200);
      summary = await conversationOf(customer);
      await page.waitForSelector(row(summary));
      expect(await page.locator(row(summary)).getAttribute('data-paused')).toBe('false');
      await page.click(row(summary));
      const reply = page.locator('[data-testid=reply][data-state=sent]');
      await reply.first().waitFor();
      expect(await reply.first().innerText()).toContain(`echo: Chào shop, còn hàng không ạ? ${word}`);
      expect(await page.locator('[data-testid=customer-message]').count()).toBe(1);
      expect(await page.locator('[data-testid=responder]').first().innerText()).toMatch(/^echo \d+ ms$/);
      // The JSON API says the same.
      const t = await trail(summary);
      expect(t.turns).toHaveLength(1);
      expect(t.turns[0]!.deliveries.map((d) => d.state)).toEqual(['sent']);
    },
    HANG_MS,
  );

  it(
    'pausing from the page stops the next reply; resuming brings the bot back',
    async () => {
      await page.click('[data-testid=pause]');
      await page.waitForSelector('[data-testid=resume]');
      await page.waitForSelector(`${row(summary)}[data-paused=true]`);
      expect((await trail(summary)).paused).toBe(true);

      const during = await stack.post(customerWebhook(shop, customer, `vẫn còn ở đó không? ${word}`));
      expect(during.status).toBe(200);
      await waitForIdle(stack);
      const replies = repliesTo(await stack.messages(), customer);
      expect(replies).toEqual([`echo: Chào shop, còn hàng không ạ? ${word}`]);
      await page.waitForSelector('[data-testid=takeover]');

      await page.click('[data-testid=resume]');
      await page.waitForSelector('[data-testid=pause]');
      const after = await stack.post(customerWebhook(shop, customer, `cảm ơn ${word}`));
      expect(after.status).toBe(200);
      await stack.waitForMessages(
        (all) => repliesTo(all, customer).length >= 2,
        HANG_MS,
        'the reply after resume',
      );
      // The new reply shows up in the open timeline without a reload.
      await page
        .locator('[data-testid=reply]', { hasText: `echo: cảm ơn ${word}` })
        .first()
        .waitFor();
      await page.close();
    },
    HANG_MS,
  );

  it(
    'resends a dead-lettered reply part and redrives a DLQ from the page',
    async () => {
      const sqs = new SQSClient({
        region: stack.state.region,
        endpoint: stack.state.endpoints.sqs,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      const key = `shop#telegram#${summary.conversationId}`;
      // Reply parts as delivery dead-letters them (same body, group and dedup id).
      const deadLetter = async (replyId: string, text: string) => {
        const now = Date.now();
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: stack.state.queues.outbound.dlqUrl,
            MessageGroupId: key,
            MessageDeduplicationId: replyId,
            MessageBody: JSON.stringify({
              v: 1,
              replyId,
              turnId: replyId.split(':')[0],
              partIndex: 0,
              partCount: 1,
              tenantId: 'shop',
              channel: 'telegram',
              conversationId: summary.conversationId,
              conversationKey: key,
              pageId: summary.conversationId.split(':')[0],
              recipientId: customer.id,
              surface: 'inbox',
              text,
              customerLastMessageAt: now,
              receivedAt: now,
              createdAt: now,
            }),
          }),
        );
      };
      try {
        await deadLetter(`dl${word}a:0`, `phần gửi lại ${word}`);
        const api = (action: string, body: unknown) =>
          fetch(
            `${stack.url}/api/conversations/shop/telegram/${encodeURIComponent(summary.conversationId)}/${action}`,
            { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
          );
        const missing = await api('resend', { replyId: 'nope:0' });
        expect(missing.status).toBe(409);
        expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('NOT_DEAD_LETTERED');
        const resent = await api('resend', { replyId: `dl${word}a:0` });
        expect(resent.status).toBe(200);
        await stack.waitForMessages(
          (all) => repliesTo(all, customer).includes(`phần gửi lại ${word}`),
          HANG_MS,
          'the resent part',
        );

        await deadLetter(`dl${word}b:0`, `phần chuyển lại ${word}`);
        const p = await openConsole();
        await p.locator('[data-testid=dlq] button', { hasText: 'outbound 1' }).click();
        await p.locator('[data-testid=notice]', { hasText: 'outbound: đã chuyển lại 1' }).waitFor();
        await stack.waitForMessages(
          (all) => repliesTo(all, customer).includes(`phần chuyển lại ${word}`),
          HANG_MS,
          'the redriven part',
        );
        expect(await stack.queueDepth('outbound', true)).toBe(0);
        await p.close();
      } finally {
        sqs.destroy();
      }
    },
    HANG_MS,
  );

  it(
    'sends as a customer from the playground, with a correctly signed webhook',
    async () => {
      const p = await openConsole({ width: 390, height: 844 });
      const id = newCustomer('zalo').id;
      await p.selectOption('[data-testid=play-channel]', 'zalo');
      await p.fill('[data-testid=play-conversation]', id);
      await p.fill('[data-testid=play-text]', `Tôi muốn đặt hàng ${word}`);
      await p.click('[data-testid=play-send]');
      await p.waitForSelector('[data-testid=play-status]:has-text("đã gửi")');
      // Nothing was selected: the page selects the new conversation once it is listed.
      await p
        .locator('[data-testid=reply]', { hasText: `echo: Tôi muốn đặt hàng ${word}` })
        .first()
        .waitFor();
      expect(await p.locator('[data-testid=customer-message]').first().innerText()).toContain(
        `Tôi muốn đặt hàng ${word}`,
      );
      await p.close();
    },
    HANG_MS,
  );

  it(
    'hosts an uploaded image for the pipeline and posts it as the customer’s attachment',
    async () => {
      const p = await openConsole();
      const png = Buffer.from(
        'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
        'base64',
      );
      const id = newCustomer('messenger').id;
      await p.selectOption('[data-testid=play-channel]', 'messenger');
      await p.fill('[data-testid=play-conversation]', id);
      await p.setInputFiles('input[type=file]', { name: 'ao-thun.png', mimeType: 'image/png', buffer: png });
      await p.click('[data-testid=play-send]');
      await p.waitForSelector('[data-testid=play-status]:has-text("đã gửi")');
      const c = await conversationOf({ channel: 'messenger', id, conversation: id, owns: () => false });
      await p.locator('[data-testid=customer-message]', { hasText: 'image' }).first().waitFor();
      const t = await trail(c);
      expect(t.turns[0]!.messages.map((m) => m.kind)).toEqual(['image']);
      await p.close();
    },
    HANG_MS,
  );
});

describe('the console with 100 conversations', () => {
  it(
    'lists all of them, newest first, and reports its first paint',
    async () => {
      const customers = Array.from({ length: 100 }, (_, i) =>
        newCustomer(i % 2 === 0 ? 'messenger' : 'whatsapp'),
      );
      for (let i = 0; i < customers.length; i += 10) {
        const batch = customers.slice(i, i + 10);
        const answers = await Promise.all(
          batch.map((c, j) => stack.post(customerWebhook(hundred, c, `tin nhắn ${i + j}`))),
        );
        expect(answers.map((a) => a.status)).toEqual(batch.map(() => 200));
      }
      await waitForIdle(stack);
      const res = await fetch(`${stack.url}/api/conversations?tenant=hundred`);
      const { conversations } = (await res.json()) as { conversations: ConversationSummary[] };
      expect(conversations).toHaveLength(100);
      const times = conversations.map((c) => c.lastActivityAt);
      expect(times).toEqual([...times].sort((a, b) => b - a));

      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      page.setDefaultTimeout(HANG_MS);
      await page.goto(`${stack.url}/`);
      await page
        .locator('[data-testid=tenant] option', { hasText: 'hundred' })
        .first()
        .waitFor({ state: 'attached' });
      await page.selectOption('[data-testid=tenant]', 'hundred');
      await page.locator('[data-testid=conversation]').nth(99).waitFor();
      expect(await page.locator('[data-testid=conversation]').count()).toBe(100);
      // A fresh load with this tenant first, the only page open (an open page's event stream
      // lists the tables too): navigation start to the list's first paint.
      await page.close();
      const cold = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      cold.setDefaultTimeout(HANG_MS);
      await cold.addInitScript({ content: "localStorage.setItem('chat-relay-console:tenant', 'hundred')" });
      await cold.goto(`${stack.url}/`);
      await cold.locator('[data-testid=conversation]').nth(99).waitFor();
      expect(await cold.locator('[data-testid=conversation]').count()).toBe(100);
      await cold.waitForFunction(() => performance.getEntriesByName('conversations-painted').length > 0);
      const paint = await cold.evaluate(
        () => performance.getEntriesByName('conversations-painted')[0]!.startTime,
      );
      console.log(
        `console first paint with 100 conversations: ${Math.round(paint)} ms (navigation start to the painted list)`,
      );
      expect(await cold.locator('[data-testid=conversation]').first().getAttribute('data-key')).toBe(
        `hundred/${conversations[0]!.channel}/${conversations[0]!.conversationId}`,
      );
      const shots = process.env.CONSOLE_SCREENSHOTS;
      if (shots) {
        await cold.click('[data-testid=conversation] >> nth=0');
        await cold.waitForSelector('[data-testid=reply][data-state=sent]');
        await cold.screenshot({ path: join(shots, 'console-desktop.png') });
        const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
        await phone.addInitScript({ content: "localStorage.setItem('chat-relay-console:tenant', 'shop')" });
        await phone.goto(`${stack.url}/`);
        await phone.waitForSelector('[data-testid=conversation]');
        await phone.click('[data-testid=conversation] >> nth=0');
        await phone.waitForSelector('[data-testid=reply][data-state=sent]');
        await phone.screenshot({ path: join(shots, 'console-phone.png'), fullPage: false });
        await phone.close();
      }
      await cold.close();
    },
    HANG_MS,
  );
});
