/**
 * Media made on the spot with the real ffmpeg (lavfi sources), plus small format checkers
 * written independently of the worker's own parsers.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ffmpegPath } from '../../../lambdas/media/ffmpeg.js';

function ff(args: string[]): void {
  execFileSync(ffmpegPath(), ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args]);
}

/** A testsrc video with a 440 Hz tone (H.264 + AAC in MP4). */
export function makeVideoWithTone(dir: string, seconds = 6, size = '320x240', name = 'video.mp4'): string {
  const out = join(dir, name);
  ff([
    '-f',
    'lavfi',
    '-i',
    `testsrc=duration=${seconds}:size=${size}:rate=25`,
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=440:duration=${seconds}`,
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-shortest',
    out,
  ]);
  return out;
}

/** A silent video of three solid-colour scenes (red, green, blue), `each` seconds apiece. */
export function makeThreeSceneVideo(dir: string, each = 2): string {
  const out = join(dir, 'scenes.mp4');
  const colour = (c: string): string[] => ['-f', 'lavfi', '-i', `color=c=${c}:s=320x240:d=${each}:r=25`];
  ff([
    ...colour('red'),
    ...colour('green'),
    ...colour('blue'),
    '-filter_complex',
    '[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]',
    '-map',
    '[v]',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-pix_fmt',
    'yuv420p',
    out,
  ]);
  return out;
}

/** A stereo 44.1 kHz sine clip, Ogg/Opus like a WhatsApp voice note (or another container by name). */
export function makeTone(dir: string, seconds = 3, name = 'voice.ogg'): string {
  const out = join(dir, name);
  const codec = name.endsWith('.ogg')
    ? ['-c:a', 'libopus']
    : name.endsWith('.mp3')
      ? ['-c:a', 'libmp3lame']
      : [];
  ff([
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=300:duration=${seconds}:sample_rate=44100`,
    '-ac',
    '2',
    ...codec,
    out,
  ]);
  return out;
}

/** Dimensions of a baseline/progressive JPEG, or undefined when the bytes are not a complete JPEG. */
export function jpegDimensions(buf: Buffer): { width: number; height: number } | undefined {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return undefined;
  if (buf[buf.length - 2] !== 0xff || buf[buf.length - 1] !== 0xd9) return undefined;
  let offset = 2;
  while (offset + 9 < buf.length) {
    if (buf[offset] !== 0xff) return undefined;
    const marker = buf[offset + 1] as number;
    const length = buf.readUInt16BE(offset + 2);
    if ((marker >= 0xc0 && marker <= 0xc3) || (marker >= 0xc5 && marker <= 0xc7)) {
      return { height: buf.readUInt16BE(offset + 5), width: buf.readUInt16BE(offset + 7) };
    }
    offset += 2 + length;
  }
  return undefined;
}

/** The average colour of a JPEG, decoded by ffmpeg to one RGB pixel. */
export function averageColour(file: string): { r: number; g: number; b: number } {
  const out = execFileSync(ffmpegPath(), [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'error',
    '-i',
    file,
    '-vf',
    'scale=1:1',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-',
  ]);
  return { r: out[0] ?? 0, g: out[1] ?? 0, b: out[2] ?? 0 };
}
