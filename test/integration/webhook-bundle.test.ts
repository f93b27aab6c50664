/**
 * The webhook as bin/build.ts bundles it for Lambda: the AWS SDK tree-shaken into the bundle and
 * its default credential chain replaced by the Lambda environment's credentials. The bundle runs
 * against the emulators with credentials in the environment, as Lambda provides them.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PurgeQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handlerOptions, ROOT } from '../../bin/build.js';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { tenantSecretName } from '../../lambdas/shared/tenant.js';
import { signedMessengerPost } from '../helpers/messenger-webhook.js';

type Handler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

const APP_SECRET = 'bundle-app-secret-0123';
const PAGE = '110000000000001';

let emulators: Emulators;
let dir: string;
let file: string;
const savedEnv = { ...process.env };

function messengerPost(tenant: string, mid: string): APIGatewayProxyEventV2 {
  const { body, headers } = signedMessengerPost(APP_SECRET, PAGE, mid);
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{channel}/{tenantId}',
    rawPath: `/webhooks/messenger/${tenant}`,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...headers },
    pathParameters: { channel: 'messenger', tenantId: tenant },
    requestContext: { http: { method: 'POST' } } as APIGatewayProxyEventV2['requestContext'],
    isBase64Encoded: false,
    body,
  };
}

beforeAll(async () => {
  emulators = await startEmulators({ prefix: 'bundle' });
  emulators.secrets.putSecret(
    tenantSecretName(emulators.secretPrefix, 'acme'),
    JSON.stringify({
      tenantId: 'acme',
      channels: {
        messenger: {
          appSecret: APP_SECRET,
          verifyToken: 'verify-token',
          pages: { [PAGE]: { accessToken: 'EAAG-x' } },
        },
      },
    }),
  );
  const cacheRoot = join(ROOT, 'node_modules', '.cache', 'chat-relay-bundles');
  mkdirSync(cacheRoot, { recursive: true });
  dir = mkdtempSync(join(cacheRoot, 'deployed-'));
  // `.cjs`: the repository's package.json says ESM; Lambda's asset folder has none.
  file = join(dir, 'index.cjs');
  await build({ ...handlerOptions('webhook', dir), outfile: file, logLevel: 'silent' });
  Object.assign(process.env, emulators.env, {
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
}, 120_000);

afterAll(async () => {
  await emulators?.stop();
  process.env = savedEnv;
  rmSync(dir, { recursive: true, force: true });
});

describe('the deployed webhook bundle', () => {
  it('carries the SDK it uses and the Lambda environment credentials, not the SDK default chain', () => {
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('SendMessageBatchCommand');
    expect(text).toContain('this bundle is built for AWS Lambda');
    for (const absent of [
      'fromSSO',
      'fromIni',
      'fromInstanceMetadata',
      'fromTokenFile',
      'ReceiveMessageCommand',
    ]) {
      expect(text).not.toContain(absent);
    }
  });

  it('reads the tenant and enqueues a message with the credentials from the environment', async () => {
    const { handler } = createRequire(import.meta.url)(file) as { handler: Handler };
    const res = await handler(messengerPost('acme', 'bundle.ok.1'));
    expect(res.statusCode).toBe(200);
    const got = await emulators.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: emulators.queues.inbound.url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    expect(got.Messages?.map((m) => m.Body?.includes('bundle.ok.1'))).toEqual([true]);
    await emulators.sqs.send(new PurgeQueueCommand({ QueueUrl: emulators.queues.inbound.url }));
  });
});
