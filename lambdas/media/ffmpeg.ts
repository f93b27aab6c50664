/**
 * ffmpeg as a child process: locating the binary, running it under a timeout and an abort
 * signal, probing inputs (there is no ffprobe in the npm build, so `ffmpeg -i` stderr is
 * parsed), normalising audio to 16 kHz mono PCM WAV and extracting keyframes. Errors come out
 * as `MediaError`s: `MEDIA_CORRUPT` when ffmpeg cannot read the input, `MEDIA_TIMEOUT` when a
 * step outlives its budget, `MEDIA_FAILED` for anything else.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ENV } from '../shared/env.js';
import { MediaError } from '../shared/errors.js';
import { runChild } from './child.js';

/** How much of ffmpeg's stderr is kept (the tail, where the errors are). */
const STDERR_KEEP = 4 * 1024 * 1024;

/**
 * The ffmpeg binary: `FFMPEG_PATH` when set, else the `@ffmpeg-installer/ffmpeg` binary when
 * that (development) package is installed, else `ffmpeg` on the PATH (the container).
 */
export function ffmpegPath(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env[ENV.ffmpegPath];
  if (configured) return configured;
  try {
    // A runtime require the bundler leaves alone: the package is a dev dependency only.
    const load = createRequire(import.meta.url);
    const installer = load('@ffmpeg-installer/ffmpeg') as { path?: string };
    if (installer.path && existsSync(installer.path)) return installer.path;
  } catch {
    // not installed: fall through to the PATH
  }
  return 'ffmpeg';
}

/** Options of one ffmpeg run. */
export interface RunOptions {
  /** Aborts the run (the child is killed). */
  readonly signal?: AbortSignal;
  /** Kill the child after this long. @default 120000 */
  readonly timeoutMs?: number;
  /** Exit codes that count as success. @default [0] */
  readonly okCodes?: readonly number[];
  /** The binary. @default ffmpegPath() */
  readonly bin?: string;
}

/** What an ffmpeg run left behind. */
export interface RunResult {
  readonly code: number;
  readonly stderr: string;
}

/** Runs ffmpeg with `args` (stdin closed, stdout discarded), resolving with its stderr. */
export async function runFfmpeg(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const okCodes = options.okCodes ?? [0];
  const bin = options.bin ?? ffmpegPath();
  const result = await runChild(bin, ['-nostdin', '-hide_banner', ...args], {
    timeoutMs,
    stderrKeep: STDERR_KEEP,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  switch (result.kind) {
    case 'aborted':
      throw abortError(result.reason);
    case 'spawn-error':
      throw new MediaError(
        'MEDIA_FAILED',
        result.error.code === 'ENOENT'
          ? `ffmpeg was not found at "${bin}" (set ${ENV.ffmpegPath}).`
          : `ffmpeg could not be started: ${result.error.message}`,
        { cause: result.error },
      );
    case 'timeout':
      throw new MediaError('MEDIA_TIMEOUT', `ffmpeg took longer than ${timeoutMs} ms.`);
    case 'exit':
      if (result.code !== null && okCodes.includes(result.code))
        return { code: result.code, stderr: result.stderr };
      throw ffmpegFailure(result.code, result.stderr);
  }
  throw new MediaError('MEDIA_FAILED', 'ffmpeg ended in an unknown way.');
}

function abortError(reason: unknown): Error {
  return reason instanceof Error ? reason : new MediaError('MEDIA_FAILED', 'The media job was aborted.');
}

const CORRUPT_PATTERNS = [
  /Invalid data found when processing input/i,
  /moov atom not found/i,
  /could not find codec parameters/i,
  /Invalid argument/i,
  /does not contain any stream/i,
  /Output file #\d+ does not contain any stream/i,
  /Stream map '.*' matches no streams/i,
  /Error while decoding/i,
  /header missing/i,
];

/** The last meaningful stderr line, for an error message (never contains a URL: inputs are local files). */
function lastLine(stderr: string): string {
  const lines = stderr
    .split(/[\r\n]+/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('frame=') && !l.startsWith('size='));
  return (lines[lines.length - 1] ?? '').slice(0, 200);
}

function ffmpegFailure(code: number | null, stderr: string): MediaError {
  const line = lastLine(stderr);
  if (CORRUPT_PATTERNS.some((p) => p.test(stderr))) {
    return new MediaError(
      'MEDIA_CORRUPT',
      `The media file could not be decoded (${line || `exit ${code}`}).`,
    );
  }
  return new MediaError('MEDIA_FAILED', `ffmpeg failed with exit code ${code}${line ? `: ${line}` : ''}.`);
}

// ---------------------------------------------------------------------------------------------
// Probing
// ---------------------------------------------------------------------------------------------

/** What `ffmpeg -i` says about an input. */
export interface ProbeInfo {
  /** Container duration in seconds, when known. */
  readonly durationSec: number | undefined;
  /** Start time of the container in seconds (non-zero for MPEG-TS and some WebM). */
  readonly startSec: number;
  /** The first real video stream (cover art / attached pictures do not count). */
  readonly video: { readonly codec: string; readonly width: number; readonly height: number } | undefined;
  /** The first audio stream. */
  readonly audio: { readonly codec: string; readonly sampleRate: number | undefined } | undefined;
  readonly format: string | undefined;
}

/** Parses the stderr of `ffmpeg -i <file>` into {@link ProbeInfo}. Exported for tests. */
export function parseProbe(stderr: string): ProbeInfo {
  const format = /^Input #0, ([^,]+(?:,[^ ]+)*), from/m.exec(stderr)?.[1];
  const durationMatch = /Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(stderr);
  const durationSec = durationMatch
    ? Number(durationMatch[1]) * 3600 + Number(durationMatch[2]) * 60 + Number(durationMatch[3])
    : undefined;
  const startMatch = /start: (-?\d+(?:\.\d+)?)/.exec(stderr);
  const startSec = startMatch ? Number(startMatch[1]) : 0;

  let video: ProbeInfo['video'];
  let audio: ProbeInfo['audio'];
  for (const line of stderr.split(/\r?\n/)) {
    const stream = /Stream #\d+:\d+.*?: (Video|Audio): (.*)$/.exec(line);
    if (!stream) continue;
    const [, type, rest = ''] = stream;
    const codec = rest.split(/[ ,]/)[0] ?? 'unknown';
    if (type === 'Video' && video === undefined && !/attached pic/.test(rest)) {
      const size = /, (\d{2,5})x(\d{2,5})[ ,]/.exec(`${rest},`);
      if (size) video = { codec, width: Number(size[1]), height: Number(size[2]) };
    } else if (type === 'Audio' && audio === undefined) {
      const rate = /(\d+) Hz/.exec(rest);
      audio = { codec, sampleRate: rate ? Number(rate[1]) : undefined };
    }
  }
  return { durationSec, startSec, video, audio, format };
}

/**
 * Probes `file`. ffmpeg exits 1 when given no output; that is expected here.
 * @throws MediaError MEDIA_CORRUPT when ffmpeg cannot read the file or finds no audio or video
 */
export async function probeMedia(file: string, options: RunOptions = {}): Promise<ProbeInfo> {
  const { stderr } = await runFfmpeg(['-i', file], { timeoutMs: 30_000, ...options, okCodes: [0, 1] });
  if (!/^Input #0/m.test(stderr)) {
    throw new MediaError('MEDIA_CORRUPT', `The media file could not be read (${lastLine(stderr)}).`);
  }
  const info = parseProbe(stderr);
  if (!info.video && !info.audio) {
    throw new MediaError('MEDIA_CORRUPT', 'The media file has no audio or video stream.');
  }
  return info;
}

// ---------------------------------------------------------------------------------------------
// Audio
// ---------------------------------------------------------------------------------------------

/** Sample rate whisper.cpp expects. */
export const WHISPER_SAMPLE_RATE = 16_000;

/**
 * Converts the first audio stream of `input` to 16 kHz mono PCM s16le WAV at `output`
 * (no metadata chunks, so the header is the canonical 44 bytes).
 */
export async function normaliseAudio(input: string, output: string, options: RunOptions = {}): Promise<void> {
  await runFfmpeg(
    [
      '-loglevel',
      'error',
      '-y',
      '-i',
      input,
      '-map',
      '0:a:0',
      '-vn',
      '-sn',
      '-dn',
      '-ac',
      '1',
      '-ar',
      String(WHISPER_SAMPLE_RATE),
      '-c:a',
      'pcm_s16le',
      '-map_metadata',
      '-1',
      '-fflags',
      '+bitexact',
      '-flags:a',
      '+bitexact',
      '-f',
      'wav',
      output,
    ],
    options,
  );
}

// ---------------------------------------------------------------------------------------------
// Keyframes
// ---------------------------------------------------------------------------------------------

/** A scene change found by ffmpeg's `select='gt(scene,T)'`. */
export interface SceneChange {
  /** Seconds from the start of the stream. */
  readonly timeSec: number;
  readonly score: number;
}

/** Parses `metadata=print` output (pts_time lines followed by `lavfi.scene_score=`). Exported for tests. */
export function parseSceneChanges(stderr: string, startSec = 0): SceneChange[] {
  const changes: SceneChange[] = [];
  let pending: number | undefined;
  for (const line of stderr.split(/\r?\n/)) {
    const time = /pts_time:(-?\d+(?:\.\d+)?)/.exec(line);
    if (time) {
      pending = Number(time[1]) - startSec;
      continue;
    }
    const score = /lavfi\.scene_score=(\d+(?:\.\d+)?)/.exec(line);
    if (score && pending !== undefined) {
      changes.push({ timeSec: Math.max(0, pending), score: Number(score[1]) });
      pending = undefined;
    }
  }
  return changes;
}

/** Where a keyframe came from. */
export type KeyframeSource = 'scene' | 'uniform';

/** A keyframe time chosen for extraction. */
export interface PlannedKeyframe {
  readonly timeSec: number;
  readonly source: KeyframeSource;
}

/**
 * Chooses `count` frame times for a video of `durationSec` with the given scene changes.
 * Scene changes cut the video into segments; the `count` longest segments each get a frame in
 * their middle; when there are fewer segments than `count`, the remaining frames go to the
 * segments with the widest spacing, evenly inside them (no cut at all gives uniform frames).
 * Times closer than `minGapSec` collapse into one. Sorted by time.
 */
export function planKeyframes(
  durationSec: number,
  scenes: readonly SceneChange[],
  count: number,
  minGapSec = 0.1,
): PlannedKeyframe[] {
  if (count <= 0 || !(durationSec > 0)) return [];
  const cuts = [
    ...new Set(scenes.map((s) => s.timeSec).filter((t) => t > minGapSec && t < durationSec - minGapSec)),
  ].sort((a, b) => a - b);
  const bounds = [0, ...cuts, durationSec];
  let segments = bounds.slice(0, -1).map((start, i) => ({ start, end: bounds[i + 1] as number, frames: 1 }));
  if (segments.length > count) {
    segments = [...segments]
      .sort((a, b) => b.end - b.start - (a.end - a.start))
      .slice(0, count)
      .sort((a, b) => a.start - b.start);
  }
  let total = segments.length;
  while (total < count) {
    let best = segments[0]!;
    for (const s of segments) {
      if ((s.end - s.start) / (s.frames + 1) > (best.end - best.start) / (best.frames + 1)) best = s;
    }
    best.frames += 1;
    total += 1;
  }
  const planned: PlannedKeyframe[] = [];
  for (const s of segments) {
    const len = s.end - s.start;
    for (let j = 0; j < s.frames; j += 1) {
      const timeSec = s.start + (len * (j + 0.5)) / s.frames;
      // With cuts, each scene's first frame stands for that scene (the opening one included).
      const source: KeyframeSource = bounds.length > 2 && j === 0 ? 'scene' : 'uniform';
      planned.push({ timeSec, source });
    }
  }
  planned.sort((a, b) => a.timeSec - b.timeSec);
  const result: PlannedKeyframe[] = [];
  for (const p of planned) {
    const prev = result[result.length - 1];
    if (prev === undefined || p.timeSec - prev.timeSec >= minGapSec) result.push(p);
  }
  return result;
}

/** Options of {@link extractKeyframes}. */
export interface KeyframeOptions extends RunOptions {
  /** How many frames. @default 4 */
  readonly count?: number;
  /** Scene-change threshold of ffmpeg's scene score (0–1). @default 0.3 */
  readonly sceneThreshold?: number;
  /** Longest side of the JPEGs in pixels (never upscaled). @default 1024 */
  readonly maxSide?: number;
}

/** One extracted keyframe. */
export interface Keyframe extends PlannedKeyframe {
  readonly file: string;
}

/** Finds scene changes in the first video stream (decoded at low resolution: only scores matter). */
export async function detectScenes(
  input: string,
  probe: ProbeInfo,
  options: KeyframeOptions = {},
): Promise<SceneChange[]> {
  const threshold = options.sceneThreshold ?? 0.3;
  const { stderr } = await runFfmpeg(
    [
      '-i',
      input,
      '-map',
      '0:v:0',
      '-an',
      '-sn',
      '-dn',
      '-vf',
      `scale=160:-2,select='gt(scene,${threshold})',metadata=print`,
      '-f',
      'null',
      '-',
    ],
    options,
  );
  return parseSceneChanges(stderr, probe.startSec);
}

/** Measures a duration the container does not state by demuxing to the null muxer (no decoding). */
async function measureDuration(input: string, options: RunOptions): Promise<number | undefined> {
  const { stderr } = await runFfmpeg(
    ['-i', input, '-map', '0:v:0', '-c', 'copy', '-f', 'null', '-'],
    options,
  );
  const times = [...stderr.matchAll(/time=(\d+):(\d{2}):(\d{2}(?:\.\d+)?)/g)];
  const last = times[times.length - 1];
  if (!last) return undefined;
  return Number(last[1]) * 3600 + Number(last[2]) * 60 + Number(last[3]);
}

/**
 * Extracts keyframes of the first video stream of `input` as JPEGs in `outDir`: scene changes
 * first, uniform frames to make up `count`. One ffmpeg pass scores scenes at 160 px; a second
 * seeks to each chosen time (input seeking, one process for all frames) and writes the JPEGs.
 */
export async function extractKeyframes(
  input: string,
  outDir: string,
  probe: ProbeInfo,
  options: KeyframeOptions = {},
): Promise<Keyframe[]> {
  if (!probe.video) throw new MediaError('MEDIA_CORRUPT', 'The media file has no video stream.');
  const count = options.count ?? 4;
  const maxSide = options.maxSide ?? 1024;
  const scenes = await detectScenes(input, probe, options);
  const durationSec = probe.durationSec ?? (await measureDuration(input, options));
  if (!durationSec || durationSec <= 0) {
    throw new MediaError('MEDIA_CORRUPT', 'The video has no measurable duration.');
  }
  // Keep seeks inside the stream: the last frame may end a little before the container does.
  const lastSafe = Math.max(0, durationSec - 0.05);
  const plan = planKeyframes(durationSec, scenes, count).map((p) => ({
    ...p,
    timeSec: Math.min(p.timeSec, lastSafe),
  }));
  const factor = Math.min(1, maxSide / Math.max(probe.video.width, probe.video.height));
  const scale = `scale=trunc(iw*${factor.toFixed(6)}/2)*2:trunc(ih*${factor.toFixed(6)}/2)*2`;
  const args: string[] = ['-loglevel', 'error', '-y'];
  for (const p of plan) args.push('-ss', p.timeSec.toFixed(3), '-i', input);
  const frames: Keyframe[] = plan.map((p, i) => ({ ...p, file: join(outDir, `keyframe-${i}.jpg`) }));
  frames.forEach((f, i) => {
    args.push(
      '-map',
      `${i}:v:0`,
      '-frames:v',
      '1',
      '-vf',
      scale,
      '-q:v',
      '3',
      '-f',
      'image2',
      '-update',
      '1',
      f.file,
    );
  });
  await runFfmpeg(args, options);
  // A seek past the last decodable frame writes nothing: keep what exists.
  return frames.filter((f) => existsSync(f.file));
}
