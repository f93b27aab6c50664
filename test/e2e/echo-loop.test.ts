/**
 * Echo-loop prevention end to end: the local stack's API base URLs point at a fake platform
 * that posts every send back as the echo webhook the real platform sends. The bot must
 * neither answer its own messages nor mistake them for a human agent taking over.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStackProcess, startLocalStackProcess } from '../helpers/local-stack.js';
import { type FakePlatform, startFakePlatform } from './fake-platform.js';
import {
  CHANNELS,
  customerWebhook,
  e2eTenant,
  HANG_MS,
  newCustomer,
  repliesTo,
  sleep,
  tag,
  waitForIdle,
} from './support.js';

const tenant = e2eTenant('loop');
let platform: FakePlatform;
let stack: LocalStackProcess;

beforeAll(async () => {
  platform = await startFakePlatform(tenant);
  stack = await startLocalStackProcess({
    tenants: [tenant],
    env: {
      PANCAKE_API_BASE: `${platform.url}/sandbox/pancake`,
      GRAPH_API_BASE: `${platform.url}/sandbox/graph`,
      TELEGRAM_API_BASE: `${platform.url}/sandbox/telegram`,
      ZALO_API_BASE: `${platform.url}/sandbox/zalo`,
    },
  });
  platform.target = stack.url;
});

afterAll(async () => {
  const stopped = await stack?.stop();
  await platform?.stop();
  expect(stopped?.code).toBe(0);
});

/** Polls `check` until it holds; throws after HANG_MS (a hang). */
async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('echo-loop prevention', () => {
  it(
    'never answers the echoes of its own sends and keeps answering the customer on every channel',
    async () => {
      const t = tag();
      const customers = CHANNELS.map((c) => newCustomer(c));
      const waitReplies = async (n: number): Promise<void> => {
        const deadline = Date.now() + HANG_MS;
        while (!customers.every((c) => repliesTo(platform.records(), c).length >= n)) {
          if (Date.now() > deadline) {
            throw new Error(
              `timed out waiting for ${n} replies per channel: ${JSON.stringify(
                customers.map((c) => [c.channel, repliesTo(platform.records(), c)]),
              )}\n${stack.output().slice(-3000)}`,
            );
          }
          await sleep(100);
        }
      };

      for (const c of customers) {
        const res = await stack.post(customerWebhook(tenant, c, `first ${c.channel} ${t}`));
        expect(res.status, `${c.channel}: ${res.body}`).toBe(200);
      }
      await waitReplies(1);
      // Every echo was posted back and acknowledged, and whatever it triggered has run its course.
      const echoing = CHANNELS.filter((c) => c !== 'telegram');
      await waitFor(() => platform.echoes().length >= echoing.length, 'the echo webhooks');
      await waitForIdle(stack);

      // The echoes came back (every channel but Telegram, which never echoes) and were acknowledged.
      const echoed = platform.echoes();
      expect(echoed.map((e) => e.channel).sort()).toEqual([...echoing].sort());
      for (const e of echoed) expect(e.status, e.channel).toBe(200);

      // A second customer message is answered: the echo did not pause the bot as a human would.
      for (const c of customers) {
        const res = await stack.post(customerWebhook(tenant, c, `second ${c.channel} ${t}`));
        expect(res.status, `${c.channel}: ${res.body}`).toBe(200);
      }
      await waitReplies(2);
      await waitFor(() => platform.echoes().length >= 2 * echoing.length, 'the second echo webhooks');
      await waitForIdle(stack);
      for (const c of customers) {
        expect(repliesTo(platform.records(), c), c.channel).toEqual([
          `echo: first ${c.channel} ${t}`,
          `echo: second ${c.channel} ${t}`,
        ]);
      }
    },
    3 * HANG_MS,
  );
});
