import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  currentBlock,
  METRICS_END,
  METRICS_START,
  metricsBlock,
  metricsTable,
  replaceBlock,
} from '../../bin/docs-metrics.js';
import { METRIC_LIST, METRICS } from '../../lambdas/shared/metrics-catalogue.js';
import { PROJECT_ROOT } from '../../lib/function-defaults.js';

const CATALOGUE = new Set(Object.keys(METRICS));
const CATALOGUE_FILE = join(PROJECT_ROOT, 'lambdas', 'shared', 'metrics-catalogue.ts');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : tsFiles(path);
    return /\.ts$/.test(name) && !/\.d\.ts$/.test(name) ? [path] : [];
  });
}

interface Emission {
  readonly name: string;
  readonly where: string;
  /** Dimension keys passed at a direct call site, when the checker can name them. */
  readonly dimensions?: readonly string[];
}

/**
 * Every metric name the runtime code can emit. A string literal counts when TypeScript's
 * contextual type for it is the MetricName union (or a subset of it): that covers
 * `emitMetric('X', …)`, injected sinks (`deps.metric('X', …)`), and descriptors such as
 * `{ metric: { name: 'X' } }` whose `name` is typed MetricName — whatever path later emits it.
 */
function scanEmissions(): { emissions: Emission[]; literalCalls: Emission[] } {
  const files = tsFiles(join(PROJECT_ROOT, 'lambdas'));
  const config = ts.readConfigFile(join(PROJECT_ROOT, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, PROJECT_ROOT);
  const program = ts.createProgram(files, { ...parsed.options, noEmit: true, skipLibCheck: true });
  const checker = program.getTypeChecker();

  const isMetricNameType = (type: ts.Type | undefined): boolean => {
    if (!type) return false;
    const members = (type.isUnion() ? type.types : [type]).filter(
      (t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)),
    );
    return (
      members.length >= 2 &&
      members.every((t) => t.isStringLiteral() && CATALOGUE.has(t.value)) &&
      members.length > 0
    );
  };

  const emissions: Emission[] = [];
  const literalCalls: Emission[] = [];
  for (const file of files) {
    if (file === CATALOGUE_FILE) continue;
    const source = program.getSourceFile(file);
    if (!source) throw new Error(`not in program: ${file}`);
    const where = (node: ts.Node) =>
      `${relative(PROJECT_ROOT, file)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
    const visit = (node: ts.Node): void => {
      if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
        if (isMetricNameType(checker.getContextualType(node))) {
          emissions.push({ name: node.text, where: where(node) });
        }
      }
      // Direct sink calls: metric('X', value, { …dimensions }).
      if (ts.isCallExpression(node)) {
        const callee = node.expression;
        const calleeName = ts.isIdentifier(callee)
          ? callee.text
          : ts.isPropertyAccessExpression(callee)
            ? callee.name.text
            : '';
        const [first, , third] = node.arguments;
        if (/^(emitMetric|metric)$/.test(calleeName) && first && ts.isStringLiteral(first)) {
          let dimensions: string[] | undefined;
          if (third) {
            const type = checker.getTypeAtLocation(third);
            const props = type.getProperties().map((p) => p.name);
            if (props.length > 0 || !type.getStringIndexType()) dimensions = props;
          }
          literalCalls.push({ name: first.text, where: where(first), dimensions });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { emissions, literalCalls };
}

describe('metric names: catalogue ⇄ handlers', () => {
  let scan: ReturnType<typeof scanEmissions>;
  beforeAll(() => {
    scan = scanEmissions();
  });

  it('finds the emission sites (the scan itself works)', () => {
    // Known sites in several modules: the scan must see direct calls and descriptor objects.
    const names = new Set(scan.emissions.map((e) => e.name));
    for (const name of [
      'WebhookReceived',
      'SignatureRejected',
      'TurnsFlushed',
      'SendSucceeded',
      'MediaJobs',
    ]) {
      expect(names, name).toContain(name);
    }
    // Every literal passed straight to a sink is among the type-based findings.
    for (const call of scan.literalCalls) {
      expect(
        scan.emissions.some((e) => e.name === call.name && e.where === call.where),
        `${call.name} at ${call.where}`,
      ).toBe(true);
    }
  });

  it('emits only names that exist in the catalogue', () => {
    const calls = scan.literalCalls.filter((c) => !CATALOGUE.has(c.name));
    expect(calls.map((c) => `${c.name} (${c.where})`)).toEqual([]);
  });

  it('emits every catalogued metric somewhere in lambdas/', () => {
    const emitted = new Set(scan.emissions.map((e) => e.name));
    const neverEmitted = [...CATALOGUE].filter((name) => !emitted.has(name));
    expect(neverEmitted, `catalogued but emitted nowhere: ${neverEmitted.join(', ')}`).toEqual([]);
  });

  it('passes exactly the catalogued dimensions at every direct call site', () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const call of scan.literalCalls) {
      const def = METRICS[call.name as keyof typeof METRICS];
      if (!def || call.dimensions === undefined) continue;
      checked += 1;
      const given = [...call.dimensions].sort();
      const expected = [...def.dimensions].sort();
      if (given.join(',') !== expected.join(',')) {
        wrong.push(
          `${call.name} at ${call.where}: passes {${given.join(', ')}}, catalogue says {${expected.join(', ')}}`,
        );
      }
    }
    expect(wrong).toEqual([]);
    // The checker resolved the dimension objects of most call sites (not a vacuous pass).
    expect(checked).toBeGreaterThan(20);
  });
});

describe('catalogue entries', () => {
  it('keys each definition by its own name, names unique and PascalCase', () => {
    for (const [key, def] of Object.entries(METRICS)) {
      expect(def.name).toBe(key);
      expect(def.name).toMatch(/^[A-Z][A-Za-z0-9]{2,63}$/);
    }
    expect(new Set(METRIC_LIST.map((m) => m.name)).size).toBe(METRIC_LIST.length);
  });

  it('gives every metric a CloudWatch unit, well-formed dimensions and a sentence of meaning', () => {
    for (const def of METRIC_LIST) {
      expect(['Count', 'Milliseconds', 'Bytes', 'Seconds'], def.name).toContain(def.unit);
      // Powertools adds `service` itself; CloudWatch allows 30 dimensions per metric.
      expect(def.dimensions, def.name).not.toContain('service');
      expect(def.dimensions.length, def.name).toBeLessThanOrEqual(29);
      expect(new Set(def.dimensions).size, def.name).toBe(def.dimensions.length);
      for (const d of def.dimensions) expect(d, def.name).toMatch(/^[a-z][A-Za-z0-9]{0,254}$/);
      expect(def.meaning.trim().length, def.name).toBeGreaterThan(10);
      expect(def.meaning.trim(), def.name).toMatch(/[.)]$/);
    }
  });

  it('names latencies and durations in Milliseconds and counters in Count', () => {
    for (const def of METRIC_LIST) {
      if (/Latency|Duration/.test(def.name)) expect(def.unit, def.name).toBe('Milliseconds');
      else expect(def.unit, def.name).toBe('Count');
    }
  });
});

describe('README catalogue table', () => {
  it('matches the table generated from the catalogue', () => {
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    const block = currentBlock(readme);
    expect(
      block,
      `README.md has no ${METRICS_START} … ${METRICS_END} block: add the markers, then run npx tsx bin/docs-metrics.ts --write`,
    ).toBeDefined();
    expect(block, 'README.md catalogue is out of date: run npx tsx bin/docs-metrics.ts --write').toBe(
      metricsBlock(),
    );
  });

  it('is also generated into docs/metrics.md', () => {
    const doc = readFileSync(join(PROJECT_ROOT, 'docs', 'metrics.md'), 'utf8');
    expect(
      currentBlock(doc),
      'docs/metrics.md catalogue is out of date: run npx tsx bin/docs-metrics.ts --write',
    ).toBe(metricsBlock());
  });

  it('has one row per metric with its unit, dimensions (plus service) and meaning', () => {
    const rows = metricsTable()
      .split('\n')
      .filter((l) => l.startsWith('| `'));
    expect(rows).toHaveLength(METRIC_LIST.length);
    const sendFailed = rows.find((r) => r.startsWith('| `SendFailed` |'));
    expect(sendFailed).toBe(
      `| \`SendFailed\` | Count | \`channel\`, \`code\`, \`service\` | ${METRICS.SendFailed.meaning} |`,
    );
  });
});

describe('bin/docs-metrics.ts', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'docs-metrics-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('replaces only the block between the markers', () => {
    const text = `# Title\n\nbefore\n\n${METRICS_START}\nstale\n${METRICS_END}\n\nafter $& $1\n`;
    const out = replaceBlock(text);
    expect(out).toBe(`# Title\n\nbefore\n\n${metricsBlock()}\n\nafter $& $1\n`);
    expect(replaceBlock(out)).toBe(out);
  });

  it('refuses to write when the markers are missing', () => {
    expect(() => replaceBlock('# no markers\n')).toThrow(/markers .* are missing/);
    expect(currentBlock(`${METRICS_END} before ${METRICS_START}`)).toBeUndefined();
  });

  it('--check exits 1 on a stale block and 0 after --write', () => {
    const readme = join(dir, 'README.md');
    writeFileSync(readme, `# x\n\n${METRICS_START}\nold\n${METRICS_END}\n`);
    const run = (flag: string) =>
      spawnSync(
        process.execPath,
        ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'docs-metrics.ts'), flag, '--readme', readme],
        {
          cwd: PROJECT_ROOT,
          encoding: 'utf8',
        },
      );
    const stale = run('--check');
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('--write');
    expect(run('--write').status).toBe(0);
    expect(readFileSync(readme, 'utf8')).toBe(`# x\n\n${metricsBlock()}\n`);
    expect(run('--check').status).toBe(0);
  });
});
