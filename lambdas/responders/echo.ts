/**
 * The `echo` responder: deterministic, no AWS calls. Local runs and tests depend on its exact
 * format: `echo: ` followed by the turn's message texts joined with ` | `.
 */
import type { Reply, Responder, TurnContext, TurnMessage } from './types.js';

/** The prefix of every echo reply. */
export const ECHO_PREFIX = 'echo: ';
/** The separator between the turn's messages in an echo reply. */
export const ECHO_SEPARATOR = ' | ';

function hasContent(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '';
}

/**
 * What a message contributes to the echo: its text, else its transcript (voice note), else its
 * media note; undefined when it has none of them.
 */
export function echoPart(message: TurnMessage): string | undefined {
  if (hasContent(message.text)) return message.text;
  if (hasContent(message.transcript)) return message.transcript;
  if (hasContent(message.mediaNote)) return message.mediaNote;
  return undefined;
}

/**
 * The echo text of a turn, or undefined when no message of the turn carries anything to echo
 * (the reply is then empty, and the gates decide: fallback reply or handoff).
 */
export function echoText(messages: readonly TurnMessage[]): string | undefined {
  const parts = messages.map(echoPart).filter((part): part is string => part !== undefined);
  return parts.length === 0 ? undefined : ECHO_PREFIX + parts.join(ECHO_SEPARATOR);
}

/** Answers every turn with its own messages, prefixed with `echo: `. */
export class EchoResponder implements Responder {
  readonly name = 'echo';
  // Its reply format is a contract (local runs and tests compare it exactly): a customer who
  // repeats himself, or writes "[URGENT]", must still get `echo: …`, not the fallback reply.
  readonly verbatim = true;

  async respond(context: TurnContext): Promise<Reply> {
    const text = echoText(context.messages);
    return { messages: text === undefined ? [] : [{ text }] };
  }
}
