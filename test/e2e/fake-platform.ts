/**
 * A fake platform that behaves like Meta, Pancake and Zalo after a send: it answers the send
 * API (through the sandbox's faithful responses) and then posts the matching echo webhook
 * back to the webhook URL — Meta's `is_echo`, WhatsApp's `sent` status, Pancake's page
 * message, Zalo's `oa_send_text`. Telegram never echoes a bot's own messages.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSandboxHandler, type SandboxRecord } from '../../bin/local/sandbox.js';
import { buildEchoWebhook, webhookUrl } from '../../bin/local/webhook-builder.js';
import type { ChannelName } from '../../lambdas/shared/model.js';
import type { TenantDocument } from '../../lambdas/shared/tenant.js';

/** One echo webhook the platform posted back. */
export interface PostedEcho {
  readonly channel: ChannelName;
  readonly text: string;
  readonly status: number;
}

export interface FakePlatform {
  /** `http://127.0.0.1:PORT`; API bases are `{url}/sandbox/{pancake|graph|telegram|zalo}`. */
  readonly url: string;
  /** Where echoes go: the local stack's base URL (set once the stack is up). */
  target: string | undefined;
  readonly records: () => SandboxRecord[];
  readonly echoes: () => PostedEcho[];
  readonly stop: () => Promise<void>;
}

/** The chat-relay channel a sandbox record was sent on. */
function channelOf(record: SandboxRecord, tenant: TenantDocument): ChannelName | undefined {
  if (record.api === 'pancake' || record.api === 'telegram' || record.api === 'zalo') return record.api;
  if (record.api === 'whatsapp') return 'whatsapp';
  if (record.pageId && tenant.channels.instagram?.accounts[record.pageId]) return 'instagram';
  if (record.pageId && tenant.channels.messenger?.pages[record.pageId]) return 'messenger';
  return undefined;
}

/** Starts the fake platform; echoes are posted `echoDelayMs` after each delivered send. */
export async function startFakePlatform(tenant: TenantDocument, echoDelayMs = 100): Promise<FakePlatform> {
  const sandbox = createSandboxHandler({ pancakeRateLimit: 0 });
  const echoes: PostedEcho[] = [];
  const pending = new Set<Promise<void>>();
  let seen = 0;

  const echo = async (record: SandboxRecord): Promise<void> => {
    const channel = channelOf(record, tenant);
    if (!channel || !record.messageId || record.text === undefined || !platform.target) return;
    const recipient = record.recipientId ?? record.conversationId?.split('_').pop();
    if (!recipient) return;
    const built = buildEchoWebhook({
      tenant,
      channel,
      recipient,
      text: record.text,
      platformMessageId: record.messageId,
      ...(record.pageId ? { pageId: record.pageId } : {}),
      ...(record.conversationId ? { conversationId: record.conversationId } : {}),
    });
    if (!built) return;
    await new Promise((r) => setTimeout(r, echoDelayMs));
    const res = await fetch(webhookUrl(platform.target, built), {
      method: 'POST',
      headers: built.headers,
      body: built.body,
    });
    echoes.push({ channel, text: record.text, status: res.status });
  };

  const server: Server = createServer((req, res) => {
    void sandbox.handle(req, res).then((handled) => {
      if (!handled) {
        res.writeHead(404).end();
        return;
      }
      const all = sandbox.messages();
      for (const record of all.slice(seen)) {
        if (record.delivered && record.kind !== 'typing') {
          const p = echo(record).catch(() => {});
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }
      }
      seen = all.length;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const platform: FakePlatform = {
    url,
    target: undefined,
    records: () => sandbox.messages(),
    echoes: () => [...echoes],
    stop: async () => {
      await Promise.allSettled([...pending]);
      sandbox.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return platform;
}
