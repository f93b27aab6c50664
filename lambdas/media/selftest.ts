/**
 * Build-time self-test of the media image: `node selftest.mjs <audio file> [language]`
 * normalises the file with ffmpeg exactly as the worker does, transcribes it with the
 * configured whisper.cpp engine, prints the transcript as JSON and exits 1 when the
 * transcript is empty (or anything fails), so a broken image never ships.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WhisperCppEngine } from './engine.js';
import { normaliseAudio, WHISPER_SAMPLE_RATE } from './ffmpeg.js';
import { readWavInfo } from './wav.js';

/** Runs the self-test; resolves with the transcript text. */
export async function selfTest(
  input: string,
  language = 'en',
  engine = WhisperCppEngine.fromEnv(),
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'chat-relay-selftest-'));
  try {
    const wav = join(dir, 'sample.wav');
    await normaliseAudio(input, wav);
    const info = await readWavInfo(wav);
    if (info.sampleRate !== WHISPER_SAMPLE_RATE || info.channels !== 1 || info.bitsPerSample !== 16) {
      throw new Error(`ffmpeg wrote ${info.sampleRate} Hz / ${info.channels} ch / ${info.bitsPerSample} bit`);
    }
    const result = await engine.transcribe(wav, { language, timeoutMs: 300_000 });
    if (result.text.trim() === '') throw new Error('whisper.cpp returned an empty transcript');
    return result.text;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const [input, language] = process.argv.slice(2);
const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain && input) {
  try {
    const text = await selfTest(input, language);
    console.log(JSON.stringify({ ok: true, transcript: text }));
  } catch (err) {
    console.error(JSON.stringify({ ok: false, error: (err as Error).message }));
    process.exitCode = 1;
  }
}
