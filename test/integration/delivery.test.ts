/**
 * The delivery Lambda against the emulators (fauxqs, dynalite, Secrets Manager) and the
 * sandbox fake platforms, driven with Lambda-shaped SQS events read from outbound.fifo.
 */
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { type Sandbox, type SandboxRecord, startSandbox } from '../../bin/local/sandbox.js';
import { ECHOING_CHANNELS } from '../../lambdas/delivery/records.js';
import {
  attemptsSk,
  conversationPk,
  failureSk,
  historySk,
  messageGroupId,
  outboundDedupId,
  SENT_SK,
  sentPk,
} from '../../lambdas/shared/keys.js';
import type { ChannelName, OutboundPart } from '../../lambdas/shared/model.js';
import { tenantSecretName } from '../../lambdas/shared/tenant.js';
import { captureOutput } from '../helpers/capture-output.js';
import { type Driver, drainBodies, lambdaContext, pollOnce, runUntil } from '../helpers/sqs-driver.js';

// Metrics and DEBUG logs on, so the captured output holds every line the handler writes.
process.env.POWERTOOLS_METRICS_DISABLED = 'false';
process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
process.env.POWERTOOLS_METRICS_NAMESPACE = 'ChatRelay';

const TOKENS = {
  pancake: 'PANCAKE-SECRET-TOKEN-123',
  messenger: 'EAAG-MESSENGER-SECRET-456',
  instagram: 'IG-SECRET-TOKEN-789',
  whatsapp: 'WA-SECRET-TOKEN-012',
  telegram: '123456:TELEGRAM-SECRET_abc',
  zalo: 'ZALO-SECRET-TOKEN-345',
} as const;

const TENANT = 'acme';
const tenantDoc = {
  tenantId: TENANT,
  channels: {
    pancake: { pageIds: ['p1', 'p-rate'], pageAccessToken: TOKENS.pancake, webhookToken: 'wh-token-1' },
    messenger: {
      appSecret: 'app-secret-1',
      verifyToken: 'verify-1',
      pages: { fbpage: { accessToken: TOKENS.messenger } },
    },
    instagram: {
      appSecret: 'app-secret-2',
      verifyToken: 'verify-2',
      accounts: { igacc: { accessToken: TOKENS.instagram } },
    },
    whatsapp: {
      appSecret: 'app-secret-3',
      verifyToken: 'verify-3',
      accessToken: TOKENS.whatsapp,
      phoneNumberIds: ['15550001'],
    },
    telegram: { botToken: TOKENS.telegram, secretToken: 'tg-secret' },
    zalo: { oaId: 'oa1', oaSecretKey: 'oa-secret', accessToken: TOKENS.zalo },
  },
  settings: {},
};

const PAGES: Record<ChannelName, string> = {
  pancake: 'p1',
  messenger: 'fbpage',
  instagram: 'igacc',
  whatsapp: '15550001',
  telegram: '123456',
  zalo: 'oa1',
};

let emu: Emulators;
let sandbox: Sandbox;
let handler: (event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>;
let driver: Driver;
const output: string[] = [];
const visibilityChanges: { receiptHandle: string; seconds: number; at: number }[] = [];
let restoreWrites: () => void = () => {};
const BACKOFF = { baseMs: 1000, random: () => 0.999 };
let seq = 0;

function makePart(
  channel: ChannelName,
  conversation: string,
  index: number,
  count: number,
  text: string,
  extra: Partial<OutboundPart> = {},
): OutboundPart {
  const pageId = extra.pageId ?? PAGES[channel];
  const recipientId =
    channel === 'telegram'
      ? `-100${conversation.replace(/\D/g, '') || '7'}123456789`
      : `cust-${conversation}`;
  const conversationId = channel === 'pancake' ? `${pageId}_${conversation}` : `${pageId}:${recipientId}`;
  const turnId = `turn-${conversation}`;
  return {
    v: 1,
    replyId: `${turnId}:${index}`,
    turnId,
    partIndex: index,
    partCount: count,
    tenantId: TENANT,
    channel,
    conversationId,
    conversationKey: `${TENANT}#${channel}#${conversationId}`,
    pageId,
    recipientId,
    surface: 'inbox',
    text,
    customerLastMessageAt: Date.now() - 60_000,
    receivedAt: Date.now() - 5_000,
    createdAt: Date.now(),
    ...extra,
  };
}

async function enqueue(parts: readonly OutboundPart[]): Promise<void> {
  for (let i = 0; i < parts.length; i += 10) {
    const result = await emu.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: emu.queues.outbound.url,
        Entries: parts.slice(i, i + 10).map((p, j) => ({
          Id: String(j),
          MessageBody: JSON.stringify(p),
          MessageGroupId: messageGroupId(p.conversationKey),
          MessageDeduplicationId: outboundDedupId(p.replyId),
        })),
      }),
    );
    expect(result.Failed ?? []).toEqual([]);
  }
}

const delivered = (texts: readonly string[]): SandboxRecord[] =>
  sandbox.messages().filter((m) => m.delivered && m.text !== undefined && texts.includes(m.text));

async function deliverUntil(
  done: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  concurrency = 1,
): Promise<void> {
  const ok = await runUntil([{ ...driver, concurrency }], done, timeoutMs);
  expect(ok, 'delivery did not finish in time').toBe(true);
}

const metricLines = (name: string): Record<string, unknown>[] =>
  output
    .filter((line) => line.includes('"_aws"') && line.includes(`"${name}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

async function getItem(pk: string, sk: string): Promise<Record<string, unknown> | undefined> {
  const { documentClient } = await import('../../lambdas/shared/clients.js');
  const result = await documentClient().send(
    new GetCommand({ TableName: emu.tables.memory, Key: { pk, sk } }),
  );
  return result.Item;
}

/** A Lambda-shaped SQS record of `part` on outbound.fifo, for calling a handler directly. */
function recordOf(part: OutboundPart, id: string): SQSEvent['Records'][number] {
  return {
    messageId: id,
    receiptHandle: id,
    body: JSON.stringify(part),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
      MessageGroupId: messageGroupId(part.conversationKey),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: emu.queues.outbound.arn,
    awsRegion: 'us-east-1',
  };
}

beforeAll(async () => {
  // The queue's own maxReceiveCount (a backstop of 100) is left as deployed.
  emu = await startEmulators({ prefix: `dlv${process.pid}` });
  sandbox = await startSandbox();
  // A generous send timeout: only the tests about timeouts build handlers with short ones.
  Object.assign(process.env, emu.env, sandbox.env, { SEND_TIMEOUT_MS: '10000', TENANT_CACHE_SECONDS: '300' });
  emu.secrets.putSecret(tenantSecretName(emu.secretPrefix, TENANT), JSON.stringify(tenantDoc));

  restoreWrites = captureOutput(output);

  const clients = await import('../../lambdas/shared/clients.js');
  clients.resetClients();
  clients.sqsClient().middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { ReceiptHandle?: string; VisibilityTimeout?: number; Entries?: unknown };
      if (
        input.ReceiptHandle !== undefined &&
        input.VisibilityTimeout !== undefined &&
        input.Entries === undefined
      ) {
        visibilityChanges.push({
          receiptHandle: input.ReceiptHandle,
          seconds: input.VisibilityTimeout,
          at: Date.now(),
        });
      }
      return next(args);
    },
    { step: 'initialize', name: 'recordVisibilityChanges' },
  );
  const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
  // random() = 0.999: the jittered backoff sits at the top of its range, so growth is visible.
  // Ambiguous sends come back after 1 s instead of the emulator queue's 60 s visibility window.
  handler = createDeliveryHandler({ backoff: BACKOFF, ambiguousRetrySeconds: 1 });
  driver = {
    sqs: emu.sqs,
    queueUrl: emu.queues.outbound.url,
    queueArn: emu.queues.outbound.arn,
    handler,
  };
}, 120_000);

afterAll(async () => {
  restoreWrites();
  await sandbox?.stop();
  await emu?.stop();
});

beforeEach(() => {
  sandbox.clear();
  visibilityChanges.length = 0;
  seq += 1;
});

describe('delivery Lambda', () => {
  it('delivers every part on every channel exactly once, even when SQS redelivers a batch', async () => {
    const channels: ChannelName[] = ['pancake', 'messenger', 'instagram', 'whatsapp', 'telegram', 'zalo'];
    const parts = channels.flatMap((channel) =>
      [0, 1].map((i) => makePart(channel, `once${seq}${channel}`, i, 2, `once ${channel} part ${i}`)),
    );
    // History entries the conversation actor would have written before queueing.
    const { documentClient } = await import('../../lambdas/shared/clients.js');
    for (const p of parts) {
      const sk = historySk(p.createdAt, p.replyId);
      await documentClient().send(
        new PutCommand({
          TableName: emu.tables.memory,
          Item: { pk: conversationPk(p.conversationKey), sk, role: 'bot', text: p.text, status: 'queued' },
        }),
      );
      Object.assign(p, { historySk: sk });
    }
    await enqueue(parts);
    const texts = parts.map((p) => p.text ?? '');
    await deliverUntil(() => delivered(texts).length >= parts.length);

    // A redelivered batch (the at-least-once case SQS dedup does not cover): nothing is resent.
    const replay: SQSEvent = {
      Records: parts.slice(0, 4).map((p, i) => ({
        messageId: `replay-${i}`,
        receiptHandle: `replay-${i}`,
        body: JSON.stringify(p),
        attributes: {
          ApproximateReceiveCount: '2',
          SentTimestamp: String(Date.now()),
          SenderId: 'local',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
          MessageGroupId: messageGroupId(p.conversationKey),
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: emu.queues.outbound.arn,
        awsRegion: 'us-east-1',
      })),
    };
    const response = await handler(replay, lambdaContext());
    expect(response.batchItemFailures).toEqual([]);

    const sent = delivered(texts);
    for (const text of texts)
      expect(
        sent.filter((m) => m.text === text),
        text,
      ).toHaveLength(1);
    const byApi = new Set(sent.map((m) => m.api));
    expect([...byApi].sort()).toEqual(['messenger', 'pancake', 'telegram', 'whatsapp', 'zalo']);
    // Telegram chat ids travel as exact 64-bit digit strings.
    const tg = sent.find((m) => m.api === 'telegram');
    expect(tg?.recipientId).toMatch(/^-100\d+123456789$/);
    expect((tg?.body as { chat_id?: unknown } | undefined)?.chat_id).toBe(tg?.recipientId);

    for (const p of parts) {
      const record = sent.find((m) => m.text === p.text);
      const messageId = record?.messageId ?? '';
      const sentItem = await getItem(sentPk(TENANT, p.channel, messageId), SENT_SK);
      if (ECHOING_CHANNELS.has(p.channel)) {
        // Only channels whose webhooks cannot tell our sends from a human's need the echo record.
        expect(sentItem, `sent id of ${p.replyId}`).toMatchObject({
          replyId: p.replyId,
          conversationKey: p.conversationKey,
        });
        expect(Number(sentItem?.expiresAt)).toBeGreaterThan(Date.now() / 1000 + 86_000);
      } else {
        expect(sentItem, `no sent id of ${p.replyId}`).toBeUndefined();
      }
      // The part's delivery record holds its outcome (its idempotency and its audit trail entry).
      const delivery = await getItem(conversationPk(p.conversationKey), attemptsSk(p.replyId));
      expect(delivery).toMatchObject({ outcome: 'sent', platformMessageId: messageId, replyId: p.replyId });
    }
    expect(metricLines('SendSucceeded').length).toBeGreaterThanOrEqual(parts.length);
    expect(metricLines('ReplyLatency').length).toBeGreaterThanOrEqual(channels.length);
  });

  it('keeps the order of parts within each conversation', async () => {
    const parts = ['a', 'b', 'c'].flatMap((c) =>
      [0, 1, 2, 3, 4].map((i) => makePart('messenger', `order${seq}${c}`, i, 5, `order ${seq} ${c} ${i}`)),
    );
    await enqueue(parts);
    const texts = parts.map((p) => p.text ?? '');
    await deliverUntil(() => delivered(texts).length >= parts.length, 20_000, 2);
    for (const c of ['a', 'b', 'c']) {
      const seen = delivered(texts)
        .filter((m) => m.text?.startsWith(`order ${seq} ${c} `))
        .sort((x, y) => x.seq - y.seq)
        .map((m) => m.text);
      expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => `order ${seq} ${c} ${i}`));
    }
  });

  it('retries retryable failures with growing visibility timeouts and honours Retry-After', async () => {
    sandbox.fail({ channel: 'zalo', kind: '500', count: 2 });
    sandbox.fail({ channel: 'telegram', kind: 'telegram-429', retryAfter: 3, count: 1 });
    const zalo = makePart('zalo', `backoff${seq}z`, 0, 1, `backoff zalo ${seq}`);
    const tg = makePart('telegram', `backoff${seq}t`, 0, 1, `backoff telegram ${seq}`);
    await enqueue([zalo]);
    const started = Date.now();
    await deliverUntil(() => delivered([zalo.text ?? '']).length === 1, 20_000);
    const zaloElapsed = Date.now() - started;
    const zaloChanges = visibilityChanges.map((c) => c.seconds);
    // attempt 1 → 1 s, attempt 2 → 2 s (base 1 s, doubling, top of the jitter range).
    expect(zaloChanges).toEqual([1, 2]);
    expect(zaloElapsed).toBeGreaterThanOrEqual(2_900);
    const zaloCalls = sandbox.messages().filter((m) => m.text === zalo.text);
    expect(zaloCalls.map((m) => m.status)).toEqual([500, 500, 200]);
    expect(zaloCalls[1]!.at - zaloCalls[0]!.at).toBeGreaterThanOrEqual(900);
    expect(zaloCalls[2]!.at - zaloCalls[1]!.at).toBeGreaterThanOrEqual(1900);

    visibilityChanges.length = 0;
    await enqueue([tg]);
    await deliverUntil(() => delivered([tg.text ?? '']).length === 1, 20_000);
    expect(visibilityChanges.map((c) => c.seconds)).toEqual([3]);
    const tgCalls = sandbox.messages().filter((m) => m.text === tg.text);
    expect(tgCalls).toHaveLength(2);
    expect(tgCalls[1]!.at - tgCalls[0]!.at).toBeGreaterThanOrEqual(2_900);
    // Each failure cleared its attempt's sending mark, so the next attempt sent normally; the
    // mark of the attempt that delivered stays (its outcome is stored).
    expect(await getItem(conversationPk(zalo.conversationKey), `attempts#${zalo.replyId}`)).toMatchObject({
      failures: 2,
      sending: expect.any(Number),
    });
    expect(await getItem(conversationPk(zalo.conversationKey), failureSk(zalo.replyId))).toBeUndefined();
    const retried = metricLines('SendRetried');
    expect(retried.some((l) => l.channel === 'zalo' && l.code === '500')).toBe(true);
    expect(retried.some((l) => l.channel === 'telegram' && l.code === '429')).toBe(true);
  });

  it('records permanent failures once, counts them and never retries them', async () => {
    sandbox.fail({ channel: 'graph', kind: '401' });
    sandbox.fail({ channel: 'pancake', kind: 'success-false' });
    const fb = makePart('messenger', `perm${seq}f`, 0, 1, `perm messenger ${seq}`);
    const pc = makePart('pancake', `perm${seq}p`, 0, 1, `perm pancake ${seq}`);
    const nextFb = makePart('messenger', `perm${seq}f`, 1, 2, `perm messenger next ${seq}`);
    await enqueue([fb, nextFb, pc]);
    await deliverUntil(() => delivered([nextFb.text ?? '']).length === 1, 20_000);
    // Let any wrongly scheduled retry surface.
    for (let i = 0; i < 3; i += 1) await pollOnce(driver);

    expect(sandbox.messages().filter((m) => m.text === fb.text)).toHaveLength(1);
    expect(sandbox.messages().filter((m) => m.text === pc.text)).toHaveLength(1);
    expect(visibilityChanges).toEqual([]);
    const fbFailure = await getItem(conversationPk(fb.conversationKey), failureSk(fb.replyId));
    expect(fbFailure).toMatchObject({ channel: 'messenger', code: '190', replyId: fb.replyId });
    const pcFailure = await getItem(conversationPk(pc.conversationKey), failureSk(pc.replyId));
    expect(pcFailure).toMatchObject({ channel: 'pancake', code: 'SUCCESS_FALSE', replyId: pc.replyId });
    expect(metricLines('SendFailed').some((l) => l.channel === 'messenger' && l.code === '190')).toBe(true);
    expect(metricLines('SendFailed').some((l) => l.channel === 'pancake' && l.code === 'SUCCESS_FALSE')).toBe(
      true,
    );
    expect(metricLines('TokenInvalid').some((l) => l.channel === 'messenger')).toBe(true);
  });

  it('does not send a reply outside the messaging window, and records it as expired', async () => {
    const late = makePart('whatsapp', `late${seq}`, 0, 1, `late ${seq}`, {
      customerLastMessageAt: Date.now() - 25 * 3_600_000,
      historySk: historySk(Date.now(), `turn-late${seq}:0`),
    });
    const { documentClient } = await import('../../lambdas/shared/clients.js');
    await documentClient().send(
      new PutCommand({
        TableName: emu.tables.memory,
        Item: { pk: conversationPk(late.conversationKey), sk: late.historySk, role: 'bot', status: 'queued' },
      }),
    );
    await enqueue([late]);
    await deliverUntil(
      async () =>
        (await getItem(conversationPk(late.conversationKey), failureSk(late.replyId))) !== undefined,
      10_000,
    );
    expect(sandbox.messages().filter((m) => m.text === late.text)).toEqual([]);
    const failure = await getItem(conversationPk(late.conversationKey), failureSk(late.replyId));
    expect(failure).toMatchObject({ channel: 'whatsapp', code: 'WINDOW_CLOSED', replyId: late.replyId });
    const delivery = await getItem(conversationPk(late.conversationKey), attemptsSk(late.replyId));
    expect(delivery).toMatchObject({ outcome: 'expired', code: 'WINDOW_CLOSED' });
    expect(metricLines('ReplyExpired').some((l) => l.channel === 'whatsapp')).toBe(true);
  });

  it('resumes a multi-part reply after a send timeout without resending the parts already delivered', async () => {
    // Part 2's first attempt hangs past the send timeout (3 s): an ambiguous, retryable timeout.
    sandbox.fail({ channel: 'pancake', kind: 'hang', text: `resume ${seq} part 2`, hangMs: 8_000 });
    const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
    const short = createDeliveryHandler({ backoff: BACKOFF, ambiguousRetrySeconds: 1, sendTimeoutMs: 3000 });
    const parts = [1, 2, 3, 4].map((i) =>
      makePart('pancake', `resume${seq}`, i - 1, 4, `resume ${seq} part ${i}`),
    );
    await enqueue(parts);
    const texts = parts.map((p) => p.text ?? '');
    expect(await runUntil([{ ...driver, handler: short }], () => delivered(texts).length >= 4, 30_000)).toBe(
      true,
    );
    const calls = sandbox
      .messages()
      .filter((m) => m.text !== undefined && texts.includes(m.text))
      .sort((a, b) => a.seq - b.seq)
      .map((m) => `${m.text}${m.fault ? ` (${m.fault})` : ''}`);
    expect(calls).toEqual([
      `resume ${seq} part 1`,
      `resume ${seq} part 2 (hang)`,
      `resume ${seq} part 2`,
      `resume ${seq} part 3`,
      `resume ${seq} part 4`,
    ]);
    expect(visibilityChanges.map((c) => c.seconds)).toEqual([1]);
    expect(metricLines('SendRetried').some((l) => l.channel === 'pancake' && l.code === 'TIMEOUT')).toBe(
      true,
    );
    expect(metricLines('SendAmbiguous').some((l) => l.channel === 'pancake')).toBe(true);
  });

  it('spaces the sends to one Pancake page by its 5 per second limit and loses none when the platform still refuses a bunched one', async () => {
    // 50 replies in 10 conversations on one page, consumed by 3 concurrent pollers.
    const parts = Array.from({ length: 10 }, (_, c) =>
      Array.from({ length: 5 }, (_, i) =>
        makePart('pancake', `rate${seq}c${c}`, i, 5, `rate ${seq} c${c} p${i}`, { pageId: 'p-rate' }),
      ),
    ).flat();
    await enqueue(parts);
    const texts = parts.map((p) => p.text ?? '');
    await deliverUntil(() => delivered(texts).length >= 50, 60_000, 3);
    // Every reply reached the customer exactly once, a refused send included (it is retried).
    const sent = delivered(texts);
    expect(sent).toHaveLength(50);
    expect(new Set(sent.map((m) => m.text)).size).toBe(50);
    // The limiter's slots for one page are 200 ms apart (5 per second), so 50 sends hold 9.8 s of
    // slots. A send goes out at its slot or later: a late first send could eat into that span, so
    // the check keeps half of it (without the limiter the 50 go out within a second). A slow machine
    // only stretches the span; it can also bunch arrivals at the platform, which then refuses one
    // and the retry delivers it (docs/delivery.md, the limiter's residual).
    const times = sent.map((m) => m.at).sort((a, b) => a - b);
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(4900);
  });

  it('sends a typing indicator first and pauses in proportion to the text when TYPING_DELAY is on', async () => {
    process.env.TYPING_DELAY = 'true';
    onTestFinished(() => {
      delete process.env.TYPING_DELAY;
    });
    const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
    const pauses: number[] = [];
    const typingHandler = createDeliveryHandler({
      typing: { msPerChar: 20, capMs: 800 },
      sleep: async (ms) => {
        pauses.push(ms);
        await new Promise((resolve) => setTimeout(resolve, ms));
      },
    });
    const text = `typing ${seq} ${'x'.repeat(60)}`;
    await enqueue([makePart('messenger', `typing${seq}`, 0, 1, text)]);
    const ok = await runUntil(
      [{ ...driver, handler: typingHandler }],
      () => delivered([text]).length === 1,
      10_000,
    );
    expect(ok).toBe(true);
    const calls = sandbox.messages().filter((m) => m.recipientId === `cust-typing${seq}`);
    expect(calls.map((m) => m.kind)).toEqual(['typing', 'text']);
    // 70 characters × 20 ms is above the 800 ms cap: one pause of exactly the cap.
    expect(pauses).toEqual([800]);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(790);
  });

  it('sends the reply even when its typing indicator times out', async () => {
    process.env.TYPING_DELAY = 'true';
    onTestFinished(() => {
      delete process.env.TYPING_DELAY;
    });
    // The platform never answers typing calls; replies are answered at once.
    const typingHangs: typeof fetch = (input, init) => {
      if (typeof init?.body === 'string' && init.body.includes('typing_on')) {
        return new Promise((_resolve, reject) => {
          if (init.signal?.aborted) reject(init.signal.reason);
          init.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
        });
      }
      return fetch(input, init);
    };
    const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
    const typed = createDeliveryHandler({
      fetch: typingHangs,
      sendTimeoutMs: 1000,
      typing: { msPerChar: 1, capMs: 10 },
    });
    const part = makePart('messenger', `typto${seq}`, 0, 1, `typing timeout ${seq}`);
    const before = metricLines('SendAmbiguous').length;
    await enqueue([part]);
    expect(
      await runUntil(
        [{ ...driver, handler: typed }],
        () => delivered([part.text ?? '']).length === 1,
        15_000,
      ),
    ).toBe(true);
    expect(visibilityChanges).toEqual([]);
    expect(metricLines('SendAmbiguous')).toHaveLength(before);
  });

  it('writes no token into any log line, even on errors', async () => {
    sandbox.fail({ channel: 'telegram', kind: 'network' });
    sandbox.fail({ channel: 'graph', kind: 'meta-error', code: 100 });
    const parts = [
      makePart('telegram', `tok${seq}t`, 0, 1, `token telegram ${seq}`),
      makePart('instagram', `tok${seq}i`, 0, 1, `token instagram ${seq}`),
    ];
    await enqueue(parts);
    await deliverUntil(
      () =>
        delivered([parts[0]!.text ?? '']).length === 1 &&
        sandbox.messages().some((m) => m.text === parts[1]!.text),
      20_000,
    );
    const logLines = output.filter((l) => l.includes('"level"'));
    expect(logLines.length).toBeGreaterThan(10);
    // The dropped connection is an ambiguous failure (the request had left): logged and retried.
    expect(logLines.some((l) => l.includes('Send outcome unknown'))).toBe(true);
    for (const token of Object.values(TOKENS)) {
      const leaks = output.filter((l) => l.includes(token) || l.includes(encodeURIComponent(token)));
      expect(leaks, `token ${token.slice(0, 6)}… leaked`).toEqual([]);
    }
    // The token-free sandbox log does not hold them either.
    expect(JSON.stringify(sandbox.messages())).not.toMatch(/SECRET/);
  });
  it('moves a part to the outbound DLQ itself after MAX_SEND_ATTEMPTS real failures, records it, and the conversation goes on', async () => {
    sandbox.fail({ channel: 'zalo', kind: '500', text: `dead ${seq} part 1`, count: -1 });
    const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
    const threeTries = createDeliveryHandler({ backoff: BACKOFF, maxSendAttempts: 3 });
    const doomed = makePart('zalo', `dead${seq}`, 0, 2, `dead ${seq} part 1`, {
      historySk: historySk(Date.now(), `turn-dead${seq}:0`),
    });
    const next = makePart('zalo', `dead${seq}`, 1, 2, `dead ${seq} part 2`);
    const { documentClient } = await import('../../lambdas/shared/clients.js');
    await documentClient().send(
      new PutCommand({
        TableName: emu.tables.memory,
        Item: {
          pk: conversationPk(doomed.conversationKey),
          sk: doomed.historySk,
          role: 'bot',
          status: 'queued',
        },
      }),
    );
    await enqueue([doomed, next]);
    const ok = await runUntil(
      [{ ...driver, handler: threeTries }],
      () => delivered([next.text ?? '']).length === 1,
      30_000,
    );
    expect(ok).toBe(true);
    // Exactly three real attempts, then the DLQ (not SQS's redrive: its backstop is 100).
    expect(
      sandbox
        .messages()
        .filter((m) => m.text === doomed.text)
        .map((m) => m.status),
    ).toEqual([500, 500, 500]);
    const dead = (await drainBodies(emu.sqs, emu.queues.outbound.dlqUrl)).map(
      (b) => JSON.parse(b) as OutboundPart,
    );
    expect(dead.map((p) => p.replyId)).toEqual([doomed.replyId]);
    expect(visibilityChanges.map((c) => c.seconds)).toEqual([1, 2]);
    const failure = await getItem(conversationPk(doomed.conversationKey), failureSk(doomed.replyId));
    expect(failure).toMatchObject({ channel: 'zalo', code: 'DEAD_LETTERED', replyId: doomed.replyId });
    expect(String(failure?.message)).toMatch(/after 3 failed attempts; last: 500/);
    // The delivery record says so (audit trail), and its counter is cleared, so a redrive from
    // the DLQ gets its attempts afresh.
    const record = await getItem(conversationPk(doomed.conversationKey), attemptsSk(doomed.replyId));
    expect(record).toMatchObject({
      outcome: 'dead-lettered',
      code: 'DEAD_LETTERED',
      retryCodes: ['500', '500', '500'],
    });
    expect(record?.failures).toBeUndefined();
    expect(record?.sending).toBeUndefined();
    expect(metricLines('SendFailed').some((l) => l.channel === 'zalo' && l.code === 'DEAD_LETTERED')).toBe(
      true,
    );
  });

  it('never dead-letters a part however often the rate limiter defers it', async () => {
    // A Pancake page at 1 send per 1.1 s with no in-process wait: of six conversations' parts
    // taken together, one goes and the others are deferred, again and again.
    const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
    const impatient = createDeliveryHandler({
      backoff: BACKOFF,
      maxSendAttempts: 2,
      maxRateWaitMs: 0,
      rateLimits: { pancakePage: 1 },
    });
    const parts = Array.from({ length: 6 }, (_, c) =>
      makePart('pancake', `defer${seq}c${c}`, 0, 1, `defer ${seq} c${c}`, { pageId: 'p-rate' }),
    );
    await enqueue(parts);
    const texts = parts.map((p) => p.text ?? '');
    const deferredBefore = output.filter((l) => l.includes('Send deferred, not counted')).length;
    const ok = await runUntil(
      [{ ...driver, handler: impatient }],
      () => delivered(texts).length >= 6,
      60_000,
    );
    expect(ok).toBe(true);
    const deferrals = output
      .slice()
      .filter((l) => l.includes('Send deferred, not counted') && l.includes(`defer${seq}`));
    expect(output.filter((l) => l.includes('Send deferred, not counted')).length).toBeGreaterThan(
      deferredBefore,
    );
    // Some part was received far more often than its two allowed failures, and none failed.
    const perPart = new Map<string, number>();
    for (const line of deferrals) {
      const id = (JSON.parse(line) as { messageId?: string }).messageId ?? '';
      perPart.set(id, (perPart.get(id) ?? 0) + 1);
    }
    expect(Math.max(...perPart.values())).toBeGreaterThan(2);
    for (const text of texts) expect(delivered([text]), text).toHaveLength(1);
    expect(await drainBodies(emu.sqs, emu.queues.outbound.dlqUrl)).toEqual([]);
    for (const p of parts) {
      const attempts = await getItem(conversationPk(p.conversationKey), `attempts#${p.replyId}`);
      expect(attempts?.failures, p.replyId).toBeUndefined();
    }
  });

  it('counts an ambiguous send as SendAmbiguous and retries it only after the visibility window', async () => {
    // A platform that takes the first request, delivers it, and answers only after 3 s; the send
    // timeout is 1 s. Later requests are answered at once.
    let slow = true;
    const slowFetch: typeof fetch = async (input, init) => {
      const { signal, ...rest } = init ?? {};
      const response = await fetch(input, rest);
      const body = await response.text();
      if (slow) {
        slow = false;
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
      if (signal?.aborted) throw signal.reason;
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
    const windowed = createDeliveryHandler({
      backoff: BACKOFF,
      fetch: slowFetch,
      sendTimeoutMs: 1000,
      ambiguousRetrySeconds: 3,
    });
    const part = makePart('telegram', `amb${seq}`, 0, 1, `ambiguous ${seq}`);
    const ambiguousBefore = metricLines('SendAmbiguous').length;
    await enqueue([part]);
    const receives: string[] = [];
    const counting: Driver = {
      ...driver,
      handler: async (event, context) => {
        receives.push(...event.Records.map((r) => r.attributes.ApproximateReceiveCount));
        return windowed(event, context as never);
      },
    };
    expect(await runUntil([counting], () => receives.length >= 2, 20_000)).toBe(true);
    // Not retried at once nor after the 1 s backoff of a plain failure: after the ambiguous window.
    expect(visibilityChanges.map((c) => c.seconds)).toEqual([3]);
    expect(receives).toEqual(['1', '2']);
    expect(metricLines('SendAmbiguous').slice(ambiguousBefore)).toMatchObject([{ channel: 'telegram' }]);
    expect(metricLines('SendRetried').some((l) => l.channel === 'telegram' && l.code === 'TIMEOUT')).toBe(
      true,
    );
    // This is the case no platform API lets us avoid: the first attempt had been delivered. The
    // timeout was observed (the counter cleared the sending mark), so the retry was a normal send.
    expect(delivered([part.text ?? ''])).toHaveLength(2);
    expect(await getItem(conversationPk(part.conversationKey), failureSk(part.replyId))).toBeUndefined();
  });

  it('leaves an ambiguous send invisible for the whole queue window when no shorter one is set', async () => {
    // A platform that never answers: the 300 ms send timeout fires after the request left.
    const hanging: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => {
        if (init?.signal?.aborted) reject(init.signal.reason);
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
      });
    const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
    const deployed = createDeliveryHandler({ backoff: BACKOFF, fetch: hanging, sendTimeoutMs: 300 });
    const part = makePart('messenger', `win${seq}`, 0, 1, `window ${seq}`);
    const record = {
      messageId: `win-${seq}`,
      receiptHandle: `win-${seq}`,
      body: JSON.stringify(part),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
        MessageGroupId: messageGroupId(part.conversationKey),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: emu.queues.outbound.arn,
      awsRegion: 'us-east-1',
    };
    const before = metricLines('SendAmbiguous').length;
    const response = await deployed({ Records: [record] }, lambdaContext());
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: `win-${seq}` }]);
    expect(visibilityChanges.filter((c) => c.receiptHandle === `win-${seq}`)).toEqual([]);
    expect(metricLines('SendAmbiguous').slice(before)).toMatchObject([{ channel: 'messenger' }]);
    expect(await getItem(conversationPk(part.conversationKey), `attempts#${part.replyId}`)).toMatchObject({
      failures: 1,
    });
  });

  it('delivers once through a platform that hangs and then answers within the send timeout', async () => {
    const slowFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      const body = await response.text();
      // Hangs 2 s after taking the request: under the (test) send timeout of 10 s.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
    const patient = createDeliveryHandler({ backoff: BACKOFF, fetch: slowFetch });
    const part = makePart('whatsapp', `slow${seq}`, 0, 1, `slow platform ${seq}`);
    const before = metricLines('SendAmbiguous').length;
    await enqueue([part]);
    expect(
      await runUntil(
        [{ ...driver, handler: patient }],
        () => delivered([part.text ?? '']).length === 1,
        20_000,
      ),
    ).toBe(true);
    for (let i = 0; i < 2; i += 1) await pollOnce({ ...driver, handler: patient });
    expect(sandbox.messages().filter((m) => m.text === part.text)).toHaveLength(1);
    expect(visibilityChanges).toEqual([]);
    expect(metricLines('SendAmbiguous')).toHaveLength(before);
  });

  it('answers every reply once with no deferral and nothing dead-lettered while DynamoDB is slow and stalls', async () => {
    const clients = await import('../../lambdas/shared/clients.js');
    let calls = 0;
    clients.dynamoClient().middlewareStack.add(
      (next) => async (args) => {
        calls += 1;
        await new Promise((resolve) => setTimeout(resolve, calls % 9 === 0 ? 1200 : 200));
        return next(args);
      },
      { step: 'initialize', name: 'slowDynamo' },
    );
    try {
      // 12 replies to one WhatsApp number (80/s), 2 pollers: far under the limit.
      const parts = Array.from({ length: 4 }, (_, c) =>
        Array.from({ length: 3 }, (_, i) =>
          makePart('whatsapp', `sd${seq}c${c}`, i, 3, `slow dynamo ${seq} c${c} p${i}`),
        ),
      ).flat();
      const deferredBefore = output.filter((l) => l.includes('Send deferred')).length;
      await enqueue(parts);
      const texts = parts.map((p) => p.text ?? '');
      await deliverUntil(() => delivered(texts).length >= parts.length, 120_000, 2);
      for (const text of texts) expect(delivered([text]), text).toHaveLength(1);
      expect(output.filter((l) => l.includes('Send deferred')).length).toBe(deferredBefore);
      expect(await drainBodies(emu.sqs, emu.queues.outbound.dlqUrl)).toEqual([]);
      // Order within each conversation holds.
      for (let c = 0; c < 4; c += 1) {
        const seen = delivered(texts)
          .filter((m) => m.text?.includes(` c${c} `))
          .sort((x, y) => x.seq - y.seq)
          .map((m) => m.text);
        expect(seen).toEqual([0, 1, 2].map((i) => `slow dynamo ${seq} c${c} p${i}`));
      }
    } finally {
      clients.dynamoClient().middlewareStack.remove('slowDynamo');
    }
  }, 180_000);
  it('never sends again a part whose process died mid-send, and records it as AMBIGUOUS_AFTER_CRASH', async () => {
    const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
    // The platform takes the request; the process "dies" before the answer: the call never settles.
    const dying: typeof fetch = async (input, init) => {
      const { signal: _signal, ...rest } = init ?? {};
      await fetch(input, rest);
      return new Promise<Response>(() => {});
    };
    const killed = createDeliveryHandler({ backoff: BACKOFF, fetch: dying });
    const part = makePart('telegram', `crash${seq}`, 0, 1, `crash ${seq}`);
    const record = recordOf(part, `crash-${seq}`);
    void killed({ Records: [record] }, lambdaContext());
    for (let i = 0; i < 200 && delivered([part.text ?? '']).length === 0; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(delivered([part.text ?? ''])).toHaveLength(1);
    // The restart: the sending mark alone decides (there is no in-progress record to release).
    const ambiguousBefore = metricLines('SendAmbiguous').length;
    const failedBefore = metricLines('SendFailed').length;
    const restarted = createDeliveryHandler({ backoff: BACKOFF });
    expect((await restarted({ Records: [record] }, lambdaContext())).batchItemFailures).toEqual([]);
    // A redelivery of the same message is an idempotent replay.
    expect((await restarted({ Records: [record] }, lambdaContext())).batchItemFailures).toEqual([]);

    expect(sandbox.messages().filter((m) => m.text === part.text)).toHaveLength(1);
    expect(await getItem(conversationPk(part.conversationKey), failureSk(part.replyId))).toMatchObject({
      code: 'AMBIGUOUS_AFTER_CRASH',
      replyId: part.replyId,
    });
    expect(metricLines('SendAmbiguous').slice(ambiguousBefore)).toMatchObject([{ channel: 'telegram' }]);
    expect(metricLines('SendFailed')).toHaveLength(failedBefore);
    expect(
      output.filter(
        (l) =>
          l.includes('A send may have reached the platform before the process stopped') &&
          l.includes(part.replyId) &&
          l.includes('"WARN"'),
      ),
    ).toHaveLength(1);
  });

  it('leaves no sending mark when the rate limiter defers a part, and the next attempt sends it', async () => {
    const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
    const impatient = createDeliveryHandler({
      backoff: BACKOFF,
      maxRateWaitMs: 0,
      rateLimits: { pancakePage: 1 },
    });
    const first = makePart('pancake', `rlm${seq}a`, 0, 1, `rate mark ${seq} a`, { pageId: 'p-rate' });
    const second = makePart('pancake', `rlm${seq}b`, 0, 1, `rate mark ${seq} b`, { pageId: 'p-rate' });
    let firstResponse = await impatient({ Records: [recordOf(first, `rlm-a-${seq}`)] }, lambdaContext());
    for (let i = 0; i < 40 && firstResponse.batchItemFailures.length > 0; i += 1) {
      // An earlier test may still hold the page's slot.
      await new Promise((resolve) => setTimeout(resolve, 100));
      firstResponse = await impatient({ Records: [recordOf(first, `rlm-a-${seq}`)] }, lambdaContext());
    }
    expect(firstResponse.batchItemFailures).toEqual([]);
    const deferred = await impatient({ Records: [recordOf(second, `rlm-b-${seq}`)] }, lambdaContext());
    expect(deferred.batchItemFailures).toEqual([{ itemIdentifier: `rlm-b-${seq}` }]);
    expect(delivered([second.text ?? ''])).toHaveLength(0);
    expect(
      await getItem(conversationPk(second.conversationKey), `attempts#${second.replyId}`),
    ).toBeUndefined();
    let response = deferred;
    for (let i = 0; i < 40 && response.batchItemFailures.length > 0; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      response = await impatient({ Records: [recordOf(second, `rlm-b-${seq}`)] }, lambdaContext());
    }
    expect(response.batchItemFailures).toEqual([]);
    expect(delivered([second.text ?? ''])).toHaveLength(1);
    expect(await getItem(conversationPk(second.conversationKey), failureSk(second.replyId))).toBeUndefined();
  });
  it('clears the sending mark when the caption of an image part is deferred after the image went', async () => {
    const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
    // One call per second to the chat, no in-process wait: the caption's call right after the
    // image's is deferred.
    const impatient = createDeliveryHandler({
      backoff: BACKOFF,
      maxRateWaitMs: 0,
      rateLimits: { telegramChat: 1 },
    });
    const part = makePart('telegram', `cap${seq}`, 0, 1, `caption ${seq}`, {
      imageUrl: `${sandbox.url}/sandbox/files/cap-${seq}.png`,
    });
    const record = recordOf(part, `cap-${seq}`);
    const first = await impatient({ Records: [record] }, lambdaContext());
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: `cap-${seq}` }]);
    expect(output.some((l) => l.includes('Send deferred, not counted') && l.includes(part.replyId))).toBe(
      true,
    );
    const attempts = await getItem(conversationPk(part.conversationKey), `attempts#${part.replyId}`);
    expect(attempts).toBeDefined();
    expect(attempts?.sending).toBeUndefined();
    // The next attempt may wait for the chat's slot between its two calls.
    const patient = createDeliveryHandler({ backoff: BACKOFF, rateLimits: { telegramChat: 1 } });
    expect((await patient({ Records: [record] }, lambdaContext())).batchItemFailures).toEqual([]);
    // Not mistaken for a crash: the caption is sent (the image with it, the documented repeat).
    expect(delivered([part.text ?? ''])).toHaveLength(1);
    expect(await getItem(conversationPk(part.conversationKey), failureSk(part.replyId))).toBeUndefined();
  });
});
