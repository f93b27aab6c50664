/**
 * A fake `whisper-cli` for tests: a shell script that records its argv (one per line) and
 * writes a JSON file shaped like whisper.cpp's `-oj` output at `<-of value>.json`.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FakeWhisper {
  readonly bin: string;
  readonly argvFile: string;
  readonly model: string;
}

/** whisper.cpp's `-oj` document for the given segments (as `output_json` writes it, tabs included). */
export function whisperJson(segments: readonly string[], language = 'en'): string {
  const esc = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  const items = segments.map(
    (text, i) =>
      `\t\t{\n\t\t\t"timestamps": {\n\t\t\t\t"from": "00:00:0${i},000",\n\t\t\t\t"to": "00:00:0${i + 1},000"\n\t\t\t},\n` +
      `\t\t\t"offsets": {\n\t\t\t\t"from": ${i * 1000},\n\t\t\t\t"to": ${(i + 1) * 1000}\n\t\t\t},\n\t\t\t"text": "${esc(text)}"\n\t\t}`,
  );
  return (
    '{\n\t"systeminfo": "AVX = 0 | NEON = 1 | ",\n\t"model": {\n\t\t"type": "base",\n\t\t"multilingual": true\n\t},\n' +
    `\t"params": {\n\t\t"model": "models/ggml-base.bin",\n\t\t"language": "auto",\n\t\t"translate": false\n\t},\n` +
    `\t"result": {\n\t\t"language": "${language}"\n\t},\n\t"transcription": [\n${items.join(',\n')}\n\t]\n}\n`
  );
}

/**
 * Writes the fake into `dir`. `output` is the JSON it writes; `exitCode` non-zero makes it fail
 * (after printing to stderr); `sleepSeconds` makes it slow.
 */
export function makeFakeWhisper(
  dir: string,
  options: { output?: string; exitCode?: number; sleepSeconds?: number; writeOutput?: boolean } = {},
): FakeWhisper {
  const bin = join(dir, 'whisper-cli');
  const argvFile = join(dir, 'whisper-argv.txt');
  const jsonFile = join(dir, 'whisper-output.json');
  const model = join(dir, 'ggml-base.bin');
  writeFileSync(model, 'not really a model');
  writeFileSync(jsonFile, options.output ?? whisperJson([' Hello world.'], 'en'));
  const script = [
    '#!/bin/sh',
    `: > "${argvFile}"`,
    'of=""',
    'prev=""',
    'for a in "$@"; do',
    `  printf '%s\\n' "$a" >> "${argvFile}"`,
    '  if [ "$prev" = "-of" ]; then of="$a"; fi',
    '  prev="$a"',
    'done',
    options.sleepSeconds ? `sleep ${options.sleepSeconds}` : '',
    options.exitCode ? `echo "error: failed to read audio" >&2; exit ${options.exitCode}` : '',
    options.writeOutput === false ? '' : `cp "${jsonFile}" "$of.json"`,
    'exit 0',
  ].join('\n');
  writeFileSync(bin, script);
  chmodSync(bin, 0o755);
  return { bin, argvFile, model };
}
