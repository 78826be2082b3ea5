/** The real /dev/kvm seen by a real unprivileged user: proves the EACCES diagnosis end to end
 * (open(2) by the kernel, /etc/group, the process's groups), not just against a fake fs.
 * Needs root to create the user and switch to it; elsewhere it is skipped with a message. */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KvmHostState } from './kvm-probe.js';

const TEST_USER = 'vmdesk-test';
const hostDir = path.dirname(fileURLToPath(import.meta.url));

const isRoot = process.getuid?.() === 0;
const hasKvm = existsSync('/dev/kvm');
const hasRunuser = existsSync('/usr/sbin/runuser') || existsSync('/sbin/runuser');
const skipWhy = !isRoot
  ? 'not running as root (cannot create or switch to a test user)'
  : !hasKvm
    ? 'this machine has no /dev/kvm'
    : !hasRunuser
      ? 'runuser is not installed'
      : undefined;
if (skipWhy) console.warn(`[kvm-unprivileged.test] skipped: ${skipWhy}`);

/** Node 20 cannot run TypeScript: bundle the real probe (plus Node's fs) into one plain .mjs that
 * the test user can read. The fallback native layer is used on purpose: koffi's module would not
 * resolve from the temp dir, and open(2) fails before any ioctl anyway. */
const ENTRY = `
import { probeKvmHost } from './kvm-probe.ts';
import { nodeHostFs } from './node-host-io.ts';
import { createFallbackNative } from '../../native/fallback-native.ts';
const state = await probeKvmHost({ fs: nodeHostFs, native: createFallbackNative(), hostArch: process.arch === 'arm64' ? 'aarch64' : 'x86_64' });
process.stdout.write(JSON.stringify(state));
`;

describe.skipIf(skipWhy !== undefined)('probeKvmHost as an unprivileged user on this machine', () => {
  let dir: string;
  let script: string;

  beforeAll(async () => {
    try {
      execFileSync('id', ['-u', TEST_USER], { stdio: 'ignore' });
    } catch {
      // -M: no home directory; the user only ever runs the bundled probe below.
      execFileSync('useradd', ['-M', '-s', '/usr/sbin/nologin', TEST_USER], { stdio: 'pipe' });
    }
    dir = mkdtempSync(path.join(tmpdir(), 'vmdesk-unpriv-'));
    chmodSync(dir, 0o755); // mkdtemp makes it 0700, which the test user could not enter
    script = path.join(dir, 'probe-kvm.mjs');
    await build({
      stdin: { contents: ENTRY, resolveDir: hostDir, loader: 'ts', sourcefile: 'probe-kvm-entry.ts' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: script,
      logLevel: 'silent',
    });
    chmodSync(script, 0o644);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`says to add ${TEST_USER} to the kvm group, because opening /dev/kvm fails with EACCES`, () => {
    const out = execFileSync('runuser', ['-u', TEST_USER, '--', process.execPath, script], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 20_000,
    });
    const state = JSON.parse(out) as KvmHostState;
    expect(state.usable).toBe(false);
    if (state.usable) return;
    expect(state.reason).toMatch(new RegExp(`not writable by user ${TEST_USER}.*\\(EACCES\\)`));
    expect(state.fix).toMatch(/usermod -aG kvm \$USER, (then|and) log out and in/);
  });
});
