/**
 * AWS SDK clients, created once per container and reused across invocations. Endpoints come
 * from the SDK's own `AWS_ENDPOINT_URL_<SERVICE>` variables, which is how the local stack and
 * the tests point the real handlers at the emulators. Every client has connection and request
 * timeouts (lambdas/shared/client-timeouts.ts), so a hung connection cannot hold a handler until
 * its Lambda timeout.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CLIENT_TIMEOUTS } from './client-timeouts.js';
import { FastDocumentClient } from './document-client.js';
import {
  applyLocalMiddleware,
  dropNoOpLogger,
  type LocalClientHook,
  localClientConfig,
  resetSqsClient,
  setLocalClientHook as setSqsLocalClientHook,
} from './sqs-client.js';

export { type LocalClientHook, sqsClient } from './sqs-client.js';

let dynamo: DynamoDBClient | undefined;
let doc: FastDocumentClient | undefined;

/** The shared low-level DynamoDB client. */
export function dynamoClient(): DynamoDBClient {
  if (dynamo) return dynamo;
  const config = { requestHandler: { ...CLIENT_TIMEOUTS.dynamodb }, ...localClientConfig() };
  dynamo = new DynamoDBClient(config);
  dropNoOpLogger(dynamo, config);
  applyLocalMiddleware(dynamo);
  return dynamo;
}

/**
 * The shared DynamoDB document client (plain JS values, `undefined` attributes dropped). It is a
 * `DynamoDBDocumentClient` that sends the lib-dynamodb commands through handlers resolved once
 * per command class from {@link dynamoClient}'s middleware stack (lambdas/shared/document-client.ts),
 * so middleware added to that client applies to it as before.
 */
export function documentClient(): DynamoDBDocumentClient {
  doc ??= new FastDocumentClient(dynamoClient(), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
  return doc;
}

/**
 * Local stack only: installs (or removes) the hook that configures every shared client (SQS and
 * DynamoDB) and drops the cached ones, so that the next ones are built with it.
 */
export function setLocalClientHook(hook: LocalClientHook | undefined): void {
  setSqsLocalClientHook(hook);
  resetClients();
}

/** Drops cached clients (tests that restart emulators on new ports call this). */
export function resetClients(): void {
  resetSqsClient();
  dynamo?.destroy();
  dynamo = undefined;
  doc = undefined;
}
