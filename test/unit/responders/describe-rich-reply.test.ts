/**
 * The bedrock responder proposes quick replies and buttons through its reply tool: the tool's
 * schema offers them, and what the model sends is kept within bounds under the last message.
 * Against the fake Bedrock (Converse over h2c), as the real client calls it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { checkGrounded } from '../../../lambdas/gates/grounding.js';
import { BedrockResponder } from '../../../lambdas/responders/bedrock.js';
import { REPLY_TOOL_SCHEMA } from '../../../lambdas/responders/prompt.js';
import { type FakeBedrock, startFakeBedrock, toolReply } from '../../helpers/fake-bedrock.js';
import { turnContext, turnMessage } from './context.js';

let bedrock: FakeBedrock;

beforeAll(async () => {
  bedrock = await startFakeBedrock();
});
afterAll(async () => bedrock.close());
beforeEach(() => bedrock.reset());

const responder = () =>
  new BedrockResponder({
    endpoint: bedrock.url,
    retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    promptCache: false,
  });

describe('bedrock quick replies and buttons', () => {
  it('offers quickReplies and buttons in the reply tool’s schema sent to the model', async () => {
    bedrock.enqueue(toolReply({ messages: ['Chào bạn'] }));
    await responder().respond(turnContext());
    const tools = bedrock.requests[0]?.body.toolConfig.tools as {
      toolSpec: { name: string; inputSchema: { json: { properties: Record<string, unknown> } } };
    }[];
    const reply = tools.find((t) => t.toolSpec.name === 'reply');
    expect(Object.keys(reply?.toolSpec.inputSchema.json.properties ?? {})).toEqual(
      expect.arrayContaining(['messages', 'quickReplies', 'buttons']),
    );
    expect(REPLY_TOOL_SCHEMA.required).toEqual(['messages']);
  });

  it('puts the model’s quick replies and buttons under the last message', async () => {
    bedrock.enqueue(
      toolReply({
        messages: ['Áo có 3 size.', 'Bạn chọn size nào?'],
        quickReplies: [{ title: 'S' }, { title: 'M', payload: 'SIZE_M' }],
        buttons: [
          { type: 'url', title: 'Bảng size', url: 'https://shop.example/size' },
          { type: 'postback', title: 'Gặp nhân viên', payload: 'HUMAN' },
        ],
      }),
    );
    const reply = await responder().respond(
      turnContext({ messages: [turnMessage({ text: 'còn size không?' })] }),
    );
    expect(reply.messages).toEqual([
      { text: 'Áo có 3 size.' },
      {
        text: 'Bạn chọn size nào?',
        quickReplies: [{ title: 'S' }, { title: 'M', payload: 'SIZE_M' }],
        buttons: [
          { type: 'url', title: 'Bảng size', url: 'https://shop.example/size' },
          { type: 'postback', title: 'Gặp nhân viên', payload: 'HUMAN' },
        ],
      },
    ]);
  });

  it('drops malformed or unsafe ones and caps the counts, keeping the reply', async () => {
    bedrock.enqueue(
      toolReply({
        messages: ['Chọn nhé'],
        quickReplies: [...Array.from({ length: 15 }, (_, i) => ({ title: `Q${i}` })), { title: '  ' }, 42],
        buttons: [
          { type: 'url', title: 'XSS', url: 'javascript:alert(1)' },
          { type: 'call', title: 'Gọi' },
          { type: 'postback', title: 'A', payload: 'A' },
          { type: 'postback', title: 'B' },
          { type: 'postback', title: 'C', payload: 'C' },
          { type: 'postback', title: 'D', payload: 'D' },
        ],
      }),
    );
    const reply = await responder().respond(turnContext());
    const last = reply.messages.at(-1);
    expect(last?.text).toBe('Chọn nhé');
    expect(last?.quickReplies).toHaveLength(13);
    expect(last?.buttons).toEqual([
      { type: 'postback', title: 'A', payload: 'A' },
      { type: 'postback', title: 'B', payload: 'B' },
      { type: 'postback', title: 'C', payload: 'C' },
    ]);
  });

  it('answers without extras when the model proposes none, or a non-array', async () => {
    bedrock.enqueue(toolReply({ messages: ['Dạ vâng'], quickReplies: 'yes' }));
    const reply = await responder().respond(turnContext());
    expect(reply.messages).toEqual([{ text: 'Dạ vâng' }]);
  });
});

describe('grounding of the model’s buttons', () => {
  it('refuses a link button whose URL appears nowhere in the evidence, and passes one that does', () => {
    const context = turnContext({
      messages: [turnMessage({ text: 'xem bảng size ở đâu? https://shop.example/size' })],
    });
    const invented = checkGrounded(
      {
        messages: [
          {
            text: 'Bạn xem tại đây',
            buttons: [{ type: 'url', title: 'Bảng size', url: 'https://other.example/x' }],
          },
        ],
      },
      context,
    );
    expect(invented.pass).toBe(false);
    const grounded = checkGrounded(
      {
        messages: [
          {
            text: 'Bạn xem tại đây',
            buttons: [{ type: 'url', title: 'Bảng size', url: 'https://shop.example/size' }],
          },
        ],
      },
      context,
    );
    expect(grounded.pass).toBe(true);
  });

  it('refuses a price put in a quick reply’s label', () => {
    const result = checkGrounded(
      { messages: [{ text: 'Chọn gói', quickReplies: [{ title: 'Gói 199k' }] }] },
      turnContext({ messages: [turnMessage({ text: 'có gói nào?' })] }),
    );
    expect(result.pass).toBe(false);
  });
});
