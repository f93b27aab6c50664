/**
 * Summarises the V8 CPU profiles written by `npm run bench -- e2e --cpu-prof DIR` (one per
 * thread: the stack's main thread and its emulator thread): where each thread's time went, by
 * package or project directory (self time), and the heaviest functions.
 *
 * `npx tsx test/bench/e2e-profile.ts DIR [--top N]`
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** The bucket a frame's self time is counted in: a package, a project directory or V8/Node. */
export function bucketOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(garbage collector)') return '(garbage collector)';
    if (functionName === '(program)') return '(program)';
    return `(native ${functionName || 'anonymous'})`;
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const project = /\/(lambdas\/[^/]+|bin\/[^/]+|lib|test\/[^/]+)\//.exec(url);
  return project ? project[1]! : url.replace(/^file:\/\//, '');
}

/** Self milliseconds per node id. */
function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return self;
}

function main(): void {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string' } },
  });
  const dir = positionals[0];
  if (!dir) {
    console.error('usage: npx tsx test/bench/e2e-profile.ts DIR [--top N]');
    process.exit(2);
  }
  const top = Number(values.top ?? 25);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  for (const file of files) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = selfTimes(profile);
    const wall = (profile.endTime - profile.startTime) / 1000;
    const buckets = new Map<string, number>();
    const functions = new Map<string, number>();
    let busy = 0;
    for (const [id, ms] of self) {
      const frame = nodes.get(id)!.callFrame;
      const bucket = bucketOf(frame);
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + ms);
      if (bucket !== '(idle)') busy += ms;
      const name = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/node_modules\//, '')}:${frame.lineNumber + 1}`;
      functions.set(name, (functions.get(name) ?? 0) + ms);
    }
    console.log(
      `\n### ${file}: ${(wall / 1000).toFixed(1)} s profiled, ${(busy / 1000).toFixed(1)} s busy (${((100 * busy) / wall).toFixed(0)}%)\n`,
    );
    console.log('| self time in | s | % of busy |');
    console.log('|---|---:|---:|');
    for (const [bucket, ms] of [...buckets].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      if (bucket === '(idle)') continue;
      console.log(`| ${bucket} | ${(ms / 1000).toFixed(2)} | ${((100 * ms) / busy).toFixed(1)} |`);
    }
    console.log('\n| function (self) | s |');
    console.log('|---|---:|');
    for (const [name, ms] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`| ${name} | ${(ms / 1000).toFixed(2)} |`);
    }
  }
}

main();
