/**
 * Changing a VM after it is made, through the real CLI and a real QEMU (TCG): the settings a
 * stopped VM gets are the ones its next QEMU runs with; a running VM keeps running as it is and
 * says what waits for its next start.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { buildFixtures } from '../app/main/iso/fixtures/build-fixtures.js';
import { guestIso, Sandbox, waitFor } from './support/cli.js';
import { accepts, freePort } from './support/ports.js';

let s: Sandbox;
afterAll(() => s?.cleanup());

/** QEMU's own command line, from /proc. */
function qemuArgv(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}
const after = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];

describe('vmdesk set', () => {
  it('changes memory and CPUs of a stopped VM; the next start’s QEMU has the new -m and -smp', async () => {
    s = new Sandbox();
    await s.startDriver();
    await s.json(['define', '--name', 'tiny', '--memory', '128M', '--cdrom', guestIso()]);
    const set = await s.run(['set', 'tiny', '--memory', '256M', '--cpus', '2']);
    expect(set.code).toBe(0);
    expect(set.stdout).toBe(
      '"tiny" is set: 256 MiB, 2 CPUs, boots from CD-ROM, then disk, firmware BIOS, display std, accel auto.\n',
    );
    const vm = await s.json<VmSummary>(['start', 'tiny']);
    const argv = qemuArgv(vm.pid!);
    expect(after(argv, '-m')).toBe('size=256M');
    expect(after(argv, '-smp')).toBe('2');

    // Running: nothing changes under the guest; the change waits for the next start, and says so.
    const live = await s.run(['set', 'tiny', '--memory', '384M']);
    expect(live.stdout).toContain('It is running; these apply at its next start:\n  Memory: 256 MiB → 384 MiB\n');
    const info = await s.json<VmSummary>(['info', 'tiny']);
    expect(info).toMatchObject({ pid: vm.pid, pending: ['Memory: 256 MiB → 384 MiB'] });
    expect(after(qemuArgv(vm.pid!), '-m')).toBe('size=256M');

    await s.json(['stop', 'tiny']);
    const again = await s.json<VmSummary>(['start', 'tiny']);
    expect(after(qemuArgv(again.pid!), '-m')).toBe('size=384M');
    expect(again.pending).toBeUndefined();
    await s.json(['stop', 'tiny']);
  });

  it('renames, and refuses bad input with a sentence, changing nothing', async () => {
    await s.json(['define', '--name', 'other', '--memory', '64M']);
    const before = await s.json<VmSummary>(['info', 'tiny']);
    for (const [args, why] of [
      [['--name', 'other'], /A VM named "other" already exists/],
      [['--memory', '100000G'], /This host has [\d.]+ GiB of memory/],
      [['--cpus', '1000'], /This host has \d+ CPUs/],
      [['--boot', 'floppy'], /--boot takes devices in order, separated by commas, from disk, cdrom, network/],
      [['--boot', 'disk,disk'], /--boot names a device twice: "disk,disk"/],
      [['--firmware', 'coreboot'], /--firmware must be bios or uefi, not "coreboot"/],
      [['--cdrom-drives', '9'], /--cdrom-drives must be 0 to 4, not 9/],
      [[], /Say what to change/],
    ] as const) {
      const r = await s.run(['set', 'tiny', ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(why);
    }
    expect((await s.json<VmSummary>(['info', 'tiny'])).revision).toBe(before.revision);
    const renamed = await s.json<VmSummary>(['set', 'tiny', '--name', 'tiny two']);
    expect(renamed).toMatchObject({ id: before.id, name: 'tiny two' });
    expect((await s.json<VmSummary[]>(['list'])).map((v) => v.name).sort()).toEqual(['other', 'tiny two']);
  });
});

describe('vmdesk set --firmware and --boot', () => {
  it('switches a BIOS VM to UEFI with a fresh variable store, and boots devices in the order given', async () => {
    const u = new Sandbox();
    try {
      await u.startDriver();
      await u.json(['define', '--name', 'fw', '--memory', '128M', '--disk-size', '32M', '--cdrom', guestIso()]);
      const set = await u.run(['set', 'fw', '--firmware', 'uefi', '--boot', 'network,disk,cdrom']);
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toBe(
        '"fw" is set: 128 MiB, 1 CPU, boots from network, then disk, then CD-ROM, firmware UEFI, display std, accel auto.\n',
      );
      const info = await u.json<VmSummary>(['info', 'fw']);
      const nvram = info.definition!.nvram!;
      expect(fs.statSync(nvram).mode & 0o777).toBe(0o600);
      const vm = await u.json<VmSummary>(['start', 'fw']);
      const argv = qemuArgv(vm.pid!);
      expect(after(argv, '-machine')).toBe('q35,pflash0=fw-code,pflash1=fw-vars');
      expect(argv.find((a) => a.includes('"node-name":"fw-vars"'))).toContain(JSON.stringify(nvram));
      const byBootIndex = argv
        .filter((a) => a.includes('bootindex='))
        .sort((a, b) => Number(/bootindex=(\d+)/.exec(a)![1]) - Number(/bootindex=(\d+)/.exec(b)![1]));
      expect(byBootIndex.map((a) => a.split(',')[0])).toEqual(['virtio-net-pci', 'virtio-blk-pci', 'ide-cd']);
      await u.json(['stop', 'fw']);
      // Back to BIOS: no firmware flash; the store stays for a later switch back.
      await u.json(['set', 'fw', '--firmware', 'bios']);
      const bios = await u.json<VmSummary>(['start', 'fw']);
      expect(after(qemuArgv(bios.pid!), '-machine')).toBe('q35');
      expect(fs.existsSync(nvram)).toBe(true);
      await u.json(['stop', 'fw']);
    } finally {
      u.cleanup();
    }
  });
});

describe('vmdesk forward', () => {
  it('adds a forward to a running VM that listens at once, removes it, and refuses a port in use', async () => {
    const f = new Sandbox();
    try {
      await f.startDriver();
      await f.json(['define', '--name', 'fw', '--memory', '128M', '--cdrom', guestIso()]);
      await f.json(['start', 'fw']);
      const port = await freePort();
      expect(await accepts(port)).toBe(false);

      const added = await f.run(['forward', 'add', 'fw', `tcp:${port}:22`]);
      expect(added.code, added.stderr).toBe(0);
      expect(added.stdout).toContain(`Port forwards of "fw" (running: listening now):`);
      expect(added.stdout).toContain(`ssh -p ${port} 127.0.0.1`);
      // QEMU's user network listens on the host side now, without a restart.
      expect(await accepts(port)).toBe(true);
      expect((await f.json<VmSummary>(['info', 'fw'])).definition!.network.forwards).toEqual([
        { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: port, guestPort: 22 },
      ]);

      // Another program on a port: refused with the port named, nothing stored.
      const holder = net.createServer();
      await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
      const held = (holder.address() as net.AddressInfo).port;
      const busy = await f.run(['forward', 'add', 'fw', `tcp:${held}:80`]);
      await new Promise((r) => holder.close(r));
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain(`Host port tcp 127.0.0.1:${held} is in use by another program (`);
      expect(busy.stderr).toMatch(new RegExp(`in use by another program \\(.+, pid ${process.pid}\\)\\. Stop it`));
      expect((await f.json<VmSummary>(['info', 'fw'])).definition!.network.forwards).toHaveLength(1);

      const removed = await f.run(['forward', 'remove', 'fw', `tcp:${port}`]);
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stdout).toBe('"fw" forwards no ports. Add one: vmdesk forward add fw tcp:2222:22\n');
      expect(await accepts(port)).toBe(false);
      const missing = await f.run(['forward', 'remove', 'fw', `tcp:${port}`]);
      expect(missing.stderr).toMatch(/"fw" forwards nothing on tcp 127.0.0.1:\d+/);

      // Stopped: stored, and the next start listens.
      await f.json(['stop', 'fw']);
      await f.json(['forward', 'add', 'fw', `tcp:${port}:22`]);
      expect(await accepts(port)).toBe(false);
      await f.json(['start', 'fw']);
      expect(await accepts(port)).toBe(true);
      await f.json(['stop', 'fw']);
    } finally {
      f.cleanup();
    }
  });
});

/** The files a process has open, from /proc (what QEMU really reads, not what vmdesk says). */
function openFiles(pid: number): string[] {
  return fs.readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      return [fs.readlinkSync(`/proc/${pid}/fd/${fd}`)];
    } catch {
      return [];
    }
  });
}

describe('vmdesk cdrom', () => {
  it('changes the disc of a running VM at once: QEMU closes the old ISO and opens the new one', async () => {
    const c = new Sandbox();
    try {
      await c.startDriver();
      const second = buildFixtures().debian12;
      await c.json(['define', '--name', 'cd', '--memory', '128M', '--cdrom', guestIso()]);
      const vm = await c.json<VmSummary>(['start', 'cd']);
      expect(openFiles(vm.pid!)).toContain(guestIso());

      const inserted = await c.run(['cdrom', 'insert', 'cd', second]);
      expect(inserted.code, inserted.stderr).toBe(0);
      expect(inserted.stdout).toBe(`"cd" has ${second} in its CD-ROM drive, now.\n`);
      await waitFor(() => openFiles(vm.pid!).includes(second), 'QEMU to open the new ISO', 30_000);
      expect(openFiles(vm.pid!)).not.toContain(guestIso());
      const info = await c.json<VmSummary>(['info', 'cd']);
      expect(info).toMatchObject({ pid: vm.pid, definition: { cdroms: [second] } });
      expect(info.pending).toBeUndefined();

      const ejected = await c.run(['cdrom', 'eject', 'cd']);
      expect(ejected.stdout).toBe('Ejected the disc from its CD-ROM drive of "cd", now.\n');
      await waitFor(() => !openFiles(vm.pid!).includes(second), 'QEMU to close the ISO', 30_000);

      const missing = await c.run(['cdrom', 'insert', 'cd', '/nonexistent/x.iso']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/The ISO image \/nonexistent\/x.iso does not exist/);
      await c.json(['stop', 'cd']);
    } finally {
      c.cleanup();
    }
  });

  it('fills the empty drive of a VM defined without an ISO at once; a drive added while it runs waits for its next start', async () => {
    const c = new Sandbox();
    try {
      await c.startDriver();
      await c.json(['define', '--name', 'nocd', '--memory', '64M']);
      const vm = await c.json<VmSummary>(['start', 'nocd']);
      const now = await c.run(['cdrom', 'insert', 'nocd', guestIso()]);
      expect(now.stdout).toBe(`"nocd" has ${guestIso()} in its CD-ROM drive, now.\n`);
      await waitFor(() => openFiles(vm.pid!).includes(guestIso()), 'QEMU to open the ISO', 30_000);

      const second = buildFixtures().debian12;
      const set = await c.run(['set', 'nocd', '--cdrom-drives', '2']);
      expect(set.stdout).toContain('It is running; these apply at its next start:\n  CD-ROM drives: 1 → 2\n');
      const r = await c.run(['cdrom', 'insert', 'nocd', second, '--drive', '1']);
      expect(r.stdout).toBe(
        `"nocd" has ${second} in CD-ROM drive 1 from its next start (the running VM has no such drive).\n`,
      );
      expect(openFiles(vm.pid!)).not.toContain(second);
      const bad = await c.run(['cdrom', 'eject', 'nocd', '--drive', '2']);
      expect(bad.stderr).toBe('vmdesk: "nocd" has 2 CD-ROM drives (numbered from 0), so there is no drive 2.\n');
      await c.json(['stop', 'nocd']);
      const again = await c.json<VmSummary>(['start', 'nocd']);
      expect(openFiles(again.pid!)).toEqual(expect.arrayContaining([guestIso(), second]));
      const list = await c.run(['cdrom', 'list', 'nocd']);
      expect(list.stdout).toBe(`CD-ROM drives of "nocd":\n  0  ${guestIso()}\n  1  ${second}\n`);
      await c.json(['stop', 'nocd']);
    } finally {
      c.cleanup();
    }
  });
});

describe('vmdesk define with several disks', () => {
  // Was a bug: `vmdesk define --disk A --disk B` kept only B, silently.
  it('keeps every --disk in order, after a new one from --disk-size, and QEMU opens them all', async () => {
    const d = new Sandbox();
    try {
      const a = path.join(d.root, 'a.raw');
      const b = path.join(d.root, 'b.raw');
      for (const f of [a, b]) fs.writeFileSync(f, Buffer.alloc(1024 * 1024));
      const vm = await d.json<VmSummary>([
        'define',
        '--name',
        'multi',
        '--memory',
        '64M',
        '--disk-size',
        '16M',
        '--disk',
        a,
        '--disk',
        b,
      ]);
      expect(vm.definition!.disks.map((k) => [path.basename(k.path), k.owned])).toEqual([
        ['disk0.qcow2', true],
        ['a.raw', false],
        ['b.raw', false],
      ]);
      const running = await d.json<VmSummary>(['start', 'multi']);
      const open = fs.readdirSync(`/proc/${running.pid}/fd`).map((fd) => {
        try {
          return fs.readlinkSync(`/proc/${running.pid}/fd/${fd}`);
        } catch {
          return '';
        }
      });
      for (const k of vm.definition!.disks) expect(open).toContain(k.path);
      await d.json(['stop', 'multi']);
      const c = path.join(d.root, 'c.raw');
      fs.writeFileSync(c, Buffer.alloc(1024 * 1024));
      const twice = await d.run(['define', '--name', 'again', '--disk', c, '--disk', c]);
      expect(twice.code).toBe(1);
      expect(twice.stderr).toMatch(/is given twice/);
    } finally {
      d.cleanup();
    }
  });
});
