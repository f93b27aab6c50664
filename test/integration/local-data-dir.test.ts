/**
 * The embedded emulators with a data directory (bin/local/emulators.ts `dataDir`): a table
 * item, a secret and a queued message written before a stop are there after a start on the
 * same directory; without `dataDir` nothing is kept.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Emulators,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startEmulators,
} from '../../bin/local/emulators.js';

const dir = mkdtempSync(join(tmpdir(), 'chat-relay-datadir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const secretsClient = (e: Emulators): SecretsManagerClient =>
  new SecretsManagerClient({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: e.secrets.endpoint,
  });

/** Writes one item, one secret (created then changed) and one inbound message. */
async function write(e: Emulators): Promise<void> {
  await e.dynamo.send(
    new PutItemCommand({
      TableName: e.tables.memory,
      Item: { pk: { S: 'conv#1' }, sk: { S: 'turn#1' }, text: { S: 'kept' } },
    }),
  );
  const sm = secretsClient(e);
  await sm.send(new CreateSecretCommand({ Name: 'chat-relay/tenants/t1', SecretString: '{"v":1}' }));
  await sm.send(new PutSecretValueCommand({ SecretId: 'chat-relay/tenants/t1', SecretString: '{"v":2}' }));
  sm.destroy();
  await e.sqs.send(
    new SendMessageCommand({
      QueueUrl: e.queues.inbound.url,
      MessageBody: 'queued',
      MessageGroupId: 'conv#1',
      MessageDeduplicationId: 'd1',
    }),
  );
}

/** What survived: the item's text, the secret, and the inbound queue's bodies. */
async function read(e: Emulators): Promise<{ item?: string; secret?: string; bodies: string[] }> {
  const item = await e.dynamo.send(
    new GetItemCommand({ TableName: e.tables.memory, Key: { pk: { S: 'conv#1' }, sk: { S: 'turn#1' } } }),
  );
  const sm = secretsClient(e);
  const secret = await sm
    .send(new GetSecretValueCommand({ SecretId: 'chat-relay/tenants/t1' }))
    .then((r) => r.SecretString)
    .catch((err: Error) => err.name);
  sm.destroy();
  const received = await e.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: e.queues.inbound.url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
    }),
  );
  return {
    ...(item.Item?.text?.S !== undefined ? { item: item.Item.text.S } : {}),
    ...(secret !== undefined ? { secret } : {}),
    bodies: (received.Messages ?? []).map((m) => m.Body ?? ''),
  };
}

describe('emulators with a data directory', () => {
  it('keep table items, secrets and queued messages across a stop and start on the same directory', async () => {
    const dataDir = join(dir, 'kept');
    let e = await startEmulators({ dataDir });
    expect(e.replayed?.restored).toEqual({});
    await write(e);
    await e.stop();

    e = await startEmulators({ dataDir });
    expect(e.replayed?.restored).toEqual({ 'chat-relay-inbound.fifo': 1 });
    expect(await read(e)).toEqual({ item: 'kept', secret: '{"v":2}', bodies: ['queued'] });
    await e.stop();
  });

  it('keep nothing without one', async () => {
    let e = await startEmulators();
    await write(e);
    await e.stop();
    e = await startEmulators();
    expect(e.replayed).toBeUndefined();
    expect(await read(e)).toEqual({ secret: 'ResourceNotFoundException', bodies: [] });
    await e.stop();
  });
});
