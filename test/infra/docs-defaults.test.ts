/**
 * The defaults the docs state are the ones in lambdas/contracts/defaults.ts (the drift found in
 * issue 11: three different default Bedrock model ids, an outbound maxReceiveCount documented as
 * 8 but set to 12).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../lambdas/contracts/defaults.js';
import { PROJECT_ROOT } from '../../lib/function-defaults.js';

const read = (file: string): string => readFileSync(join(PROJECT_ROOT, file), 'utf8');

describe('documented defaults', () => {
  it('name one default Bedrock model id everywhere: the contracts one', () => {
    for (const file of ['README.md', 'docs/configuration.md', 'docs/responders.md', 'docs/deploy.md']) {
      const text = read(file);
      expect(text, file).toContain(DEFAULTS.bedrockModelId);
      const defaults = [...text.matchAll(/default[^.|\n]{0,40}`([a-z]+\.)?anthropic\.[^`]+`/gi)].map(
        (m) => m[0],
      );
      for (const phrase of defaults) expect(phrase, `${file}: ${phrase}`).toContain(DEFAULTS.bedrockModelId);
    }
  });

  it('state the receive counts, debounce and takeover defaults of the contracts in the context-key table', () => {
    const deploy = read('docs/deploy.md');
    const { inbound, timer, outbound } = DEFAULTS.maxReceiveCount;
    expect(deploy).toContain(`{"inbound":${inbound},"timer":${timer},"outbound":${outbound}}`);
    expect(deploy).toContain(
      `| \`chatRelay:debounceMs\` | Quiet time after the customer's last message before answering (0 = answer inline). Default ${DEFAULTS.debounceMs}. |`,
    );
    expect(deploy).toContain(`Default ${DEFAULTS.humanTakeoverMinutes}. |`);
    const config = read('docs/configuration.md');
    expect(config).toContain(`\`{ ${inbound}, ${timer}, ${outbound} }\``);
    expect(config).toContain(`| \`debounceMs\` | number | \`${DEFAULTS.debounceMs}\` |`);
    expect(config).toContain(`| \`humanTakeoverMinutes\` | number | \`${DEFAULTS.humanTakeoverMinutes}\` |`);
  });
});

describe('runtime defaults', () => {
  it('equal the contracts defaults wherever a runtime module still names its own constant', async () => {
    const ingest = await import('../../lambdas/ingest/webhook.js');
    const download = await import('../../lambdas/media/download.js');
    const worker = await import('../../lambdas/media/worker.js');
    const rateLimit = await import('../../lambdas/delivery/rate-limit.js');
    const tenant = await import('../../lambdas/shared/tenant.js');
    const config = await import('../../lambdas/conversation/config.js');
    expect(ingest.DEFAULT_DEADLINE_MS).toBe(DEFAULTS.enqueueBudgetMs);
    expect(ingest.DEFAULT_MAX_BODY_BYTES).toBe(DEFAULTS.maxBodyBytes);
    expect(download.DEFAULT_MAX_MEDIA_BYTES).toBe(DEFAULTS.maxMediaBytes);
    expect(worker.DEFAULT_KEYFRAME_COUNT).toBe(DEFAULTS.keyframeCount);
    expect({ ...rateLimit.RATE_LIMITS }).toEqual({ ...DEFAULTS.rateLimits });
    expect(tenant.DEFAULT_SETTINGS.debounceMs).toBe(DEFAULTS.debounceMs);
    expect(tenant.DEFAULT_SETTINGS.maxTurnWaitMs).toBe(DEFAULTS.maxTurnWaitMs);
    expect(tenant.DEFAULT_SETTINGS.humanTakeoverMinutes).toBe(DEFAULTS.humanTakeoverMinutes);
    expect(config.DEFAULT_MEDIA_TIMEOUT_MS).toBe(DEFAULTS.mediaTimeoutMs);
  });
});
