/**
 * Command-line parsing of the tenant CLI. `--set key=value` applies to the channel named by the
 * closest `--channel` before it (or to the document root when none came before), so several
 * channels can be configured in one command.
 */
import { CHANNELS, type ChannelName, isChannelName } from '../../lambdas/shared/model.js';
import { flagValue } from '../cli-common.js';

/** A usage mistake: exit code 2, the message says the fix. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const COMMANDS = ['add', 'update', 'show', 'list', 'remove', 'zalo-authorize'] as const;
export type Command = (typeof COMMANDS)[number];

/** One `--set key=value`, scoped to a channel or (scope undefined) to the document root. */
export interface SetOperation {
  readonly channel: ChannelName | undefined;
  readonly path: readonly string[];
  readonly value: string;
}

export interface ParsedArgs {
  readonly command: Command | 'help';
  readonly tenantId: string | undefined;
  readonly file: string | undefined;
  readonly prefix: string | undefined;
  readonly apiUrl: string | undefined;
  readonly stack: string | undefined;
  readonly force: boolean;
  readonly reveal: boolean;
  /** Channels named with `--channel` (in order, without repeats). */
  readonly channels: readonly ChannelName[];
  readonly sets: readonly SetOperation[];
  readonly removeChannels: readonly ChannelName[];
  /** zalo-authorize: the OAuth authorization code, its PKCE verifier, and the app's id and secret key. */
  readonly code: string | undefined;
  readonly codeVerifier: string | undefined;
  readonly appId: string | undefined;
  readonly appSecretKey: string | undefined;
}

export const USAGE = `Usage: npm run tenant -- <command> [options]

Commands:
  add <tenantId> [--file doc.json] [--channel <name> --set key=value ...]
                 Create a tenant; missing webhook/verify/secret tokens are generated.
  update <tenantId> [--file doc.json] [--channel <name> --set key=value ...] [--remove-channel <name>]
                 Change a tenant (--file replaces the whole document).
  show <tenantId> [--reveal]
                 Print the document (tokens masked unless --reveal) and the webhook setup.
  list           List tenant ids.
  remove <tenantId> [--force]
                 Delete the tenant's secret (7-day recovery window; --force deletes at once).
  zalo-authorize <tenantId> --code <code> [--code-verifier <v>] [--app-id <id>] [--app-secret-key <key>]
                 Exchange a Zalo OA authorization code for the first access and refresh tokens
                 and store them (the relay refreshes them from then on; docs/tenants.md).

  knowledge <add|list|remove|sync> ...
                 A tenant's knowledge documents (npm run tenant -- knowledge --help).

Options:
  --channel <name>     ${CHANNELS.join(' | ')}; following --set apply to it
  --set key=value      a field of that channel (dotted paths, e.g. pages.PAGE_ID.accessToken=…;
                       lists comma-separated, e.g. pageIds=111,222); before any --channel:
                       a document field such as settings.debounceMs=3000
  --file <path>        a whole tenant document as JSON ("-" reads stdin)
  --prefix <prefix>    secret prefix (default: $TENANT_SECRET_PREFIX or "chat-relay")
  --api-url <url>      webhook base URL (default: $CHAT_RELAY_API_URL, else the stack output
                       WebhookBaseUrl of --stack)
  --stack <name>       CloudFormation stack to read WebhookBaseUrl from (default "ChatRelay")
  --code <code>        zalo-authorize: the authorization code Zalo gave the callback URL
  --code-verifier <v>  zalo-authorize: the PKCE code verifier, when the grant used one
  --app-id <id>        zalo-authorize: the Zalo app id (default: the tenant's zalo appId)
  --app-secret-key <k> zalo-authorize: the Zalo app's secret key (default: the tenant's appSecretKey)

Exit codes: 0 ok, 2 usage or validation error, 1 AWS error.`;

function channelArg(value: string | undefined, flag: string): ChannelName {
  if (value === undefined || value.startsWith('--')) {
    throw new UsageError(`${flag} needs a channel name: ${CHANNELS.join(', ')}.`);
  }
  if (!isChannelName(value)) {
    throw new UsageError(`Unknown channel "${value}" after ${flag}; use one of ${CHANNELS.join(', ')}.`);
  }
  return value;
}

/** Parses `argv` (without the node and script paths). @throws UsageError */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positional: string[] = [];
  let file: string | undefined;
  let prefix: string | undefined;
  let apiUrl: string | undefined;
  let stack: string | undefined;
  let force = false;
  let reveal = false;
  let help = false;
  let code: string | undefined;
  let codeVerifier: string | undefined;
  let appId: string | undefined;
  let appSecretKey: string | undefined;
  let current: ChannelName | undefined;
  const channels: ChannelName[] = [];
  const sets: SetOperation[] = [];
  const removeChannels: ChannelName[] = [];

  const nextValue = (flag: string, i: number): string => flagValue(argv, i, flag, UsageError);

  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    // Accept both `--flag value` and `--flag=value`.
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const take = (): string => {
      if (inline !== undefined) return inline;
      const value = nextValue(flag, i);
      i += 1;
      return value;
    };
    switch (flag) {
      case '--help':
      case '-h':
        help = true;
        break;
      case '--file':
        file = take();
        break;
      case '--prefix':
        prefix = take();
        break;
      case '--api-url':
        apiUrl = take();
        break;
      case '--stack':
        stack = take();
        break;
      case '--force':
        force = true;
        break;
      case '--reveal':
        reveal = true;
        break;
      case '--code':
        code = take();
        break;
      case '--code-verifier':
        codeVerifier = take();
        break;
      case '--app-id':
        appId = take();
        break;
      case '--app-secret-key':
        appSecretKey = take();
        break;
      case '--channel': {
        current = channelArg(inline ?? argv[i + 1], '--channel');
        if (inline === undefined) i += 1;
        if (!channels.includes(current)) channels.push(current);
        break;
      }
      case '--remove-channel': {
        const channel = channelArg(inline ?? argv[i + 1], '--remove-channel');
        if (inline === undefined) i += 1;
        removeChannels.push(channel);
        break;
      }
      case '--set': {
        const assignment = take();
        const at = assignment.indexOf('=');
        if (at <= 0) {
          throw new UsageError(`--set expects key=value, got "${assignment}" (e.g. --set botToken=123:ABC).`);
        }
        const path = assignment.slice(0, at).split('.');
        if (path.some((part) => part === '' || part === '__proto__' || part === 'constructor')) {
          throw new UsageError(`--set key "${assignment.slice(0, at)}" is not a valid field path.`);
        }
        sets.push({ channel: current, path, value: assignment.slice(at + 1) });
        break;
      }
      default:
        if (arg.startsWith('--')) throw new UsageError(`Unknown option ${flag}.\n\n${USAGE}`);
        positional.push(arg);
    }
  }

  const [commandArg, tenantId, ...extra] = positional;
  const options = {
    file,
    prefix,
    apiUrl,
    stack,
    force,
    reveal,
    channels,
    sets,
    removeChannels,
    code,
    codeVerifier,
    appId,
    appSecretKey,
  };
  if (help) return { command: 'help', tenantId: undefined, ...options };
  if (commandArg === undefined) throw new UsageError(`No command given.\n\n${USAGE}`);
  if (!(COMMANDS as readonly string[]).includes(commandArg)) {
    throw new UsageError(`Unknown command "${commandArg}"; use one of ${COMMANDS.join(', ')}.\n\n${USAGE}`);
  }
  const command = commandArg as Command;
  if (command === 'list') {
    if (tenantId !== undefined) throw new UsageError('list takes no tenant id.');
  } else if (tenantId === undefined) {
    throw new UsageError(`${command} needs a tenant id: npm run tenant -- ${command} <tenantId>.`);
  }
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}".`);
  const mutating = command === 'add' || command === 'update';
  if (!mutating && (file !== undefined || sets.length > 0 || channels.length > 0)) {
    throw new UsageError(`${command} does not take --file, --channel or --set.`);
  }
  if (command !== 'update' && removeChannels.length > 0) {
    throw new UsageError('--remove-channel is only for update.');
  }
  if (command !== 'remove' && force) throw new UsageError('--force is only for remove.');
  if (command !== 'show' && reveal) throw new UsageError('--reveal is only for show.');
  const zaloFlags = [code, codeVerifier, appId, appSecretKey].some((v) => v !== undefined);
  if (command === 'zalo-authorize') {
    if (code === undefined || code === '') {
      throw new UsageError(
        'zalo-authorize needs --code <authorization code> (Zalo sends it to your callback URL when the OA admin grants the app).',
      );
    }
  } else if (zaloFlags) {
    throw new UsageError(
      '--code, --code-verifier, --app-id and --app-secret-key are only for zalo-authorize.',
    );
  }
  return { command, tenantId, ...options };
}
