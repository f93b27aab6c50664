/**
 * One-way dependencies: lib/ (infrastructure) may use lambdas/contracts/ and nothing else of
 * lambdas/; lambdas/ never imports lib/; the contracts import nothing outside themselves (no
 * package either), so both sides can depend on them without dragging the other along.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

/** Every module specifier a file imports or re-exports (static and dynamic). */
function importsOf(source: string): string[] {
  const specs: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of source.matchAll(pattern)) if (match[1]) specs.push(match[1]);
  }
  return specs;
}

/** Repository-relative target of a relative import, or undefined for a package import. */
function target(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  return relative(ROOT, resolve(ROOT, dirname(file), spec));
}

function violations(files: string[], allowed: (file: string, spec: string) => boolean): string[] {
  const out: string[] = [];
  for (const file of files) {
    for (const spec of importsOf(readFileSync(join(ROOT, file), 'utf8'))) {
      if (!allowed(file, spec)) out.push(`${file} imports ${spec}`);
    }
  }
  return out;
}

describe('one-way dependencies between lib/ and lambdas/', () => {
  it('finds static, side-effect, type-only and dynamic imports (so the checks below can fail)', () => {
    const source = [
      "import { a } from '../lambdas/shared/env.js';",
      "import type { B } from './b.js';",
      "export * from '../lambdas/contracts/metrics.js';",
      "import './side-effect.js';",
      "const c = await import('../lib/stack.js');",
      'import {\n  d,\n  e,\n} from "zod";',
    ].join('\n');
    expect(importsOf(source).sort()).toEqual(
      [
        '../lambdas/shared/env.js',
        './b.js',
        '../lambdas/contracts/metrics.js',
        './side-effect.js',
        '../lib/stack.js',
        'zod',
      ].sort(),
    );
  });

  it('lib/ imports nothing from lambdas/ but lambdas/contracts/', () => {
    const bad = violations(tsFiles('lib'), (file, spec) => {
      const to = target(file, spec);
      return to === undefined || !to.startsWith('lambdas/') || to.startsWith('lambdas/contracts/');
    });
    expect(bad).toEqual([]);
  });

  it('lambdas/ never imports lib/', () => {
    const bad = violations(tsFiles('lambdas'), (file, spec) => {
      const to = target(file, spec);
      return to === undefined || !(to === 'lib' || to.startsWith('lib/'));
    });
    expect(bad).toEqual([]);
  });

  it('lambdas/contracts/ imports nothing outside itself, not even a package', () => {
    const bad = violations(tsFiles('lambdas/contracts'), (file, spec) => {
      const to = target(file, spec);
      return to?.startsWith('lambdas/contracts/') === true;
    });
    expect(bad).toEqual([]);
  });

  it('the media worker image copies no lib/ file', () => {
    const dockerfile = readFileSync(join(ROOT, 'lambdas/media/Dockerfile'), 'utf8');
    expect(dockerfile.split('\n').filter((line) => /^\s*COPY\b.*\blib\//.test(line))).toEqual([]);
  });
});
