/** Entry point of the bundled CLI (dist/cli/vmdesk.mjs, started by bin/vmdesk.mjs). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from './main.js';

const code = await runCli(
  process.argv.slice(2),
  { out: process.stdout, err: process.stderr },
  // This bundle's own directory (dist/cli): an ES module knows its URL.
  { programDir: path.dirname(fileURLToPath(import.meta.url)) },
);
process.exitCode = code;
// Normally nothing is left to keep the process alive; if a socket lingers, do not hang the shell.
setTimeout(() => process.exit(code), 200).unref();
