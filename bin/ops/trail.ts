/**
 * The audit trail as the console and `npm run ops` use it: a thin adapter over the reader the
 * pipeline ships in `lambdas/memory/trail.ts` (list, read, pause, resume), so both front ends
 * call one place and the reader's dependencies are built once here.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ConversationSummary, ConversationTrail } from '../../lambdas/contracts/audit.js';
import type { ChannelName } from '../../lambdas/contracts/channels.js';

/** One conversation's address. */
export interface ConversationAddress {
  readonly tenantId: string;
  readonly channel: ChannelName;
  readonly conversationId: string;
}

/** What the console and the CLI need of the trail. */
export interface TrailApi {
  /** A tenant's conversations, newest activity first. */
  list(query: { tenantId: string; sinceMs?: number }): Promise<ConversationSummary[]>;
  /** One conversation's trail; undefined when the conversation is unknown. */
  read(address: ConversationAddress): Promise<ConversationTrail | undefined>;
  /** Operator takeover: the bot stays quiet until resumed. */
  pause(address: ConversationAddress): Promise<void>;
  /** Ends a takeover. */
  resume(address: ConversationAddress): Promise<void>;
  /** Releases the client. */
  close(): void;
}

/** The reader module's functions (lambdas/memory/trail.ts). */
interface TrailModule {
  listConversations(
    deps: unknown,
    query: { tenantId: string; sinceMs?: number },
  ): Promise<ConversationSummary[]>;
  readConversationTrail(deps: unknown, address: ConversationAddress): Promise<ConversationTrail | undefined>;
  pauseConversation(deps: unknown, address: ConversationAddress & { by?: 'operator' }): Promise<unknown>;
  resumeConversation(deps: unknown, address: ConversationAddress & { by?: 'operator' }): Promise<unknown>;
}

/** The trail reader is not part of this build. */
export class TrailUnavailableError extends Error {
  override readonly name = 'TrailUnavailableError';
}

/** The memory table to read. */
export interface TrailStoreOptions {
  readonly table: string;
  /** DynamoDB endpoint (the local stack's dynalite); default: the SDK's own resolution. */
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: DynamoDBClientConfig['credentials'];
}

// A variable specifier: the adapter builds before the reader exists in every checkout.
const READER = '../../lambdas/memory/trail.js';

async function loadModule(): Promise<TrailModule> {
  try {
    return (await import(READER)) as TrailModule;
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : '';
    if (code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes('memory/trail')) {
      throw new TrailUnavailableError(
        'The audit trail reader (lambdas/memory/trail.ts) is not in this build.',
        { cause: err },
      );
    }
    throw err;
  }
}

/** Opens the trail of a memory table. @throws TrailUnavailableError */
export async function openTrail(options: TrailStoreOptions): Promise<TrailApi> {
  const mod = await loadModule();
  const raw = new DynamoDBClient({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  const client = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  const deps = { client, table: options.table, now: () => Date.now() };
  return {
    list: (query) => mod.listConversations(deps, query),
    read: (address) => mod.readConversationTrail(deps, address),
    pause: async (address) => {
      await mod.pauseConversation(deps, { ...address, by: 'operator' });
    },
    resume: async (address) => {
      await mod.resumeConversation(deps, { ...address, by: 'operator' });
    },
    close: () => raw.destroy(),
  };
}
