/**
 * A RIFF/WAVE header reader: enough to check what ffmpeg wrote (format, channels, rate, bits)
 * and to get the exact duration of normalised audio without ffprobe.
 */
import { open } from 'node:fs/promises';
import { MediaError } from '../shared/errors.js';

/** What a WAV header says. */
export interface WavInfo {
  /** 1 = PCM integer, 3 = IEEE float, 0xfffe = extensible. */
  readonly audioFormat: number;
  readonly channels: number;
  readonly sampleRate: number;
  readonly bitsPerSample: number;
  /** Bytes of sample data (the `data` chunk size). */
  readonly dataBytes: number;
  readonly durationSec: number;
}

/**
 * Parses a WAV header from the first bytes of the file, walking chunks until `data`.
 * @throws MediaError MEDIA_CORRUPT when it is not a RIFF/WAVE file with `fmt ` and `data` chunks
 */
export function parseWavHeader(buf: Buffer): WavInfo {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new MediaError('MEDIA_CORRUPT', 'Not a RIFF/WAVE file.');
  }
  let offset = 12;
  let fmt: Omit<WavInfo, 'dataBytes' | 'durationSec'> | undefined;
  while (offset + 8 <= buf.length) {
    const id = buf.toString('ascii', offset, offset + 4);
    const size = buf.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (body + 16 > buf.length) break;
      fmt = {
        audioFormat: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        bitsPerSample: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) break;
      const bytesPerSecond = fmt.sampleRate * fmt.channels * (fmt.bitsPerSample / 8);
      return { ...fmt, dataBytes: size, durationSec: bytesPerSecond > 0 ? size / bytesPerSecond : 0 };
    }
    // Chunks are padded to an even size.
    offset = body + size + (size % 2);
  }
  throw new MediaError('MEDIA_CORRUPT', 'The WAV file has no fmt/data chunk.');
}

/** Reads and parses the header of the WAV file at `path` (the first 4 KiB are plenty). */
export async function readWavInfo(path: string): Promise<WavInfo> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return parseWavHeader(buf.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}
