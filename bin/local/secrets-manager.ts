/**
 * A small in-process Secrets Manager emulator speaking the real JSON 1.1 protocol
 * (`X-Amz-Target: secretsmanager.<Action>`), so the real `@aws-sdk/client-secrets-manager`
 * and Powertools Parameters run against it unchanged. It implements the actions chat-relay
 * and its tenant CLI use: CreateSecret, GetSecretValue, PutSecretValue, UpdateSecret,
 * DescribeSecret, ListSecrets, DeleteSecret. Errors use the real `__type` names.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface StoredSecret {
  name: string;
  arn: string;
  secretString: string;
  versionId: string;
  description?: string;
  createdDate: number;
  lastChangedDate: number;
  deletedDate?: number;
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** A running emulator. */
export interface SecretsManagerEmulator {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  readonly port: number;
  /** Number of GetSecretValue calls served (tests use it to check caching). */
  readonly getCount: () => number;
  /** Direct access for tests: put a secret without going through the SDK. */
  readonly putSecret: (name: string, value: string) => void;
  /** Makes every request fail with the given error type until cleared (fault injection). */
  readonly failWith: (type: string | undefined) => void;
  readonly stop: () => Promise<void>;
}

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';

/** Actions that change the stored secrets (saved to `persistPath` before they answer). */
const MUTATIONS = new Set(['CreateSecret', 'PutSecretValue', 'UpdateSecret', 'DeleteSecret']);

/**
 * Starts the emulator on `port` (0 = any free port) on 127.0.0.1. With `persistPath` the
 * secrets are loaded from that JSON file and written back (atomically, mode 0600) before
 * every change is answered, so they survive a restart or a crash.
 */
export async function startSecretsManager(
  options: { port?: number; host?: string; persistPath?: string } = {},
): Promise<SecretsManagerEmulator> {
  const secrets = new Map<string, StoredSecret>();
  const { persistPath } = options;
  if (persistPath !== undefined && existsSync(persistPath)) {
    for (const s of JSON.parse(readFileSync(persistPath, 'utf8')) as StoredSecret[]) secrets.set(s.name, s);
  }
  const save = (): void => {
    if (persistPath === undefined) return;
    const temp = `${persistPath}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify([...secrets.values()]), { mode: 0o600 });
    renameSync(temp, persistPath);
  };
  let gets = 0;
  let failure: string | undefined;

  const arnFor = (name: string): string =>
    `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-${randomUUID().slice(0, 6)}`;

  const find = (id: unknown): StoredSecret => {
    if (typeof id !== 'string' || id === '')
      throw new AwsError('InvalidParameterException', 'SecretId is required.');
    const secret = secrets.get(id) ?? [...secrets.values()].find((s) => s.arn === id);
    if (!secret || secret.deletedDate !== undefined) {
      throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    return secret;
  };

  const put = (name: string, value: string, description?: string): StoredSecret => {
    const now = Date.now() / 1000;
    const existing = secrets.get(name);
    const secret: StoredSecret = {
      name,
      arn: existing?.arn ?? arnFor(name),
      secretString: value,
      versionId: randomUUID(),
      createdDate: existing?.createdDate ?? now,
      lastChangedDate: now,
      ...(description !== undefined
        ? { description }
        : existing?.description !== undefined
          ? { description: existing.description }
          : {}),
    };
    secrets.set(name, secret);
    return secret;
  };

  const actions: Record<string, (input: Record<string, unknown>) => unknown> = {
    CreateSecret(input) {
      const name = input.Name;
      if (typeof name !== 'string' || name === '')
        throw new AwsError('InvalidParameterException', 'Name is required.');
      const existing = secrets.get(name);
      if (existing && existing.deletedDate === undefined) {
        throw new AwsError(
          'ResourceExistsException',
          `The operation failed because the secret ${name} already exists.`,
        );
      }
      if (typeof input.SecretString !== 'string') {
        throw new AwsError('InvalidParameterException', 'SecretString is required by this emulator.');
      }
      secrets.delete(name);
      const s = put(
        name,
        input.SecretString,
        typeof input.Description === 'string' ? input.Description : undefined,
      );
      return { ARN: s.arn, Name: s.name, VersionId: s.versionId };
    },
    GetSecretValue(input) {
      gets += 1;
      const s = find(input.SecretId);
      return {
        ARN: s.arn,
        Name: s.name,
        VersionId: s.versionId,
        SecretString: s.secretString,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: s.lastChangedDate,
      };
    },
    PutSecretValue(input) {
      const s = find(input.SecretId);
      if (typeof input.SecretString !== 'string')
        throw new AwsError('InvalidParameterException', 'SecretString is required.');
      const updated = put(s.name, input.SecretString);
      return {
        ARN: updated.arn,
        Name: updated.name,
        VersionId: updated.versionId,
        VersionStages: ['AWSCURRENT'],
      };
    },
    UpdateSecret(input) {
      const s = find(input.SecretId);
      const updated = put(
        s.name,
        typeof input.SecretString === 'string' ? input.SecretString : s.secretString,
        typeof input.Description === 'string' ? input.Description : undefined,
      );
      return { ARN: updated.arn, Name: updated.name, VersionId: updated.versionId };
    },
    DescribeSecret(input) {
      const s = find(input.SecretId);
      return {
        ARN: s.arn,
        Name: s.name,
        Description: s.description,
        CreatedDate: s.createdDate,
        LastChangedDate: s.lastChangedDate,
      };
    },
    ListSecrets(input) {
      const filters = Array.isArray(input.Filters)
        ? (input.Filters as { Key?: string; Values?: string[] }[])
        : [];
      const nameFilters = filters.filter((f) => f.Key === 'name').flatMap((f) => f.Values ?? []);
      const list = [...secrets.values()]
        .filter((s) => s.deletedDate === undefined)
        .filter((s) => nameFilters.length === 0 || nameFilters.some((prefix) => s.name.startsWith(prefix)))
        .sort((a, b) => a.name.localeCompare(b.name));
      const max = typeof input.MaxResults === 'number' ? input.MaxResults : 100;
      const start = typeof input.NextToken === 'string' ? Number(input.NextToken) : 0;
      const page = list.slice(start, start + max);
      const next = start + max < list.length ? String(start + max) : undefined;
      return {
        SecretList: page.map((s) => ({
          ARN: s.arn,
          Name: s.name,
          Description: s.description,
          CreatedDate: s.createdDate,
          LastChangedDate: s.lastChangedDate,
        })),
        ...(next !== undefined ? { NextToken: next } : {}),
      };
    },
    DeleteSecret(input) {
      const s = find(input.SecretId);
      if (input.ForceDeleteWithoutRecovery === true) secrets.delete(s.name);
      else s.deletedDate = Date.now() / 1000;
      return { ARN: s.arn, Name: s.name, DeletionDate: Date.now() / 1000 };
    },
  };

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
    });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      const target = String(req.headers['x-amz-target'] ?? '');
      const action = target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : '';
      const fn = actions[action];
      if (req.method !== 'POST' || !fn)
        throw new AwsError('UnknownOperationException', `Unknown operation ${target}`);
      if (failure)
        throw new AwsError(failure, `Injected failure: ${failure}`, failure.includes('Internal') ? 500 : 400);
      const raw = Buffer.concat(chunks).toString('utf8');
      const input = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
      const output = fn(input);
      if (MUTATIONS.has(action)) save();
      send(res, 200, output);
    } catch (err) {
      if (err instanceof AwsError) send(res, err.status, { __type: err.type, message: err.message });
      else send(res, 400, { __type: 'SerializationException', message: String(err) });
    }
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve),
  );
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    getCount: () => gets,
    putSecret: (name, value) => {
      put(name, value);
      save();
    },
    failWith: (type) => {
      failure = type;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
