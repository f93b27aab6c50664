/**
 * Plain-text renderings of the audit trail for `npm run ops`: one line per conversation, and a
 * conversation's timeline (each customer message, the turn it went into, stage timings, gate
 * outcomes, reply parts with their delivery, takeovers), times in UTC.
 */
import type {
  AuditDelivery,
  AuditTurn,
  ConversationSummary,
  ConversationTrail,
} from '../../lambdas/contracts/audit.js';
import type { RedrivenRecord } from './redrive.js';

/** `2026-12-02 09:21:15Z`. */
export function utc(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** `09:21:15.123` (UTC), for lines inside a timeline. */
export function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

function pausedLabel(c: ConversationSummary): string {
  if (!c.paused) return 'bot on';
  return c.pausedUntil !== undefined ? `paused until ${utc(c.pausedUntil)}` : 'paused';
}

/** One line per conversation, newest activity first as given. */
export function formatConversations(list: readonly ConversationSummary[]): string {
  if (list.length === 0) return 'No conversations.';
  const rows = list.map((c) => [
    utc(c.lastActivityAt),
    c.channel,
    c.conversationId,
    pausedLabel(c),
    (c.lastMessage ?? '').replace(/\s+/g, ' ').slice(0, 60),
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i < 4 ? cell.padEnd(widths[i]!) : cell))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** One reply part's delivery as a phrase. */
export function deliveryPhrase(d: AuditDelivery): string {
  const bits: string[] = [d.state];
  if (d.platformMessageId) bits.push(`id ${d.platformMessageId}`);
  bits.push(`${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`);
  if (d.retryCodes.length > 0) bits.push(`retried ${d.retryCodes.join(', ')}`);
  if (d.permanentCode) bits.push(`code ${d.permanentCode}`);
  return bits.join(', ');
}

function turnLines(turn: AuditTurn): { at: number; lines: string[] } {
  const first = turn.messages[0]?.receivedAt ?? turn.flushedAt;
  const lines: string[] = [];
  for (const m of turn.messages) {
    lines.push(
      `${clock(m.receivedAt)}  customer ${m.kind} ${m.messageId} (platform time ${clock(m.timestamp)})`,
    );
  }
  lines.push(
    `${clock(turn.flushedAt)}  turn ${turn.turnId}: flushed (${turn.flushReason}) ${turn.flushedAt - first} ms after its first message`,
  );
  for (const media of turn.media ?? []) {
    lines.push(
      `              media ${media.messageId}: ${media.result}${media.latencyMs !== undefined ? ` in ${media.latencyMs} ms` : ''}${media.note ? ` (${media.note})` : ''}`,
    );
  }
  if (turn.responder) {
    lines.push(`              responder ${turn.responder.name}: ${turn.responder.latencyMs} ms`);
  }
  for (const g of turn.gates) {
    lines.push(`              gate ${g.gate}: ${g.outcome}${g.reason ? ` (${g.reason})` : ''}`);
  }
  lines.push(`              outcome: ${turn.outcome}`);
  for (const d of turn.deliveries) {
    lines.push(`${clock(d.at)}  reply ${d.replyId} part ${d.part}: ${deliveryPhrase(d)}`);
  }
  return { at: first, lines };
}

/** A conversation's trail as a readable timeline. */
export function formatTrail(trail: ConversationTrail): string {
  const head = [
    `${trail.tenantId} / ${trail.channel} / ${trail.conversationId}`,
    `last activity ${utc(trail.lastActivityAt)}; ${pausedLabel(trail)}; ${trail.turns.length} turn${trail.turns.length === 1 ? '' : 's'}`,
  ];
  const blocks: { at: number; lines: string[] }[] = trail.turns.map(turnLines);
  for (const t of trail.takeovers) {
    blocks.push({
      at: t.at,
      lines: [`${clock(t.at)}  takeover ${t.kind === 'start' ? 'started' : 'ended'} (${t.by})`],
    });
  }
  blocks.sort((a, b) => a.at - b.at);
  let day = '';
  const body: string[] = [];
  for (const block of blocks) {
    const d = new Date(block.at).toISOString().slice(0, 10);
    if (d !== day) {
      body.push(`— ${d} (UTC) —`);
      day = d;
    }
    body.push(...block.lines);
  }
  return [...head, '', ...(body.length > 0 ? body : ['No turns recorded.'])].join('\n');
}

/** One line per redriven record. */
export function formatRedriven(r: RedrivenRecord, dryRun: boolean): string {
  return `${dryRun ? 'would move' : 'moved'}  ${r.group || '(no group)'}  ${utc(r.sentAt)}  ${r.messageId}  ${r.summary}`;
}
