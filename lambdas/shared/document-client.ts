/**
 * A `DynamoDBDocumentClient` that does less work per call, with the same `send(command)` contract.
 *
 * Why: every `DynamoDBDocumentClient.send` resolves the whole SDK middleware stack again (plugins,
 * `{...config}` spreads, stack sorting), and lib-dynamodb's commands cannot use the SDK's own
 * per-command-class handler cache (`cacheMiddleware`): their resolved handler closes over the
 * first command. In the local stack that resolution was about half of the handlers' CPU.
 *
 * How: for the lib-dynamodb commands listed in {@link FAST_COMMANDS}, `send` marshals
 * `command.input` with the command's own `inputKeyNodes` (the same walk and the same
 * `marshall` options as lib-dynamodb), sends the matching low-level command (`PutItemCommand`
 * for `PutCommand`...) through a handler resolved once per low-level command class from the
 * wrapped client's middleware stack and configuration (what the SDK's `cacheMiddleware` does),
 * and unmarshals the output with `outputKeyNodes`. Errors are the low-level client's, exactly as
 * lib-dynamodb lets them through: lib-dynamodb unmarshals successful outputs only, so a
 * `ConditionalCheckFailedException`'s `Item` stays in DynamoDB's attribute-value form.
 *
 * What still goes the SDK's way (`super.send`): callbacks, commands that carry middleware of
 * their own, other command classes, and any call while `DynamoDBDocumentClient.prototype.send`
 * is replaced (aws-sdk-client-mock's `mockClient(DynamoDBDocumentClient)`); mocking an instance
 * replaces its `send` and so intercepts everything too. Middleware added to the wrapped client's
 * stack later (tests' fault injection, the benchmarks' call counters) drops the cached handlers,
 * so it applies from the next call. Per-call options (`abortSignal`, `requestTimeout`) resolve a
 * handler for that call only, as the SDK does.
 *
 * Difference left: the user agent no longer carries lib-dynamodb's `DDB_MAPPER` feature flag.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactGetCommand,
  TransactWriteCommand,
  type TranslateConfig,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  type marshallOptions as MarshallOptions,
  marshall,
  type unmarshallOptions as UnmarshallOptions,
  unmarshall,
} from '@aws-sdk/util-dynamodb';
import { onMiddlewareStackChange } from './sqs-client.js';

/**
 * lib-dynamodb's description of where the plain values are in a command's input or output:
 * `null` = this value itself, `{}` or `[]` = every member, `{ '*': n }` = every member by `n`,
 * `{ key: n }` = those keys by `n`.
 */
type KeyNodes = null | readonly unknown[] | { readonly [key: string]: KeyNodes };

/** The parts of a lib-dynamodb command this client reads (protected in its typings). */
interface DocumentCommand {
  readonly input: object;
  readonly inputKeyNodes: KeyNodes;
  readonly outputKeyNodes: KeyNodes;
  readonly clientCommand: { readonly constructor: LowLevelCommandClass };
  readonly middlewareStack: { identify(): readonly string[] };
}

/** A resolved middleware handler: what `Command.resolveMiddleware` returns. */
type Handler = (command: LowLevelCommand) => Promise<{ output: Record<string, unknown> }>;

interface LowLevelCommand {
  resolveMiddleware(stack: unknown, configuration: unknown, options: unknown): Handler;
}

type LowLevelCommandClass = new (input: object) => LowLevelCommand;

/**
 * The lib-dynamodb commands that take the short path: every command the code base sends, plus
 * the transactions. Each has a one-to-one low-level command and no behaviour beyond
 * (un)marshalling.
 */
export const FAST_COMMANDS: ReadonlySet<unknown> = new Set<unknown>([
  GetCommand,
  PutCommand,
  UpdateCommand,
  DeleteCommand,
  QueryCommand,
  ScanCommand,
  BatchGetCommand,
  BatchWriteCommand,
  TransactGetCommand,
  TransactWriteCommand,
]);

const NEXT_LEVEL = '*';

type Convert = (value: unknown) => unknown;

// The three walks below follow lib-dynamodb's processObj / processKeysInObj /
// processAllKeysInObj step for step (not exported by the package), so that every input and
// output is converted exactly as the document client converts it.

function processObj(obj: unknown, convert: Convert, keyNodes: KeyNodes): unknown {
  if (obj === undefined) return undefined;
  if (keyNodes == null) return convert(obj);
  const keys = Object.keys(keyNodes);
  if (keys.length === 0) return processAllKeysInObj(obj, convert, null);
  if (keys.length === 1 && keys[0] === NEXT_LEVEL) {
    const next = (keyNodes as { readonly [key: string]: KeyNodes })[NEXT_LEVEL] ?? null;
    const acc: Record<string, unknown> = Array.isArray(obj) ? ([] as unknown as Record<string, unknown>) : {};
    for (const [k, v] of Object.entries(obj ?? {})) {
      if (typeof v !== 'function') acc[k] = processObj(v, convert, next);
    }
    return acc;
  }
  return processKeysInObj(obj, convert, keyNodes as { readonly [key: string]: KeyNodes });
}

function processKeysInObj(
  obj: unknown,
  convert: Convert,
  keyNodes: { readonly [key: string]: KeyNodes },
): Record<string, unknown> {
  let acc: Record<string, unknown>;
  if (Array.isArray(obj)) {
    acc = obj.filter((item) => typeof item !== 'function') as unknown as Record<string, unknown>;
  } else {
    acc = {};
    for (const [k, v] of Object.entries(obj as object)) {
      if (typeof v !== 'function') acc[k] = v;
    }
  }
  const source = obj as Record<string, unknown>;
  for (const [nodeKey, nodes] of Object.entries(keyNodes)) {
    if (typeof source[nodeKey] === 'function') continue;
    const processed = processObj(source[nodeKey], convert, nodes);
    if (processed !== undefined && typeof processed !== 'function') acc[nodeKey] = processed;
  }
  return acc;
}

function processAllKeysInObj(obj: unknown, convert: Convert, keyNodes: KeyNodes): unknown {
  if (Array.isArray(obj)) {
    return obj
      .filter((item) => typeof item !== 'function')
      .map((item) => processObj(item, convert, keyNodes));
  }
  const acc: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj as object)) {
    if (typeof value === 'function') continue;
    const processed = processObj(value, convert, keyNodes);
    if (processed !== undefined && typeof processed !== 'function') acc[key] = processed;
  }
  return acc;
}

/**
 * The document client. Built like `DynamoDBDocumentClient.from(client, translateConfig)`; the
 * wrapped client must not use `cacheMiddleware` (lib-dynamodb refuses it).
 */
export class FastDocumentClient extends DynamoDBDocumentClient {
  readonly #marshallOptions: MarshallOptions;
  readonly #unmarshallOptions: UnmarshallOptions;
  readonly #handlers = new Map<LowLevelCommandClass, Handler>();

  constructor(client: DynamoDBClient, translateConfig?: TranslateConfig) {
    super(client, translateConfig);
    // The defaults lib-dynamodb's commands apply to the same options at each call.
    const m = translateConfig?.marshallOptions ?? {};
    const u = translateConfig?.unmarshallOptions ?? {};
    this.#marshallOptions = { ...m, convertTopLevelContainer: m.convertTopLevelContainer ?? true };
    this.#unmarshallOptions = { ...u, convertWithoutMapWrapper: u.convertWithoutMapWrapper ?? true };
    onMiddlewareStackChange(this.middlewareStack, () => this.#handlers.clear());
  }

  // biome-ignore lint/suspicious/noExplicitAny: the SDK's overloaded send signature, passed through.
  override send(command: any, optionsOrCb?: any, cb?: any): any {
    if (
      typeof optionsOrCb === 'function' ||
      cb !== undefined ||
      !FAST_COMMANDS.has(command?.constructor) ||
      Object.hasOwn(DynamoDBDocumentClient.prototype, 'send') ||
      (command as DocumentCommand).middlewareStack.identify().length > 0
    ) {
      return super.send(command, optionsOrCb, cb);
    }
    return this.#send(command as DocumentCommand, optionsOrCb);
  }

  async #send(command: DocumentCommand, options: object | undefined): Promise<unknown> {
    const convertIn: Convert = (value) => marshall(value as never, this.#marshallOptions);
    const input = processKeysInObj(command.input, convertIn, command.inputKeyNodes as never);
    const LowLevel = command.clientCommand.constructor;
    const lowLevel = new LowLevel(input);
    let handler: Handler | undefined;
    if (options === undefined) {
      handler = this.#handlers.get(LowLevel);
      if (!handler) {
        handler = lowLevel.resolveMiddleware(this.middlewareStack, this.config, undefined);
        this.#handlers.set(LowLevel, handler);
      }
    } else {
      handler = lowLevel.resolveMiddleware(this.middlewareStack, this.config, options);
    }
    const { output } = await handler(lowLevel);
    const convertOut: Convert = (value) => unmarshall(value as never, this.#unmarshallOptions);
    return processKeysInObj(output, convertOut, command.outputKeyNodes as never);
  }

  /** Drops the handlers resolved so far (the next call of each command class resolves again). */
  clearHandlerCache(): void {
    this.#handlers.clear();
  }
}
