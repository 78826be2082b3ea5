import { describe, expect, it } from 'vitest';
import { VmdeskError } from '../../../main/common/errors.js';
import type { IsoPlan } from '../../store/store.js';
import { fakePlan } from '../../dev/fake-iso.js';
import { bootModes, firmwareWhy, formFromPlan, placeCreateError, recognition, toCreateParams } from './wizard-form.js';

const debian = fakePlan('/isos/debian-12.8.0-amd64-netinst.iso', 600 * 2 ** 20, []);
const generic: IsoPlan = {
  ...debian,
  os: { ...debian.os, source: 'generic', confidence: 'none', firmware: 'bios', id: '' },
  info: { ...debian.info, bootable: { bios: true, uefi: false } },
};

describe('the create wizard form', () => {
  it('is prefilled from the plan and maps back to vm.create params with every value', () => {
    const form = formFromPlan(debian);
    expect(form).toEqual({ name: debian.defaults.name, memory: '2048', cpus: '2', disk: '20', firmware: 'uefi' });
    expect(toCreateParams({ ...form, memory: '256' }, '/isos/d.iso', true)).toEqual({
      params: {
        iso: '/isos/d.iso',
        name: debian.defaults.name,
        memoryMiB: 256,
        cpus: 2,
        diskGiB: 20,
        firmware: 'uefi',
        start: true,
      },
    });
    expect(toCreateParams({ ...form, disk: '0' }, '/isos/d.iso', false)).toMatchObject({
      params: { diskGiB: 0, start: false },
    });
  });

  it('refuses what it can tell is wrong before asking the driver', () => {
    expect(
      toCreateParams({ name: ' ', memory: '1.5', cpus: '0', disk: '-2', firmware: 'bios' }, '/i.iso', true),
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
      { name: 'web\u200bserver', memory: '1024', cpus: '1', disk: '8', firmware: 'bios' },
      '/i.iso',
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
    expect(placeCreateError(new VmdeskError('no-qemu', 'install qemu-system-aarch64'))).toEqual({
      form: 'install qemu-system-aarch64',
    });
  });

  it('says whether the OS was recognised, how the disc boots, and why the firmware', () => {
    expect(recognition(debian)).toBe('Recognised from osinfo-db');
    expect(recognition(generic)).toBe('Not recognised: generic settings');
    expect(bootModes(debian)).toBe('BIOS and UEFI');
    expect(bootModes(generic)).toBe('BIOS only');
    expect(firmwareWhy(generic, 'bios')).toBe('The disc boots only with BIOS.');
    expect(firmwareWhy(generic, 'uefi')).toBe('This disc boots only with BIOS: with UEFI it will not start.');
    expect(firmwareWhy(debian, 'uefi')).toBe('The disc boots both ways; UEFI is the modern choice.');
    expect(firmwareWhy({ ...debian, os: { ...debian.os, tpm: true } }, 'uefi')).toBe(
      'Debian 12 requires UEFI with Secure Boot and a TPM 2.0.',
    );
  });
});
