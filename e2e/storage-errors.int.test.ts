/**
 * A full disk, a read-only config dir and a directory the user may not write, produced for real
 * (a tiny tmpfs, a read-only bind mount, a directory owned by root while vmdesk runs as nobody,
 * an immutable directory), under the real CLI — both as the driver itself (owner mode) and
 * talking to a running `vmdesk driver` (client mode, the error crosses the control socket).
 *
 * Each case must end in exit 1 (a problem the user can fix) with one sentence naming the
 * directory and what to do, and lose nothing: the VM defined before still loads, byte for byte,
 * and the refused define leaves no file behind. Before, each ended in exit 2 with the bare
 * `ENOSPC: no space left on device, write` / `EROFS: read-only file system, open '…'` /
 * `EACCES: permission denied, open '…'`.
 *
 * Mounting and chattr need root; without root the cases are skipped, saying so.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { Sandbox, VMDESK, type CliResult } from './support/cli.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch {
      /* keep cleaning */
    }
  }
  cleanups = [];
});

function sandbox(): Sandbox {
  const s = new Sandbox();
  cleanups.push(() => s.cleanup());
  return s;
}

function umountLater(dir: string): void {
  cleanups.push(() => execFileSync('umount', ['-l', dir]));
}

/** A fresh tmpfs of `size` on `dir` (which must exist), unmounted after the test. */
function mountTmpfs(dir: string, size: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  umountLater(dir);
}

/** Leaves exactly `pages` free 4 KiB pages on the filesystem of `dir`; returns the filler file. */
function fillLeaving(dir: string, pages: number): string {
  const st = fs.statfsSync(dir);
  const filler = path.join(dir, 'filler');
  fs.writeFileSync(filler, Buffer.alloc((st.bavail - pages) * st.bsize));
  expect(fs.statfsSync(dir).bavail).toBe(pages);
  return filler;
}

/** `vmdesk` as it ends: the sentence on stderr, the code in --json. */
async function refused(s: Sandbox, args: string[], runner = (a: string[]) => s.run(a)) {
  const r: CliResult = await runner([...args, '--json']);
  let code: unknown;
  try {
    code = (JSON.parse(r.stdout) as { error?: { code?: unknown } }).error?.code;
  } catch {
    code = undefined;
  }
  return { exit: r.code, code, stderr: r.stderr };
}

function vmsDir(s: Sandbox): string {
  return path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk', 'vms');
}

/** Everything in a directory tree, with contents, to compare before and after. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name !== 'filler') out[path.relative(dir, p)] = fs.readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

describe.skipIf(!isRoot)('a full disk under the config dir (tmpfs; needs root to mount)', () => {
  function fullConfig() {
    const s = sandbox();
    mountTmpfs(s.env.XDG_CONFIG_HOME!, '256k');
    return { s, config: path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk') };
  }
  const NO_SPACE = (config: string) =>
    `vmdesk: No space left in ${config} (the disk holding it is full). Free some space there and try again.\n`;

  // The owner's lock takes one page (the last owner emptied it); with one more the define's intent
  // fits and the definition does not; with none more the intent does not.
  // Was exit 2 with the bare ENOSPC: the owner lock's own write (its pid) failed, and the lock
  // stayed held by a process that then exited.
  it('owner mode: says the config disk is full when not even the owner lock can be written, exit 1', async () => {
    const { s, config } = fullConfig();
    await s.json(['define', '--name', 'keep', '--memory', '128M']);
    fs.rmSync(path.join(config, 'driver.lock'));
    const filler = fillLeaving(s.env.XDG_CONFIG_HOME!, 0);
    const r = await refused(s, ['list']);
    expect(r).toEqual({ exit: 1, code: 'storage', stderr: NO_SPACE(config) });
    fs.rmSync(filler);
    expect((await s.json<VmSummary[]>(['list'])).map((v) => v.name)).toEqual(['keep']);
  });

  for (const [pages, step] of [
    [2, 'the definition'],
    [1, 'the define intent'],
  ] as const) {
    it(`owner mode: says the config disk is full when ${step} does not fit, exit 1, and loses nothing`, async () => {
      const { s, config } = fullConfig();
      const keep = await s.json<VmSummary>(['define', '--name', 'keep', '--memory', '128M', '--disk-size', '1M']);
      const before = snapshot(config);
      const filler = fillLeaving(s.env.XDG_CONFIG_HOME!, pages);

      const r = await refused(s, ['define', '--name', 'nospace', '--memory', '128M', '--disk-size', '1M']);
      expect(r).toEqual({ exit: 1, code: 'storage', stderr: NO_SPACE(config) });

      // Nothing half made, nothing lost: no intent, no temp file, no data dir of the refused VM.
      expect(snapshot(config)).toEqual({ ...before, 'driver.lock': expect.any(String) });
      expect(fs.readdirSync(path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'vms'))).toEqual([keep.id]);
      const list = await s.json<VmSummary[]>(['list']);
      expect(list.map((v) => v.name)).toEqual(['keep']);

      fs.rmSync(filler);
      await s.json(['define', '--name', 'nospace', '--memory', '128M', '--disk-size', '1M']);
    });
  }

  it('client mode: the running driver cannot write, the CLI says so through the control socket, exit 1', async () => {
    const { s, config } = fullConfig();
    await s.json(['define', '--name', 'keep', '--memory', '128M']);
    const driver = await s.startDriver();
    const before = snapshot(config);
    const filler = fillLeaving(s.env.XDG_CONFIG_HOME!, 0);

    const r = await refused(s, ['define', '--name', 'nospace', '--memory', '128M']);
    expect(r).toEqual({ exit: 1, code: 'storage', stderr: NO_SPACE(config) });
    expect(snapshot(config)).toEqual(before);
    // The driver is fine and still serves the VMs it has.
    expect((await s.json<VmSummary[]>(['list'])).map((v) => v.name)).toEqual(['keep']);
    expect(driver.exitCode).toBeNull();

    fs.rmSync(filler);
    await s.json(['define', '--name', 'nospace', '--memory', '128M']);
  });
});

describe.skipIf(!isRoot)('a read-only config dir (bind mount; needs root)', () => {
  function readOnlyConfigLater(s: Sandbox) {
    const c = s.env.XDG_CONFIG_HOME!;
    execFileSync('mount', ['--bind', c, c]);
    umountLater(c);
    return {
      ro: () => execFileSync('mount', ['-o', 'remount,ro,bind', c]),
      rw: () => execFileSync('mount', ['-o', 'remount,rw,bind', c]),
    };
  }
  const READ_ONLY = (config: string) =>
    `vmdesk: ${config} is on a read-only file system. Make it writable, or point XDG_CONFIG_HOME at a writable directory.\n`;

  it('owner mode: names the config dir and XDG_CONFIG_HOME, exit 1; the VMs load again once it is writable', async () => {
    const s = sandbox();
    const config = path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk');
    const mount = readOnlyConfigLater(s);
    await s.json(['define', '--name', 'keep', '--memory', '128M']);
    const before = snapshot(config);
    mount.ro();

    expect(await refused(s, ['define', '--name', 'ro', '--memory', '128M'])).toEqual({
      exit: 1,
      code: 'storage',
      stderr: READ_ONLY(config),
    });
    // The driver must write its lock there, so even a listing cannot run; it says why.
    expect(await refused(s, ['list'])).toEqual({ exit: 1, code: 'storage', stderr: READ_ONLY(config) });

    mount.rw();
    expect(snapshot(config)).toEqual(before);
    expect((await s.json<VmSummary[]>(['list'])).map((v) => v.name)).toEqual(['keep']);
  });
  // No client-mode case: a running driver holds its lock open for writing, and the kernel refuses to
  // remount a filesystem read-only while a file on it is open for writing ("mount point is busy").
});

describe.skipIf(!isRoot)('a directory the user may not write (vmdesk runs as nobody; needs root to set up)', () => {
  /** The sandbox handed to nobody, the way a user's own home is theirs. */
  function nobodysSandbox(): Sandbox {
    const s = sandbox();
    execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, s.root]);
    return s;
  }
  /** `vmdesk` as nobody; runuser keeps the environment (the isolated XDG dirs). */
  const asNobody = (s: Sandbox) => (args: string[]) =>
    new Promise<CliResult>((resolve) => {
      execFile(
        'runuser',
        ['-u', 'nobody', '--', process.execPath, VMDESK, ...args],
        { env: s.env, encoding: 'utf8', timeout: 120_000 },
        (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
      );
    });
  const DENIED = (dir: string) =>
    `vmdesk: You cannot write to ${dir} (permission denied). Check its owner and permissions (ls -ld ${dir}; it should be yours, mode 0700).\n`;

  for (const mode of ['owner', 'client'] as const) {
    it(`${mode} mode: the definitions dir belongs to root: names it and says how to check, exit 1`, async () => {
      const s = nobodysSandbox();
      const run = asNobody(s);
      const first = await run(['define', '--name', 'keep', '--memory', '128M', '--json']);
      expect(first.code, first.stderr).toBe(0);
      // setpriv execs node in place (runuser forks), so the driver's pid is the one to kill.
      if (mode === 'client')
        await s.startDriver(undefined, ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups']);
      const vms = vmsDir(s);
      const before = snapshot(vms);
      fs.chownSync(vms, 0, 0);
      fs.chmodSync(vms, 0o755);

      expect(await refused(s, ['define', '--name', 'denied', '--memory', '128M'], run)).toEqual({
        exit: 1,
        code: 'storage',
        stderr: DENIED(vms),
      });
      expect(snapshot(vms)).toEqual(before);
      const list = await run(['list', '--json']);
      expect((JSON.parse(list.stdout) as VmSummary[]).map((v) => v.name)).toEqual(['keep']);
      expect(fs.readdirSync(path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk', 'intents'))).toEqual([]);
    });
  }

  it('the config dir itself belongs to root (a `sudo vmdesk` once): names it before doing anything, exit 1', async () => {
    const s = nobodysSandbox();
    const run = asNobody(s);
    expect((await run(['list'])).code).toBe(0);
    const config = path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk');
    const before = snapshot(config);
    fs.chownSync(config, 0, 0);
    fs.chmodSync(config, 0o755);
    expect(await refused(s, ['define', '--name', 'denied', '--memory', '128M'], run)).toEqual({
      exit: 1,
      code: 'storage',
      stderr: DENIED(config),
    });
    expect(snapshot(config)).toEqual(before);
  });
});

/** Whether this filesystem (the sandboxes' /tmp) has the immutable attribute; tmpfs has none. */
function chattrWorks(): boolean {
  if (!isRoot) return false;
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'vmd-chattr-'));
  try {
    execFileSync('chattr', ['+i', probe], { stdio: 'pipe' });
    execFileSync('chattr', ['-i', probe], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  } finally {
    fs.rmdirSync(probe);
  }
}

describe.skipIf(!chattrWorks())('an immutable definitions dir (chattr +i; needs root and a filesystem with it)', () => {
  it('even root cannot write there: names it and how to see the attribute, exit 1', async () => {
    const s = sandbox();
    await s.json(['define', '--name', 'keep', '--memory', '128M']);
    const vms = vmsDir(s);
    execFileSync('chattr', ['+i', vms]);
    cleanups.push(() => execFileSync('chattr', ['-i', vms]));
    expect(await refused(s, ['define', '--name', 'frozen', '--memory', '128M'])).toEqual({
      exit: 1,
      code: 'storage',
      stderr:
        `vmdesk: You cannot write to ${vms} (operation not permitted). Check its owner and permissions ` +
        `(ls -ld ${vms}; it should be yours, mode 0700; lsattr -d ${vms} shows whether it is immutable).\n`,
    });
    expect((await s.json<VmSummary[]>(['list'])).map((v) => v.name)).toEqual(['keep']);
  });
});
