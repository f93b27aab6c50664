/**
 * `npm run bench`: runs every `test/bench/*.bench.ts` in its own Node process, one after the
 * other (benchmarks must not share the two cores), and prints each one's report. A bench
 * script prints a Markdown section and exits non-zero only when it could not run at all;
 * missing a target is reported in its table, not as a failure. Pass names to run a subset:
 * `npm run bench -- webhook e2e`. Arguments from the first `--flag` on are passed to every
 * selected benchmark: `npm run bench -- e2e --hogs 2 --conversations 20`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const firstFlag = args.findIndex((a) => a.startsWith('--'));
const wanted = firstFlag < 0 ? args : args.slice(0, firstFlag);
const passed = firstFlag < 0 ? [] : args.slice(firstFlag);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.bench\.ts$/, '')))
  .sort();

if (files.length === 0) {
  console.error(`No benchmark matches ${wanted.join(', ') || '(any)'} in ${here}.`);
  process.exit(2);
}

let failed = 0;
for (const file of files) {
  console.log(`\n## ${file.replace(/\.bench\.ts$/, '')}\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(here, file), ...passed], {
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'production' },
  });
  if (result.status !== 0) {
    failed += 1;
    console.error(`benchmark ${file} exited with ${result.status ?? result.signal}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
