/**
 * End to end through the local stack (`bin/local.ts` as a child process), driven over HTTP
 * the way platforms drive it, for every channel: round trips, debounce, concurrency and
 * order, duplicates, rejected requests, human takeover and a failing platform.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebhook, UnsupportedWebhookError } from '../../bin/local/webhook-builder.js';
import { type LocalStackProcess, startLocalStackProcess } from '../helpers/local-stack.js';
import {
  attemptsTo,
  CHANNELS,
  type Customer,
  customerWebhook,
  e2eTenant,
  HANG_MS,
  newCustomer,
  repliesTo,
  tag,
  waitForIdle,
} from './support.js';

// `acme` debounces (DEBOUNCE_MS=400, armed as a 1 s SQS delay); `rapid` answers every message
// on its own (tenant setting debounceMs 0).
const acme = e2eTenant('acme');
const rapid = e2eTenant('rapid', { debounceMs: 0 });
// `patient` debounces 3 s: a burst posted one request after another stays within it even when
// each request takes a second on a loaded machine.
const patient = e2eTenant('patient', { debounceMs: 3000 });
// Waits are capped at HANG_MS, which only a hang reaches; "no further reply" is asserted after
// the pipeline went idle (waitForIdle), never after a fixed sleep.

let stack: LocalStackProcess;

beforeAll(async () => {
  stack = await startLocalStackProcess({ tenants: [acme, rapid, patient] });
});

afterAll(async () => {
  const { code } = await stack.stop();
  // The contract: SIGTERM stops everything and exits 0 (the stack bounds its own shutdown).
  expect(code).toBe(0);
});

async function expectAccepted(built: Parameters<LocalStackProcess['post']>[0], what: string): Promise<void> {
  const res = await stack.post(built);
  expect(res.status, `${what}: ${res.body}`).toBe(200);
}

describe('the local stack end to end', { timeout: 2 * HANG_MS }, () => {
  it('rejects a bad signature with 401 and an unknown tenant with 404 on every channel, enqueuing nothing', async () => {
    const customers = CHANNELS.map((c) => newCustomer(c));
    for (const customer of customers) {
      const bad = customerWebhook(acme, customer, `forged ${tag()}`, { badSignature: true });
      const forged = await stack.post(bad);
      expect(forged.status, `${customer.channel} bad signature`).toBe(401);
      expect(JSON.parse(forged.body).error.code).toBe('INVALID_SIGNATURE');

      const good = customerWebhook(acme, customer, `stranger ${tag()}`);
      const unknown = await stack.post(good, good.path.replace('/acme', '/nosuch-tenant'));
      expect(unknown.status, `${customer.channel} unknown tenant`).toBe(404);
      expect(JSON.parse(unknown.body).error.code).toBe('NOT_FOUND');
    }
    // The webhook answers after enqueueing: a rejection that enqueued would already show.
    expect(await stack.queueDepth('inbound')).toBe(0);
    await waitForIdle(stack);
    const records = await stack.messages();
    for (const customer of customers) {
      expect(attemptsTo(records, customer), `${customer.channel}: nothing sent`).toEqual([]);
      expect(await stack.memoryKeysContaining(customer.id), `${customer.channel}: no conversation`).toEqual(
        [],
      );
    }
  });

  it('answers a customer message with the echo reply to that customer on every channel', async () => {
    const t = tag();
    const customers = CHANNELS.map((c) => newCustomer(c));
    await Promise.all(
      customers.map((c) => expectAccepted(customerWebhook(acme, c, `hello ${c.channel} ${t}`), c.channel)),
    );
    const records = await stack.waitForMessages(
      (rs) => customers.every((c) => repliesTo(rs, c).length > 0),
      HANG_MS,
      'one reply per channel',
    );
    for (const c of customers) {
      expect(repliesTo(records, c), c.channel).toEqual([`echo: hello ${c.channel} ${t}`]);
    }
  });

  it('merges a burst of three quick messages into one reply on every channel', async () => {
    const t = tag();
    const customers = CHANNELS.map((c) => newCustomer(c));
    await Promise.all(
      customers.map(async (c) => {
        for (const word of ['a', 'b', 'c']) {
          await expectAccepted(customerWebhook(patient, c, `${word}${t}`), `${c.channel} ${word}`);
        }
      }),
    );
    await stack.waitForMessages(
      (rs) => customers.every((c) => repliesTo(rs, c).length > 0),
      HANG_MS,
      'the merged replies',
    );
    await waitForIdle(stack);
    const records = await stack.messages();
    for (const c of customers) {
      expect(repliesTo(records, c), c.channel).toEqual([`echo: a${t} | b${t} | c${t}`]);
    }
  });

  it('answers 8 concurrent conversations per channel, each in order', async () => {
    const t = tag();
    const customers: Customer[] = CHANNELS.flatMap((channel) =>
      Array.from({ length: 8 }, (_, i) => newCustomer(channel, i)),
    );
    const texts = (c: Customer): string[] => [1, 2, 3].map((n) => `${c.id} m${n} ${t}`);
    // Conversations run concurrently; within one, the platform posts message by message.
    await Promise.all(
      customers.map(async (c) => {
        for (const text of texts(c)) await expectAccepted(customerWebhook(rapid, c, text), c.channel);
      }),
    );
    const records = await stack.waitForMessages(
      (rs) => customers.every((c) => repliesTo(rs, c).length >= 3),
      HANG_MS,
      'three replies in each of 48 conversations',
    );
    for (const c of customers) {
      expect(repliesTo(records, c), `${c.channel} ${c.id}`).toEqual(texts(c).map((x) => `echo: ${x}`));
    }
  });

  it('answers a message delivered twice, and again later, exactly once on every channel', async () => {
    const t = tag();
    const customers = CHANNELS.map((c) => newCustomer(c));
    const built = customers.map((c) => customerWebhook(acme, c, `twice ${t}`));
    // The platform retries at once (two concurrent deliveries) …
    await Promise.all(built.flatMap((b, i) => [0, 1].map(() => expectAccepted(b, customers[i]!.channel))));
    await stack.waitForMessages(
      (rs) => customers.every((c) => repliesTo(rs, c).length > 0),
      HANG_MS,
      'the replies to duplicated messages',
    );
    // … and once more after the reply went out (past any in-flight window).
    await Promise.all(built.map((b, i) => expectAccepted(b, customers[i]!.channel)));
    await waitForIdle(stack);
    const records = await stack.messages();
    for (const c of customers) expect(repliesTo(records, c), c.channel).toEqual([`echo: twice ${t}`]);
  });

  it('stops answering a conversation once a human agent replies from the platform inbox', async () => {
    const t = tag();
    expect(() => buildWebhook({ tenant: acme, channel: 'telegram', kind: 'human' })).toThrow(
      UnsupportedWebhookError,
    );
    // Telegram has no shared inbox, so no human takeover webhook: every other channel has one.
    const channels = CHANNELS.filter((c) => c !== 'telegram');
    const taken = channels.map((c) => newCustomer(c));
    const control = channels.map((c) => newCustomer(c));
    for (const c of taken) {
      const human = buildWebhook({
        tenant: acme,
        channel: c.channel,
        kind: 'human',
        text: `an agent speaking ${t}`,
        conversation: c.conversation,
        ...(c.pageId ? { pageId: c.pageId } : {}),
      });
      await expectAccepted(human, `${c.channel} human`);
      await expectAccepted(customerWebhook(acme, c, `after takeover ${t}`), `${c.channel} customer`);
    }
    await Promise.all(
      control.map((c) => expectAccepted(customerWebhook(acme, c, `control ${t}`), c.channel)),
    );
    // The control conversations prove the pipeline is answering meanwhile.
    await stack.waitForMessages(
      (rs) => control.every((c) => repliesTo(rs, c).length > 0),
      HANG_MS,
      'the control replies',
    );
    await waitForIdle(stack);
    const records = await stack.messages();
    for (const c of taken) expect(attemptsTo(records, c), `${c.channel}: bot stays silent`).toEqual([]);
    for (const c of control) expect(repliesTo(records, c), c.channel).toEqual([`echo: control ${t}`]);
  });

  it('delivers every reply exactly once after the platform fails for a while on every channel', async () => {
    const t = tag();
    const customers = CHANNELS.map((c) => newCustomer(c));
    const failures = 2;
    for (const c of customers) {
      const res = await fetch(`${stack.url}/sandbox/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: '500', text: `outage ${c.channel} ${t}`, count: failures }),
      });
      expect(res.status).toBe(201);
    }
    await Promise.all(
      customers.map((c) => expectAccepted(customerWebhook(acme, c, `outage ${c.channel} ${t}`), c.channel)),
    );
    await stack.waitForMessages(
      (rs) => customers.every((c) => repliesTo(rs, c).length > 0),
      HANG_MS,
      'the replies after the outage',
    );
    await waitForIdle(stack);
    const records = await stack.messages();
    for (const c of customers) {
      const attempts = attemptsTo(records, c);
      expect(attempts.filter((r) => r.status === 500).length, `${c.channel}: failed attempts`).toBe(failures);
      expect(repliesTo(records, c), `${c.channel}: delivered once`).toEqual([
        `echo: outage ${c.channel} ${t}`,
      ]);
    }
    expect(await stack.queueDepth('outbound', true)).toBe(0);
  });
});
