import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { ChannelAdapter } from '../../../lambdas/channels/types.js';
import { createWebhookHandler, type WebhookDeps } from '../../../lambdas/ingest/webhook.js';
import {
  DependencyError,
  HandshakeFailedError,
  InvalidPayloadError,
  InvalidSignatureError,
  NotFoundError,
  TenantConfigError,
} from '../../../lambdas/shared/errors.js';
import { inboundDedupId, messageGroupId } from '../../../lambdas/shared/keys.js';
import type { ChannelName, NormalisedMessage, ParsedEvent } from '../../../lambdas/shared/model.js';
import type { QueueEntry, SendOutcome } from '../../../lambdas/shared/queue.js';
import { parseTenantDocument, type TenantDocument } from '../../../lambdas/shared/tenant.js';

const TENANT = parseTenantDocument({
  tenantId: 'acme',
  channels: {
    messenger: { appSecret: 'app-secret', verifyToken: 'verify-me', pages: { P1: { accessToken: 'tok' } } },
    telegram: { botToken: '123:abc', secretToken: 'sekret' },
  },
});

function message(id: string, conversation = 'P1:U1', extra: Partial<NormalisedMessage> = {}): ParsedEvent {
  return {
    type: 'message',
    message: {
      tenantId: 'acme',
      channel: 'messenger',
      conversationId: conversation,
      conversationKey: `acme#messenger#${conversation}`,
      messageId: id,
      pageId: 'P1',
      customer: { id: conversation.split(':')[1] ?? 'u' },
      timestamp: 1,
      receivedAt: 2,
      kind: 'text',
      text: `text of ${id}`,
      attachments: [],
      surface: 'inbox',
      ...extra,
    },
  };
}

/** A messenger-like fake: body is a JSON list of events, signature header must equal "good". */
function fakeAdapter(channel: ChannelName = 'messenger'): ChannelAdapter {
  return {
    channel,
    handshake: (req, ctx) => {
      const cfg = ctx.config as { verifyToken: string };
      if (req.query['hub.mode'] !== 'subscribe' || req.query['hub.verify_token'] !== cfg.verifyToken) {
        throw new HandshakeFailedError();
      }
      return req.query['hub.challenge'] ?? '';
    },
    authenticate: (req) => {
      if (req.headers['x-signature'] !== 'good') throw new InvalidSignatureError();
    },
    parse: (raw) => {
      try {
        return JSON.parse(raw.toString('utf8')) as ParsedEvent[];
      } catch (err) {
        throw new InvalidPayloadError('not JSON', { cause: err });
      }
    },
  };
}

interface Harness {
  handle: ReturnType<typeof createWebhookHandler>;
  sent: QueueEntry[][];
  metrics: { name: string; value: number; dims: Record<string, string> }[];
  logs: { level: string; message: string; extra?: Record<string, unknown> }[];
}

function harness(
  overrides: Partial<WebhookDeps> & { tenant?: TenantDocument; fail?: (e: QueueEntry) => boolean } = {},
): Harness {
  const sent: QueueEntry[][] = [];
  const metrics: Harness['metrics'] = [];
  const logs: Harness['logs'] = [];
  const log =
    (level: string) =>
    (msg: string, extra?: Record<string, unknown>): void => {
      logs.push({ level, message: msg, ...(extra ? { extra } : {}) });
    };
  const handle = createWebhookHandler({
    loadTenant: async (id) => {
      if (id !== 'acme') throw new NotFoundError(`Unknown tenant "${id}".`);
      return overrides.tenant ?? TENANT;
    },
    adapterFor: (c) => fakeAdapter(c),
    send: async (entries): Promise<SendOutcome> => {
      sent.push([...entries]);
      const failed = entries.filter((e) => overrides.fail?.(e) ?? false);
      return {
        sent: entries.filter((e) => !failed.includes(e)).map((e) => e.id),
        failed: failed.map((e) => ({ id: e.id, error: 'ServiceUnavailable: down' })),
      };
    },
    metric: (name, value, dims) => {
      metrics.push({ name, value, dims });
    },
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    maxBodyBytes: 1000,
    now: () => 1_700_000_000_000,
    ...overrides,
  });
  return { handle, sent, metrics, logs };
}

function post(
  body: string,
  opts: { channel?: string; tenant?: string; headers?: Record<string, string>; base64?: boolean } = {},
): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{channel}/{tenantId}',
    rawPath: `/webhooks/${opts.channel ?? 'messenger'}/${opts.tenant ?? 'acme'}`,
    rawQueryString: '',
    headers: opts.headers ?? { 'X-Signature': 'good' },
    pathParameters: { channel: opts.channel ?? 'messenger', tenantId: opts.tenant ?? 'acme' },
    requestContext: { http: { method: 'POST' } } as APIGatewayProxyEventV2['requestContext'],
    body: opts.base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: opts.base64 === true,
  };
}

function get(query: string, channel = 'messenger'): APIGatewayProxyEventV2 {
  return {
    ...post('', { channel }),
    routeKey: 'GET /webhooks/{channel}/{tenantId}',
    rawQueryString: query,
    requestContext: { http: { method: 'GET' } } as APIGatewayProxyEventV2['requestContext'],
  };
}

const body = (events: ParsedEvent[]): string => JSON.stringify(events);
const metricTotal = (h: Harness, name: string): number =>
  h.metrics.filter((m) => m.name === name).reduce((sum, m) => sum + m.value, 0);

describe('webhook logic', () => {
  it('queues each customer message with the conversation group id and the hashed dedup id, in body order', async () => {
    const h = harness();
    const res = await h.handle(post(body([message('m1'), message('m2', 'P1:U2'), message('m3')])));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body)).toEqual({ success: true, status: 'queued', accepted: 3, ignored: 0 });
    const entries = h.sent.flat();
    expect(entries.map((e) => JSON.parse(e.body).message.messageId)).toEqual(['m1', 'm2', 'm3']);
    expect(entries[0]).toMatchObject({
      groupId: messageGroupId('acme#messenger#P1:U1'),
      dedupId: inboundDedupId('acme', 'messenger', 'm1'),
    });
    expect(JSON.parse(entries[0]!.body)).toMatchObject({
      v: 1,
      type: 'message',
      tenantId: 'acme',
      channel: 'messenger',
      conversationId: 'P1:U1',
      conversationKey: 'acme#messenger#P1:U1',
    });
    expect(metricTotal(h, 'MessagesEnqueued')).toBe(3);
    expect(metricTotal(h, 'WebhookReceived')).toBe(1);
  });

  it('queues human activity keyed on the agent message id and counts ignored events by reason', async () => {
    const h = harness();
    const events: ParsedEvent[] = [
      { type: 'ignored', reason: 'receipt' },
      {
        type: 'human-active',
        activity: {
          tenantId: 'acme',
          channel: 'messenger',
          conversationId: 'P1:U1',
          conversationKey: 'acme#messenger#P1:U1',
          messageId: 'agent-mid',
          pageId: 'P1',
          timestamp: 1,
          receivedAt: 2,
        },
      },
      { type: 'ignored', reason: 'echo' },
      { type: 'ignored', reason: 'receipt' },
    ];
    const res = await h.handle(post(body(events)));
    expect(JSON.parse(res.body)).toEqual({ success: true, status: 'queued', accepted: 1, ignored: 3 });
    const entry = h.sent.flat()[0]!;
    expect(entry.dedupId).toBe(inboundDedupId('acme', 'messenger', 'agent-mid'));
    expect(JSON.parse(entry.body)).toMatchObject({
      v: 1,
      type: 'human-active',
      activity: { messageId: 'agent-mid' },
    });
    const ignored = h.metrics.filter((m) => m.name === 'EventsIgnored');
    expect(ignored).toEqual(
      expect.arrayContaining([
        { name: 'EventsIgnored', value: 2, dims: { channel: 'messenger', reason: 'receipt' } },
        { name: 'EventsIgnored', value: 1, dims: { channel: 'messenger', reason: 'echo' } },
      ]),
    );
  });

  it('drops an exact duplicate within one request and reports it as ignored', async () => {
    const h = harness();
    const res = await h.handle(post(body([message('m1'), message('m2'), message('m1')])));
    expect(JSON.parse(res.body)).toMatchObject({ accepted: 2, ignored: 1 });
    expect(h.sent.flat().map((e) => JSON.parse(e.body).message.messageId)).toEqual(['m1', 'm2']);
    expect(h.metrics).toContainEqual({
      name: 'EventsIgnored',
      value: 1,
      dims: { channel: 'messenger', reason: 'duplicate' },
    });
  });

  it('answers 200 without calling SQS when every event is ignored', async () => {
    const h = harness();
    const res = await h.handle(post(body([{ type: 'ignored', reason: 'echo' }])));
    expect(JSON.parse(res.body)).toEqual({ success: true, status: 'queued', accepted: 0, ignored: 1 });
    expect(h.sent).toHaveLength(0);
  });

  it('answers 503 ENQUEUE_FAILED and counts the failures when any entry could not be queued', async () => {
    const h = harness({ fail: (e) => e.id === 'e1' });
    const res = await h.handle(post(body([message('m1'), message('m2')])));
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body).error.code).toBe('ENQUEUE_FAILED');
    expect(metricTotal(h, 'EnqueueFailed')).toBe(1);
    expect(metricTotal(h, 'MessagesEnqueued')).toBe(1);
    const err = h.logs.find((l) => l.level === 'error');
    expect(JSON.stringify(err?.extra)).toContain('m2');
    expect(JSON.stringify(h.logs)).not.toContain('text of');
  });

  it('answers 404 NOT_FOUND for an unknown channel and counts it under the channel "unknown"', async () => {
    const h = harness();
    const res = await h.handle(post('[]', { channel: 'myspace' }));
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body).error.code).toBe('NOT_FOUND');
    expect(h.metrics).toContainEqual({ name: 'WebhookNotFound', value: 1, dims: { channel: 'unknown' } });
  });

  it('answers 404 for an unknown tenant and for a channel the tenant has not configured', async () => {
    const h = harness();
    expect((await h.handle(post('[]', { tenant: 'nobody' }))).statusCode).toBe(404);
    const res = await h.handle(post('[]', { channel: 'zalo' }));
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body).error.message).toContain('not configured');
    expect(metricTotal(h, 'WebhookNotFound')).toBe(2);
  });

  it('answers 413 for a body over the limit, measured on the decoded bytes, before loading the tenant', async () => {
    let loads = 0;
    const h = harness({
      loadTenant: async () => {
        loads += 1;
        return TENANT;
      },
    });
    // 700 bytes decoded is under the 1000-byte limit although its base64 form is 936 characters,
    const under = 'x'.repeat(700);
    const resUnder = await h.handle(post(under, { base64: true }));
    expect(resUnder.statusCode).toBe(400);
    // …and 1001 decoded bytes are over it.
    const res = await h.handle(post('ä'.repeat(500) + 'x', { base64: true }));
    expect(res.statusCode).toBe(413);
    expect(JSON.parse(res.body)).toEqual({
      error: {
        code: 'PAYLOAD_TOO_LARGE',
        message: 'The request body is 1001 bytes; the limit is 1000 bytes.',
      },
    });
    expect(loads).toBe(1);
    expect(h.metrics).toContainEqual({
      name: 'WebhookRejected',
      value: 1,
      dims: { channel: 'messenger', reason: 'too-large' },
    });
  });

  it('hands base64 bodies to the adapter decoded', async () => {
    const h = harness();
    const res = await h.handle(post(body([message('m-ä')]), { base64: true }));
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(h.sent.flat()[0]!.body).message.messageId).toBe('m-ä');
  });

  it('answers 401 INVALID_SIGNATURE and enqueues nothing for a bad signature', async () => {
    const h = harness();
    const res = await h.handle(post(body([message('m1')]), { headers: { 'x-signature': 'bad' } }));
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body).error.code).toBe('INVALID_SIGNATURE');
    expect(h.sent).toHaveLength(0);
    expect(metricTotal(h, 'SignatureRejected')).toBe(1);
  });

  it('answers 400 INVALID_PAYLOAD for an unparseable body', async () => {
    const h = harness();
    const res = await h.handle(post('{not json'));
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('INVALID_PAYLOAD');
    expect(h.metrics).toContainEqual({
      name: 'WebhookRejected',
      value: 1,
      dims: { channel: 'messenger', reason: 'invalid-payload' },
    });
  });

  it('echoes the handshake challenge as plain text and counts it', async () => {
    const h = harness();
    const res = await h.handle(get('hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=12345'));
    expect(res).toMatchObject({ statusCode: 200, body: '12345' });
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(metricTotal(h, 'HandshakeSucceeded')).toBe(1);
  });

  it('answers 403 HANDSHAKE_FAILED for a wrong verify token', async () => {
    const h = harness();
    const res = await h.handle(get('hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1'));
    expect(res.statusCode).toBe(403);
    expect(JSON.parse(res.body).error.code).toBe('HANDSHAKE_FAILED');
    expect(metricTotal(h, 'HandshakeFailed')).toBe(1);
  });

  it('answers 404 to a GET on a channel without a handshake', async () => {
    const h = harness({
      adapterFor: (c) => {
        const { handshake: _unused, ...rest } = fakeAdapter(c);
        return rest;
      },
    });
    const res = await h.handle(get('x=1', 'telegram'));
    expect(res.statusCode).toBe(404);
  });

  it('answers 503 when the tenant store is unavailable', async () => {
    const h = harness({
      loadTenant: async () => {
        throw new DependencyError('Secrets Manager down');
      },
    });
    const res = await h.handle(post('[]'));
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body).error.code).toBe('DEPENDENCY_FAILED');
  });

  it('answers 500 for a malformed tenant secret and logs the tenant without the secret content', async () => {
    const h = harness({
      loadTenant: async () => {
        throw new TenantConfigError(['channels.telegram.botToken: must look like "123456:ABC-..."']);
      },
    });
    const res = await h.handle(post('[]'));
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body).error).toEqual({
      code: 'TENANT_CONFIG_INVALID',
      message: 'The tenant configuration is invalid.',
    });
    const line = h.logs.find((l) => l.level === 'error');
    expect(line?.message).toContain('"acme"');
    expect(line?.extra?.problems).toEqual(['channels.telegram.botToken']);
  });

  it('answers 500 INTERNAL when an adapter throws something untyped', async () => {
    const h = harness({
      adapterFor: (c) => ({
        ...fakeAdapter(c),
        parse: () => {
          throw new TypeError('boom');
        },
      }),
    });
    const res = await h.handle(post('[]'));
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body).error.code).toBe('INTERNAL');
  });

  it('counts an adapter event without an id as unsupported instead of queueing it', async () => {
    const h = harness();
    const res = await h.handle(post(body([message(''), message('ok')])));
    expect(JSON.parse(res.body)).toMatchObject({ accepted: 1, ignored: 1 });
    expect(h.metrics).toContainEqual({
      name: 'EventsIgnored',
      value: 1,
      dims: { channel: 'messenger', reason: 'unsupported' },
    });
  });

  it('answers 404 to methods other than GET and POST', async () => {
    const h = harness();
    const res = await h.handle({
      ...post('[]'),
      requestContext: { http: { method: 'PUT' } } as APIGatewayProxyEventV2['requestContext'],
    });
    expect(res.statusCode).toBe(404);
  });
});

/** A deadline timer the test fires itself; records what it was armed with. */
function manualTimer(): {
  startTimer: NonNullable<WebhookDeps['startTimer']>;
  fire: () => void;
  armed: number[];
  disarmed: () => number;
} {
  let expire: (() => void) | undefined;
  let disarmed = 0;
  const armed: number[] = [];
  return {
    startTimer: (ms, onExpire) => {
      armed.push(ms);
      expire = onExpire;
      return () => {
        disarmed += 1;
      };
    },
    fire: () => expire?.(),
    armed,
    disarmed: () => disarmed,
  };
}

describe('webhook answer deadline', () => {
  it('arms the deadline once per request and disarms it after the answer', async () => {
    const timer = manualTimer();
    const h = harness({ startTimer: timer.startTimer, deadlineMs: 1234 });
    expect((await h.handle(post(body([message('d1')])))).statusCode).toBe(200);
    expect(timer.armed).toEqual([1234]);
    expect(timer.disarmed()).toBe(1);
  });

  it('answers 503 DEPENDENCY_FAILED when the tenant lookup hangs past the deadline, and aborts it', async () => {
    const timer = manualTimer();
    let lookupSignal: AbortSignal | undefined;
    let lookupStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      lookupStarted = resolve;
    });
    const h = harness({
      startTimer: timer.startTimer,
      // A lookup that ignores its signal and never settles: only the deadline can answer.
      loadTenant: (_id, signal) => {
        lookupSignal = signal;
        lookupStarted();
        return new Promise<TenantDocument>(() => {});
      },
    });
    const pending = h.handle(post(body([message('d2')])));
    await started;
    timer.fire();
    const res = await pending;
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'DEPENDENCY_FAILED' } });
    expect(lookupSignal?.aborted).toBe(true);
    expect(h.sent).toEqual([]);
    expect(h.logs.some((l) => l.level === 'error' && l.message === 'Webhook failed')).toBe(true);
  });

  it('answers 503 ENQUEUE_FAILED when the send hangs past the deadline, never 200, and counts every entry', async () => {
    const timer = manualTimer();
    let sendSignal: AbortSignal | undefined;
    let sendStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      sendStarted = resolve;
    });
    const h = harness({
      startTimer: timer.startTimer,
      send: (_entries, signal) => {
        sendSignal = signal;
        sendStarted();
        return new Promise<SendOutcome>(() => {});
      },
    });
    const pending = h.handle(post(body([message('d3'), message('d4', 'P1:U2')])));
    await started;
    timer.fire();
    const res = await pending;
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'ENQUEUE_FAILED' } });
    expect(sendSignal?.aborted).toBe(true);
    expect(metricTotal(h, 'EnqueueFailed')).toBe(2);
    expect(metricTotal(h, 'MessagesEnqueued')).toBe(0);
    const failure = h.logs.find(
      (l) => l.level === 'error' && l.message.startsWith('Messages could not be enqueued'),
    );
    expect(JSON.stringify(failure?.extra)).toContain('DeadlineExceeded');
  });

  it('answers 503 without waiting on SQS when the deadline passed before the send started', async () => {
    const timer = manualTimer();
    let sendSignal: AbortSignal | undefined;
    const h = harness({
      startTimer: timer.startTimer,
      adapterFor: (c) => {
        const adapter = fakeAdapter(c);
        return {
          ...adapter,
          authenticate: (req, ctx) => {
            adapter.authenticate(req, ctx);
            timer.fire(); // the deadline passes while the request is being checked
          },
        };
      },
      // A send that would succeed, and never settles: the passed deadline answers first.
      send: (_entries, signal) => {
        sendSignal = signal;
        return new Promise<SendOutcome>(() => {});
      },
    });
    const res = await h.handle(post(body([message('d5')])));
    expect(sendSignal?.aborted).toBe(true);
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'ENQUEUE_FAILED' } });
  });
});
