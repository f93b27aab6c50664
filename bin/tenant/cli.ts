/**
 * The tenant CLI's commands against Secrets Manager (`{prefix}/tenants/{tenantId}`) and, for the
 * webhook base URL, CloudFormation. Endpoints follow the SDK's own `AWS_ENDPOINT_URL*`
 * variables, so the same commands work against the local emulator.
 */
import { readFileSync } from 'node:fs';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { requestZaloToken, ZaloGrantRefusedError, zaloOAuthBase } from '../../lambdas/channels/zalo-token.js';
import { DEFAULT_SECRET_PREFIX } from '../../lambdas/contracts/defaults.js';
import { RetryableSendError, TenantConfigError } from '../../lambdas/shared/errors.js';
import {
  parseTenantDocument,
  TENANT_ID_PATTERN,
  type TenantDocument,
  tenantSecretName,
} from '../../lambdas/shared/tenant.js';
import {
  awsFailureMessage,
  awsName,
  DEFAULT_STACK,
  EXIT,
  errorText,
  parseCommandLine,
  stackOutput,
  unexpectedError,
} from '../cli-common.js';
import { type Command, type ParsedArgs, parseArgs, USAGE, UsageError } from './args.js';
import { applySets, type DraftDocument, generateMissingTokens, maskDocument } from './document.js';
import { runKnowledgeCli } from './knowledge.js';
import { BASE_URL_PLACEHOLDER, channelSetups, formatSetups } from './setup.js';

/** Where the CLI writes and which environment it reads. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly readStdin?: () => string;
}

export { EXIT };

export const DEFAULT_PREFIX = DEFAULT_SECRET_PREFIX;
export { DEFAULT_STACK };
/** The stack output holding the API's base URL. */
export const BASE_URL_OUTPUT = 'WebhookBaseUrl';

/** An AWS call failed: exit code 1. */
class AwsCallError extends Error {
  override readonly name = 'AwsCallError';
}

function describeAwsError(action: string, err: unknown): AwsCallError {
  return new AwsCallError(
    awsFailureMessage(action, err, {
      AccessDeniedException: 'Your identity needs secretsmanager permissions on the tenant secrets.',
    }),
  );
}

function readDocumentFile(path: string, io: CliIo): DraftDocument {
  let text: string;
  try {
    text = path === '-' ? (io.readStdin?.() ?? readFileSync(0, 'utf8')) : readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`Cannot read --file ${path}: ${errorText(err)}.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--file ${path} is not valid JSON: ${errorText(err)}.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`--file ${path} must hold a JSON object (a tenant document).`);
  }
  return parsed as DraftDocument;
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function runTenantCli(argv: readonly string[], io: CliIo): Promise<number> {
  // Knowledge documents have their own verbs and options (bin/tenant/knowledge.ts).
  if (argv[0] === 'knowledge') return runKnowledgeCli(argv.slice(1), io);
  const args = parseCommandLine(
    io,
    () => parseArgs(argv),
    (a) => a.command === 'help',
    USAGE,
  );
  if (typeof args === 'number') return args;
  const prefix = args.prefix ?? (io.env.TENANT_SECRET_PREFIX || DEFAULT_PREFIX);
  const sm = new SecretsManagerClient({});
  try {
    // parseCommandLine answered help already.
    switch (args.command as Command) {
      case 'add':
        return await add(args, prefix, sm, io);
      case 'update':
        return await update(args, prefix, sm, io);
      case 'show':
        return await show(args, prefix, sm, io);
      case 'list':
        return await list(prefix, sm, io);
      case 'remove':
        return await remove(args, prefix, sm, io);
      case 'zalo-authorize':
        return await zaloAuthorize(args, prefix, sm, io);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(err.message);
      return EXIT.usage;
    }
    if (err instanceof TenantConfigError) {
      io.err(`The tenant document is not valid; fix these and run again:\n- ${err.problems.join('\n- ')}`);
      return EXIT.usage;
    }
    if (err instanceof AwsCallError) {
      io.err(err.message);
      return EXIT.aws;
    }
    return unexpectedError(io, err);
  } finally {
    sm.destroy();
  }
}

function checkTenantId(tenantId: string): void {
  if (!TENANT_ID_PATTERN.test(tenantId)) {
    throw new UsageError(
      `Tenant id "${tenantId}" is not valid: use 1–63 lowercase letters, digits and "-", starting with a letter or digit.`,
    );
  }
}

async function readTenant(
  sm: SecretsManagerClient,
  name: string,
  tenantId: string,
): Promise<Record<string, unknown>> {
  let text: string | undefined;
  try {
    text = (await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString;
  } catch (err) {
    if (awsName(err) === 'ResourceNotFoundException') {
      throw new UsageError(`Tenant "${tenantId}" does not exist (no secret ${name}); create it with add.`);
    }
    throw describeAwsError(`Reading ${name}`, err);
  }
  try {
    const parsed = JSON.parse(text ?? '') as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // fall through
  }
  throw new UsageError(
    `The secret ${name} does not hold a JSON object; replace it with update ${tenantId} --file doc.json.`,
  );
}

/** The tenant the command names: its id (checked) and secret name. @throws UsageError */
function namedTenant(args: ParsedArgs, prefix: string): { tenantId: string; name: string } {
  const tenantId = args.tenantId!;
  checkTenantId(tenantId);
  return { tenantId, name: tenantSecretName(prefix, tenantId) };
}

/** {@link namedTenant} and its stored document. @throws UsageError, AwsCallError */
async function readNamedTenant(
  args: ParsedArgs,
  prefix: string,
  sm: SecretsManagerClient,
): Promise<{ tenantId: string; name: string; raw: Record<string, unknown> }> {
  const { tenantId, name } = namedTenant(args, prefix);
  return { tenantId, name, raw: await readTenant(sm, name, tenantId) };
}

/** Resolves the webhook base URL: --api-url, CHAT_RELAY_API_URL, else the stack output. */
async function baseUrl(args: ParsedArgs, io: CliIo): Promise<string> {
  const explicit = args.apiUrl ?? io.env.CHAT_RELAY_API_URL;
  if (explicit) return explicit;
  const stack = args.stack ?? DEFAULT_STACK;
  const cfn = new CloudFormationClient({});
  try {
    const output = await stackOutput(cfn, stack, BASE_URL_OUTPUT);
    if (output) return output;
    io.err(
      `Note: stack ${stack} has no ${BASE_URL_OUTPUT} output; pass --api-url to print the real webhook URLs.`,
    );
  } catch (err) {
    io.err(
      `Note: could not read the ${BASE_URL_OUTPUT} output of stack ${stack} (${awsName(err)}); ` +
        'pass --api-url <url> or set CHAT_RELAY_API_URL (or --stack <name>) to print the real webhook URLs.',
    );
  } finally {
    cfn.destroy();
  }
  return BASE_URL_PLACEHOLDER;
}

async function printSetup(
  tenant: TenantDocument,
  args: ParsedArgs,
  io: CliIo,
  reveal: boolean,
): Promise<void> {
  const base = await baseUrl(args, io);
  io.out(`\nWebhook setup:\n\n${formatSetups(channelSetups(tenant, base, reveal))}`);
}

function finalise(
  draft: DraftDocument,
  args: ParsedArgs,
  tenantId: string,
): {
  doc: TenantDocument;
  generated: string[];
} {
  if (draft.tenantId === undefined) draft.tenantId = tenantId;
  if (draft.tenantId !== tenantId) {
    throw new UsageError(
      `The document's tenantId is "${String(draft.tenantId)}" but the command names "${tenantId}"; make them equal.`,
    );
  }
  applySets(draft, args.channels, args.sets);
  const generated = generateMissingTokens(draft);
  return { doc: parseTenantDocument(draft), generated };
}

async function add(args: ParsedArgs, prefix: string, sm: SecretsManagerClient, io: CliIo): Promise<number> {
  const { tenantId, name } = namedTenant(args, prefix);
  const draft: DraftDocument = args.file ? readDocumentFile(args.file, io) : { tenantId, channels: {} };
  const { doc, generated } = finalise(draft, args, tenantId);
  try {
    await sm.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: JSON.stringify(doc),
        Description: `chat-relay tenant ${tenantId}`,
      }),
    );
  } catch (err) {
    if (awsName(err) === 'ResourceExistsException') {
      throw new UsageError(`Tenant "${tenantId}" already exists (${name}); change it with update.`);
    }
    if (awsName(err) === 'InvalidRequestException' && /deletion/i.test(String((err as Error).message))) {
      throw new UsageError(
        `Tenant "${tenantId}" is scheduled for deletion; restore it (aws secretsmanager restore-secret --secret-id ${name}) or remove it with --force first.`,
      );
    }
    throw describeAwsError(`Creating ${name}`, err);
  }
  io.out(`Created tenant "${tenantId}" (secret ${name}).`);
  if (generated.length > 0) io.out(`Generated: ${generated.join(', ')}.`);
  await printSetup(doc, args, io, true);
  return EXIT.ok;
}

async function update(
  args: ParsedArgs,
  prefix: string,
  sm: SecretsManagerClient,
  io: CliIo,
): Promise<number> {
  const { tenantId, name, raw: current } = await readNamedTenant(args, prefix, sm);
  const draft: DraftDocument = args.file ? readDocumentFile(args.file, io) : current;
  if (args.removeChannels.length > 0) {
    const channels = (draft.channels ?? {}) as Record<string, unknown>;
    for (const channel of args.removeChannels) {
      if (!(channel in channels))
        throw new UsageError(`Tenant "${tenantId}" has no ${channel} channel to remove.`);
      delete channels[channel];
    }
  }
  const { doc, generated } = finalise(draft, args, tenantId);
  try {
    await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: JSON.stringify(doc) }));
  } catch (err) {
    throw describeAwsError(`Updating ${name}`, err);
  }
  io.out(`Updated tenant "${tenantId}" (secret ${name}).`);
  if (generated.length > 0) io.out(`Generated: ${generated.join(', ')}.`);
  io.out('Running webhooks pick the change up within TENANT_CACHE_SECONDS (default 5 minutes).');
  await printSetup(doc, args, io, true);
  return EXIT.ok;
}

async function show(args: ParsedArgs, prefix: string, sm: SecretsManagerClient, io: CliIo): Promise<number> {
  const { tenantId, raw } = await readNamedTenant(args, prefix, sm);
  io.out(JSON.stringify(args.reveal ? raw : maskDocument(raw), null, 2));
  let doc: TenantDocument;
  try {
    doc = parseTenantDocument(raw);
  } catch (err) {
    if (err instanceof TenantConfigError) {
      io.err(
        `Warning: this document is not valid, so the webhook answers 500 for it:\n- ${err.problems.join('\n- ')}\nFix it with update ${tenantId}.`,
      );
      return EXIT.usage;
    }
    throw err;
  }
  await printSetup(doc, args, io, args.reveal);
  return EXIT.ok;
}

async function list(prefix: string, sm: SecretsManagerClient, io: CliIo): Promise<number> {
  const namePrefix = tenantSecretName(prefix, '');
  const ids: string[] = [];
  let nextToken: string | undefined;
  try {
    do {
      const page = await sm.send(
        new ListSecretsCommand({
          Filters: [{ Key: 'name', Values: [namePrefix] }],
          MaxResults: 100,
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
      );
      for (const secret of page.SecretList ?? []) {
        const id = secret.Name?.startsWith(namePrefix) ? secret.Name.slice(namePrefix.length) : undefined;
        if (id && TENANT_ID_PATTERN.test(id)) ids.push(id);
      }
      nextToken = page.NextToken;
    } while (nextToken);
  } catch (err) {
    throw describeAwsError(`Listing ${namePrefix}*`, err);
  }
  ids.sort();
  if (ids.length === 0) io.err(`No tenants under ${namePrefix}.`);
  for (const id of ids) io.out(id);
  return EXIT.ok;
}

async function remove(
  args: ParsedArgs,
  prefix: string,
  sm: SecretsManagerClient,
  io: CliIo,
): Promise<number> {
  const { tenantId, name } = namedTenant(args, prefix);
  try {
    await sm.send(new DescribeSecretCommand({ SecretId: name }));
  } catch (err) {
    if (awsName(err) === 'ResourceNotFoundException') {
      throw new UsageError(`Tenant "${tenantId}" does not exist (no secret ${name}).`);
    }
    throw describeAwsError(`Reading ${name}`, err);
  }
  try {
    await sm.send(
      new DeleteSecretCommand(
        args.force
          ? { SecretId: name, ForceDeleteWithoutRecovery: true }
          : { SecretId: name, RecoveryWindowInDays: 7 },
      ),
    );
  } catch (err) {
    throw describeAwsError(`Deleting ${name}`, err);
  }
  io.out(
    args.force
      ? `Deleted tenant "${tenantId}" (${name}) permanently.`
      : `Scheduled tenant "${tenantId}" (${name}) for deletion in 7 days; restore with aws secretsmanager restore-secret --secret-id ${name}, or delete now with --force.`,
  );
  io.out('Running webhooks stop accepting it within TENANT_CACHE_SECONDS (default 5 minutes).');
  return EXIT.ok;
}

/**
 * `zalo-authorize`: exchanges an OAuth authorization code at Zalo's token endpoint
 * (`ZALO_OAUTH_BASE`, default https://oauth.zaloapp.com) for the first access and refresh tokens
 * and stores them, with their expiry, in the tenant's Zalo settings. From then on the relay
 * refreshes them itself (lambdas/channels/zalo-token.ts).
 */
async function zaloAuthorize(
  args: ParsedArgs,
  prefix: string,
  sm: SecretsManagerClient,
  io: CliIo,
): Promise<number> {
  const { tenantId, name, raw } = await readNamedTenant(args, prefix, sm);
  const channels = (raw.channels ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const zalo = channels.zalo;
  if (!zalo) {
    throw new UsageError(
      `Tenant "${tenantId}" has no zalo channel; add it first: update ${tenantId} --channel zalo --set oaId=… --set oaSecretKey=… --set accessToken=…`,
    );
  }
  const appId = args.appId ?? (typeof zalo.appId === 'string' ? zalo.appId : undefined);
  const appSecretKey =
    args.appSecretKey ?? (typeof zalo.appSecretKey === 'string' ? zalo.appSecretKey : undefined);
  if (!appId || !appSecretKey) {
    throw new UsageError(
      'zalo-authorize needs the Zalo app id and secret key: pass --app-id and --app-secret-key (they are stored), or set appId and appSecretKey on the zalo channel first.',
    );
  }
  let pair: Awaited<ReturnType<typeof requestZaloToken>>;
  try {
    pair = await requestZaloToken({
      appId,
      appSecretKey,
      base: zaloOAuthBase(io.env),
      grant: {
        type: 'authorization_code',
        code: args.code!,
        ...(args.codeVerifier ? { codeVerifier: args.codeVerifier } : {}),
      },
    });
  } catch (err) {
    if (err instanceof ZaloGrantRefusedError) {
      throw new UsageError(
        `${err.message} Authorization codes are short-lived and single-use: have the OA admin grant the app again and pass the new code (with --code-verifier when the grant used PKCE).`,
      );
    }
    if (err instanceof RetryableSendError) throw new AwsCallError(`${err.message} Try again.`);
    throw err;
  }
  const draft = {
    ...raw,
    channels: {
      ...channels,
      zalo: {
        ...zalo,
        appId,
        appSecretKey,
        accessToken: pair.accessToken,
        refreshToken: pair.refreshToken,
        accessTokenExpiresAt: pair.expiresAt,
      },
    },
  };
  const doc = parseTenantDocument(draft);
  try {
    await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: JSON.stringify(doc) }));
  } catch (err) {
    throw describeAwsError(`Updating ${name}`, err);
  }
  io.out(
    `Authorized Zalo for tenant "${tenantId}" (secret ${name}): access token valid until ${new Date(pair.expiresAt).toISOString()}; ` +
      'the refresh token (single use, about 3 months) is stored and the relay refreshes the pair from now on.',
  );
  return EXIT.ok;
}
