import { describe, expect, it } from 'vitest';
import { VmdeskError } from '../../../main/common/errors.js';
import { vmNameProblem } from '../../../main/common/names.js';
import * as contract from '../../../main/common/vm-types.js';
import { DEFAULT_FORM, MAX_CPUS, MIN_MEMORY_MIB, placeError, toDefineInput } from './new-vm-form.js';

describe('the New VM form', () => {
  it('asks for a 20 GiB disk by default and omits an empty ISO', () => {
    expect(toDefineInput({ ...DEFAULT_FORM, name: 'x' })).toEqual({
      input: { name: 'x', memoryMiB: 1024, cpus: 1, accel: 'auto', disk: { sizeBytes: 20 * 2 ** 30 } },
    });
  });

  it('omits the disk for size 0 and passes the ISO path', () => {
    const r = toDefineInput({ ...DEFAULT_FORM, name: 'x', disk: '0', iso: ' /isos/d.iso ' });
    expect(r).toEqual({ input: { name: 'x', memoryMiB: 1024, cpus: 1, accel: 'auto', cdrom: '/isos/d.iso' } });
  });

  it('refuses numbers it cannot read before asking the driver', () => {
    expect(toDefineInput({ ...DEFAULT_FORM, name: 'x', memory: '', cpus: 'two', disk: '-1' })).toEqual({
      errors: {
        memory: 'Enter the memory in MiB, e.g. 2048.',
        cpus: 'Enter a number of CPUs, e.g. 2.',
        disk: 'Enter a size in GiB, or 0 for no disk.',
      },
    });
  });

  it("refuses a name by the driver's own rule, before asking it", () => {
    expect(toDefineInput({ ...DEFAULT_FORM, name: 'evil\u202eexe' })).toEqual({
      errors: { name: vmNameProblem('evil\u202eexe') },
    });
    expect(vmNameProblem('evil\u202eexe')).toMatch(/text-direction controls/);
    expect(toDefineInput({ ...DEFAULT_FORM, name: '\u200b' })).toEqual({ errors: { name: vmNameProblem('\u200b') } });
  });

  it('puts a contract refusal (its own field names) next to the input', () => {
    const e = new VmdeskError('invalid-argument', 'Memory must be a whole number of MiB, not 128.5.', {
      field: 'memoryMiB',
    });
    expect(placeError(e)).toEqual({ memory: 'Memory must be a whole number of MiB, not 128.5.' });
  });

  it('puts a driver error next to the field it names', () => {
    expect(placeError(new VmdeskError('invalid-argument', 'bad iso', { field: 'cdrom' }))).toEqual({ iso: 'bad iso' });
    expect(placeError(new VmdeskError('insufficient-resources', 'too big', { field: 'diskSize' }))).toEqual({
      disk: 'too big',
    });
    expect(placeError(new VmdeskError('no-qemu', 'install qemu'))).toEqual({ form: 'install qemu' });
  });

  it("uses the contract's limits for memory and CPUs", () => {
    expect(MIN_MEMORY_MIB).toBe(contract.MIN_MEMORY_MIB);
    expect(MAX_CPUS).toBe(contract.MAX_CPUS);
  });

  it('tells every problem in one submit: a name that is taken and too little memory', () => {
    const r = toDefineInput({ ...DEFAULT_FORM, name: 'debian-12', memory: '8' }, ['debian-12', 'other']);
    expect(r).toEqual({
      errors: {
        name: 'A VM named "debian-12" already exists. Choose another name.',
        memory: 'Give the VM at least 16 MiB of memory, e.g. 1024.',
      },
    });
  });

  it('refuses CPU counts and memory the driver would refuse, all at once', () => {
    expect(toDefineInput({ ...DEFAULT_FORM, name: 'x', memory: '512.5', cpus: '0', disk: '0.0001' }, [])).toEqual({
      errors: {
        memory: 'Enter a whole number of MiB, e.g. 2048.',
        cpus: 'Give the VM from 1 to 255 CPUs.',
        disk: 'A new disk must be at least 1 MiB: enter a size in GiB such as 20, or 0 for no disk.',
      },
    });
    expect(toDefineInput({ ...DEFAULT_FORM, name: 'x', cpus: '256' }, [])).toEqual({
      errors: { cpus: 'Give the VM from 1 to 255 CPUs.' },
    });
  });

  it('compares names the way the driver does (one spelling of é is the other)', () => {
    expect(toDefineInput({ ...DEFAULT_FORM, name: 'caf\u00e9' }, ['cafe\u0301'])).toEqual({
      errors: { name: 'A VM named "caf\u00e9" already exists. Choose another name.' },
    });
  });
});
