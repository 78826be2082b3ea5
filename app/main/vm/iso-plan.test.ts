/**
 * What vmdesk proposes for an installer image (real fixture ISOs made with xorriso): Windows gets
 * Secure Boot, a TPM for 11, local time, Hyper-V and the devices it has drivers for; a Linux disc
 * that boots both ways gets UEFI when the host has it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import { buildFixtures, type FixtureName } from '../iso/fixtures/build-fixtures.js';
import { FakeHost } from './testing/fake-host.js';
import { defineInputFromPlan, findVirtioWin, planFromIso } from './iso-plan.js';
import { tempAppPaths } from '../paths/testing/temp-paths.js';
import { VmManager } from './vm-manager.js';

let fx: Record<FixtureName, string>;
let tmp: string;
beforeAll(() => {
  fx = buildFixtures();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vd-plan-'));
}, 120_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A host with 16 GiB and 8 CPUs; which firmware and swtpm it has is up to the test. */
class Host extends FakeHost {
  constructor(readonly has: { uefi?: boolean; secureBoot?: boolean; swtpm?: boolean }) {
    super('/usr/bin/qemu-system-x86_64');
  }
  override async uefiFirmware(_arch?: unknown, o: { secureBoot?: boolean } = {}) {
    if (!(o.secureBoot ? this.has.secureBoot : this.has.uefi))
      throw new VmdeskError('no-firmware', 'no such firmware in this test');
    // A vars template that exists: vm.create copies it.
    const vars = path.join(tmp, 'vars.fd');
    if (!fs.existsSync(vars)) fs.writeFileSync(vars, 'vars');
    return { code: '/c.fd', varsTemplate: vars, smm: !!o.secureBoot };
  }
  override async swtpm() {
    if (this.has.swtpm) return '/usr/bin/swtpm';
    return super.swtpm();
  }
  override hostMemoryMiB() {
    return 16384;
  }
  override hostCpus() {
    return 8;
  }
}
const full = new Host({ uefi: true, secureBoot: true, swtpm: true });

describe('planFromIso', () => {
  it('Windows 11: UEFI with Secure Boot, a TPM, 4 GiB, 2 CPUs, 64 GiB, local time, Hyper-V, SATA and e1000e', async () => {
    const plan = await planFromIso(fx.windows11, full, []);
    expect(plan.defaults).toMatchObject({
      firmware: 'uefi',
      secureBoot: true,
      tpm: true,
      cpus: 2,
      diskGiB: 64,
      diskBus: 'sata',
      nic: 'e1000e',
      clock: 'localtime',
      hyperv: true,
      drivers: null,
    });
    expect(plan.defaults.memoryMiB).toBeGreaterThanOrEqual(4096);
    expect(plan.warnings.join(' ')).not.toMatch(/TPM|swtpm|Secure Boot/);
    const input = defineInputFromPlan(plan, { iso: fx.windows11 });
    expect(input).toMatchObject({ secureBoot: true, tpm: true, diskBus: 'sata', nic: 'e1000e', clock: 'localtime' });
    expect(input.os?.id).toBe('http://microsoft.com/win/11');
    expect(input.moreCdroms).toBeUndefined();
  });

  it('Windows 10: the same without the TPM', async () => {
    const plan = await planFromIso(fx.windows10udf, full, []);
    expect(plan.defaults).toMatchObject({
      firmware: 'uefi',
      secureBoot: true,
      tpm: false,
      diskBus: 'sata',
      nic: 'e1000e',
    });
  });

  it('names swtpm’s package, and says Secure Boot is missing, when the host lacks them', async () => {
    const plan = await planFromIso(fx.windows11, new Host({ uefi: true }), []);
    expect(plan.defaults).toMatchObject({ tpm: true, secureBoot: false, firmware: 'uefi' });
    expect(plan.warnings).toContainEqual(expect.stringContaining('sudo apt install swtpm swtpm-tools'));
    expect(plan.warnings).toContainEqual(expect.stringMatching(/^No UEFI firmware with Secure Boot was found/));
  });

  it('offers a virtio-win disc it finds: a second CD-ROM, and virtio devices', async () => {
    const dir = path.join(tmp, 'downloads');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(fx.virtioWin, path.join(dir, 'virtio-win-0.1.262.iso'));
    // A file with the name but not the disc is not taken for it.
    fs.copyFileSync(fx.data, path.join(dir, 'virtio-win-fake.iso'));
    expect(await findVirtioWin([path.join(tmp, 'nowhere'), dir])).toBe(path.join(dir, 'virtio-win-0.1.262.iso'));
    const plan = await planFromIso(fx.windows11, full, [], [dir]);
    expect(plan.defaults).toMatchObject({
      drivers: path.join(dir, 'virtio-win-0.1.262.iso'),
      diskBus: 'virtio',
      nic: 'virtio',
    });
    expect(plan.driverSearch).toEqual([dir]);
    const input = defineInputFromPlan(plan, { iso: fx.windows11 });
    expect(input).toMatchObject({
      moreCdroms: [path.join(dir, 'virtio-win-0.1.262.iso')],
      diskBus: 'virtio',
      nic: 'virtio',
    });
    // Declined: no second disc, and the devices Windows has drivers for.
    const without = defineInputFromPlan(plan, { iso: fx.windows11, drivers: null });
    expect(without).toMatchObject({ diskBus: 'sata', nic: 'e1000e' });
    expect(without.moreCdroms).toBeUndefined();
  });

  it('a Linux disc that boots both ways: UEFI when the host has OVMF, BIOS when not; virtio and UTC', async () => {
    const plan = await planFromIso(fx.debian12, full, []);
    expect(plan.defaults).toMatchObject({
      firmware: 'uefi',
      secureBoot: false,
      tpm: false,
      diskBus: 'virtio',
      clock: 'utc',
    });
    expect((await planFromIso(fx.debian12, new Host({}), [])).defaults.firmware).toBe('bios');
    expect(plan.driverSearch).toBeUndefined();
  });

  it('says once that a data disc does not boot (issue 21: the plan repeated inspect’s warning)', async () => {
    const plan = await planFromIso(fx.data, full, []);
    expect(plan.info.bootable).toEqual({ bios: false, uefi: false });
    expect(plan.warnings.filter((w) => /not bootable|boot/.test(w))).toEqual([
      expect.stringMatching(/^This disc is not bootable \(it has no El Torito boot entry\)/),
    ]);
  });

  it('warns when the disk the OS wants is larger than the free space', async () => {
    const plan = await planFromIso(fx.windows11, full, [], [], 20 * 2 ** 30);
    expect(plan.warnings).toContain(
      'Microsoft Windows 11 wants a 64 GiB disk, and 20.0 GiB is free where vmdesk keeps disks: free space first (its installer refuses a disk under 64 GB).',
    );
    expect((await planFromIso(fx.windows11, full, [], [], 100 * 2 ** 30)).warnings.join()).not.toMatch(/GiB is free/);
  });

  it('asking for BIOS turns the proposal’s Secure Boot off', async () => {
    const plan = await planFromIso(fx.windows11, full, []);
    expect(defineInputFromPlan(plan, { iso: fx.windows11, firmware: 'bios' })).toMatchObject({
      firmware: 'bios',
      secureBoot: false,
    });
  });
});

describe('vm.create from a Windows 11 image', () => {
  it('says, with the answer, what the OS needs that the request turned off', async () => {
    const paths = tempAppPaths(fs.mkdtempSync(path.join(tmp, 'm-')));
    const m = new VmManager(paths, full);
    await m.init();
    try {
      const vm = await m.create({ iso: fx.windows11, diskGiB: 0, tpm: false, secureBoot: false });
      expect(vm.definition).toMatchObject({ tpm: false, secureBoot: false, firmware: 'uefi' });
      expect(vm.notice).toBe(
        `Microsoft Windows 11's installer refuses to continue without a TPM 2.0: turn it on with vmdesk set "Windows 11" --tpm on. Microsoft Windows 11 expects Secure Boot (its installer checks for it): turn it on with vmdesk set "Windows 11" --secure-boot on.`,
      );
      const proposed = await m.create({ iso: fx.windows11, diskGiB: 0, name: 'w2' });
      expect(proposed.notice).toBeUndefined();
    } finally {
      await m.detachAll();
    }
  });
});
