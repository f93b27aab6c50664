import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadAttachment } from '../../../lambdas/media/download.js';
import { DependencyError, type MediaError, NotFoundError } from '../../../lambdas/shared/errors.js';
import type { MediaJob } from '../../../lambdas/shared/model.js';
import { parseTenantDocument, type TenantDocument } from '../../../lambdas/shared/tenant.js';
import { type FakePlatforms, startFakePlatforms, TELEGRAM_TOKEN, WHATSAPP_TOKEN } from './fake-platforms.js';

let fake: FakePlatforms;
let dir: string;
const tenant: TenantDocument = parseTenantDocument({
  tenantId: 'acme',
  channels: {
    whatsapp: { appSecret: 's', verifyToken: 'v', accessToken: WHATSAPP_TOKEN, phoneNumberIds: ['111'] },
    telegram: { botToken: TELEGRAM_TOKEN, secretToken: 'secret_1' },
  },
});
const loadTenant = async (id: string): Promise<TenantDocument> => {
  if (id !== 'acme') throw new NotFoundError(`Unknown tenant "${id}".`);
  return tenant;
};
const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 256));

function job(channel: MediaJob['channel'], attachment: MediaJob['attachment'], tenantId = 'acme'): MediaJob {
  return {
    v: 1,
    tenantId,
    channel,
    conversationId: 'c1',
    conversationKey: `${tenantId}#${channel}#c1`,
    turnId: 't1',
    messageId: 'm1',
    pageId: 'p1',
    attachmentIndex: 0,
    attachment,
    enqueuedAt: Date.now(),
  };
}

const bases = (): { pancake: string; graph: string; telegram: string; zalo: string } => ({
  pancake: fake.base,
  graph: fake.base,
  telegram: fake.base,
  zalo: fake.base,
});
let n = 0;
const dest = (): string => join(dir, `dl-${n++}`);

beforeAll(async () => {
  fake = await startFakePlatforms();
  dir = await mkdtemp(join(tmpdir(), 'media-download-test-'));
});
afterAll(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

describe('WhatsApp media download', () => {
  it('looks the media id up with the bearer token, then downloads the URL with the same bearer', async () => {
    fake.files.set('wa:MEDIA1', payload);
    const out = dest();
    const got = await downloadAttachment(job('whatsapp', { kind: 'audio', fileId: 'MEDIA1' }), out, {
      loadTenant,
      bases: bases(),
    });
    expect(got.bytes).toBe(payload.length);
    expect(readFileSync(out).equals(payload)).toBe(true);
    const calls = fake.requests.filter((r) => r.path.includes('MEDIA1'));
    expect(calls.map((c) => c.path)).toEqual(['/v25.0/MEDIA1', '/whatsapp-cdn/MEDIA1']);
    expect(calls.every((c) => c.authorization === `Bearer ${WHATSAPP_TOKEN}`)).toBe(true);
  });

  it('reports an unknown media id as MEDIA_DOWNLOAD_FAILED with the Graph error code, not the token', async () => {
    const err = await downloadAttachment(job('whatsapp', { kind: 'audio', fileId: 'GONE' }), dest(), {
      loadTenant,
      bases: bases(),
    }).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_DOWNLOAD_FAILED');
    expect((err as Error).message).toContain('code 100');
    expect((err as Error).message).not.toContain(WHATSAPP_TOKEN);
  });

  it('refuses before downloading when the lookup declares a size over the cap', async () => {
    fake.files.set('wa:BIG', payload);
    const before = fake.requests.length;
    const err = await downloadAttachment(job('whatsapp', { kind: 'audio', fileId: 'BIG' }), dest(), {
      loadTenant,
      bases: bases(),
      maxBytes: 50_000,
    }).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_TOO_LARGE');
    expect(fake.requests.slice(before).map((r) => r.path)).toEqual(['/v25.0/BIG']);
  });
});

describe('Telegram file download', () => {
  it('calls getFile with the bot token and downloads the returned file_path', async () => {
    fake.files.set('tg:VOICE1', payload);
    const out = dest();
    await downloadAttachment(job('telegram', { kind: 'audio', fileId: 'VOICE1', voice: true }), out, {
      loadTenant,
      bases: bases(),
    });
    expect(readFileSync(out).equals(payload)).toBe(true);
    const calls = fake.requests.filter((r) => r.path.includes('getFile') || r.path.includes('VOICE1'));
    expect(calls.map((c) => c.path)).toEqual([
      `/bot${TELEGRAM_TOKEN}/getFile`,
      `/file/bot${TELEGRAM_TOKEN}/voice/VOICE1.oga`,
    ]);
  });

  it('passes on the Bot API description of a bad file_id without the token', async () => {
    const err = await downloadAttachment(job('telegram', { kind: 'audio', fileId: 'NOPE' }), dest(), {
      loadTenant,
      bases: bases(),
    }).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_DOWNLOAD_FAILED');
    expect((err as Error).message).toContain('invalid file_id');
    expect((err as Error).message).not.toContain(TELEGRAM_TOKEN);
  });

  it('maps the Bot API "file is too big" refusal to MEDIA_TOO_LARGE', async () => {
    fake.files.set('tg:HUGE', Buffer.alloc(20 * 1024 * 1024 + 1));
    const err = await downloadAttachment(job('telegram', { kind: 'video', fileId: 'HUGE' }), dest(), {
      loadTenant,
      bases: bases(),
    }).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_TOO_LARGE');
    fake.files.delete('tg:HUGE');
  });
});

describe('plain URL download (Pancake, Messenger, Instagram, Zalo)', () => {
  it.each(['pancake', 'messenger', 'instagram', 'zalo'] as const)(
    'downloads the %s attachment URL as given, with no credentials',
    async (channel) => {
      fake.files.set(`cdn:/cdn/${channel}.mp4`, payload);
      const out = dest();
      await downloadAttachment(job(channel, { kind: 'video', url: `${fake.base}/cdn/${channel}.mp4` }), out, {
        loadTenant: async () => {
          throw new Error('no tenant lookup expected');
        },
        bases: bases(),
      });
      expect((await stat(out)).size).toBe(payload.length);
      const call = fake.requests.filter((r) => r.path === `/cdn/${channel}.mp4`);
      expect(call).toHaveLength(1);
      expect(call[0]?.authorization).toBeUndefined();
    },
  );

  it('fails with MEDIA_DOWNLOAD_FAILED when the attachment has no URL', async () => {
    const err = await downloadAttachment(job('zalo', { kind: 'audio' }), dest(), {
      loadTenant,
      bases: bases(),
    }).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_DOWNLOAD_FAILED');
  });

  it('fails on 404 at once, without retrying', async () => {
    const before = fake.requests.length;
    const err = await downloadAttachment(
      job('messenger', { kind: 'audio', url: `${fake.base}/cdn/missing.mp4` }),
      dest(),
      { loadTenant, bases: bases() },
    ).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_DOWNLOAD_FAILED');
    expect(fake.requests.length - before).toBe(1);
  });

  it('retries a 500 and succeeds', async () => {
    fake.files.set('cdn:/cdn/flaky.mp4', payload);
    fake.failures.set('/cdn/flaky.mp4', 1);
    const out = dest();
    await downloadAttachment(job('pancake', { kind: 'video', url: `${fake.base}/cdn/flaky.mp4` }), out, {
      loadTenant,
      bases: bases(),
    });
    expect((await stat(out)).size).toBe(payload.length);
    expect(fake.requests.filter((r) => r.path === '/cdn/flaky.mp4')).toHaveLength(2);
  });

  it('rejects non-HTTP URL schemes', async () => {
    const err = await downloadAttachment(job('zalo', { kind: 'audio', url: 'file:///etc/passwd' }), dest(), {
      loadTenant,
      bases: bases(),
    }).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_DOWNLOAD_FAILED');
  });
});

describe('size cap and timeouts', () => {
  it('refuses a response whose Content-Length is over the cap', async () => {
    fake.files.set('cdn:/cdn/declared.mp4', payload);
    const out = dest();
    const err = await downloadAttachment(
      job('messenger', { kind: 'video', url: `${fake.base}/cdn/declared.mp4` }),
      out,
      { loadTenant, bases: bases(), maxBytes: 1000 },
    ).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_TOO_LARGE');
    await expect(stat(out)).rejects.toThrow();
  });

  it('aborts a chunked stream once it passes the cap and leaves no partial file', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 1);
    fake.files.set('cdn:/cdn/chunked.mp4', big);
    fake.chunked.add('/cdn/chunked.mp4');
    const out = dest();
    const err = await downloadAttachment(
      job('pancake', { kind: 'video', url: `${fake.base}/cdn/chunked.mp4` }),
      out,
      { loadTenant, bases: bases(), maxBytes: 1024 * 1024 },
    ).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_TOO_LARGE');
    await expect(stat(out)).rejects.toThrow();
  });

  it('refuses up front when the platform declared a size over the cap', async () => {
    const before = fake.requests.length;
    const err = await downloadAttachment(
      job('zalo', { kind: 'video', url: `${fake.base}/cdn/x.mp4`, size: 30 * 1024 * 1024 }),
      dest(),
      { loadTenant, bases: bases() },
    ).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_TOO_LARGE');
    expect(fake.requests.length).toBe(before);
  });

  it('gives up with MEDIA_TIMEOUT when the download hangs past its budget', async () => {
    fake.hang.add('/cdn/hang.mp4');
    const err = await downloadAttachment(
      job('zalo', { kind: 'audio', url: `${fake.base}/cdn/hang.mp4` }),
      dest(),
      { loadTenant, bases: bases(), timeoutMs: 300 },
    ).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_TIMEOUT');
  });
});

describe('tenant problems', () => {
  it('reports an unknown tenant as a permanent download failure', async () => {
    const err = await downloadAttachment(
      job('whatsapp', { kind: 'audio', fileId: 'MEDIA1' }, 'ghost'),
      dest(),
      { loadTenant, bases: bases() },
    ).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_DOWNLOAD_FAILED');
  });

  it('passes a Secrets Manager outage on as a DependencyError so the job is retried', async () => {
    const err = await downloadAttachment(job('telegram', { kind: 'audio', fileId: 'VOICE1' }), dest(), {
      loadTenant: async () => {
        throw new DependencyError('Secrets Manager is down');
      },
      bases: bases(),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyError);
  });
});
