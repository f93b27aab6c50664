import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { produceReply } from '../../lambdas/gates/pipeline.js';
import { BedrockResponder, DEFAULT_BEDROCK_MODEL_ID } from '../../lambdas/responders/bedrock.js';
import { responderFromEnv } from '../../lambdas/responders/index.js';
import type { Reply, ResponderReply } from '../../lambdas/responders/types.js';
import { ResponderError } from '../../lambdas/shared/errors.js';
import { parseTenantDocument } from '../../lambdas/shared/tenant.js';
import {
  errorReply,
  type FakeBedrock,
  startFakeBedrock,
  textReply,
  toolReply,
} from '../helpers/fake-bedrock.js';
import { startFakePlatforms, TELEGRAM_TOKEN, WHATSAPP_TOKEN } from '../unit/media/fake-platforms.js';
import { turnContext, turnMessage } from '../unit/responders/context.js';

/** A 1×1 PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);
/** The start of a JPEG (enough for format sniffing). */
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(60, 1)]);

let bedrock: FakeBedrock;
let images: Server;
let imagesUrl: string;
let emulators: Emulators;
let s3: S3Client;

const fastRetry = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

function responder(
  options: Partial<ConstructorParameters<typeof BedrockResponder>[0]> = {},
): BedrockResponder {
  return new BedrockResponder({
    endpoint: bedrock.url,
    retry: fastRetry,
    images: { s3, bucket: emulators.mediaBucket },
    // One system block (the cache-point layout is tested in test/integration/knowledge*).
    promptCache: false,
    ...options,
  });
}

/** A reply without what the responder reports beside it (diagnostics, grounding evidence). */
function answer(reply: Reply): Reply {
  const { diagnostics: _d, evidence: _e, ...rest } = reply as ResponderReply;
  return rest;
}

beforeAll(async () => {
  bedrock = await startFakeBedrock();
  images = createServer((req, res) => {
    if (req.url === '/photo.png') {
      res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
    } else if (req.url === '/huge.jpg') {
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(Buffer.concat([JPEG, Buffer.alloc(5000)]));
    } else if (req.url === '/slow.png') {
      setTimeout(() => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG), 3000).unref();
    } else if (req.url === '/not-an-image') {
      res.writeHead(200, { 'content-type': 'image/png' }).end('<html>nope</html>');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve));
  imagesUrl = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
  emulators = await startEmulators({ prefix: 'resp-bedrock' });
  s3 = new S3Client({
    region: emulators.region,
    endpoint: emulators.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await s3.send(
    new PutObjectCommand({ Bucket: emulators.mediaBucket, Key: 'media/acme/c1/m2/frame-0.jpg', Body: JPEG }),
  );
});

afterAll(async () => {
  s3?.destroy();
  await Promise.allSettled([
    bedrock?.close(),
    new Promise<void>((resolve) => {
      if (!images) return resolve();
      images.closeAllConnections();
      images.close(() => resolve());
    }),
    emulators?.stop(),
  ]);
});

beforeEach(() => {
  // A test that failed or timed out must not leave scripted answers for the next one.
  bedrock.reset();
});

describe('bedrock responder against a local Converse API', () => {
  it('sends the system prompt, alternating messages starting with the user, and the reply tool', async () => {
    bedrock.enqueue(toolReply({ messages: ['Dạ, size M còn ạ.'] }));
    const context = turnContext({
      settings: {
        persona: 'Bạn là Lan, tư vấn viên shop Hoa.',
        language: 'vi',
        bannedPhrases: [],
        fallbackReply: 'x',
      },
      customer: { id: 'psid1', name: 'Chị Mai' },
      facts: { size: 'M' },
      summaries: ['Khách hỏi về áo dài tuần trước.'],
      history: [
        { role: 'bot', text: 'Chào chị!', at: 1 },
        { role: 'customer', text: 'Chào shop', at: 2 },
        { role: 'customer', text: 'Áo này còn không?', at: 3 },
        { role: 'bot', text: 'Dạ còn ạ', at: 4 },
        { role: 'human', text: 'Chị cần size nào?', at: 5 },
        { role: 'customer', text: '', at: 6 },
      ],
      messages: [turnMessage({ text: 'Size M' }), turnMessage({ text: 'còn không shop' })],
    });
    const reply = await responder({ modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0' }).respond(
      context,
    );

    expect(answer(reply)).toEqual({ messages: [{ text: 'Dạ, size M còn ạ.' }] });
    expect(bedrock.requests).toHaveLength(1);
    const request = bedrock.requests[0]!;
    expect(request.modelId).toBe('us.anthropic.claude-haiku-4-5-20251001-v1:0');
    const system = request.body.system[0].text as string;
    expect(system).toContain('Bạn là Lan, tư vấn viên shop Hoa.');
    expect(system).toContain('"vi"');
    expect(system).toContain('Chị Mai');
    expect(system).toContain('size: M');
    expect(system).toContain('Khách hỏi về áo dài tuần trước.');
    expect(system).not.toContain('rejected');

    const roles = request.body.messages.map((m: { role: string }) => m.role);
    expect(roles).toEqual(['user', 'assistant', 'user']);
    expect(request.body.messages[0].content).toEqual([{ text: 'Chào shop' }, { text: 'Áo này còn không?' }]);
    expect(request.body.messages[1].content).toEqual([{ text: 'Dạ còn ạ' }, { text: 'Chị cần size nào?' }]);
    expect(request.body.messages[2].content).toEqual([{ text: 'Size M' }, { text: 'còn không shop' }]);

    expect(request.body.toolConfig.toolChoice).toEqual({ tool: { name: 'reply' } });
    expect(request.body.toolConfig.tools[0].toolSpec.name).toBe('reply');
    expect(request.body.toolConfig.tools[0].toolSpec.inputSchema.json.required).toEqual(['messages']);
    expect(request.body.inferenceConfig.maxTokens).toBeGreaterThan(0);
  });

  it('uses Claude Haiku 4.5 by default', async () => {
    await responder().respond(turnContext());
    expect(bedrock.requests[0]?.modelId).toBe(DEFAULT_BEDROCK_MODEL_ID);
    expect(DEFAULT_BEDROCK_MODEL_ID).toMatch(/claude-haiku/);
  });

  it('sends photos and keyframes as image blocks, and notes the ones it cannot load', async () => {
    const context = turnContext({
      messages: [
        turnMessage({
          kind: 'image',
          attachments: [
            { kind: 'image', url: `${imagesUrl}/photo.png` },
            { kind: 'image', url: `${imagesUrl}/huge.jpg` },
            { kind: 'image', url: `${imagesUrl}/missing.jpg` },
            { kind: 'image', url: `${imagesUrl}/not-an-image` },
            { kind: 'image', fileId: 'telegram-file-id' },
          ],
        }),
        turnMessage({
          kind: 'video',
          transcript: 'xem video này',
          keyframes: ['media/acme/c1/m2/frame-0.jpg', 'media/acme/c1/m2/absent.jpg'],
          attachments: [{ kind: 'video', url: 'https://x/v.mp4' }],
        }),
      ],
    });
    await responder({ images: { s3, bucket: emulators.mediaBucket, maxBytes: 1000 } }).respond(context);
    const content = bedrock.requests[0]!.body.messages.at(-1).content as Record<string, unknown>[];
    const imageBlocks = content.filter((b) => 'image' in b) as {
      image: { format: string; source: { bytes: string } };
    }[];
    expect(imageBlocks.map((b) => b.image.format)).toEqual(['png', 'jpeg']);
    expect(Buffer.from(imageBlocks[0]!.image.source.bytes, 'base64').equals(PNG)).toBe(true);
    expect(Buffer.from(imageBlocks[1]!.image.source.bytes, 'base64').equals(JPEG)).toBe(true);
    const notes = content.filter((b) => typeof b.text === 'string').map((b) => b.text as string);
    expect(notes.filter((t) => t.includes('could not be loaded'))).toHaveLength(4);
    expect(notes.filter((t) => t.includes('cannot be shown'))).toHaveLength(1);
    expect(notes.some((t) => t.includes('xem video này'))).toBe(true);
  });

  it('fetches Telegram and WhatsApp photos known only by their file ids with the tenant token', async () => {
    const platforms = await startFakePlatforms();
    const previous = { tg: process.env.TELEGRAM_API_BASE, graph: process.env.GRAPH_API_BASE };
    process.env.TELEGRAM_API_BASE = platforms.base;
    process.env.GRAPH_API_BASE = platforms.base;
    try {
      platforms.files.set('tg:tg-photo', PNG);
      platforms.files.set('wa:wa-photo', JPEG);
      const tenant = parseTenantDocument({
        tenantId: 'acme',
        channels: {
          telegram: { botToken: TELEGRAM_TOKEN, secretToken: 'secret' },
          whatsapp: {
            appSecret: 'a',
            verifyToken: 'v',
            accessToken: WHATSAPP_TOKEN,
            phoneNumberIds: ['555'],
          },
        },
      });
      const loadTenant = async () => tenant;
      const photo = (fileId: string) =>
        turnMessage({ kind: 'image', attachments: [{ kind: 'image', fileId }] });
      for (const [channel, fileId, bytes, format] of [
        ['telegram', 'tg-photo', PNG, 'png'],
        ['whatsapp', 'wa-photo', JPEG, 'jpeg'],
      ] as const) {
        bedrock.reset();
        await responder({ images: { s3, loadTenant } }).respond(
          turnContext({ channel, conversationId: '555:777', messages: [photo(fileId)] }),
        );
        const content = bedrock.requests[0]!.body.messages.at(-1).content as Record<string, unknown>[];
        const blocks = content.filter((b) => 'image' in b) as {
          image: { format: string; source: { bytes: string } };
        }[];
        expect(
          blocks.map((b) => b.image.format),
          channel,
        ).toEqual([format]);
        expect(Buffer.from(blocks[0]!.image.source.bytes, 'base64').equals(bytes)).toBe(true);
      }
      // Each went through its platform's authenticated lookup.
      expect(platforms.requests.some((r) => r.path.startsWith(`/bot${TELEGRAM_TOKEN}/getFile`))).toBe(true);
      expect(platforms.requests.find((r) => r.path === '/v25.0/wa-photo')?.authorization).toBe(
        `Bearer ${WHATSAPP_TOKEN}`,
      );
    } finally {
      process.env.TELEGRAM_API_BASE = previous.tg;
      process.env.GRAPH_API_BASE = previous.graph;
      if (previous.tg === undefined) delete process.env.TELEGRAM_API_BASE;
      if (previous.graph === undefined) delete process.env.GRAPH_API_BASE;
      await platforms.close();
    }
  });

  it('turns an image that loads too slowly into a note and still answers', async () => {
    const context = turnContext({
      messages: [
        turnMessage({ kind: 'image', attachments: [{ kind: 'image', url: `${imagesUrl}/slow.png` }] }),
      ],
    });
    const reply = await responder({ images: { s3, timeoutMs: 100 } }).respond(context);
    expect(reply.messages).toEqual([{ text: 'ok' }]);
    const content = bedrock.requests[0]!.body.messages.at(-1).content as Record<string, unknown>[];
    expect(content.some((b) => 'image' in b)).toBe(false);
    expect(content.some((b) => String(b.text ?? '').includes('could not be loaded'))).toBe(true);
  });

  it('caps the number of images per request', async () => {
    const context = turnContext({
      messages: [
        turnMessage({
          kind: 'image',
          attachments: Array.from({ length: 4 }, () => ({
            kind: 'image' as const,
            url: `${imagesUrl}/photo.png`,
          })),
        }),
      ],
    });
    await responder({ images: { s3, maxImages: 2 } }).respond(context);
    const content = bedrock.requests[0]!.body.messages.at(-1).content as Record<string, unknown>[];
    expect(content.filter((b) => 'image' in b)).toHaveLength(2);
    expect(content.filter((b) => String(b.text ?? '').includes('too many images'))).toHaveLength(2);
  });

  it('parses handoff, facts and summary from the reply tool', async () => {
    bedrock.enqueue(
      toolReply({
        messages: ['Mình chuyển cho nhân viên nhé.', '  '],
        handoff: true,
        facts: { name: 'Mai', age: 31, empty: '' },
        summary: 'Khách muốn gặp nhân viên.',
      }),
    );
    const reply = await responder().respond(turnContext({ wantSummary: true }));
    expect(answer(reply)).toEqual({
      messages: [{ text: 'Mình chuyển cho nhân viên nhé.' }],
      handoff: true,
      memory: { facts: { name: 'Mai', age: '31' }, summary: 'Khách muốn gặp nhân viên.' },
    });
    expect(bedrock.requests[0]!.body.system[0].text).toContain('fill in summary');
  });

  it('falls back to the text when the model answers without the tool, and to JSON inside the text', async () => {
    bedrock.enqueue(textReply('Xin chào! Shop giúp gì được ạ?'));
    expect(answer(await responder().respond(turnContext()))).toEqual({
      messages: [{ text: 'Xin chào! Shop giúp gì được ạ?' }],
    });
    bedrock.enqueue(textReply('```json\n{"messages":["Dạ có ạ"],"handoff":false}\n```'));
    expect(answer(await responder().respond(turnContext()))).toEqual({ messages: [{ text: 'Dạ có ạ' }] });
  });

  it('survives a malformed tool input by using the text blocks, or an empty reply', async () => {
    bedrock.enqueue(toolReply({ messages: 42 }), {
      status: 200,
      body: { output: { message: { role: 'assistant', content: [] } }, stopReason: 'end_turn' },
    });
    expect(answer(await responder().respond(turnContext()))).toEqual({ messages: [] });
    expect(answer(await responder().respond(turnContext()))).toEqual({ messages: [] });
  });

  it('retries throttling (429 ThrottlingException twice, then 200)', async () => {
    bedrock.enqueue(
      errorReply(429, 'ThrottlingException', 'Too many requests, please wait before trying again.'),
      errorReply(429, 'ThrottlingException', 'Too many requests, please wait before trying again.'),
      toolReply({ messages: ['finally'] }),
    );
    const reply = await responder().respond(turnContext());
    expect(reply.messages).toEqual([{ text: 'finally' }]);
    expect(bedrock.requests).toHaveLength(3);
  });

  it('retries ServiceUnavailableException too', async () => {
    bedrock.enqueue(errorReply(503, 'ServiceUnavailableException', 'busy'), toolReply({ messages: ['ok'] }));
    expect((await responder().respond(turnContext())).messages).toEqual([{ text: 'ok' }]);
    expect(bedrock.requests).toHaveLength(2);
  });

  it('gives up after the attempts with a throttled ResponderError', async () => {
    bedrock.enqueue(...Array.from({ length: 4 }, () => errorReply(429, 'ThrottlingException', 'slow down')));
    const error = await responder()
      .respond(turnContext())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponderError);
    expect(error).toMatchObject({ throttled: true, code: 'RESPONDER_FAILED' });
    expect(bedrock.requests).toHaveLength(4);
  });

  it('does not retry a validation error and names the model in the ResponderError', async () => {
    bedrock.enqueue(errorReply(400, 'ValidationException', 'The provided model identifier is invalid.'));
    const error = (await responder({ modelId: 'bogus-model' })
      .respond(turnContext())
      .catch((e: unknown) => e)) as ResponderError;
    expect(error).toBeInstanceOf(ResponderError);
    expect(error.throttled).toBe(false);
    expect(error.message).toContain('bogus-model');
    expect(error.message).toContain('ValidationException');
    expect(bedrock.requests).toHaveLength(1);
  });

  it('honours the timeout', async () => {
    // The answer comes far later than any loaded machine needs for the 150 ms timeout to fire:
    // a responder that waited would get it and succeed (or hit the test timeout), never the error.
    bedrock.enqueue({ ...toolReply({ messages: ['late'] }), delayMs: 30_000 });
    const error = await responder({ timeoutMs: 150 })
      .respond(turnContext())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponderError);
    expect((error as Error).message).toContain('within 150 ms');
  });

  it('stops at once when the caller aborts', async () => {
    bedrock.enqueue({ ...toolReply({ messages: ['late'] }), delayMs: 2000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await responder()
      .respond(turnContext(), controller.signal)
      .catch((e: unknown) => e);
    expect((error as Error).message).toContain('cancelled');
  });

  it('tells the model why its previous answer was rejected on a regeneration, through the pipeline', async () => {
    bedrock.enqueue(toolReply({ messages: ['Chào {{name}}!'] }), toolReply({ messages: ['Chào chị Mai!'] }));
    const plan = await produceReply(responder(), turnContext());
    expect(plan).toMatchObject({ outcome: 'regenerated', parts: [{ text: 'Chào chị Mai!' }] });
    expect(bedrock.requests[0]!.body.system[0].text).not.toContain('rejected');
    expect(bedrock.requests[1]!.body.system[0].text).toContain(
      'rejected because the reply contained the unfilled',
    );
  });

  it('is selected by RESPONDER=bedrock with the model id and timeout from the environment', async () => {
    const fromEnv = responderFromEnv({
      RESPONDER: 'bedrock',
      BEDROCK_MODEL_ID: 'eu.x',
      BEDROCK_TIMEOUT_MS: '1234',
    });
    expect(fromEnv).toBeInstanceOf(BedrockResponder);
    expect((fromEnv as BedrockResponder).modelId).toBe('eu.x');
    expect((fromEnv as BedrockResponder).timeoutMs).toBe(1234);
  });

  it('reaches the endpoint named by AWS_ENDPOINT_URL_BEDROCK_RUNTIME when no endpoint is given', async () => {
    const previous = process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
    process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = bedrock.url;
    try {
      const fromEnv = responderFromEnv({ RESPONDER: 'bedrock' });
      bedrock.enqueue(toolReply({ messages: ['via env'] }));
      expect((await fromEnv.respond(turnContext())).messages).toEqual([{ text: 'via env' }]);
    } finally {
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
      else process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = previous;
    }
  });

  it('accepts an injected client', async () => {
    const client = new BedrockRuntimeClient({ endpoint: bedrock.url, maxAttempts: 1 });
    bedrock.enqueue(toolReply({ messages: ['injected'] }));
    const reply = await new BedrockResponder({ client }).respond(turnContext());
    expect(reply.messages).toEqual([{ text: 'injected' }]);
    client.destroy();
  });
});
