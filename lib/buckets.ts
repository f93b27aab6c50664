/**
 * Bucket settings shared by the constructs that keep objects (media, knowledge). Internal to the
 * library: not exported from `lib/index.ts`.
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type BucketProps,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

/**
 * The bucket receiving another bucket's S3 server access logs: S3-managed keys (log delivery
 * cannot write with a customer key), TLS only, private, logs kept 90 days.
 */
export function accessLogsBucket(
  scope: Construct,
  id: string,
  removalPolicy: RemovalPolicy,
  autoDeleteObjects?: boolean,
): Bucket {
  return new Bucket(scope, id, {
    encryption: BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
    objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
    lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
    removalPolicy,
    ...(autoDeleteObjects === undefined ? {} : { autoDeleteObjects }),
  });
}

/** A data bucket's encryption: the customer's key (with S3 bucket keys) when given, else S3-managed. */
export function dataBucketEncryption(
  encryptionKey: IKey | undefined,
): Pick<BucketProps, 'encryption' | 'encryptionKey' | 'bucketKeyEnabled'> {
  return encryptionKey
    ? { encryption: BucketEncryption.KMS, encryptionKey, bucketKeyEnabled: true }
    : { encryption: BucketEncryption.S3_MANAGED };
}
