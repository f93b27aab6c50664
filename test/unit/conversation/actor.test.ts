import { describe, expect, it } from 'vitest';
import { ConversationActor, hasSummaries } from '../../../lambdas/conversation/actor.js';
import {
  BOUNDS,
  estimateBytes,
  SEEN_DIGEST_CHARS,
  STORED_TEXT_MARKER,
} from '../../../lambdas/conversation/bounds.js';
import type { ActorConfig } from '../../../lambdas/conversation/config.js';
import type { TimerTick } from '../../../lambdas/conversation/debounce.js';
import {
  type ActorDeps,
  type HistoryItem,
  type MemoryStore,
  type ReplyPlanLike,
  StateConflictError,
  type StateStore,
} from '../../../lambdas/conversation/ports.js';
import {
  appendMessage,
  type ConversationState,
  emptyState,
  hasSeen,
  mayBeEvicted,
} from '../../../lambdas/conversation/turn.js';
import { historyEntries, type TurnItem } from '../../../lambdas/memory/turn-item.js';
import type { TurnContext } from '../../../lambdas/responders/types.js';
import type { MetricName } from '../../../lambdas/shared/metrics-catalogue.js';
import type { FlushEvent, MediaJob, MessageEvent, OutboundPart } from '../../../lambdas/shared/model.js';
import type { TenantDocument, TenantSettings } from '../../../lambdas/shared/tenant.js';

const KEY = 'acme#messenger#P1:U1';

class MemState implements StateStore {
  item: ConversationState | undefined;
  saves = 0;
  /** Throw (simulating a crash) on the save whose 1-based index matches. */
  crashOnSave: number | undefined;
  async load() {
    return (
      structuredClone(this.item) ??
      emptyState({ tenantId: 'acme', channel: 'messenger', conversationId: 'P1:U1', conversationKey: KEY })
    );
  }
  async save(state: ConversationState) {
    if ((this.item?.rev ?? 0) !== state.rev) throw new StateConflictError();
    this.saves += 1;
    if (this.crashOnSave === this.saves) {
      this.crashOnSave = undefined;
      this.saves -= 1;
      throw new Error('crash before the write');
    }
    this.item = structuredClone({ ...state, rev: state.rev + 1 });
    return structuredClone(this.item);
  }
}

class MemMemory implements MemoryStore {
  history = new Map<string, HistoryItem>();
  turns = new Map<string, TurnItem>();
  takeovers: Parameters<MemoryStore['putTakeover']>[0][] = [];
  facts: Record<string, string> = {};
  summaries: string[] = [];
  profiles = 0;
  sent = new Set<string>();
  /** The `summaries` flag of every load: whether the store was asked for summaries. */
  summaryLookups: (boolean | undefined)[] = [];
  async load(input: Parameters<MemoryStore['load']>[0]) {
    this.summaryLookups.push(input.summaries);
    const items: [string, Record<string, unknown>][] = [
      ...[...this.history.entries()].map(
        ([sk, h]) => [sk, h as unknown as Record<string, unknown>] as [string, Record<string, unknown>],
      ),
      ...[...this.turns.entries()].map(
        ([sk, t]) => [sk, t as unknown as Record<string, unknown>] as [string, Record<string, unknown>],
      ),
    ];
    return {
      profile: {},
      facts: { ...this.facts },
      history: items.sort((a, b) => a[0].localeCompare(b[0])).flatMap(([, i]) => historyEntries(i)),
      summaries: input.summaries === false ? [] : [...this.summaries],
    };
  }
  /** Customer history entries, from turn items and single entries alike. */
  customerEntries() {
    return [
      ...[...this.history.values()].filter((h) => h.role === 'customer'),
      ...[...this.turns.values()].flatMap((t) => t.messages),
    ];
  }
  async putHistory(items: readonly HistoryItem[]) {
    for (const i of items) this.history.set(i.sk, i);
  }
  async putTurn(input: Parameters<MemoryStore['putTurn']>[0]) {
    this.turns.set(input.sk, structuredClone(input.item));
    Object.assign(this.facts, input.facts ?? {});
    if (input.summary) this.summaries.push(input.summary.text);
    if (input.profile) this.profiles += 1;
  }
  /** Every history look-up the actor made (the common path must make none). */
  lookups: Parameters<MemoryStore['hasCustomerMessage']>[0][] = [];
  async hasCustomerMessage(input: Parameters<MemoryStore['hasCustomerMessage']>[0]) {
    this.lookups.push(input);
    const inRange = (sk: string) => {
      const at = Number(sk.split('#')[1]);
      return at >= input.from && at <= input.to;
    };
    return (
      [...this.history].some(([sk, h]) => inRange(sk) && h.messageId === input.messageId) ||
      [...this.turns].some(
        ([sk, t]) => inRange(sk) && t.messages.some((m) => m.messageId === input.messageId),
      )
    );
  }
  async getTurn(_key: string, sk: string) {
    return structuredClone(this.turns.get(sk));
  }
  async putTakeover(input: Parameters<MemoryStore['putTakeover']>[0]) {
    this.takeovers.push(input);
  }
  async isOurSend(_t: string, _c: string, id: string) {
    return this.sent.has(id);
  }
}

function setup(
  options: {
    settings?: TenantSettings;
    config?: Partial<ActorConfig>;
    plan?: (context: TurnContext, signal?: AbortSignal) => ReplyPlanLike | Promise<ReplyPlanLike>;
    typing?: ActorDeps['typing'];
  } = {},
) {
  let now = 1_700_000_000_000;
  const state = new MemState();
  const memory = new MemMemory();
  const ticks: { tick: TimerTick; delay: number }[] = [];
  const outbound: OutboundPart[] = [];
  const jobs: MediaJob[] = [];
  const contexts: TurnContext[] = [];
  const signals: (AbortSignal | undefined)[] = [];
  const metrics: { name: MetricName; value: number }[] = [];
  let failOutbound = false;
  const tenant: TenantDocument = {
    tenantId: 'acme',
    channels: {},
    settings: { debounceMs: 0, ...options.settings },
  };
  const config: ActorConfig = {
    debounceMs: 2500,
    maxTurnWaitMs: 15_000,
    mediaTimeoutMs: 120_000,
    historyLimit: 20,
    historyTtlDays: 30,
    summaryEveryTurns: 3,
    maxReceiveCount: 3,
    sendFallbackOnFailure: false,
    humanTakeoverMinutes: 30,
    mediaWorker: true,
    typingTimeoutMs: 50,
    ...options.config,
  };
  const deps: ActorDeps = {
    state,
    memory,
    queues: {
      armTick: async (tick, delay) => {
        ticks.push({ tick, delay });
      },
      enqueueOutbound: async (parts) => {
        if (failOutbound) throw new Error('sqs down');
        outbound.push(...parts);
      },
      enqueueMediaJobs: async (j) => {
        jobs.push(...j);
      },
    },
    reply: {
      responderName: 'fake',
      maxReplyLength: () => 2000,
      produce: async (context, produceOptions) => {
        contexts.push(context);
        signals.push(produceOptions.signal);
        if (options.plan) return options.plan(context, produceOptions.signal);
        return {
          parts: [{ text: `echo: ${context.messages.map((m) => m.text ?? m.mediaNote ?? '').join(' | ')}` }],
          handoff: false,
          outcome: 'ok',
        };
      },
    },
    loadTenant: async () => tenant,
    ...(options.typing ? { typing: options.typing } : {}),
    metric: (name, value) => metrics.push({ name, value }),
    now: () => now,
  };
  const actor = new ConversationActor(deps, config);
  return {
    actor,
    state,
    memory,
    ticks,
    outbound,
    jobs,
    contexts,
    signals,
    metrics,
    count: (name: MetricName) => metrics.filter((m) => m.name === name).reduce((n, m) => n + m.value, 0),
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
    setFailOutbound: (v: boolean) => {
      failOutbound = v;
    },
  };
}

function msg(id: string, text?: string, extra: Partial<MessageEvent['message']> = {}): MessageEvent {
  return {
    v: 1,
    type: 'message',
    tenantId: 'acme',
    channel: 'messenger',
    conversationId: 'P1:U1',
    conversationKey: KEY,
    message: {
      tenantId: 'acme',
      channel: 'messenger',
      conversationId: 'P1:U1',
      conversationKey: KEY,
      messageId: id,
      pageId: 'P1',
      customer: { id: 'U1' },
      timestamp: 1_700_000_000_000,
      receivedAt: 1_700_000_000_000,
      kind: 'text',
      ...(text !== undefined ? { text } : {}),
      attachments: [],
      surface: 'inbox',
      ...extra,
    },
  };
}

const first = { receiveCount: 1 };

/** A human agent's message in the test conversation. */
function humanEvent(messageId: string, at: number) {
  return {
    v: 1 as const,
    type: 'human-active' as const,
    tenantId: 'acme',
    channel: 'messenger' as const,
    conversationId: 'P1:U1',
    conversationKey: KEY,
    activity: {
      tenantId: 'acme',
      channel: 'messenger' as const,
      conversationId: 'P1:U1',
      conversationKey: KEY,
      messageId,
      pageId: 'P1',
      timestamp: at,
      receivedAt: at,
    },
  };
}

describe('ConversationActor', () => {
  it('arms a debounce tick with the turn version and flushes only on the current version', async () => {
    const t = setup({ settings: { debounceMs: 2500 } });
    await t.actor.onMessage(msg('m1', 'a'), first);
    await t.actor.onMessage(msg('m2', 'b'), first);
    expect(t.ticks.map((x) => [x.tick.event.version, x.delay])).toEqual([
      [1, 3],
      [2, 3],
    ]);
    t.advance(2600);
    const [stale, current] = t.ticks.map((x) => x.tick.event);
    expect(await t.actor.onFlush(stale as FlushEvent, first)).toBe('stale');
    expect(await t.actor.onFlush(current as FlushEvent, first)).toBe('answered');
    expect(t.outbound.map((p) => p.text)).toEqual(['echo: a | b']);
    expect(t.outbound[0]).toMatchObject({
      replyId: `${t.state.item?.turn?.turnId}:0`,
      partIndex: 0,
      partCount: 1,
    });
    // A redelivery of the tick that answered re-queues the same reply ids (SQS FIFO drops the
    // copy; delivery's records stop a later one); the stale tick stays stale.
    expect(await t.actor.onFlush(current as FlushEvent, first)).toBe('resumed');
    expect(await t.actor.onFlush(stale as FlushEvent, first)).toBe('stale');
    expect(t.contexts).toHaveLength(1);
    expect(t.outbound.map((p) => p.replyId)).toEqual([t.outbound[0]?.replyId, t.outbound[0]?.replyId]);
  });

  it('gives the responder a turn ordered by platform timestamp when the webhooks arrived out of order', async () => {
    const t = setup({ settings: { debounceMs: 2500 } });
    const base = 1_700_000_000_000;
    await t.actor.onMessage(msg('m1', 'how much?', { timestamp: base + 3000 }), first);
    await t.actor.onMessage(msg('m2', 'hello', { timestamp: base + 1000 }), first);
    await t.actor.onMessage(msg('m3', 'the red shoes', { timestamp: base + 2000 }), first);
    // The stored turn keeps arrival order; only the responder's view is reordered.
    expect(t.state.item?.turn?.messages.map((m) => m.messageId)).toEqual(['m1', 'm2', 'm3']);
    t.advance(2600);
    const tick = t.ticks.at(-1)?.tick.event as FlushEvent;
    expect(await t.actor.onFlush(tick, first)).toBe('answered');
    expect(t.contexts[0]?.messages.map((m) => m.messageId)).toEqual(['m2', 'm3', 'm1']);
    expect(t.outbound.map((p) => p.text)).toEqual(['echo: hello | the red shoes | how much?']);
  });

  it('keeps arrival order between messages with the same platform timestamp', async () => {
    const t = setup({ settings: { debounceMs: 2500 } });
    const base = 1_700_000_000_000;
    await t.actor.onMessage(msg('m1', 'x', { timestamp: base + 5000 }), first);
    await t.actor.onMessage(msg('m2', 'y', { timestamp: base + 5000 }), first);
    await t.actor.onMessage(msg('m3', 'w', { timestamp: base + 4000 }), first);
    await t.actor.onMessage(msg('m4', 'z', { timestamp: base + 5000 }), first);
    t.advance(2600);
    const tick = t.ticks.at(-1)?.tick.event as FlushEvent;
    expect(await t.actor.onFlush(tick, first)).toBe('answered');
    expect(t.outbound.map((p) => p.text)).toEqual(['echo: w | x | y | z']);
  });

  it('does not append a retried message twice after its state write succeeded', async () => {
    const t = setup({ settings: { debounceMs: 2500 } });
    await t.actor.onMessage(msg('m1', 'a'), first);
    expect(await t.actor.onMessage(msg('m1', 'a'), { receiveCount: 2 })).toBe('duplicate');
    expect(t.state.item?.turn?.messages).toHaveLength(1);
    // The retry re-arms the tick for the same version (its effects may have been lost).
    expect(t.ticks.map((x) => x.tick.event.version)).toEqual([1, 1]);
  });

  it('re-queues the stored reply without asking the responder again when it crashed after deciding', async () => {
    const t = setup();
    t.setFailOutbound(true);
    await expect(t.actor.onMessage(msg('m1', 'hi'), first)).rejects.toThrow('sqs down');
    expect(t.state.item?.turn?.status).toBe('answered');
    // The state keeps no text of the answered turn: it is in the turn's history item.
    expect(t.state.item?.turn?.messages).toEqual([]);
    expect(JSON.stringify(t.state.item)).not.toContain('echo: hi');
    t.setFailOutbound(false);
    const tick: FlushEvent = {
      v: 1,
      type: 'flush',
      tenantId: 'acme',
      channel: 'messenger',
      conversationId: 'P1:U1',
      conversationKey: KEY,
      turnId: t.state.item?.turn?.turnId ?? '',
      version: 1,
      reason: 'debounce',
      armedAt: t.now(),
    };
    // A tick of the same turn did not answer it: it does not re-queue.
    expect(await t.actor.onFlush(tick, first)).toBe('stale');
    expect(t.outbound).toHaveLength(0);
    // The redelivered message that answered it does, from the history item.
    expect(await t.actor.onMessage(msg('m1', 'hi'), { receiveCount: 2 })).toBe('duplicate');
    expect(t.contexts).toHaveLength(1);
    expect(t.outbound.map((p) => [p.text, p.replyId])).toEqual([['echo: hi', `${tick.turnId}:0`]]);
    const turn = [...t.memory.turns.values()];
    expect(turn).toMatchObject([
      { turnId: tick.turnId, reply: { parts: [{ text: 'echo: hi' }] }, outcome: 'ok' },
    ]);
    // Another message starts a new turn without re-queuing the answered one.
    expect(await t.actor.onMessage(msg('m2', 'again'), first)).toBe('answered');
    expect(t.outbound.map((p) => p.text)).toEqual(['echo: hi', 'echo: again']);
  });

  it('answers again with the same reply ids when it crashed before storing its answer', async () => {
    const t = setup();
    t.state.crashOnSave = 2; // 1: append, 2: answered
    await expect(t.actor.onMessage(msg('m1', 'hi'), first)).rejects.toThrow('crash');
    expect(t.outbound).toHaveLength(0);
    expect(await t.actor.onMessage(msg('m1', 'hi'), { receiveCount: 2 })).toBe('duplicate');
    // The retry redid the flush and rewrote the same history item.
    expect(t.contexts).toHaveLength(2);
    expect(t.memory.turns.size).toBe(1);
    expect(t.outbound.map((p) => p.replyId)).toEqual([`${t.state.item?.turn?.turnId}:0`]);
    expect(t.state.item?.turn?.status).toBe('answered');
  });

  it('pauses for a human, records messages unanswered, and resumes after the takeover', async () => {
    const t = setup({ settings: { humanTakeoverMinutes: 30 } });
    const human = humanEvent('agent-1', t.now());
    t.memory.sent.add('ours-1');
    expect(
      await t.actor.onHumanActive({ ...human, activity: { ...human.activity, messageId: 'ours-1' } }),
    ).toBe('echo-ignored');
    expect(await t.actor.onHumanActive(human)).toBe('paused');
    expect(await t.actor.onMessage(msg('m1', 'hello?'), first)).toBe('paused-recorded');
    expect(t.outbound).toHaveLength(0);
    expect(t.count('MessagesWhilePaused')).toBe(1);
    t.advance(31 * 60_000);
    expect(await t.actor.onMessage(msg('m2', 'anyone?'), first)).toBe('answered');
    expect(t.outbound.map((p) => p.text)).toEqual(['echo: anyone?']);
    expect(t.contexts[0]?.history.map((h) => h.role)).toEqual(['human', 'customer']);
  });

  it('cancels a responder that runs past the invocation deadline, so the attempt fails cleanly', async () => {
    const t = setup({
      plan: (_context, signal) =>
        new Promise((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(signal.reason));
        }),
    });
    // The plan only settles when aborted: without the cancel the test would hang, not pass.
    const outcome = t.actor.onMessage(msg('m1', 'slow model'), { receiveCount: 1, deadline: t.now() + 50 });
    await expect(outcome).rejects.toThrow();
    expect(t.signals[0]?.aborted).toBe(true);
    expect(t.count('ResponderFailed')).toBe(1);
    expect(t.outbound).toHaveLength(0);
  });

  it('pauses for the deployment-wide takeover time when the tenant does not set one', async () => {
    const t = setup({ config: { humanTakeoverMinutes: 5 } });
    const human = humanEvent('agent-9', t.now());
    expect(await t.actor.onHumanActive(human)).toBe('paused');
    t.advance(4 * 60_000);
    expect(await t.actor.onMessage(msg('m1', 'still paused?'), first)).toBe('paused-recorded');
    t.advance(2 * 60_000);
    expect(await t.actor.onMessage(msg('m2', 'back?'), first)).toBe('answered');
  });

  it('lifts the pause when the thread is handed back to the bot (Meta handover resume)', async () => {
    const t = setup({ settings: { humanTakeoverMinutes: 30 } });
    const human = humanEvent('agent-1', t.now());
    expect(await t.actor.onHumanActive(human)).toBe('paused');
    expect(await t.actor.onMessage(msg('m1', 'hello?'), first)).toBe('paused-recorded');
    const handBack = humanEvent('pass_thread_control:U1:1', t.now());
    expect(
      await t.actor.onHumanActive({
        ...handBack,
        activity: { ...handBack.activity, action: 'resume' as const },
      }),
    ).toBe('unpaused');
    expect(await t.actor.onMessage(msg('m2', 'anyone?'), first)).toBe('answered');
    expect(t.outbound.map((p) => p.text)).toEqual(['echo: anyone?']);
  });

  it('carries a Telegram Business connection from the message to every reply part', async () => {
    const t = setup();
    await t.actor.onMessage(msg('m1', 'hi', { businessConnectionId: 'bc-42' }), first);
    await t.actor.onMessage(msg('m2', 'plain'), first);
    expect(t.outbound.map((p) => p.businessConnectionId)).toEqual(['bc-42', undefined]);
  });

  it('pauses the conversation after a responder handoff', async () => {
    const t = setup({
      plan: () => ({ parts: [{ text: 'Connecting you to a person.' }], handoff: true, outcome: 'handoff' }),
    });
    await t.actor.onMessage(msg('m1', 'I want a human'), first);
    expect(t.outbound.map((p) => p.text)).toEqual(['Connecting you to a person.']);
    expect(await t.actor.onMessage(msg('m2', 'hello?'), first)).toBe('paused-recorded');
    expect(t.count('HumanTakeover')).toBe(1);
  });

  it('fails the record on a responder error until the last attempt, then sends the fallback when enabled', async () => {
    const t = setup({
      settings: { sendFallbackOnFailure: true, fallbackReply: 'Sorry!' },
      plan: () => {
        throw new Error('model down');
      },
    });
    await expect(t.actor.onMessage(msg('m1', 'hi'), first)).rejects.toThrow('model down');
    expect(t.state.item?.turn?.status).toBe('open');
    expect(await t.actor.onMessage(msg('m1', 'hi'), { receiveCount: 3 })).toBe('duplicate');
    expect(t.outbound.map((p) => p.text)).toEqual(['Sorry!']);
    expect(t.count('TurnsFailed')).toBe(1);
    expect(t.count('ResponderFailed')).toBe(2);
  });

  it('closes the turn as failed on the last attempt without a fallback, and the next message starts afresh', async () => {
    let fail = true;
    const t = setup({
      plan: (c) => {
        if (fail) throw new Error('model down');
        return { parts: [{ text: `ok ${c.messages.length}` }], handoff: false, outcome: 'ok' };
      },
    });
    await expect(t.actor.onMessage(msg('m1', 'hi'), { receiveCount: 3 })).rejects.toThrow('last attempt');
    expect(t.state.item?.turn?.status).toBe('failed');
    fail = false;
    await t.actor.onMessage(msg('m2', 'again'), first);
    expect(t.outbound.map((p) => p.text)).toEqual(['ok 1']);
    expect(t.contexts.at(-1)?.history.map((h) => h.text)).toEqual(['hi']);
  });

  it('sends audio to the media worker, waits for it, and arms a media-timeout tick', async () => {
    const t = setup({ settings: { debounceMs: 1000 } });
    await t.actor.onMessage(
      msg('v1', undefined, {
        kind: 'audio',
        attachments: [{ kind: 'audio', url: 'https://x/a.ogg', voice: true }],
      }),
      first,
    );
    expect(t.jobs).toMatchObject([
      { messageId: 'v1', attachmentIndex: 0, turnId: t.state.item?.turn?.turnId },
    ]);
    expect(t.ticks.map((x) => [x.tick.event.reason, x.delay])).toEqual([['media-timeout', 120]]);
    const turnId = t.state.item?.turn?.turnId ?? '';
    const base = {
      v: 1 as const,
      tenantId: 'acme',
      channel: 'messenger' as const,
      conversationId: 'P1:U1',
      conversationKey: KEY,
    };
    expect(
      await t.actor.onMediaReady(
        {
          ...base,
          type: 'media-ready',
          turnId,
          messageId: 'v1',
          attachmentIndex: 0,
          result: { transcript: { text: 'spoken words' } },
        },
        first,
      ),
    ).toBe('media-attached');
    expect(t.state.item?.turn?.pendingMedia).toEqual([]);
    const debounce = t.ticks.at(-1)?.tick.event as FlushEvent;
    expect(debounce).toMatchObject({ reason: 'debounce', version: 2 });
    t.advance(2000);
    expect(await t.actor.onFlush(debounce, first)).toBe('answered');
    expect(t.contexts[0]?.messages[0]?.transcript).toBe('spoken words');
    // The audit of the turn: its media result, what was waited, why it flushed.
    const turn = [...t.memory.turns.values()][0];
    expect(turn).toMatchObject({
      flushReason: 'quiet',
      media: [{ messageId: 'v1', result: 'transcribed' }],
      messages: [{ messageId: 'v1', kind: 'audio', text: 'spoken words' }],
    });
    // The media-timeout tick armed for the voice note did not answer the turn: it is stale.
    const timeout = t.ticks.find((x) => x.tick.event.reason === 'media-timeout')?.tick.event as FlushEvent;
    expect(await t.actor.onFlush(timeout, first)).toBe('stale');
    expect(t.outbound).toHaveLength(1);
  });

  it('records the gates, the responder and its diagnostics in the turn item, and passes rich extras on', async () => {
    const t = setup({
      plan: () => ({
        parts: [
          { text: 'Pick one' },
          { text: 'Sizes?', quickReplies: [{ title: 'M' }, { title: 'L', payload: 'SIZE_L' }] },
        ],
        handoff: false,
        outcome: 'regenerated',
        gates: [
          { gate: 'repeat', outcome: 'fail', reason: 'REPEAT' },
          { gate: 'repeat', outcome: 'regenerated' },
          { gate: 'repeat', outcome: 'pass' },
        ],
        diagnostics: { tokens: { input: 10, output: 5 } } as ReplyPlanLike['diagnostics'],
      }),
    });
    expect(await t.actor.onMessage(msg('m1', 'hi'), first)).toBe('answered');
    const turn = [...t.memory.turns.values()][0];
    expect(turn).toMatchObject({
      flushReason: 'immediate',
      outcome: 'regenerated',
      responder: { name: 'fake', diagnostics: { tokens: { input: 10, output: 5 } } },
      gates: [
        { gate: 'repeat', outcome: 'fail', reason: 'REPEAT' },
        { gate: 'repeat', outcome: 'regenerated' },
        { gate: 'repeat', outcome: 'pass' },
      ],
      reply: { parts: [{ text: 'Pick one' }, { text: 'Sizes?' }] },
    });
    expect(t.outbound[0]?.quickReplies).toBeUndefined();
    expect(t.outbound[1]).toMatchObject({
      text: 'Sizes?',
      quickReplies: [{ title: 'M' }, { title: 'L', payload: 'SIZE_L' }],
    });
  });

  it('writes the profile only when it holds more than the id and changed', async () => {
    const t = setup();
    await t.actor.onMessage(msg('m1', 'hi'), first);
    // Only the id (the profile's key holds it already): nothing to write.
    expect(t.memory.profiles).toBe(0);
    await t.actor.onMessage(msg('m2', 'hi', { customer: { id: 'U1', name: 'Lan' } }), first);
    expect(t.memory.profiles).toBe(1);
  });

  it('marks media at once when no media worker is configured', async () => {
    const t = setup({ config: { mediaWorker: false } });
    await t.actor.onMessage(
      msg('v1', undefined, { kind: 'video', attachments: [{ kind: 'video', url: 'https://x/v.mp4' }] }),
      first,
    );
    expect(t.jobs).toEqual([]);
    expect(t.outbound.map((p) => p.text)).toEqual([
      'echo: [video could not be processed: MEDIA_UNAVAILABLE]',
    ]);
  });

  it('never fails a turn because the typing indicator fails or hangs', async () => {
    const hanging = setup({ typing: () => new Promise(() => undefined) });
    await hanging.actor.onMessage(msg('m1', 'hi'), first);
    expect(hanging.outbound).toHaveLength(1);
    const failing = setup({ typing: async () => Promise.reject(new Error('403')) });
    await failing.actor.onMessage(msg('m1', 'hi'), first);
    expect(failing.outbound).toHaveLength(1);
  });

  it('asks for an episode summary every K turns and stores the facts it returns', async () => {
    const t = setup({
      plan: (c) => ({
        parts: [{ text: `reply ${c.turnId}` }],
        handoff: false,
        outcome: 'ok',
        memory: { facts: { city: 'Hanoi' }, ...(c.wantSummary ? { summary: 'talked about shoes' } : {}) },
      }),
    });
    for (const id of ['m1', 'm2', 'm3', 'm4']) await t.actor.onMessage(msg(id, id), first);
    expect(t.contexts.map((c) => c.wantSummary === true)).toEqual([false, false, true, false]);
    expect(t.memory.summaries).toEqual(['talked about shoes']);
    expect(t.memory.facts).toEqual({ city: 'Hanoi' });
    expect(t.contexts[3]?.facts).toEqual({ city: 'Hanoi' });
  });

  it('asks the store for summaries only once a turn has stored one, and then hands them to the responder', async () => {
    const t = setup({
      plan: (c) => ({
        parts: [{ text: `reply ${c.turnId}` }],
        handoff: false,
        outcome: 'ok',
        ...(c.wantSummary ? { memory: { summary: 'talked about shoes' } } : {}),
      }),
    });
    for (const id of ['m1', 'm2', 'm3', 'm4', 'm5']) await t.actor.onMessage(msg(id, id), first);
    // Summary every 3 turns: turns 1–3 find none stored yet; turn 3 stores one; turns 4–5 read it.
    expect(t.memory.summaryLookups).toEqual([false, false, false, true, true]);
    expect(t.contexts.map((c) => c.summaries)).toEqual([
      [],
      [],
      [],
      ['talked about shoes'],
      ['talked about shoes'],
    ]);
  });

  it('treats equal turn counts as no summary ever stored, and any difference as one stored', () => {
    expect(hasSummaries({ turnCount: 0, turnsSinceSummary: 0 })).toBe(false);
    expect(hasSummaries({ turnCount: 7, turnsSinceSummary: 7 })).toBe(false);
    expect(hasSummaries({ turnCount: 7, turnsSinceSummary: 0 })).toBe(true);
    expect(hasSummaries({ turnCount: 12, turnsSinceSummary: 2 })).toBe(true);
  });

  it('turns a concurrent state write into a conflict instead of a lost update', async () => {
    const t = setup({ settings: { debounceMs: 2500 } });
    await t.actor.onMessage(msg('m1', 'a'), first);
    const stale = await t.state.load();
    await t.actor.onMessage(msg('m2', 'b'), first);
    await expect(t.state.save(stale)).rejects.toBeInstanceOf(StateConflictError);
  });

  it('answers a turn early (reason size) when it reaches its message bound, and the next message opens a new turn', async () => {
    const t = setup({ settings: { debounceMs: 2500, maxTurnWaitMs: 0 } });
    const outcomes: string[] = [];
    for (let i = 0; i < BOUNDS.turnMessages + 3; i += 1) {
      outcomes.push(await t.actor.onMessage(msg(`m${i}`, `t${i}`), first));
    }
    expect(outcomes.filter((o) => o === 'answered')).toHaveLength(1);
    expect(outcomes[BOUNDS.turnMessages - 1]).toBe('answered');
    expect(t.outbound).toHaveLength(1);
    expect(t.contexts[0]?.messages).toHaveLength(BOUNDS.turnMessages);
    expect(t.state.item?.turn).toMatchObject({ status: 'open' });
    expect(t.state.item?.turn?.messages.map((m) => m.text)).toEqual([
      `t${BOUNDS.turnMessages}`,
      `t${BOUNDS.turnMessages + 1}`,
      `t${BOUNDS.turnMessages + 2}`,
    ]);
    expect(t.memory.customerEntries()).toHaveLength(BOUNDS.turnMessages);
  });

  it('answers a turn early (reason size) when its bytes reach the budget, with each text cut to its bound', async () => {
    const t = setup({ settings: { debounceMs: 2500, maxTurnWaitMs: 0 } });
    const big = 'ệ'.repeat(100_000);
    const outcomes: string[] = [];
    for (let i = 0; i < 40 && t.outbound.length === 0; i += 1) {
      outcomes.push(await t.actor.onMessage(msg(`b${i}`, big), first));
    }
    expect(outcomes.at(-1)).toBe('answered');
    // 8 KiB of text per message: the byte budget is reached long before the 50-message bound.
    expect(outcomes.length).toBeGreaterThan(BOUNDS.turnFlushBytes / BOUNDS.messageText - 2);
    expect(outcomes.length).toBeLessThanOrEqual(BOUNDS.turnFlushBytes / BOUNDS.messageText + 1);
    const texts = t.contexts[0]?.messages.map((m) => m.text ?? '') ?? [];
    for (const text of texts) {
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(BOUNDS.messageText);
      expect(text.endsWith(STORED_TEXT_MARKER)).toBe(true);
    }
    expect(estimateBytes(t.state.item)).toBeLessThanOrEqual(BOUNDS.stateItem);
  });

  it('answers a full turn on the retry of its last message when the first attempt died before answering', async () => {
    let fail = true;
    const t = setup({
      settings: { debounceMs: 2500, maxTurnWaitMs: 0 },
      plan: (context) => {
        if (fail) throw new Error('model down');
        return { parts: [{ text: `n=${context.messages.length}` }], handoff: false, outcome: 'ok' };
      },
    });
    for (let i = 0; i < BOUNDS.turnMessages - 1; i += 1) await t.actor.onMessage(msg(`m${i}`, 'x'), first);
    const last = msg(`m${BOUNDS.turnMessages - 1}`, 'x');
    await expect(t.actor.onMessage(last, first)).rejects.toThrow('model down');
    fail = false;
    expect(await t.actor.onMessage(last, { receiveCount: 2 })).toBe('duplicate');
    expect(t.outbound.map((p) => p.text)).toEqual([`n=${BOUNDS.turnMessages}`]);
    expect(t.state.item?.turn?.reply?.reason).toBe('size');
  });

  it('expires the pending media of a turn answered for size with a TURN_FULL marker', async () => {
    const t = setup({ settings: { debounceMs: 2500, maxTurnWaitMs: 0 } });
    await t.actor.onMessage(
      msg('v0', undefined, { kind: 'audio', attachments: [{ kind: 'audio', url: 'https://x/a.ogg' }] }),
      first,
    );
    for (let i = 1; i < BOUNDS.turnMessages; i += 1) await t.actor.onMessage(msg(`m${i}`, 'x'), first);
    expect(t.outbound).toHaveLength(1);
    expect(t.contexts[0]?.messages[0]?.mediaNote).toContain('TURN_FULL');
  });

  it('keeps a 2000-character message id as a digest and still attaches its media result', async () => {
    const t = setup({ settings: { debounceMs: 1000 } });
    const id = `mid.${'x'.repeat(2000)}`;
    await t.actor.onMessage(
      msg(id, undefined, { kind: 'audio', attachments: [{ kind: 'audio', url: 'https://x/a.ogg' }] }),
      first,
    );
    expect(t.jobs.map((j) => j.messageId)).toEqual([id]);
    const stored = t.state.item?.turn?.messages[0]?.messageId ?? '';
    expect(stored.length).toBeLessThanOrEqual(BOUNDS.messageId);
    // A fixed-size digest, `@`, and the second it was sent (base 36).
    expect(
      t.state.item?.seen.every((d) => d.split('@')[0]?.length === SEEN_DIGEST_CHARS && d.length <= 20),
    ).toBe(true);
    const outcome = await t.actor.onMediaReady(
      {
        v: 1,
        type: 'media-ready',
        tenantId: 'acme',
        channel: 'messenger',
        conversationId: 'P1:U1',
        conversationKey: KEY,
        turnId: t.state.item?.turn?.turnId ?? '',
        messageId: id,
        attachmentIndex: 0,
        result: { transcript: { text: 'hello' } },
      },
      first,
    );
    expect(outcome).toBe('media-attached');
    expect(await t.actor.onMessage(msg(id), { receiveCount: 2 })).toBe('duplicate');
  });

  it('stores the received-at time instead of a platform timestamp of 1e308, and no such number anywhere', async () => {
    const t = setup();
    const event = msg('m1', 'hi', {
      timestamp: 1e308,
      attachments: [{ kind: 'location', latitude: 1e308, longitude: 10 }],
    });
    expect(await t.actor.onMessage(event, first)).toBe('answered');
    expect([...t.memory.turns.values()][0]?.messages[0]).toMatchObject({ timestamp: 1_700_000_000_000 });
    expect(t.state.item?.customerLastMessageAt).toBe(1_700_000_000_000);
    expect(JSON.stringify([...t.memory.turns.values()])).not.toContain('1e+308');
    expect(t.outbound[0]?.customerLastMessageAt).toBe(1_700_000_000_000);
  });

  describe('duplicates older than what `seen` remembers', () => {
    /** A message sent `minutes` after the start, delivered then (its platform time is kept on a retry). */
    const at = (t: ReturnType<typeof setup>, id: string, sentAt: number) =>
      msg(id, `text ${id}`, { timestamp: sentAt, receivedAt: t.now() });

    /** 20 messages, one a minute, each answered at once (debounce 0). */
    async function twentyAnswered(t: ReturnType<typeof setup>, start: number) {
      for (let i = 0; i < 20; i += 1) {
        expect(await t.actor.onMessage(at(t, `m${i}`, t.now()), first)).toBe('answered');
        t.advance(60_000);
      }
      expect(t.outbound).toHaveLength(20);
      expect(t.state.item?.seen).toHaveLength(BOUNDS.seen);
      // m0…m3 fell out of `seen`: it is complete only after m3 was sent.
      expect(t.state.item?.seenFrom).toBe(Math.floor((start + 3 * 60_000) / 1000) * 1000 + 999);
    }

    it('answers 20 messages without a history look-up, then drops the first one re-delivered hours later', async () => {
      const t = setup();
      const start = t.now();
      await twentyAnswered(t, start);
      // The common path: every message newer than what `seen` evicted, none looked up.
      expect(t.memory.lookups).toHaveLength(0);
      t.advance(3 * 3_600_000);
      expect(await t.actor.onMessage(at(t, 'm0', start), first)).toBe('duplicate');
      expect(t.count('DuplicateMessages')).toBe(1);
      expect(t.outbound).toHaveLength(20);
      expect(t.contexts).toHaveLength(20);
      expect(t.memory.lookups).toEqual([
        { conversationKey: KEY, messageId: 'm0', from: start - 3_600_000, to: t.now() },
      ]);
      // A newer message afterwards is the common path again.
      expect(await t.actor.onMessage(at(t, 'm20', t.now()), first)).toBe('answered');
      expect(t.memory.lookups).toHaveLength(1);
    });

    it('answers a genuinely late message: a new id with an old timestamp, after looking it up once', async () => {
      const t = setup();
      const start = t.now();
      await twentyAnswered(t, start);
      t.advance(3_600_000);
      expect(await t.actor.onMessage(at(t, 'late', start + 30_000), first)).toBe('answered');
      expect(t.memory.lookups.map((l) => l.messageId)).toEqual(['late']);
      expect(t.outbound.at(-1)?.text).toBe('echo: text late');
      expect(t.count('DuplicateMessages')).toBe(0);
      // Now remembered: a copy of it is a duplicate without another look-up.
      expect(await t.actor.onMessage(at(t, 'late', start + 30_000), first)).toBe('duplicate');
      expect(t.memory.lookups).toHaveLength(1);
    });

    it('drops a copy of a message taken in while paused, during the pause and long after it', async () => {
      const t = setup({ settings: { humanTakeoverMinutes: 30 } });
      const start = t.now();
      expect(await t.actor.onHumanActive(humanEvent('agent-1', start))).toBe('paused');
      expect(await t.actor.onMessage(at(t, 'p1', start), first)).toBe('paused-recorded');
      t.advance(60_000);
      // A copy during the pause: neither answered nor recorded twice.
      expect(await t.actor.onMessage(at(t, 'p1', start), first)).toBe('duplicate');
      expect(t.count('MessagesWhilePaused')).toBe(1);
      expect([...t.memory.history.values()].filter((h) => h.messageId === 'p1')).toHaveLength(1);
      t.advance(30 * 60_000);
      await twentyAnswered(t, t.now());
      const lookups = t.memory.lookups.length;
      t.advance(6 * 3_600_000);
      expect(await t.actor.onMessage(at(t, 'p1', start), first)).toBe('duplicate');
      expect(t.memory.lookups).toHaveLength(lookups + 1);
      expect(t.count('DuplicateMessages')).toBe(2);
      expect(t.outbound).toHaveLength(20);
      expect(t.contexts.flatMap((c) => c.messages.map((m) => m.messageId))).not.toContain('p1');
    });

    it('recognises a copy of a message of a long open turn that `seen` no longer holds, without a look-up', async () => {
      const t = setup({ settings: { debounceMs: 60_000, maxTurnWaitMs: 0 } });
      for (let i = 0; i < 20; i += 1) {
        expect(await t.actor.onMessage(at(t, `m${i}`, t.now()), first)).toBe('appended');
        t.advance(1000);
      }
      expect(await t.actor.onMessage(at(t, 'm0', t.now() - 20_000), first)).toBe('duplicate');
      expect(t.state.item?.turn?.messages).toHaveLength(20);
      expect(t.memory.lookups).toHaveLength(0);
    });

    it('moves the horizon to the latest timestamp evicted, even when messages arrived out of order', () => {
      let state: ConversationState = emptyState({
        tenantId: 'acme',
        channel: 'messenger',
        conversationId: 'P1:U1',
        conversationKey: KEY,
      });
      const base = 1_700_000_000_000;
      // Sent at base + 100 s, but delivered before one sent at base: it is evicted first.
      const times = [
        base + 100_000,
        base,
        ...Array.from({ length: 15 }, (_, i) => base + 200_000 + i * 1000),
      ];
      times.forEach((timestamp, i) => {
        state = appendMessage(
          state,
          { ...msg(`o${i}`, 'x').message, timestamp, receivedAt: base + i },
          base + i,
          { mediaWorker: false },
        ).state;
      });
      expect(state.seen).toHaveLength(BOUNDS.seen);
      // o0 fell out: the horizon is its second, not that of o1, the oldest still remembered.
      expect(state.seenFrom).toBe(base + 100_999);
      expect(mayBeEvicted(state, { ...msg('o0').message, timestamp: base + 100_000 }, base)).toBe(true);
      expect(mayBeEvicted(state, { ...msg('new').message, timestamp: base + 101_000 }, base)).toBe(false);
      expect(hasSeen(state, 'o1')).toBe(true);
    });

    it('looks up a possible duplicate of a full `seen` written before entries kept their time', () => {
      const base = 1_700_000_000_000;
      const legacy: ConversationState = {
        ...emptyState({
          tenantId: 'acme',
          channel: 'messenger',
          conversationId: 'P1:U1',
          conversationKey: KEY,
        }),
        seen: Array.from({ length: BOUNDS.seen }, (_, i) => `${i}`.padStart(12, 'a')),
        customerLastMessageAt: base,
      };
      expect(mayBeEvicted(legacy, { ...msg('old').message, timestamp: base - 60_000 }, base)).toBe(true);
      expect(mayBeEvicted(legacy, { ...msg('new').message, timestamp: base + 1 }, base)).toBe(false);
      // Not full: nothing was ever evicted, nothing to look up.
      expect(
        mayBeEvicted(
          { ...legacy, seen: legacy.seen.slice(1) },
          { ...msg('old').message, timestamp: base - 60_000 },
          base,
        ),
      ).toBe(false);
      // The first new message evicts a bare entry: the horizon becomes the latest time seen before.
      const next = appendMessage(legacy, { ...msg('m1').message, timestamp: base + 1000 }, base + 1000, {
        mediaWorker: false,
      }).state;
      expect(next.seenFrom).toBe(base);
    });
  });

  describe('the held record as the debounce tick', () => {
    const holding = (ok = true) => {
      const holds: number[] = [];
      const hold = async (seconds: number): Promise<boolean> => {
        holds.push(seconds);
        return ok;
      };
      return { holds, hold };
    };

    it('holds the last message for the debounce instead of arming a timer tick, and answers when it comes back', async () => {
      const t = setup({ settings: { debounceMs: 2500 } });
      const h = holding();
      expect(await t.actor.onMessage(msg('m1', 'hi'), { ...first, hold: h.hold })).toBe('held');
      expect(h.holds).toEqual([3]);
      expect(t.ticks).toEqual([]);
      t.advance(3000);
      expect(await t.actor.onMessage(msg('m1', 'hi'), { receiveCount: 2, hold: h.hold })).toBe('duplicate');
      expect(t.outbound.map((p) => p.text)).toEqual(['echo: hi']);
      expect(t.state.item?.turn).toMatchObject({ status: 'answered', reply: { reason: 'debounce' } });
      // Its coming back is no duplicate.
      expect(t.count('DuplicateMessages')).toBe(0);
      expect(h.holds).toEqual([3]);
    });

    it('arms a timer tick when the record cannot be held', async () => {
      const t = setup({ settings: { debounceMs: 2500 } });
      const h = holding(false);
      expect(await t.actor.onMessage(msg('m1', 'hi'), { ...first, hold: h.hold })).toBe('appended');
      expect(h.holds).toEqual([3]);
      expect(t.ticks.map((x) => [x.tick.event.version, x.delay])).toEqual([[1, 3]]);
    });

    it('leaves the debounce to the next message of the batch, which answers the whole burst', async () => {
      const t = setup({ settings: { debounceMs: 2500 } });
      const h = holding();
      expect(await t.actor.onMessage(msg('m1', 'one'), { ...first, more: true })).toBe('deferred');
      expect(await t.actor.onMessage(msg('m2', 'two'), { ...first, settle: true, hold: h.hold })).toBe(
        'held',
      );
      expect(t.ticks).toEqual([]);
      t.advance(3000);
      await t.actor.onMessage(msg('m2', 'two'), { receiveCount: 2 });
      expect(t.outbound.map((p) => p.text)).toEqual(['echo: one | two']);
    });

    it('arms a tick when the message a record deferred to turns out to be a duplicate', async () => {
      const t = setup({ settings: { debounceMs: 2500 } });
      await t.actor.onMessage(msg('m0', 'old'), { ...first, hold: holding().hold });
      t.advance(3000);
      await t.actor.onMessage(msg('m0', 'old'), { receiveCount: 2 });
      expect(await t.actor.onMessage(msg('m1', 'new'), { ...first, more: true })).toBe('deferred');
      // The next record is a platform copy of m0: the open turn (m1) still gets its tick.
      expect(
        await t.actor.onMessage(msg('m0', 'old'), { ...first, settle: true, hold: holding().hold }),
      ).toBe('duplicate');
      expect(t.ticks.map((x) => x.tick.event.version)).toEqual([1]);
    });

    it('does not answer a due turn inline when another record of the conversation follows in the batch', async () => {
      const t = setup({ settings: { debounceMs: 2500 } });
      await t.actor.onMessage(msg('m1', 'hi'), { ...first, hold: holding().hold });
      t.advance(3000);
      // Back, but an agent's reply is behind it in the batch: a tick goes behind that instead.
      expect(await t.actor.onMessage(msg('m1', 'hi'), { receiveCount: 2, followed: true })).toBe('duplicate');
      expect(t.outbound).toEqual([]);
      expect(t.ticks.map((x) => [x.tick.event.version, x.delay])).toEqual([[1, 0]]);
    });

    it('keeps a crash retry that comes back before the debounce waiting', async () => {
      const t = setup({ settings: { debounceMs: 2500 } });
      const h = holding();
      await t.actor.onMessage(msg('m1', 'hi'), { ...first, hold: h.hold });
      t.advance(500);
      expect(await t.actor.onMessage(msg('m1', 'hi'), { receiveCount: 2, hold: h.hold })).toBe('held');
      expect(h.holds).toEqual([3, 2]);
      expect(t.outbound).toEqual([]);
    });

    it('hands a returning record that ends a full batch straight back, so it comes again with what the batch left behind', async () => {
      const t = setup({ settings: { debounceMs: 2500 } });
      const h = holding();
      await t.actor.onMessage(msg('m1', 'hi'), { ...first, hold: h.hold });
      t.advance(3000);
      expect(
        await t.actor.onMessage(msg('m1', 'hi'), { receiveCount: 2, mayBeCut: true, hold: h.hold }),
      ).toBe('held');
      expect(h.holds).toEqual([3, 0]);
      expect(t.outbound).toEqual([]);
      // Back again, not at the end of a full batch: answered.
      await t.actor.onMessage(msg('m1', 'hi'), { receiveCount: 3 });
      expect(t.outbound.map((p) => p.text)).toEqual(['echo: hi']);
    });

    it('uses the timer queue for waits longer than a hold may last', async () => {
      const t = setup({ settings: { debounceMs: 60_000, maxTurnWaitMs: 0 } });
      const h = holding();
      expect(await t.actor.onMessage(msg('m1', 'hi'), { ...first, hold: h.hold })).toBe('appended');
      expect(h.holds).toEqual([]);
      expect(t.ticks.map((x) => x.delay)).toEqual([60]);
    });
  });
});
