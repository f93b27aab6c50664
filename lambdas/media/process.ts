/**
 * One media job, start to finish, without queue concerns: download → probe → audio to 16 kHz
 * mono WAV → transcript, or video → keyframes in S3 (+ the transcript of its audio track).
 * Typed media failures come back as an outcome with `error`; only failures worth retrying
 * (a dependency such as S3 or Secrets Manager) are thrown.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiBases } from '../channels/endpoints.js';
import { ChatRelayError, DependencyError, EngineUnavailableError, MediaError } from '../shared/errors.js';
import { sha256Hex } from '../shared/keys.js';
import type { MediaJob, MediaResult } from '../shared/model.js';
import { logger } from '../shared/powertools.js';
import type { TenantDocument } from '../shared/tenant.js';
import { downloadAttachment } from './download.js';
import type { TranscriptionEngine } from './engine.js';
import { extractKeyframes, normaliseAudio, type ProbeInfo, probeMedia } from './ffmpeg.js';
import { readWavInfo } from './wav.js';

/** Longest transcript kept (the memory table item and the event must stay small). */
export const MAX_TRANSCRIPT_CHARS = 50_000;

/** Stores one keyframe; returns nothing, throws a DependencyError on failure. */
export type PutObject = (key: string, body: Buffer, contentType: string) => Promise<void>;

/** What the processor needs from the outside world. */
export interface ProcessDeps {
  readonly engine: TranscriptionEngine;
  readonly putObject: PutObject;
  readonly loadTenant: (tenantId: string) => Promise<TenantDocument>;
  readonly maxBytes: number;
  readonly keyframeCount: number;
  readonly bases?: ApiBases;
  /** Download budget. @default 60000 */
  readonly downloadTimeoutMs?: number;
  /** Budget of each ffmpeg step. @default 120000 */
  readonly ffmpegTimeoutMs?: number;
  /** Budget of a transcription. @default 600000 */
  readonly transcribeTimeoutMs?: number;
  /** Where temporary files go. @default os.tmpdir() */
  readonly workDir?: string;
}

/** The result of one job: `result`, `error`, or both (a video with keyframes but no transcript). */
export interface MediaOutcome {
  /** What the file turned out to be (`audio` for a video attachment without a picture). */
  readonly kind: 'audio' | 'video';
  readonly result?: MediaResult;
  readonly error?: { readonly code: string; readonly message: string };
}

/** `media/{tenantId}/{sha256(conversationKey)[:32]}/{messageId}/{attachmentIndex}/` — no PII in keys. */
export function mediaKeyPrefix(job: MediaJob): string {
  const conversation = sha256Hex(job.conversationKey).slice(0, 32);
  const message = /^[A-Za-z0-9._=-]{1,100}$/.test(job.messageId)
    ? job.messageId
    : `h-${sha256Hex(job.messageId).slice(0, 32)}`;
  return `media/${job.tenantId}/${conversation}/${message}/${job.attachmentIndex}/`;
}

/** Log keys of a job (never a token, never a URL). */
export function jobLogKeys(job: MediaJob): Record<string, string | number> {
  return {
    tenant: job.tenantId,
    channel: job.channel,
    conversation: job.conversationKey,
    messageId: job.messageId,
    turnId: job.turnId,
    attachmentIndex: job.attachmentIndex,
  };
}

/** Removes URLs and bot tokens from text bound for a log line. */
export function redact(text: string): string {
  return text.replace(/https?:\/\/\S+/g, '<url>').replace(/\d{5,}:[A-Za-z0-9_-]{20,}/g, '<token>');
}

function asError(err: unknown): { code: string; message: string } {
  if (err instanceof ChatRelayError) return { code: err.code, message: err.message };
  return { code: 'MEDIA_FAILED', message: 'The media could not be processed.' };
}

function clip(text: string): string {
  return text.length > MAX_TRANSCRIPT_CHARS ? `${text.slice(0, MAX_TRANSCRIPT_CHARS - 1)}…` : text;
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

/**
 * Processes one job. `signal` aborts everything in progress (child processes are killed)
 * and the abort reason is rethrown.
 * @throws DependencyError when a dependency failed and the job should be retried
 */
export async function processMediaJob(
  job: MediaJob,
  deps: ProcessDeps,
  signal?: AbortSignal,
): Promise<MediaOutcome> {
  const declaredKind: 'audio' | 'video' = job.attachment.kind === 'video' ? 'video' : 'audio';
  const runOpts = { timeoutMs: deps.ffmpegTimeoutMs ?? 120_000, ...(signal ? { signal } : {}) };
  const transcribeOpts = {
    timeoutMs: deps.transcribeTimeoutMs ?? 600_000,
    ...(job.language ? { language: job.language } : {}),
    ...(signal ? { signal } : {}),
  };

  // A voice note with no engine is answered before it is downloaded.
  if (declaredKind === 'audio' && deps.engine.check) {
    try {
      await deps.engine.check();
    } catch (err) {
      if (err instanceof EngineUnavailableError) return { kind: 'audio', error: asError(err) };
      throw err;
    }
  }

  const dir = await mkdtemp(join(deps.workDir ?? tmpdir(), 'chat-relay-media-'));
  let kind = declaredKind;
  try {
    const input = join(dir, 'input');
    await downloadAttachment(job, input, {
      maxBytes: deps.maxBytes,
      timeoutMs: deps.downloadTimeoutMs ?? 60_000,
      loadTenant: deps.loadTenant,
      ...(deps.bases ? { bases: deps.bases } : {}),
      ...(signal ? { signal } : {}),
    });
    const probe: ProbeInfo = await probeMedia(input, runOpts);
    kind = probe.video ? 'video' : 'audio';

    const result: { transcript?: MediaResult['transcript']; keyframes?: string[]; durationSec?: number } = {};
    let partialError: { code: string; message: string } | undefined;
    if (probe.durationSec !== undefined) result.durationSec = round(probe.durationSec);

    if (probe.video) {
      const frames = await extractKeyframes(input, dir, probe, { ...runOpts, count: deps.keyframeCount });
      const prefix = mediaKeyPrefix(job);
      const keys: string[] = [];
      for (const [i, frame] of frames.entries()) {
        const key = `${prefix}keyframe-${i}.jpg`;
        await deps.putObject(key, await readFile(frame.file), 'image/jpeg');
        keys.push(key);
      }
      result.keyframes = keys;
    }

    if (probe.audio) {
      const wav = join(dir, 'audio.wav');
      try {
        await normaliseAudio(input, wav, runOpts);
        const info = await readWavInfo(wav);
        const audioDuration = round(info.durationSec);
        result.durationSec ??= audioDuration;
        const transcription = await deps.engine.transcribe(wav, transcribeOpts);
        result.transcript = {
          text: clip(transcription.text),
          ...(transcription.language ? { language: transcription.language } : {}),
          durationSec: audioDuration,
        };
      } catch (err) {
        // Keyframes already made are worth keeping; a voice note without a transcript is a failure.
        if (!probe.video || err instanceof DependencyError || signal?.aborted) throw err;
        partialError = asError(err);
      }
    }
    return { kind, result, ...(partialError ? { error: partialError } : {}) };
  } catch (err) {
    if (signal?.aborted) throw signal.reason ?? err;
    if (err instanceof DependencyError) throw err;
    if (err instanceof MediaError || err instanceof EngineUnavailableError)
      return { kind, error: asError(err) };
    // A bug, not a media problem: it would fail again, so report it rather than retry.
    logger.error('Unexpected media processing error', {
      ...jobLogKeys(job),
      errorName: (err as Error)?.name,
      errorMessage: redact(String((err as Error)?.message ?? err)),
    });
    return { kind, error: asError(err) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
