/**
 * `npm run tenant -- <command>`: add, update, show, list and remove chat-relay tenants (one
 * Secrets Manager secret each) and print each channel's webhook URL and setup step.
 * See docs/tenants.md.
 */
import { runTenantCli } from './tenant/cli.js';

const code = await runTenantCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
});
process.exitCode = code;
