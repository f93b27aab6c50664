/**
 * `npm run ops -- <command>`: the deployed (or local) stack's conversations, audit trails,
 * operator takeovers and dead-letter redrives, with the user's AWS credentials. Exit codes as
 * the tenant CLI: 0 ok, 2 usage or nothing to act on, 1 AWS error.
 */
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { EXIT, parseCommandLine, unexpectedError } from '../cli-common.js';
import { type OpsArgs, parseOpsArgs, USAGE } from './args.js';
import { formatConversations, formatRedriven, formatTrail, utc } from './format.js';
import { redrive } from './redrive.js';
import { OpsAwsError, type OpsResources, OpsUsageError, resolveResources } from './resources.js';
import type { ConversationAddress, TrailApi, TrailStoreOptions } from './trail.js';
import { openTrail } from './trail.js';

/** Where the CLI writes, which environment it reads, and (tests) what it opens. */
export interface OpsIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly now?: () => number;
  readonly cwd?: string;
  /** Opens the audit trail. @default openTrail */
  readonly openTrail?: (options: TrailStoreOptions) => Promise<TrailApi>;
}

export { EXIT };

function isAwsFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    '$metadata' in err ||
    err.name === 'CredentialsProviderError' ||
    err.name === 'TimeoutError' ||
    ('code' in err && /^E(CONNREFUSED|CONNRESET|NOTFOUND|TIMEDOUT)/.test(String(err.code)))
  );
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function runOpsCli(argv: readonly string[], io: OpsIo): Promise<number> {
  const now = io.now ?? Date.now;
  const args = parseCommandLine(
    io,
    () => parseOpsArgs(argv, now()),
    (a): a is Extract<OpsArgs, { verb: 'help' }> => a.verb === 'help',
    USAGE,
  );
  if (typeof args === 'number') return args;
  try {
    const resources = await resolveResources({
      env: io.env,
      local: args.local,
      ...(args.stack ? { stack: args.stack } : {}),
      ...(io.cwd ? { cwd: io.cwd } : {}),
    });
    if (args.verb === 'redrive') return await runRedrive(args, resources, io);
    return await runTrailCommand(args, resources, io);
  } catch (err) {
    if (err instanceof OpsUsageError) {
      io.err(err.message);
      return EXIT.usage;
    }
    if (err instanceof OpsAwsError) {
      io.err(err.message);
      return EXIT.aws;
    }
    if (isAwsFailure(err)) {
      const e = err as Error;
      io.err(`AWS call failed: ${e.name}: ${e.message}`);
      return EXIT.aws;
    }
    return unexpectedError(io, err);
  }
}

function sqsClient(resources: OpsResources): SQSClient {
  return new SQSClient({
    ...(resources.endpoints?.sqs ? { endpoint: resources.endpoints.sqs } : {}),
    ...(resources.region ? { region: resources.region } : {}),
    // The local stack's emulators accept any credentials; never reach for a real profile there.
    ...(resources.endpoints?.sqs ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
}

async function dlqDepth(sqs: SQSClient, url: string): Promise<number> {
  const attrs = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(attrs.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(attrs.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

async function runRedrive(
  args: Extract<OpsArgs, { verb: 'redrive' }>,
  resources: OpsResources,
  io: OpsIo,
): Promise<number> {
  const pair = resources.queues[args.kind];
  if (!pair) {
    throw new OpsUsageError(
      `No ${args.kind} queue and DLQ found in ${resources.source}; set CHAT_RELAY_${args.kind.toUpperCase()}_QUEUE_URL and CHAT_RELAY_${args.kind.toUpperCase()}_DLQ_URL.`,
    );
  }
  const sqs = sqsClient(resources);
  try {
    if (!args.json) {
      io.out(
        `${args.dryRun ? 'Dry run: listing' : 'Moving'} ${args.kind} dead letters from ${pair.dlqUrl} to ${pair.queueUrl}${args.max !== undefined ? ` (at most ${args.max})` : ''}:`,
      );
    }
    const result = await redrive({
      sqs,
      target: { kind: args.kind, ...pair },
      dryRun: args.dryRun,
      ...(args.max !== undefined ? { max: args.max } : {}),
      onMoved: (r) => {
        if (!args.json) io.out(formatRedriven(r, args.dryRun));
      },
    });
    // What is still in the DLQ (a FIFO dry run only sees each conversation's oldest records).
    const remaining = await dlqDepth(sqs, pair.dlqUrl);
    const n = result.moved.length;
    if (args.json) {
      io.out(
        JSON.stringify(
          {
            kind: args.kind,
            dryRun: result.dryRun,
            moved: result.moved.map(({ body: _body, ...r }) => r),
            remaining,
          },
          null,
          2,
        ),
      );
    } else {
      io.out(
        `${args.dryRun ? 'Would move' : 'Moved'} ${n} record${n === 1 ? '' : 's'}; the DLQ holds ${remaining}.`,
      );
      if (args.dryRun && pair.dlqUrl.endsWith('.fifo') && remaining > n) {
        io.out(
          "A FIFO queue shows a conversation's later records only after its earlier ones move: the list above is each conversation's oldest.",
        );
      }
    }
    return EXIT.ok;
  } finally {
    sqs.destroy();
  }
}

async function runTrailCommand(
  args: Exclude<OpsArgs, { verb: 'redrive' | 'help' }>,
  resources: OpsResources,
  io: OpsIo,
): Promise<number> {
  if (!resources.memoryTable) {
    throw new OpsUsageError(
      `No memory table found in ${resources.source}; set CHAT_RELAY_MEMORY_TABLE to its name.`,
    );
  }
  const open = io.openTrail ?? openTrail;
  const trail = await open({
    table: resources.memoryTable,
    ...(resources.endpoints?.dynamodb
      ? {
          endpoint: resources.endpoints.dynamodb,
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : {}),
    ...(resources.region ? { region: resources.region } : {}),
  });
  try {
    if (args.verb === 'conversations') {
      const list = await trail.list({
        tenantId: args.tenantId,
        ...(args.sinceMs !== undefined ? { sinceMs: args.sinceMs } : {}),
      });
      io.out(args.json ? JSON.stringify(list, null, 2) : formatConversations(list));
      return EXIT.ok;
    }
    const address: ConversationAddress = {
      tenantId: args.tenantId,
      channel: args.channel,
      conversationId: args.conversationId,
    };
    const label = `${address.tenantId}/${address.channel}/${address.conversationId}`;
    const current = await trail.read(address);
    if (!current) {
      throw new OpsUsageError(`No conversation ${label} in ${resources.source}.`);
    }
    switch (args.verb) {
      case 'show':
        io.out(args.json ? JSON.stringify(current, null, 2) : formatTrail(current));
        return EXIT.ok;
      case 'pause': {
        const { pausedUntil } = await trail.pause(address);
        io.out(
          `Paused the bot in ${label} until ${utc(pausedUntil)} (the takeover window), or until npm run ops -- resume ${label.split('/').join(' ')}.`,
        );
        return EXIT.ok;
      }
      case 'resume':
        {
          const { wasPaused } = await trail.resume(address);
          io.out(
            wasPaused
              ? `Resumed the bot in ${label}: it answers the next customer message.`
              : `The bot was not paused in ${label}; nothing changed.`,
          );
        }
        return EXIT.ok;
    }
  } finally {
    trail.close();
  }
}
