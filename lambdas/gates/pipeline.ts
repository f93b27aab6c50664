/**
 * The reply pipeline: responder → gates → one regeneration → fallback or handoff → length
 * split. Every reply goes through it before it is queued on outbound.fifo.
 */
import type { AuditGate } from '../contracts/audit.js';
import type { ResponderDiagnostics } from '../contracts/responder.js';
import type { Reply, ReplyMessage, Responder, ResponderReply, TurnContext } from '../responders/types.js';
import { emitMetric, logger } from '../shared/powertools.js';
import {
  checkNoBannedPhrase,
  checkNoLeak,
  checkNonEmpty,
  checkNoRepeat,
  type GateName,
  type GateResult,
} from './checks.js';
import { checkGrounded } from './grounding.js';
import { maxReplyLength } from './limits.js';
import { isBlank } from './normalise.js';
import { MAX_REPLY_PARTS, splitText, withMarker } from './split.js';

/** What to queue for a turn. */
export interface ReplyPlan {
  /** The outbound messages, each within the channel's length limit; empty on a silent handoff. */
  parts: ReplyMessage[];
  /** Pause the bot and hand the conversation to a human. */
  handoff: boolean;
  /** Memory updates from the responder's last reply (kept even when its text was replaced). */
  memory?: Reply['memory'];
  /**
   * `ok`: the first reply passed; `regenerated`: the regeneration passed; `fallback`: both
   * failed and the tenant's fallback reply is sent; `handoff`: the responder asked for a human,
   * or both failed and no fallback reply is configured.
   */
  outcome: 'ok' | 'regenerated' | 'fallback' | 'handoff';
  /**
   * Every gate result, in order: each gate evaluated on each candidate (`pass`, or `fail` with
   * its reason), then `regenerated` or `fallback` for the gate that caused a recovery. For the
   * turn's audit record.
   */
  gates: AuditGate[];
  /** What the responder reported (retrieval, tools, tokens), over both calls when it regenerated. */
  diagnostics?: ResponderDiagnostics;
}

/** Options of {@link produceReply}. */
export interface ProduceReplyOptions {
  /** The bot's previous reply in this conversation (repeat gate). */
  previousBotReply?: string;
  /** Hidden instructions the reply must not quote; default: the responder's `systemPrompt(context)`. */
  systemPrompt?: string;
  /** Cancels the responder calls (e.g. the Lambda's remaining time). */
  signal?: AbortSignal;
}

interface Failure {
  gate: GateName;
  reason: string;
}

function runGates(
  reply: ResponderReply,
  context: TurnContext,
  systemPrompt: string | undefined,
  previousBotReply: string | undefined,
  responder: Responder,
  audit: AuditGate[],
): Failure | undefined {
  const wording: [GateName, () => GateResult][] = [
    ['no-leak', () => checkNoLeak(reply, systemPrompt)],
    ['no-repeat', () => checkNoRepeat(reply, previousBotReply)],
    ['no-banned-phrase', () => checkNoBannedPhrase(reply, context.settings.bannedPhrases)],
    ...(responder.grounded === true
      ? ([['grounded', () => checkGrounded(reply, context)]] as [GateName, () => GateResult][])
      : []),
  ];
  const gates: [GateName, () => GateResult][] = [
    ['non-empty', () => checkNonEmpty(reply)],
    ...(responder.verbatim === true ? [] : wording),
  ];
  for (const [gate, check] of gates) {
    const result = check();
    // Failures only: a pass on every gate of every reply cost a metric directive per gate in the
    // turn's EMF line (docs/cost.md); the pass rate is 1 − failures / TurnsFlushed.
    if (!result.pass) emitMetric('GateOutcome', 1, { gate, outcome: 'fail' });
    audit.push(result.pass ? { gate, outcome: 'pass' } : { gate, outcome: 'fail', reason: result.reason });
    if (!result.pass) return { gate, reason: result.reason };
  }
  return undefined;
}

/** The diagnostics of two responder calls as one: tokens summed, tool calls in order, the last retrieval. */
export function mergeDiagnostics(
  first: ResponderDiagnostics | undefined,
  second: ResponderDiagnostics | undefined,
): ResponderDiagnostics | undefined {
  if (!first || !second) return second ?? first;
  const tools = [...(first.tools ?? []), ...(second.tools ?? [])];
  const a = first.tokens;
  const b = second.tokens;
  const sum = (x: number | undefined, y: number | undefined): number | undefined =>
    x === undefined && y === undefined ? undefined : (x ?? 0) + (y ?? 0);
  const cacheRead = sum(a?.cacheRead, b?.cacheRead);
  const cacheWrite = sum(a?.cacheWrite, b?.cacheWrite);
  const retrieval = second.retrieval ?? first.retrieval;
  return {
    ...(retrieval ? { retrieval } : {}),
    ...(tools.length > 0 ? { tools } : {}),
    ...(a || b
      ? {
          tokens: {
            input: (a?.input ?? 0) + (b?.input ?? 0),
            output: (a?.output ?? 0) + (b?.output ?? 0),
            ...(cacheRead !== undefined ? { cacheRead } : {}),
            ...(cacheWrite !== undefined ? { cacheWrite } : {}),
          },
        }
      : {}),
  };
}

/** Longest image URL a reply part may carry (longer ones are dropped: a cut URL is useless). */
export const MAX_IMAGE_URL_LENGTH = 2048;

/**
 * The reply's messages cut to the length limit: long texts become several parts, in order, at
 * most `maxParts` in all (the last text part then ends with the truncation marker; images past
 * the bound are dropped).
 */
export function splitMessages(
  messages: readonly ReplyMessage[],
  limit: number,
  maxParts: number = MAX_REPLY_PARTS,
): ReplyMessage[] {
  const parts: ReplyMessage[] = [];
  for (const message of messages) {
    const room = maxParts - parts.length;
    if (room <= 0) break;
    const rawUrl = isBlank(message.imageUrl) ? undefined : message.imageUrl;
    const imageUrl = rawUrl !== undefined && rawUrl.length <= MAX_IMAGE_URL_LENGTH ? rawUrl : undefined;
    const textRoom = imageUrl !== undefined ? room - 1 : room;
    const texts =
      isBlank(message.text) || textRoom <= 0
        ? []
        : splitText(message.text ?? '', limit, { maxParts: textRoom });
    if (texts.length === 0 && imageUrl === undefined) continue;
    // The image is a part of its own, before the text: each part is sent, recorded and retried
    // on its own, so a failed text never re-sends an image that already went out.
    const own: ReplyMessage[] = [];
    if (imageUrl !== undefined) own.push({ imageUrl });
    for (const text of texts) own.push({ text });
    // Quick replies and buttons belong under the message's last part (shown after all of it).
    const extras = {
      ...(message.quickReplies && message.quickReplies.length > 0
        ? { quickReplies: message.quickReplies }
        : {}),
      ...(message.buttons && message.buttons.length > 0 ? { buttons: message.buttons } : {}),
    };
    if (Object.keys(extras).length > 0) own[own.length - 1] = { ...own[own.length - 1], ...extras };
    parts.push(...own);
  }
  return parts;
}

/**
 * The responder's reply bounded before any gate reads it: at most {@link MAX_REPLY_PARTS}
 * messages, each text at most `limit × MAX_REPLY_PARTS` code units (cut with the marker). No
 * gate or split then works on more than that, whatever a responder returns.
 */
export function boundReply<R extends Reply>(reply: R, limit: number): R {
  const maxText = limit * MAX_REPLY_PARTS;
  const tooMany = reply.messages.length > MAX_REPLY_PARTS;
  const tooLong = reply.messages.some((m) => m.text !== undefined && m.text.length > maxText);
  if (!tooMany && !tooLong) return reply;
  return {
    ...reply,
    messages: reply.messages
      .slice(0, MAX_REPLY_PARTS)
      .map((m) =>
        m.text !== undefined && m.text.length > maxText ? { ...m, text: withMarker(m.text, maxText) } : m,
      ),
  };
}

function limitFor(context: TurnContext): number {
  const channelLimit = maxReplyLength(context.channel);
  const given = context.maxReplyLength;
  return Number.isInteger(given) && given > 0 ? Math.min(given, channelLimit) : channelLimit;
}

/**
 * Asks the responder for a reply and makes it safe to send: runs the gates (non-empty, no
 * leaked internals, not a repeat, no banned phrase); on a failure asks ONE regeneration with the
 * failure's reason in `regenerationReason`; when that fails too, answers with the tenant's
 * fallback reply, or hands off when no fallback is configured (blank `settings.fallbackReply`).
 * Texts longer than the channel limit are split at sentence boundaries (not a failure).
 * A responder handoff is honoured: its messages (if any, gated) are sent and `handoff` is set.
 * Emits `GateOutcome` per failed gate (`fail`) and per recovery (`regenerated`/`fallback`); passes
 * are not counted (the audit trail keeps them).
 * `ResponderLatency`/`ResponderFailed` are the caller's (the actor measures the whole call).
 * @throws ResponderError (or whatever the responder throws): the turn is retried by the caller.
 */
export async function produceReply(
  responder: Responder,
  context: TurnContext,
  options: ProduceReplyOptions = {},
): Promise<ReplyPlan> {
  const limit = limitFor(context);
  const systemPrompt = options.systemPrompt ?? responder.systemPrompt?.(context);
  const { previousBotReply, signal } = options;
  const log = { tenant: context.tenantId, channel: context.channel, conversation: context.conversationKey };
  const gates: AuditGate[] = [];

  const first = boundReply(await responder.respond(context, signal), limit);
  if (first.handoff === true && first.messages.length === 0) {
    return withDiagnostics(
      { parts: [], handoff: true, memory: first.memory, outcome: 'handoff', gates },
      first.diagnostics,
    );
  }
  const firstFailure = runGates(first, context, systemPrompt, previousBotReply, responder, gates);
  if (firstFailure === undefined) {
    return withDiagnostics(
      plan(first, limit, first.handoff === true ? 'handoff' : 'ok', gates),
      first.diagnostics,
    );
  }
  logger.info('Reply failed a gate; regenerating', { ...log, gate: firstFailure.gate, turn: context.turnId });

  const retryContext: TurnContext = { ...context, regenerationReason: firstFailure.reason };
  const second = boundReply(await responder.respond(retryContext, signal), limit);
  const diagnostics = mergeDiagnostics(first.diagnostics, second.diagnostics);
  const secondSystemPrompt = options.systemPrompt ?? responder.systemPrompt?.(retryContext) ?? systemPrompt;
  if (second.handoff === true && second.messages.length === 0) {
    emitMetric('GateOutcome', 1, { gate: firstFailure.gate, outcome: 'regenerated' });
    gates.push({ gate: firstFailure.gate, outcome: 'regenerated' });
    return withDiagnostics(
      { parts: [], handoff: true, memory: second.memory ?? first.memory, outcome: 'handoff', gates },
      diagnostics,
    );
  }
  const secondFailure = runGates(second, context, secondSystemPrompt, previousBotReply, responder, gates);
  if (secondFailure === undefined) {
    emitMetric('GateOutcome', 1, { gate: firstFailure.gate, outcome: 'regenerated' });
    gates.push({ gate: firstFailure.gate, outcome: 'regenerated' });
    return withDiagnostics(
      plan(second, limit, second.handoff === true ? 'handoff' : 'regenerated', gates),
      diagnostics,
    );
  }

  const memory = second.memory ?? first.memory;
  const fallback = context.settings.fallbackReply;
  logger.warn('Regenerated reply failed a gate too', {
    ...log,
    gate: secondFailure.gate,
    turn: context.turnId,
    fallback: !isBlank(fallback),
  });
  emitMetric('GateOutcome', 1, { gate: secondFailure.gate, outcome: 'fallback' });
  gates.push({ gate: secondFailure.gate, outcome: 'fallback' });
  if (isBlank(fallback)) {
    return withDiagnostics({ parts: [], handoff: true, memory, outcome: 'handoff', gates }, diagnostics);
  }
  return withDiagnostics(
    {
      parts: splitMessages([{ text: fallback }], limit),
      handoff: second.handoff === true,
      memory,
      outcome: 'fallback',
      gates,
    },
    diagnostics,
  );
}

function withDiagnostics(plan: ReplyPlan, diagnostics: ResponderDiagnostics | undefined): ReplyPlan {
  return diagnostics ? { ...plan, diagnostics } : plan;
}

function plan(reply: Reply, limit: number, outcome: ReplyPlan['outcome'], gates: AuditGate[]): ReplyPlan {
  return {
    parts: splitMessages(reply.messages, limit),
    handoff: reply.handoff === true,
    memory: reply.memory,
    outcome,
    gates,
  };
}
