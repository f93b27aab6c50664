import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWhisperJson, WhisperCppEngine, whisperLanguage } from '../../../lambdas/media/engine.js';
import { EngineUnavailableError, MediaError } from '../../../lambdas/shared/errors.js';
import { makeFakeWhisper, whisperJson } from '../../helpers/fake-whisper.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'media-engine-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sub = (name: string): Promise<string> => mkdtemp(join(dir, `${name}-`));

describe('whisper.cpp command line', () => {
  it('runs whisper-cli with the model, the file, the language, JSON output and an output base', async () => {
    const fake = makeFakeWhisper(await sub('argv'));
    const engine = new WhisperCppEngine({ bin: fake.bin, model: fake.model, threads: 3 });
    const result = await engine.transcribe('/tmp/in.wav', { language: 'vi-VN' });
    const argv = readFileSync(fake.argvFile, 'utf8').trim().split('\n');
    expect(argv.slice(0, 10)).toEqual([
      '-m',
      fake.model,
      '-f',
      '/tmp/in.wav',
      '-l',
      'vi',
      '-t',
      '3',
      '-np',
      '-oj',
    ]);
    expect(argv[10]).toBe('-of');
    expect(argv[11]).toMatch(/chat-relay-whisper-[^/]+\/out$/);
    expect(result).toEqual({ text: 'Hello world.', language: 'en' });
  });

  it('asks for language detection when the tenant language is unset or auto', async () => {
    const fake = makeFakeWhisper(await sub('auto'));
    await new WhisperCppEngine({ bin: fake.bin, model: fake.model }).transcribe('/tmp/a.wav', {});
    const argv = readFileSync(fake.argvFile, 'utf8').trim().split('\n');
    expect(argv[argv.indexOf('-l') + 1]).toBe('auto');
  });

  it('maps tenant languages to whisper codes', () => {
    expect(whisperLanguage('vi')).toBe('vi');
    expect(whisperLanguage('en-US')).toBe('en');
    expect(whisperLanguage('zh_Hant')).toBe('zh');
    expect(whisperLanguage('auto')).toBe('auto');
    expect(whisperLanguage(undefined)).toBe('auto');
    expect(whisperLanguage('??')).toBe('auto');
  });

  it('turns a non-zero exit into MEDIA_FAILED with the last stderr line', async () => {
    const fake = makeFakeWhisper(await sub('fail'), { exitCode: 2 });
    const err = await new WhisperCppEngine({ bin: fake.bin, model: fake.model })
      .transcribe('/tmp/a.wav', {})
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaError);
    expect((err as MediaError).code).toBe('MEDIA_FAILED');
    expect((err as MediaError).message).toContain('failed to read audio');
  });

  it('fails with MEDIA_FAILED when whisper exits 0 without writing its JSON', async () => {
    const fake = makeFakeWhisper(await sub('nojson'), { writeOutput: false });
    const err = await new WhisperCppEngine({ bin: fake.bin, model: fake.model })
      .transcribe('/tmp/a.wav', {})
      .catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_FAILED');
  });

  it('kills a transcription that outlives its budget with MEDIA_TIMEOUT', async () => {
    // A process that was not killed would run past the test timeout (and then succeed).
    const fake = makeFakeWhisper(await sub('slow'), { sleepSeconds: 120 });
    const err = await new WhisperCppEngine({ bin: fake.bin, model: fake.model })
      .transcribe('/tmp/a.wav', { timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_TIMEOUT');
  });
});

describe('engine availability', () => {
  it('is unavailable with a typed error when WHISPER_CPP_BIN is unset', async () => {
    const engine = WhisperCppEngine.fromEnv({ WHISPER_MODEL: '/models/ggml-base.bin' });
    const err = await engine.transcribe('/tmp/a.wav', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineUnavailableError);
    expect((err as EngineUnavailableError).code).toBe('ENGINE_UNAVAILABLE');
    expect((err as Error).message).toContain('WHISPER_CPP_BIN');
  });

  it('is unavailable when WHISPER_MODEL is unset', async () => {
    const fake = makeFakeWhisper(await sub('nomodel'));
    const err = await WhisperCppEngine.fromEnv({ WHISPER_CPP_BIN: fake.bin })
      .check()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineUnavailableError);
    expect((err as Error).message).toContain('WHISPER_MODEL');
  });

  it('is unavailable when the binary or the model file does not exist', async () => {
    const fake = makeFakeWhisper(await sub('missing'));
    const noBin = new WhisperCppEngine({ bin: join(dir, 'nope'), model: fake.model });
    const noModel = new WhisperCppEngine({ bin: fake.bin, model: join(dir, 'nope.bin') });
    await expect(noBin.check()).rejects.toBeInstanceOf(EngineUnavailableError);
    await expect(noModel.check()).rejects.toBeInstanceOf(EngineUnavailableError);
  });

  it('is available when both exist', async () => {
    const fake = makeFakeWhisper(await sub('ok'));
    await expect(
      WhisperCppEngine.fromEnv({ WHISPER_CPP_BIN: fake.bin, WHISPER_MODEL: fake.model }).check(),
    ).resolves.toBeUndefined();
  });
});

describe('whisper.cpp JSON output', () => {
  it('joins segment texts and reads the detected language', () => {
    const raw = whisperJson([' Xin chào,', ' tôi muốn đặt hàng.'], 'vi');
    expect(parseWhisperJson(raw)).toEqual({ text: 'Xin chào, tôi muốn đặt hàng.', language: 'vi' });
  });

  it('drops non-speech markers such as [BLANK_AUDIO]', () => {
    expect(parseWhisperJson(whisperJson([' [BLANK_AUDIO]'])).text).toBe('');
    expect(parseWhisperJson(whisperJson([' Hi.', ' [MUSIC]', ' Bye.'])).text).toBe('Hi. Bye.');
  });

  it('keeps quotes and backslashes that whisper.cpp escaped', () => {
    expect(parseWhisperJson(whisperJson([' He said "hi" \\o/'])).text).toBe('He said "hi" \\o/');
  });

  it('tolerates raw control characters inside segment text (whisper.cpp does not escape them)', () => {
    const raw = whisperJson([' line one\nline\ttwo']);
    expect(() => JSON.parse(raw)).toThrow();
    expect(parseWhisperJson(raw).text).toBe('line one line two');
  });

  it('rejects output that is not whisper.cpp JSON', () => {
    expect(() => parseWhisperJson('not json')).toThrow(MediaError);
    expect(() => parseWhisperJson('{"result":{}}')).toThrow(/transcription/);
  });
});
