/**
 * Entry point of the bundled CLI (dist/cli/vmdesk.cjs, started by bin/vmdesk.cjs).
 *
 * No top-level await: the modules the CLI loads lazily import what they share with the client
 * from this very file (scripts/cli-bundle.mjs), which must have finished evaluating by then.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from './main.js';

quietOnClosedReader(process.stdout);
quietOnClosedReader(process.stderr);

void runCli(
  process.argv.slice(2),
  { out: process.stdout, err: process.stderr },
  // This bundle's own directory (dist/cli): the build gives the CommonJS client its URL as import.meta.url.
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

/**
 * `vmdesk list | head -1`: the reader closes the pipe once it has what it wants, and the next
 * write fails with EPIPE, an 'error' event that unhandled kills Node with a stack trace (Node
 * ignores SIGPIPE, so there is no signal death to fall back on). What the reader did not read is
 * lost on purpose: nothing to report. The write is dropped, the stream emits 'close', which ends
 * what follows the output (log --follow, console), and the command finishes as it would have —
 * releasing the lock and the VMs if it was their owner — with its own exit status, 0 when its
 * work succeeded. That is what Node CLIs do (the exit-on-epipe and epipebomb packages exit 0); 141, a shell's
 * status for a tool killed by SIGPIPE, would make every `set -o pipefail` script that reads
 * `vmdesk list | head` fail although vmdesk did all it was asked.
 */
function quietOnClosedReader(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    // Any other write error (a full disk behind `> file`) stays as loud as it was.
    if (err.code !== 'EPIPE') throw err;
  });
}
