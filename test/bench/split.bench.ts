/**
 * Reply splitter benchmark (the length gate, lambdas/gates/split.ts): median milliseconds of
 * `splitText` on pathological and ordinary long replies, at WhatsApp's 4096 limit with the
 * default bound of parts and with the bound lifted (the whole input split). Before it was made
 * linear, 100 000 × "w" took ~1.8 s at a 2000 limit and 50 000 emoji ~8.5 s (quadratic);
 * 200–900 KB replies took minutes. Targets: ≤ 50 ms median with the default bound (what the
 * length gate runs), ≤ 500 ms splitting a whole 1 MB input.
 */
import { splitText } from '../../lambdas/gates/split.js';

const RUNS = 7;
const TARGET_MS = 50;
const WHOLE_TARGET_MS = 500;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function mixed(bytes: number): string {
  const pieces = [
    'Dạ shop còn hàng ạ. ',
    'Cảm ơn bạn đã liên hệ 🙂! ',
    'https://example.com/p/a.b?c=d ',
    'Giao hàng trong 2-3 ngày… ',
    '\n',
    'wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww ',
    '价格。请问？',
  ];
  const out: string[] = [];
  let length = 0;
  for (let i = 0; length < bytes; i += 1) {
    const piece = pieces[(i * 7) % pieces.length]!;
    out.push(piece);
    length += Buffer.byteLength(piece);
  }
  return out.join('');
}

const cases: [string, string][] = [
  ['100 000 × "w"', 'w'.repeat(100_000)],
  ['1 MB mixed text', mixed(1_000_000)],
  ['1 MB of one word', 'w'.repeat(1_000_000)],
  ['a, 1 MB of spaces, b', `a${' '.repeat(1_000_000)}b`],
  ['500 000 emoji', '😀'.repeat(500_000)],
];

console.log('| input | bound | parts | median ms | target |');
console.log('|---|---|---|---|---|');
for (const [name, text] of cases) {
  for (const maxParts of [undefined, 1_000_000]) {
    const times: number[] = [];
    let parts = 0;
    for (let run = 0; run < RUNS; run += 1) {
      const started = performance.now();
      parts = splitText(text, 4096, maxParts === undefined ? {} : { maxParts }).length;
      times.push(performance.now() - started);
    }
    const ms = median(times);
    const target = maxParts === undefined ? TARGET_MS : WHOLE_TARGET_MS;
    const bound = maxParts === undefined ? '10 parts (default)' : 'none (whole input)';
    console.log(
      `| ${name} | ${bound} | ${parts} | ${ms.toFixed(1)} | ${ms <= target ? 'met' : `MISSED (≤ ${target})`} |`,
    );
  }
}
