/**
 * Tenant documents (DESIGN §3): one Secrets Manager secret per tenant at
 * `{secretPrefix}/tenants/{tenantId}`. The schema is the single definition used by the
 * handlers (on read), the tenant CLI (on write) and the local stack (on load).
 */
// Namespace import: lets esbuild drop the unused parts of zod (its locales alone are ~250 KB minified).
import * as z from 'zod';
import { DEFAULTS, TENANT_ID_PATTERN } from '../contracts/index.js';
import { TenantConfigError } from './errors.js';
import type { ChannelName } from './model.js';

// The tenant id rule lives in the contracts (lib/ validates ids too); re-exported here.
export { TENANT_ID_PATTERN };
/** Telegram's documented alphabet for `secret_token` (1–256 characters). */
export const TELEGRAM_SECRET_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;

const token = z.string().min(1, 'must be a non-empty string');

export const pancakeConfigSchema = z.object({
  pageIds: z.array(token).min(1, 'must list at least one page id'),
  /** Page access token (sent as `?page_access_token=`). One token for all pages, or per page below. */
  pageAccessToken: token,
  /** Optional per-page tokens overriding `pageAccessToken`. */
  pageAccessTokens: z.record(z.string(), token).optional(),
  /** The secret every webhook URL carries as `?token=`. */
  webhookToken: token,
  /** Optional: when set, `X-Pancake-Signature` and `X-Pancake-Timestamp` are required too. */
  signingSecret: token.optional(),
});

export const messengerConfigSchema = z.object({
  appSecret: token,
  verifyToken: token,
  /** App id of our own Meta app (echoes carrying it are our sends). */
  appId: z.string().optional(),
  pages: z.record(z.string(), z.object({ accessToken: token })).refine((p) => Object.keys(p).length > 0, {
    message: 'must configure at least one page',
  }),
});

export const instagramConfigSchema = z.object({
  appSecret: token,
  verifyToken: token,
  appId: z.string().optional(),
  accounts: z.record(z.string(), z.object({ accessToken: token })).refine((a) => Object.keys(a).length > 0, {
    message: 'must configure at least one account',
  }),
});

export const whatsappConfigSchema = z.object({
  appSecret: token,
  verifyToken: token,
  accessToken: token,
  phoneNumberIds: z.array(token).min(1, 'must list at least one phone number id'),
});

export const telegramConfigSchema = z.object({
  /** `<botId>:<secret>` as BotFather gives it. */
  botToken: z
    .string()
    .regex(/^\d+:[A-Za-z0-9_-]+$/, 'must look like "123456:ABC-..." (the token BotFather gives)'),
  secretToken: z
    .string()
    .regex(TELEGRAM_SECRET_PATTERN, 'must be 1–256 characters of A-Z, a-z, 0-9, "_" or "-" (Telegram rule)'),
});

export const zaloConfigSchema = z.object({
  oaId: token,
  /** The Zalo app id (also sent in each event body as `app_id`). */
  appId: z.string().optional(),
  oaSecretKey: token,
  accessToken: token,
  /**
   * OAuth v4 refresh token (single-use, about 3 months). With `appSecretKey` and `appId` set, the
   * runtime refreshes `accessToken` ahead of `accessTokenExpiresAt` and on the token-expired error,
   * and writes the new pair back into this secret (docs/channels.md, "Zalo tokens").
   */
  refreshToken: token.optional(),
  /** The Zalo app's secret key (the `secret_key` header of the OAuth endpoint). */
  appSecretKey: token.optional(),
  /** When `accessToken` expires, epoch milliseconds. */
  accessTokenExpiresAt: z.number().int().nonnegative().optional(),
  /** Answer `user_send_group_*` events in the group (otherwise they are ignored and counted). */
  groups: z.boolean().optional(),
});

/** A tool the bedrock responder may call through Converse tool use. */
export const toolSchema = z
  .object({
    /** Tool name as the model sees it (Converse rule: letters, digits, `_`, `-`, 1–64). */
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1–64 letters, digits, "_" or "-"'),
    description: z.string().min(1).max(2000),
    /** JSON schema of the tool's input (an object schema). */
    inputSchema: z.record(z.string(), z.unknown()),
    type: z.enum(['http', 'lambda']).default('http'),
    /** `http`: method and URL template; `{name}` placeholders are filled from the input, URL-encoded. */
    method: z.enum(['GET', 'POST']).optional(),
    url: z.string().optional(),
    /** `http`: an auth header whose value is `secrets[secret]` of this tenant document. */
    auth: z.object({ header: z.string().min(1), secret: z.string().min(1) }).optional(),
    /** `lambda`: the function name or ARN to invoke with the input as its event. */
    functionName: z.string().optional(),
    timeoutMs: z.number().int().min(100).max(5000).default(3000),
    /** Bytes of the response given to the model; the rest is cut. */
    maxResponseBytes: z.number().int().min(256).max(65_536).default(8192),
  })
  .superRefine((tool, ctx) => {
    if (tool.type === 'http' && !tool.url)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'is required for an http tool' });
    if (tool.type === 'lambda' && !tool.functionName)
      ctx.addIssue({ code: 'custom', path: ['functionName'], message: 'is required for a lambda tool' });
  });

export const tenantSettingsSchema = z.object({
  persona: z.string().optional(),
  /** BCP-47 language (`vi`, `en`, …) or `auto`. */
  language: z.string().optional(),
  debounceMs: z.number().int().min(0).max(900_000).optional(),
  maxTurnWaitMs: z.number().int().min(0).optional(),
  humanTakeoverMinutes: z.number().min(0).optional(),
  fallbackReply: z.string().optional(),
  bannedPhrases: z.array(z.string()).optional(),
  /** Send the fallback reply when a turn lands in the DLQ. */
  sendFallbackOnFailure: z.boolean().optional(),
  /**
   * How Messenger and Instagram comments are answered: `private` (a private reply to the commenter,
   * the default), `public` (a reply under the comment), `both`, or `ignore`.
   */
  comments: z.enum(['private', 'public', 'both', 'ignore']).optional(),
  /** The reply to a `GET_STARTED` postback (Messenger's Get Started button, Telegram `/start`). */
  welcomeReply: z.string().min(1).max(4000).optional(),
  /** HTTP or Lambda tools the bedrock responder may call (docs/knowledge.md). */
  tools: z.array(toolSchema).max(20).optional(),
  /** Retrieve passages from the tenant's knowledge base for each turn (default true when the stack has one). */
  knowledge: z.boolean().optional(),
});

export const tenantDocumentSchema = z.object({
  tenantId: z
    .string()
    .regex(
      TENANT_ID_PATTERN,
      'must be 1–63 characters of lowercase letters, digits and "-", starting with a letter or digit',
    ),
  channels: z
    .object({
      pancake: pancakeConfigSchema.optional(),
      messenger: messengerConfigSchema.optional(),
      instagram: instagramConfigSchema.optional(),
      whatsapp: whatsappConfigSchema.optional(),
      telegram: telegramConfigSchema.optional(),
      zalo: zaloConfigSchema.optional(),
    })
    .strict(),
  settings: tenantSettingsSchema.default({}),
  /** Named secret values referenced by the settings (tool auth headers). Never logged. */
  secrets: z.record(z.string(), z.string()).optional(),
});

export type TenantDocument = z.infer<typeof tenantDocumentSchema>;
export type TenantSettings = z.infer<typeof tenantSettingsSchema>;
export type PancakeConfig = z.infer<typeof pancakeConfigSchema>;
export type MessengerConfig = z.infer<typeof messengerConfigSchema>;
export type InstagramConfig = z.infer<typeof instagramConfigSchema>;
export type WhatsappConfig = z.infer<typeof whatsappConfigSchema>;
export type TelegramConfig = z.infer<typeof telegramConfigSchema>;
export type ZaloConfig = z.infer<typeof zaloConfigSchema>;
export type ToolDeclaration = z.infer<typeof toolSchema>;

/** The configuration type of each channel. */
export interface ChannelConfigs {
  pancake: PancakeConfig;
  messenger: MessengerConfig;
  instagram: InstagramConfig;
  whatsapp: WhatsappConfig;
  telegram: TelegramConfig;
  zalo: ZaloConfig;
}

/**
 * Validates a tenant document. Every problem is reported at once, each as `path: what is wrong`.
 * @throws TenantConfigError
 */
export function parseTenantDocument(input: unknown): TenantDocument {
  const result = tenantDocumentSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(document)';
    return `${path}: ${issue.message}`;
  });
  throw new TenantConfigError(problems);
}

/** The secret name of a tenant: `{prefix}/tenants/{tenantId}`. */
export function tenantSecretName(prefix: string, tenantId: string): string {
  return `${prefix.replace(/\/+$/, '')}/tenants/${tenantId}`;
}

/** The bot id of a Telegram bot token (the digits before the colon). */
export function telegramBotId(botToken: string): string {
  return botToken.slice(0, botToken.indexOf(':'));
}

/** The configuration of `channel` for a tenant, or undefined when the tenant has not set it up. */
export function channelConfig<C extends ChannelName>(
  tenant: TenantDocument,
  channel: C,
): ChannelConfigs[C] | undefined {
  return tenant.channels[channel] as ChannelConfigs[C] | undefined;
}

/** Default tenant settings, applied where the tenant document is silent. */
export const DEFAULT_SETTINGS = {
  language: 'auto',
  debounceMs: DEFAULTS.debounceMs,
  maxTurnWaitMs: DEFAULTS.maxTurnWaitMs,
  humanTakeoverMinutes: DEFAULTS.humanTakeoverMinutes,
  fallbackReply: 'Sorry, something went wrong on our side. A team member will get back to you shortly.',
  bannedPhrases: [] as string[],
} as const;
