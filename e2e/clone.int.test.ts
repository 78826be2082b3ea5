/**
 * `vmdesk clone` through the real CLI, real qemu-img and real QEMU (TCG, the tiny guest): a full
 * and a linked clone both start beside the original, with their own ids and MACs; the original's
 * disk is opened read-only while a linked clone reads through it, and writable again once the
 * clone is deleted; the original cannot be deleted meanwhile. A full clone cancelled with Ctrl+C,
 * or whose CLI is killed while a driver runs it, leaves nothing behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { guestIso, Sandbox, VMDESK } from './support/cli.js';

const READY = 'VMDESK-GUEST-READY';
let sandboxes: Sandbox[] = [];
afterEach(() => {
  for (const s of sandboxes) s.cleanup();
  sandboxes = [];
});

function sandbox(): Sandbox {
  const s = new Sandbox();
  sandboxes.push(s);
  return s;
}

function cmdline(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

/** The -blockdev option QEMU was given for `file`, parsed. */
function blockdevOf(pid: number, file: string): { 'read-only': boolean; driver: string } {
  const arg = cmdline(pid).find((a) => a.startsWith('{') && a.includes(JSON.stringify(file)));
  if (!arg) throw new Error(`QEMU ${pid} was not given ${file}`);
  return JSON.parse(arg) as { 'read-only': boolean; driver: string };
}

function macOf(pid: number): string {
  const m = /mac=([0-9a-f:]{17})/.exec(cmdline(pid).join(' '));
  if (!m) throw new Error(`QEMU ${pid} has no NIC`);
  return m[1]!;
}

function imageInfo(file: string): { format: string; 'backing-filename'?: string; 'backing-filename-format'?: string } {
  return JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', file], { encoding: 'utf8' })) as never;
}

/** What vmdesk keeps on disk for its VMs: data folders, definitions, intents. */
function onDisk(s: Sandbox): { data: string[]; defs: string[]; intents: string[] } {
  const ls = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);
  return {
    data: ls(path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'vms')),
    defs: ls(path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk', 'vms')),
    intents: ls(path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk', 'intents')),
  };
}

/** `vmdesk clone …` as a child process, resolving once its stderr shows a progress line. */
function cloneInBackground(
  s: Sandbox,
  args: string[],
): {
  child: ChildProcess;
  progressed: Promise<void>;
  exit: Promise<{ code: number | null; err: string; out: string }>;
} {
  const child = spawn(process.execPath, [VMDESK, 'clone', ...args], { env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
  s.track(child);
  let err = '';
  let out = '';
  let onProgress!: () => void;
  const progressed = new Promise<void>((r) => (onProgress = r));
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (/Copying vda .*\(\d+ %\)/.test(err)) onProgress();
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<{ code: number | null; err: string; out: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, err, out })),
  );
  return { child, progressed, exit };
}

/**
 * A raw disk of 2 GiB, allocated but never written (fallocate: made at once). It has no holes for
 * cp to skip (a sparse file copies in milliseconds), so a full clone copies all of it, which takes
 * seconds: it is still copying when the test cancels it at its first progress line.
 */
function bigDiskNoHoles(s: Sandbox): string {
  const file = path.join(s.root, 'big.img');
  execFileSync('fallocate', ['-l', '2G', file]);
  return file;
}

describe('vmdesk clone', () => {
  it('makes a full and a linked clone that start beside the original, each with its own id and MAC; the base is read-only while the linked clone exists', async () => {
    const s = sandbox();
    const orig = await s.json<VmSummary>([
      'define',
      '--name',
      'orig',
      '--memory',
      '128M',
      '--disk-size',
      '64M',
      '--cdrom',
      guestIso(),
    ]);
    const base = orig.definition!.disks[0]!.path;

    const full = await s.json<VmSummary>(['clone', 'orig', 'full']);
    expect(full.id).not.toBe(orig.id);
    const fullDisk = full.definition!.disks[0]!;
    expect(fullDisk).toMatchObject({ target: 'vda', format: 'qcow2', owned: true });
    expect(path.dirname(fullDisk.path)).toBe(path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'vms', full.id));
    expect(imageInfo(fullDisk.path)['backing-filename']).toBeUndefined();

    const linked = await s.run(['clone', 'orig', 'thin', '--linked']);
    expect(linked.stderr).toBe('');
    expect(linked.code).toBe(0);
    expect(linked.stdout).toBe(
      `Cloned "orig" as "thin" (linked: vda reads through ${base}, which stays read-only while "thin" exists).\nStart it with: vmdesk start "thin"\n`,
    );
    const thin = await s.json<VmSummary>(['info', 'thin']);
    const overlay = thin.definition!.disks[0]!.path;
    expect(imageInfo(overlay)).toMatchObject({
      format: 'qcow2',
      'backing-filename': base,
      'backing-filename-format': 'qcow2',
    });
    expect((await s.json<VmSummary>(['info', 'orig'])).definition!.disks[0]!.linkedClones).toEqual([thin.id]);

    // Bad input: a sentence each, nothing made.
    const before = onDisk(s);
    const taken = await s.run(['clone', 'orig', 'thin']);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe('vmdesk: A VM named "thin" already exists. Choose another name.\n');
    const badName = await s.run(['clone', 'orig', '.hidden']);
    expect(badName.code).toBe(1);
    expect(badName.stderr).toBe('vmdesk: A VM name cannot start with ".".\n');
    const usage = await s.run(['clone', 'orig']);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toMatch(/`vmdesk clone` takes the VM and the name of the new one/);

    // All three start; the original opens its disk read-only (the clone reads through it).
    for (const vm of ['orig', 'thin', 'full']) expect((await s.run(['start', vm])).code).toBe(0);
    const [o, t, f] = await Promise.all(['orig', 'thin', 'full'].map((vm) => s.json<VmSummary>(['info', vm])));
    expect(blockdevOf(o!.pid!, base)['read-only']).toBe(true);
    expect(blockdevOf(t!.pid!, overlay)['read-only']).toBe(false);
    expect(blockdevOf(f!.pid!, fullDisk.path)['read-only']).toBe(false);
    expect(new Set([macOf(o!.pid!), macOf(t!.pid!), macOf(f!.pid!)]).size).toBe(3);
    expect(new Set([o!.id, t!.id, f!.id]).size).toBe(3);
    await Promise.all([o!, t!, f!].map((vm) => s.waitForFileText(vm.paths!.serialLog, READY)));

    const running = await s.run(['clone', 'orig', 'x']);
    expect(running.code).toBe(1);
    expect(running.stderr).toBe(
      'vmdesk: "orig" is running. Shut it down first: a clone is made from a VM that is off, so its disks do not change under the copy.\n',
    );
    expect(onDisk(s)).toEqual(before);
    for (const vm of ['orig', 'thin', 'full']) expect((await s.run(['stop', vm])).code).toBe(0);

    // The base cannot go while the clone reads through it; once the clone is gone, it is writable.
    const refused = await s.run(['delete', 'orig']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'vmdesk: "orig" cannot be deleted: the linked clone "thin" reads through its disk vda. Delete it first, or make it independent with a full clone (vmdesk clone "thin" NEW) and delete the linked one.\n',
    );
    expect(fs.existsSync(base)).toBe(true);
    expect((await s.run(['delete', 'thin'])).code).toBe(0);
    expect((await s.json<VmSummary>(['info', 'orig'])).definition!.disks[0]!.linkedClones).toBeUndefined();
    expect((await s.run(['start', 'orig'])).code).toBe(0);
    const again = await s.json<VmSummary>(['info', 'orig']);
    expect(blockdevOf(again.pid!, base)['read-only']).toBe(false);
    expect((await s.run(['stop', 'orig'])).code).toBe(0);
  });

  it('flattens a linked clone in a full clone of it: the copy stands alone', async () => {
    const s = sandbox();
    await s.json(['define', '--name', 'orig', '--memory', '128M', '--disk-size', '64M']);
    await s.json(['clone', 'orig', 'thin', '--linked']);
    const solo = await s.json<VmSummary>(['clone', 'thin', 'solo']);
    expect(imageInfo(solo.definition!.disks[0]!.path)['backing-filename']).toBeUndefined();
    expect(solo.definition!.disks[0]!.backing).toBeUndefined();
    // Only "thin" reads through the original.
    expect((await s.json<VmSummary>(['info', 'orig'])).definition!.disks[0]!.linkedClones).toHaveLength(1);
  });

  it('cancels a full clone on Ctrl+C, showing progress until then, and leaves nothing of it', async () => {
    const s = sandbox();
    await s.json(['define', '--name', 'big', '--memory', '128M', '--disk', bigDiskNoHoles(s)]);
    const before = onDisk(s);
    const run = cloneInBackground(s, ['big', 'big copy', '--progress']);
    await run.progressed;
    run.child.kill('SIGINT');
    const { code, err, out } = await run.exit;
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toMatch(/^Copying vda \(big\.img\): .* of 2\.0 GiB \(\d+ %\)\n/);
    expect(err).toContain('Cancelling the clone…\n');
    expect(err).toMatch(/vmdesk: Cloning "big" as "big copy" was cancelled; nothing of the clone was kept.\n$/);
    expect(onDisk(s)).toEqual(before);
    expect((await s.json<VmSummary[]>(['list'])).map((v) => v.name)).toEqual(['big']);
  });

  it('cancels a full clone whose CLI goes away while a driver runs it, and leaves nothing of it', async () => {
    const s = sandbox();
    await s.json(['define', '--name', 'big', '--memory', '128M', '--disk', bigDiskNoHoles(s)]);
    const before = onDisk(s);
    await s.startDriver();
    const run = cloneInBackground(s, ['big', 'big copy', '--progress']);
    await run.progressed;
    run.child.kill('SIGKILL');
    await run.exit;
    // The driver cancels it when the connection closes; the clean-up takes a moment.
    const deadline = Date.now() + 60_000;
    while (JSON.stringify(onDisk(s)) !== JSON.stringify(before) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(onDisk(s)).toEqual(before);
    expect((await s.json<VmSummary[]>(['list'])).map((v) => v.name)).toEqual(['big']);
  });
});
