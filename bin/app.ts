#!/usr/bin/env node
/**
 * The CDK app (`cdk.json` "app"): one ChatRelayStack configured from `chatRelay:*` context,
 * checked by cdk-nag's AwsSolutions pack. Any unacknowledged finding fails the synth. The Lambda
 * code is the prebundled `dist/assets/` (bin/build.ts), rebuilt first only when its sources
 * changed, so `npx cdk synth` never bundles at synth time and never synthesizes stale handlers.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ChatRelayStack } from '../lib/stack.js';
import { ensureAssets } from './build.js';

if (await ensureAssets()) console.error('chat-relay: Lambda assets rebuilt (sources changed)');

// aws-cdk-lib's built-in CloudFormation template validation (WebAssembly) is more than half of a
// synth's CPU (14 s -> 8 s without it on the 2-core dev machine). CloudFormation validates the
// template again at deploy time and cdk-nag still runs, so this app turns it on only when asked:
// `CDK_VALIDATION=true npx cdk synth` (CI does).
const app = new App({ builtinCloudFormationValidation: process.env.CDK_VALIDATION === 'true' });
const stackName = (app.node.tryGetContext('chatRelay:stackName') as string | undefined) || 'ChatRelay';
new ChatRelayStack(app, stackName, {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
