/**
 * Bundles a Lambda entry the way the CDK NodejsFunction defaults do (esbuild: bundle, node
 * platform, CommonJS, target node22, minify, source map, `@aws-sdk/*` external because the
 * nodejs22.x runtime ships SDK v3), so tests and benchmarks exercise the artefact that deploys.
 *
 * CommonJS is the default on purpose: an ESM bundle makes Node load the SDK's `dist-es` tree
 * (hundreds of files) where a CJS bundle `require`s its one-file `dist-cjs` build, which halves
 * the SDK's share of the cold start (measured in test/bench/webhook.bench.ts).
 *
 * Bundles are written under `node_modules/.cache/chat-relay-bundles/` rather than the OS temp
 * dir: the external `@aws-sdk/*` imports must resolve from the repository's node_modules, as
 * they resolve from the runtime's in Lambda.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** The repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * ESM bundles of CommonJS dependencies need `require` (for Node built-ins); this banner gives
 * them one, as the CDK ESM bundling recipe does.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __crCreateRequire } from 'node:module'; const require = __crCreateRequire(import.meta.url);";

export interface BundleOptions {
  /** Output format. @default 'cjs' */
  readonly format?: 'cjs' | 'esm';
  /** Minify like the deployed bundle. @default true */
  readonly minify?: boolean;
  /** Extra externals besides `@aws-sdk/*`. */
  readonly external?: readonly string[];
}

export interface BundledHandler {
  /** Absolute path of the bundle (`index.cjs` or `index.mjs`). */
  readonly file: string;
  /** `file://` URL to `import()`. */
  readonly url: string;
  /** Size of the bundle in bytes (without its source map). */
  readonly bytes: number;
  /** Directory holding the bundle and its source map. */
  readonly dir: string;
  /** Deletes the bundle directory. */
  readonly cleanup: () => void;
}

/** Bundles `entry` (relative to the repository root, e.g. `lambdas/handlers/webhook.ts`). */
export async function bundleHandler(entry: string, options: BundleOptions = {}): Promise<BundledHandler> {
  const cacheRoot = join(REPO_ROOT, 'node_modules', '.cache', 'chat-relay-bundles');
  mkdirSync(cacheRoot, { recursive: true });
  const dir = mkdtempSync(join(cacheRoot, 'b-'));
  const format = options.format ?? 'cjs';
  const file = join(dir, format === 'cjs' ? 'index.cjs' : 'index.mjs');
  await build({
    entryPoints: [join(REPO_ROOT, entry)],
    outfile: file,
    bundle: true,
    platform: 'node',
    format,
    target: 'node22',
    minify: options.minify ?? true,
    sourcemap: true,
    external: ['@aws-sdk/*', ...(options.external ?? [])],
    // As lib/function-defaults.ts: prefer packages' ESM sources, so esbuild can tree-shake them.
    mainFields: ['module', 'main'],
    ...(format === 'esm' ? { banner: { js: ESM_REQUIRE_BANNER } } : {}),
    logLevel: 'silent',
  });
  return {
    file,
    url: pathToFileURL(file).href,
    bytes: statSync(file).size,
    dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
