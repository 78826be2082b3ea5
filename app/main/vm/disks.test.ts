/**
 * Disks, CD-ROM drives and firmware after a VM is made, through a real VmManager with real files
 * and the real qemu-img; QEMU is the in-process fake (it records the QMP commands the driver
 * sends, and plays a guest that lets go of an unplugged device unless told not to). What a real
 * guest sees of these is in e2e/settings.int.test.ts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { tempAppPaths } from '../paths/testing/temp-paths.js';
import { FakeQemuLauncher } from '../qemu/testing/fake-launcher.js';
import { FakeHost } from './testing/fake-host.js';
import { VmManager } from './vm-manager.js';
import { hostUsage, virtualSize as virtualSizeOf } from './disks.js';

const QEMU_IMG = '/usr/bin/qemu-img';
const roots: string[] = [];
const managers: VmManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.detachAll();
});
afterAll(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

/** A host with UEFI firmware: a vars template with known bytes. */
class UefiHost extends FakeHost {
  constructor(readonly template: string) {
    super();
  }
  override async uefiFirmware() {
    return { code: '/nonexistent/OVMF_CODE.fd', varsTemplate: this.template, smm: false };
  }
}

async function setup(opts: { uefi?: boolean } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vd-'));
  roots.push(root);
  const paths = tempAppPaths(root);
  const template = path.join(root, 'VARS.fd');
  fs.writeFileSync(template, 'vars template');
  const launcher = new FakeQemuLauncher();
  const host = opts.uefi ? new UefiHost(template) : new FakeHost();
  const m = new VmManager(paths, host, { launcher, rungTimeoutMs: 200, startTimeoutMs: 2000, unplugTimeoutMs: 300 });
  managers.push(m);
  await m.init();
  const vm = await m.define({ name: 'web', memoryMiB: 64, cpus: 1, disk: { sizeBytes: 2 ** 24 } });
  const file = (name: string) => path.join(root, name);
  return { m, launcher, vm, root, paths, file };
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
const virtualSize = (f: string) =>
  (
    JSON.parse(execFileSync(QEMU_IMG, ['info', '--output=json', '-U', f], { encoding: 'utf8' })) as {
      'virtual-size': number;
    }
  )['virtual-size'];
/**
 * Turns the qcow2 header extension that records the backing file's format into an unknown one,
 * as in an image an older tool made: qemu-img 7.2 refuses to make such an image itself.
 */
function forgetBackingFormat(file: string): void {
  const buf = fs.readFileSync(file);
  const version = buf.readUInt32BE(4);
  let off = version >= 3 ? buf.readUInt32BE(100) : 72;
  for (;;) {
    const type = buf.readUInt32BE(off);
    const len = buf.readUInt32BE(off + 4);
    if (type === 0) throw new Error(`${file} records no backing format`);
    if (type === 0xe2792aca) {
      buf.writeUInt32BE(0x12345678, off);
      fs.writeFileSync(file, buf);
      return;
    }
    off += 8 + Math.ceil(len / 8) * 8;
  }
}
const qcow2 = (f: string, size = '16M', extra: string[] = []) =>
  execFileSync(QEMU_IMG, ['create', '-q', '-f', 'qcow2', ...extra, f, size]);

describe('vm.addDisk', () => {
  it('makes a new qcow2, private to the user, in the VM’s folder as the next target; the next start opens it', async () => {
    const { m, launcher, vm } = await setup();
    const after = await m.addDisk({ vm: 'web', sizeBytes: 2 ** 25 });
    const added = after.definition!.disks[1]!;
    expect(added).toMatchObject({ target: 'vdb', format: 'qcow2', owned: true, readOnly: false });
    expect(path.dirname(added.path)).toBe(path.dirname(vm.definition!.disks[0]!.path));
    expect(fs.statSync(added.path).mode & 0o777).toBe(0o600);
    expect(virtualSize(added.path)).toBe(2 ** 25);
    await m.start({ vm: 'web' });
    const argv = launcher.procs.at(-1)!.argv;
    expect(argv).toContain('virtio-blk-pci,drive=disk1,id=virtio-disk1,bootindex=1');
    expect(argv.join(' ')).toContain(JSON.stringify(added.path));
  });

  it('attaches an existing image with the format qemu-img reads, stored; refuses a wrong format, a file in use, one with an unrecorded or foreign backing file', async () => {
    const { m, file } = await setup();
    const raw = file('data.img');
    fs.writeFileSync(raw, Buffer.alloc(2 ** 20));
    const after = await m.addDisk({ vm: 'web', path: raw });
    expect(after.definition!.disks[1]).toEqual({
      target: 'vdb',
      path: raw,
      format: 'raw',
      owned: false,
      readOnly: false,
    });

    const q = file('other.qcow2');
    qcow2(q);
    expect(await rejection(m.addDisk({ vm: 'web', path: q, format: 'raw' }))).toMatchObject({
      message: `${q} is a qcow2 image, not raw. Leave the format out, or convert it.`,
      details: { field: 'format' },
    });
    expect(await rejection(m.addDisk({ vm: 'web', path: raw }))).toMatchObject({
      code: 'disk-in-use',
      message: `${raw} is already disk vdb of "web".`,
    });
    await m.define({ name: 'db', memoryMiB: 64, cpus: 1 });
    expect(await rejection(m.addDisk({ vm: 'db', path: raw }))).toMatchObject({
      code: 'disk-in-use',
      message: `${raw} already belongs to the VM "web". Use a copy, or remove it from "web" first.`,
    });

    // An overlay whose backing format is not recorded: QEMU would have to guess it.
    const base = file('base.qcow2');
    qcow2(base);
    const guessing = file('guessing.qcow2');
    qcow2(guessing, '16M', ['-b', base, '-F', 'qcow2']);
    forgetBackingFormat(guessing);
    expect(await rejection(m.addDisk({ vm: 'db', path: guessing }))).toMatchObject({
      message: expect.stringContaining(`does not record the format of its backing file ${base}`),
    });
    // An overlay on a file that is not the user's.
    const foreign = file('foreign.qcow2');
    qcow2(foreign);
    fs.chownSync(foreign, 65534, 65534);
    const onForeign = file('on-foreign.qcow2');
    qcow2(onForeign, '16M', ['-b', foreign, '-F', 'qcow2']);
    expect(await rejection(m.addDisk({ vm: 'db', path: onForeign }))).toMatchObject({
      message: expect.stringContaining(`reads through ${foreign}, which is not your file (owner uid 65534)`),
    });
    const missing = file('on-missing.qcow2');
    qcow2(missing, '16M', ['-b', file('gone.qcow2'), '-F', 'qcow2', '-u']);
    expect(await rejection(m.addDisk({ vm: 'db', path: missing }))).toMatchObject({
      message: expect.stringContaining('which does not exist'),
    });
    expect(m.get('db').definition!.disks).toEqual([]);
    // An overlay on the user's own file, format recorded: fine.
    const good = file('good.qcow2');
    qcow2(good, '16M', ['-b', base, '-F', 'qcow2']);
    expect((await m.addDisk({ vm: 'db', path: good })).definition!.disks).toHaveLength(1);
  });

  it('plugs a disk into a running VM at once (node with its format, device in a hot-plug port): nothing pending', async () => {
    const { m, launcher } = await setup();
    await m.start({ vm: 'web' });
    const after = await m.addDisk({ vm: 'web', sizeBytes: 2 ** 24 });
    const calls = launcher.procs.at(-1)!.calls;
    const add = calls.find((c) => c.execute === 'blockdev-add')!;
    expect(add.arguments).toMatchObject({ driver: 'qcow2', 'node-name': 'disk1', file: { driver: 'file' } });
    expect(calls.find((c) => c.execute === 'device_add')!.arguments).toEqual({
      driver: 'virtio-blk-pci',
      drive: 'disk1',
      id: 'virtio-disk1',
      bus: 'hotplug0',
    });
    expect(after.pending).toBeUndefined();
  });
});

describe('vm.removeDisk', () => {
  it('deletes the file only when vmdesk made it, and keeps it otherwise', async () => {
    const { m, file } = await setup();
    const raw = file('mine.img');
    fs.writeFileSync(raw, Buffer.alloc(2 ** 20));
    await m.addDisk({ vm: 'web', path: raw });
    expect(await rejection(m.removeDisk({ vm: 'web', target: 'vdb', deleteFile: true }))).toMatchObject({
      message: `vmdesk did not create ${raw}, so it does not delete it. Remove the disk without deleting the file, and delete the file yourself if you mean to.`,
    });
    await m.removeDisk({ vm: 'web', target: 'vdb' });
    expect(fs.existsSync(raw)).toBe(true);
    const owned = m.get('web').definition!.disks[0]!.path;
    const after = await m.removeDisk({ vm: 'web', target: 'vda', deleteFile: true });
    expect(after.definition!.disks).toEqual([]);
    expect(fs.existsSync(owned)).toBe(false);
    expect(await rejection(m.removeDisk({ vm: 'web', target: 'vda' }))).toMatchObject({
      code: 'not-found',
      message: '"web" has no disk vda; its disks are none.',
    });
  });

  it('keeps the boot disk of a running VM; unplugs another at once, or at the next start when the guest holds on', async () => {
    const { m, launcher } = await setup();
    await m.addDisk({ vm: 'web', sizeBytes: 2 ** 24 });
    await m.addDisk({ vm: 'web', sizeBytes: 2 ** 24 });
    await m.start({ vm: 'web' });
    expect(await rejection(m.removeDisk({ vm: 'web', target: 'vda' }))).toMatchObject({
      code: 'invalid-state',
      message: 'vda is the disk "web" booted from, and it is running. Shut it down first, then remove it.',
    });
    const gone = await m.removeDisk({ vm: 'web', target: 'vdb', deleteFile: true });
    const calls = launcher.procs.at(-1)!.calls.map((c) => `${c.execute} ${JSON.stringify(c.arguments ?? {})}`);
    expect(calls).toContain('device_del {"id":"virtio-disk1"}');
    expect(calls).toContain('blockdev-del {"node-name":"disk1"}');
    expect(gone.pending).toBeUndefined();

    launcher.procs.at(-1)!.script.keepsDevices = true;
    const held = m.removeDisk({ vm: 'web', target: 'vdc', deleteFile: true });
    // The guest never answers: after its grace period the file is not deleted and nothing changed.
    expect(await rejection(held)).toMatchObject({ code: 'invalid-state' });
    expect(m.get('web').definition!.disks.map((d) => d.target)).toEqual(['vda', 'vdc']);
  }, 30_000);
});

describe('vm.resizeDisk', () => {
  it('grows a stopped VM’s disk with qemu-img, a running one’s with block_resize, and refuses to shrink', async () => {
    const { m, launcher, vm } = await setup();
    const disk = vm.definition!.disks[0]!.path;
    expect(await rejection(m.resizeDisk({ vm: 'web', target: 'vda', sizeBytes: 2 ** 23 }))).toMatchObject({
      message:
        'vda of "web" is 16 MiB; shrinking a disk is refused, since it cuts off whatever the guest keeps at its end. Give a size above 16 MiB.',
    });
    expect(await rejection(m.resizeDisk({ vm: 'web', target: 'vda', sizeBytes: 2 ** 24 }))).toMatchObject({
      message: 'vda of "web" is already 16 MiB.',
    });
    const grown = await m.resizeDisk({ vm: 'web', target: 'vda', sizeBytes: 2 ** 25 });
    expect(virtualSize(disk)).toBe(2 ** 25);
    // The summary reads the size from the image's header (a raw image: its length).
    expect(grown.diskSizes).toEqual({ vda: 2 ** 25 });
    const raw = path.join(path.dirname(disk), 'extra.img');
    fs.writeFileSync(raw, Buffer.alloc(3 * 2 ** 20));
    expect((await m.addDisk({ vm: 'web', path: raw })).diskSizes).toEqual({ vda: 2 ** 25, vdb: 3 * 2 ** 20 });
    await m.removeDisk({ vm: 'web', target: 'vdb' });

    await m.start({ vm: 'web' });
    await m.resizeDisk({ vm: 'web', target: 'vda', sizeBytes: 2 ** 26 });
    expect(launcher.procs.at(-1)!.calls.find((c) => c.execute === 'block_resize')!.arguments).toEqual({
      'node-name': 'disk0',
      size: 2 ** 26,
    });
  });
});

describe('vm.convertDisk', () => {
  it('makes a qcow2 copy of a raw disk that takes its place, keeps the raw file, and refuses a running VM', async () => {
    const { m, file } = await setup();
    const raw = file('flat.img');
    fs.writeFileSync(raw, Buffer.alloc(2 ** 20));
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x61 4096 4k', raw]);
    await m.addDisk({ vm: 'web', path: raw });
    const after = await m.convertDisk({ vm: 'web', target: 'vdb' });
    const vdb = after.definition!.disks[1]!;
    expect(vdb).toMatchObject({ target: 'vdb', format: 'qcow2', owned: true });
    expect(
      execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0x61 4096 4k', vdb.path], { encoding: 'utf8' }),
    ).toContain('read 4096/4096');
    expect(after.notice).toContain(`The raw file ${raw} is kept as it was`);
    expect(fs.existsSync(raw)).toBe(true);
    expect(await rejection(m.convertDisk({ vm: 'web', target: 'vdb' }))).toMatchObject({
      message: 'vdb of "web" is qcow2 already.',
    });
    const raw2 = file('flat2.img');
    fs.writeFileSync(raw2, Buffer.alloc(2 ** 20));
    await m.addDisk({ vm: 'web', path: raw2 });
    await m.start({ vm: 'web' });
    expect(await rejection(m.convertDisk({ vm: 'web', target: 'vdc' }))).toMatchObject({ code: 'invalid-state' });
  });
});

describe('CD-ROM drives, boot order, firmware, memory', () => {
  it('adds drives, puts discs in by number, refuses a drive it does not have, and drops drives with their discs', async () => {
    const { m, file, launcher } = await setup();
    const iso = file('a.iso');
    fs.writeFileSync(iso, 'iso');
    expect((await m.update({ vm: 'web', cdromDrives: 2 })).definition!.cdroms).toEqual([null, null]);
    await m.insertCdrom({ vm: 'web', iso, drive: 1 });
    expect(await rejection(m.insertCdrom({ vm: 'web', iso, drive: 2 }))).toMatchObject({
      message: '"web" has 2 CD-ROM drives (numbered from 0), so there is no drive 2.',
      details: { field: 'drive' },
    });
    await m.update({ vm: 'web', boot: ['cdrom', 'disk', 'network'] });
    await m.start({ vm: 'web' });
    const argv = launcher.procs.at(-1)!.argv;
    expect(argv).toContain('ide-cd,bus=ide.0,id=cdrom0,bootindex=0');
    expect(argv).toContain('ide-cd,drive=cd1,bus=ide.1,id=cdrom1,bootindex=1');
    expect(argv).toContain('virtio-blk-pci,drive=disk0,id=virtio-disk0,bootindex=2');
    expect(argv.find((a) => a.startsWith('virtio-net-pci'))).toMatch(/,bootindex=3$/);
    await m.stop({ vm: 'web' });
    // One drive left: the disc in the second goes with it, and the boot order keeps the drive.
    const one = await m.update({ vm: 'web', cdromDrives: 1 });
    expect(one.definition!.cdroms).toEqual([null]);
    const none = await m.update({ vm: 'web', cdromDrives: 0 });
    expect(none.definition!.boot).toEqual(['disk', 'network']);
  });

  it('switching to UEFI gives the VM a fresh variable store; back to BIOS keeps it; no firmware refuses and changes nothing', async () => {
    const { m, paths } = await setup({ uefi: true });
    const uefi = await m.update({ vm: 'web', firmware: 'uefi' });
    const nvram = uefi.definition!.nvram!;
    expect(path.dirname(nvram)).toBe(path.join(paths.data, 'vms', uefi.id));
    expect(fs.readFileSync(nvram, 'utf8')).toBe('vars template');
    expect(fs.statSync(nvram).mode & 0o777).toBe(0o600);
    fs.writeFileSync(nvram, 'boot entries');
    const bios = await m.update({ vm: 'web', firmware: 'bios' });
    expect(bios.definition!.nvram).toBe(nvram);
    await m.update({ vm: 'web', firmware: 'uefi' });
    expect(fs.readFileSync(nvram, 'utf8')).toBe('boot entries');

    const plain = await setup();
    expect(await rejection(plain.m.update({ vm: 'web', firmware: 'uefi' }))).toMatchObject({ code: 'no-firmware' });
    expect(plain.m.get('web').definition!.firmware).toBe('bios');
    expect(plain.m.get('web').revision).toBe(plain.vm.revision);
  });

  it('warns about memory above 80 % of the host’s, once, in the answer (define and set)', async () => {
    const { m } = await setup();
    expect((await m.define({ name: 'big', memoryMiB: 3600, cpus: 1 })).notice).toMatch(/^3.5 GiB is 88 % of this host/);
    expect(m.get('big').notice).toBeUndefined();
    const near = await m.update({ vm: 'web', memoryMiB: 3600 });
    expect(near.notice).toBe(
      "3.5 GiB is 88 % of this host's 4 GiB of memory: the host may swap or kill programs once the guest uses it all. Give it at most 3.2 GiB to be safe.",
    );
    expect(m.get('web').notice).toBeUndefined();
    expect((await m.update({ vm: 'web', memoryMiB: 1024 })).notice).toBeUndefined();
  });
});

describe('a disk in the summary', () => {
  it('has the size the guest sees and the space its file takes on the host (a sparse image takes little)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-usage-'));
    try {
      const file = path.join(dir, 'sparse.raw');
      fs.writeFileSync(file, '');
      fs.truncateSync(file, 2 ** 30);
      fs.writeFileSync(file, Buffer.alloc(2 ** 20, 1), { flag: 'r+' });
      expect(virtualSizeOf({ path: file, format: 'raw' })).toBe(2 ** 30);
      const used = hostUsage({ path: file })!;
      expect(used).toBeGreaterThanOrEqual(2 ** 20);
      expect(used).toBeLessThan(2 ** 30 / 4);
      expect(hostUsage({ path: path.join(dir, 'gone.raw') })).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("shows a qcow2 image's new size once it is resized, and none once it is gone (the header is read again when the file changes)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-vsize-'));
    try {
      const file = path.join(dir, 'disk.qcow2');
      execFileSync(QEMU_IMG, ['create', '-q', '-f', 'qcow2', file, '32M']);
      expect(virtualSizeOf({ path: file, format: 'qcow2' })).toBe(2 ** 25);
      expect(virtualSizeOf({ path: file, format: 'qcow2' })).toBe(2 ** 25);
      execFileSync(QEMU_IMG, ['resize', '-q', '-f', 'qcow2', file, '64M']);
      expect(virtualSizeOf({ path: file, format: 'qcow2' })).toBe(2 ** 26);
      // Another image put in its place (a copy renamed over it) is read anew too.
      const other = path.join(dir, 'other.qcow2');
      execFileSync(QEMU_IMG, ['create', '-q', '-f', 'qcow2', other, '16M']);
      fs.renameSync(other, file);
      expect(virtualSizeOf({ path: file, format: 'qcow2' })).toBe(2 ** 24);
      fs.rmSync(file);
      expect(virtualSizeOf({ path: file, format: 'qcow2' })).toBeUndefined();
      // Not a qcow2 image at all.
      fs.writeFileSync(file, Buffer.alloc(64));
      expect(virtualSizeOf({ path: file, format: 'qcow2' })).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
