/**
 * The webhook handler AS BUNDLED (esbuild, like the CDK NodejsFunction) against the embedded
 * emulators: fauxqs for inbound.fifo, the Secrets Manager emulator behind the real SDK client
 * and real Powertools Parameters. Requests are signed per the channel reference.
 */
import { createHmac } from 'node:crypto';
import {
  DeleteMessageCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchCommandInput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { inboundDedupId } from '../../lambdas/shared/keys.js';
import { tenantSecretName } from '../../lambdas/shared/tenant.js';
import { type BundledHandler, bundleHandler } from '../helpers/bundle.js';

type Handler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

const APP_SECRET = 'meta-app-secret-0123456789';
const VERIFY_TOKEN = 'verify-token-abc';
const PAGE = '110000000000001';
const BOT_TOKEN = '5550001:AAH-secret_bot_token';
const TG_SECRET = 'tg_secret-Token_123';

let emulators: Emulators;
let bundle: BundledHandler;
let handler: Handler;
const savedEnv = { ...process.env };

function tenantDoc(tenantId: string): string {
  return JSON.stringify({
    tenantId,
    channels: {
      messenger: {
        appSecret: APP_SECRET,
        verifyToken: VERIFY_TOKEN,
        pages: { [PAGE]: { accessToken: 'EAAB' } },
      },
      telegram: { botToken: BOT_TOKEN, secretToken: TG_SECRET },
    },
  });
}

function apiEvent(opts: {
  method?: 'GET' | 'POST';
  channel?: string;
  tenant: string;
  body?: string;
  headers?: Record<string, string>;
  query?: string;
  base64?: boolean;
}): APIGatewayProxyEventV2 {
  const method = opts.method ?? 'POST';
  const channel = opts.channel ?? 'messenger';
  const body = opts.body;
  return {
    version: '2.0',
    routeKey: `${method} /webhooks/{channel}/{tenantId}`,
    rawPath: `/webhooks/${channel}/${opts.tenant}`,
    rawQueryString: opts.query ?? '',
    headers: { 'content-type': 'application/json', ...(opts.headers ?? {}) },
    pathParameters: { channel, tenantId: opts.tenant },
    requestContext: {
      http: {
        method,
        path: `/webhooks/${channel}/${opts.tenant}`,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
      },
      requestId: 'req',
      timeEpoch: Date.now(),
    } as APIGatewayProxyEventV2['requestContext'],
    isBase64Encoded: opts.base64 === true,
    ...(body === undefined ? {} : { body: opts.base64 ? Buffer.from(body).toString('base64') : body }),
  };
}

/** Meta's wire form: non-ASCII escaped as \uXXXX, which is what Meta signs. */
function metaJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function messengerPost(
  tenant: string,
  messages: { psid: string; mid: string; text: string }[],
  opts: { secret?: string; base64?: boolean } = {},
): APIGatewayProxyEventV2 {
  const body = metaJson({
    object: 'page',
    entry: [
      {
        id: PAGE,
        time: 1_700_000_000_000,
        messaging: messages.map((m, i) => ({
          sender: { id: m.psid },
          recipient: { id: PAGE },
          timestamp: 1_700_000_000_000 + i,
          message: { mid: m.mid, text: m.text },
        })),
      },
    ],
  });
  const signature = createHmac('sha256', opts.secret ?? APP_SECRET)
    .update(Buffer.from(body, 'utf8'))
    .digest('hex');
  return apiEvent({
    tenant,
    body,
    headers: { 'x-hub-signature-256': `sha256=${signature}` },
    ...(opts.base64 ? { base64: true } : {}),
  });
}

interface Received {
  groupId: string | undefined;
  dedupId: string | undefined;
  body: { type: string; conversationKey: string; message?: { messageId: string; text?: string } };
}

/** Receives and deletes everything on inbound.fifo, in delivery order. */
async function drain(): Promise<Received[]> {
  const out: Received[] = [];
  let emptyPolls = 0;
  while (emptyPolls < 2) {
    const res = await emulators.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: emulators.queues.inbound.url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const messages = res.Messages ?? [];
    if (messages.length === 0) {
      emptyPolls += 1;
      continue;
    }
    emptyPolls = 0;
    for (const m of messages) {
      out.push({
        groupId: m.Attributes?.MessageGroupId,
        dedupId: m.Attributes?.MessageDeduplicationId,
        body: JSON.parse(m.Body ?? '{}'),
      });
      await emulators.sqs.send(
        new DeleteMessageCommand({ QueueUrl: emulators.queues.inbound.url, ReceiptHandle: m.ReceiptHandle }),
      );
    }
  }
  return out;
}

const json = (res: APIGatewayProxyStructuredResultV2): Record<string, unknown> =>
  JSON.parse(String(res.body)) as Record<string, unknown>;

beforeAll(async () => {
  emulators = await startEmulators();
  Object.assign(process.env, emulators.env, {
    ENQUEUE_BUDGET_MS: '1500',
    MAX_BODY_BYTES: '65536',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  for (const id of ['acme', 'globex', 'initech']) {
    emulators.secrets.putSecret(tenantSecretName(emulators.secretPrefix, id), tenantDoc(id));
  }
  bundle = await bundleHandler('lambdas/handlers/webhook.ts');
  handler = ((await import(bundle.url)) as { handler: Handler }).handler;
});

afterEach(async () => {
  await emulators.sqs.send(new PurgeQueueCommand({ QueueUrl: emulators.queues.inbound.url }));
});

afterAll(async () => {
  bundle?.cleanup();
  await emulators?.stop();
  process.env = savedEnv;
});

describe('webhook handler (bundled) against the emulators', () => {
  it('puts each Messenger message on inbound.fifo with the conversation group id, the hashed dedup id and in order', async () => {
    const res = await handler(
      messengerPost(
        'acme',
        [
          { psid: 'U1', mid: 'm.1', text: 'xin chào äöå' },
          { psid: 'U2', mid: 'm.2', text: 'hi' },
          { psid: 'U1', mid: 'm.3', text: 'bạn ơi' },
          { psid: 'U1', mid: 'm.4', text: 'còn hàng không?' },
        ],
        { base64: true },
      ),
    );
    expect(res.statusCode).toBe(200);
    expect(json(res)).toEqual({ success: true, status: 'queued', accepted: 4, ignored: 0 });

    const got = await drain();
    expect(got).toHaveLength(4);
    const u1 = got.filter((m) => m.groupId === `acme#messenger#${PAGE}:U1`);
    expect(u1.map((m) => m.body.message?.messageId)).toEqual(['m.1', 'm.3', 'm.4']);
    expect(u1[0]?.body.message?.text).toBe('xin chào äöå');
    for (const m of got) {
      expect(m.dedupId).toBe(inboundDedupId('acme', 'messenger', m.body.message!.messageId));
      expect(m.body.type).toBe('message');
      expect(m.groupId).toBe(m.body.conversationKey);
    }
  });

  it('queues a text with emoji, U+FFFF, U+FFFE and lone surrogates and the consumer reads it back exactly', async () => {
    // Meta escapes non-ASCII as \uXXXX, so any code unit can arrive, lone surrogates included.
    const text = 'hi 😀👍🏽🇻🇳 \uFFFF\uFFFE lone \uD83D and \uDE00 ctl \u0001\u007f bạn ơi';
    const res = await handler(messengerPost('acme', [{ psid: 'U7', mid: 'm.emoji', text }]));
    expect(res.statusCode).toBe(200);
    expect(json(res)).toEqual({ success: true, status: 'queued', accepted: 1, ignored: 0 });
    const got = await drain();
    expect(got).toHaveLength(1);
    // The queue carries every code unit exactly (test/integration/queue.test.ts); the channel
    // adapters replace a lone surrogate by U+FFFD before it (UTF-8, hence DynamoDB, cannot hold
    // one): everything else, emoji and non-characters included, reaches the consumer as typed.
    const expected = text.replace(
      /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
      '\uFFFD',
    );
    expect(expected).not.toBe(text);
    expect(got[0]?.body.message?.text === expected).toBe(true);
  });

  it('leaves one message when the platform POSTs the same body twice within five minutes', async () => {
    const event = messengerPost('acme', [{ psid: 'U9', mid: 'm.dup', text: 'once' }]);
    expect((await handler(event)).statusCode).toBe(200);
    expect((await handler(event)).statusCode).toBe(200);
    const got = await drain();
    expect(got.map((m) => m.body.message?.messageId)).toEqual(['m.dup']);
  });

  it('answers 503 during an SQS outage and, once SQS is back, the retried POST enqueues each message once', async () => {
    const realSend = SQSClient.prototype.send as (this: unknown, command: unknown) => Promise<unknown>;
    const sqsMock = mockClient(SQSClient);
    let calls = 0;
    // First call: half the batch really lands, the rest fails; then SQS is down entirely.
    sqsMock.on(SendMessageBatchCommand).callsFake(async (input: SendMessageBatchCommandInput, getClient) => {
      calls += 1;
      if (calls > 1) throw Object.assign(new Error('Service unavailable'), { name: 'ServiceUnavailable' });
      const entries = input.Entries ?? [];
      const landed = entries.slice(0, 2);
      await realSend.call(getClient(), new SendMessageBatchCommand({ ...input, Entries: landed }));
      return {
        Successful: landed.map((e) => ({ Id: e.Id, MessageId: 'x', MD5OfMessageBody: 'x' })),
        Failed: entries.slice(2).map((e) => ({ Id: e.Id, Code: 'InternalError', SenderFault: false })),
      };
    });
    const event = messengerPost('globex', [
      { psid: 'U1', mid: 'o.1', text: 'a' },
      { psid: 'U2', mid: 'o.2', text: 'b' },
      { psid: 'U3', mid: 'o.3', text: 'c' },
      { psid: 'U4', mid: 'o.4', text: 'd' },
    ]);
    let res: APIGatewayProxyStructuredResultV2;
    try {
      res = await handler(event);
    } finally {
      sqsMock.restore();
    }
    expect(res.statusCode).toBe(503);
    expect(json(res)).toMatchObject({ error: { code: 'ENQUEUE_FAILED' } });
    expect(calls).toBeGreaterThan(1);

    const retried = await handler(event);
    expect(retried.statusCode).toBe(200);
    const got = await drain();
    expect(got.map((m) => m.body.message?.messageId).sort()).toEqual(['o.1', 'o.2', 'o.3', 'o.4']);
  });

  it('answers 401 to a wrong signature and enqueues nothing', async () => {
    const res = await handler(
      messengerPost('acme', [{ psid: 'U1', mid: 'm.bad', text: 'x' }], { secret: 'not-the-secret' }),
    );
    expect(res.statusCode).toBe(401);
    expect(json(res)).toMatchObject({ error: { code: 'INVALID_SIGNATURE' } });
    expect(res.headers?.['content-type']).toBe('application/json');
    expect(await drain()).toEqual([]);
  });

  it('answers 404 NOT_FOUND for an unknown tenant and for a channel the tenant has not configured', async () => {
    const unknown = await handler(messengerPost('nobody-here', [{ psid: 'U1', mid: 'x', text: 'x' }]));
    expect(unknown.statusCode).toBe(404);
    expect(json(unknown)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const unconfigured = await handler(apiEvent({ tenant: 'acme', channel: 'zalo', body: '{}' }));
    expect(unconfigured.statusCode).toBe(404);
  });

  it('answers the GET handshake with the challenge, and 403 to a wrong verify token', async () => {
    const ok = await handler(
      apiEvent({
        method: 'GET',
        tenant: 'acme',
        query: `hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`,
      }),
    );
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toBe('1158201444');
    const bad = await handler(
      apiEvent({
        method: 'GET',
        tenant: 'acme',
        query: 'hub.mode=subscribe&hub.verify_token=no&hub.challenge=1',
      }),
    );
    expect(bad.statusCode).toBe(403);
    expect(json(bad)).toMatchObject({ error: { code: 'HANDSHAKE_FAILED' } });
  });

  it('answers 413 to a body over MAX_BODY_BYTES', async () => {
    const res = await handler(apiEvent({ tenant: 'acme', body: 'x'.repeat(65_537), base64: true }));
    expect(res.statusCode).toBe(413);
    expect(json(res)).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('queues a Telegram update under {botId}:{chat.id} keeping a 64-bit chat id exact', async () => {
    const body =
      '{"update_id":900000001,"message":{"message_id":7,"from":{"id":9007199254740993,"is_bot":false,"first_name":"Lan"},"chat":{"id":9007199254740993,"type":"private"},"date":1700000000,"text":"chào"}}';
    const res = await handler(
      apiEvent({
        channel: 'telegram',
        tenant: 'acme',
        body,
        headers: { 'X-Telegram-Bot-Api-Secret-Token': TG_SECRET },
      }),
    );
    expect(res.statusCode).toBe(200);
    const got = await drain();
    expect(got).toHaveLength(1);
    expect(got[0]?.groupId).toBe('acme#telegram#5550001:9007199254740993');
    expect(got[0]?.dedupId).toBe(inboundDedupId('acme', 'telegram', '900000001'));

    const wrong = await handler(
      apiEvent({
        channel: 'telegram',
        tenant: 'acme',
        body,
        headers: { 'x-telegram-bot-api-secret-token': 'nope' },
      }),
    );
    expect(wrong.statusCode).toBe(401);
  });

  it('answers 503 when Secrets Manager is down for an uncached tenant, and serves a cached tenant meanwhile', async () => {
    // acme is cached by the earlier tests; initech has never been read.
    emulators.secrets.failWith('InternalServiceError');
    try {
      const down = await handler(messengerPost('initech', [{ psid: 'U1', mid: 'i.1', text: 'x' }]));
      expect(down.statusCode).toBe(503);
      expect(json(down)).toMatchObject({ error: { code: 'DEPENDENCY_FAILED' } });
      const cached = await handler(messengerPost('acme', [{ psid: 'U1', mid: 'c.1', text: 'x' }]));
      expect(cached.statusCode).toBe(200);
    } finally {
      emulators.secrets.failWith(undefined);
    }
    const recovered = await handler(messengerPost('initech', [{ psid: 'U1', mid: 'i.1', text: 'x' }]));
    expect(recovered.statusCode).toBe(200);
    expect((await drain()).map((m) => m.body.message?.messageId).sort()).toEqual(['c.1', 'i.1']);
  });

  it('answers 500 for a tenant whose stored secret is malformed', async () => {
    emulators.secrets.putSecret(tenantSecretName(emulators.secretPrefix, 'broken'), '{"tenantId":"broken"');
    const res = await handler(messengerPost('broken', [{ psid: 'U1', mid: 'b.1', text: 'x' }]));
    expect(res.statusCode).toBe(500);
    expect(json(res)).toMatchObject({ error: { code: 'TENANT_CONFIG_INVALID' } });
  });
});
