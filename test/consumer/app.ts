/**
 * A consumer's CDK app, as a user writes it after `npm install chat-relay`: one ChatRelay with
 * every default, one customised (their own Lambda answers, no media worker, alarms by e-mail).
 * The same source runs as ESM (tsx) and as CommonJS (ts-node); see run.sh.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ChatRelay, Responder } from 'chat-relay';
import type { Reply, TurnContext } from 'chat-relay/contracts';

/** What the customised relay's bot would return (type-checked against the published contract). */
export function answer(ctx: TurnContext): Reply {
  return { messages: [{ text: `You said ${ctx.messages.length} thing(s)` }] };
}

const app = new App();

new ChatRelay(new Stack(app, 'DefaultRelay'), 'Relay');

const custom = new Stack(app, 'CustomRelay');
const bot = new lambda.Function(custom, 'Bot', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  code: lambda.Code.fromInline('exports.handler = async () => ({ messages: [] });'),
});
new ChatRelay(custom, 'ShopRelay', {
  responder: Responder.lambda(bot),
  media: { enabled: false },
  monitoring: { alarmEmail: 'ops@example.com' },
});

app.synth();
