/**
 * From parsed webhook events to `inbound.fifo` entries: one entry per customer message or
 * human-activity event, in body order, exact duplicates within the request dropped, group id
 * from the conversation key and dedup id from tenant, channel and platform message id.
 */
import { inboundDedupId, messageGroupId } from '../shared/keys.js';
import type { ChannelName, HumanActiveEvent, MessageEvent, ParsedEvent } from '../shared/model.js';
import type { QueueEntry } from '../shared/queue.js';

/** An entry ready for `sendToQueue`, with what the logs need to name it. */
export interface InboundEntry extends QueueEntry {
  readonly groupId: string;
  readonly dedupId: string;
  readonly type: 'message' | 'human-active';
  readonly conversationKey: string;
  /** The platform message id (the agent's message id for human activity). */
  readonly messageId: string;
}

/** Why an event was acknowledged without being enqueued: an adapter reason, or `duplicate`. */
export type IgnoredReason = string;

export interface PreparedEntries {
  readonly entries: InboundEntry[];
  /** Ignored events counted by reason. */
  readonly ignored: Map<IgnoredReason, number>;
  /** Total of `ignored`. */
  readonly ignoredCount: number;
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/**
 * Builds the inbound entries for the events of one request. The envelope's tenant and channel
 * are the request's (the route is authoritative); conversation ids come from the adapter.
 * An event without a message id or conversation key (an adapter bug) is counted as
 * `unsupported` rather than enqueued under an empty key.
 */
export function prepareEntries(
  tenantId: string,
  channel: ChannelName,
  events: readonly ParsedEvent[],
): PreparedEntries {
  const entries: InboundEntry[] = [];
  const ignored = new Map<IgnoredReason, number>();
  let ignoredCount = 0;
  const seen = new Set<string>();

  for (const event of events) {
    if (event.type === 'ignored') {
      bump(ignored, event.reason);
      ignoredCount += 1;
      continue;
    }
    const item = event.type === 'message' ? event.message : event.activity;
    if (!item.messageId || !item.conversationKey || !item.conversationId) {
      bump(ignored, 'unsupported');
      ignoredCount += 1;
      continue;
    }
    const dedupId = inboundDedupId(tenantId, channel, item.messageId);
    // The same platform message twice in one body: SQS would drop the copy anyway, but only
    // within its 5-minute window and after counting it as sent; drop it here and say so.
    if (seen.has(dedupId)) {
      bump(ignored, 'duplicate');
      ignoredCount += 1;
      continue;
    }
    seen.add(dedupId);

    let body: string;
    if (event.type === 'message') {
      const payload: MessageEvent = {
        v: 1,
        type: 'message',
        tenantId,
        channel,
        conversationId: item.conversationId,
        conversationKey: item.conversationKey,
        message: event.message,
      };
      body = JSON.stringify(payload);
    } else {
      const payload: HumanActiveEvent = {
        v: 1,
        type: 'human-active',
        tenantId,
        channel,
        conversationId: item.conversationId,
        conversationKey: item.conversationKey,
        activity: event.activity,
      };
      body = JSON.stringify(payload);
    }
    entries.push({
      // Batch entry ids must be unique within a call and use [A-Za-z0-9_-]: the position does.
      id: `e${entries.length}`,
      body,
      groupId: messageGroupId(item.conversationKey),
      dedupId,
      type: event.type,
      conversationKey: item.conversationKey,
      messageId: item.messageId,
    });
  }
  return { entries, ignored, ignoredCount };
}
