/**
 * Environment variables read by the Lambda handlers and the local stack. Only resource names
 * and tuning values live here, never a token. The CDK constructs set exactly these names.
 */

import type { EnvName } from '../contracts/env.js';
import { ConfigurationError } from './errors.js';

// The names live in the contracts (lib/ sets them, the runtime reads them); re-exported here.
export { ENV, type EnvName } from '../contracts/env.js';

/** The value of a required variable; throws a ConfigurationError naming it when unset. */
export function requireEnv(name: EnvName, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new ConfigurationError(`Environment variable ${name} is not set.`);
  }
  return value;
}

/** The value of an optional variable, or `fallback`. */
export function optionalEnv(name: EnvName, fallback: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

/** An integer variable, or `fallback` when unset; throws a ConfigurationError when malformed. */
export function intEnv(name: EnvName, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigurationError(
      `Environment variable ${name} must be a non-negative integer, got "${raw}".`,
    );
  }
  return value;
}

/** A boolean variable (`true`/`1`/`yes` are true), or `fallback` when unset. */
export function boolEnv(name: EnvName, fallback: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  return ['true', '1', 'yes'].includes(raw.toLowerCase());
}
