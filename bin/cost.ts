/**
 * `npm run cost`: runs the local stack in this process, sends scripted traffic, counts every
 * AWS call per customer message and prices it at us-east-1 list prices (bin/cost/prices.ts).
 * `npm run cost -- --only "isolated text"` runs one scenario, `--conversations N` sets how many
 * conversations each runs, `--json FILE` also writes the counts. docs/cost.md explains the figures.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ACCESS_LOG_FIELDS } from '../lib/ingest.js';
import { PRICES } from './cost/prices.js';
import {
  accessLogBytes,
  formatScenario,
  idleCost,
  priceScenario,
  readDeploymentShape,
  summaryLine,
} from './cost/report.js';
import { SCENARIOS, startCostBench } from './cost/scenarios.js';

const { values } = parseArgs({
  options: { only: { type: 'string' }, conversations: { type: 'string' }, json: { type: 'string' } },
  strict: true,
});
const conversations = values.conversations === undefined ? undefined : Number(values.conversations);
if (conversations !== undefined && !(Number.isInteger(conversations) && conversations > 0)) {
  console.error(`--conversations must be a positive integer, got "${values.conversations}"`);
  process.exit(2);
}
const scenarios = (values.only ? SCENARIOS.filter((s) => s.name === values.only) : [...SCENARIOS]).map((s) =>
  conversations ? { ...s, conversations } : s,
);
if (scenarios.length === 0) {
  console.error(`no scenario named "${values.only}" (${SCENARIOS.map((s) => s.name).join(', ')})`);
  process.exit(2);
}
if (!scenarios.some((s) => s.name === 'isolated text')) scenarios.unshift(SCENARIOS[0]!);

const bench = await startCostBench(scenarios);
const priced = [];
try {
  for (const scenario of scenarios) {
    const result = await bench.run(scenario);
    const p = priceScenario(result, bench.fifoQueues, accessLogBytes(JSON.stringify(ACCESS_LOG_FIELDS)));
    priced.push(p);
    console.log(`${formatScenario(p)}\n`);
  }
} finally {
  await bench.stop();
}

const shape = readDeploymentShape(
  join(import.meta.dirname, '..', 'test', 'infra', '__snapshots__', 'chat-relay.test.ts.snap'),
);
const fifoMappings = [...bench.fifoQueues].filter((q) => ['inbound', 'outbound'].includes(q)).length;
const idle = idleCost(shape, fifoMappings);
console.log(
  `## Idle deployment, per month (resources counted in ${shape.source.split('/').slice(-4).join('/')})\n`,
);
console.log('| item | $ / month |');
console.log('|---|---:|');
for (const l of idle.lines) console.log(`| ${l.item} | $${l.monthly.toFixed(2)} |`);
console.log(`| **total** | **$${idle.monthly.toFixed(2)}** |`);
for (const l of idle.perTenant) console.log(`| per tenant: ${l.item} | $${l.monthly.toFixed(2)} |`);
console.log(
  `\nPrices: ${PRICES.region} list prices checked ${PRICES.checked}; load average ${loadavg()[0]!.toFixed(1)}.\n`,
);
if (values.json) {
  // The counts behind the tables, for test/integration/cost.test.ts and for anyone comparing runs.
  const dump = priced.map((p) => ({
    scenario: p.result.scenario,
    messages: p.result.messages,
    replies: p.result.replies,
    per1M: p.per1M,
    wcuPerMessage: p.wcuPerMessage,
    rcuPerMessage: p.rcuPerMessage,
    ops: Object.fromEntries(p.result.counts.ops),
    invocations: p.result.counts.invocations,
    webhookMs: p.result.webhookMs,
  }));
  writeFileSync(values.json, JSON.stringify({ scenarios: dump, idle }, null, 2));
}
console.log(summaryLine(priced[0]!, idle.monthly));
