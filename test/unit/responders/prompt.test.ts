import { describe, expect, it } from 'vitest';
import {
  buildMessages,
  buildSystemPrompt,
  hiddenInstructions,
  parseModelOutput,
} from '../../../lambdas/responders/prompt.js';
import { turnContext, turnMessage } from './context.js';

describe('buildMessages', () => {
  it('drops leading assistant history so the conversation starts with the user', () => {
    const messages = buildMessages(
      turnContext({
        history: [
          { role: 'bot', text: 'Welcome!', at: 1 },
          { role: 'human', text: 'Agent here', at: 2 },
        ],
        messages: [turnMessage({ text: 'hi' })],
      }),
    );
    expect(messages).toEqual([{ role: 'user', content: [{ text: 'hi' }] }]);
  });

  it('merges the turn into a trailing unanswered customer entry to keep alternation', () => {
    const messages = buildMessages(
      turnContext({
        history: [{ role: 'customer', text: 'earlier, unanswered', at: 1 }],
        messages: [turnMessage({ text: 'now' })],
      }),
    );
    expect(messages).toEqual([{ role: 'user', content: [{ text: 'earlier, unanswered' }, { text: 'now' }] }]);
  });

  it('always alternates roles, whatever the history', () => {
    const roles = ['customer', 'bot', 'human'] as const;
    const history = Array.from({ length: 30 }, (_, i) => ({
      role: roles[(i * 7) % 3]!,
      text: `t${i}`,
      at: i,
    }));
    const messages = buildMessages(turnContext({ history }));
    expect(messages[0]?.role).toBe('user');
    expect(messages.at(-1)?.role).toBe('user');
    for (let i = 1; i < messages.length; i += 1) expect(messages[i]?.role).not.toBe(messages[i - 1]?.role);
  });

  it('describes media without text and never sends an empty turn', () => {
    const messages = buildMessages(
      turnContext({
        messages: [
          turnMessage({
            kind: 'audio',
            attachments: [{ kind: 'audio', voice: true }],
            transcript: 'đặt 2 cái',
          }),
          turnMessage({ kind: 'sticker', attachments: [{ kind: 'sticker' }] }),
        ],
      }),
    );
    const texts = messages[0]!.content!.map((b) => b.text);
    expect(texts[0]).toContain('[voice/video transcript] đặt 2 cái');
    expect(texts[0]).toContain('voice note');
    expect(texts[1]).toContain('sticker');
    const empty = buildMessages(turnContext({ messages: [] }));
    expect(empty[0]!.content).toEqual([{ text: '[the customer sent an empty message]' }]);
  });
});

describe('buildSystemPrompt', () => {
  it('asks for the reply language, or the customer’s own when the tenant says auto', () => {
    expect(
      buildSystemPrompt(turnContext({ settings: { language: 'vi', bannedPhrases: [], fallbackReply: '' } })),
    ).toContain('"vi"');
    expect(buildSystemPrompt(turnContext())).toContain("customer's language");
  });

  it('includes the regeneration reason only on a regeneration', () => {
    expect(buildSystemPrompt(turnContext())).not.toContain('rejected');
    expect(buildSystemPrompt(turnContext({ regenerationReason: 'it was empty' }))).toContain(
      'rejected because it was empty',
    );
  });

  it('asks for a summary only when wantSummary is set', () => {
    expect(buildSystemPrompt(turnContext())).not.toContain('fill in summary');
    expect(buildSystemPrompt(turnContext({ wantSummary: true }))).toContain('fill in summary');
  });

  it('keeps the persona and customer data out of the hidden instructions the leak gate guards', () => {
    const context = turnContext({
      settings: { persona: 'Tôi là Lan của shop Hoa', bannedPhrases: [], fallbackReply: '' },
      facts: { address: '12 Lê Lợi' },
    });
    const hidden = hiddenInstructions(context);
    expect(buildSystemPrompt(context)).toContain(hidden);
    expect(hidden).not.toContain('Lan');
    expect(hidden).not.toContain('Lê Lợi');
  });
});

describe('parseModelOutput', () => {
  it('reads the reply tool input, also when it arrives as a JSON string', () => {
    const input = JSON.stringify({ messages: ['a', 'b'], handoff: 'true' });
    expect(parseModelOutput([{ toolUse: { toolUseId: '1', name: 'reply', input } }])).toEqual({
      messages: [{ text: 'a' }, { text: 'b' }],
      handoff: true,
    });
  });

  it('accepts a single message string and message objects', () => {
    expect(
      parseModelOutput([{ toolUse: { toolUseId: '1', name: 'reply', input: { messages: 'one' } } }]),
    ).toEqual({
      messages: [{ text: 'one' }],
    });
    expect(
      parseModelOutput([
        { toolUse: { toolUseId: '1', name: 'reply', input: { messages: [{ text: 'obj' }] } } },
      ]),
    ).toEqual({ messages: [{ text: 'obj' }] });
  });

  it('ignores malformed facts but keeps the messages', () => {
    const reply = parseModelOutput([
      { toolUse: { toolUseId: '1', name: 'reply', input: { messages: ['x'], facts: 'not an object' } } },
    ]);
    expect(reply).toEqual({ messages: [{ text: 'x' }] });
  });

  it('uses the text when the tool input is unusable', () => {
    expect(
      parseModelOutput([
        { text: 'Plain answer' },
        { toolUse: { toolUseId: '1', name: 'reply', input: { messages: 5 } } },
      ]),
    ).toEqual({ messages: [{ text: 'Plain answer' }] });
  });

  it('returns an empty reply for no content', () => {
    expect(parseModelOutput(undefined)).toEqual({ messages: [] });
  });
});
