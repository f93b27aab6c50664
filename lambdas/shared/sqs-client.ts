/**
 * The shared SQS client on its own, so a Lambda that only sends to SQS (the webhook) does not
 * load the DynamoDB SDK at cold start. `clients.ts` re-exports it; both names are the same client.
 */
import { SQSClient } from '@aws-sdk/client-sqs';

let sqs: SQSClient | undefined;

/** The shared SQS client. */
export function sqsClient(): SQSClient {
  // With a custom endpoint (emulators) send to it rather than to the queue URL's host, whose
  // `sqs.{region}.localhost` name does not resolve everywhere. In AWS this branch is never taken.
  sqs ??= new SQSClient(process.env.AWS_ENDPOINT_URL_SQS ? { useQueueUrlAsEndpoint: false } : {});
  return sqs;
}

/** Drops the cached SQS client (called by `resetClients()`). */
export function resetSqsClient(): void {
  sqs?.destroy();
  sqs = undefined;
}
