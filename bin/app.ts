#!/usr/bin/env node
/**
 * The CDK app (`cdk.json` "app"): one ChatRelayStack configured from `chatRelay:*` context,
 * checked by cdk-nag's AwsSolutions pack. Any unacknowledged finding fails the synth.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ChatRelayStack } from '../lib/stack.js';

const app = new App();
const stackName = (app.node.tryGetContext('chatRelay:stackName') as string | undefined) || 'ChatRelay';
new ChatRelayStack(app, stackName, {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
