/**
 * Checks the consumer app's cloud assembly (test/consumer/run.sh): the default ChatRelay and the
 * customised one (lambda responder, media off, alarm e-mail) are there, and every chat-relay
 * Lambda is a plain function on a prebuilt asset (nothing bundled at synth time).
 * Usage: node check-template.mjs <cdk.out>
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2] ?? 'cdk.out';
const problems = [];
const check = (ok, message) => {
  if (!ok) problems.push(message);
};

/** @returns {Record<string, { Type: string, Properties?: Record<string, unknown> }>} */
function resources(stack) {
  const template = JSON.parse(readFileSync(join(out, `${stack}.template.json`), 'utf8'));
  return template.Resources ?? {};
}
const ofType = (res, type) => Object.values(res).filter((r) => r.Type === type);

for (const stack of ['DefaultRelay', 'CustomRelay']) {
  const res = resources(stack);
  // chat-relay's own functions carry the Powertools environment (the consumer's bot does not).
  const functions = ofType(res, 'AWS::Lambda::Function').filter(
    (f) => f.Properties?.Environment?.Variables?.POWERTOOLS_SERVICE_NAME !== undefined,
  );
  check(functions.length >= 4, `${stack}: expected the four chat-relay functions, found ${functions.length}`);
  for (const fn of functions) {
    check(
      fn.Properties?.Runtime === 'nodejs22.x',
      `${stack}: a function's runtime is ${fn.Properties?.Runtime}`,
    );
    check(fn.Properties?.Architectures?.[0] === 'arm64', `${stack}: a function is not arm64`);
    check(
      fn.Properties?.Handler === 'index.handler',
      `${stack}: a function's handler is ${fn.Properties?.Handler}`,
    );
    check(fn.Properties?.Code?.S3Key !== undefined, `${stack}: a function's code is not an asset`);
  }
  check(ofType(res, 'AWS::ApiGatewayV2::Api').length === 1, `${stack}: expected one HTTP API`);
  check(ofType(res, 'AWS::SQS::Queue').length >= 4, `${stack}: expected the relay's queues`);
  check(ofType(res, 'AWS::DynamoDB::Table').length >= 1, `${stack}: expected the relay's tables`);
}

const defaults = resources('DefaultRelay');
check(
  ofType(defaults, 'AWS::ECS::Service').length === 1,
  'DefaultRelay: the media worker (ECS service) is on by default',
);
check(ofType(defaults, 'AWS::CloudWatch::Dashboard').length === 1, 'DefaultRelay: one dashboard by default');

const custom = resources('CustomRelay');
check(
  ofType(custom, 'AWS::ECS::Service').length === 0,
  'CustomRelay: media is off, yet an ECS service exists',
);
const subscriptions = ofType(custom, 'AWS::SNS::Subscription');
check(
  subscriptions.some(
    (s) => s.Properties?.Protocol === 'email' && s.Properties?.Endpoint === 'ops@example.com',
  ),
  'CustomRelay: no e-mail subscription for ops@example.com on the alarm topic',
);
const invokesBot = ofType(custom, 'AWS::IAM::Policy').some((p) =>
  JSON.stringify(p.Properties?.PolicyDocument ?? {}).includes('lambda:InvokeFunction'),
);
check(invokesBot, 'CustomRelay: the conversation function may not invoke the lambda responder');

const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
check(Object.keys(manifest.artifacts ?? {}).includes('CustomRelay'), 'manifest: no CustomRelay artifact');

if (problems.length > 0) {
  console.error(`check-template: ${problems.length} problem(s):\n - ${problems.join('\n - ')}`);
  process.exit(1);
}
console.log('check-template: DefaultRelay and CustomRelay as expected');
