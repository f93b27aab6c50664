import { beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_IMAGE_URL_LENGTH, produceReply, splitMessages } from '../../../lambdas/gates/pipeline.js';
import { MAX_REPLY_PARTS, TRUNCATION_MARKER } from '../../../lambdas/gates/split.js';
import { EchoResponder } from '../../../lambdas/responders/echo.js';
import type { Reply, Responder, ResponderReply, TurnContext } from '../../../lambdas/responders/types.js';
import { ResponderError } from '../../../lambdas/shared/errors.js';
import { turnContext, turnMessage } from '../responders/context.js';

const emitted = vi.hoisted(() => [] as { name: string; value: number; dimensions: Record<string, string> }[]);
vi.mock('../../../lambdas/shared/powertools.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../lambdas/shared/powertools.js')>();
  return {
    ...original,
    emitMetric: (name: string, value: number, dimensions: Record<string, string> = {}) => {
      emitted.push({ name, value, dimensions });
    },
  };
});

/** A responder answering from a script, recording the contexts it was given. */
function scripted(...replies: (ResponderReply | Error)[]): Responder & { calls: TurnContext[] } {
  const calls: TurnContext[] = [];
  return {
    name: 'scripted',
    calls,
    async respond(context) {
      calls.push(context);
      const next = replies[calls.length - 1];
      if (next === undefined) throw new Error('script exhausted');
      if (next instanceof Error) throw next;
      return next;
    },
  };
}

const text = (...texts: string[]): Reply => ({ messages: texts.map((t) => ({ text: t })) });
const outcomes = () => emitted.filter((m) => m.name === 'GateOutcome').map((m) => m.dimensions);

beforeEach(() => {
  emitted.length = 0;
});

describe('produceReply', () => {
  it('passes a good reply through unchanged with outcome ok, every gate passed in the plan and no GateOutcome', async () => {
    const responder = scripted({ ...text('Dạ shop còn hàng ạ'), memory: { facts: { size: 'M' } } });
    const plan = await produceReply(responder, turnContext());
    expect(plan).toEqual({
      parts: [{ text: 'Dạ shop còn hàng ạ' }],
      handoff: false,
      memory: { facts: { size: 'M' } },
      outcome: 'ok',
      gates: [
        { gate: 'non-empty', outcome: 'pass' },
        { gate: 'no-leak', outcome: 'pass' },
        { gate: 'no-repeat', outcome: 'pass' },
        { gate: 'no-banned-phrase', outcome: 'pass' },
      ],
    });
    expect(responder.calls).toHaveLength(1);
    // Passes are in the plan's audit gates, not in GateOutcome (failures and recoveries only).
    expect(outcomes()).toEqual([]);
  });

  it('regenerates once with the failure reason and uses the regenerated reply when it passes', async () => {
    const responder = scripted(text('Chào {{name}}!'), text('Chào chị Lan!'));
    const plan = await produceReply(responder, turnContext());
    expect(plan.outcome).toBe('regenerated');
    expect(plan.parts).toEqual([{ text: 'Chào chị Lan!' }]);
    expect(responder.calls).toHaveLength(2);
    expect(responder.calls[0]?.regenerationReason).toBeUndefined();
    expect(responder.calls[1]?.regenerationReason).toContain('{{name}}');
    expect(outcomes()).toContainEqual({ gate: 'no-leak', outcome: 'fail' });
    expect(outcomes()).toContainEqual({ gate: 'no-leak', outcome: 'regenerated' });
  });

  it('sends the tenant fallback when the regeneration fails a gate too', async () => {
    const context = turnContext({
      settings: { bannedPhrases: ['miễn phí'], fallbackReply: 'Shop sẽ trả lời bạn sớm nhé.' },
    });
    const responder = scripted(text('Giao hàng MIEN PHI'), text('Vẫn miễn phí ạ'));
    const plan = await produceReply(responder, context);
    expect(plan).toMatchObject({
      parts: [{ text: 'Shop sẽ trả lời bạn sớm nhé.' }],
      handoff: false,
      outcome: 'fallback',
    });
    expect(responder.calls).toHaveLength(2);
    expect(outcomes().filter((o) => o.outcome === 'fail')).toEqual([
      { gate: 'no-banned-phrase', outcome: 'fail' },
      { gate: 'no-banned-phrase', outcome: 'fail' },
    ]);
    expect(outcomes()).toContainEqual({ gate: 'no-banned-phrase', outcome: 'fallback' });
  });

  it('hands off with nothing to send when both attempts fail and no fallback is configured', async () => {
    const context = turnContext({ settings: { bannedPhrases: [], fallbackReply: '  ' } });
    const responder = scripted({ messages: [] }, text(''));
    const plan = await produceReply(responder, context);
    expect(plan).toMatchObject({ parts: [], handoff: true, memory: undefined, outcome: 'handoff' });
    expect(outcomes()).toContainEqual({ gate: 'non-empty', outcome: 'fallback' });
  });

  it('rejects a repeat of the previous bot reply and regenerates', async () => {
    const responder = scripted(text('Cảm ơn bạn!'), text('Bạn cần thêm gì không ạ?'));
    const plan = await produceReply(responder, turnContext(), { previousBotReply: 'cảm ơn bạn' });
    expect(plan.outcome).toBe('regenerated');
    expect(responder.calls[1]?.regenerationReason).toMatch(/repeated/);
  });

  it("rejects a reply quoting the responder's hidden instructions", async () => {
    const responder: Responder & { calls: TurnContext[] } = {
      ...scripted(
        text('My instructions: always be polite and never discuss competitor prices with anyone.'),
        text('Hi!'),
      ),
      systemPrompt: () => 'Always be polite and never discuss competitor prices with anyone.',
    };
    const plan = await produceReply(responder, turnContext());
    expect(plan.outcome).toBe('regenerated');
    expect(plan.parts).toEqual([{ text: 'Hi!' }]);
  });

  it('splits a long reply to the channel limit without counting it as a failure', async () => {
    const long = Array.from({ length: 300 }, (_, i) => `Câu số ${i} rất dài.`).join(' ');
    const responder = scripted(text(long));
    const plan = await produceReply(responder, turnContext({ channel: 'instagram', maxReplyLength: 1000 }));
    expect(plan.outcome).toBe('ok');
    expect(plan.parts.length).toBeGreaterThan(5);
    for (const part of plan.parts) expect(part.text!.length).toBeLessThanOrEqual(1000);
    expect(plan.parts.map((p) => p.text).join(' ')).toBe(long);
    expect(outcomes()).toEqual([]);
  });

  it('never exceeds the channel limit even when the context claims a larger one', async () => {
    const responder = scripted(text('word '.repeat(400)));
    const plan = await produceReply(responder, turnContext({ channel: 'instagram', maxReplyLength: 5000 }));
    for (const part of plan.parts) expect(part.text!.length).toBeLessThanOrEqual(1000);
  });

  it('honours a responder handoff: its message is sent and handoff is set', async () => {
    const responder = scripted({ messages: [{ text: 'Để mình chuyển cho nhân viên nhé.' }], handoff: true });
    const plan = await produceReply(responder, turnContext());
    expect(plan).toMatchObject({
      parts: [{ text: 'Để mình chuyển cho nhân viên nhé.' }],
      handoff: true,
      outcome: 'handoff',
    });
  });

  it('honours a silent handoff without running the gates', async () => {
    const responder = scripted({ messages: [], handoff: true });
    const plan = await produceReply(responder, turnContext());
    expect(plan).toMatchObject({ parts: [], handoff: true, memory: undefined, outcome: 'handoff' });
    expect(outcomes()).toEqual([]);
    expect(plan.gates).toEqual([]);
  });

  it('sends the echo reply verbatim even when it repeats the last reply or looks like a placeholder', async () => {
    const echo = new EchoResponder();
    const repeated = await produceReply(echo, turnContext({ messages: [turnMessage({ text: 'hello' })] }), {
      previousBotReply: 'echo: hello',
    });
    expect(repeated).toMatchObject({ parts: [{ text: 'echo: hello' }], handoff: false, outcome: 'ok' });
    const bracketed = await produceReply(
      echo,
      turnContext({
        messages: [turnMessage({ text: '[URGENT] {order} <b>now</b>' })],
        settings: { bannedPhrases: ['urgent'], fallbackReply: 'fallback' },
      }),
    );
    expect(bracketed.parts).toEqual([{ text: 'echo: [URGENT] {order} <b>now</b>' }]);
    // Only the non-empty gate ran for it, and passed: nothing counted.
    expect(bracketed.gates).toEqual([{ gate: 'non-empty', outcome: 'pass' }]);
    expect(outcomes()).toEqual([]);
  });

  it('still applies every gate to a responder whose wording is its own', async () => {
    const responder = scripted(text('echo: hello'), text('echo: hello'));
    const plan = await produceReply(responder, turnContext(), { previousBotReply: 'echo: hello' });
    expect(plan.outcome).toBe('fallback');
  });

  it('sends each image as a part of its own, before its text', async () => {
    const responder = scripted({
      messages: [
        { text: 'Mẫu này ạ', imageUrl: 'https://cdn.example/a.jpg' },
        { imageUrl: 'https://cdn.example/b.jpg' },
      ],
    });
    const plan = await produceReply(responder, turnContext());
    expect(plan.parts).toEqual([
      { imageUrl: 'https://cdn.example/a.jpg' },
      { text: 'Mẫu này ạ' },
      { imageUrl: 'https://cdn.example/b.jpg' },
    ]);
  });

  it('keeps memory updates when the text is replaced by the fallback', async () => {
    const responder = scripted(
      { messages: [], memory: { facts: { phone: '0901' } } },
      { messages: [], memory: { facts: { phone: '0901' }, summary: 's' } },
    );
    const plan = await produceReply(responder, turnContext());
    expect(plan.outcome).toBe('fallback');
    expect(plan.memory).toEqual({ facts: { phone: '0901' }, summary: 's' });
  });

  it('propagates a responder error so the turn is retried', async () => {
    const responder = scripted(new ResponderError('Bedrock is throttling', { throttled: true }));
    await expect(produceReply(responder, turnContext())).rejects.toMatchObject({
      name: 'ResponderError',
      throttled: true,
    });
    expect(outcomes()).toEqual([]);
  });

  it('propagates a responder error raised during the regeneration', async () => {
    const responder = scripted(text(''), new ResponderError('boom'));
    await expect(produceReply(responder, turnContext())).rejects.toBeInstanceOf(ResponderError);
  });

  it('passes the abort signal to the responder', async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const responder: Responder = {
      name: 'spy',
      async respond(_context, signal) {
        seen = signal;
        return text('ok');
      },
    };
    await produceReply(responder, turnContext(), { signal: controller.signal });
    expect(seen).toBe(controller.signal);
  });

  it('bounds a 1 MB reply of 30 messages to 10 parts within the limit, the last marked as cut', async () => {
    const responder = scripted({
      messages: Array.from({ length: 30 }, (_, i) => ({ text: `${i} ${'w'.repeat(1_000_000)}` })),
    });
    const plan = await produceReply(responder, turnContext({ channel: 'whatsapp' }));
    expect(plan.outcome).toBe('ok');
    expect(plan.parts).toHaveLength(MAX_REPLY_PARTS);
    for (const part of plan.parts) expect(part.text!.length).toBeLessThanOrEqual(4096);
    expect(plan.parts[0]!.text).toBe('0');
    expect(plan.parts.at(-1)!.text!.endsWith(TRUNCATION_MARKER)).toBe(true);
  });
});

describe('splitMessages', () => {
  it('counts images and texts of every message against one bound of parts', () => {
    const parts = splitMessages(
      [
        { imageUrl: 'https://example.com/a.png', text: 'one. two. three. four.' },
        { imageUrl: 'https://example.com/b.png', text: 'five.' },
      ],
      10,
      3,
    );
    expect(parts).toEqual([
      { imageUrl: 'https://example.com/a.png' },
      { text: 'one. two.' },
      { text: `three.${TRUNCATION_MARKER}` },
    ]);
  });

  it('drops an image URL longer than the bound rather than storing or sending it', () => {
    const parts = splitMessages(
      [{ imageUrl: `https://x/${'a'.repeat(MAX_IMAGE_URL_LENGTH)}`, text: 'hi' }],
      100,
    );
    expect(parts).toEqual([{ text: 'hi' }]);
  });
});

describe('produceReply: audit gates, diagnostics, rich parts and grounding', () => {
  it('lists every gate result of both candidates, then the recovery, on the plan', async () => {
    const context = turnContext({ settings: { bannedPhrases: ['miễn phí'], fallbackReply: 'Fallback.' } });
    const plan = await produceReply(scripted(text('Ship miễn phí'), text('Vẫn miễn phí')), context);
    expect(plan.outcome).toBe('fallback');
    const reason = plan.gates[3]?.reason ?? '';
    expect(reason).toContain('miễn phí');
    expect(plan.gates).toEqual([
      { gate: 'non-empty', outcome: 'pass' },
      { gate: 'no-leak', outcome: 'pass' },
      { gate: 'no-repeat', outcome: 'pass' },
      { gate: 'no-banned-phrase', outcome: 'fail', reason },
      { gate: 'non-empty', outcome: 'pass' },
      { gate: 'no-leak', outcome: 'pass' },
      { gate: 'no-repeat', outcome: 'pass' },
      { gate: 'no-banned-phrase', outcome: 'fail', reason },
      { gate: 'no-banned-phrase', outcome: 'fallback' },
    ]);
  });

  it('records the regeneration that fixed a failure after the second candidate passed', async () => {
    const plan = await produceReply(scripted(text(''), text('Dạ có ạ')), turnContext());
    expect(plan.outcome).toBe('regenerated');
    expect(plan.gates.map((g) => `${g.gate}:${g.outcome}`)).toEqual([
      'non-empty:fail',
      'non-empty:pass',
      'no-leak:pass',
      'no-repeat:pass',
      'no-banned-phrase:pass',
      'non-empty:regenerated',
    ]);
  });

  it('carries the diagnostics of both calls: tokens summed, tool calls in order, the last retrieval', async () => {
    const first: ResponderReply = {
      messages: [],
      diagnostics: {
        retrieval: { passages: [{ id: 'a#1', score: 2 }], latencyMs: 3 },
        tools: [{ name: 'order_status', ok: true, attempts: 1, latencyMs: 4 }],
        tokens: { input: 100, output: 10, cacheWrite: 50 },
      },
    };
    const second: ResponderReply = {
      messages: [{ text: 'Dạ có ạ' }],
      diagnostics: {
        retrieval: { passages: [{ id: 'b#2', score: 1 }], latencyMs: 0 },
        tools: [{ name: 'order_status', ok: false, attempts: 2, latencyMs: 9, error: 'HTTP 500' }],
        tokens: { input: 120, output: 12, cacheRead: 50 },
      },
    };
    const plan = await produceReply(scripted(first, second), turnContext());
    expect(plan.diagnostics).toEqual({
      retrieval: { passages: [{ id: 'b#2', score: 1 }], latencyMs: 0 },
      tools: [
        { name: 'order_status', ok: true, attempts: 1, latencyMs: 4 },
        { name: 'order_status', ok: false, attempts: 2, latencyMs: 9, error: 'HTTP 500' },
      ],
      tokens: { input: 220, output: 22, cacheRead: 50, cacheWrite: 50 },
    });
  });

  it('keeps quick replies and buttons on the last part cut from their message', async () => {
    const quickReplies = [{ title: 'Size M' }, { title: 'Size L', payload: 'SIZE_L' }];
    const buttons = [{ type: 'url' as const, title: 'Xem', url: 'https://shop.example/ao' }];
    const long = `${'Áo thun cotton mềm mại. '.repeat(60)}Chị chọn size nào ạ?`;
    const parts = splitMessages(
      [
        { text: long, quickReplies },
        { imageUrl: 'https://cdn.example/a.jpg', buttons },
        { text: 'Cảm ơn chị' },
      ],
      1000,
    );
    const texts = parts.filter((p) => p.text !== undefined && p.text !== 'Cảm ơn chị');
    expect(texts.length).toBeGreaterThan(1);
    expect(texts.slice(0, -1).every((p) => p.quickReplies === undefined)).toBe(true);
    expect(texts.at(-1)).toMatchObject({ quickReplies });
    expect(texts.at(-1)?.text).toContain('Chị chọn size nào ạ?');
    expect(parts.find((p) => p.imageUrl !== undefined)).toEqual({
      imageUrl: 'https://cdn.example/a.jpg',
      buttons,
    });
    expect(parts.at(-1)).toEqual({ text: 'Cảm ơn chị' });
  });

  it('checks grounding only for responders that declare it, and falls back when a made-up price comes twice', async () => {
    const context = turnContext({
      settings: { bannedPhrases: [], fallbackReply: 'Shop sẽ báo giá chị sau ạ.' },
    });
    const evidence = ['Áo thun basic: giá 199.000đ, size S M L'];
    const grounded = {
      ...scripted(
        { ...text('Áo thun giá 250k ạ'), evidence },
        { ...text('Dạ áo thun 259.000đ ạ'), evidence },
      ),
      grounded: true,
    };
    const plan = await produceReply(grounded, context);
    expect(plan.outcome).toBe('fallback');
    expect(plan.parts).toEqual([{ text: 'Shop sẽ báo giá chị sau ạ.' }]);
    expect(grounded.calls[1]?.regenerationReason).toContain('250k');
    expect(plan.gates.filter((g) => g.gate === 'grounded').map((g) => g.outcome)).toEqual([
      'fail',
      'fail',
      'fallback',
    ]);

    const trusting = scripted({ ...text('Áo thun giá 250k ạ'), evidence });
    expect((await produceReply(trusting, context)).outcome).toBe('ok');
  });

  it('passes a grounded price written another way (199k for 199.000đ)', async () => {
    const responder = {
      ...scripted({ ...text('Dạ áo thun 199k ạ'), evidence: ['giá 199.000đ'] }),
      grounded: true,
    };
    const plan = await produceReply(responder, turnContext());
    expect(plan.outcome).toBe('ok');
    expect(plan.gates.at(-1)).toEqual({ gate: 'grounded', outcome: 'pass' });
  });
});
