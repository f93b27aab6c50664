/**
 * Tokens stay out of the logs when a platform quotes them back. A fake platform answers every
 * send on the six channels with a permanent error whose text quotes the access token it was
 * given ("Error validating access token <TOKEN>…"); the real delivery Lambda, driven from
 * outbound.fifo (fauxqs) with the tenant in the Secrets Manager emulator, logs "Reply part
 * refused by the platform, not retried" for each. Every line it writes is captured: none may
 * hold a token, its URL-encoded form or a 12-character piece of its start.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { messageGroupId, outboundDedupId } from '../../lambdas/shared/keys.js';
import type { ChannelName, OutboundPart } from '../../lambdas/shared/model.js';
import { tenantSecretName } from '../../lambdas/shared/tenant.js';
import { captureOutput } from '../helpers/capture-output.js';
import { inboxPart } from '../helpers/outbound-part.js';
import { type Driver, pollOnce } from '../helpers/sqs-driver.js';

// ERROR lines must be written (the shared logger reads the level when it is first imported).
process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';

/** A Meta page token is ~250 characters: the 200-character error snippet cuts it. */
const META_TOKEN = `EAAGm0PX4ZCpsBA${'Zx9QkL2vR7'.repeat(24)}`;
const TOKENS: Record<ChannelName, string> = {
  pancake: 'pancake-page-token/with+odd=chars&more',
  messenger: META_TOKEN,
  instagram: 'IGQWRPanel-instagram-token-7781',
  whatsapp: 'EAAWhatsAppSystemUserToken-5521',
  telegram: '7012345678:AAH_telegram-secret-Token99',
  zalo: 'zalo-oa-access-token-abcdef-6631',
};

const TENANT = 'redact';
const PAGES: Record<ChannelName, string> = {
  pancake: 'p1',
  messenger: 'fbpage',
  instagram: 'igacc',
  whatsapp: '15550001',
  telegram: '7012345678',
  zalo: 'oa1',
};

const tenantDoc = {
  tenantId: TENANT,
  channels: {
    pancake: { pageIds: ['p1'], pageAccessToken: TOKENS.pancake, webhookToken: 'pancake-webhook-token' },
    messenger: {
      appSecret: 'messenger-app-secret',
      verifyToken: 'messenger-verify',
      pages: { fbpage: { accessToken: TOKENS.messenger } },
    },
    instagram: {
      appSecret: 'instagram-app-secret',
      verifyToken: 'instagram-verify',
      accounts: { igacc: { accessToken: TOKENS.instagram } },
    },
    whatsapp: {
      appSecret: 'whatsapp-app-secret',
      verifyToken: 'whatsapp-verify',
      accessToken: TOKENS.whatsapp,
      phoneNumberIds: ['15550001'],
    },
    telegram: { botToken: TOKENS.telegram, secretToken: 'telegram-secret-token' },
    zalo: { oaId: 'oa1', oaSecretKey: 'zalo-oa-secret-key', accessToken: TOKENS.zalo },
  },
  settings: {},
};

/**
 * The fake platform: finds the token wherever the channel sends it (query string, bearer
 * header, `access_token` header, Telegram path) and refuses the send, quoting it.
 */
function startQuotingPlatform(): Promise<{ server: Server; base: string; calls: string[] }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://platform');
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const header = req.headers.access_token;
      const token =
        url.searchParams.get('page_access_token') ??
        url.searchParams.get('access_token') ??
        bearer ??
        (typeof header === 'string' ? header : undefined) ??
        /\/bot([^/]+)\//.exec(decodeURIComponent(url.pathname))?.[1] ??
        '(none)';
      const family = url.pathname.split('/')[1];
      calls.push(family ?? '');
      const answer = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (family === 'pancake') {
        answer(200, { success: false, message: `Invalid page_access_token ${token}` });
      } else if (family === 'graph') {
        answer(400, {
          error: {
            message: `Error validating access token: ${token} has expired.`,
            type: 'OAuthException',
            code: 190,
          },
        });
      } else if (family === 'telegram') {
        answer(401, {
          ok: false,
          error_code: 401,
          description: `Unauthorized: bot token ${token} is invalid`,
        });
      } else {
        answer(200, { error: -216, message: `Access token ${token} is invalid` });
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, base: `http://127.0.0.1:${port}`, calls });
    }),
  );
}

function part(channel: ChannelName, n: number): OutboundPart {
  const pageId = PAGES[channel];
  const recipientId = channel === 'telegram' ? `55500${n}` : `cust-${channel}-${n}`;
  const conversationId = channel === 'pancake' ? `${pageId}_conv${n}` : `${pageId}:${recipientId}`;
  const turnId = `turn-redact-${channel}-${n}`;
  return inboxPart({
    tenantId: TENANT,
    channel,
    pageId,
    recipientId,
    conversationId,
    turnId,
    text: `redaction ${channel} ${n}`,
  });
}

let emu: Emulators;
let platform: Awaited<ReturnType<typeof startQuotingPlatform>>;
let driver: Driver;
const output: string[] = [];
let restoreWrites: () => void = () => {};

beforeAll(async () => {
  emu = await startEmulators({ prefix: `red${process.pid}` });
  platform = await startQuotingPlatform();
  Object.assign(process.env, emu.env, {
    PANCAKE_API_BASE: `${platform.base}/pancake`,
    GRAPH_API_BASE: `${platform.base}/graph`,
    TELEGRAM_API_BASE: `${platform.base}/telegram`,
    ZALO_API_BASE: `${platform.base}/zalo`,
    TENANT_CACHE_SECONDS: '300',
  });
  emu.secrets.putSecret(tenantSecretName(emu.secretPrefix, TENANT), JSON.stringify(tenantDoc));

  restoreWrites = captureOutput(output);

  const clients = await import('../../lambdas/shared/clients.js');
  clients.resetClients();
  const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
  const handler = createDeliveryHandler() as (e: SQSEvent, c: unknown) => Promise<SQSBatchResponse>;
  driver = { sqs: emu.sqs, queueUrl: emu.queues.outbound.url, queueArn: emu.queues.outbound.arn, handler };
}, 120_000);

afterAll(async () => {
  restoreWrites();
  await new Promise<void>((resolve) => platform?.server.close(() => resolve()));
  await emu?.stop();
});

describe('log redaction of tenant secrets', () => {
  it('writes no token quoted back by any of the six platforms into any log line', async () => {
    const channels = Object.keys(PAGES) as ChannelName[];
    const parts = channels.map((c) => part(c, 1));
    const sent = await emu.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: emu.queues.outbound.url,
        Entries: parts.map((p, i) => ({
          Id: String(i),
          MessageBody: JSON.stringify(p),
          MessageGroupId: messageGroupId(p.conversationKey),
          MessageDeduplicationId: outboundDedupId(p.replyId),
        })),
      }),
    );
    expect(sent.Failed ?? []).toEqual([]);

    const refused = (): Record<string, unknown>[] =>
      output
        .filter((l) => l.includes('Reply part refused by the platform, not retried'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    // Bounded by polls, not by time: a permanent refusal is final on the first delivery.
    for (let poll = 0; poll < 40 && refused().length < channels.length; poll += 1) {
      await pollOnce(driver);
    }

    const lines = refused();
    expect(lines.map((l) => l.channel).sort()).toEqual([...channels].sort());
    // The platforms did quote the tokens: each refusal carries the redaction marker instead.
    for (const line of lines) expect(String(line.error), String(line.channel)).toContain('[REDACTED]');
    for (const [channel, token] of Object.entries(TOKENS)) {
      const pieces = [token, encodeURIComponent(token), token.slice(0, 12)];
      const leaks = output.filter((l) => pieces.some((p) => l.includes(p)));
      expect(leaks, `${channel} token leaked`).toEqual([]);
    }
    // Telegram's secret half on its own never shows either.
    const secretHalf = TOKENS.telegram.slice(TOKENS.telegram.indexOf(':') + 1);
    expect(output.filter((l) => l.includes(secretHalf))).toEqual([]);
    expect(platform.calls.length).toBeGreaterThanOrEqual(channels.length);
  });

  it('stores no quoted token in the failure records or any other stored item either', async () => {
    // Runs after the refusals above: their outcomes are stored, not only logged.
    const stored: string[] = [];
    for (const table of Object.values(emu.tables)) {
      const page = await emu.dynamo.send(new ScanCommand({ TableName: table }));
      for (const item of page.Items ?? []) stored.push(JSON.stringify(item));
    }
    const failures = stored.filter((s) => s.includes('"failure#') || s.includes('[REDACTED]'));
    expect(failures.length).toBeGreaterThanOrEqual(Object.keys(PAGES).length);
    for (const [channel, token] of Object.entries(TOKENS)) {
      const pieces = [token, encodeURIComponent(token), token.slice(0, 12)];
      expect(
        stored.filter((s) => pieces.some((p) => s.includes(p))),
        `${channel} token stored`,
      ).toEqual([]);
    }
  });
});
