/**
 * The tenant's welcome reply: a turn made only of Get Started taps (Messenger's Get Started
 * button, payload `GET_STARTED`; Telegram `/start`, parsed to the same payload) is answered with
 * `settings.welcomeReply` as written, without calling the responder — like the fallback reply,
 * it is the tenant's own text, so the wording and grounding gates do not judge it (a hotline
 * number in a welcome is not a hallucination). A turn where the customer also wrote something
 * goes to the responder, which is told the customer started the conversation (describe.ts).
 */
import type { Reply, TurnContext } from '../contracts/responder.js';
import { type ReplyPlan, splitMessages } from '../gates/pipeline.js';
import { GET_STARTED_PAYLOAD } from './describe.js';

/** True when every message of the turn is a Get Started tap (or `/start`). */
export function isGetStartedTurn(context: TurnContext): boolean {
  return (
    context.messages.length > 0 &&
    context.messages.every((m) => m.postback?.payload === GET_STARTED_PAYLOAD && m.attachments.length === 0)
  );
}

/** The welcome reply for a Get Started turn of a tenant that has one, else undefined. */
export function welcomeReply(context: TurnContext): Reply | undefined {
  const text = context.settings.welcomeReply?.trim();
  if (!text || !isGetStartedTurn(context)) return undefined;
  return { messages: [{ text }] };
}

/**
 * The reply plan of a Get Started turn (the welcome reply split to the channel's length, no
 * gates run), or undefined when the turn goes to the responder. Plugged in front of the reply
 * pipeline by the conversation runtime.
 */
export function welcomePlan(context: TurnContext): Promise<ReplyPlan> | undefined {
  const reply = welcomeReply(context);
  if (!reply) return undefined;
  const plan = {
    parts: splitMessages(reply.messages, context.maxReplyLength),
    handoff: false,
    outcome: 'ok' as const,
    gates: [],
  };
  return Promise.resolve(plan);
}
