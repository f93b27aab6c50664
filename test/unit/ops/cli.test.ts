/**
 * `npm run ops`: argument errors exit 2 with the fix, and the trail commands call the trail
 * (a recording stand-in here; the real reader is exercised in test/integration/ops-trail.test.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addressee } from '../../../bin/local/console/server.js';
import { parseDuration, parseOpsArgs } from '../../../bin/ops/args.js';
import { runOpsCli } from '../../../bin/ops/cli.js';
import { formatTrail } from '../../../bin/ops/format.js';
import {
  compareInGroup,
  orderForRedrive,
  type RedrivenRecord,
  summariseBody,
} from '../../../bin/ops/redrive.js';
import { queuesFromStackResources } from '../../../bin/ops/resources.js';
import type { ConversationAddress, TrailApi } from '../../../bin/ops/trail.js';
import type { ConversationTrail } from '../../../lambdas/contracts/audit.js';

const NOW = Date.UTC(2026, 11, 2, 9, 0, 0);

async function run(argv: string[], trail?: TrailApi): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ops-unit-'));
  writeFileSync(join(dir, 'stack.json'), JSON.stringify({ region: 'us-east-1', tables: { memory: 'm' } }));
  const code = await runOpsCli(argv, {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    env: { CHAT_RELAY_DATA_DIR: dir },
    now: () => NOW,
    ...(trail ? { openTrail: async () => trail } : {}),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const trailOf = (paused: boolean): ConversationTrail => ({
  tenantId: 'shop',
  channel: 'zalo',
  conversationId: 'u1',
  lastActivityAt: NOW,
  lastMessage: 'Chào shop, còn hàng không ạ?',
  paused,
  turns: [
    {
      turnId: 't1',
      messages: [{ messageId: 'm1', kind: 'text', receivedAt: NOW - 3000, timestamp: NOW - 3100 }],
      flushedAt: NOW - 1900,
      flushReason: 'quiet',
      responder: { name: 'echo', latencyMs: 12 },
      gates: [{ gate: 'length', outcome: 'regenerated', reason: 'too long' }],
      outcome: 'answered',
      deliveries: [
        {
          replyId: 't1:0',
          part: 0,
          state: 'sent',
          platformMessageId: 'zm-9',
          attempts: 2,
          retryCodes: ['HTTP_500'],
          at: NOW - 1500,
        },
      ],
    },
  ],
  takeovers: [{ kind: 'start', at: NOW - 500, by: 'operator' }],
});

function recordingTrail(): TrailApi & { calls: string[] } {
  const calls: string[] = [];
  const key = (a: ConversationAddress) => `${a.tenantId}/${a.channel}/${a.conversationId}`;
  return {
    calls,
    list: async (q) => {
      calls.push(`list ${q.tenantId} ${q.sinceMs ?? '-'}`);
      return [trailOf(false)];
    },
    read: async (a) => (a.conversationId === 'u1' ? trailOf(false) : undefined),
    pause: async (a) => {
      calls.push(`pause ${key(a)}`);
      return { pausedUntil: NOW + 1_800_000 };
    },
    resume: async (a) => {
      calls.push(`resume ${key(a)}`);
      return { wasPaused: true };
    },
    close: () => {
      calls.push('close');
    },
  };
}

describe('npm run ops arguments', () => {
  it.each([
    [['nope'], /Unknown command "nope"/],
    [['conversations'], /needs --tenant/],
    [['conversations', '--tenant', 'shop', '--since', '1 hour'], /--since takes a duration/],
    [['show', 'shop', 'zalo'], /needs three arguments/],
    [['show', 'shop', 'fax', 'u1'], /Unknown channel "fax"/],
    [['pause', 'shop', 'zalo', 'u1', 'extra'], /Too many arguments/],
    [['redrive'], /redrive needs a queue/],
    [['redrive', 'everything'], /Unknown queue "everything"/],
    [['redrive', 'inbound', '--max', '0'], /--max takes a whole number/],
    [['redrive', 'inbound', '--max'], /--max needs a value/],
    [['redrive', 'inbound', '--tenant', 'x'], /--tenant does not apply to redrive/],
    [['show', 'shop', 'zalo', 'u1', '--bogus'], /Unknown option --bogus/],
  ])('exits 2 for %j with a message that says the fix', async (argv, message) => {
    const result = await run(argv as string[]);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(result.out).toBe('');
  });

  it('exits 1 when the AWS call to find the stack fails', async () => {
    const out: string[] = [];
    const err: string[] = [];
    // The SDK reads its endpoint from the process environment. Nothing listens there: the
    // CloudFormation call fails at once.
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_MAX_ATTEMPTS: '1',
      AWS_ENDPOINT_URL_CLOUDFORMATION: 'http://127.0.0.1:9',
    });
    let code: number;
    try {
      code = await runOpsCli(['redrive', 'inbound', '--stack', 'Gone'], {
        out: (t) => out.push(t),
        err: (t) => err.push(t),
        env: {},
      });
    } finally {
      process.env = saved;
    }
    expect(code).toBe(1);
    expect(err.join('\n')).toMatch(/Reading the resources of stack Gone failed/);
    expect(out).toEqual([]);
  });

  it('prints the usage and exits 0 for help', async () => {
    const result = await run(['help']);
    expect(result.code).toBe(0);
    expect(result.out).toContain('redrive <inbound|outbound|timer|media> [--dry-run] [--max N]');
  });

  it('turns --since into a lower bound on activity', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    const args = parseOpsArgs(['conversations', '--tenant', 'shop', '--since', '1h'], NOW);
    expect(args).toMatchObject({ verb: 'conversations', tenantId: 'shop', sinceMs: NOW - 3_600_000 });
  });
});

describe('npm run ops trail commands', () => {
  it('lists, pauses and resumes through the trail, and closes it each time', async () => {
    const trail = recordingTrail();
    expect((await run(['conversations', '--tenant', 'shop', '--since', '15m'], trail)).code).toBe(0);
    const paused = await run(['pause', 'shop', 'zalo', 'u1'], trail);
    expect(paused.code).toBe(0);
    expect(paused.out).toMatch(/Paused the bot in shop\/zalo\/u1 until 2026-12-02 09:30:00Z/);
    expect((await run(['resume', 'shop', 'zalo', 'u1'], trail)).code).toBe(0);
    expect(trail.calls).toEqual([
      `list shop ${NOW - 900_000}`,
      'close',
      'pause shop/zalo/u1',
      'close',
      'resume shop/zalo/u1',
      'close',
    ]);
  });

  it('exits 2 and changes nothing for a conversation the trail does not know', async () => {
    const trail = recordingTrail();
    const result = await run(['pause', 'shop', 'zalo', 'nobody'], trail);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/No conversation shop\/zalo\/nobody/);
    expect(trail.calls).toEqual(['close']);
  });

  it('shows a readable timeline with stage timings, gates, deliveries and takeovers in time order', async () => {
    const text = formatTrail(trailOf(true));
    const lines = text.split('\n');
    expect(lines[0]).toBe('shop / zalo / u1');
    expect(text).toContain('08:59:57.000  customer text m1');
    expect(text).toContain('turn t1: flushed (quiet) 1100 ms after its first message');
    expect(text).toContain('responder echo: 12 ms');
    expect(text).toContain('gate length: regenerated (too long)');
    expect(text).toContain('reply t1:0 part 0: sent, id zm-9, 2 attempts, retried HTTP_500');
    const takeover = lines.findIndex((l) => l.includes('takeover started (operator)'));
    const reply = lines.findIndex((l) => l.includes('reply t1:0'));
    expect(takeover).toBeGreaterThan(reply);
    const json = await run(['show', 'shop', 'zalo', 'u1', '--json'], recordingTrail());
    expect(JSON.parse(json.out)).toMatchObject({ conversationId: 'u1', turns: [{ turnId: 't1' }] });
  });
});

describe('redrive order and resource discovery', () => {
  const rec = (group: string, seq: string, sentAt: number): { record: RedrivenRecord } => ({
    record: {
      messageId: `${group}${seq}`,
      group,
      sentAt,
      sequenceNumber: seq,
      receiveCount: 5,
      summary: '',
      body: '',
    },
  });

  it('orders by group, then sequence number even when sent times disagree', () => {
    const groups = orderForRedrive([
      rec('b', '30', 5),
      rec('a', '20', 9),
      rec('a', '10', 9),
      rec('b', '25', 7),
    ]);
    expect(groups.map((g) => g.map((h) => h.record.messageId))).toEqual([
      ['b25', 'b30'],
      ['a10', 'a20'],
    ]);
    expect(compareInGroup(rec('a', '100000000000000000001', 1).record, rec('a', '99', 2).record)).toBe(1);
  });

  it('finds each queue and its DLQ among a stack’s resources by logical id', () => {
    const q = (id: string, url: string) => ({
      LogicalResourceId: id,
      PhysicalResourceId: url,
      ResourceType: 'AWS::SQS::Queue',
      ResourceStatus: 'CREATE_COMPLETE' as const,
      LastUpdatedTimestamp: new Date(0),
    });
    const queues = queuesFromStackResources([
      q('RelayQueuesInboundQueueA0E323AF', 'https://sqs/in.fifo'),
      q('RelayQueuesInboundDeadLetterQueueC0257F4F', 'https://sqs/in-dlq.fifo'),
      q('RelayMediaJobsQueue3583A844', 'https://sqs/media'),
      q('RelayMediaJobsDlq413A2C85', 'https://sqs/media-dlq'),
      q('RelayQueuesTimerQueue2846459F', 'https://sqs/timer'),
    ]);
    expect(queues).toEqual({
      inbound: { queueUrl: 'https://sqs/in.fifo', dlqUrl: 'https://sqs/in-dlq.fifo' },
      media: { queueUrl: 'https://sqs/media', dlqUrl: 'https://sqs/media-dlq' },
    });
  });
});

describe('what the console and the redrive print about a record', () => {
  it('summarises a queue record without its text', () => {
    const body = JSON.stringify({
      v: 1,
      replyId: 't1:0',
      tenantId: 'shop',
      channel: 'zalo',
      conversationId: 'oa:u1',
      conversationKey: 'shop#zalo#oa:u1',
      text: 'Số điện thoại của tôi là 0901234567',
    });
    const { summary, conversationKey } = summariseBody(body);
    expect(summary).toBe('reply part shop zalo oa:u1 reply t1:0');
    expect(conversationKey).toBe('shop#zalo#oa:u1');
    expect(summariseBody('not json').summary).toBe('non-JSON body');
  });

  it('writes as the customer of a conversation id the trail keys, or of a bare customer id', () => {
    expect(addressee('zalo', '4000000000000000006:8000000000000000777')).toEqual({
      pageId: '4000000000000000006',
      conversation: '8000000000000000777',
    });
    expect(addressee('telegram', '7000000005:-1001234')).toEqual({
      pageId: '7000000005',
      conversation: '-1001234',
    });
    expect(addressee('messenger', '7100000000000001')).toEqual({ conversation: '7100000000000001' });
    expect(addressee('pancake', '100000000000001_c-5550001')).toEqual({
      conversation: '100000000000001_c-5550001',
    });
    expect(addressee('whatsapp', undefined)).toEqual({});
  });
});
