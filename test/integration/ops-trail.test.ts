/**
 * `npm run ops` against the real audit trail: the pipeline (real handlers, emulators, sandbox
 * platform) answers a customer, then `conversations`, `show`, `pause` and `resume` run through
 * the CLI on the same memory table (found through a stack.json as the local stack writes it).
 * Pausing must keep the next message unanswered; resuming must bring the bot back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOpsCli } from '../../bin/ops/cli.js';
import type { ConversationSummary, ConversationTrail } from '../../lambdas/contracts/audit.js';
import { customerWebhook, e2eTenant, newCustomer, repliesTo } from '../e2e/support.js';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import { stackDataDir } from '../helpers/stack-json.js';

const tenant = e2eTenant('ops-shop');
let pipeline: Pipeline;
let dataDir: string;

beforeAll(async () => {
  pipeline = await startPipeline({ tenants: [tenant] });
  dataDir = stackDataDir(pipeline.emulators, 'chat-relay-ops-trail-');
});

afterAll(async () => {
  await pipeline?.stop();
});

async function ops(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runOpsCli(argv, {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    env: { CHAT_RELAY_DATA_DIR: dataDir },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('npm run ops on the audit trail', () => {
  const customer = newCustomer('telegram');
  let conversation: ConversationSummary;

  async function say(text: string): Promise<void> {
    const answer = await pipeline.post(customerWebhook(tenant, customer, text));
    expect(answer.status).toBe(200);
    // Every queue empty: the turn is answered (or, paused, recorded) and nothing is left to do.
    await pipeline.drive(() => false, 120_000, true);
  }

  const replies = (): string[] => repliesTo(pipeline.delivered(), customer);

  it('lists the conversation and shows its turn with the delivered reply', async () => {
    await say('Chào shop');
    expect(replies()).toEqual(['echo: Chào shop']);
    const listed = await ops('conversations', '--tenant', 'ops-shop', '--json');
    expect(listed.code).toBe(0);
    const list = JSON.parse(listed.out) as ConversationSummary[];
    const found = list.find((c) => c.channel === 'telegram' && c.conversationId.endsWith(`:${customer.id}`));
    expect(found).toMatchObject({ tenantId: 'ops-shop', paused: false });
    conversation = found!;
    const text = await ops('show', 'ops-shop', 'telegram', conversation.conversationId);
    expect(text.code).toBe(0);
    expect(text.out).toContain(`ops-shop / telegram / ${conversation.conversationId}`);
    expect(text.out).toMatch(/reply \S+ part 0: sent, id \S+, 1 attempt/);
    const json = JSON.parse(
      (await ops('show', 'ops-shop', 'telegram', conversation.conversationId, '--json')).out,
    ) as ConversationTrail;
    expect(json.turns.map((t) => t.deliveries.map((d) => d.state))).toEqual([['sent']]);
  }, 180_000);

  it('pause keeps the next message unanswered and resume brings the bot back', async () => {
    const paused = await ops('pause', 'ops-shop', 'telegram', conversation.conversationId);
    expect(paused.code, paused.err).toBe(0);
    expect(paused.out).toMatch(/^Paused the bot in ops-shop\/telegram\//);
    const listed = JSON.parse(
      (await ops('conversations', '--tenant', 'ops-shop', '--json')).out,
    ) as ConversationSummary[];
    expect(listed.find((c) => c.conversationId === conversation.conversationId)?.paused).toBe(true);

    await say('còn ai không?');
    expect(replies()).toEqual(['echo: Chào shop']);

    const resumed = await ops('resume', 'ops-shop', 'telegram', conversation.conversationId);
    expect(resumed.out).toMatch(/^Resumed the bot/);
    await say('cảm ơn');
    expect(replies()).toEqual(['echo: Chào shop', 'echo: cảm ơn']);
    const shown = await ops('show', 'ops-shop', 'telegram', conversation.conversationId);
    expect(shown.out).toContain('takeover started (operator)');
    expect(shown.out).toContain('takeover ended (operator)');
    // Resuming again changes nothing, and says so.
    expect((await ops('resume', 'ops-shop', 'telegram', conversation.conversationId)).out).toMatch(
      /was not paused/,
    );
  }, 180_000);

  it('exits 2 for a conversation the trail does not know', async () => {
    const result = await ops('pause', 'ops-shop', 'telegram', '1:nobody');
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/No conversation ops-shop\/telegram\/1:nobody/);
  });
});
