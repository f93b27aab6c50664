import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  extractKeyframes,
  ffmpegPath,
  normaliseAudio,
  parseProbe,
  parseSceneChanges,
  planKeyframes,
  probeMedia,
} from '../../../lambdas/media/ffmpeg.js';
import { parseWavHeader, readWavInfo } from '../../../lambdas/media/wav.js';
import { MediaError } from '../../../lambdas/shared/errors.js';
import {
  averageColour,
  jpegDimensions,
  makeThreeSceneVideo,
  makeTone,
  makeVideoWithTone,
} from './media-fixtures.js';

let dir: string;
let video: string;
let scenes: string;
let voice: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'media-ffmpeg-test-'));
  video = makeVideoWithTone(dir, 6);
  scenes = makeThreeSceneVideo(dir, 2);
  voice = makeTone(dir, 3, 'voice.ogg');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function rawWavHeader(): Buffer {
  // Read independently of the worker: the canonical 44-byte header fields at fixed offsets.
  return readFileSync(join(dir, 'voice.wav')).subarray(0, 44);
}

describe('ffmpeg binary', () => {
  it('uses FFMPEG_PATH when it is set and the npm binary otherwise', () => {
    expect(ffmpegPath({ FFMPEG_PATH: '/opt/ffmpeg' })).toBe('/opt/ffmpeg');
    expect(ffmpegPath({})).toMatch(/@ffmpeg-installer.*ffmpeg$/);
  });
});

describe('probing', () => {
  it('finds the duration, the video size and the audio stream of a video with a tone', async () => {
    const info = await probeMedia(video);
    expect(info.durationSec).toBeGreaterThan(5.9);
    expect(info.durationSec).toBeLessThan(6.2);
    expect(info.video).toMatchObject({ codec: 'h264', width: 320, height: 240 });
    expect(info.audio?.codec).toBe('aac');
  });

  it('sees a voice note as audio only', async () => {
    const info = await probeMedia(voice);
    expect(info.video).toBeUndefined();
    expect(info.audio?.codec).toBe('opus');
  });

  it('ignores cover art when deciding whether a file is a video', () => {
    const stderr = [
      "Input #0, mp3, from 'x.mp3':",
      '  Duration: 00:03:01.50, start: 0.025057, bitrate: 320 kb/s',
      '    Stream #0:0: Audio: mp3, 44100 Hz, stereo, fltp, 320 kb/s',
      '    Stream #0:1: Video: mjpeg (Baseline), yuvj420p(pc), 500x500 [SAR 1:1 DAR 1:1], 90k tbr, 90k tbn (attached pic)',
    ].join('\n');
    const info = parseProbe(stderr);
    expect(info.video).toBeUndefined();
    expect(info.audio?.sampleRate).toBe(44100);
    expect(info.durationSec).toBeCloseTo(181.5, 3);
    expect(info.startSec).toBeCloseTo(0.025057, 6);
  });

  it('reports random bytes as a corrupt file with a typed error', async () => {
    const junk = join(dir, 'junk.mp4');
    writeFileSync(junk, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
    const err = await probeMedia(junk).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaError);
    expect((err as MediaError).code).toBe('MEDIA_CORRUPT');
  });

  it('reports a truncated video as corrupt', async () => {
    const cut = join(dir, 'cut.mp4');
    writeFileSync(cut, readFileSync(video).subarray(0, 2000));
    const err = await probeMedia(cut).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_CORRUPT');
  });
});

describe('audio normalisation', () => {
  it('writes 16 kHz mono PCM s16le WAV whatever the input', async () => {
    const out = join(dir, 'voice.wav');
    await normaliseAudio(voice, out);
    const header = rawWavHeader();
    expect(header.toString('ascii', 0, 4)).toBe('RIFF');
    expect(header.toString('ascii', 8, 16)).toBe('WAVEfmt ');
    expect(header.readUInt16LE(20)).toBe(1); // PCM
    expect(header.readUInt16LE(22)).toBe(1); // mono
    expect(header.readUInt32LE(24)).toBe(16_000);
    expect(header.readUInt16LE(34)).toBe(16); // s16
    expect(header.toString('ascii', 36, 40)).toBe('data');
    const info = await readWavInfo(out);
    expect(info).toMatchObject({ audioFormat: 1, channels: 1, sampleRate: 16_000, bitsPerSample: 16 });
    expect(info.durationSec).toBeGreaterThan(2.9);
    expect(info.durationSec).toBeLessThan(3.1);
    // And as ffmpeg itself probes it (the npm package ships no ffprobe): its input summary.
    const probe = spawnSync(ffmpegPath(), ['-hide_banner', '-i', out], { encoding: 'utf8' });
    expect(probe.stderr).toMatch(/Stream #0:0: Audio: pcm_s16le[^,]*, 16000 Hz, mono, s16/);
  });

  it('takes the audio track out of a video', async () => {
    const out = join(dir, 'video.wav');
    await normaliseAudio(video, out);
    const info = await readWavInfo(out);
    expect(info.sampleRate).toBe(16_000);
    expect(info.durationSec).toBeGreaterThan(5.8);
  });

  it('fails with MEDIA_CORRUPT when there is no audio track', async () => {
    const err = await normaliseAudio(scenes, join(dir, 'none.wav')).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('MEDIA_CORRUPT');
  });

  it('kills ffmpeg and fails with MEDIA_TIMEOUT when a step outlives its budget', async () => {
    // An ffmpeg that never finishes (and a child of its own), so the budget always runs out
    // first, however busy the machine: a real conversion raced a 1 ms budget and could win.
    const bin = join(dir, 'hanging-ffmpeg.sh');
    const pids = join(dir, 'hanging-ffmpeg.pids');
    writeFileSync(bin, `#!/bin/sh\nsleep 600 &\necho "$$ $!" > '${pids}'\nwait\n`, { mode: 0o755 });
    const err = await normaliseAudio(video, join(dir, 'slow.wav'), { timeoutMs: 300, bin }).catch(
      (e: unknown) => e,
    );
    expect((err as MediaError).code).toBe('MEDIA_TIMEOUT');
    // The whole process group is gone: the stand-in and the child it started (an orphan killed
    // with it may linger as a zombie until this container's init reaps it: dead all the same).
    const running = (pid: number): boolean => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
      } catch {
        return false;
      }
    };
    // SIGKILL is delivered asynchronously: the orphan dies just after its group was signalled.
    for (const pid of readFileSync(pids, 'utf8').trim().split(' ').map(Number)) {
      await vi.waitFor(() => expect(running(pid), `process ${pid}`).toBe(false), { timeout: 10_000 });
    }
  });
});

describe('WAV header parsing', () => {
  it('walks past extra chunks to the data chunk', () => {
    const fmt = Buffer.alloc(24);
    fmt.write('fmt ', 0, 'ascii');
    fmt.writeUInt32LE(16, 4);
    fmt.writeUInt16LE(1, 8);
    fmt.writeUInt16LE(2, 10);
    fmt.writeUInt32LE(8000, 12);
    fmt.writeUInt16LE(16, 22);
    const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([3, 0, 0, 0]), Buffer.from('abc\0')]);
    const data = Buffer.concat([Buffer.from('data'), Buffer.from([0x00, 0x7d, 0, 0])]);
    const wav = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVE'), fmt, list, data]);
    const info = parseWavHeader(wav);
    expect(info).toMatchObject({ channels: 2, sampleRate: 8000, bitsPerSample: 16, dataBytes: 32_000 });
    expect(info.durationSec).toBe(1);
  });

  it('rejects a file that is not RIFF/WAVE', () => {
    expect(() => parseWavHeader(Buffer.from('ID3\u0004 not a wav at all'))).toThrow(MediaError);
  });
});

describe('keyframe planning', () => {
  it('spreads frames uniformly when there is no scene change', () => {
    const plan = planKeyframes(8, [], 4);
    expect(plan.map((p) => p.timeSec)).toEqual([1, 3, 5, 7]);
    expect(plan.every((p) => p.source === 'uniform')).toBe(true);
  });

  it('puts one frame in each scene and fills up in the longest one', () => {
    const plan = planKeyframes(
      10,
      [
        { timeSec: 2, score: 0.9 },
        { timeSec: 4, score: 0.8 },
      ],
      4,
    );
    expect(plan.map((p) => p.timeSec)).toEqual([1, 3, 5.5, 8.5]);
    expect(plan.filter((p) => p.source === 'scene').map((p) => p.timeSec)).toEqual([1, 3, 5.5]);
  });

  it('keeps the longest scenes when there are more scenes than frames', () => {
    const cuts = [1, 1.5, 2, 6, 6.5].map((timeSec) => ({ timeSec, score: 0.5 }));
    const plan = planKeyframes(10, cuts, 2);
    expect(plan.map((p) => p.timeSec)).toEqual([4, 8.25]);
  });

  it('returns nothing for a zero count or an unknown duration', () => {
    expect(planKeyframes(10, [], 0)).toEqual([]);
    expect(planKeyframes(0, [], 4)).toEqual([]);
  });

  it('reads scene scores from metadata=print output, relative to the stream start', () => {
    const stderr = [
      '[Parsed_metadata_2 @ 0x1] frame:0    pts:25600   pts_time:3.4',
      '[Parsed_metadata_2 @ 0x1] lavfi.scene_score=0.812000',
      'frame=    2 fps=0.0 q=-0.0',
      '[Parsed_metadata_2 @ 0x1] frame:1    pts:51200   pts_time:5.4',
      '[Parsed_metadata_2 @ 0x1] lavfi.scene_score=1.000000',
    ].join('\n');
    expect(parseSceneChanges(stderr, 1.4)).toEqual([
      { timeSec: 2, score: 0.812 },
      { timeSec: 4, score: 1 },
    ]);
  });
});

describe('keyframe extraction', () => {
  it('extracts the default four keyframes of a video as valid JPEGs of its size', async () => {
    const out = await mkdtemp(join(dir, 'kf-'));
    const frames = await extractKeyframes(video, out, await probeMedia(video), { count: 4 });
    expect(frames).toHaveLength(4);
    for (const frame of frames) {
      expect(jpegDimensions(readFileSync(frame.file))).toEqual({ width: 320, height: 240 });
    }
    const times = frames.map((f) => f.timeSec);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(times[0]).toBeLessThan(1.5);
    expect(times[3]).toBeGreaterThan(4.5);
  });

  it('finds the three scenes of a three-colour video and fills the fourth frame uniformly', async () => {
    const out = await mkdtemp(join(dir, 'kf-'));
    const frames = await extractKeyframes(scenes, out, await probeMedia(scenes), { count: 4 });
    expect(frames).toHaveLength(4);
    expect(frames.filter((f) => f.source === 'scene')).toHaveLength(3);
    const dominant = frames.map((f) => {
      const { r, g, b } = averageColour(f.file);
      return r > 150 && g < 100 && b < 100
        ? 'red'
        : g > 100 && r < 100 && b < 100
          ? 'green'
          : b > 150 && r < 100 && g < 100
            ? 'blue'
            : 'other';
    });
    expect(new Set(dominant)).toEqual(new Set(['red', 'green', 'blue']));
    expect(dominant.filter((c) => c === 'other')).toHaveLength(0);
  });

  it('scales large videos down so the longest side is at most maxSide', async () => {
    const big = makeVideoWithTone(dir, 2, '1280x720', 'big.mp4');
    const out = await mkdtemp(join(dir, 'kf-'));
    const frames = await extractKeyframes(big, out, await probeMedia(big), { count: 2, maxSide: 640 });
    expect(frames).toHaveLength(2);
    expect(jpegDimensions(readFileSync(frames[0]!.file))).toEqual({ width: 640, height: 360 });
  });
});
