import { describe, expect, it } from 'vitest';
import { VmdeskError } from '../../../main/common/errors.js';
import { vmNameProblem } from '../../../main/common/names.js';
import { DEFAULT_FORM, placeError, toDefineInput } from './new-vm-form.js';

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
});
