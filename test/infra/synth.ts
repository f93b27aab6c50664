/**
 * Synthesis helpers for the infra tests: one stack per call, a fixed account/region so ARNs are
 * stable, and optional skipping of esbuild bundling (property assertions do not need bundles).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { PROJECT_ROOT } from '../../lib/function-defaults.js';
import { ChatRelay, type ChatRelayProps } from '../../lib/index.js';

export const TEST_ENV = { account: '123456789012', region: 'us-east-1' } as const;

export interface Synthesised {
  readonly app: App;
  readonly stack: Stack;
  readonly relay: ChatRelay;
  readonly template: Template;
}

/** The feature flags of cdk.json (the `chatRelay:*` keys are left out: tests set their own). */
export function featureFlags(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return Object.fromEntries(Object.entries(cdkJson.context).filter(([k]) => !k.startsWith('chatRelay:')));
}

/** An App with cdk.json's feature flags that bundles nothing unless `bundle` is true. */
export function testApp(bundle = false, context: Record<string, unknown> = {}): App {
  const base = { ...featureFlags(), ...context };
  return new App({ context: bundle ? base : { 'aws:cdk:bundling-stacks': [], ...base } });
}

/** A stack holding one ChatRelay with `props`. */
export function synthRelay(props: ChatRelayProps = {}, options: { bundle?: boolean } = {}): Synthesised {
  const app = testApp(options.bundle ?? false);
  const stack = new Stack(app, 'TestStack', { env: TEST_ENV });
  const relay = new ChatRelay(stack, 'Relay', props);
  return { app, stack, relay, template: Template.fromStack(stack) };
}

/** Runs the AwsSolutions pack over `scope`; returns the unacknowledged findings. */
export function nagFindings(scope: IConstruct): { rule: string; severity: string; paths: string[] }[] {
  const report = new AwsSolutionsChecks().validateScope(scope);
  return report.violations.map((v) => ({
    rule: v.ruleName,
    severity: v.severity ?? 'unknown',
    paths: v.violatingResources.map((r) => r.constructPath ?? r.resourceLogicalId ?? '?'),
  }));
}

/** Every acknowledgement recorded in the tree: rule id → reasons. */
export function acknowledgements(scope: IConstruct): { path: string; id: string; reason: unknown }[] {
  const out: { path: string; id: string; reason: unknown }[] = [];
  for (const node of scope.node.findAll()) {
    for (const entry of node.node.metadata) {
      if (entry.type !== 'aws:cdk:acknowledged-rules') continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, unknown>)) {
        out.push({ path: node.node.path, id, reason });
      }
    }
  }
  return out;
}

/** The template JSON with asset hashes and S3 keys replaced, so snapshots survive rebuilds. */
export function normalisedTemplate(template: Template): unknown {
  const json = JSON.stringify(template.toJSON());
  return JSON.parse(json.replace(/[0-9a-f]{64}(\.zip|\.json)?/g, '[ASSET_HASH]'));
}

/** A synthesised CloudFormation resource (the parts the tests read). */
export interface CfnResourceJson {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

/** Resources of one type as [logicalId, resource] pairs. */
export function resourcesOf(template: Template, type: string): [string, CfnResourceJson][] {
  return Object.entries(template.findResources(type)) as [string, CfnResourceJson][];
}

/** The logical id of `construct`'s default CloudFormation resource in its stack. */
export function logicalId(stack: Stack, construct: IConstruct): string {
  const child = construct.node.defaultChild ?? construct;
  return stack.getLogicalId(child as never);
}

/** The environment variables of the function with logical id `id`. */
export function functionEnv(template: Template, id: string): Record<string, unknown> {
  const fn = template.toJSON().Resources[id] as CfnResourceJson | undefined;
  if (!fn) throw new Error(`No resource ${id}`);
  return (fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
}

/** The policy statements attached to the role of the function with logical id `fnId`. */
export function roleStatements(template: Template, fnId: string): Record<string, unknown>[] {
  const json = template.toJSON();
  const fn = json.Resources[fnId] as CfnResourceJson;
  const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  const statements: Record<string, unknown>[] = [];
  for (const [, res] of Object.entries(json.Resources as Record<string, CfnResourceJson>)) {
    if (res.Type !== 'AWS::IAM::Policy') continue;
    const roles = res.Properties.Roles as { Ref: string }[];
    if (!roles.some((r) => r.Ref === roleId)) continue;
    statements.push(...(res.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement);
  }
  return statements;
}

/** Whether some statement allows `action` on `resource` (flattened as by {@link resourcesOfStatement}). */
export function allows(statements: Record<string, unknown>[], action: string, resource: string): boolean {
  return statements.some(
    (st) =>
      st.Effect === 'Allow' && actionsOf(st).includes(action) && resourcesOfStatement(st).includes(resource),
  );
}

/** Actions of a statement, as an array. */
export function actionsOf(statement: Record<string, unknown>): string[] {
  const a = statement.Action;
  return Array.isArray(a) ? (a as string[]) : [a as string];
}

/** Resources of a statement, each resolved to a string (Fn::Join flattened, refs as <Id>). */
export function resourcesOfStatement(statement: Record<string, unknown>): string[] {
  const r = statement.Resource;
  const list = Array.isArray(r) ? r : [r];
  return list.map(flatten);
}

function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const o = value as Record<string, unknown>;
  if (Array.isArray(o['Fn::Join'])) {
    const [d, items] = o['Fn::Join'] as [string, unknown[]];
    return items.map(flatten).join(d);
  }
  if (Array.isArray(o['Fn::GetAtt'])) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
  if ('Ref' in o) return `<${String(o.Ref)}>`;
  return JSON.stringify(value);
}
