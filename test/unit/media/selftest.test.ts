import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WhisperCppEngine } from '../../../lambdas/media/engine.js';
import { selfTest } from '../../../lambdas/media/selftest.js';
import { makeFakeWhisper, whisperJson } from '../../helpers/fake-whisper.js';
import { makeTone } from './media-fixtures.js';

let dir: string;
let sample: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'media-selftest-'));
  sample = makeTone(dir, 1, 'sample.wav');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('image build self-test', () => {
  it('normalises the sample and returns the transcript', async () => {
    const fake = makeFakeWhisper(await mkdtemp(join(dir, 'ok-')));
    const text = await selfTest(sample, 'en', new WhisperCppEngine({ bin: fake.bin, model: fake.model }));
    expect(text).toBe('Hello world.');
  });

  it('fails on an empty transcript', async () => {
    const fake = makeFakeWhisper(await mkdtemp(join(dir, 'empty-')), {
      output: whisperJson([' [BLANK_AUDIO]']),
    });
    await expect(
      selfTest(sample, 'en', new WhisperCppEngine({ bin: fake.bin, model: fake.model })),
    ).rejects.toThrow(/empty transcript/);
  });

  it('fails when no engine is configured', async () => {
    await expect(
      selfTest(sample, 'en', new WhisperCppEngine({ bin: undefined, model: undefined })),
    ).rejects.toThrow(/WHISPER_CPP_BIN/);
  });
});
