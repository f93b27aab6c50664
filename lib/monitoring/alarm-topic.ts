/**
 * The alarm topic: a customer-managed KMS key CloudWatch may use (AWS-managed SNS keys do not
 * allow that), a TLS-only topic only CloudWatch alarms of this account may publish to, and an
 * optional e-mail subscription.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';

/** The alarm topic and its key. */
export interface AlarmTopic {
  readonly key: Key;
  readonly topic: Topic;
}

/** Creates the key (`AlarmTopicKey`) and topic (`AlarmTopic`) in `scope`. */
export function createAlarmTopic(scope: Construct, namePrefix: string, alarmEmail?: string): AlarmTopic {
  const stack = Stack.of(scope);
  // The topic: a customer-managed key CloudWatch may use, TLS-only publishing.
  const key = new Key(scope, 'AlarmTopicKey', {
    description: `Encrypts the alarm topic of ${namePrefix}`,
    enableKeyRotation: true,
  });
  key.addToResourcePolicy(
    new PolicyStatement({
      sid: 'AllowCloudWatchAlarms',
      principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
    }),
  );
  const topic = new Topic(scope, 'AlarmTopic', {
    displayName: `${namePrefix} alarms`,
    masterKey: key,
    enforceSSL: true,
  });
  topic.addToResourcePolicy(
    new PolicyStatement({
      sid: 'AllowCloudWatchAlarmsToPublish',
      effect: Effect.ALLOW,
      principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: {
          'aws:SourceArn': stack.formatArn({
            service: 'cloudwatch',
            resource: 'alarm',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
  if (alarmEmail !== undefined) {
    topic.addSubscription(new EmailSubscription(alarmEmail));
  }
  return { key, topic };
}
