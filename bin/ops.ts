/**
 * `npm run ops -- <command>`: conversations, audit trails, operator takeovers and dead-letter
 * redrives of a deployed chat-relay stack (or the local one). See docs/operations.md.
 */
import { runOpsCli } from './ops/cli.js';

const code = await runOpsCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
});
process.exitCode = code;
