/**
 * `vmdesk … | head`: a reader that closes the pipe early ends the CLI quietly, with the
 * command's own exit status (0), never with Node's unhandled-EPIPE stack trace (see bin.ts).
 *
 * The real built CLI (bin/vmdesk.cjs → dist/cli), spawned with its stdout on a
 * real pipe. Two ways of closing it that do not depend on timing: a FIFO whose only reader is
 * closed before the CLI starts (its first write fails), and a reader that takes the first chunk of
 * an output far larger than a pipe holds (64 KB on Linux) and closes, so the rest of that one
 * write fails.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveAppPaths, type AppPaths } from '../paths/app-paths.js';
import { definitionsDir, vmFiles } from '../paths/vm-files.js';
import { DefinitionStore } from '../vm/definition-store.js';
import { guestIso, Sandbox, VMDESK } from '../../../e2e/support/cli.js';
import { benchDefinition } from '../../../scripts/bench/sandbox.js';

let sandboxes: Sandbox[] = [];
afterEach(() => {
  for (const s of sandboxes) s.cleanup();
  sandboxes = [];
});

/** A sandbox with `n` stopped VMs (vm-001, …) written straight into its config dir. */
function sandboxWithVms(n: number): { s: Sandbox; paths: AppPaths; ids: string[] } {
  const s = new Sandbox();
  sandboxes.push(s);
  const paths = resolveAppPaths({
    env: s.env,
    platform: process.platform,
    home: s.root,
    uid: process.getuid?.() ?? 0,
    tmpdir: os.tmpdir(),
  });
  const store = new DefinitionStore(definitionsDir(paths));
  const defs = Array.from({ length: n }, (_, i) => benchDefinition(`vm-${String(i + 1).padStart(3, '0')}`, guestIso()));
  for (const d of defs) store.save(d);
  return { s, paths, ids: defs.map((d) => d.id) };
}

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function ended(child: ChildProcess): Promise<Ended> {
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stderr })));
}

/** `vmdesk ARGS` whose stdout is a pipe nobody reads any more: a FIFO opened for reading, opened
 * for writing (the CLI's stdout), then closed for reading before the CLI runs. */
function runIntoClosedPipe(s: Sandbox, args: string[]): Promise<Ended> {
  const fifo = path.join(s.root, 'stdout.fifo');
  execFileSync('mkfifo', [fifo]);
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writer = fs.openSync(fifo, fs.constants.O_WRONLY);
  fs.closeSync(reader);
  try {
    const child = spawn(process.execPath, [VMDESK, ...args], { env: s.env, stdio: ['ignore', writer, 'pipe'] });
    s.track(child);
    return ended(child);
  } finally {
    fs.closeSync(writer);
  }
}

describe('vmdesk with a reader that closes its output early', () => {
  it('ends quietly with status 0 when its stdout is already closed', async () => {
    const { s } = sandboxWithVms(0);
    const r = await runIntoClosedPipe(s, ['--help']);
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, signal: null });
  });

  it('ends `vmdesk list --json | head -c 10` quietly with status 0 (a running driver, 200 VMs)', async () => {
    const { s } = sandboxWithVms(200);
    await s.startDriver();
    const child = spawn(process.execPath, [VMDESK, 'list', '--json'], {
      env: s.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    s.track(child);
    // Like `head -c 10`: take what the first read brings and close.
    child.stdout!.once('data', () => child.stdout!.destroy());
    const r = await ended(child);
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, signal: null });
  });

  it('stops `vmdesk log VM --follow` when its reader goes away, instead of following forever', async () => {
    const { s, paths, ids } = sandboxWithVms(1);
    const log = vmFiles(paths, ids[0]!).qemuLog;
    fs.mkdirSync(path.dirname(log), { recursive: true });
    fs.writeFileSync(log, 'a line of an earlier run\n'.repeat(20));
    await s.startDriver();
    const r = await runIntoClosedPipe(s, ['log', 'vm-001', '--follow']);
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, signal: null });
  });
});
