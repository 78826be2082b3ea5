/**
 * A stand-in for pkexec, for the one thing these machines cannot do for real: there is no polkit
 * agent to type a password into, and no mdev-capable GPU or sample module whose sysfs could be
 * written. It runs the real privileged helper as this user against the fixture tree (the helper's
 * test-only VMDESK_MDEV_HELPER_ROOT), then the fake kernel turns the writes into devices. vmdesk
 * finds it through VMDESK_PKEXEC, exactly where it would run /usr/bin/pkexec.
 */
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { REPO } from './cli.js';

/** Writes `dir/pkexec` (and the bundled fake kernel beside it); every call is logged to `dir/pkexec.log`. */
export async function makeFakePkexec(dir: string, fixtureRoot: string): Promise<{ path: string; log: string }> {
  const kernel = path.join(dir, 'fake-kernel.mjs');
  await build({
    entryPoints: [path.join(REPO, 'e2e/support/fake-kernel-main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: kernel,
    logLevel: 'warning',
  });
  const log = path.join(dir, 'pkexec.log');
  const script = path.join(dir, 'pkexec');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  fs.writeFileSync(
    script,
    [
      '#!/bin/sh',
      `printf '%s\\n' "$*" >> ${q(log)}`,
      `helper=$1; shift`,
      `VMDESK_MDEV_HELPER_ROOT=${q(fixtureRoot)} sh "$helper" "$@"; rc=$?`,
      `${q(process.execPath)} ${q(kernel)} ${q(fixtureRoot)} || exit 4`,
      'exit $rc',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return { path: script, log };
}
