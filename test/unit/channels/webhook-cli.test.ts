import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, parseCliArgs, UsageError } from '../../../bin/webhook.js';
import { adapterFor } from '../../../lambdas/channels/index.js';
import { InvalidSignatureError } from '../../../lambdas/shared/errors.js';
import type { ChannelName } from '../../../lambdas/shared/model.js';
import { TENANT } from './helpers.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let baseUrl: string;
let dir: string;
let tenantsFile: string;
const received: Received[] = [];
const status = 200;

/** A fake local stack: verifies each request with the real adapter, like the webhook handler. */
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'webhook-cli-'));
  tenantsFile = join(dir, 'tenants.json');
  writeFileSync(tenantsFile, JSON.stringify([{ tenantId: 'other', channels: {} }, TENANT]));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: raw.toString('utf8'),
      });
      const url = new URL(req.url ?? '/', 'http://x');
      const channel = url.pathname.split('/')[2] as ChannelName;
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      try {
        adapterFor(channel).authenticate(
          {
            method: 'POST',
            rawBody: raw,
            headers,
            query: Object.fromEntries(url.searchParams),
            receivedAt: Date.now(),
          },
          { tenant: TENANT, config: TENANT.channels[channel], receivedAt: Date.now() } as never,
        );
      } catch (err) {
        if (err instanceof InvalidSignatureError) {
          res.writeHead(401).end('{"error":{"code":"INVALID_SIGNATURE"}}');
          return;
        }
        throw err;
      }
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"success":true,"status":"queued"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) }, env);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('npm run webhook', () => {
  it('posts a signed webhook the adapter accepts, prints the status and body, and exits 0', async () => {
    received.length = 0;
    const result = await run([
      'whatsapp',
      'Xin chào',
      '--tenant',
      'acme',
      '--url',
      baseUrl,
      '--tenants-file',
      tenantsFile,
    ]);
    expect(result.code).toBe(0);
    expect(result.out).toBe('HTTP 200\n{"success":true,"status":"queued"}');
    expect(received).toHaveLength(1);
    expect(received[0]?.url).toBe('/webhooks/whatsapp/acme');
    expect(JSON.parse(received[0]?.body ?? '').entry[0].changes[0].value.messages[0].text.body).toBe(
      'Xin chào',
    );
  });

  it('sends the conversation, echo and human flags in the platform’s shape', async () => {
    received.length = 0;
    const env = { CHAT_RELAY_TENANTS_FILE: tenantsFile };
    expect(
      (
        await run(
          ['messenger', 'hi', '--tenant', 'acme', '--url', baseUrl, '--conversation', '42', '--echo'],
          env,
        )
      ).code,
    ).toBe(0);
    expect((await run(['pancake', 'hi', '--tenant', 'acme', '--url', baseUrl, '--human'], env)).code).toBe(0);
    const echo = JSON.parse(received[0]?.body ?? '').entry[0].messaging[0];
    expect(echo).toMatchObject({
      recipient: { id: '42' },
      message: { is_echo: true, app_id: 555000111222333 },
    });
    expect(received[1]?.url).toBe('/webhooks/pancake/acme?token=wh-token-5f2a9c');
    expect(JSON.parse(received[1]?.body ?? '').data.message.from.admin_id).toBe('admin-1');
  });

  it('exits 1 when the stack answers non-2xx (a bad signature gets 401)', async () => {
    const result = await run([
      'telegram',
      'hi',
      '--tenant',
      'acme',
      '--url',
      baseUrl,
      '--tenants-file',
      tenantsFile,
      '--bad-signature',
    ]);
    expect(result.code).toBe(1);
    expect(result.out).toContain('HTTP 401');
  });

  it('exits 1 when the request cannot be made', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await run([
      'zalo',
      'hi',
      '--tenant',
      'acme',
      '--url',
      `http://127.0.0.1:${port}`,
      '--tenants-file',
      tenantsFile,
    ]);
    expect(result.code).toBe(1);
    expect(result.err).toContain('failed');
  });

  it('exits 2 with a clear message on bad usage', async () => {
    const cases: [string[], RegExp][] = [
      [['sms', 'hi', '--tenants-file', tenantsFile], /Unknown channel "sms"/],
      [[], /Missing <channel>/],
      [
        ['telegram', 'hi', '--tenant', 'ghost', '--tenants-file', tenantsFile],
        /Tenant "ghost" not found .*\(tenants: other, acme\)/,
      ],
      [
        ['telegram', 'hi', '--tenant', 'other', '--tenants-file', tenantsFile],
        /Channel telegram is not configured for tenant "other"/,
      ],
      [['telegram', 'hi', '--tenants-file', join(dir, 'missing.json')], /not found/],
      [
        ['telegram', 'hi', '--echo', '--tenant', 'acme', '--tenants-file', tenantsFile],
        /telegram has no "echo" webhook/,
      ],
      [['telegram', 'hi', '--echo', '--human'], /at most one/],
      [['telegram', 'hi', '--nope'], /Unknown option/],
      [['telegram', 'hi', 'extra'], /Unexpected arguments/],
    ];
    for (const [args, message] of cases) {
      const result = await run(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.err).toMatch(message);
    }
  });

  it('prints usage for --help and exits 0', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    expect(result.out).toContain('Usage: npm run webhook -- <channel>');
  });

  it('defaults to the demo tenant, the local tenants file and port $PORT', () => {
    const args = parseCliArgs(['telegram', 'hi'], { PORT: '4321' });
    expect(args).toMatchObject({
      tenantId: 'demo',
      url: 'http://127.0.0.1:4321',
      kind: 'text',
      tenantsFile: undefined,
    });
    expect(() => parseCliArgs(['telegram', 'hi', '--url', 'not a url'])).toThrow(UsageError);
    expect(readFileSync(tenantsFile, 'utf8')).toContain('"acme"');
  });
});
