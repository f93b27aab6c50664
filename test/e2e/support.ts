/**
 * Shared pieces of the end-to-end suite: tenants with fixed tokens, customers per channel,
 * and matching sandbox records to conversations.
 */
import { randomInt } from 'node:crypto';
import type { SandboxRecord } from '../../bin/local/sandbox.js';
import { createDemoTenant, DEMO_IDS } from '../../bin/local/tenants.js';
import {
  type BuildWebhookOptions,
  type BuiltWebhook,
  buildWebhook,
} from '../../bin/local/webhook-builder.js';
import { CHANNELS, type ChannelName } from '../../lambdas/shared/model.js';
import { parseTenantDocument, type TenantDocument } from '../../lambdas/shared/tenant.js';

export type { ChannelName };
export { CHANNELS };

/** Extra Pancake pages of the e2e tenants (Pancake allows 5 sends per page per second). */
export const EXTRA_PANCAKE_PAGES = ['100000000000011', '100000000000012', '100000000000013'];

/** A tenant with every channel, like the demo tenant, under another id and settings. */
export function e2eTenant(tenantId: string, settings: TenantDocument['settings'] = {}): TenantDocument {
  const demo = createDemoTenant();
  const pancake = demo.channels.pancake!;
  return parseTenantDocument({
    ...demo,
    tenantId,
    channels: {
      ...demo.channels,
      pancake: { ...pancake, pageIds: [...pancake.pageIds, ...EXTRA_PANCAKE_PAGES] },
    },
    settings: { ...demo.settings, ...settings },
  });
}

let counter = 0;
/** A fresh customer id (digits, like PSIDs, wa_ids, chat ids and Zalo user ids). */
export function freshDigits(): string {
  counter += 1;
  return `9${randomInt(10_000_000, 99_999_999)}${String(counter).padStart(5, '0')}`;
}

/** One customer's conversation on a channel. */
export interface Customer {
  readonly channel: ChannelName;
  /** What the builder takes as `conversation` (Pancake: `{pageId}_{customerId}`). */
  readonly conversation: string;
  /** The customer's platform id. */
  readonly id: string;
  readonly pageId?: string;
  /** True for sandbox records addressed to this customer. */
  readonly owns: (record: SandboxRecord) => boolean;
}

/** A new customer on `channel` (Pancake customers can be spread over pages with `pageIndex`). */
export function newCustomer(channel: ChannelName, pageIndex = 0): Customer {
  const id = freshDigits();
  if (channel === 'pancake') {
    const pageId = [DEMO_IDS.pancakePageId, ...EXTRA_PANCAKE_PAGES][
      pageIndex % (EXTRA_PANCAKE_PAGES.length + 1)
    ]!;
    const conversation = `${pageId}_${id}`;
    return {
      channel,
      conversation,
      id,
      pageId,
      owns: (r) => r.api === 'pancake' && r.conversationId === conversation,
    };
  }
  return { channel, conversation: id, id, owns: (r) => r.channel !== 'pancake' && r.recipientId === id };
}

/** A signed customer webhook for `customer`. */
export function customerWebhook(
  tenant: TenantDocument,
  customer: Customer,
  text: string,
  extra: Partial<BuildWebhookOptions> = {},
): BuiltWebhook {
  return buildWebhook({
    tenant,
    channel: customer.channel,
    kind: 'text',
    text,
    conversation: customer.conversation,
    ...(customer.pageId ? { pageId: customer.pageId } : {}),
    ...extra,
  });
}

/** Texts delivered to `customer` (typing indicators and failed attempts excluded), in order. */
export function repliesTo(records: readonly SandboxRecord[], customer: Customer): string[] {
  return records
    .filter((r) => r.delivered && r.kind !== 'typing' && customer.owns(r))
    .map((r) => r.text ?? '');
}

/** Every send attempt to `customer` except typing indicators. */
export function attemptsTo(records: readonly SandboxRecord[], customer: Customer): SandboxRecord[] {
  return records.filter((r) => r.kind !== 'typing' && customer.owns(r));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A short random tag that keeps texts of one test apart from every other. */
export function tag(): string {
  return randomInt(100_000, 999_999).toString(36);
}

/** Longest any e2e wait may take: reached only by a hang, never by a slow (loaded) machine. */
export const HANG_MS = 180_000;

/** Something with the local stack's queue depths (visible + in flight + delayed). */
export interface HasQueues {
  readonly queueDepth: (queue: 'inbound' | 'timer' | 'outbound', dlq?: boolean) => Promise<number>;
}

/**
 * Resolves once the inbound, timer and outbound queues are all empty on three checks in a row:
 * every record is in a queue until its handler finished with it (its outputs already sent), so
 * an empty pipeline has nothing left to do — the deterministic way to wait for "no more replies".
 * Throws after `capMs` (a hang).
 */
export async function waitForIdle(stack: HasQueues, capMs = HANG_MS): Promise<void> {
  const deadline = Date.now() + capMs;
  let quiet = 0;
  while (quiet < 3) {
    if (Date.now() > deadline) throw new Error(`the pipeline did not go idle within ${capMs} ms`);
    const depths = await Promise.all(
      (['inbound', 'timer', 'outbound'] as const).map((q) => stack.queueDepth(q)),
    );
    quiet = depths.every((d) => d === 0) ? quiet + 1 : 0;
    await sleep(100);
  }
}
