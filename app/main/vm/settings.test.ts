/**
 * vm.update through a real VmManager (temp XDG dirs, the in-process fake QEMU): what a change
 * writes, what a running VM defers to its next start, and every refusal leaving the file as it was.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import * as v from 'valibot';
import { VmDefinitionSchema, type VmSummary } from '../common/vm-types.js';
import { autostartDiff } from './settings.js';
import { tempAppPaths } from '../paths/testing/temp-paths.js';
import { FakeQemuLauncher } from '../qemu/testing/fake-launcher.js';
import { FakeHost } from './testing/fake-host.js';
import { VmManager } from './vm-manager.js';
import { isOurHelper } from './helper-process.js';
import { pidExists } from '../qemu/process.js';
import { vmFiles } from '../paths/vm-files.js';

const roots: string[] = [];
const managers: VmManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.detachAll();
});
afterAll(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

async function setup() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-'));
  roots.push(root);
  const paths = tempAppPaths(root);
  const launcher = new FakeQemuLauncher();
  const m = new VmManager(paths, new FakeHost(), { launcher, rungTimeoutMs: 200, startTimeoutMs: 2000 });
  managers.push(m);
  await m.init();
  const vm = await m.define({ name: 'web', memoryMiB: 64, cpus: 1 });
  const changed: VmSummary[] = [];
  m.events.on('vm.changed', (s) => changed.push(s));
  return { m, launcher, vm, changed };
}

const arg = (argv: readonly string[], flag: string) => argv[argv.indexOf(flag) + 1];
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );

describe('vm.update', () => {
  it('changes memory and CPUs of a stopped VM; its next start uses them', async () => {
    const { m, launcher, vm } = await setup();
    const after = await m.update({ vm: 'web', revision: vm.revision, memoryMiB: 128, cpus: 2 });
    expect(after.definition).toMatchObject({ memoryMiB: 128, cpus: 2 });
    expect(after.revision).toBeDefined();
    expect(after.revision).not.toBe(vm.revision);
    expect(JSON.parse(fs.readFileSync(vm.file, 'utf8'))).toMatchObject({ memoryMiB: 128, cpus: 2 });
    await m.start({ vm: 'web' });
    expect(arg(launcher.last.argv, '-m')).toBe('size=128M');
    expect(arg(launcher.last.argv, '-smp')).toBe('2');
  });

  it('refuses a change made against an older revision, and writes nothing', async () => {
    const { m, vm } = await setup();
    await m.update({ vm: 'web', revision: vm.revision, memoryMiB: 128 });
    const before = fs.readFileSync(vm.file, 'utf8');
    const err = await rejection(m.update({ vm: 'web', revision: vm.revision, cpus: 2 }));
    expect(err).toMatchObject({
      code: 'invalid-state',
      message: expect.stringMatching(/was changed since you opened it/),
    });
    expect(fs.readFileSync(vm.file, 'utf8')).toBe(before);
  });

  it('renames (the id and files stay), refuses a taken or invisible name, and tells every window', async () => {
    const { m, vm, changed } = await setup();
    await m.define({ name: 'db', memoryMiB: 64, cpus: 1 });
    expect(await rejection(m.update({ vm: 'web', name: 'DB ' }))).toMatchObject({ code: 'invalid-argument' });
    expect(await rejection(m.update({ vm: 'web', name: 'db' }))).toMatchObject({
      code: 'name-taken',
      details: { field: 'name' },
    });
    expect(await rejection(m.update({ vm: 'web', name: 'w\u200be' }))).toMatchObject({ details: { field: 'name' } });
    const renamed = await m.update({ vm: 'web', name: 'caf\u0065\u0301' });
    expect(renamed).toMatchObject({ id: vm.id, name: 'caf\u00e9', file: vm.file });
    expect(m.get('caf\u00e9').id).toBe(vm.id);
    expect(changed.at(-1)).toMatchObject({ id: vm.id, name: 'caf\u00e9' });
  });

  it('refuses more memory or CPUs than the host has, and booting from a CD-ROM that is not there', async () => {
    const { m, vm } = await setup();
    expect(await rejection(m.update({ vm: 'web', memoryMiB: 8192 }))).toMatchObject({
      code: 'insufficient-resources',
      details: { field: 'memory' },
    });
    expect(await rejection(m.update({ vm: 'web', cpus: 3 }))).toMatchObject({
      code: 'insufficient-resources',
      message: 'This host has 2 CPUs; give the VM at most 2.',
    });
    expect(await rejection(m.update({ vm: 'web', cdromDrives: 0, boot: ['cdrom', 'disk'] }))).toMatchObject({
      code: 'invalid-argument',
      message: '"web" has no CD-ROM drive to boot from. Add a drive first, or leave cdrom out of the boot order.',
      details: { field: 'boot' },
    });
    expect(await rejection(m.update({ vm: 'web', network: 'none', boot: ['network'] }))).toMatchObject({
      details: { field: 'boot' },
    });
    expect(m.get('web').revision).toBe(vm.revision);
  });

  it('leaves a running VM as it is and lists what applies at its next start', async () => {
    const { m, launcher } = await setup();
    await m.start({ vm: 'web' });
    const pid = launcher.last.pid;
    const s = await m.update({ vm: 'web', memoryMiB: 256, cpus: 2, display: 'virtio' });
    expect(s).toMatchObject({ state: 'running', pid });
    expect(s.pending).toEqual(['Memory: 64 MiB → 256 MiB', 'CPUs: 1 → 2', 'Display: std → virtio']);
    // Back to what runs: nothing pending.
    expect((await m.update({ vm: 'web', memoryMiB: 64, cpus: 1, display: 'std' })).pending).toBeUndefined();
    await m.update({ vm: 'web', memoryMiB: 256 });
    await m.stop({ vm: 'web' });
    expect(m.get('web').pending).toBeUndefined();
    await m.start({ vm: 'web' });
    expect(arg(launcher.last.argv, '-m')).toBe('size=256M');
  });

  it('answers without writing when nothing changes', async () => {
    const { m, vm } = await setup();
    const same = await m.update({ vm: 'web', memoryMiB: 64, cpus: 1 });
    expect(same.revision).toBe(vm.revision);
  });
});

describe('vm.update: Start with vmdesk (autostart)', () => {
  it('is off for a VM made without it, and a file written before it existed stays valid', async () => {
    const { vm } = await setup();
    expect(vm.definition?.autostart).toBeUndefined();
    const text = JSON.parse(fs.readFileSync(vm.file, 'utf8')) as Record<string, unknown>;
    expect('autostart' in text).toBe(false);
    expect(v.safeParse(VmDefinitionSchema, text).success).toBe(true);
    expect(v.safeParse(VmDefinitionSchema, { ...text, autostart: 'yes' }).success).toBe(false);
  });

  it('stores it on and takes it off; nothing is written when it does not change', async () => {
    const { m, vm } = await setup();
    const on = await m.update({ vm: 'web', revision: vm.revision, autostart: true });
    expect(on.definition?.autostart).toBe(true);
    expect(JSON.parse(fs.readFileSync(vm.file, 'utf8'))).toMatchObject({ autostart: true });
    expect((await m.update({ vm: 'web', autostart: true })).revision).toBe(on.revision);
    const off = await m.update({ vm: 'web', autostart: false });
    expect(off.definition?.autostart).toBeUndefined();
    expect('autostart' in (JSON.parse(fs.readFileSync(vm.file, 'utf8')) as object)).toBe(false);
    expect((await m.update({ vm: 'web', autostart: false })).revision).toBe(off.revision);
  });

  it('applies at once on a running VM: nothing pending, QEMU untouched', async () => {
    const { m, launcher } = await setup();
    await m.start({ vm: 'web' });
    const pid = launcher.last.pid;
    const s = await m.update({ vm: 'web', autostart: true });
    expect(s).toMatchObject({ state: 'running', pid, definition: { autostart: true } });
    expect(s.pending).toBeUndefined();
  });

  it('says the change in one line, apart from what waits for the next start', async () => {
    const { vm } = await setup();
    const m0 = () => vm.definition!;
    const base = m0();
    expect(autostartDiff(base, { ...base, autostart: true })).toEqual(['Start with vmdesk: off → on']);
    expect(autostartDiff({ ...base, autostart: true }, base)).toEqual(['Start with vmdesk: on → off']);
    expect(autostartDiff(base, base)).toEqual([]);
  });
});

/** A host with both UEFI builds (vars templates with known bytes) and, optionally, swtpm. */
class UefiHost extends FakeHost {
  constructor(
    readonly dir: string,
    readonly swtpmPath?: string,
  ) {
    super();
    fs.writeFileSync(path.join(dir, 'plain.fd'), 'plain template');
    fs.writeFileSync(path.join(dir, 'secure.fd'), 'template with keys enrolled');
  }
  override async uefiFirmware(_arch?: unknown, o: { secureBoot?: boolean } = {}) {
    return o.secureBoot
      ? { code: '/nonexistent/OVMF_CODE.ms.fd', varsTemplate: path.join(this.dir, 'secure.fd'), smm: true }
      : { code: '/nonexistent/OVMF_CODE.fd', varsTemplate: path.join(this.dir, 'plain.fd'), smm: false };
  }
  override async swtpm(): Promise<string> {
    return this.swtpmPath ?? super.swtpm();
  }
}

async function uefiSetup(swtpm?: string) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-'));
  roots.push(root);
  const paths = tempAppPaths(root);
  const launcher = new FakeQemuLauncher();
  const m = new VmManager(paths, new UefiHost(root, swtpm), { launcher, rungTimeoutMs: 200, startTimeoutMs: 5000 });
  managers.push(m);
  await m.init();
  const vm = await m.define({ name: 'win', memoryMiB: 64, cpus: 1 });
  return { m, launcher, vm, root };
}

describe('vm.update: Secure Boot and the TPM', () => {
  it('refuses Secure Boot on a BIOS VM, saying to switch to UEFI too; nothing changes', async () => {
    const { m, vm } = await uefiSetup();
    const err = await rejection(m.update({ vm: 'win', revision: vm.revision, secureBoot: true }));
    expect(err).toMatchObject({ code: 'invalid-argument', details: { field: 'secureBoot' } });
    expect((err as Error).message).toBe(
      'Secure Boot is part of UEFI, and "win" boots with BIOS. Switch it to UEFI as well (an OS installed with BIOS will not boot that way).',
    );
    expect(m.get('win').definition).toMatchObject({ firmware: 'bios', secureBoot: false, nvram: null });
  });

  it('gives Secure Boot its own variable store (keys enrolled) and keeps each store when switching back and forth', async () => {
    const { m, vm } = await uefiSetup();
    const on = await m.update({ vm: 'win', revision: vm.revision, firmware: 'uefi', secureBoot: true });
    const secure = on.definition!.nvram!;
    expect(path.basename(secure)).toBe('efivars-secure.fd');
    expect(fs.readFileSync(secure, 'utf8')).toBe('template with keys enrolled');
    expect(fs.statSync(secure).mode & 0o777).toBe(0o600);
    fs.writeFileSync(secure, 'boot entries of the Windows install');
    const off = await m.update({ vm: 'win', revision: on.revision, secureBoot: false });
    expect(path.basename(off.definition!.nvram!)).toBe('efivars.fd');
    expect(fs.readFileSync(off.definition!.nvram!, 'utf8')).toBe('plain template');
    const again = await m.update({ vm: 'win', revision: off.revision, secureBoot: true });
    expect(again.definition!.nvram).toBe(secure);
    expect(fs.readFileSync(secure, 'utf8')).toBe('boot entries of the Windows install');
    // Back to BIOS: Secure Boot goes with UEFI.
    const bios = await m.update({ vm: 'win', revision: again.revision, firmware: 'bios' });
    expect(bios.definition).toMatchObject({ firmware: 'bios', secureBoot: false });
  });

  it('refuses SATA for more disks than one AHCI controller has ports', async () => {
    const { m, vm } = await uefiSetup();
    let rev = vm.revision;
    for (let i = 0; i < 7; i++) rev = (await m.addDisk({ vm: 'win', sizeBytes: 2 ** 20 })).revision;
    const err = await rejection(m.update({ vm: 'win', revision: rev, diskBus: 'sata' }));
    expect((err as Error).message).toBe(
      '"win" has 7 disks, and SATA takes at most 6. Remove disks first, or keep virtio.',
    );
  });

  it('refuses to start a TPM VM on a host without swtpm, naming the package', async () => {
    const { m, vm, launcher } = await uefiSetup();
    await m.update({ vm: 'win', revision: vm.revision, tpm: true });
    const err = await rejection(m.start({ vm: 'win' }));
    expect(err).toMatchObject({ code: 'no-swtpm' });
    expect(launcher.spawnCount).toBe(0);
    expect(m.get('win').state).toBe('stopped');
  });

  const swtpm = ['/usr/bin/swtpm', '/usr/local/bin/swtpm'].find((p) => fs.existsSync(p));
  it.skipIf(!swtpm)('starts swtpm before QEMU (real swtpm, fake QEMU) and ends it with QEMU', async () => {
    const { m, vm, launcher } = await uefiSetup(swtpm);
    const on = await m.update({ vm: 'win', revision: vm.revision, firmware: 'uefi', secureBoot: true, tpm: true });
    expect(on.definition).toMatchObject({ tpm: true, secureBoot: true });
    await m.start({ vm: 'win' });
    const argv = launcher.last.argv;
    expect(argv).toContain('q35,pflash0=fw-code,pflash1=fw-vars,smm=on');
    expect(argv).toContain('driver=cfi.pflash01,property=secure,value=on');
    expect(argv).toContain('tpm-crb,tpmdev=tpm0');
    const files = vmFiles(m.paths, vm.id);
    const pid = Number(fs.readFileSync(files.swtpmPidfile, 'utf8'));
    expect(isOurHelper(pid, { kind: 'swtpm', marker: `dir=${files.tpmStateDir},mode=0600` })).toBe(true);
    expect(fs.statSync(files.swtpmSocket).isSocket()).toBe(true);
    await m.stop({ vm: 'win' });
    // The fake QEMU never connected, so swtpm's own end (--terminate) cannot fire: the run's end
    // ended it, and the VM is stopped only once it has.
    expect(pidExists(pid) && isOurHelper(pid, { kind: 'swtpm', marker: `dir=${files.tpmStateDir},mode=0600` })).toBe(
      false,
    );
    expect(m.get('win').state).toBe('stopped');
  });
});

describe('disks of a VM on the SATA bus', () => {
  it('are added to a running VM for its next start (no hot-plug), and at most six', async () => {
    const { m, launcher, vm } = await setup();
    await m.update({ vm: 'web', revision: vm.revision, diskBus: 'sata' });
    await m.start({ vm: 'web' });
    const added = await m.addDisk({ vm: 'web', sizeBytes: 2 ** 20 });
    expect(added.definition!.disks.map((d) => d.target)).toEqual(['vda']);
    expect(added.live?.disks).toEqual([]);
    expect(launcher.last.calls.some((c) => c.execute === 'device_add')).toBe(false);
    const log = fs.readFileSync(vmFiles(m.paths, vm.id).driverLog, 'utf8');
    expect(log).toContain('(at its next start: SATA disks cannot be plugged in while the VM runs)');
    await m.stop({ vm: 'web' });
    for (let i = 1; i < 6; i++) await m.addDisk({ vm: 'web', sizeBytes: 2 ** 20 });
    const err = await rejection(m.addDisk({ vm: 'web', sizeBytes: 2 ** 20 }));
    expect((err as Error).message).toBe(
      '"web" has 6 SATA disks, as many as its controller takes. Remove one first, or switch its disk bus to virtio.',
    );
  });
});
