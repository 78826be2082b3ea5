/**
 * Snapshots on a real QEMU (TCG) through the real CLI: a live one brings back the guest's memory
 * (a marker in its RAM, read on its own shell) and leaves it running; on a UEFI VM the memory and
 * the variable store come back together; a stopped VM's disk-only snapshot brings back its disk.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SnapshotInfo } from '../app/main/common/contract.js';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { attachVmdeskConsole, GuestShell } from './guest/guest-shell.js';
import { guestIso, Sandbox } from './support/cli.js';

const sandboxes: Sandbox[] = [];
afterAll(() => {
  for (const s of sandboxes) s.cleanup();
});
function sandbox(): Sandbox {
  const s = new Sandbox();
  sandboxes.push(s);
  return s;
}

describe('vmdesk snapshot', () => {
  it('takes a live snapshot; going back to it brings back the guest’s memory, running', async () => {
    const s = sandbox();
    await s.startDriver();
    await s.json(['define', '--name', 'snap', '--memory', '192M', '--disk-size', '64M', '--cdrom', guestIso()]);
    const info0 = await s.json<VmSummary>(['start', 'snap']);
    const shell = new GuestShell(await attachVmdeskConsole(s, 'snap'));
    try {
      await shell.ready();
      await shell.check('dmesg -n 1');
      // The initramfs is the guest's root: /tmp/marker lives in its RAM only.
      await shell.check('echo first > /tmp/marker');
      const taken = await s.run(['snapshot', 'create', 'snap', 'before', '--description', 'marker is first']);
      expect(taken.code, taken.stderr).toBe(0);
      expect(taken.stdout).toBe(
        'Took snapshot "before" of "snap" (disks and memory, running).\nGo back to it with: vmdesk snapshot revert "snap" "before"\n',
      );
      await shell.check('echo second > /tmp/marker');
      expect(await shell.check('cat /tmp/marker')).toBe('second');

      const back = await s.run(['snapshot', 'revert', 'snap', 'before']);
      expect(back.code, back.stderr).toBe(0);
      expect(back.stdout).toBe('"snap" is back at snapshot "before" and running.\n');
      // The guest's shell was waiting at its prompt when the snapshot was taken: it is again.
      expect(await shell.check('cat /tmp/marker')).toBe('first');
      expect((await s.json<VmSummary>(['info', 'snap'])).state).toBe('running');

      const list = await s.json<SnapshotInfo[]>(['snapshot', 'list', 'snap']);
      expect(list).toMatchObject([
        { name: 'before', description: 'marker is first', state: 'running', withMemory: true, current: true },
      ]);
      expect(list[0]!.vmStateBytes).toBeGreaterThan(1024 * 1024);
      // The screen at that moment, as a small PNG in the VM's folder (VGA text mode: 720×400 → 320 wide).
      const snapDir = path.join(path.dirname(info0.definition!.disks[0]!.path), 'snapshots');
      const png = fs.readFileSync(
        path.join(
          snapDir,
          fs.readdirSync(snapDir).find((f) => f.endsWith('.png'))!,
        ),
      );
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(png.readUInt32BE(16)).toBe(320);
      const info = await s.json<VmSummary>(['info', 'snap']);
      expect(info.snapshots).toEqual({ count: 1, vmStateBytes: list[0]!.vmStateBytes });
      expect((await s.run(['info', 'snap'])).stdout).toMatch(
        /Snapshots: +1, keeping \d+ MiB of memory \(vmdesk snapshot list snap\)/,
      );

      // A second one, then delete the first (in the middle of the tree): the second stays.
      await shell.check('echo third > /tmp/marker');
      await s.json(['snapshot', 'create', 'snap', 'after']);
      const left = await s.json<SnapshotInfo[]>(['snapshot', 'delete', 'snap', 'before']);
      expect(left).toMatchObject([{ name: 'after', parent: null, current: true }]);
      await shell.check('echo fourth > /tmp/marker');
      await s.json(['snapshot', 'revert', 'snap', 'after']);
      expect(await shell.check('cat /tmp/marker')).toBe('third');

      // Refusals, in sentences; nothing made.
      const dup = await s.run(['snapshot', 'create', 'snap', 'after']);
      expect(dup.stderr).toBe('vmdesk: "snap" has a snapshot named "after" already. Choose another name.\n');
      // Paused, its guest agent cannot freeze anything (e2e/windows-ready covers a running one).
      await s.json(['pause', 'snap']);
      const diskOnly = await s.run(['snapshot', 'create', 'snap', 'x', '--disk-only']);
      expect(diskOnly.stderr).toContain('a snapshot of its disks alone would catch its file systems mid-write');
      await s.json(['resume', 'snap']);
      const missing = await s.run(['snapshot', 'revert', 'snap', 'nope']);
      expect(missing.stderr).toBe('vmdesk: "snap" has no snapshot named "nope"; it has "after".\n');

      // Stopped: going back to a snapshot with memory starts the VM and loads it into the new QEMU.
      shell.link.close();
      await s.json(['stop', 'snap']);
      const started = await s.json<VmSummary>(['snapshot', 'revert', 'snap', 'after']);
      expect(started.state).toBe('running');
      const again = new GuestShell(await attachVmdeskConsole(s, 'snap'));
      try {
        // No boot this time: the shell is where it was, at its prompt.
        expect(await again.check('cat /tmp/marker')).toBe('third');
      } finally {
        again.link.close();
      }
    } finally {
      shell.link.close();
      await s.run(['stop', 'snap']);
    }
  }, 300_000);

  it('does the same on a UEFI VM: its memory and its variable store come back together', async () => {
    const s = sandbox();
    await s.startDriver();
    await s.json([
      'define',
      '--name',
      'efi',
      '--memory',
      '256M',
      '--disk-size',
      '32M',
      '--firmware',
      'uefi',
      '--cdrom',
      guestIso(),
    ]);
    const vm = await s.json<VmSummary>(['start', 'efi']);
    const nvram = vm.definition!.nvram!;
    const shell = new GuestShell(await attachVmdeskConsole(s, 'efi'));
    try {
      await shell.ready(180_000);
      await shell.check('dmesg -n 1');
      expect(await shell.check('test -d /sys/firmware/efi && echo uefi')).toBe('uefi');
      await shell.check('echo first > /tmp/marker');
      const at = fs.readFileSync(nvram);
      await s.json(['snapshot', 'create', 'efi', 'booted']);
      await shell.check('echo second > /tmp/marker');
      // The variable store changes after the snapshot (written here in place, as the firmware would).
      const changed = Buffer.from(at);
      changed.fill(0x5a, changed.length - 4096);
      fs.writeFileSync(nvram, changed);
      const back = await s.json<VmSummary>(['snapshot', 'revert', 'efi', 'booted']);
      expect(back.state).toBe('running');
      expect(await shell.check('cat /tmp/marker')).toBe('first');
      expect(fs.readFileSync(nvram).equals(at)).toBe(true);
    } finally {
      shell.link.close();
      await s.run(['stop', 'efi']);
    }
  }, 300_000);

  it('takes a stopped VM’s disk-only snapshot with qemu-img; going back brings back the disk', async () => {
    const s = sandbox();
    await s.json(['define', '--name', 'cold', '--memory', '64M', '--disk-size', '16M']);
    const disk = (await s.json<VmSummary>(['info', 'cold'])).definition!.disks[0]!.path;
    const io = (cmd: string) => execFileSync('qemu-io', ['-f', 'qcow2', '-c', cmd, disk], { encoding: 'utf8' });
    io('write -P 0x41 0 4k');
    const taken = await s.run(['snapshot', 'create', 'cold', 'clean']);
    expect(taken.stdout).toContain('Took snapshot "clean" of "cold" (disks only).');
    io('write -P 0x42 0 4k');
    expect(() => io('read -P 0x41 0 4k')).toThrow();
    await s.json(['snapshot', 'revert', 'cold', 'clean']);
    expect(io('read -P 0x41 0 4k')).toContain('read 4096/4096 bytes');
    // Deleting the VM takes its snapshots with it (they live in its disk and its folder).
    const folder = path.dirname(disk);
    expect(fs.readdirSync(folder).sort()).toEqual(['disk0.qcow2', 'snapshots', 'snapshots.json']);
    await s.json(['delete', 'cold']);
    expect(fs.existsSync(folder)).toBe(false);
    // A UEFI VM's disk-only snapshot takes its variable store with it, and brings it back.
    await s.json(['define', '--name', 'coldefi', '--memory', '64M', '--disk-size', '16M', '--firmware', 'uefi']);
    const nvram = (await s.json<VmSummary>(['info', 'coldefi'])).definition!.nvram!;
    const vars = fs.readFileSync(nvram);
    await s.json(['snapshot', 'create', 'coldefi', 'clean']);
    fs.writeFileSync(nvram, Buffer.alloc(vars.length, 0x5a));
    await s.json(['snapshot', 'revert', 'coldefi', 'clean']);
    expect(fs.readFileSync(nvram).equals(vars)).toBe(true);

    const raw = path.join(s.root, 'raw.img');
    fs.writeFileSync(raw, Buffer.alloc(2 ** 20));
    await s.json(['define', '--name', 'flat', '--memory', '64M', '--disk', raw]);
    const refused = await s.run(['snapshot', 'create', 'flat', 'x']);
    expect(refused.stderr).toContain(
      'is raw, which cannot hold snapshots. Convert it to qcow2 with the VM off: vmdesk disk convert "flat" vda',
    );
    const converted = await s.run(['disk', 'convert', 'flat', 'vda']);
    expect(converted.stdout).toMatch(
      /^vda of "flat" is now a qcow2 disk \(.*\/disk0\.qcow2\), ready for snapshots\.\n$/,
    );
    expect(converted.stderr).toContain(`The raw file ${raw} is kept as it was`);
    expect(fs.existsSync(raw)).toBe(true);
    expect((await s.run(['snapshot', 'create', 'flat', 'x'])).code).toBe(0);
  }, 120_000);
});
