/**
 * The package build (`npm run build`), in two parts:
 *
 * - `assets`: every Lambda entry under `lambdas/handlers/` prebundled by esbuild into
 *   `dist/assets/<name>/index.js` (+ source map), and the media worker's Docker build context
 *   (`dist/assets/media/`: its Dockerfile and the prebundled `main.mjs`/`selftest.mjs`). The
 *   constructs point `lambda.Code.fromAsset` / `ContainerImage.fromAsset` at these folders, so a
 *   synth needs neither esbuild nor Docker bundling nor a lockfile — in this repository and in a
 *   consumer's app alike (the way aws-cdk-lib ships its own handlers).
 * - `lib`: the construct library compiled by jsii (CommonJS + `.d.ts` in `dist/lib/`, the `.jsii`
 *   assembly at the package root), `dist/package.json` marking `dist/` CommonJS, and `API.md`
 *   from jsii-docgen. See docs/library.md for why the compiled library is CommonJS.
 *
 * Usage: `tsx bin/build.ts [assets|lib|all] [--if-stale]`. `--if-stale` rebuilds the assets
 * only when the content hash of their sources differs from the one recorded by the last build
 * (what `pretest`, `prestart`, `presynth`, the CDK app and the vitest global setup call).
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build } from 'esbuild';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the prebundled assets go (shipped in the package). */
export const ASSETS_DIR = join(ROOT, 'dist', 'assets');
/** The content hash of the sources the assets were built from. */
const HASH_FILE = join(ASSETS_DIR, '.source-hash');

/** Inputs of the asset build: any change to one of them makes the assets stale. */
function assetInputs(): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(join(ROOT, 'lambdas'));
  files.push(join(ROOT, 'package-lock.json'), join(ROOT, 'tsconfig.json'), fileURLToPath(import.meta.url));
  return files.sort();
}

/** sha256 over the relative path and content of every input. */
export function sourceHash(): string {
  const hash = createHash('sha256');
  for (const file of assetInputs()) {
    hash.update(relative(ROOT, file));
    hash.update('\0');
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** True when `dist/assets` was built from the current sources. */
export function assetsFresh(): boolean {
  return existsSync(HASH_FILE) && readFileSync(HASH_FILE, 'utf8').trim() === sourceHash();
}

/** The Lambda entries: one per file in `lambdas/handlers/`. */
function handlerNames(): string[] {
  return readdirSync(join(ROOT, 'lambdas', 'handlers'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.slice(0, -'.ts'.length))
    .sort();
}

/**
 * The bundling NodejsFunction used to do at every synth, now done once: Node 22 CommonJS
 * (Powertools ships CJS builds, and CJS needs no createRequire banner), minified, linked source
 * map without sources content, ESM sources of packages preferred (tree-shaking).
 *
 * The AWS SDK v3 is bundled, not left to the nodejs22.x runtime's copy: tree-shaken from its ESM
 * sources it is the few commands a handler sends, in one file, where the runtime's copy is whole
 * client packages resolved and loaded file by file at every cold start (for the webhook that was
 * two thirds of its cold start; test/bench/webhook.bench.ts). It also pins the SDK version the
 * tests ran. The SDK's default credential chain is replaced by the Lambda environment's
 * credentials (lambdas/shared/lambda-credentials.ts): about 100 KB a function never runs.
 */
export function handlerOptions(name: string, outdir: string): BuildOptions {
  return {
    entryPoints: [join(ROOT, 'lambdas', 'handlers', `${name}.ts`)],
    outfile: join(outdir, name, 'index.js'),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    // Error and class names survive minification: logs name the error (`ConditionalCheckFailed…`, not `_e`).
    keepNames: true,
    sourcemap: true,
    sourcesContent: false,
    mainFields: ['module', 'main'],
    alias: { '@aws-sdk/credential-provider-node': join(ROOT, 'lambdas', 'shared', 'lambda-credentials.ts') },
    tsconfig: join(ROOT, 'tsconfig.json'),
    logLevel: 'warning',
  };
}

/** The media worker (Fargate, not Lambda): ESM with a `require` for CJS dependencies, as the image has always run it. */
function mediaOptions(outdir: string): BuildOptions {
  return {
    entryPoints: [join(ROOT, 'lambdas', 'media', 'main.ts'), join(ROOT, 'lambdas', 'media', 'selftest.ts')],
    outdir: join(outdir, 'media'),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    keepNames: true,
    // Minified with a linked map and no sources content, like the Lambdas: the image runs with
    // --enable-source-maps, and the package stays small.
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    // A development-only package, loaded lazily when FFMPEG_PATH is unset (never in the image).
    external: ['@ffmpeg-installer/ffmpeg'],
    banner: {
      js: "import { createRequire as __cjsRequire } from 'node:module'; const require = __cjsRequire(import.meta.url);",
    },
    tsconfig: join(ROOT, 'tsconfig.json'),
    logLevel: 'warning',
  };
}

/**
 * Builds every asset into a fresh folder, then swaps it in, so that a concurrent synth (tests
 * run in parallel) sees either the old or the new assets, never a half-written folder.
 */
export async function buildAssets(): Promise<void> {
  const hash = sourceHash();
  const staging = join(ROOT, 'dist', `.assets-${process.pid}-${Date.now()}`);
  mkdirSync(staging, { recursive: true });
  try {
    await Promise.all([
      ...handlerNames().map((name) => build(handlerOptions(name, staging))),
      build(mediaOptions(staging)),
    ]);
    copyFileSync(join(ROOT, 'lambdas', 'media', 'Dockerfile'), join(staging, 'media', 'Dockerfile'));
    writeFileSync(join(staging, '.source-hash'), `${hash}\n`);
    const old = `${staging}-old`;
    try {
      if (existsSync(ASSETS_DIR)) renameSync(ASSETS_DIR, old);
      renameSync(staging, ASSETS_DIR);
    } catch (err) {
      // Another process swapped its own build in at the same moment: fine if it is current.
      if (!assetsFresh()) throw err;
    }
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Rebuilds the assets unless they match the current sources. Returns whether it built. */
export async function ensureAssets(): Promise<boolean> {
  if (assetsFresh()) return false;
  await buildAssets();
  return true;
}

function bin(name: string): string {
  return join(ROOT, 'node_modules', '.bin', name);
}

/** jsii (CommonJS + .d.ts + .jsii), the CommonJS marker for `dist/`, and API.md. */
export function buildLib(): void {
  rmSync(join(ROOT, 'dist', 'lib'), { recursive: true, force: true });
  rmSync(join(ROOT, 'dist', 'lambdas'), { recursive: true, force: true });
  execFileSync(bin('jsii'), ['--silence-warnings=reserved-word'], { cwd: ROOT, stdio: 'inherit' });
  // The repository is "type": "module"; the compiled library is CommonJS (docs/library.md).
  writeFileSync(join(ROOT, 'dist', 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
  execFileSync(bin('jsii-docgen'), ['--output', 'API.md'], { cwd: ROOT, stdio: 'inherit' });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const target = args.find((a) => !a.startsWith('--')) ?? 'all';
  const ifStale = args.includes('--if-stale');
  if (!['assets', 'lib', 'all'].includes(target)) {
    console.error(`usage: tsx bin/build.ts [assets|lib|all] [--if-stale] (got ${target})`);
    process.exit(2);
  }
  if (target === 'assets' || target === 'all') {
    if (ifStale) {
      if (await ensureAssets()) console.error('chat-relay: Lambda assets rebuilt (sources changed)');
    } else {
      await buildAssets();
    }
  }
  if (target === 'lib' || target === 'all') buildLib();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
