/**
 * A single-part reply to an inbox conversation, as the conversation actor queues it for
 * delivery: the customer wrote a minute ago, the turn was received five seconds ago.
 */
import type { ChannelName, OutboundPart } from '../../lambdas/shared/model.js';

/** Who the part goes to and what it says. */
export interface InboxPartFields {
  readonly tenantId: string;
  readonly channel: ChannelName;
  readonly pageId: string;
  readonly recipientId: string;
  readonly conversationId: string;
  readonly turnId: string;
  readonly text: string;
}

/** The only part (index 0 of 1) of turn `turnId`'s reply. */
export function inboxPart(f: InboxPartFields): OutboundPart {
  return {
    v: 1,
    replyId: `${f.turnId}:0`,
    turnId: f.turnId,
    partIndex: 0,
    partCount: 1,
    tenantId: f.tenantId,
    channel: f.channel,
    conversationId: f.conversationId,
    conversationKey: `${f.tenantId}#${f.channel}#${f.conversationId}`,
    pageId: f.pageId,
    recipientId: f.recipientId,
    surface: 'inbox',
    text: f.text,
    customerLastMessageAt: Date.now() - 60_000,
    receivedAt: Date.now() - 5_000,
    createdAt: Date.now(),
  };
}
