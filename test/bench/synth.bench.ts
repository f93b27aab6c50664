/**
 * Synth benchmark (`npm run bench -- synth`): `cdk synth --quiet` of the repository's default
 * stack (cdk.json app, cdk-nag included), each run a fresh process with its own output folder,
 * median of 3, target ≤ 8 s (it was 34 s when every synth bundled five functions with esbuild;
 * the handlers are now prebundled by `npm run build`). The assets are brought up to date once
 * before timing, so no run pays for a rebuild.
 *
 * A second row times the same synth with `CDK_VALIDATION=true`: aws-cdk-lib ≥ 2.27x validates every
 * template against CloudFormation's rules in WebAssembly by default (`@aws/cloudformation-validate`),
 * which is most of what a synth costs once nothing is bundled; bin/app.ts leaves it off unless
 * `CDK_VALIDATION=true` (CI turns it on). CPU seconds (user + system of the
 * whole process tree) are reported beside wall time, because on a shared machine wall time mostly
 * measures the neighbours.
 *
 * Also reports the npm package: size and file count of `npm pack --dry-run` (the build must
 * have run: `npm run build`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureAssets } from '../../bin/build.js';

const TARGET_S = 8;
const RUNS = 3;
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

interface Sample {
  readonly wallS: number;
  readonly cpuS: number;
}

/** One `cdk synth` in a fresh process (timed by /usr/bin/time for the CPU of its whole tree). */
function synthOnce(extra: readonly string[], env: NodeJS.ProcessEnv = {}): Sample {
  const out = mkdtempSync(join(tmpdir(), 'chat-relay-synth-'));
  try {
    const cdk = join(ROOT, 'node_modules', '.bin', 'cdk');
    const result = spawnSync(
      '/usr/bin/time',
      ['-f', 'TIME %e %U %S', cdk, 'synth', '--quiet', '--output', out, ...extra],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1', ...env } },
    );
    const times = /TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(result.stderr);
    if (result.status !== 0 || !times) {
      console.error(result.stderr);
      throw new Error(`cdk synth exited with ${result.status ?? result.signal}`);
    }
    return { wallS: Number(times[1]), cpuS: Number(times[2]) + Number(times[3]) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Size (kB), unpacked size (kB) and file count of the package as `npm pack` would make it. */
function packageFacts(): { sizeKB: number; unpackedKB: number; files: number } | undefined {
  const result = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (result.status !== 0) return undefined;
  const [pack] = JSON.parse(result.stdout) as { size: number; unpackedSize: number; entryCount: number }[];
  return pack && { sizeKB: pack.size / 1024, unpackedKB: pack.unpackedSize / 1024, files: pack.entryCount };
}

await ensureAssets();
const samples = Array.from({ length: RUNS }, () => synthOnce([]));
const withValidation = Array.from({ length: RUNS }, () => synthOnce([], { CDK_VALIDATION: 'true' }));
const synthS = median(samples.map((s) => s.wallS));
const cpuS = median(samples.map((s) => s.cpuS));
const pack = packageFacts();
const ok = (pass: boolean): string => (pass ? '✅ meets' : '❌ misses');
const fmt = (xs: readonly Sample[]): string =>
  xs.map((x) => `${x.wallS.toFixed(1)} (${x.cpuS.toFixed(1)} CPU)`).join(', ');

console.log('| measure | median | target | ratio | result |');
console.log('|---|---:|---:|---:|---|');
console.log(
  `| \`cdk synth --quiet\` of the default stack, fresh process (median of ${RUNS}) | ${synthS.toFixed(1)} s wall, ${cpuS.toFixed(1)} s CPU | ≤ ${TARGET_S} s | ${(synthS / TARGET_S).toFixed(2)} | ${ok(synthS <= TARGET_S)} |`,
);
console.log(
  `| the same with \`CDK_VALIDATION=true\` (aws-cdk-lib's built-in CloudFormation rule check, off by default in bin/app.ts) | ${median(withValidation.map((s) => s.wallS)).toFixed(1)} s wall, ${median(withValidation.map((s) => s.cpuS)).toFixed(1)} s CPU | — | — | (for reference) |`,
);
if (pack) {
  console.log(
    `| npm package (\`npm pack --dry-run\`) | ${pack.sizeKB.toFixed(0)} kB packed, ${pack.unpackedKB.toFixed(0)} kB unpacked, ${pack.files} files | — | — | (for reference) |`,
  );
}
console.log(
  `\nSynth samples, wall s (CPU s): ${fmt(samples)}; CDK_VALIDATION=true: ${fmt(withValidation)}. ` +
    `Load average while measuring: ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores.`,
);
