/**
 * Voice notes end to end through the local stack: the webhook carries an audio attachment, the
 * actor hands it to the in-process media worker, which downloads it, normalises it with the
 * bundled ffmpeg and transcribes it with whisper.cpp when `WHISPER_CPP_BIN`/`WHISPER_MODEL` are
 * set (here a stand-in `whisper-cli` that writes whisper.cpp's JSON), and the transcript stands
 * in for the text of the echo reply. Without whisper.cpp the turn is answered with a marker.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegPath } from '../../lambdas/media/ffmpeg.js';
import { makeFakeWhisper, whisperJson } from '../helpers/fake-whisper.js';
import { type LocalStackProcess, startLocalStackProcess } from '../helpers/local-stack.js';
import { customerWebhook, e2eTenant, newCustomer, repliesTo } from './support.js';

const tenant = e2eTenant('voice');
let files: Server;
let voiceUrl: string;
let downloads = 0;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-relay-voice-'));
  const wav = join(dir, 'voice.wav');
  // A 2-second 440 Hz tone at 48 kHz stereo: the worker must turn it into 16 kHz mono PCM.
  execFileSync(ffmpegPath(), [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:duration=2:sample_rate=48000',
    '-ac',
    '2',
    '-y',
    wav,
  ]);
  const bytes = readFileSync(wav);
  files = createServer((req, res) => {
    downloads += 1;
    if (req.url === '/voice.wav') {
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': bytes.length });
      res.end(bytes);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  voiceUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}/voice.wav`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => files.close(() => resolve()));
});

async function voiceNoteReply(stack: LocalStackProcess): Promise<string[]> {
  const customer = newCustomer('messenger');
  const res = await stack.post(customerWebhook(tenant, customer, '', { kind: 'audio', mediaUrl: voiceUrl }));
  expect(res.status, res.body).toBe(200);
  const records = await stack.waitForMessages(
    (all) => repliesTo(all, customer).length >= 1,
    40_000,
    'the voice note reply',
  );
  return repliesTo(records, customer);
}

describe('voice notes through the local stack', () => {
  let stack: LocalStackProcess;
  afterAll(async () => {
    expect((await stack?.stop())?.code).toBe(0);
  });

  it('answers a voice note with its transcript when whisper.cpp is configured', async () => {
    const fake = makeFakeWhisper(mkdtempSync(join(tmpdir(), 'chat-relay-whisper-')), {
      output: whisperJson([' Hello from the voice note.'], 'en'),
    });
    stack = await startLocalStackProcess({
      tenants: [tenant],
      env: { WHISPER_CPP_BIN: fake.bin, WHISPER_MODEL: fake.model },
    });
    const before = downloads;
    expect(await voiceNoteReply(stack)).toEqual(['echo: Hello from the voice note.']);
    expect(downloads).toBeGreaterThan(before);
    // The worker handed whisper a 16 kHz mono WAV it made with ffmpeg, not the download.
    const argv = readFileSync(fake.argvFile, 'utf8').split('\n');
    const input = argv[argv.indexOf('-f') + 1];
    expect(input).toMatch(/\.wav$/);
    expect(input).not.toContain('voice.wav');
    expect(argv[argv.indexOf('-m') + 1]).toBe(fake.model);
  });
});

describe('voice notes through the local stack without whisper.cpp', () => {
  let stack: LocalStackProcess;
  beforeAll(async () => {
    stack = await startLocalStackProcess({
      tenants: [tenant],
      env: { WHISPER_CPP_BIN: '', WHISPER_MODEL: '' },
    });
  });
  afterAll(async () => {
    expect((await stack?.stop())?.code).toBe(0);
  });

  it('answers with the "engine unavailable" marker instead of waiting forever', async () => {
    expect(await voiceNoteReply(stack)).toEqual([
      'echo: [voice note could not be transcribed: ENGINE_UNAVAILABLE]',
    ]);
  });
});
