/**
 * A `DynamoDBDocumentClient` that does less work per call, with the same `send(command)` contract.
 *
 * Why: every `DynamoDBDocumentClient.send` resolves the whole SDK middleware stack again (plugins,
 * `{...config}` spreads, stack sorting), and lib-dynamodb's commands cannot use the SDK's own
 * per-command-class handler cache (`cacheMiddleware`): their resolved handler closes over the
 * first command. In the local stack that resolution was about half of the handlers' CPU.
 *
 * How: `send` is the SDK's own (inherited, so `mockClient(DynamoDBDocumentClient)`, instance
 * mocks and anything else wrapping the SDK's `send` still see every call). With
 * `cacheMiddleware` on and no per-call options it asks `this.handlers` for the command class's
 * handler; for the lib-dynamodb commands in {@link FAST_COMMANDS} this client answers with its
 * fast path, which marshals `command.input` with the command's own `inputKeyNodes` (the same
 * walk and `marshall` options as lib-dynamodb), sends the matching low-level command
 * (`PutItemCommand` for `PutCommand`...) through a handler resolved once per low-level command
 * class from the wrapped client's stack and configuration, and unmarshals the output with
 * `outputKeyNodes`. Errors are the low-level command's, as lib-dynamodb lets them through: it
 * unmarshals successful outputs only, so a `ConditionalCheckFailedException`'s `Item` stays in
 * DynamoDB's attribute-value form.
 *
 * Still resolved at each call, lib-dynamodb's way: calls with per-call options (`abortSignal`,
 * `requestTimeout`), commands carrying middleware of their own, other command classes.
 * Middleware added to the wrapped client's stack later (tests' fault injection, benchmarks'
 * counters) drops the resolved handlers, so it applies from the next call.
 *
 * Differences left: the user agent no longer carries lib-dynamodb's `DDB_MAPPER` feature flag,
 * marshalling happens before the stack runs (an `initialize`-step middleware sees the
 * attribute-value input, as on the low-level client), and the wrapped client (whose
 * configuration lib-dynamodb shares) caches its own handlers too.
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

/** The shape of the SDK's per-command-class handler cache that its `send` uses. */
interface HandlerCache {
  has(commandClass: unknown): boolean;
  get(commandClass: unknown): Handler;
  set(commandClass: unknown, handler: unknown): void;
}

const FAST_PATH = Symbol('chatRelayFastPath');

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
  readonly #resolved = new Map<LowLevelCommandClass, Handler>();
  /** What the SDK's `send` finds in `this.handlers` (see the accessor below the class). */
  readonly #fastPath: HandlerCache;

  constructor(client: DynamoDBClient, translateConfig?: TranslateConfig) {
    super(client, translateConfig);
    // The defaults lib-dynamodb's commands apply to the same options at each call.
    const m = translateConfig?.marshallOptions ?? {};
    const u = translateConfig?.unmarshallOptions ?? {};
    this.#marshallOptions = { ...m, convertTopLevelContainer: m.convertTopLevelContainer ?? true };
    this.#unmarshallOptions = { ...u, convertWithoutMapWrapper: u.convertWithoutMapWrapper ?? true };
    const fast: Handler = (command) => this.#send(command as unknown as DocumentCommand);
    this.#fastPath = {
      has: (commandClass) => FAST_COMMANDS.has(commandClass),
      get: () => fast,
      // Other command classes: the SDK resolves them at each call, as without the cache.
      set: () => undefined,
    };
    // The SDK's Client declares `handlers` as an instance field: drop it so that the
    // prototype's accessor answers.
    delete (this as unknown as { handlers?: unknown }).handlers;
    // Shared with the wrapped client (lib-dynamodb shares the configuration object): that
    // client's own sends resolve once per command class too, and forget on stack changes.
    this.config.cacheMiddleware = true;
    onMiddlewareStackChange(this.middlewareStack, () => {
      this.#resolved.clear();
      delete (client as unknown as { handlers?: unknown }).handlers;
    });
  }

  /** The handler cache the SDK's `send` consults (`config.cacheMiddleware`, no per-call options). */
  get [FAST_PATH](): HandlerCache {
    return this.#fastPath;
  }

  async #send(command: DocumentCommand): Promise<{ output: Record<string, unknown> }> {
    if (command.middlewareStack.identify().length > 0) {
      // Middleware of its own: resolved for this call, lib-dynamodb's way.
      const resolve = (command as unknown as LowLevelCommand).resolveMiddleware;
      return resolve.call(command, this.middlewareStack, this.config, undefined)(command as never);
    }
    const convertIn: Convert = (value) => marshall(value as never, this.#marshallOptions);
    const input = processKeysInObj(command.input, convertIn, command.inputKeyNodes as never);
    const LowLevel = command.clientCommand.constructor;
    const lowLevel = new LowLevel(input);
    let handler = this.#resolved.get(LowLevel);
    if (!handler) {
      handler = lowLevel.resolveMiddleware(this.middlewareStack, this.config, undefined);
      this.#resolved.set(LowLevel, handler);
    }
    const { output } = await handler(lowLevel);
    const convertOut: Convert = (value) => unmarshall(value as never, this.#unmarshallOptions);
    return { output: processKeysInObj(output, convertOut, command.outputKeyNodes as never) };
  }
}

// The SDK's `send` reads and writes `this.handlers` (a private field in its typings, so it is
// defined here rather than in the class): reads get the fast path, writes (its own cache of
// the first handler resolved) and deletes (a call with per-call options) leave it in place.
Object.defineProperty(FastDocumentClient.prototype, 'handlers', {
  get(this: FastDocumentClient) {
    return this[FAST_PATH];
  },
  set() {},
  configurable: true,
});
// Code that names a client by its class (bin/cost/counter.ts: "DynamoDB" from the class name)
// sees the class it stands for.
Object.defineProperty(FastDocumentClient, 'name', { value: 'DynamoDBDocumentClient' });
