import { describe, expect, it } from 'vitest';
import { produceReply } from '../../../lambdas/gates/pipeline.js';
import { MAX_REPLY_PARTS, TRUNCATION_MARKER } from '../../../lambdas/gates/split.js';
import { EchoResponder, echoText } from '../../../lambdas/responders/echo.js';
import { turnContext, turnMessage } from './context.js';

describe('echo responder', () => {
  it('answers a single text message with "echo: " and the text, exactly', async () => {
    const reply = await new EchoResponder().respond(
      turnContext({ messages: [turnMessage({ text: 'xin chào' })] }),
    );
    expect(reply).toEqual({ messages: [{ text: 'echo: xin chào' }] });
  });

  it('joins the turn messages with " | " in arrival order', () => {
    const text = echoText([
      turnMessage({ text: 'one' }),
      turnMessage({ text: 'two 🙂' }),
      turnMessage({ text: 'three' }),
    ]);
    expect(text).toBe('echo: one | two 🙂 | three');
  });

  it('uses the transcript of a voice note that has no text', () => {
    const text = echoText([
      turnMessage({ text: 'hi' }),
      turnMessage({ kind: 'audio', transcript: 'tôi muốn đặt hàng' }),
    ]);
    expect(text).toBe('echo: hi | tôi muốn đặt hàng');
  });

  it('prefers the text over the transcript and the transcript over the media note', () => {
    const text = echoText([
      turnMessage({ kind: 'video', text: 'look', transcript: 'spoken words', mediaNote: '[note]' }),
      turnMessage({ kind: 'audio', transcript: 'spoken', mediaNote: '[note]' }),
      turnMessage({ kind: 'audio', mediaNote: '[voice note could not be transcribed]' }),
    ]);
    expect(text).toBe('echo: look | spoken | [voice note could not be transcribed]');
  });

  it('treats whitespace-only text as no text', () => {
    expect(echoText([turnMessage({ kind: 'audio', text: '  ', transcript: 'said' })])).toBe('echo: said');
  });

  it('skips messages that carry nothing at all', () => {
    const text = echoText([
      turnMessage({ text: 'a' }),
      turnMessage({ kind: 'sticker', attachments: [{ kind: 'sticker', url: 'https://x/s.png' }] }),
      turnMessage({ text: 'b' }),
    ]);
    expect(text).toBe('echo: a | b');
  });

  it('returns an empty reply when no message carries anything', async () => {
    const reply = await new EchoResponder().respond(
      turnContext({ messages: [turnMessage({ kind: 'sticker', attachments: [{ kind: 'sticker' }] })] }),
    );
    expect(reply.messages).toEqual([]);
  });

  it('keeps the text verbatim, inner spacing and newlines included', () => {
    expect(echoText([turnMessage({ text: ' a  b\nc ' })])).toBe('echo:  a  b\nc ');
  });

  it('echoes the largest turn (50 messages of 8 KiB) as at most 10 parts within the limit, marked as cut', async () => {
    const messages = Array.from({ length: 50 }, (_, i) => turnMessage({ text: `${i} ${'ệ'.repeat(2730)}` }));
    const plan = await produceReply(new EchoResponder(), turnContext({ channel: 'messenger', messages }));
    expect(plan.parts).toHaveLength(MAX_REPLY_PARTS);
    for (const part of plan.parts) expect(part.text!.length).toBeLessThanOrEqual(2000);
    expect(plan.parts[0]!.text).toBe('echo: 0');
    expect(plan.parts.at(-1)!.text!.endsWith(TRUNCATION_MARKER)).toBe(true);
  });
});
