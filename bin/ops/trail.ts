/**
 * The audit trail as the console and `npm run ops` use it: a thin adapter over the reader the
 * pipeline ships in `lambdas/memory/trail.ts` (list, read, pause, resume), so both front ends
 * call one place and the reader's client is built once here.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ConversationSummary, ConversationTrail } from '../../lambdas/contracts/audit.js';
import type { ChannelName } from '../../lambdas/contracts/channels.js';
import {
  listConversations,
  pauseConversation,
  readConversationTrail,
  resumeConversation,
  type TrailDeps,
} from '../../lambdas/memory/trail.js';

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
  /** Operator takeover: the bot stays quiet until resumed or the takeover window ends. */
  pause(address: ConversationAddress): Promise<{ readonly pausedUntil: number }>;
  /** Ends a takeover. */
  resume(address: ConversationAddress): Promise<{ readonly wasPaused: boolean }>;
  /** Releases the client. */
  close(): void;
}

/** The memory table to read. */
export interface TrailStoreOptions {
  readonly table: string;
  /** DynamoDB endpoint (the local stack's dynalite); default: the SDK's own resolution. */
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: DynamoDBClientConfig['credentials'];
}

/** Opens the trail of a memory table. */
export async function openTrail(options: TrailStoreOptions): Promise<TrailApi> {
  const raw = new DynamoDBClient({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  const client = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  const deps: TrailDeps = { client, table: options.table };
  return {
    list: (query) => listConversations(deps, query),
    read: (address) => readConversationTrail(deps, address),
    pause: (address) => pauseConversation(deps, address),
    resume: (address) => resumeConversation(deps, address),
    close: () => raw.destroy(),
  };
}
