/**
 * What the operator CLIs (`npm run tenant`, `npm run ops`) share: exit codes, option values,
 * AWS failure messages and the parse-then-help step every run starts with.
 */

import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';

/** The stack name the CDK app deploys by default. */
export const DEFAULT_STACK = 'ChatRelay';

/** Exit codes: 0 ok, 1 AWS error, 2 usage error. */
export const EXIT = { ok: 0, aws: 1, usage: 2 } as const;

/** Where a CLI writes. */
export interface CliOutput {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** The message of anything thrown. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The SDK's error name (`ResourceNotFoundException`…) of anything thrown. */
export function awsName(err: unknown): string {
  return err instanceof Error ? err.name : 'Error';
}

/**
 * `{action} failed: {name}: {message}.` plus what to fix when the cause is recognisable
 * (credentials, region, or one of `hints`, keyed by the SDK's error name).
 */
export function awsFailureMessage(
  action: string,
  err: unknown,
  hints: Readonly<Record<string, string>> = {},
): string {
  const name = awsName(err);
  const message = errorText(err);
  let hint = '';
  if (/credential/i.test(message) || name === 'CredentialsProviderError') {
    hint = ' Configure AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).';
  } else if (/region/i.test(message)) {
    hint = ' Set AWS_REGION.';
  } else if (Object.hasOwn(hints, name)) {
    hint = ` ${hints[name]}`;
  }
  return `${action} failed: ${name}: ${message}.${hint}`;
}

/**
 * The value after option `flag` at `argv[i]`; another option (`--…`) or nothing there is a
 * usage mistake, thrown as `usageError`.
 */
export function flagValue(
  argv: readonly string[],
  i: number,
  flag: string,
  usageError: new (message: string) => Error,
): string {
  const value = argv[i + 1];
  if (value === undefined || value.startsWith('--')) throw new usageError(`${flag} needs a value.`);
  return value;
}

/**
 * Parses the command line: a parse error is printed (exit 2), a help request prints `usage`
 * (exit 0); either way the exit code comes back instead of the arguments.
 */
export function parseCommandLine<T, H extends T = never>(
  io: CliOutput,
  parse: () => T,
  isHelp: ((args: T) => args is H) | ((args: T) => boolean),
  usage: string,
): Exclude<T, H> | number {
  let args: T;
  try {
    args = parse();
  } catch (err) {
    io.err(errorText(err));
    return EXIT.usage;
  }
  if (isHelp(args)) {
    io.out(usage);
    return EXIT.ok;
  }
  return args as Exclude<T, H>;
}

/** Prints an error no branch expected, with its stack: exit 1. */
export function unexpectedError(io: CliOutput, err: unknown): number {
  io.err(`Unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return EXIT.aws;
}

/** The value of output `key` of CloudFormation stack `stack` (undefined when it has none). */
export async function stackOutput(
  cfn: CloudFormationClient,
  stack: string,
  key: string,
): Promise<string | undefined> {
  const res = await cfn.send(new DescribeStacksCommand({ StackName: stack }));
  return res.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === key)?.OutputValue;
}
