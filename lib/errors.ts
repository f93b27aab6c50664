/**
 * Usage errors of the chat-relay constructs. Like aws-cdk-lib's own `ValidationError`, each names
 * the construct path it concerns; ours is defined here rather than imported because its
 * constructor signature differs across the aws-cdk-lib versions the peer range allows.
 * Prop problems found at construction are reported through `node.addValidation` (all of them
 * at once at synth); these errors are thrown for misuse that cannot wait, and carry the full list.
 */
import type { IConstruct } from 'constructs';

/** A usage error: every problem found, each with its fix, and the construct path it concerns. */
export class ValidationError extends Error {
  /** The path of the construct the problems concern (e.g. `MyStack/Relay`), when known. */
  public readonly constructPath?: string;
  /** Every problem, each saying what is wrong and how to fix it. */
  public readonly problems: readonly string[];

  constructor(title: string, problems: readonly string[], scope?: IConstruct) {
    const path = scope?.node.path;
    const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
    super(`${title}${path ? ` at ${path}` : ''} (${count}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ValidationError';
    this.problems = problems;
    if (path !== undefined) this.constructPath = path;
  }
}

/** Invalid `ChatRelay` props or a misused `ChatRelay` method; lists every problem. */
export class ChatRelayPropsError extends ValidationError {
  constructor(problems: readonly string[], scope?: IConstruct) {
    super('Invalid ChatRelay props', problems, scope);
  }
}

/** Invalid monitoring props or metric options; lists every problem. */
export class ChatRelayMonitoringError extends ValidationError {
  constructor(problems: readonly string[], scope?: IConstruct) {
    super('Invalid chat-relay monitoring settings', problems, scope);
  }
}

/**
 * Reports `problems` at synth through `node.addValidation` (CDK prints each one with the
 * construct path). The list is read at synth, so problems pushed later are reported too.
 */
export function addProblemsValidation(scope: IConstruct, problems: readonly string[]): void {
  scope.node.addValidation({ validate: () => [...problems] });
}
