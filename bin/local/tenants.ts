/**
 * Tenants of the local stack: the generated `demo` tenant (every channel, fresh tokens),
 * writing tenant documents to the Secrets Manager emulator and to `tenants.json` (which
 * `npm run webhook` reads), and the webhook URLs printed at start.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHANNELS, type ChannelName } from '../../lambdas/shared/model.js';
import { REDACTED, tenantSecretValues } from '../../lambdas/shared/redact.js';
import { parseTenantDocument, type TenantDocument, tenantSecretName } from '../../lambdas/shared/tenant.js';

/** Platform ids of the demo tenant: shaped like the real ones, fixed so URLs stay stable. */
export const DEMO_IDS = {
  tenantId: 'demo',
  pancakePageId: '100000000000001',
  messengerPageId: '100000000000002',
  instagramAccountId: '17841400000000003',
  whatsappPhoneNumberId: '100000000000004',
  telegramBotId: '7000000005',
  zaloOaId: '4000000000000000006',
  zaloAppId: '3000000000000000007',
  metaAppId: '1000000000000008',
} as const;

const token = (bytes = 24): string => randomBytes(bytes).toString('base64url');

/** A `demo` tenant with every channel configured and freshly generated secrets and tokens. */
export function createDemoTenant(): TenantDocument {
  return parseTenantDocument({
    tenantId: DEMO_IDS.tenantId,
    channels: {
      pancake: {
        pageIds: [DEMO_IDS.pancakePageId],
        pageAccessToken: token(),
        webhookToken: token(),
      },
      messenger: {
        appSecret: token(),
        verifyToken: token(12),
        appId: DEMO_IDS.metaAppId,
        pages: { [DEMO_IDS.messengerPageId]: { accessToken: token(32) } },
      },
      instagram: {
        appSecret: token(),
        verifyToken: token(12),
        appId: DEMO_IDS.metaAppId,
        accounts: { [DEMO_IDS.instagramAccountId]: { accessToken: token(32) } },
      },
      whatsapp: {
        appSecret: token(),
        verifyToken: token(12),
        accessToken: token(32),
        phoneNumberIds: [DEMO_IDS.whatsappPhoneNumberId],
      },
      telegram: {
        botToken: `${DEMO_IDS.telegramBotId}:${token(26)}`,
        secretToken: token(),
      },
      zalo: {
        oaId: DEMO_IDS.zaloOaId,
        appId: DEMO_IDS.zaloAppId,
        oaSecretKey: token(),
        accessToken: token(32),
      },
    },
    settings: { persona: 'A friendly demo shop assistant.', language: 'auto' },
  });
}

/** Stores every tenant document as its secret `{secretPrefix}/tenants/{tenantId}`. */
export async function storeTenantSecrets(
  putSecret: (name: string, value: string) => Promise<void> | void,
  secretPrefix: string,
  tenants: readonly TenantDocument[],
): Promise<void> {
  for (const tenant of tenants) {
    await putSecret(tenantSecretName(secretPrefix, tenant.tenantId), JSON.stringify(tenant));
  }
}

/** Writes `tenants.json` atomically into `stateDir` (created when missing); returns its path. */
export function writeTenantsState(stateDir: string, tenants: readonly TenantDocument[]): string {
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, 'tenants.json');
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(tenants, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, path);
  return path;
}

/**
 * Writes `stack.json` into `stateDir`: where the running stack and its emulators listen and
 * the names of its queues and tables (for the AWS CLI with `--endpoint-url`, and the tests).
 */
export function writeStackState(stateDir: string, state: Readonly<Record<string, unknown>>): string {
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, 'stack.json');
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temp, path);
  return path;
}

/** The channels a tenant has configured, in the canonical order. */
export function configuredChannels(tenant: TenantDocument): ChannelName[] {
  return CHANNELS.filter((c) => tenant.channels[c] !== undefined);
}

/** The webhook URL a platform must call for `channel` (Pancake's carries its token). */
export function webhookUrl(baseUrl: string, tenant: TenantDocument, channel: ChannelName): string {
  const url = `${baseUrl}/webhooks/${channel}/${tenant.tenantId}`;
  const pancake = tenant.channels.pancake;
  return channel === 'pancake' && pancake ? `${url}?token=${encodeURIComponent(pancake.webhookToken)}` : url;
}

/**
 * Human-readable lines describing where each platform must point and, with `withSecrets`
 * (the throw-away demo tenant only, marked as such), which secrets and tokens it was generated
 * with. Without it no secret of the tenant appears: the Pancake URL shows `?token=[REDACTED]`.
 */
export function describeTenant(baseUrl: string, tenant: TenantDocument, withSecrets: boolean): string[] {
  const lines = [
    withSecrets
      ? `tenant "${tenant.tenantId}" (generated demo tenant: throw-away tokens, printed below):`
      : `tenant "${tenant.tenantId}":`,
  ];
  const c = tenant.channels;
  for (const channel of configuredChannels(tenant)) {
    const url = webhookUrl(baseUrl, tenant, channel);
    lines.push(
      `  ${channel.padEnd(9)} ${withSecrets ? url : url.replace(/\?token=.*$/, `?token=${REDACTED}`)}`,
    );
    if (channel === 'pancake' && !withSecrets) {
      lines.push('            (?token= is channels.pancake.webhookToken of the tenants file)');
    }
    if (!withSecrets) continue;
    if (channel === 'pancake' && c.pancake) {
      lines.push(`            pages ${c.pancake.pageIds.join(', ')}`);
    } else if (channel === 'messenger' && c.messenger) {
      lines.push(
        `            verify token ${c.messenger.verifyToken}  app secret ${c.messenger.appSecret}  pages ${Object.keys(c.messenger.pages).join(', ')}`,
      );
    } else if (channel === 'instagram' && c.instagram) {
      lines.push(
        `            verify token ${c.instagram.verifyToken}  app secret ${c.instagram.appSecret}  accounts ${Object.keys(c.instagram.accounts).join(', ')}`,
      );
    } else if (channel === 'whatsapp' && c.whatsapp) {
      lines.push(
        `            verify token ${c.whatsapp.verifyToken}  app secret ${c.whatsapp.appSecret}  numbers ${c.whatsapp.phoneNumberIds.join(', ')}`,
      );
    } else if (channel === 'telegram' && c.telegram) {
      lines.push(
        `            secret token ${c.telegram.secretToken}  bot ${c.telegram.botToken.split(':')[0]}`,
      );
    } else if (channel === 'zalo' && c.zalo) {
      lines.push(`            OA ${c.zalo.oaId}  OA secret key ${c.zalo.oaSecretKey}`);
    }
  }
  return lines;
}

/**
 * Blanks every secret of `tenants` (and its URL-encoded form) out of `text`: the last guard of
 * the ready banner, whatever line a secret reached it through.
 */
export function redactTenantSecrets(text: string, tenants: readonly TenantDocument[]): string {
  const secrets = new Set<string>();
  for (const tenant of tenants) {
    for (const value of tenantSecretValues(tenant.channels)) {
      secrets.add(value);
      secrets.add(encodeURIComponent(value));
    }
  }
  // Longest first, so a secret containing another is blanked whole.
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret !== '') out = out.split(secret).join(REDACTED);
  }
  return out;
}
