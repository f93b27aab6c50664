/**
 * Transcription engines. The worker depends only on {@link TranscriptionEngine}; whisper.cpp
 * (`whisper-cli`) is the default implementation. When `WHISPER_CPP_BIN` or `WHISPER_MODEL`
 * is unset or points nowhere, the engine throws `EngineUnavailableError`, the job answers
 * `media-ready` with that typed error and the turn goes on with a marker.
 */
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENV } from '../shared/env.js';
import { EngineUnavailableError, MediaError } from '../shared/errors.js';
import { runChild } from './child.js';

/** Options of one transcription. */
export interface TranscribeOptions {
  /** BCP-47 language (`vi`, `en-US`…) or `auto` / undefined for detection. */
  readonly language?: string;
  readonly signal?: AbortSignal;
  /** @default 600000 */
  readonly timeoutMs?: number;
}

/** What an engine returns. */
export interface Transcription {
  readonly text: string;
  /** ISO 639-1 code of the (detected or given) language. */
  readonly language?: string;
}

/** A speech-to-text engine working on a 16 kHz mono PCM s16le WAV file. */
export interface TranscriptionEngine {
  /** Short name for logs and docs (`whisper.cpp`, `transcribe`…). */
  readonly name: string;
  /**
   * Throws `EngineUnavailableError` when the engine cannot run at all, so a voice note is
   * answered before it is even downloaded. Optional.
   */
  check?(): Promise<void>;
  /**
   * Transcribes `wavPath`.
   * @throws EngineUnavailableError when the engine is not configured
   * @throws MediaError MEDIA_TIMEOUT or MEDIA_FAILED when it ran and failed
   */
  transcribe(wavPath: string, options: TranscribeOptions): Promise<Transcription>;
}

/**
 * The whisper.cpp language argument for a tenant language: the primary subtag of a BCP-47 tag
 * (`vi-VN` → `vi`), `auto` when unset or not a language code.
 */
export function whisperLanguage(language: string | undefined): string {
  if (!language) return 'auto';
  const primary = language.trim().toLowerCase().split(/[-_]/)[0] ?? '';
  return /^[a-z]{2,3}$/.test(primary) ? primary : 'auto';
}

/** Settings of the whisper.cpp adapter. */
export interface WhisperCppOptions {
  /** Path of `whisper-cli`. */
  readonly bin: string | undefined;
  /** Path of the ggml model file (`ggml-base.bin`…). */
  readonly model: string | undefined;
  /** Threads (`-t`). @default min(available CPUs, 8) */
  readonly threads?: number;
  /** Extra arguments appended before the input file (e.g. `['-bs', '1']` for speed). */
  readonly extraArgs?: readonly string[];
}

/** Builds the `whisper-cli` argument list. Exported for tests and the docs. */
export function whisperArgs(
  options: { model: string; threads: number; extraArgs?: readonly string[] },
  wavPath: string,
  outputBase: string,
  language: string,
): string[] {
  return [
    '-m',
    options.model,
    '-f',
    wavPath,
    '-l',
    language,
    '-t',
    String(options.threads),
    '-np',
    '-oj',
    '-of',
    outputBase,
    ...(options.extraArgs ?? []),
  ];
}

// whisper.cpp writes segment text as-is apart from `"` and `\`: a control character inside a
// string makes the file invalid JSON. Escape those (inside strings only) before parsing.
function sanitiseJson(text: string): string {
  let out = '';
  let inString = false;
  let escaped = false;
  for (const ch of text) {
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      else if (ch < ' ') {
        out += `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
        continue;
      }
    } else if (ch === '"') inString = true;
    out += ch;
  }
  return out;
}

/** Non-speech markers whisper.cpp emits as whole segments (`[BLANK_AUDIO]`, `[MUSIC]`…). */
const MARKER_SEGMENT = /^\s*[[(][A-Z _-]+[\])]\s*$/;

/**
 * Parses the JSON whisper.cpp writes with `-oj`: `result.language` and `transcription[].text`.
 * Segments are joined with single spaces; non-speech markers are dropped.
 * @throws MediaError MEDIA_FAILED when the document is not whisper.cpp JSON
 */
export function parseWhisperJson(raw: string): Transcription {
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    try {
      doc = JSON.parse(sanitiseJson(raw));
    } catch (err) {
      throw new MediaError('MEDIA_FAILED', 'whisper.cpp wrote output that is not JSON.', { cause: err });
    }
  }
  const record = doc as { transcription?: unknown; result?: { language?: unknown } };
  if (typeof doc !== 'object' || doc === null || !Array.isArray(record.transcription)) {
    throw new MediaError('MEDIA_FAILED', 'whisper.cpp output has no "transcription" array.');
  }
  const parts: string[] = [];
  for (const segment of record.transcription as unknown[]) {
    const text = (segment as { text?: unknown } | null)?.text;
    if (typeof text !== 'string' || MARKER_SEGMENT.test(text)) continue;
    const trimmed = text.replace(/\s+/g, ' ').trim();
    if (trimmed) parts.push(trimmed);
  }
  const language = record.result?.language;
  return {
    text: parts.join(' '),
    ...(typeof language === 'string' && language ? { language } : {}),
  };
}

/** The whisper.cpp adapter: runs `whisper-cli` and reads its JSON output file. */
export class WhisperCppEngine implements TranscriptionEngine {
  readonly name = 'whisper.cpp';
  private readonly options: WhisperCppOptions;
  private checked: Promise<void> | undefined;

  constructor(options: WhisperCppOptions) {
    this.options = options;
  }

  /** Builds the adapter from `WHISPER_CPP_BIN` and `WHISPER_MODEL`. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): WhisperCppEngine {
    return new WhisperCppEngine({
      bin: env[ENV.whisperCppBin] || undefined,
      model: env[ENV.whisperModel] || undefined,
    });
  }

  check(): Promise<void> {
    // A failed check is not cached: the operator may install the binary without a restart.
    this.checked ??= this.verify().catch((err: unknown) => {
      this.checked = undefined;
      throw err;
    });
    return this.checked;
  }

  private async verify(): Promise<void> {
    const { bin, model } = this.options;
    if (!bin) throw new EngineUnavailableError(`No transcription engine: ${ENV.whisperCppBin} is not set.`);
    if (!model) throw new EngineUnavailableError(`No transcription engine: ${ENV.whisperModel} is not set.`);
    try {
      await access(bin, constants.X_OK);
    } catch (err) {
      throw new EngineUnavailableError(`whisper.cpp binary "${bin}" is missing or not executable.`, {
        cause: err,
      });
    }
    try {
      await access(model, constants.R_OK);
    } catch (err) {
      throw new EngineUnavailableError(`whisper.cpp model "${model}" is missing or unreadable.`, {
        cause: err,
      });
    }
  }

  async transcribe(wavPath: string, options: TranscribeOptions = {}): Promise<Transcription> {
    await this.check();
    const bin = this.options.bin as string;
    const model = this.options.model as string;
    const threads = this.options.threads ?? Math.max(1, Math.min(availableParallelism(), 8));
    const dir = await mkdtemp(join(tmpdir(), 'chat-relay-whisper-'));
    const outputBase = join(dir, 'out');
    try {
      const args = whisperArgs(
        { model, threads, ...(this.options.extraArgs ? { extraArgs: this.options.extraArgs } : {}) },
        wavPath,
        outputBase,
        whisperLanguage(options.language),
      );
      await runProcess(bin, args, options.timeoutMs ?? 600_000, options.signal);
      let raw: string;
      try {
        raw = await readFile(`${outputBase}.json`, 'utf8');
      } catch (err) {
        throw new MediaError('MEDIA_FAILED', 'whisper.cpp exited without writing its JSON output.', {
          cause: err,
        });
      }
      return parseWhisperJson(raw);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

async function runProcess(
  bin: string,
  args: readonly string[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const result = await runChild(bin, args, { timeoutMs, ...(signal ? { signal } : {}) });
  switch (result.kind) {
    case 'aborted':
      throw result.reason instanceof Error ? result.reason : new MediaError('MEDIA_FAILED', 'Aborted.');
    case 'spawn-error':
      throw new EngineUnavailableError(
        `whisper.cpp could not be started (${result.error.code ?? result.error.message}).`,
        { cause: result.error },
      );
    case 'timeout':
      throw new MediaError('MEDIA_TIMEOUT', `whisper.cpp took longer than ${timeoutMs} ms.`);
    case 'exit':
      if (result.code !== 0) {
        const line = result.stderr.trim().split(/\r?\n/).pop()?.slice(0, 200) ?? '';
        throw new MediaError(
          'MEDIA_FAILED',
          `whisper.cpp failed with exit code ${result.code}${line ? `: ${line}` : ''}.`,
        );
      }
  }
}
