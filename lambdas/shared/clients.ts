/**
 * AWS SDK clients, created once per container and reused across invocations. Endpoints come
 * from the SDK's own `AWS_ENDPOINT_URL_<SERVICE>` variables, which is how the local stack and
 * the tests point the real handlers at the emulators.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

let sqs: SQSClient | undefined;
let dynamo: DynamoDBClient | undefined;
let doc: DynamoDBDocumentClient | undefined;

/** The shared SQS client. */
export function sqsClient(): SQSClient {
  // With a custom endpoint (emulators) send to it rather than to the queue URL's host, whose
  // `sqs.{region}.localhost` name does not resolve everywhere. In AWS this branch is never taken.
  sqs ??= new SQSClient(process.env.AWS_ENDPOINT_URL_SQS ? { useQueueUrlAsEndpoint: false } : {});
  return sqs;
}

/** The shared low-level DynamoDB client (Powertools idempotency takes this one). */
export function dynamoClient(): DynamoDBClient {
  dynamo ??= new DynamoDBClient({});
  return dynamo;
}

/** The shared DynamoDB document client (plain JS values, `undefined` attributes dropped). */
export function documentClient(): DynamoDBDocumentClient {
  doc ??= DynamoDBDocumentClient.from(dynamoClient(), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
  return doc;
}

/** Drops cached clients (tests that restart emulators on new ports call this). */
export function resetClients(): void {
  sqs?.destroy();
  dynamo?.destroy();
  sqs = undefined;
  dynamo = undefined;
  doc = undefined;
}
