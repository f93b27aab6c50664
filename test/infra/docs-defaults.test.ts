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
