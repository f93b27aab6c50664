/**
 * Delivery with a token rotated after the tenant was cached: a send the platform refuses as an
 * invalid token re-reads the tenant (the store against the Secrets Manager emulator, injected
 * clock) and, when the secret changed, retries the part with the new token; when it did not
 * change, the refusal stays final. The sandbox platform refuses the first send with a 401.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../bin/local/emulators.js';
import { type Sandbox, startSandbox } from '../../bin/local/sandbox.js';
import { messageGroupId, outboundDedupId } from '../../lambdas/shared/keys.js';
import type { OutboundPart } from '../../lambdas/shared/model.js';
import { tenantSecretName } from '../../lambdas/shared/tenant.js';
import { createTenantStore, type TenantStore } from '../../lambdas/shared/tenant-store.js';
import { captureOutput } from '../helpers/capture-output.js';
import { inboxPart } from '../helpers/outbound-part.js';
import { queueDepth, runUntil } from '../helpers/sqs-driver.js';

const TENANT = 'rotor';
const PAGE = 'fbpage';
const INTERVAL_MS = 60_000;

let emu: Emulators;
let sandbox: Sandbox;
let store: TenantStore;
let clock = 1_000_000;
const output: string[] = [];
let restoreWrites: () => void = () => {};
let seq = 0;

function putTenant(pageToken: string): void {
  emu.secrets.putSecret(
    tenantSecretName(emu.secretPrefix, TENANT),
    JSON.stringify({
      tenantId: TENANT,
      channels: {
        messenger: {
          appSecret: 'app-secret-1',
          verifyToken: 'verify-1',
          pages: { [PAGE]: { accessToken: pageToken } },
        },
      },
      settings: {},
    }),
  );
}

function part(text: string): OutboundPart {
  seq += 1;
  const recipientId = `cust-rot-${seq}`;
  const conversationId = `${PAGE}:${recipientId}`;
  const turnId = `turn-rot-${seq}`;
  return inboxPart({
    tenantId: TENANT,
    channel: 'messenger',
    pageId: PAGE,
    recipientId,
    conversationId,
    turnId,
    text,
  });
}

async function enqueue(p: OutboundPart): Promise<void> {
  const result = await emu.sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: emu.queues.outbound.url,
      Entries: [
        {
          Id: '0',
          MessageBody: JSON.stringify(p),
          MessageGroupId: messageGroupId(p.conversationKey),
          MessageDeduplicationId: outboundDedupId(p.replyId),
        },
      ],
    }),
  );
  expect(result.Failed ?? []).toEqual([]);
}

const delivered = (text: string): boolean => sandbox.messages().some((m) => m.delivered && m.text === text);

async function deliver(done: () => boolean | Promise<boolean>): Promise<boolean> {
  const { createDeliveryHandler } = await import('../../lambdas/delivery/handler.js');
  const handler = createDeliveryHandler({
    backoff: { baseMs: 1000, random: () => 0 },
    loadTenant: (id) => store.load(id),
    refreshTenant: (id) => store.refresh(id),
  });
  return runUntil(
    [{ sqs: emu.sqs, queueUrl: emu.queues.outbound.url, queueArn: emu.queues.outbound.arn, handler }],
    done,
    20_000,
  );
}

beforeAll(async () => {
  emu = await startEmulators({ prefix: `rot${process.pid}` });
  sandbox = await startSandbox();
  Object.assign(process.env, emu.env, sandbox.env, { SEND_TIMEOUT_MS: '10000' });
  putTenant('EAAG-OLD-PAGE-TOKEN-000');
  restoreWrites = captureOutput(output);
  const clients = await import('../../lambdas/shared/clients.js');
  clients.resetClients();
}, 120_000);

beforeEach(() => {
  sandbox.clear();
  store?.destroy();
  store = createTenantStore({
    ttlMs: 3_600_000,
    refreshIntervalMs: INTERVAL_MS,
    now: () => clock,
    secretPrefix: emu.secretPrefix,
    client: new SecretsManagerClient({
      endpoint: emu.secrets.endpoint,
      region: emu.region,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }),
  });
});

afterAll(async () => {
  restoreWrites();
  store?.destroy();
  await sandbox?.stop();
  await emu?.stop();
});

describe('delivery with a rotated page token', () => {
  it('re-reads the tenant after an invalid-token refusal and delivers the part with the new token', async () => {
    putTenant('EAAG-OLD-PAGE-TOKEN-000');
    await enqueue(part('warm-up'));
    expect(await deliver(() => delivered('warm-up'))).toBe(true);

    // Rotated after this container cached the tenant; the platform now refuses the old token.
    putTenant('EAAG-NEW-PAGE-TOKEN-111');
    clock += INTERVAL_MS;
    const reads = emu.secrets.getCount();
    sandbox.fail({ channel: 'graph', kind: '401' });
    await enqueue(part('after rotation'));
    expect(await deliver(() => delivered('after rotation'))).toBe(true);
    expect(emu.secrets.getCount() - reads).toBe(1);
    expect(sandbox.messages().filter((m) => m.text === 'after rotation' && !m.delivered)).toHaveLength(1);
  });

  it('keeps an invalid-token refusal final when the secret has not changed', async () => {
    putTenant('EAAG-SAME-PAGE-TOKEN-222');
    await enqueue(part('warm-up 2'));
    expect(await deliver(() => delivered('warm-up 2'))).toBe(true);
    clock += INTERVAL_MS;
    const reads = emu.secrets.getCount();
    sandbox.fail({ channel: 'graph', kind: '401' });
    await enqueue(part('refused'));
    // The record is consumed as a permanent failure: tried once, not delivered, not on the queue.
    const consumed = async (): Promise<boolean> =>
      sandbox.messages().some((m) => m.text === 'refused') &&
      (await queueDepth(emu.sqs, emu.queues.outbound.url)) === 0;
    expect(await deliver(consumed)).toBe(true);
    expect(sandbox.messages().filter((m) => m.text === 'refused')).toHaveLength(1);
    expect(delivered('refused')).toBe(false);
    expect(emu.secrets.getCount() - reads).toBe(1);
  });
});
