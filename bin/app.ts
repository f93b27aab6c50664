#!/usr/bin/env node
/**
 * The CDK app (`cdk.json` "app"): one ChatRelayStack configured from `chatRelay:*` context,
 * checked by cdk-nag's AwsSolutions pack. Any unacknowledged finding fails the synth. The Lambda
 * code is the prebundled `dist/assets/` (scripts/build.ts), rebuilt first only when its sources
 * changed, so `npx cdk synth` never bundles at synth time and never synthesizes stale handlers.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ChatRelayStack } from '../lib/stack.js';
import { ensureAssets } from '../scripts/build.js';

if (await ensureAssets()) console.error('chat-relay: Lambda assets rebuilt (sources changed)');

const app = new App();
const stackName = (app.node.tryGetContext('chatRelay:stackName') as string | undefined) || 'ChatRelay';
new ChatRelayStack(app, stackName, {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
