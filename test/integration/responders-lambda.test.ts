import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { produceReply } from '../../lambdas/gates/pipeline.js';
import { responderFromEnv } from '../../lambdas/responders/index.js';
import { LambdaResponder } from '../../lambdas/responders/lambda.js';
import type { Reply, TurnContext } from '../../lambdas/responders/types.js';
import { ConfigurationError, ResponderError } from '../../lambdas/shared/errors.js';
import { type FakeLambda, startFakeLambda, throttled } from '../helpers/fake-lambda.js';
import { turnContext, turnMessage } from '../unit/responders/context.js';

let fake: FakeLambda;
const fastRetry = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

const responder = (functionName = 'my-bot', options: { timeoutMs?: number } = {}) =>
  new LambdaResponder({ functionName, endpoint: fake.url, retry: fastRetry, ...options });

beforeAll(async () => {
  fake = await startFakeLambda({
    'my-bot': (event) => {
      const context = event as TurnContext;
      return {
        messages: [
          { text: `Hi ${context.customer.name ?? 'there'}, you said ${context.messages.length} things` },
        ],
      };
    },
  });
});

afterAll(async () => {
  await fake?.close();
});

beforeEach(() => {
  fake.requests.length = 0;
});

describe('lambda responder against a local Lambda Invoke API', () => {
  it('invokes the function synchronously with the TurnContext JSON and returns its Reply', async () => {
    const context = turnContext({
      customer: { id: 'psid1', name: 'Mai' },
      messages: [turnMessage({ text: 'a' }), turnMessage({ kind: 'audio', transcript: 'b' })],
    });
    const reply = await responder().respond(context);
    expect(reply).toEqual({ messages: [{ text: 'Hi Mai, you said 2 things' }] });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.functionName).toBe('my-bot');
    expect(fake.requests[0]!.invocationType).toBe('RequestResponse');
    expect(JSON.parse(fake.requests[0]!.payload)).toEqual(JSON.parse(JSON.stringify(context)));
  });

  it('passes handoff and memory updates through', async () => {
    const full: Reply = {
      messages: [{ text: 'ok' }, { imageUrl: 'https://cdn.example/a.jpg' }],
      handoff: true,
      memory: { facts: { city: 'Huế' }, summary: 'wants a human' },
    };
    fake.define('full', () => full);
    expect(await responder('full').respond(turnContext())).toEqual(full);
  });

  it('turns a function error (X-Amz-Function-Error: Unhandled) into a ResponderError with its type and message', async () => {
    fake.define('crashing', () => {
      throw new TypeError('Cannot read properties of undefined');
    });
    const error = (await responder('crashing')
      .respond(turnContext())
      .catch((e: unknown) => e)) as ResponderError;
    expect(error).toBeInstanceOf(ResponderError);
    expect(error.throttled).toBe(false);
    expect(error.message).toContain('crashing');
    expect(error.message).toContain('Unhandled');
    expect(error.message).toContain('TypeError: Cannot read properties of undefined');
    expect(fake.requests).toHaveLength(1);
  });

  it('rejects an invalid Reply with an error naming the bad field', async () => {
    fake.define('sloppy', () => ({ messages: [{ text: 'ok' }, { text: 42 }] }));
    await expect(responder('sloppy').respond(turnContext())).rejects.toThrow(/messages\.1\.text/);
    fake.define('no-messages', () => ({ reply: 'hi' }));
    await expect(responder('no-messages').respond(turnContext())).rejects.toThrow(
      /messages: .*expected array/i,
    );
    fake.define('bad-url', () => ({ messages: [{ imageUrl: 'javascript:alert(1)' }] }));
    await expect(responder('bad-url').respond(turnContext())).rejects.toThrow(/messages\.0\.imageUrl/);
    fake.define('bad-facts', () => ({ messages: [], memory: { facts: { n: 1 } } }));
    await expect(responder('bad-facts').respond(turnContext())).rejects.toThrow(/memory\.facts\.n/);
  });

  it('rejects a payload that is not JSON', async () => {
    fake.enqueue({ status: 200, body: 'not json' });
    await expect(responder().respond(turnContext())).rejects.toThrow(/not JSON/);
  });

  it('retries throttling (429 TooManyRequestsException twice, then 200)', async () => {
    fake.enqueue(throttled(), throttled());
    const reply = await responder().respond(turnContext());
    expect(reply.messages).toHaveLength(1);
    expect(fake.requests).toHaveLength(3);
  });

  it('gives up after the attempts with a throttled ResponderError', async () => {
    fake.enqueue(throttled(), throttled(), throttled(), throttled());
    const error = await responder()
      .respond(turnContext())
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ResponderError', throttled: true });
    expect(fake.requests).toHaveLength(4);
  });

  it('does not retry a missing function and says which', async () => {
    const error = (await responder('nope')
      .respond(turnContext())
      .catch((e: unknown) => e)) as ResponderError;
    expect(error).toBeInstanceOf(ResponderError);
    expect(error.message).toContain('nope');
    expect(error.message).toContain('ResourceNotFoundException');
    expect(fake.requests).toHaveLength(1);
  });

  it('honours its timeout', async () => {
    fake.enqueue({ status: 200, body: '{"messages":[]}', delayMs: 2000 });
    const error = await responder('my-bot', { timeoutMs: 150 })
      .respond(turnContext())
      .catch((e: unknown) => e);
    expect((error as Error).message).toContain('within 150 ms');
  });

  it('runs through the gates: an invalid reply from the user function is an error, a failing one regenerates', async () => {
    let calls = 0;
    fake.define('repeating', (event) => {
      calls += 1;
      const context = event as TurnContext;
      return { messages: [{ text: context.regenerationReason ? 'Something new' : 'Same as before' }] };
    });
    const plan = await produceReply(responder('repeating'), turnContext(), {
      previousBotReply: 'same as before!',
    });
    expect(plan).toMatchObject({ outcome: 'regenerated', parts: [{ text: 'Something new' }] });
    expect(calls).toBe(2);
  });

  it('is selected by RESPONDER=lambda and reaches AWS_ENDPOINT_URL_LAMBDA', async () => {
    const previous = process.env.AWS_ENDPOINT_URL_LAMBDA;
    process.env.AWS_ENDPOINT_URL_LAMBDA = fake.url;
    try {
      const fromEnv = responderFromEnv({ RESPONDER: 'lambda', RESPONDER_FUNCTION_NAME: 'my-bot' });
      expect(fromEnv).toBeInstanceOf(LambdaResponder);
      expect((await fromEnv.respond(turnContext())).messages).toHaveLength(1);
    } finally {
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_LAMBDA;
      else process.env.AWS_ENDPOINT_URL_LAMBDA = previous;
    }
  });

  it('refuses RESPONDER=lambda without RESPONDER_FUNCTION_NAME', () => {
    expect(() => responderFromEnv({ RESPONDER: 'lambda' })).toThrow(ConfigurationError);
    expect(() => responderFromEnv({ RESPONDER: 'lambda' })).toThrow(/RESPONDER_FUNCTION_NAME/);
  });
});
