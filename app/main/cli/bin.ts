/**
 * Entry point of the bundled CLI (dist/cli/vmdesk.mjs, started by bin/vmdesk.mjs).
 *
 * No top-level await: the modules the CLI loads lazily import what they share with the client
 * from this very file (scripts/cli-bundle.mjs), which must have finished evaluating by then.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from './main.js';

void runCli(
  process.argv.slice(2),
  { out: process.stdout, err: process.stderr },
  // This bundle's own directory (dist/cli): an ES module knows its URL.
  { programDir: path.dirname(fileURLToPath(import.meta.url)) },
).then(
  (code) => {
    process.exitCode = code;
    // Normally nothing is left to keep the process alive; if a socket lingers, do not hang the shell.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    // runCli answers every error itself; this is a bug in it.
    process.stderr.write(`vmdesk: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 2;
  },
);
