import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { WhisperCppEngine } from '../../lambdas/media/engine.js';
import { type MediaWorkerOptions, mediaReadyDedupId, runMediaWorker } from '../../lambdas/media/worker.js';
import { documentClient, resetClients } from '../../lambdas/shared/clients.js';
import { DependencyError } from '../../lambdas/shared/errors.js';
import { conversationPk, mediaSk, messageGroupId } from '../../lambdas/shared/keys.js';
import { type MediaJob, mediaReadyEventSchema } from '../../lambdas/shared/model.js';
import { makeFakeWhisper } from '../helpers/fake-whisper.js';
import { type FakePlatforms, startFakePlatforms, TELEGRAM_TOKEN } from '../unit/media/fake-platforms.js';
import { jpegDimensions, makeTone, makeVideoWithTone } from '../unit/media/media-fixtures.js';

let emu: Emulators;
let fake: FakePlatforms;
let dir: string;
let video: Buffer;
let voice: Buffer;
let s3: S3Client;
const saved = { ...process.env };

beforeAll(async () => {
  emu = await startEmulators({ prefix: 'mediatest', visibilityTimeoutSeconds: { mediaJobs: 30 } });
  fake = await startFakePlatforms();
  dir = await mkdtemp(join(tmpdir(), 'media-worker-test-'));
  video = readFileSync(makeVideoWithTone(dir, 4));
  voice = readFileSync(makeTone(dir, 2, 'voice.ogg'));
  Object.assign(process.env, emu.env, { TELEGRAM_API_BASE: fake.base, TENANT_CACHE_SECONDS: '0' });
  resetClients();
  emu.secrets.putSecret(
    `${emu.secretPrefix}/tenants/acme`,
    JSON.stringify({
      tenantId: 'acme',
      channels: { telegram: { botToken: TELEGRAM_TOKEN, secretToken: 'secret_1' } },
    }),
  );
  s3 = new S3Client({
    region: emu.region,
    endpoint: emu.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  s3.destroy();
  resetClients();
  process.env = saved;
  await fake.close();
  await emu.stop();
  await rm(dir, { recursive: true, force: true });
});

let seq = 0;
function job(overrides: Partial<MediaJob> & Pick<MediaJob, 'attachment'>): MediaJob {
  seq += 1;
  const conversationId = `page1:user${seq}`;
  return {
    v: 1,
    tenantId: 'acme',
    channel: 'messenger',
    conversationId,
    conversationKey: `acme#messenger#${conversationId}`,
    turnId: `turn-${seq}`,
    messageId: `mid.${seq}`,
    pageId: 'page1',
    attachmentIndex: 0,
    enqueuedAt: Date.now(),
    ...overrides,
  };
}

async function enqueue(body: unknown): Promise<void> {
  await emu.sqs.send(
    new SendMessageCommand({ QueueUrl: emu.queues.mediaJobs.url, MessageBody: JSON.stringify(body) }),
  );
}

async function receiveInbound(count: number, timeoutMs = 15_000): Promise<Message[]> {
  const got: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < count && Date.now() < deadline) {
    const res = await emu.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: emu.queues.inbound.url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId'],
      }),
    );
    got.push(...(res.Messages ?? []));
  }
  return got;
}

/** Runs the worker until `settled` jobs are settled, then stops it. */
async function runUntil(settled: number, options: Partial<MediaWorkerOptions> = {}): Promise<string[]> {
  const controller = new AbortController();
  const outcomes: string[] = [];
  const worker = runMediaWorker({
    signal: controller.signal,
    waitTimeSeconds: 1,
    drainTimeoutMs: 5000,
    retryBaseSeconds: 0,
    ...options,
    onJobSettled: (info) => {
      outcomes.push(info.outcome);
      options.onJobSettled?.(info);
      if (outcomes.length >= settled) controller.abort();
    },
  });
  const guard = setTimeout(() => controller.abort(), 30_000);
  await worker;
  clearTimeout(guard);
  return outcomes;
}

let whisperDir: string;
beforeEach(async () => {
  whisperDir = await mkdtemp(join(dir, 'whisper-'));
});
afterEach(() => {
  delete process.env.WHISPER_CPP_BIN;
  delete process.env.WHISPER_MODEL;
});

describe('media worker against the emulated stack', () => {
  it('turns a video job into keyframes in S3, a transcript, a memory record and media-ready in the conversation group', async () => {
    const whisper = makeFakeWhisper(whisperDir);
    process.env.WHISPER_CPP_BIN = whisper.bin;
    process.env.WHISPER_MODEL = whisper.model;
    fake.files.set('cdn:/cdn/clip.mp4', video);
    const j = job({ attachment: { kind: 'video', url: `${fake.base}/cdn/clip.mp4` }, language: 'en' });
    await enqueue(j);

    expect(await runUntil(1)).toEqual(['answered']);
    const [msg] = await receiveInbound(1);
    expect(msg?.Attributes?.MessageGroupId).toBe(messageGroupId(j.conversationKey));
    expect(msg?.Attributes?.MessageDeduplicationId).toBe(mediaReadyDedupId(j));
    const event = mediaReadyEventSchema.parse(JSON.parse(msg?.Body ?? '{}'));
    expect(event).toMatchObject({
      type: 'media-ready',
      turnId: j.turnId,
      messageId: j.messageId,
      attachmentIndex: 0,
    });
    expect(event.error).toBeUndefined();
    expect(event.result?.transcript).toMatchObject({ text: 'Hello world.', language: 'en' });
    expect(event.result?.transcript?.durationSec).toBeGreaterThan(3.9);
    expect(event.result?.keyframes).toHaveLength(4);
    for (const key of event.result?.keyframes ?? []) {
      expect(key.startsWith('media/acme/')).toBe(true);
      const obj = await s3.send(new GetObjectCommand({ Bucket: emu.mediaBucket, Key: key }));
      const bytes = Buffer.from(await obj.Body!.transformToByteArray());
      expect(jpegDimensions(bytes)).toEqual({ width: 320, height: 240 });
    }
    const stored = await documentClient().send(
      new GetCommand({
        TableName: emu.tables.memory,
        Key: { pk: conversationPk(j.conversationKey), sk: mediaSk(j.turnId, j.messageId, 0) },
      }),
    );
    expect(stored.Item?.result).toEqual(event.result);
    expect(stored.Item?.expiresAt).toBeGreaterThan(Date.now() / 1000 + 86_000);
    const argv = readFileSync(whisper.argvFile, 'utf8').split('\n');
    expect(argv[argv.indexOf('-l') + 1]).toBe('en');
    // The job is gone from the queue.
    const left = await emu.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: emu.queues.mediaJobs.url, WaitTimeSeconds: 0 }),
    );
    expect(left.Messages ?? []).toHaveLength(0);
  });

  it('downloads a Telegram voice note with the bot token from Secrets Manager and transcribes it', async () => {
    const whisper = makeFakeWhisper(whisperDir);
    process.env.WHISPER_CPP_BIN = whisper.bin;
    process.env.WHISPER_MODEL = whisper.model;
    fake.files.set('tg:VOICE-INT', voice);
    const j = job({
      channel: 'telegram',
      conversationId: '123456:42',
      conversationKey: 'acme#telegram#123456:42',
      attachment: { kind: 'audio', fileId: 'VOICE-INT', voice: true },
    });
    await enqueue(j);
    expect(await runUntil(1)).toEqual(['answered']);
    const [msg] = await receiveInbound(1);
    const event = mediaReadyEventSchema.parse(JSON.parse(msg?.Body ?? '{}'));
    expect(event.result?.transcript?.text).toBe('Hello world.');
    expect(event.result?.transcript?.durationSec).toBeCloseTo(2, 0);
    expect(event.result?.keyframes).toBeUndefined();
    expect(fake.requests.some((r) => r.path === `/bot${TELEGRAM_TOKEN}/getFile`)).toBe(true);
  });

  it('answers a corrupt file with media-ready carrying MEDIA_CORRUPT and deletes the job', async () => {
    fake.files.set(
      'cdn:/cdn/corrupt.mp4',
      Buffer.from('this is not a video file at all, just text'.repeat(50)),
    );
    const j = job({ attachment: { kind: 'video', url: `${fake.base}/cdn/corrupt.mp4` } });
    await enqueue(j);
    expect(await runUntil(1)).toEqual(['answered']);
    const [msg] = await receiveInbound(1);
    const event = mediaReadyEventSchema.parse(JSON.parse(msg?.Body ?? '{}'));
    expect(event.messageId).toBe(j.messageId);
    expect(event.error?.code).toBe('MEDIA_CORRUPT');
    expect(event.result).toBeUndefined();
    const left = await emu.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: emu.queues.mediaJobs.url, WaitTimeSeconds: 0 }),
    );
    expect(left.Messages ?? []).toHaveLength(0);
  });

  it('answers a voice note with ENGINE_UNAVAILABLE without downloading it when whisper.cpp is not configured', async () => {
    fake.files.set('cdn:/cdn/voice-nowhisper.ogg', voice);
    const j = job({ attachment: { kind: 'audio', url: `${fake.base}/cdn/voice-nowhisper.ogg` } });
    await enqueue(j);
    expect(await runUntil(1)).toEqual(['answered']);
    const [msg] = await receiveInbound(1);
    const event = mediaReadyEventSchema.parse(JSON.parse(msg?.Body ?? '{}'));
    expect(event.error?.code).toBe('ENGINE_UNAVAILABLE');
    expect(fake.requests.some((r) => r.path === '/cdn/voice-nowhisper.ogg')).toBe(false);
  });

  it('keeps the keyframes of a video and reports ENGINE_UNAVAILABLE for its missing transcript', async () => {
    fake.files.set('cdn:/cdn/clip-nowhisper.mp4', video);
    const j = job({ attachment: { kind: 'video', url: `${fake.base}/cdn/clip-nowhisper.mp4` } });
    await enqueue(j);
    expect(await runUntil(1, { keyframeCount: 2 })).toEqual(['answered']);
    const [msg] = await receiveInbound(1);
    const event = mediaReadyEventSchema.parse(JSON.parse(msg?.Body ?? '{}'));
    expect(event.result?.keyframes).toHaveLength(2);
    expect(event.result?.transcript).toBeUndefined();
    expect(event.error?.code).toBe('ENGINE_UNAVAILABLE');
  });

  it('retries a job after a dependency failure and answers it once the dependency is back', async () => {
    fake.files.set('cdn:/cdn/retry.mp4', video);
    const j = job({ attachment: { kind: 'video', url: `${fake.base}/cdn/retry.mp4` } });
    await enqueue(j);
    let calls = 0;
    const outcomes = await runUntil(2, {
      keyframeCount: 1,
      engine: new WhisperCppEngine({ bin: undefined, model: undefined }),
      putObject: async () => {
        calls += 1;
        if (calls === 1) throw new DependencyError('S3 is down');
      },
    });
    expect(outcomes).toEqual(['retry', 'answered']);
    const messages = await receiveInbound(1);
    expect(messages).toHaveLength(1);
    expect(mediaReadyEventSchema.parse(JSON.parse(messages[0]?.Body ?? '{}')).result?.keyframes).toHaveLength(
      1,
    );
  });

  it('answers MEDIA_FAILED on the last attempt instead of leaving the turn waiting', async () => {
    fake.files.set('cdn:/cdn/lastattempt.mp4', video);
    const j = job({ attachment: { kind: 'video', url: `${fake.base}/cdn/lastattempt.mp4` } });
    await enqueue(j);
    const outcomes = await runUntil(1, {
      maxAttempts: 1,
      putObject: async () => {
        throw new DependencyError('S3 is down');
      },
    });
    expect(outcomes).toEqual(['answered']);
    const [msg] = await receiveInbound(1);
    expect(mediaReadyEventSchema.parse(JSON.parse(msg?.Body ?? '{}')).error?.code).toBe('MEDIA_FAILED');
  });

  it('answers an invalid job that still names its turn with INVALID_EVENT', async () => {
    const j = job({ attachment: { kind: 'video', url: 'x' } });
    await enqueue({ ...j, v: 2, attachment: 'nonsense' });
    expect(await runUntil(1)).toEqual(['invalid']);
    const [msg] = await receiveInbound(1);
    const event = mediaReadyEventSchema.parse(JSON.parse(msg?.Body ?? '{}'));
    expect(event.turnId).toBe(j.turnId);
    expect(event.error?.code).toBe('INVALID_EVENT');
  });
});

describe('shutdown', () => {
  it('releases the job in hand when the signal aborts and the drain period runs out', async () => {
    fake.hang.add('/cdn/hang-inproc.mp4');
    const j = job({ attachment: { kind: 'video', url: `${fake.base}/cdn/hang-inproc.mp4` } });
    await enqueue(j);
    const controller = new AbortController();
    const settled: string[] = [];
    const worker = runMediaWorker({
      signal: controller.signal,
      waitTimeSeconds: 1,
      drainTimeoutMs: 200,
      onJobSettled: (info) => settled.push(info.outcome),
    });
    await fake.waitFor('/cdn/hang-inproc.mp4');
    controller.abort();
    await worker;
    expect(settled).toEqual(['released']);
    // Visible again at once (visibility 0), not after the 30 s timeout; and no media-ready was sent.
    const again = await emu.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: emu.queues.mediaJobs.url, WaitTimeSeconds: 2 }),
    );
    expect(JSON.parse(again.Messages?.[0]?.Body ?? '{}').turnId).toBe(j.turnId);
    await emu.sqs.send(
      new DeleteMessageCommand({
        QueueUrl: emu.queues.mediaJobs.url,
        ReceiptHandle: again.Messages?.[0]?.ReceiptHandle,
      }),
    );
    expect(await receiveInbound(1, 1500)).toHaveLength(0);
  });

  it('the container entry releases its job on SIGTERM and exits cleanly', async () => {
    fake.hang.add('/cdn/hang-main.mp4');
    const j = job({ attachment: { kind: 'video', url: `${fake.base}/cdn/hang-main.mp4` } });
    await enqueue(j);
    const child = spawn(process.execPath, ['--import', 'tsx', 'lambdas/media/main.ts'], {
      env: { ...process.env, DRAIN_MS: '300', POWERTOOLS_LOG_LEVEL: 'INFO' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await fake.waitFor('/cdn/hang-main.mp4');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('Media job released on shutdown');
    const again = await emu.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: emu.queues.mediaJobs.url, WaitTimeSeconds: 2 }),
    );
    expect(JSON.parse(again.Messages?.[0]?.Body ?? '{}').turnId).toBe(j.turnId);
  });
});
