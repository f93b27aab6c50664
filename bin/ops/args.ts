/**
 * Command-line parsing of `npm run ops`. Mistakes throw {@link OpsUsageError} (exit code 2)
 * with a message that says the fix.
 */
import { CHANNELS, type ChannelName, isChannelName } from '../../lambdas/shared/model.js';
import { flagValue } from '../cli-common.js';
import { DLQ_KINDS, type DlqKind } from './redrive.js';
import { OpsUsageError } from './resources.js';

export const VERBS = ['conversations', 'show', 'pause', 'resume', 'redrive'] as const;
export type Verb = (typeof VERBS)[number];

/** Parsed arguments. */
export type OpsArgs = {
  readonly local: boolean;
  readonly stack?: string;
  readonly json: boolean;
} & (
  | { readonly verb: 'help' }
  | { readonly verb: 'conversations'; readonly tenantId: string; readonly sinceMs?: number }
  | {
      readonly verb: 'show' | 'pause' | 'resume';
      readonly tenantId: string;
      readonly channel: ChannelName;
      readonly conversationId: string;
    }
  | { readonly verb: 'redrive'; readonly kind: DlqKind; readonly dryRun: boolean; readonly max?: number }
);

export const USAGE = `Usage: npm run ops -- <command> [options]

Commands:
  conversations --tenant <tenantId> [--since 1h]
                 A tenant's conversations, newest activity first (--since: 30s, 15m, 1h, 2d).
  show <tenantId> <channel> <conversationId> [--json]
                 One conversation's audit trail as a timeline (--json: the trail as stored).
  pause <tenantId> <channel> <conversationId>
                 Operator takeover: the bot stays quiet in that conversation until resumed.
  resume <tenantId> <channel> <conversationId>
                 Hand the conversation back to the bot.
  redrive <${DLQ_KINDS.join('|')}> [--dry-run] [--max N]
                 Move dead-lettered records back to their queue, each conversation in order
                 (oldest first), and print what moved (--dry-run: print only).

Options:
  --json           machine-readable output (conversations, show, redrive)
  --stack <name>   CloudFormation stack to find the queues and table in
                   (default: $CHAT_RELAY_STACK or "ChatRelay")
  --local          use the local stack (npm start): its stack.json in $CHAT_RELAY_DATA_DIR
                   (default .tmp/local); implied by AWS_ENDPOINT_URL(_SQS|_DYNAMODB)
                   or CHAT_RELAY_DATA_DIR

Channels: ${CHANNELS.join(', ')}.
Exit codes: 0 ok, 2 usage error (or nothing to act on), 1 AWS error.`;

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `15m`, `1h`, `2d` → milliseconds. @throws OpsUsageError */
export function parseDuration(value: string): number {
  const match = /^(\d+)([smhd])$/.exec(value);
  if (!match) {
    throw new OpsUsageError(`--since takes a duration like 30s, 15m, 1h or 2d; got "${value}".`);
  }
  return Number(match[1]) * UNITS[match[2]!]!;
}

/** Parses `argv` (without node and the script). `now` turns `--since` into a time. @throws OpsUsageError */
export function parseOpsArgs(argv: readonly string[], now: number): OpsArgs {
  const positional: string[] = [];
  let local = false;
  let json = false;
  let dryRun = false;
  const values: Partial<Record<'--stack' | '--tenant' | '--since' | '--max', string>> = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    switch (arg) {
      case '--local':
        local = true;
        break;
      case '--json':
        json = true;
        break;
      case '--dry-run':
        dryRun = true;
        break;
      case '--stack':
      case '--tenant':
      case '--since':
      case '--max':
        values[arg] = flagValue(argv, i, arg, OpsUsageError);
        i += 1;
        break;
      case '--help':
      case '-h':
        return { verb: 'help', local, json };
      default:
        if (arg.startsWith('-')) throw new OpsUsageError(`Unknown option ${arg}; see npm run ops -- help.`);
        positional.push(arg);
    }
  }
  const { '--stack': stack, '--tenant': tenant, '--since': since, '--max': max } = values;
  const [verb, ...rest] = positional;
  const common = { local, json, ...(stack ? { stack } : {}) };
  if (verb === undefined || verb === 'help') return { verb: 'help', ...common };
  if (!(VERBS as readonly string[]).includes(verb)) {
    throw new OpsUsageError(`Unknown command "${verb}"; use one of ${VERBS.join(', ')}.`);
  }
  const noExtra = (count: number, shape: string) => {
    if (rest.length > count) throw new OpsUsageError(`Too many arguments for ${verb}: ${shape}.`);
  };
  const flagsOnly = (allowed: string[], given: Record<string, unknown>) => {
    for (const [flag, value] of Object.entries(given)) {
      if (value !== undefined && value !== false && !allowed.includes(flag))
        throw new OpsUsageError(`${flag} does not apply to ${verb}.`);
    }
  };
  switch (verb as Verb) {
    case 'conversations': {
      noExtra(0, 'conversations --tenant <tenantId> [--since 1h]');
      flagsOnly(['--tenant', '--since'], { '--dry-run': dryRun, '--max': max });
      if (!tenant) throw new OpsUsageError('conversations needs --tenant <tenantId>.');
      return {
        verb: 'conversations',
        tenantId: tenant,
        ...(since !== undefined ? { sinceMs: now - parseDuration(since) } : {}),
        ...common,
      };
    }
    case 'show':
    case 'pause':
    case 'resume': {
      const shape = `${verb} <tenantId> <channel> <conversationId>`;
      flagsOnly([], { '--tenant': tenant, '--since': since, '--dry-run': dryRun, '--max': max });
      if (rest.length < 3) throw new OpsUsageError(`${verb} needs three arguments: ${shape}.`);
      noExtra(3, shape);
      const [tenantId, channel, conversationId] = rest as [string, string, string];
      if (!isChannelName(channel)) {
        throw new OpsUsageError(`Unknown channel "${channel}"; use one of ${CHANNELS.join(', ')}.`);
      }
      return { verb: verb as 'show' | 'pause' | 'resume', tenantId, channel, conversationId, ...common };
    }
    case 'redrive': {
      const shape = `redrive <${DLQ_KINDS.join('|')}> [--dry-run] [--max N]`;
      flagsOnly([], { '--tenant': tenant, '--since': since });
      const [kind] = rest;
      if (kind === undefined) throw new OpsUsageError(`redrive needs a queue: ${shape}.`);
      noExtra(1, shape);
      if (!(DLQ_KINDS as readonly string[]).includes(kind)) {
        throw new OpsUsageError(`Unknown queue "${kind}"; use one of ${DLQ_KINDS.join(', ')}.`);
      }
      let maxN: number | undefined;
      if (max !== undefined) {
        if (!/^\d+$/.test(max) || Number(max) < 1) {
          throw new OpsUsageError(`--max takes a whole number of records, at least 1; got "${max}".`);
        }
        maxN = Number(max);
      }
      return {
        verb: 'redrive',
        kind: kind as DlqKind,
        dryRun,
        ...(maxN !== undefined ? { max: maxN } : {}),
        ...common,
      };
    }
  }
}
