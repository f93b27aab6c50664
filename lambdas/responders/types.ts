/**
 * The responder contract: a responder turns a {@link TurnContext} into a {@link Reply}.
 * Its data types live in lambdas/contracts/responder.ts (public as `chat-relay/contracts`): the `lambda`
 * responder sends a TurnContext as JSON to the user's function and expects a Reply back.
 */
import type { Reply, TurnContext } from '../contracts/responder.js';

// The data half of the contract (TurnContext, Reply…) lives in the contracts: the constructs'
// users implement it in their own `lambda` responder. Re-exported here for the runtime.
export type {
  HistoryEntry,
  Reply,
  ReplyMessage,
  TurnContext,
  TurnMessage,
} from '../contracts/responder.js';

/**
 * A reply as a responder returns it inside the runtime: the public {@link Reply} plus the texts
 * its facts may come from besides the conversation (retrieved passages, tool results), read by
 * the grounding gate. Never sent, stored or given to a user's function.
 */
export interface ResponderReply extends Reply {
  readonly evidence?: readonly string[];
}

/** A responder implementation. */
export interface Responder {
  readonly name: string;
  /**
   * True when prices, phone numbers, links and order statuses in its replies must be grounded
   * (the `bedrock` responder): the grounding gate checks them against the conversation, the
   * persona and the reply's `evidence`. A user's own function (`lambda`) is trusted with its data.
   */
  readonly grounded?: boolean;
  /**
   * True when the responder's wording is defined exactly (the `echo` responder): the gates that
   * judge wording (leaked internals, repeats, banned phrases) do not apply to it; non-empty and
   * the channel length split still do.
   */
  readonly verbatim?: boolean;
  respond(context: TurnContext, signal?: AbortSignal): Promise<ResponderReply>;
  /**
   * The hidden instructions this responder gives its model for `context` (optional). The
   * leaked-internals gate rejects replies that quote them.
   */
  systemPrompt?(context: TurnContext): string;
}
