/**
 * Media benchmark: keyframe extraction and audio normalisation time for a 30 s clip as a ratio
 * of the clip length (target ≤ 0.05), and the worker's peak memory (node RSS + the RSS of its
 * ffmpeg children) over a whole job (download from a local server, probe, keyframes, audio).
 * Medians of a few runs; prints a Markdown table. Run: `npm run bench -- media`.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractKeyframes, ffmpegPath, normaliseAudio, probeMedia } from '../../lambdas/media/ffmpeg.js';
import { processMediaJob } from '../../lambdas/media/process.js';
import type { MediaJob } from '../../lambdas/shared/model.js';

const CLIP_SECONDS = 30;
const RUNS = 5;
const TARGET_RATIO = 0.05;

function ff(args: string[]): void {
  execFileSync(ffmpegPath(), ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args]);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Samples the RSS of this process's children (from /proc) until stopped; returns the peaks in KiB. */
function sampleChildren(): { stop: () => { childPeakKiB: number } } {
  let peak = 0;
  const readKiB = (pid: string, field: string): number => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    } catch {
      return 0;
    }
  };
  const tick = (): void => {
    let total = 0;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === process.pid) total += Math.max(readKiB(pid, 'VmHWM'), readKiB(pid, 'VmRSS'));
      } catch {
        // the process ended between listing and reading
      }
    }
    peak = Math.max(peak, total);
  };
  const timer = setInterval(tick, 5);
  return {
    stop: () => {
      clearInterval(timer);
      tick();
      return { childPeakKiB: peak };
    },
  };
}

const dir = await mkdtemp(join(tmpdir(), 'media-bench-'));
try {
  const video = join(dir, 'clip.mp4');
  ff([
    '-f',
    'lavfi',
    '-i',
    `testsrc=duration=${CLIP_SECONDS}:size=640x360:rate=25`,
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=440:duration=${CLIP_SECONDS}`,
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-shortest',
    video,
  ]);
  const voice = join(dir, 'voice.ogg');
  ff([
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=300:duration=${CLIP_SECONDS}:sample_rate=48000`,
    '-ac',
    '1',
    '-c:a',
    'libopus',
    '-b:a',
    '24k',
    voice,
  ]);

  const keyframeMs: number[] = [];
  const voiceMs: number[] = [];
  const trackMs: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const out = await mkdtemp(join(dir, 'run-'));
    keyframeMs.push(
      await time(async () => extractKeyframes(video, out, await probeMedia(video), { count: 4 })),
    );
    voiceMs.push(
      await time(async () => {
        await probeMedia(voice);
        await normaliseAudio(voice, join(out, 'voice.wav'));
      }),
    );
    trackMs.push(await time(() => normaliseAudio(video, join(out, 'track.wav'))));
    await rm(out, { recursive: true, force: true });
  }

  // A whole job, downloaded from a local server, for peak memory.
  const bytes = readFileSync(video);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': bytes.length, 'content-type': 'video/mp4' });
    res.end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/clip.mp4`;
  const job: MediaJob = {
    v: 1,
    tenantId: 'bench',
    channel: 'messenger',
    conversationId: 'p:u',
    conversationKey: 'bench#messenger#p:u',
    turnId: 't',
    messageId: 'm',
    pageId: 'p',
    attachmentIndex: 0,
    attachment: { kind: 'video', url },
    enqueuedAt: Date.now(),
  };
  const jobMs: number[] = [];
  let childPeakKiB = 0;
  for (let i = 0; i < RUNS; i += 1) {
    const sampler = sampleChildren();
    let stored = 0;
    jobMs.push(
      await time(async () => {
        const outcome = await processMediaJob(job, {
          engine: { name: 'none', transcribe: async () => ({ text: 'bench' }) },
          putObject: async (_key, body) => {
            stored += body.length;
          },
          loadTenant: async () => {
            throw new Error('no tenant needed');
          },
          maxBytes: 25 * 1024 * 1024,
          keyframeCount: 4,
          workDir: dir,
        });
        if (outcome.error || outcome.result?.keyframes?.length !== 4 || stored === 0) {
          throw new Error(`benchmark job failed: ${JSON.stringify(outcome)}`);
        }
      }),
    );
    childPeakKiB = Math.max(childPeakKiB, sampler.stop().childPeakKiB);
  }
  server.close();
  const nodePeakMiB = process.resourceUsage().maxRSS / 1024;
  const childPeakMiB = childPeakKiB / 1024;

  const row = (name: string, samples: number[]): string => {
    const ms = median(samples);
    const ratio = ms / 1000 / CLIP_SECONDS;
    return `| ${name} | ${ms.toFixed(0)} ms | ${ratio.toFixed(4)} | ≤ ${TARGET_RATIO} | ${ratio <= TARGET_RATIO ? 'met' : 'MISSED'} |`;
  };
  console.log(
    `Clip: ${CLIP_SECONDS} s; video 640×360 H.264 25 fps + AAC tone; voice note Opus 24 kb/s mono. Median of ${RUNS} runs. ffmpeg: ${ffmpegPath()}\n`,
  );
  console.log('| step | median | ratio to clip length | target | result |');
  console.log('|---|---|---|---|---|');
  console.log(row('keyframes (probe + scene scan + 4 JPEGs)', keyframeMs));
  console.log(row('voice note → 16 kHz mono WAV (probe + convert)', voiceMs));
  console.log(row("video's audio track → 16 kHz mono WAV", trackMs));
  console.log(row('whole video job (download, probe, keyframes, audio; no transcription)', jobMs));
  console.log('');
  console.log('| memory | peak |');
  console.log('|---|---|');
  console.log(`| node worker process (max RSS) | ${nodePeakMiB.toFixed(0)} MiB |`);
  console.log(`| ffmpeg children (peak RSS, sampled every 5 ms) | ${childPeakMiB.toFixed(0)} MiB |`);
  console.log(
    `| worker total (upper bound: node + children) | ${(nodePeakMiB + childPeakMiB).toFixed(0)} MiB |`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
