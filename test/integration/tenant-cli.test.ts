/**
 * The tenant CLI as users run it (a child process via tsx) against the Secrets Manager
 * emulator, reached through the SDK's own AWS_ENDPOINT_URL_SECRETS_MANAGER, and a minimal
 * CloudFormation endpoint (awsQuery protocol) for the WebhookBaseUrl stack output.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SecretsManagerEmulator, startSecretsManager } from '../../bin/local/secrets-manager.js';
import { parseTenantDocument } from '../../lambdas/shared/tenant.js';
import { REPO_ROOT } from '../helpers/bundle.js';

let secrets: SecretsManagerEmulator;
let cfn: Server;
let cfnEndpoint: string;
let sm: SecretsManagerClient;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function withoutEmpty(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
}

function cli(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bin/tenant.ts'), ...args], {
      cwd: REPO_ROOT,
      // An empty value in `env` removes that variable.
      env: withoutEmpty({
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
        AWS_ENDPOINT_URL_CLOUDFORMATION: cfnEndpoint,
        NODE_NO_WARNINGS: '1',
        ...env,
      }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

async function stored(tenantId: string, prefix = 'chat-relay'): Promise<Record<string, unknown>> {
  const res = await sm.send(new GetSecretValueCommand({ SecretId: `${prefix}/tenants/${tenantId}` }));
  return JSON.parse(res.SecretString ?? '{}') as Record<string, unknown>;
}

beforeAll(async () => {
  secrets = await startSecretsManager();
  // CloudFormation speaks awsQuery: form-encoded POST, XML answer. Only stack "ChatRelay" exists.
  cfn = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const known = form.get('Action') === 'DescribeStacks' && form.get('StackName') === 'ChatRelay';
      res.writeHead(known ? 200 : 400, { 'content-type': 'text/xml' });
      res.end(
        known
          ? `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>ChatRelay</StackName><StackId>arn:aws:cloudformation:us-east-1:000000000000:stack/ChatRelay/1</StackId><CreationTime>2025-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs><member><OutputKey>WebhookBaseUrl</OutputKey><OutputValue>https://abc123.execute-api.us-east-1.amazonaws.com/</OutputValue></member></Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeStacksResponse>`
          : `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${form.get('StackName')} does not exist</Message></Error><RequestId>r2</RequestId></ErrorResponse>`,
      );
    });
  });
  await new Promise<void>((resolve) => cfn.listen(0, '127.0.0.1', resolve));
  cfnEndpoint = `http://127.0.0.1:${(cfn.address() as AddressInfo).port}`;
  sm = new SecretsManagerClient({
    region: 'us-east-1',
    endpoint: secrets.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  sm?.destroy();
  await secrets?.stop();
  await new Promise<void>((resolve) => (cfn ? cfn.close(() => resolve()) : resolve()));
});

describe('tenant CLI against the Secrets Manager emulator', () => {
  it('adds a tenant from flags, generates the missing tokens and prints the setup with the stack URL', async () => {
    const run = await cli([
      'add',
      'acme',
      '--channel',
      'telegram',
      '--set',
      'botToken=123456:ABC-def_ghi',
      '--channel',
      'messenger',
      '--set',
      'appSecret=app-secret-1',
      '--set',
      'pages.PAGE1.accessToken=EAAB-token',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const doc = parseTenantDocument(await stored('acme'));
    const telegram = doc.channels.telegram!;
    const messenger = doc.channels.messenger!;
    expect(telegram.botToken).toBe('123456:ABC-def_ghi');
    expect(telegram.secretToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(messenger.verifyToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(run.stdout).toContain('Generated: messenger.verifyToken, telegram.secretToken.');
    expect(run.stdout).toContain(
      `curl https://api.telegram.org/bot123456:ABC-def_ghi/setWebhook -d url=https://abc123.execute-api.us-east-1.amazonaws.com/webhooks/telegram/acme -d secret_token=${telegram.secretToken}`,
    );
    expect(run.stdout).toContain(`Verify token: ${messenger.verifyToken}`);
  });

  it('refuses to add a tenant twice, exit 2, pointing at update', async () => {
    const run = await cli(['add', 'acme', '--api-url', 'https://x.example']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('already exists');
    expect(run.stderr).toContain('update');
  });

  it('lists every validation problem at once and writes nothing, exit 2', async () => {
    const run = await cli([
      'add',
      'bad-one',
      '--channel',
      'telegram',
      '--set',
      'botToken=nope',
      '--channel',
      'whatsapp',
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('channels.telegram.botToken: must look like "123456:ABC-..."');
    expect(run.stderr).toContain('channels.whatsapp.appSecret');
    expect(run.stderr).toContain('channels.whatsapp.phoneNumberIds');
    expect((await cli(['show', 'bad-one'])).code).toBe(2);
  });

  it('adds from a --file document under a custom prefix and shows it with tokens masked', async () => {
    const file = join(tmpdir(), `tenant-${process.pid}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        tenantId: 'shop-2',
        channels: {
          pancake: {
            pageIds: ['987'],
            pageAccessToken: 'pancake-page-token-XYZW',
            webhookToken: 'hook-token-0001',
          },
        },
        settings: { language: 'vi' },
      }),
    );
    const added = await cli([
      'add',
      'shop-2',
      '--file',
      file,
      '--prefix',
      'tenantsx',
      '--api-url',
      'https://hooks.example',
    ]);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('https://hooks.example/webhooks/pancake/shop-2?token=hook-token-0001');
    expect((await stored('shop-2', 'tenantsx')).settings).toEqual({ language: 'vi' });

    const shown = await cli(['show', 'shop-2', '--prefix', 'tenantsx'], {
      CHAT_RELAY_API_URL: 'https://hooks.example',
    });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('"pageAccessToken": "****XYZW"');
    expect(shown.stdout).not.toContain('pancake-page-token-XYZW');
    expect(shown.stdout).not.toContain('hook-token-0001');
    expect(shown.stdout).toContain('https://hooks.example/webhooks/pancake/shop-2?token=****0001');
  });

  it('updates a channel in place, keeps the others, and removes a channel', async () => {
    const before = parseTenantDocument(await stored('acme'));
    const run = await cli([
      'update',
      'acme',
      '--api-url',
      'https://x.example',
      '--set',
      'settings.debounceMs=4000',
      '--channel',
      'zalo',
      '--set',
      'oaId=OA1',
      '--set',
      'oaSecretKey=zsk',
      '--set',
      'accessToken=zat',
      '--remove-channel',
      'messenger',
    ]);
    expect(run.code).toBe(0);
    const after = parseTenantDocument(await stored('acme'));
    expect(after.channels.telegram).toEqual(before.channels.telegram);
    expect(after.channels.zalo).toEqual({ oaId: 'OA1', oaSecretKey: 'zsk', accessToken: 'zat' });
    expect(after.channels.messenger).toBeUndefined();
    expect(after.settings.debounceMs).toBe(4000);
  });

  it('lists tenant ids of the prefix only', async () => {
    const run = await cli(['list']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual(['acme']);
  });

  it('reaches the endpoint named by the generic AWS_ENDPOINT_URL too', async () => {
    const run = await cli(['list'], {
      AWS_ENDPOINT_URL: secrets.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: '',
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual(['acme']);
    const nowhere = await cli(['list'], {
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: '',
    });
    expect(nowhere.code).toBe(1);
  });

  it('warns and prints a placeholder URL when the stack has no output, still exit 0', async () => {
    const run = await cli(['show', 'acme', '--stack', 'Missing']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('--api-url');
    expect(run.stdout).toContain('<WebhookBaseUrl>/webhooks/telegram/acme');
  });

  it('exits 1 with the AWS error when Secrets Manager fails', async () => {
    secrets.failWith('InternalServiceError');
    try {
      const run = await cli(['list']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('InternalServiceError');
    } finally {
      secrets.failWith(undefined);
    }
  });

  it('removes a tenant and then reports it as unknown', async () => {
    const run = await cli(['remove', 'acme', '--force']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('permanently');
    const again = await cli(['remove', 'acme']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('does not exist');
  });
});
