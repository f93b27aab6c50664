/**
 * `npm start` as a newcomer meets it: configuration errors, the generated demo tenant, the
 * HTTP surface (health, 404s, API Gateway's payload limit, the Meta handshake), the
 * `npm run webhook` "try it" step, and a clean stop on SIGINT.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoTenant } from '../../bin/local/tenants.js';
import { buildWebhook } from '../../bin/local/webhook-builder.js';
import { CHANNELS } from '../../lambdas/shared/model.js';
import { tenantSecretValues } from '../../lambdas/shared/redact.js';
import { parseTenantDocument } from '../../lambdas/shared/tenant.js';
import { type LocalStackProcess, PROJECT_ROOT, startLocalStackProcess } from '../helpers/local-stack.js';

const dir = mkdtempSync(join(tmpdir(), 'chat-relay-local-'));

/** Runs bin/local.ts to completion with `env` and `args` (it must fail fast). */
function runToExit(
  env: Record<string, string>,
  args: readonly string[] = [],
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'local.ts'), ...args],
      {
        cwd: PROJECT_ROOT,
        env: { ...process.env, PORT: '0', CHAT_RELAY_DATA_DIR: join(dir, 'state-bad'), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm start configuration errors', () => {
  it('exits with code 2 and one line naming the setting for each bad value', async () => {
    const invalidTenants = join(dir, 'invalid-tenants.json');
    writeFileSync(
      invalidTenants,
      JSON.stringify([{ tenantId: 'x', channels: { telegram: { botToken: 'nope', secretToken: 's' } } }]),
    );
    const notJson = join(dir, 'not-json.json');
    writeFileSync(notJson, '{"tenantId": ');
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: 'eighty' }, /PORT must be an integer/],
      [{ RESPONDER: 'gpt' }, /RESPONDER must be one of echo, bedrock, lambda/],
      [{ RESPONDER: 'lambda' }, /RESPONDER=lambda needs AWS_ENDPOINT_URL_LAMBDA/],
      [{ LOG_LEVEL: 'LOUD' }, /LOG_LEVEL must be one of/],
      [{ LOCAL_FUNCTION_THREADS: 'yes' }, /LOCAL_FUNCTION_THREADS must be an integer from 0 to 1/],
      [{ CHAT_RELAY_TENANTS_FILE: join(dir, 'missing.json') }, /cannot read .*missing\.json \(ENOENT\)/],
      [{ CHAT_RELAY_TENANTS_FILE: notJson }, /not valid JSON/],
      [{ CHAT_RELAY_TENANTS_FILE: invalidTenants }, /tenant #0 .* is invalid: channels\.telegram\.botToken/],
    ];
    const results = await Promise.all(cases.map(([env]) => runToExit(env)));
    results.push(await runToExit({}, ['--frsh']));
    cases.push([{}, /unknown argument "--frsh" \(accepted: --fresh\)/]);
    results.forEach((result, i) => {
      const [env, message] = cases[i]!;
      const what = JSON.stringify(env);
      expect(result.code, what).toBe(2);
      expect(result.stdout, what).toBe('');
      const lines = result.stderr.trim().split('\n');
      expect(lines, what).toHaveLength(1);
      expect(lines[0], what).toMatch(/^chat-relay: /);
      expect(lines[0], what).toMatch(message);
    });
  });
});

describe('npm start with the demo tenant', () => {
  let stack: LocalStackProcess;
  let stateDir: string;

  beforeAll(async () => {
    stateDir = join(dir, 'demo-state');
    stack = await startLocalStackProcess({ dataDir: stateDir, env: { LOG_LEVEL: 'WARN' } });
  });

  afterAll(async () => {
    // SIGINT (Ctrl-C) stops it as cleanly as SIGTERM: it exits 0 by itself (its own shutdown
    // limit is 4.5 s; the helper would SIGKILL it, giving a null code, only after 10 s).
    const { code } = await stack.stop('SIGINT');
    expect(code).toBe(0);
  });

  it('prints the ready line last and the webhook URL of every channel of the demo tenant', () => {
    const out = stack.output();
    expect(out).toMatch(/chat-relay local stack listening on http:\/\/127\.0\.0\.1:\d+\n/);
    for (const channel of CHANNELS) {
      expect(out).toContain(`${stack.url}/webhooks/${channel}/demo`);
    }
    expect(out).toMatch(new RegExp(`${stack.url}/webhooks/pancake/demo\\?token=[A-Za-z0-9_-]{20,}`));
    expect(out).toMatch(/secret token [A-Za-z0-9_-]{20,}/);
    // The demo tenant's tokens are printed, and marked as the generated throw-away ones.
    expect(out).toContain('tenant "demo" (generated demo tenant: throw-away tokens, printed below):');
  });

  it('writes the demo tenant with every channel where npm run webhook reads it', () => {
    const docs = JSON.parse(readFileSync(join(stateDir, 'tenants.json'), 'utf8')) as unknown[];
    expect(docs).toHaveLength(1);
    const demo = parseTenantDocument(docs[0]);
    expect(demo.tenantId).toBe('demo');
    expect(Object.keys(demo.channels).sort()).toEqual([...CHANNELS].sort());
    // The printed URL carries the same Pancake token the document holds.
    expect(stack.output()).toContain(`token=${demo.channels.pancake!.webhookToken}`);
  });

  it('answers GET /healthz with {"status":"ok"} and unknown routes with a JSON 404', async () => {
    const health = await fetch(`${stack.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    for (const [method, path] of [
      // GET / is the operator console (test/e2e/console.test.ts).
      ['GET', '/nowhere'],
      ['GET', '/api/nowhere'],
      ['POST', '/webhooks/telegram'],
      ['PUT', '/webhooks/telegram/demo'],
      ['POST', '/webhooks/telegram/demo/extra'],
    ] as const) {
      const res = await fetch(`${stack.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
  });

  it('answers a malformed percent-encoded path with API Gateway’s 400, never a 500', async () => {
    for (const [method, path] of [
      ['POST', '/webhooks/messenger/%'],
      ['GET', '/webhooks/messenger/%'],
      ['POST', '/webhooks/%/demo'],
      ['POST', '/webhooks/telegram/%E0%A4%A'],
      ['POST', '/webhooks/telegram/demo%ZZ'],
    ] as const) {
      const res = await fetch(`${stack.url}${path}`, {
        method,
        ...(method === 'POST' ? { body: '{}', headers: { 'content-type': 'application/json' } } : {}),
      });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(await res.json()).toEqual({ message: 'Bad Request' });
    }
    // A well-formed encoding still reaches the handler (an unknown tenant, not a 400).
    const encoded = await fetch(`${stack.url}/webhooks/telegram/d%65mo-x`, { method: 'POST', body: '{}' });
    expect(encoded.status).not.toBe(400);
    expect(encoded.status).toBeLessThan(500);
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    expect(stack.output()).not.toMatch(/URIError|failed: /);
  });

  it('refuses a second local stack on the same data directory with one line, leaving the first running', async () => {
    const second = await runToExit({ CHAT_RELAY_DATA_DIR: stateDir });
    expect(second.code).toBe(1);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toMatch(/^chat-relay: another local stack \(pid \d+\) is using /);
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
  });

  it('refuses a body over API Gateway’s 10 MB limit with 413', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024 + 1, 0x61);
    const res = await fetch(`${stack.url}/webhooks/telegram/demo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: big,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('passes the Meta verification handshake through as a GET with its query string', async () => {
    const docs = JSON.parse(readFileSync(join(stateDir, 'tenants.json'), 'utf8')) as unknown[];
    const demo = parseTenantDocument(docs[0]);
    const verify = demo.channels.messenger!.verifyToken;
    const ok = await fetch(
      `${stack.url}/webhooks/messenger/demo?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(verify)}&hub.challenge=1158201444`,
    );
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('1158201444');
    const wrong = await fetch(
      `${stack.url}/webhooks/messenger/demo?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444`,
    );
    expect(wrong.status).toBe(403);
  });

  it('answers the README’s "try it" step: npm run webhook posts a message and the echo reply reaches the sandbox', async () => {
    const cli = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(PROJECT_ROOT, 'bin', 'webhook.ts'),
        'telegram',
        'hello from a newcomer',
        '--url',
        stack.url,
        '--tenants-file',
        join(stateDir, 'tenants.json'),
        '--conversation',
        '424242',
      ],
      { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 30_000 },
    );
    expect(cli.status, cli.stderr + cli.stdout).toBe(0);
    expect(cli.stdout).toContain('200');
    const records = await stack.waitForMessages(
      (rs) => rs.some((r) => r.recipientId === '424242' && r.delivered && r.kind === 'text'),
      20_000,
      'the echo of the CLI message',
    );
    const replies = records.filter((r) => r.recipientId === '424242' && r.delivered && r.kind === 'text');
    expect(replies.map((r) => r.text)).toEqual(['echo: hello from a newcomer']);
  });
});

describe('npm start with a tenants file', () => {
  it('prints the webhook URLs without any secret of the file’s tenants', async () => {
    const tenant = parseTenantDocument({ ...createDemoTenant(), tenantId: 'acme-shop' });
    const stack = await startLocalStackProcess({ tenants: [tenant], env: { LOG_LEVEL: 'INFO' } });
    try {
      const out = stack.output();
      const secrets = tenantSecretValues(tenant.channels);
      expect(secrets.length).toBeGreaterThan(10);
      for (const secret of secrets) {
        expect(out).not.toContain(secret);
        expect(out).not.toContain(encodeURIComponent(secret));
      }
      expect(out).toContain(`${stack.url}/webhooks/pancake/acme-shop?token=[REDACTED]`);
      expect(out).toContain(`${stack.url}/webhooks/telegram/acme-shop`);
      expect(out).not.toContain('generated demo tenant');
    } finally {
      await stack.stop();
    }
  });
});

describe('npm start data directory', () => {
  it('prints no INFO line at the default log level (WARN), also while it answers a message', async () => {
    // LOG_LEVEL unset: the documented default, WARN, must reach the functions' shared logger too.
    const dataDir = join(dir, 'default-level');
    const stack = await startLocalStackProcess({ dataDir, env: { LOG_LEVEL: '', DEBOUNCE_MS: '0' } });
    try {
      const demo = parseTenantDocument(
        (JSON.parse(readFileSync(join(dataDir, 'tenants.json'), 'utf8')) as unknown[])[0],
      );
      const res = await stack.post(
        buildWebhook({ tenant: demo, channel: 'telegram', conversation: '4242', text: 'quiet please' }),
      );
      expect(res.status).toBe(200);
      await stack.waitForMessages(
        (rs) => rs.some((r) => r.recipientId === '4242' && r.delivered && r.kind === 'text'),
        30_000,
        'the reply to "quiet please"',
      );
      expect(stack.output()).toContain('log level: WARN');
    } finally {
      expect((await stack.stop()).code).toBe(0);
    }
    // Stopped: everything it wrote (stdout is batched) has been read.
    expect(stack.output()).not.toMatch(/"level":"(INFO|DEBUG|TRACE)"/);
  });

  it('keeps the demo tenant and the conversation state across a restart, and forgets them with --fresh', async () => {
    const dataDir = join(dir, 'kept');
    const tokenOf = (): string =>
      parseTenantDocument((JSON.parse(readFileSync(join(dataDir, 'tenants.json'), 'utf8')) as unknown[])[0])
        .channels.pancake!.webhookToken;

    let stack = await startLocalStackProcess({ dataDir, env: { DEBOUNCE_MS: '0' } });
    const token = tokenOf();
    const demo = parseTenantDocument(
      (JSON.parse(readFileSync(join(dataDir, 'tenants.json'), 'utf8')) as unknown[])[0],
    );
    expect(
      (
        await stack.post(
          buildWebhook({ tenant: demo, channel: 'telegram', conversation: '5150', text: 'keep me' }),
        )
      ).status,
    ).toBe(200);
    await stack.waitForMessages(
      (rs) => rs.some((r) => r.recipientId === '5150' && r.delivered && r.kind === 'text'),
      30_000,
      'the reply to "keep me"',
    );
    expect(await stack.memoryKeysContaining('5150')).not.toEqual([]);
    expect((await stack.stop()).code).toBe(0);

    stack = await startLocalStackProcess({ dataDir });
    expect(tokenOf()).toBe(token);
    expect(stack.output()).toContain(`token=${token}`);
    expect(await stack.memoryKeysContaining('5150')).not.toEqual([]);
    expect((await stack.stop()).code).toBe(0);

    stack = await startLocalStackProcess({ dataDir, args: ['--fresh'] });
    expect(tokenOf()).not.toBe(token);
    expect(await stack.memoryKeysContaining('5150')).toEqual([]);
    expect((await stack.stop()).code).toBe(0);
  }, 180_000);
});

describe('npm start', () => {
  it('stops the local stack within 5 s when npm itself gets SIGTERM (npm does not pass it on)', async () => {
    const npmDir = join(dir, 'npm-start');
    const child = spawn('npm', ['start'], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        PORT: '0',
        CHAT_RELAY_DATA_DIR: npmDir,
        LOG_LEVEL: 'ERROR',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const ready = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready:\n${out}`)), 60_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString('utf8');
        const match = /chat-relay local stack listening on (http:\/\/\S+)/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.stderr.on('data', (c: Buffer) => {
        out += c.toString('utf8');
      });
    });
    const url = await ready;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    child.kill('SIGTERM');
    // It stops by itself (orphan watch, then its 4.5 s shutdown limit); the cap here is only
    // how long this test is willing to wait.
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let down = false;
    for (let i = 0; i < 300 && !down; i++) {
      await new Promise((r) => setTimeout(r, 100));
      down = await fetch(`${url}/healthz`).then(
        () => false,
        () => true,
      );
    }
    expect(down, 'the stack still answers after npm was terminated').toBe(true);
    await exited;
  });

  it('starts again on the same data directory right after npm start was killed with SIGKILL', async () => {
    const killDir = join(dir, 'npm-kill');
    const start = (): { child: ReturnType<typeof spawn>; ready: Promise<string> } => {
      const child = spawn('npm', ['start'], {
        cwd: PROJECT_ROOT,
        env: {
          ...process.env,
          PORT: '0',
          CHAT_RELAY_DATA_DIR: killDir,
          LOG_LEVEL: 'ERROR',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      const ready = new Promise<string>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`exited with ${code} before ready:\n${out}`)));
        child.stdout?.on('data', (c: Buffer) => {
          out += c.toString('utf8');
          const match = /chat-relay local stack listening on (http:\/\/\S+)/.exec(out);
          if (match) resolve(match[1]!);
        });
        child.stderr?.on('data', (c: Buffer) => {
          out += c.toString('utf8');
        });
      });
      return { child, ready };
    };
    const first = start();
    const firstUrl = await first.ready;
    expect((await fetch(`${firstUrl}/healthz`)).status).toBe(200);
    // SIGKILL reaches npm only; the stack it started notices and stops, and a new `npm start`
    // on the same directory waits for it instead of refusing the directory.
    first.child.kill('SIGKILL');
    const second = start();
    const secondUrl = await second.ready;
    expect((await fetch(`${secondUrl}/healthz`)).status).toBe(200);
    const gone = await fetch(`${firstUrl}/healthz`).then(
      () => false,
      () => true,
    );
    expect(gone, 'the first stack still answers').toBe(true);
    const exited = new Promise<void>((resolve) => second.child.once('exit', () => resolve()));
    second.child.kill('SIGTERM');
    await exited;
  });
});
