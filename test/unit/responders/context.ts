import type { TurnContext, TurnMessage } from '../../../lambdas/responders/types.js';

/** A message of the turn with sensible defaults. */
export function turnMessage(overrides: Partial<TurnMessage> = {}): TurnMessage {
  return {
    messageId: overrides.messageId ?? `m-${Math.random().toString(36).slice(2)}`,
    kind: 'text',
    timestamp: 1_700_000_000_000,
    attachments: [],
    ...overrides,
  };
}

/** A TurnContext with sensible defaults (Messenger unless said otherwise). */
export function turnContext(overrides: Partial<TurnContext> = {}): TurnContext {
  return {
    tenantId: 'acme',
    channel: 'messenger',
    conversationId: 'page1:psid1',
    conversationKey: 'acme#messenger#page1:psid1',
    turnId: 'turn-1',
    settings: { bannedPhrases: [], fallbackReply: 'Sorry, a team member will reply soon.' },
    customer: { id: 'psid1' },
    facts: {},
    history: [],
    summaries: [],
    messages: [turnMessage({ text: 'hello' })],
    maxReplyLength: 2000,
    ...overrides,
  };
}
