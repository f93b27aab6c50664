import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../lambdas/contracts/defaults.js';
import { ValidationError } from '../../lib/errors.js';
import { PROJECT_ROOT } from '../../lib/function-defaults.js';
import {
  bedrockTarget,
  CHAT_RELAY_DEFAULTS,
  ChatRelay,
  CONTEXT_KEYS,
  LogLevel,
  Responder,
  ResponderType,
  readChatRelayContext,
  validateChatRelayProps,
} from '../../lib/index.js';
import { testApp } from './synth.js';

describe('validateChatRelayProps', () => {
  it('accepts no props at all', () => {
    expect(validateChatRelayProps({})).toEqual([]);
    expect(validateChatRelayProps()).toEqual([]);
  });

  it('accepts a fully specified valid configuration', () => {
    expect(
      validateChatRelayProps({
        secretPrefix: 'prod/chat-relay',
        namePrefix: 'relay-prod',
        throttleRateLimit: 50,
        throttleBurstLimit: 100,
        maxBodyBytes: 2_000_000,
        debounceMs: 0,
        maxTurnWaitMs: 0,
        mediaTimeoutMs: 60_000,
        historyTtl: Duration.days(90),
        historyLimit: 50,
        summaryEveryTurns: 0,
        responder: Responder.bedrock({ modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0' }),
        apiBaseUrls: { telegram: 'http://127.0.0.1:8081', graph: 'https://graph.example.com/' },
        sendTimeout: Duration.seconds(5),
        deliveryReservedConcurrency: 5,
        functions: { webhook: { timeout: Duration.seconds(20), memorySize: 512 } },
      }),
    ).toEqual([]);
  });

  it('reports the documented debounce message exactly', () => {
    expect(validateChatRelayProps({ debounceMs: 1_000_000 })).toEqual([
      'debounceMs must be between 0 and 900000 (SQS DelaySeconds max 900 s); got 1000000. Set debounceMs to a smaller value.',
    ]);
  });

  it('reports every problem at once, each with its fix', () => {
    expect(
      validateChatRelayProps({
        secretPrefix: '/bad/',
        throttleRateLimit: 0,
        throttleBurstLimit: 2.5,
        functions: { webhook: { timeout: Duration.seconds(30), memorySize: 64 } },
        maxReceiveCount: { inbound: 0 },
        debounceMs: 1_000_000,
        historyTtl: Duration.hours(36),
        responder: Responder.bedrock({ modelId: 'bad model!', timeout: Duration.seconds(45) }),
        apiBaseUrls: { telegram: 'ftp://x' },
        sendTimeout: Duration.seconds(70),
      }),
    ).toEqual([
      'secretPrefix must be 1–400 characters of letters, digits and _+=.@- separated by single "/" (no leading or trailing "/"); got "/bad/". Set secretPrefix to a value like "chat-relay" or "prod/chat-relay".',
      'throttleRateLimit must be between 1 and 10000 (requests per second); got 0. Set throttleRateLimit to a larger value.',
      'throttleBurstLimit must be a whole number; got 2.5. Set throttleBurstLimit to a whole number.',
      'functions.webhook.memorySize must be between 128 and 10240 MB; got 64. Set functions.webhook.memorySize to a larger value.',
      'functions.webhook.timeout must be between 1 second and 29 seconds (HTTP API integrations time out after 30 s); got 30 seconds. Set functions.webhook.timeout to a shorter duration.',
      'maxReceiveCount.inbound must be between 1 and 1000; got 0. Set maxReceiveCount.inbound to a larger value.',
      'debounceMs must be between 0 and 900000 (SQS DelaySeconds max 900 s); got 1000000. Set debounceMs to a smaller value.',
      'historyTtl must be a whole number of days; got 1 day 12 hours. Set historyTtl to whole days.',
      'responder.modelId must be a Bedrock model id (e.g. "anthropic.claude-3-haiku-20240307-v1:0"), an inference profile id (e.g. "global.anthropic.claude-haiku-4-5-20251001-v1:0") or an ARN; got "bad model!". Copy the id from the Bedrock console\'s model catalog.',
      'responder.timeout must be at most half the conversation timeout (1 minute) so a regeneration still fits; got 45 seconds. Lower the timeout of Responder.bedrock({ timeout }) or raise functions.conversation.timeout.',
      'apiBaseUrls.telegram must be an absolute http(s) URL without query or fragment; got "ftp://x". Set it like "https://sandbox.example.com" or leave it unset for the real host.',
      'sendTimeout must be shorter than the delivery timeout (1 minute); got 1 minute 10 seconds. Lower sendTimeout or raise functions.delivery.timeout.',
    ]);
  });

  it('rejects a Graph API version that is not like v25.0, with the fix', () => {
    expect(validateChatRelayProps({ graphApiVersion: '25' })).toEqual([
      'graphApiVersion must be a Graph API version like "v25.0" (v, major, dot, minor); got "25". Set it like "v25.0" or leave it unset for the default.',
    ]);
    expect(validateChatRelayProps({ graphApiVersion: 'v26.0' })).toEqual([]);
  });

  it('checks relations between props', () => {
    expect(
      validateChatRelayProps({
        debounceMs: 5000,
        maxTurnWaitMs: 4000,
        throttleRateLimit: 300,
        throttleBurstLimit: 100,
        enqueueBudget: Duration.seconds(12),
      }),
    ).toEqual([
      'throttleBurstLimit must be at least throttleRateLimit; got burst 100 < rate 300. Raise throttleBurstLimit to 300 or more.',
      'enqueueBudget must be shorter than the webhook timeout (10 seconds); got 12 seconds. Lower enqueueBudget or raise functions.webhook.timeout.',
      'maxTurnWaitMs must be at least debounceMs (5000); got 4000. Raise maxTurnWaitMs or lower debounceMs.',
    ]);
  });

  it('rejects a responder not made by a factory (the 0.1 object form) and a lambda responder without a function', () => {
    expect(validateChatRelayProps({ responder: { type: 'bedrock' } as never })).toEqual([
      'responder must be made with Responder.bedrock({ modelId }), Responder.lambda(fn) or Responder.echo(); got {"type":"bedrock"}. Replace the object with one of those factories.',
    ]);
    expect(validateChatRelayProps({ responder: Responder.lambda(undefined as never) })).toEqual([
      'Responder.lambda(fn) needs a function; got none. Pass the function to invoke, e.g. Responder.lambda(myResponderFn).',
    ]);
  });

  it('skips the media settings when media is turned off', () => {
    expect(validateChatRelayProps({ media: { enabled: false, minTasks: -1 } })).toEqual([]);
    expect(validateChatRelayProps({ media: { enabled: true, minTasks: -1 } })).toEqual([
      'media.minTasks must be between 0 and 100; got -1. Set media.minTasks to a larger value.',
    ]);
  });

  it('checks the media settings, the takeover time and the rate limits, each with its fix', () => {
    expect(
      validateChatRelayProps({
        media: { minTasks: 3, maxTasks: 2, cpu: 1024, memoryLimitMiB: 512, whisperModel: 'Big Model' },
        humanTakeoverMinutes: -5,
        rateLimits: { pancakePage: 0, zalo: 3 } as never,
      }),
    ).toEqual([
      'humanTakeoverMinutes must be between 0 and 10080 (up to a week); got -5. Set humanTakeoverMinutes to a larger value.',
      'rateLimits.pancakePage must be above 0 and at most 10000 calls per second; got 0. Set a positive rate.',
      'rateLimits.zalo is not a rate limit; the keys are pancakePage, telegramChat, telegramBot, whatsappNumber, metaPage. Fix or remove it.',
      'media.maxTasks must be at least media.minTasks (3); got 2. Raise media.maxTasks or lower media.minTasks.',
      'media.memoryLimitMiB must be between 2048 and 8192 in steps of 1024 for media.cpu 1024 (Fargate rule); got 512. Pick a memory size Fargate allows for that CPU.',
      'media.whisperModel must name a whisper.cpp ggml model such as "base", "small" or "base.en"; got "Big Model". Use a model name from whisper.cpp\'s models/download-ggml-model.sh.',
    ]);
  });

  it('rejects bad names', () => {
    expect(validateChatRelayProps({ namePrefix: 'x'.repeat(41), serviceName: 'has space' })).toEqual([
      `namePrefix must be 1–40 characters of letters, digits, "-" or "_" (queue names are limited to 80 characters); got "${'x'.repeat(41)}". Set namePrefix to a shorter plain name such as "chat-relay-prod", or leave it unset for generated names.`,
      'serviceName must be 1–64 characters of letters, digits, ".", "-" or "_"; got "has space". Set serviceName to a plain name such as "chat-relay".',
    ]);
  });
});

describe('ChatRelay construct validation', () => {
  it('reports every problem at synth through node.addValidation, each with the construct path and its fix', () => {
    const app = testApp();
    const stack = new Stack(app, 'S');
    const relay = new ChatRelay(stack, 'Relay', {
      debounceMs: -1,
      historyLimit: 0,
      media: { enabled: false },
    });
    expect(relay.node.validate()).toEqual([
      'debounceMs must be between 0 and 900000 (SQS DelaySeconds max 900 s); got -1. Set debounceMs to a larger value.',
      'historyLimit must be between 1 and 200; got 0. Set historyLimit to a larger value.',
    ]);
    let caught: unknown;
    try {
      app.synth();
    } catch (err) {
      caught = err;
    }
    const message = (caught as Error).message;
    expect(message).toContain(
      '[S/Relay] debounceMs must be between 0 and 900000 (SQS DelaySeconds max 900 s); got -1. Set debounceMs to a larger value.',
    );
    expect(message).toContain(
      '[S/Relay] historyLimit must be between 1 and 200; got 0. Set historyLimit to a larger value.',
    );
  });

  it('throws one ValidationError naming the construct path with every problem when a bad value breaks construction', () => {
    const stack = new Stack(testApp(), 'S');
    let caught: unknown;
    try {
      // Half a day of history cannot become HISTORY_TTL_DAYS: Duration.toDays() throws half-way.
      new ChatRelay(stack, 'Relay', {
        historyLimit: 0,
        historyTtl: Duration.hours(36),
        media: { enabled: false },
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    const error = caught as ValidationError;
    expect(error.name).toBe('ValidationError');
    expect(error.constructPath).toBe('S/Relay');
    expect(error.message.split('\n')[0]).toBe('Invalid ChatRelay props at S/Relay (2 problems):');
    expect(error.problems).toEqual([
      'historyTtl must be a whole number of days; got 1 day 12 hours. Set historyTtl to whole days.',
      'historyLimit must be between 1 and 200; got 0. Set historyLimit to a larger value.',
    ]);
  });

  it('names the construct path in usage errors of the methods', () => {
    const stack = new Stack(testApp(), 'S');
    const relay = new ChatRelay(stack, 'Relay', {
      media: { enabled: false },
      monitoring: { enabled: false },
    });
    expect(() => relay.metricMessagesEnqueued('sms')).toThrow(
      /^Invalid ChatRelay props at S\/Relay \(1 problem\):\n {2}- channel must be one of pancake, messenger, instagram, whatsapp, telegram, zalo; got "sms"/,
    );
  });
});

describe('Responder factories', () => {
  it('build a Bedrock responder with the contracts default model, a Lambda one and an echo one', () => {
    const bedrock = Responder.bedrock();
    expect(bedrock.type).toBe(ResponderType.BEDROCK);
    expect(bedrock.modelId).toBe(DEFAULTS.bedrockModelId);
    expect(bedrock.timeout).toBeUndefined();
    const tuned = Responder.bedrock({ modelId: 'eu.anthropic.x-v1:0', timeout: Duration.seconds(9) });
    expect(tuned.modelId).toBe('eu.anthropic.x-v1:0');
    expect(tuned.timeout?.toSeconds()).toBe(9);
    const stack = new Stack(new App(), 'S');
    const fn = LambdaFunction.fromFunctionArn(
      stack,
      'Fn',
      'arn:aws:lambda:us-east-1:123456789012:function:bot',
    );
    const lambda = Responder.lambda(fn);
    expect(lambda.type).toBe(ResponderType.LAMBDA);
    expect(lambda.lambdaFunction).toBe(fn);
    expect(lambda.modelId).toBeUndefined();
    expect(Responder.echo().type).toBe(ResponderType.ECHO);
  });
});

describe('defaults in one place', () => {
  it('takes every construct default from lambdas/contracts/defaults.ts', () => {
    const d = CHAT_RELAY_DEFAULTS;
    expect(d.serviceName).toBe(DEFAULTS.serviceName);
    expect(d.serviceName).toBe('chat-relay');
    expect(d.enqueueBudget.toMilliseconds()).toBe(DEFAULTS.enqueueBudgetMs);
    expect(d.debounceMs).toBe(DEFAULTS.debounceMs);
    expect(d.maxReceiveCount).toEqual(DEFAULTS.maxReceiveCount);
    expect(d.humanTakeoverMinutes).toBe(DEFAULTS.humanTakeoverMinutes);
    expect(d.bedrockModelId).toBe(DEFAULTS.bedrockModelId);
    expect(d.bedrockTimeout.toMilliseconds()).toBe(DEFAULTS.bedrockTimeoutMs);
    expect(d.tenantCacheTtl.toSeconds()).toBe(DEFAULTS.tenantCacheSeconds);
    expect(d.logLevel).toBe(LogLevel.INFO);
  });

  it('documents the queue receive counts in the props JSDoc as the definitions set them', () => {
    const source = readFileSync(join(PROJECT_ROOT, 'lib/props.ts'), 'utf8');
    const block = source.slice(source.indexOf('export interface MaxReceiveCounts'));
    const documented = [
      ...block.slice(0, block.indexOf('\n}')).matchAll(/@default (\d+)\s*\*\/\s*readonly (\w+)/g),
    ];
    expect(Object.fromEntries(documented.map((m) => [m[2], Number(m[1])]))).toEqual(DEFAULTS.maxReceiveCount);
    expect(source).toContain(
      `@default { inbound: ${DEFAULTS.maxReceiveCount.inbound}, timer: ${DEFAULTS.maxReceiveCount.timer}, outbound: ${DEFAULTS.maxReceiveCount.outbound} }`,
    );
  });

  it('documents the same defaults in the context keys', () => {
    expect(CONTEXT_KEYS['chatRelay:debounceMs']).toContain(`Default ${DEFAULTS.debounceMs}.`);
    expect(CONTEXT_KEYS['chatRelay:bedrockModelId']).toContain(DEFAULTS.bedrockModelId);
    expect(CONTEXT_KEYS['chatRelay:humanTakeoverMinutes']).toContain(
      `Default ${DEFAULTS.humanTakeoverMinutes}.`,
    );
    expect(CONTEXT_KEYS['chatRelay:maxReceiveCount']).toContain(
      `"outbound":${DEFAULTS.maxReceiveCount.outbound}`,
    );
  });
});

describe('readChatRelayContext', () => {
  it('coerces -c strings to numbers, booleans, enums and JSON objects', () => {
    const ctx = readChatRelayContext({
      'chatRelay:debounceMs': '3000',
      'chatRelay:throttleRate': '25',
      'chatRelay:tracing': 'true',
      'chatRelay:typingDelay': false,
      'chatRelay:removalPolicy': 'destroy',
      'chatRelay:logRetentionDays': '14',
      'chatRelay:logLevel': 'debug',
      'chatRelay:historyTtlDays': '10',
      'chatRelay:sendTimeoutSeconds': '7.5',
      'chatRelay:maxReceiveCount': '4',
      'chatRelay:apiBaseUrls': '{"telegram":"http://127.0.0.1:9000"}',
      'chatRelay:responder': 'echo',
      '@aws-cdk/core:someFlag': true,
    });
    expect(ctx.problems).toEqual([]);
    expect(ctx.props.debounceMs).toBe(3000);
    expect(ctx.props.throttleRateLimit).toBe(25);
    expect(ctx.props.tracing).toBe(true);
    expect(ctx.props.typingDelay).toBe(false);
    expect(ctx.props.removalPolicy).toBe('destroy');
    expect(ctx.props.logRetention).toBe(14);
    expect(ctx.props.logLevel).toBe('DEBUG');
    expect(ctx.props.historyTtl?.toDays()).toBe(10);
    expect(ctx.props.sendTimeout?.toMilliseconds()).toBe(7500);
    expect(ctx.props.maxReceiveCount).toEqual({ inbound: 4, timer: 4, outbound: 4 });
    expect(ctx.props.apiBaseUrls).toEqual({ telegram: 'http://127.0.0.1:9000' });
    expect(ctx.props.responder?.type).toBe(ResponderType.ECHO);
  });

  it('says a removed key is gone and why, rather than calling it a typo', () => {
    const ctx = readChatRelayContext({ 'chatRelay:dedupTtlDays': 7 });
    expect(ctx.problems).toEqual([
      'Context chatRelay:dedupTtlDays was removed (it had no effect: de-duplication is by the conversation state, see docs/conversation.md). Remove it from cdk.json.',
    ]);
    expect(Object.keys(CONTEXT_KEYS)).not.toContain('chatRelay:dedupTtlDays');
  });

  it('turns media and monitoring on, off or into settings from context', () => {
    expect(
      readChatRelayContext({ 'chatRelay:media': 'false', 'chatRelay:monitoring': 'false' }).props,
    ).toMatchObject({
      media: { enabled: false },
      monitoring: { enabled: false },
    });
    const tuned = readChatRelayContext({
      'chatRelay:mediaMinTasks': '1',
      'chatRelay:whisperModel': 'small',
      'chatRelay:alarmEmail': 'ops@example.com',
    });
    expect(tuned.problems).toEqual([]);
    expect(tuned.props.media).toEqual({ minTasks: 1, whisperModel: 'small' });
    expect(tuned.props.monitoring).toEqual({ alarmEmail: 'ops@example.com' });
    expect(readChatRelayContext({}).props.media).toBeUndefined();
  });

  it('reads alarm thresholds from context, minutes included, and names unknown keys', () => {
    const ctx = readChatRelayContext({
      'chatRelay:alarmThresholds':
        '{"dlqMessages":3,"periodMinutes":10,"oldestMessageAgeMinutes":{"inbound":15}}',
    });
    expect(ctx.problems).toEqual([]);
    const monitoring = ctx.props.monitoring as { thresholds: Record<string, unknown> };
    expect(monitoring.thresholds.dlqMessages).toBe(3);
    expect((monitoring.thresholds.period as Duration).toMinutes()).toBe(10);
    expect(
      ((monitoring.thresholds.oldestMessageAge as Record<string, Duration>).inbound as Duration).toMinutes(),
    ).toBe(15);
    const bad = readChatRelayContext({ 'chatRelay:alarmThresholds': '{"dlqs":1}' });
    expect(bad.problems).toHaveLength(1);
    expect(bad.problems[0]).toContain('chatRelay:alarmThresholds.dlqs is not a threshold');
  });

  it('reports every malformed value and unknown key at once', () => {
    const ctx = readChatRelayContext({
      'chatRelay:debounceMs': 'soon',
      'chatRelay:tracing': 'yes',
      'chatRelay:removalPolicy': 'keep',
      'chatRelay:logRetentionDays': 45,
      'chatRelay:debounceMS': 100,
      'chatRelay:responder': 'lambda',
      'chatRelay:apiBaseUrls': '{not json',
    });
    expect(ctx.problems).toEqual([
      `Context chatRelay:debounceMS is not a chat-relay setting. Known keys: ${Object.keys(CONTEXT_KEYS).join(', ')}. Fix the spelling or remove it.`,
      'Context chatRelay:removalPolicy must be one of retain, destroy; got "keep". Set it in cdk.json "context" or pass -c chatRelay:removalPolicy=retain.',
      expect.stringMatching(
        /^Context chatRelay:logRetentionDays must be a CloudWatch Logs retention \(1, 3, 5, 7, 14, 30, 60, 90, .*\); got 45\. Set it in cdk\.json "context" or pass -c chatRelay:logRetentionDays=30\.$/,
      ),
      'Context chatRelay:apiBaseUrls is not valid JSON; got "{not json". Set it in cdk.json "context" or pass -c chatRelay:apiBaseUrls=\'{"telegram":"https://tg.example.com"}\'.',
      'Context chatRelay:responderFunctionArn is required when chatRelay:responder is "lambda"; got none. Set it in cdk.json "context" or pass -c chatRelay:responderFunctionArn=arn:aws:lambda:REGION:ACCOUNT:function:NAME.',
      'Context chatRelay:tracing must be true or false; got "yes". Set it in cdk.json "context" or pass -c chatRelay:tracing=true.',
      'Context chatRelay:debounceMs must be a number; got "soon". Set it in cdk.json "context" or pass -c chatRelay:debounceMs=2500.',
    ]);
  });

  it('turns a bedrock model id into a bedrock responder and an ARN into a lambda responder', () => {
    expect(
      readChatRelayContext({ 'chatRelay:bedrockModelId': 'eu.anthropic.x-v1:0' }).props.responder,
    ).toEqual(Responder.bedrock({ modelId: 'eu.anthropic.x-v1:0' }));
    const arn = 'arn:aws:lambda:us-east-1:123456789012:function:my-bot';
    const ctx = readChatRelayContext({
      'chatRelay:responder': 'lambda',
      'chatRelay:responderFunctionArn': arn,
    });
    expect(ctx.problems).toEqual([]);
    expect(ctx.responderFunctionArn).toBe(arn);
  });

  it('rejects a responder function ARN when the responder is not lambda', () => {
    const arn = 'arn:aws:lambda:us-east-1:123456789012:function:my-bot';
    expect(readChatRelayContext({ 'chatRelay:responderFunctionArn': arn }).problems).toEqual([
      'Context chatRelay:responderFunctionArn is set but chatRelay:responder is "bedrock". Set chatRelay:responder to "lambda" or remove chatRelay:responderFunctionArn.',
    ]);
  });
});

describe('bedrockTarget', () => {
  const stack = new Stack(testApp(), 'B', { env: { account: '123456789012', region: 'eu-west-1' } });
  const r = (arn: string) => stack.resolve(arn);

  it('grants a foundation model in the stack region', () => {
    const t = bedrockTarget(stack, 'anthropic.claude-3-haiku-20240307-v1:0');
    expect(t.directArns.map(r)).toEqual([
      'arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0',
    ]);
    expect(t.profileArn).toBeUndefined();
    expect(t.routedModelArns).toEqual([]);
  });

  it('grants a geographic inference profile plus its model in any region', () => {
    const t = bedrockTarget(stack, 'eu.anthropic.claude-haiku-4-5-20251001-v1:0');
    expect(t.directArns.map(r)).toEqual([
      'arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0',
    ]);
    expect(t.routedModelArns.map(r)).toEqual([
      'arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0',
    ]);
  });

  it('adds the region-less model ARN for a global profile', () => {
    const t = bedrockTarget(stack, 'global.anthropic.claude-haiku-4-5-20251001-v1:0');
    expect(t.routedModelArns.map(r)).toEqual([
      'arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0',
      'arn:aws:bedrock:::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0',
    ]);
  });

  it('uses an application inference profile ARN as given', () => {
    const arn = 'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123';
    const t = bedrockTarget(stack, arn);
    expect(t.directArns).toEqual([arn]);
    expect(t.profileArn).toBe(arn);
    expect(t.routedModelArns.map(r)).toEqual(['arn:aws:bedrock:*::foundation-model/*']);
  });
});
