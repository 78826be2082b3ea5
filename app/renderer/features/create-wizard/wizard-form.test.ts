import { describe, expect, it } from 'vitest';
import { VmdeskError } from '../../../main/common/errors.js';
import type { IsoPlan } from '../../store/store.js';
import { DEMO_VIRTIO_WIN, fakePlan } from '../../dev/fake-iso.js';
import {
  bootModes,
  discBoots,
  firmwareWhy,
  formFromPlan,
  guestDevices,
  loadDriverHint,
  offersDrivers,
  placeCreateError,
  recognition,
  toCreateParams,
  tpmWhy,
  windowsReadyLines,
  type WizardForm,
} from './wizard-form.js';

const debian = fakePlan('/isos/debian-12.8.0-amd64-netinst.iso', 600 * 2 ** 20, []);
const win11 = fakePlan('/isos/Win11_23H2_English_x64.iso', 6 * 2 ** 30, []);
const win10 = fakePlan('/isos/Win10_22H2_English_x64.iso', 5 * 2 ** 30, []);
const generic: IsoPlan = {
  ...debian,
  os: { ...debian.os, source: 'generic', confidence: 'none', firmware: 'bios', id: '' },
  info: { ...debian.info, bootable: { bios: true, uefi: false } },
};
const plain: Omit<WizardForm, 'name' | 'memory' | 'cpus' | 'disk' | 'firmware'> = { tpm: false, drivers: '' };

describe('the create wizard form', () => {
  it('is prefilled from the plan and maps back to vm.create params with every value', () => {
    const form = formFromPlan(debian);
    expect(form).toEqual({
      name: debian.defaults.name,
      memory: '2048',
      cpus: '2',
      disk: '20',
      firmware: 'uefi',
      tpm: false,
      drivers: '',
    });
    expect(toCreateParams({ ...form, memory: '256' }, debian, true)).toEqual({
      params: {
        iso: debian.info.path,
        name: debian.defaults.name,
        memoryMiB: 256,
        cpus: 2,
        diskGiB: 20,
        firmware: 'uefi',
        secureBoot: false,
        tpm: false,
        diskBus: 'virtio',
        nic: 'virtio',
        clock: 'utc',
        hyperv: false,
        drivers: null,
        start: true,
      },
    });
    expect(toCreateParams({ ...form, disk: '0' }, debian, false)).toMatchObject({
      params: { diskGiB: 0, start: false },
    });
  });

  it('proposes UEFI with Secure Boot and a TPM for Windows 11, and sends the Windows-ready devices', () => {
    const form = formFromPlan(win11);
    expect(form).toMatchObject({ firmware: 'uefi-secure', tpm: true, drivers: '' });
    expect(toCreateParams(form, win11, false)).toEqual({
      params: expect.objectContaining({
        firmware: 'uefi',
        secureBoot: true,
        tpm: true,
        diskBus: 'sata',
        nic: 'e1000e',
        clock: 'localtime',
        hyperv: true,
        drivers: null,
      }),
    });
    // Plain UEFI or BIOS: no Secure Boot is sent, whatever the plan proposed.
    expect(toCreateParams({ ...form, firmware: 'uefi' }, win11, false)).toMatchObject({
      params: { firmware: 'uefi', secureBoot: false },
    });
    expect(toCreateParams({ ...form, firmware: 'bios' }, win11, false)).toMatchObject({
      params: { firmware: 'bios', secureBoot: false },
    });
  });

  it('attaches a found driver disc with virtio devices, or none with SATA and e1000e when unticked', () => {
    const form = formFromPlan(win10);
    expect(form).toMatchObject({ firmware: 'uefi-secure', tpm: false, drivers: DEMO_VIRTIO_WIN });
    expect(toCreateParams(form, win10, false)).toMatchObject({
      params: { drivers: DEMO_VIRTIO_WIN, diskBus: 'virtio', nic: 'virtio' },
    });
    // "null = none even if found": unticked, the driver must not attach the one it found.
    expect(toCreateParams({ ...form, drivers: '' }, win10, false)).toMatchObject({
      params: { drivers: null, diskBus: 'sata', nic: 'e1000e' },
    });
  });

  it('takes a typed driver disc path for Windows, and refuses one that is not a full path', () => {
    const form = formFromPlan(win11);
    expect(toCreateParams({ ...form, drivers: ' /srv/virtio-win.iso ' }, win11, false)).toMatchObject({
      params: { drivers: '/srv/virtio-win.iso', diskBus: 'virtio', nic: 'virtio' },
    });
    expect(toCreateParams({ ...form, drivers: 'virtio-win.iso' }, win11, false)).toEqual({
      errors: { drivers: expect.stringMatching(/^Type the full path of the driver disc/) },
    });
  });

  it('picks the devices a guest has drivers for', () => {
    expect(guestDevices(win11, false)).toEqual({ diskBus: 'sata', nic: 'e1000e' });
    expect(guestDevices(win11, true)).toEqual({ diskBus: 'virtio', nic: 'virtio' });
    // The plan of Windows 10 proposes virtio because it found the disc; without it, SATA.
    expect(win10.defaults.diskBus).toBe('virtio');
    expect(guestDevices(win10, false)).toEqual({ diskBus: 'sata', nic: 'e1000e' });
    expect(guestDevices(debian, false)).toEqual({ diskBus: 'virtio', nic: 'virtio' });
    expect(offersDrivers(win11)).toBe(true);
    expect(offersDrivers(debian)).toBe(false);
  });

  it('refuses what it can tell is wrong before asking the driver', () => {
    expect(
      toCreateParams({ name: ' ', memory: '1.5', cpus: '0', disk: '-2', firmware: 'bios', ...plain }, debian, true),
    ).toEqual({
      errors: {
        name: 'Give the VM a name.',
        memory: 'Enter the memory in MiB, e.g. 2048.',
        cpus: 'Enter a number of CPUs, e.g. 2.',
        disk: 'Enter a size in GiB, or 0 for no disk.',
      },
    });
  });

  it("refuses a name by the driver's own rule (an invisible name), before asking it", () => {
    const r = toCreateParams(
      { name: 'web\u200bserver', memory: '1024', cpus: '1', disk: '8', firmware: 'bios', ...plain },
      debian,
      true,
    );
    expect(r).toEqual({ errors: { name: expect.stringMatching(/invisible characters \(U\+200B/) } });
  });

  it('puts a driver error next to the field it names, others on top', () => {
    expect(placeCreateError(new VmdeskError('name-taken', 'taken', { field: 'name' }))).toEqual({ name: 'taken' });
    expect(placeCreateError(new VmdeskError('insufficient-resources', 'too big', { field: 'diskSize' }))).toEqual({
      disk: 'too big',
    });
    expect(placeCreateError(new VmdeskError('invalid-argument', 'bad', { field: 'diskGiB' }))).toEqual({ disk: 'bad' });
    expect(placeCreateError(new VmdeskError('invalid-argument', 'no SB', { field: 'secureBoot' }))).toEqual({
      firmware: 'no SB',
    });
    expect(placeCreateError(new VmdeskError('no-qemu', 'install qemu-system-aarch64'))).toEqual({
      form: 'install qemu-system-aarch64',
    });
  });

  it('puts a refused driver disc next to its input, and a refused installer on top', () => {
    const missing = new VmdeskError('invalid-argument', 'The ISO image /srv/vw.iso does not exist. Check the path.', {
      field: 'cdrom',
    });
    expect(placeCreateError(missing, '/srv/vw.iso')).toEqual({ drivers: missing.message });
    expect(placeCreateError(missing, '')).toEqual({ form: missing.message });
    expect(placeCreateError(missing, '/other.iso')).toEqual({ form: missing.message });
  });

  it('says whether the OS was recognised, how the disc boots, and why the firmware', () => {
    expect(recognition(debian)).toBe('Recognised from osinfo-db');
    expect(recognition(generic)).toBe('Not recognised: generic settings');
    expect(bootModes(debian)).toBe('BIOS and UEFI');
    expect(bootModes(generic)).toBe('BIOS only');
    expect(firmwareWhy(generic, 'bios')).toBe('The disc boots only with BIOS.');
    expect(firmwareWhy(generic, 'uefi')).toBe('This disc boots only with BIOS: with UEFI it will not start.');
    expect(firmwareWhy(generic, 'uefi-secure')).toBe('This disc boots only with BIOS: with UEFI it will not start.');
    expect(firmwareWhy(debian, 'uefi')).toBe('The disc boots both ways; UEFI is the modern choice.');
    expect(firmwareWhy(debian, 'uefi-secure')).toMatch(/^Only signed boot loaders start/);
    expect(firmwareWhy(win11, 'uefi-secure')).toBe(
      'Microsoft Windows 11 requires UEFI with Secure Boot and a TPM 2.0.',
    );
    expect(firmwareWhy(win11, 'uefi')).toMatch(/without it, its installer stops with “This PC can’t run Windows 11”/);
    expect(firmwareWhy({ ...debian, defaults: { ...debian.defaults, arch: 'aarch64' } }, 'uefi-secure')).toMatch(
      /x86_64 VMs only/,
    );
  });

  it('does not claim a disc that does not boot boots both ways (issue 21)', () => {
    const data: IsoPlan = {
      ...generic,
      os: { ...generic.os, firmware: 'either' },
      info: { ...generic.info, bootable: { bios: false, uefi: false } },
    };
    expect(discBoots(data)).toBe(false);
    expect(discBoots(debian)).toBe(true);
    expect(bootModes(data)).toBe('Not bootable');
    for (const f of ['bios', 'uefi', 'uefi-secure'] as const)
      expect(firmwareWhy(data, f)).toBe(
        'This disc does not boot with either firmware: the VM needs another way to start (a disk with a system, or the network).',
      );
  });

  it('says what the TPM means for the OS', () => {
    expect(tpmWhy(win11, false)).toBe('Microsoft Windows 11’s installer refuses to continue without a TPM 2.0.');
    expect(tpmWhy(win11, true)).toMatch(/^Emulated by swtpm/);
    expect(tpmWhy(debian, false)).toMatch(/most other guests do not need it/);
  });

  it('sums up the Windows-ready devices, and where Setup finds the disk driver', () => {
    expect(windowsReadyLines(win11, false)).toEqual([
      'SATA disk and Intel e1000e network card: Windows has drivers for them, so Setup sees the disk and the network at once.',
      'The clock keeps local time, as Windows expects.',
      'Hyper-V enlightenments, so Windows runs faster under KVM (TCG ignores them).',
    ]);
    expect(windowsReadyLines(win10, true)[0]).toMatch(/^Virtio disk and network card/);
    expect(loadDriverHint(win11)).toBe(
      'Windows Setup lists no disk until you click Load driver and pick viostor\\w11\\amd64 on the driver disc.',
    );
    expect(loadDriverHint(win10)).toMatch(/pick viostor\\w10\\amd64 on the driver disc\.$/);
  });
});
