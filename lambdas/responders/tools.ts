/**
 * Tenant tools (settings.tools, docs/knowledge.md): the bedrock responder offers them to the
 * model through Converse tool use and runs the calls here. An `http` tool is a method and a URL
 * template (`{field}` filled from the model's input, URL-encoded; POST sends the input as JSON)
 * with an optional auth header whose value is the tenant document's `secrets[name]`; a `lambda`
 * tool invokes a function of the user's stack with the input as its event.
 *
 * Each call has the tool's timeout (≤ 5 s) per attempt and ONE retry on a 5xx, a 429, a timeout
 * or a network error; the response is cut to the tool's byte cap. A failed tool is not an error
 * of the turn: the model is told the tool failed and answers the customer accordingly. Each call
 * is recorded (name, outcome, status, attempts, latency) without the secret or the body.
 */

import type { Tool } from '@aws-sdk/client-bedrock-runtime';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { ResponderDiagnostics } from '../contracts/responder.js';
import type { ToolDeclaration } from '../shared/tenant.js';
import { errorName, httpStatus, sleep } from './retry.js';

/** What is recorded about one tool call (the audit trail's `diagnostics.tools` entry). */
export type ToolCallRecord = NonNullable<ResponderDiagnostics['tools']>[number];

/** The result of one tool call, as given back to the model. */
export interface ToolOutcome {
  readonly record: ToolCallRecord;
  /** `success` or `error` (Converse `toolResult.status`). */
  readonly status: 'success' | 'error';
  /** What the model reads: the (capped) response, or why the tool failed. */
  readonly text: string;
}

/** How tools are called. */
export interface ToolRuntime {
  /** The tenant document's `secrets` (auth header values). */
  readonly secrets: Readonly<Record<string, string>>;
  /** Plain `http://` URLs allowed (the local stack); deployed stacks call `https://` only. */
  readonly allowHttp: boolean;
  /** The answer's deadline: a call never outlives it. */
  readonly signal: AbortSignal;
  readonly fetch?: typeof fetch;
  readonly lambda?: LambdaClient;
  /** Wait before the one retry, in ms (default 200). */
  readonly retryDelayMs?: number;
}

/** Attempts per tool call: the first and one retry. */
export const TOOL_ATTEMPTS = 2;
/** Appended to a response cut at the tool's byte cap. */
const CUT_MARKER = '\n[…response cut]';

/** The Converse tool definitions of the tenant's tools. */
export function toolSpecs(tools: readonly ToolDeclaration[]): Tool[] {
  return tools.map((tool) => ({
    toolSpec: {
      name: tool.name,
      description: tool.description,
      inputSchema: { json: tool.inputSchema as Record<string, never> },
    },
  }));
}

/**
 * The tools that may be offered: an `http` tool whose URL is not `https://` (or `http://` when
 * allowed) is left out, with the reason, so the model never calls a tool that cannot work.
 */
export function usableTools(
  tools: readonly ToolDeclaration[],
  allowHttp: boolean,
): { usable: ToolDeclaration[]; refused: { name: string; reason: string }[] } {
  const usable: ToolDeclaration[] = [];
  const refused: { name: string; reason: string }[] = [];
  for (const tool of tools) {
    if (tool.type === 'http') {
      const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(tool.url ?? '')?.[1]?.toLowerCase();
      if (scheme !== 'https' && !(scheme === 'http' && allowHttp)) {
        refused.push({
          name: tool.name,
          reason:
            scheme === 'http'
              ? 'plain http:// URLs are only allowed in the local stack; use https://'
              : 'the URL must start with https://',
        });
        continue;
      }
    }
    usable.push(tool);
  }
  return { usable, refused };
}

/** Thrown for an input the URL template cannot be filled from (not retried). */
class ToolInputError extends Error {
  override readonly name = 'ToolInputError';
}

/** The URL of an http tool call: each `{field}` replaced by the input's value, URL-encoded. */
export function fillUrlTemplate(template: string, input: Readonly<Record<string, unknown>>): string {
  return template.replace(/\{([A-Za-z0-9_.-]+)\}/g, (_, field: string) => {
    const value = input[field];
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      return encodeURIComponent(String(value));
    }
    throw new ToolInputError(`the input has no value for "${field}"`);
  });
}

/** Reads at most `maxBytes` of a body; says whether it was cut. */
async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; cut: boolean }> {
  if (!body) return { bytes: new Uint8Array(), cut: false };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let cut = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const room = maxBytes - total;
    if (value.byteLength > room) {
      chunks.push(value.subarray(0, room));
      total += room;
      cut = true;
      await reader.cancel().catch(() => undefined);
      break;
    }
    chunks.push(value);
    total += value.byteLength;
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return { bytes, cut };
}

/** UTF-8 text of `bytes`, cut at `maxBytes` without leaving a broken character. */
function capText(bytes: Uint8Array, cut: boolean, maxBytes: number): string {
  const slice = bytes.byteLength > maxBytes ? bytes.subarray(0, maxBytes) : bytes;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(slice).replace(/\uFFFD+$/, '');
  return cut || bytes.byteLength > maxBytes ? `${text}${CUT_MARKER}` : text;
}

/** One attempt's result. */
interface Attempt {
  readonly ok: boolean;
  readonly retryable: boolean;
  readonly status?: number;
  readonly text: string;
  /** Short failure description (no body): `HTTP 500`, `timed out after 3000 ms`. */
  readonly error?: string;
}

async function httpAttempt(
  tool: ToolDeclaration,
  input: Readonly<Record<string, unknown>>,
  runtime: ToolRuntime,
  signal: AbortSignal,
): Promise<Attempt> {
  const url = fillUrlTemplate(tool.url ?? '', input);
  const method = tool.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json, text/plain;q=0.9, */*;q=0.5' };
  if (tool.auth) {
    const value = runtime.secrets[tool.auth.secret];
    if (value === undefined) throw new ToolInputError(`its auth secret "${tool.auth.secret}" is not set`);
    headers[tool.auth.header.toLowerCase()] = value;
  }
  if (method === 'POST') headers['content-type'] = 'application/json';
  const response = await (runtime.fetch ?? fetch)(url, {
    method,
    headers,
    ...(method === 'POST' ? { body: JSON.stringify(input) } : {}),
    // A redirect could leave https; it is a failure, not followed.
    redirect: 'manual',
    signal,
  });
  const { bytes, cut } = await readCapped(response.body, tool.maxResponseBytes);
  const text = capText(bytes, cut, tool.maxResponseBytes);
  if (response.status >= 200 && response.status < 300)
    return { ok: true, retryable: false, status: response.status, text };
  return {
    ok: false,
    retryable: response.status >= 500 || response.status === 429,
    status: response.status,
    text,
    error: `HTTP ${response.status}`,
  };
}

let sharedLambda: LambdaClient | undefined;

async function lambdaAttempt(
  tool: ToolDeclaration,
  input: Readonly<Record<string, unknown>>,
  runtime: ToolRuntime,
  signal: AbortSignal,
): Promise<Attempt> {
  // Built on first use so AWS_ENDPOINT_URL_LAMBDA (the local stack, tests) is read then.
  sharedLambda ??= runtime.lambda ? undefined : new LambdaClient({ maxAttempts: 1 });
  const client = runtime.lambda ?? sharedLambda!;
  try {
    const output = await client.send(
      new InvokeCommand({
        FunctionName: tool.functionName,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(input)),
      }),
      { abortSignal: signal },
    );
    const bytes = output.Payload ?? new Uint8Array();
    const text = capText(bytes, false, tool.maxResponseBytes);
    if (output.FunctionError) {
      return {
        ok: false,
        retryable: false,
        status: output.StatusCode,
        text,
        error: `function error (${output.FunctionError})`,
      };
    }
    return { ok: true, retryable: false, status: output.StatusCode, text };
  } catch (err) {
    if (signal.aborted) throw err;
    const status = httpStatus(err);
    if (status === undefined) throw err;
    return {
      ok: false,
      retryable: status >= 500 || status === 429,
      status,
      text: '',
      error: `${errorName(err)} (HTTP ${status})`,
    };
  }
}

/** What the model is told when a tool failed: enough to answer the customer, no internals. */
function failureText(tool: ToolDeclaration, attempt: Attempt | undefined, why: string): string {
  const body =
    attempt && !attempt.retryable && attempt.text.trim() !== '' ? `\nIts answer: ${attempt.text}` : '';
  return `The tool "${tool.name}" failed: ${why}.${body}\nDo not guess the information it would have given. Tell the customer politely that you cannot check this right now, and offer that a team member will follow up.`;
}

/**
 * Calls one tool with its input. Never throws for a failing tool (the outcome says so); throws
 * only when the answer's deadline (`runtime.signal`) aborts.
 */
export async function callTool(
  tool: ToolDeclaration,
  input: unknown,
  runtime: ToolRuntime,
): Promise<ToolOutcome> {
  const started = Date.now();
  const fields: Record<string, unknown> =
    typeof input === 'object' && input !== null && !Array.isArray(input)
      ? (input as Record<string, unknown>)
      : {};
  let attempts = 0;
  let last: Attempt | undefined;
  let why = '';
  while (attempts < TOOL_ATTEMPTS) {
    attempts += 1;
    const signal = AbortSignal.any([runtime.signal, AbortSignal.timeout(tool.timeoutMs)]);
    try {
      last =
        tool.type === 'lambda'
          ? await lambdaAttempt(tool, fields, runtime, signal)
          : await httpAttempt(tool, fields, runtime, signal);
      if (last.ok) break;
      why = last.error ?? 'failed';
      if (!last.retryable) break;
    } catch (err) {
      if (runtime.signal.aborted) throw err;
      if (err instanceof ToolInputError) {
        why = err.message;
        last = undefined;
        break;
      }
      last = undefined;
      why = signal.aborted
        ? `did not answer within ${tool.timeoutMs} ms`
        : `could not be reached (${errorName(err)})`;
    }
    if (attempts < TOOL_ATTEMPTS) await sleep(runtime.retryDelayMs ?? 200, runtime.signal);
  }
  const latencyMs = Date.now() - started;
  if (last?.ok) {
    return {
      record: {
        name: tool.name,
        ok: true,
        ...(last.status !== undefined ? { status: last.status } : {}),
        attempts,
        latencyMs,
      },
      status: 'success',
      text: last.text.trim() === '' ? '(empty response)' : last.text,
    };
  }
  return {
    record: {
      name: tool.name,
      ok: false,
      ...(last?.status !== undefined ? { status: last.status } : {}),
      attempts,
      latencyMs,
      error: why,
    },
    status: 'error',
    text: failureText(tool, last, why),
  };
}
