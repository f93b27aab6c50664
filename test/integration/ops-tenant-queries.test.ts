/**
 * The dashboard's per-tenant Logs Insights queries read fields the handlers really log: the real
 * webhook, conversation and delivery handlers run at INFO (the deployed default) against the
 * emulators, their log lines are captured, and every line a query filters on must carry the
 * fields the query names, with the tenant's id in `tenant`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TENANT_QUERIES } from '../../lib/monitoring/dashboard.js';
import { customerWebhook, e2eTenant, newCustomer } from '../e2e/support.js';
import { captureOutput } from '../helpers/capture-output.js';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';

const tenant = e2eTenant('logs-shop');
let pipeline: Pipeline;
const lines: string[] = [];
let restore: () => void = () => {};

beforeAll(async () => {
  pipeline = await startPipeline({ tenants: [tenant], env: { POWERTOOLS_LOG_LEVEL: 'INFO' } });
  restore = captureOutput(lines);
});

afterAll(async () => {
  restore();
  await pipeline?.stop();
});

/** The JSON log lines captured so far. */
function logged(): Record<string, unknown>[] {
  return lines.flatMap((l) => {
    try {
      const v = JSON.parse(l) as unknown;
      return typeof v === 'object' && v !== null ? [v as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

/** `fields a, b` and `message = "…"` of a query. */
function shape(query: readonly string[]): { fields: string[]; message?: string } {
  const fields = (query.find((l) => l.startsWith('fields ')) ?? '')
    .slice('fields '.length)
    .split(',')
    .map((f) => f.trim());
  const message = /message = "([^"]+)"/.exec(query.join('\n'))?.[1];
  return { fields, ...(message ? { message } : {}) };
}

describe('per-tenant dashboard queries against captured handler logs', () => {
  it('finds every queried field, with the tenant, on the lines each query selects', async () => {
    const ok = newCustomer('messenger');
    const failing = newCustomer('telegram');
    // Telegram refuses this customer's sends for a while: the delivery retries log at WARN.
    pipeline.sandbox.fail({ kind: '500', channel: 'telegram', count: 2 });
    for (const c of [ok, failing]) {
      const answer = await pipeline.post(customerWebhook(tenant, c, 'Xin chào'));
      expect(answer.status).toBe(200);
    }
    const delivered = await pipeline.drive(() => pipeline.delivered().length >= 2, 120_000);
    expect(delivered).toBe(true);

    const all = logged();
    for (const name of ['messages', 'turns', 'delivered'] as const) {
      const { fields, message } = shape(TENANT_QUERIES[name]);
      const selected = all.filter((l) => l.message === message);
      expect(selected.length, `${name}: lines with message "${message}"`).toBeGreaterThan(0);
      for (const line of selected) {
        for (const field of fields) expect(line, `${name}: ${field}`).toHaveProperty(field);
        expect(line.tenant).toBe('logs-shop');
      }
    }
    const failures = all.filter(
      (l) => typeof l.tenant === 'string' && (l.level === 'ERROR' || l.level === 'WARN'),
    );
    expect(failures.length).toBeGreaterThan(0);
    for (const line of failures) expect(line.tenant).toBe('logs-shop');
    expect(shape(TENANT_QUERIES.failures).fields).toEqual(['tenant', 'message']);
  }, 180_000);
});
