/**
 * `npm run webhook -- <channel> "<text>" [options]`: builds a correctly signed webhook for a
 * tenant (bin/local/webhook-builder.ts) and POSTs it to the local stack or any URL, printing the
 * HTTP status and body. Exit codes: 0 on 2xx, 1 when the request failed or got a non-2xx, 2 on
 * bad usage (unknown channel, tenant not found, channel not configured for the tenant).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CHANNELS, type ChannelName, isChannelName } from '../lambdas/shared/model.js';
import { channelConfig, parseTenantDocument, type TenantDocument } from '../lambdas/shared/tenant.js';
import { buildWebhook, type WebhookKind, webhookUrl } from './local/webhook-builder.js';

/** Where the local stack writes its tenant documents (agreed with bin/local). */
export const LOCAL_TENANTS_FILE = '.tmp/local/tenants.json';
/** Environment variable naming a tenants file (a JSON array of tenant documents). */
export const TENANTS_FILE_ENV = 'CHAT_RELAY_TENANTS_FILE';

export const USAGE = `Usage: npm run webhook -- <channel> "<text>" [options]

Posts a correctly signed webhook, in the platform's own format, to the local stack.

  <channel>              one of: ${CHANNELS.join(', ')}
  <text>                 the message text (default "Hello")

Options:
  --tenant ID            tenant id (default: demo)
  --conversation ID      the customer side: Pancake conversation id, Messenger PSID, Instagram
                         IGSID, WhatsApp wa_id, Telegram chat id, Zalo user id
  --message-id ID        platform message id (default: random; Telegram: the update_id)
  --url URL              where to post (default: http://127.0.0.1:$PORT, PORT defaults to 3000)
  --echo                 send the echo of a message we sent (ignored by the stack)
  --human                send a human agent's reply from the platform inbox (pauses the bot)
  --audio                send a voice note instead of text
  --image                send an image (the text is its caption)
  --receipt              send a delivery/read receipt
  --bad-signature        sign with the wrong secret (the stack answers 401)
  --tenants-file FILE    JSON array of tenant documents (default: $${TENANTS_FILE_ENV},
                         else ${LOCAL_TENANTS_FILE} written by the local stack)
  -h, --help             show this help

Exit codes: 0 the stack answered 2xx; 1 the request failed or was not 2xx; 2 bad usage.`;

/** A usage problem: printed with exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parsed command line. */
export interface WebhookCliArgs {
  readonly channel: ChannelName;
  readonly text: string | undefined;
  readonly tenantId: string;
  readonly conversation: string | undefined;
  readonly messageId: string | undefined;
  readonly url: string;
  readonly kind: WebhookKind;
  readonly badSignature: boolean;
  readonly tenantsFile: string | undefined;
}

/**
 * Parses the command line (without `node` and the script).
 * @returns undefined when help was asked for.
 * @throws UsageError
 */
export function parseCliArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): WebhookCliArgs | undefined {
  const parse = () =>
    parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        tenant: { type: 'string' },
        conversation: { type: 'string' },
        'message-id': { type: 'string' },
        url: { type: 'string' },
        echo: { type: 'boolean' },
        human: { type: 'boolean' },
        audio: { type: 'boolean' },
        image: { type: 'boolean' },
        receipt: { type: 'boolean' },
        'bad-signature': { type: 'boolean' },
        'tenants-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;
  const [channel, text, ...extra] = positionals;
  if (channel === undefined) throw new UsageError('Missing <channel>.');
  if (!isChannelName(channel)) {
    throw new UsageError(`Unknown channel "${channel}". Expected one of: ${CHANNELS.join(', ')}.`);
  }
  if (extra.length > 0) throw new UsageError(`Unexpected arguments: ${extra.join(' ')} (quote the text).`);
  const kinds = (['echo', 'human', 'audio', 'image', 'receipt'] as const).filter((k) => values[k]);
  if (kinds.length > 1) throw new UsageError(`Choose at most one of --${kinds.join(', --')}.`);
  const url = values.url ?? `http://127.0.0.1:${env.PORT || '3000'}`;
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--url "${url}" is not a valid URL.`);
  }
  return {
    channel,
    text,
    tenantId: values.tenant ?? 'demo',
    conversation: values.conversation,
    messageId: values['message-id'],
    url,
    kind: kinds[0] ?? 'text',
    badSignature: values['bad-signature'] ?? false,
    tenantsFile: values['tenants-file'],
  };
}

/**
 * Loads a tenant from the tenants file (`--tenants-file`, else `$CHAT_RELAY_TENANTS_FILE`, else
 * the local stack's `.tmp/local/tenants.json`).
 * @throws UsageError when the file is missing or unreadable, or the tenant is not in it.
 */
export function loadTenant(
  tenantId: string,
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): TenantDocument {
  const path = resolve(file ?? env[TENANTS_FILE_ENV] ?? LOCAL_TENANTS_FILE);
  if (!existsSync(path)) {
    throw new UsageError(
      `Tenants file ${path} not found. Start the local stack (npm start) or pass --tenants-file.`,
    );
  }
  let docs: unknown;
  try {
    docs = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(
      `Tenants file ${path} is not valid JSON: ${err instanceof Error ? err.message : err}`,
    );
  }
  const list = Array.isArray(docs) ? docs : [docs];
  const raw = list.find(
    (d) => typeof d === 'object' && d !== null && (d as { tenantId?: unknown }).tenantId === tenantId,
  );
  if (raw === undefined) {
    const known = list
      .map((d) => (typeof d === 'object' && d !== null ? (d as { tenantId?: unknown }).tenantId : undefined))
      .filter((id): id is string => typeof id === 'string');
    throw new UsageError(
      `Tenant "${tenantId}" not found in ${path}${known.length ? ` (tenants: ${known.join(', ')})` : ''}.`,
    );
  }
  try {
    return parseTenantDocument(raw);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** Runs the CLI; returns the exit code. */
export async function main(
  argv: readonly string[],
  io: { out: (line: string) => void; err: (line: string) => void } = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let args: WebhookCliArgs | undefined;
  let built: ReturnType<typeof buildWebhook>;
  try {
    args = parseCliArgs(argv, env);
    if (args === undefined) {
      io.out(USAGE);
      return 0;
    }
    const tenant = loadTenant(args.tenantId, args.tenantsFile, env);
    if (!channelConfig(tenant, args.channel)) {
      const configured = CHANNELS.filter((c) => channelConfig(tenant, c));
      throw new UsageError(
        `Channel ${args.channel} is not configured for tenant "${tenant.tenantId}" (configured: ${configured.join(', ') || 'none'}).`,
      );
    }
    try {
      built = buildWebhook({
        tenant,
        channel: args.channel,
        kind: args.kind,
        badSignature: args.badSignature,
        ...(args.text === undefined ? {} : { text: args.text }),
        ...(args.conversation === undefined ? {} : { conversation: args.conversation }),
        ...(args.messageId === undefined ? {} : { messageId: args.messageId }),
      });
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}`);
      io.err('Run with --help for usage.');
      return 2;
    }
    throw err;
  }

  const target = webhookUrl(args.url, built);
  // Never print the query: Pancake's token rides in it.
  io.err(
    `POST ${args.url.replace(/\/+$/, '')}${built.path} (${args.channel} ${args.kind}, message ${built.messageId})`,
  );
  try {
    const response = await fetch(target, {
      method: built.method,
      headers: built.headers,
      body: built.body,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    io.out(`HTTP ${response.status}`);
    if (text) io.out(text);
    return response.ok ? 0 : 1;
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    io.err(`error: request to ${args.url} failed: ${err instanceof Error ? err.message : err}${cause}`);
    return 1;
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(fileURLToPath(import.meta.url));
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`error: ${err instanceof Error ? err.message : err}\n`);
      process.exitCode = 1;
    },
  );
}
