/**
 * The metric catalogue as a Markdown table, generated from `METRIC_LIST`
 * (lambdas/contracts/metrics.ts), the single source of metric names.
 *
 *   npx tsx bin/docs-metrics.ts           print the table
 *   npx tsx bin/docs-metrics.ts --write   replace the block between the markers in README.md and docs/metrics.md
 *   npx tsx bin/docs-metrics.ts --check   exit 1 when either block differs from the table
 *
 * `--readme <path>` points at another file (tests use it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { METRIC_LIST, METRICS_NAMESPACE, type MetricDefinition } from '../lambdas/contracts/metrics.js';

export const METRICS_START = '<!-- metrics:start -->';
export const METRICS_END = '<!-- metrics:end -->';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** The catalogue table (Markdown), one row per metric in catalogue order. */
export function metricsTable(list: readonly MetricDefinition[] = METRIC_LIST): string {
  const rows = list.map(
    (m) =>
      `| \`${m.name}\` | ${m.unit} | ${[...m.dimensions, 'service'].map((d) => `\`${d}\``).join(', ')} | ${cell(m.meaning)} |`,
  );
  return [
    `Namespace \`${METRICS_NAMESPACE}\`. Every metric also has the \`service\` dimension (\`POWERTOOLS_SERVICE_NAME\`: \`chat-relay\` for the Lambda functions, \`chat-relay-media\` for the media worker, unless configured otherwise). Generated from \`lambdas/contracts/metrics.ts\` by \`npx tsx bin/docs-metrics.ts --write\`.`,
    '',
    '| Metric | Unit | Dimensions | Meaning |',
    '|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** The generated block, markers included. */
export function metricsBlock(list: readonly MetricDefinition[] = METRIC_LIST): string {
  return `${METRICS_START}\n${metricsTable(list)}\n${METRICS_END}`;
}

/** The block currently between the markers of `text` (markers included), or undefined when missing. */
export function currentBlock(text: string): string | undefined {
  const start = text.indexOf(METRICS_START);
  const end = text.indexOf(METRICS_END);
  if (start < 0 || end < 0 || end < start) return undefined;
  return text.slice(start, end + METRICS_END.length);
}

/** `text` with its block replaced by the generated one; throws when the markers are missing. */
export function replaceBlock(text: string, list: readonly MetricDefinition[] = METRIC_LIST): string {
  const block = currentBlock(text);
  if (block === undefined) {
    throw new Error(
      `The markers ${METRICS_START} and ${METRICS_END} are missing (or out of order); add them where the catalogue table belongs.`,
    );
  }
  return text.replace(block, () => metricsBlock(list));
}

function main(argv: readonly string[]): number {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const readmeIndex = argv.indexOf('--readme');
  const given = readmeIndex >= 0 ? argv[readmeIndex + 1] : undefined;
  if (readmeIndex >= 0 && !given) {
    process.stderr.write('--readme needs a path.\n');
    return 2;
  }
  // The README (the lead's) and docs/metrics.md both carry the table.
  const targets = given ? [resolve(given)] : [join(root, 'README.md'), join(root, 'docs', 'metrics.md')];
  const known = new Set(['--write', '--check', '--readme']);
  const unknown = argv.filter((a, i) => a.startsWith('--') && !known.has(a) && argv[i - 1] !== '--readme');
  if (unknown.length > 0) {
    process.stderr.write(`Unknown option ${unknown.join(', ')}. Use --write, --check or --readme <path>.\n`);
    return 2;
  }
  if (!argv.includes('--write') && !argv.includes('--check')) {
    process.stdout.write(`${metricsTable()}\n`);
    return 0;
  }
  let status = 0;
  for (const target of targets) {
    let text: string;
    try {
      text = readFileSync(target, 'utf8');
    } catch (err) {
      process.stderr.write(`Cannot read ${target}: ${(err as Error).message}\n`);
      status = 1;
      continue;
    }
    if (currentBlock(text) === undefined) {
      process.stderr.write(
        `${target} has no ${METRICS_START} … ${METRICS_END} block. Add the two markers, then run npx tsx bin/docs-metrics.ts --write.\n`,
      );
      status = 1;
      continue;
    }
    if (argv.includes('--check')) {
      if (currentBlock(text) !== metricsBlock()) {
        process.stderr.write(
          `The metric catalogue in ${target} is out of date. Run npx tsx bin/docs-metrics.ts --write.\n`,
        );
        status = 1;
      } else {
        process.stdout.write(`The metric catalogue in ${target} is up to date.\n`);
      }
      continue;
    }
    const updated = replaceBlock(text);
    if (updated !== text) writeFileSync(target, updated);
    process.stdout.write(`${updated === text ? 'Already up to date' : 'Updated'}: ${target}\n`);
  }
  return status;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
