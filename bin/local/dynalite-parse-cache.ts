/**
 * Local stack only: dynalite parses each expression once per shape, not once per request.
 *
 * Why: dynalite runs every `ConditionExpression`, `UpdateExpression`, `KeyConditionExpression`,
 * `FilterExpression` and `ProjectionExpression` through a generated PEG parser at each request.
 * In the local stack's benchmark that parsing was a quarter of the emulator thread's time (about
 * 1.8 ms of CPU per answered message), for the same few expressions again and again.
 *
 * How: a parser's `parse(text, { context })` is wrapped. The parsers read from the context the
 * attribute names (which they write into the result), the attribute values (which they put into
 * the result as the same objects, and check only by their DynamoDB type), and delete from its
 * `unusedAttrNames` / `unusedAttrVals` every name and value they use. So a result depends on the
 * text, the names and the values' types only, and the cache key is exactly those. A first parse
 * runs on a copy of the context whose unused sets hold every name and value, so the names and
 * values it used are known; its result is kept as a template in which each value object is a
 * reference to its key. A later parse with the same key rebuilds the result from the template
 * with this request's value objects and deletes the same names and values from this context.
 *
 * Not cached: expressions with `BETWEEN` or `attribute_type` (their checks read the values
 * themselves, not only their types), parses that fail or return an error message (they are
 * rare and cheap to repeat). The cache holds up to {@link PARSE_CACHE_SIZE} shapes per parser.
 */

/** The context dynalite's validations hand each parser (db/*Parser.js). */
interface ParseContext {
  attrNames?: Record<string, string>;
  attrVals?: Record<string, Record<string, unknown>>;
  unusedAttrNames?: Record<string, boolean>;
  unusedAttrVals?: Record<string, boolean>;
  [other: string]: unknown;
}

/** One of dynalite's generated parser modules. */
export interface ExpressionParser {
  parse(text: string, options?: { context?: ParseContext }): unknown;
}

/** Parses answered from the cache, parsed and cached, and passed through uncached, since start. */
export const parseCacheStats = { hits: 0, misses: 0, uncached: 0 };

/** Shapes kept per parser; the oldest is forgotten beyond it. */
export const PARSE_CACHE_SIZE = 2000;

/** Expressions whose checks read attribute values, not only their types. */
const READS_VALUES = /between|attribute_type/i;

/** DynamoDB's attribute types, in the order dynalite's parsers test them. */
const TYPES = ['S', 'N', 'B', 'NULL', 'BOOL', 'SS', 'NS', 'BS', 'L', 'M'] as const;

/** A value's place in a template: the key of the attribute value it stands for. */
class ValueRef {
  constructor(readonly key: string) {}
}

interface Shape {
  readonly template: unknown;
  readonly names: readonly string[];
  readonly values: readonly string[];
}

function typeOf(value: Record<string, unknown> | undefined): string {
  if (!value || typeof value !== 'object') return '';
  for (const t of TYPES) if (value[t] != null) return t;
  return '';
}

function keyOf(text: string, context: ParseContext): string {
  const vals = context.attrVals;
  const types: string[] = [];
  if (vals) for (const k of Object.keys(vals)) types.push(k, typeOf(vals[k]));
  return JSON.stringify([text, context.attrNames ?? null, types]);
}

/**
 * Copies a tree of plain objects and arrays (prototypes and shared references kept), putting
 * `swap(node)` wherever it is not `undefined` instead of copying that node.
 */
function copyTree(node: unknown, swap: (node: object) => unknown, seen: Map<object, unknown>): unknown {
  if (node === null || typeof node !== 'object') return node;
  const swapped = swap(node);
  if (swapped !== undefined) return swapped;
  const done = seen.get(node);
  if (done !== undefined) return done;
  if (Array.isArray(node)) {
    const out: unknown[] = [];
    seen.set(node, out);
    for (const item of node) out.push(copyTree(item, swap, seen));
    return out;
  }
  const out = Object.create(Object.getPrototypeOf(node) as object | null) as Record<string, unknown>;
  seen.set(node, out);
  for (const k of Object.keys(node)) out[k] = copyTree((node as Record<string, unknown>)[k], swap, seen);
  return out;
}

/** Copies a parse result, turning each attribute value object into a {@link ValueRef}. */
function toTemplate(result: unknown, refs: Map<object, string>): unknown {
  return copyTree(
    result,
    (node) => {
      const key = refs.get(node);
      return key === undefined ? undefined : new ValueRef(key);
    },
    new Map(),
  );
}

/** A fresh result from a template, with this request's attribute value objects. */
function fromTemplate(template: unknown, vals: Record<string, unknown>): unknown {
  return copyTree(template, (node) => (node instanceof ValueRef ? vals[node.key] : undefined), new Map());
}

/** Every object nested inside an attribute value (not the value itself). */
function collectInner(value: object, into: Set<object>): void {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object' && !into.has(child)) {
      into.add(child);
      collectInner(child, into);
    }
  }
}

/** Whether a result reaches one of `inner` other than through a whole value. */
function holdsAny(node: unknown, refs: Map<object, string>, inner: Set<object>, seen: Set<object>): boolean {
  if (node === null || typeof node !== 'object' || refs.has(node) || seen.has(node)) return false;
  if (inner.has(node)) return true;
  seen.add(node);
  return Object.values(node).some((child) => holdsAny(child, refs, inner, seen));
}

const WRAPPED = Symbol('chatRelayParseCache');

/** Wraps `parser.parse` with the cache described above (once per parser module). */
export function cacheExpressionParser(parser: ExpressionParser, size = PARSE_CACHE_SIZE): void {
  if ((parser as unknown as Record<symbol, unknown>)[WRAPPED]) return;
  const original = parser.parse.bind(parser);
  const shapes = new Map<string, Shape>();

  parser.parse = (text, options) => {
    const context = options?.context;
    if (!context || typeof text !== 'string' || READS_VALUES.test(text)) {
      parseCacheStats.uncached += 1;
      return original(text, options);
    }
    const key = keyOf(text, context);
    const vals = context.attrVals ?? {};
    const hit = shapes.get(key);
    if (hit) {
      parseCacheStats.hits += 1;
      for (const n of hit.names) if (context.unusedAttrNames) delete context.unusedAttrNames[n];
      for (const v of hit.values) if (context.unusedAttrVals) delete context.unusedAttrVals[v];
      return fromTemplate(hit.template, vals);
    }

    const allNames = Object.keys(context.attrNames ?? {});
    const allValues = Object.keys(vals);
    const probe: ParseContext = {
      ...context,
      unusedAttrNames: Object.fromEntries(allNames.map((n) => [n, true])),
      unusedAttrVals: Object.fromEntries(allValues.map((v) => [v, true])),
    };
    const result = original(text, { ...options, context: probe });
    const names = allNames.filter((n) => !(n in probe.unusedAttrNames!));
    const values = allValues.filter((v) => !(v in probe.unusedAttrVals!));
    for (const n of names) if (context.unusedAttrNames) delete context.unusedAttrNames[n];
    for (const v of values) if (context.unusedAttrVals) delete context.unusedAttrVals[v];
    parseCacheStats.misses += 1;
    if (result === null || typeof result !== 'object') return result; // an error message
    const refs = new Map<object, string>();
    const inner = new Set<object>();
    for (const v of allValues) {
      const value = vals[v];
      if (value && typeof value === 'object') {
        refs.set(value, v);
        collectInner(value, inner);
      }
    }
    // A result holding part of a value (never seen) would keep this request's part: not cached.
    if (holdsAny(result, refs, inner, new Set())) return result;
    if (shapes.size >= size) shapes.delete(shapes.keys().next().value as string);
    // The template is a copy: nothing the caller does to this result reaches it.
    shapes.set(key, { template: toTemplate(result, refs), names, values });
    return result;
  };
  Object.defineProperty(parser, WRAPPED, { value: true });
}
