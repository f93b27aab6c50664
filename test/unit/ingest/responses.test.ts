import { describe, expect, it } from 'vitest';
import { prepareEntries } from '../../../lambdas/ingest/entries.js';
import { errorOutcome, handshakeResponse, queuedResponse } from '../../../lambdas/ingest/responses.js';
import {
  ConfigurationError,
  DependencyError,
  EnqueueError,
  HandshakeFailedError,
  InvalidPayloadError,
  InvalidSignatureError,
  NotFoundError,
  PayloadTooLargeError,
  TenantConfigError,
} from '../../../lambdas/shared/errors.js';
import type { ParsedEvent } from '../../../lambdas/shared/model.js';

describe('error mapping', () => {
  const cases: [Error, number, string, string | undefined][] = [
    [new NotFoundError('Unknown tenant "x".'), 404, 'NOT_FOUND', 'WebhookNotFound'],
    [new PayloadTooLargeError(), 413, 'PAYLOAD_TOO_LARGE', 'WebhookRejected'],
    [new InvalidPayloadError(), 400, 'INVALID_PAYLOAD', 'WebhookRejected'],
    [new InvalidSignatureError(), 401, 'INVALID_SIGNATURE', 'SignatureRejected'],
    [new HandshakeFailedError(), 403, 'HANDSHAKE_FAILED', 'HandshakeFailed'],
    [new EnqueueError(2, '2 failed'), 503, 'ENQUEUE_FAILED', undefined],
    [new DependencyError('down'), 503, 'DEPENDENCY_FAILED', undefined],
    [new TenantConfigError(['a: b']), 500, 'TENANT_CONFIG_INVALID', undefined],
    [new ConfigurationError('INBOUND_QUEUE_URL unset'), 500, 'CONFIGURATION', undefined],
    [new RangeError('bug'), 500, 'INTERNAL', undefined],
  ];

  for (const [err, status, code, metric] of cases) {
    it(`maps ${err.constructor.name} to ${status} ${code} as a JSON error body`, () => {
      const outcome = errorOutcome(err);
      expect(outcome.response.statusCode).toBe(status);
      expect(outcome.response.headers['content-type']).toBe('application/json');
      const parsed = JSON.parse(outcome.response.body) as { error: { code: string; message: string } };
      expect(Object.keys(parsed)).toEqual(['error']);
      expect(parsed.error.code).toBe(code);
      expect(parsed.error.message.length).toBeGreaterThan(0);
      expect(outcome.metric?.name).toBe(metric);
    });
  }

  it('never puts server-side details in a 5xx body', () => {
    const outcome = errorOutcome(
      new ConfigurationError('Environment variable INBOUND_QUEUE_URL is not set.'),
    );
    expect(outcome.response.body).not.toContain('INBOUND_QUEUE_URL');
    expect(outcome.log).toBe('error');
  });

  it('tags 413 and 400 with distinct rejection reasons', () => {
    expect(errorOutcome(new PayloadTooLargeError()).metric?.reason).toBe('too-large');
    expect(errorOutcome(new InvalidPayloadError()).metric?.reason).toBe('invalid-payload');
  });
});

describe('response shapes', () => {
  it('builds the documented success body', () => {
    const res = queuedResponse(3, 2);
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('{"success":true,"status":"queued","accepted":3,"ignored":2}');
  });

  it('returns the challenge verbatim as non-sniffable plain text', () => {
    const res = handshakeResponse('<b>1158201444</b>');
    expect(res.body).toBe('<b>1158201444</b>');
    expect(res.headers).toMatchObject({
      'content-type': 'text/plain; charset=utf-8',
      'x-content-type-options': 'nosniff',
    });
  });
});

describe('queue entries', () => {
  const msg = (id: string, conversationId: string): ParsedEvent => ({
    type: 'message',
    message: {
      tenantId: 't',
      channel: 'telegram',
      conversationId,
      conversationKey: `t#telegram#${conversationId}`,
      messageId: id,
      pageId: '1',
      customer: { id: 'c' },
      timestamp: 0,
      receivedAt: 0,
      kind: 'text',
      attachments: [],
      surface: 'inbox',
    },
  });

  it('hashes a conversation key longer than 128 characters into a valid group id', () => {
    const long = 'x'.repeat(200);
    const { entries } = prepareEntries('t', 'telegram', [msg('1', long)]);
    expect(entries[0]!.groupId).toMatch(/^h-[0-9a-f]{64}$/);
    expect(entries[0]!.conversationKey).toBe(`t#telegram#${long}`);
  });

  it('gives every entry a batch id that SQS accepts and that is unique in the request', () => {
    const { entries } = prepareEntries(
      't',
      'telegram',
      Array.from({ length: 25 }, (_, i) => msg(String(i), `1:${i % 3}`)),
    );
    const ids = entries.map((e) => e.id);
    expect(new Set(ids).size).toBe(25);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
  });

  it('uses the same dedup id for the same platform message and different ones across tenants', () => {
    const a = prepareEntries('t', 'telegram', [msg('9', '1:1')]).entries[0]!;
    const b = prepareEntries('u', 'telegram', [msg('9', '1:1')]).entries[0]!;
    expect(a.dedupId).not.toBe(b.dedupId);
    expect(prepareEntries('t', 'telegram', [msg('9', '1:2')]).entries[0]!.dedupId).toBe(a.dedupId);
  });
});
