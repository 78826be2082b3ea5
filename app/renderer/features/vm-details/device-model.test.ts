import { describe, expect, it } from 'vitest';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { sampleDefinition } from '../../dev/fake-data.js';
import {
  canAddDrive,
  cdromLive,
  diskGrowProblem,
  diskRemoveProblem,
  diskStatus,
  dropDrive,
  parseDiskSize,
  runningCdromDrives,
} from './device-model.js';

const ID = '8b1e0f57-2c4d-4e6f-a1b3-9d8c7e6f5a41';
const GiB = 2 ** 30;
const MiB = 2 ** 20;
const disk = (target: string, over = {}) => ({
  path: `/d/${target}.qcow2`,
  target,
  format: 'qcow2' as const,
  owned: true,
  readOnly: false,
  ...over,
});
const vmWith = (over: Partial<VmSummary>, def = {}): VmSummary => ({
  id: ID,
  name: 'web',
  state: 'running',
  file: '/f.json',
  definition: sampleDefinition(ID, 'web', { disks: [disk('vda'), disk('vdb')], cdroms: [null], ...def }),
  ...over,
});

describe('disk sizes as typed', () => {
  it('reads GiB, MiB, TiB with or without the i and the B; a bare number is GiB', () => {
    expect(parseDiskSize('20 GiB')).toEqual({ bytes: 20 * GiB });
    expect(parseDiskSize('20G')).toEqual({ bytes: 20 * GiB });
    expect(parseDiskSize('20gb')).toEqual({ bytes: 20 * GiB });
    expect(parseDiskSize('20')).toEqual({ bytes: 20 * GiB });
    expect(parseDiskSize(' 64 MiB ')).toEqual({ bytes: 64 * MiB });
    expect(parseDiskSize('1.5 TiB')).toEqual({ bytes: 1.5 * 1024 * GiB });
    expect(parseDiskSize('2,5 G')).toEqual({ bytes: 2.5 * GiB });
  });

  it('rounds to whole MiB (qemu-img wants whole sectors)', () => {
    expect(parseDiskSize('0.3 G')).toEqual({ bytes: 307 * MiB });
  });

  it('says what to type for text it cannot read, and refuses sizes out of range', () => {
    expect(parseDiskSize('big')).toEqual({ error: expect.stringMatching(/^Enter a size like 20 GiB/) });
    expect(parseDiskSize('')).toEqual({ error: expect.stringMatching(/^Enter a size/) });
    expect(parseDiskSize('-5G')).toEqual({ error: expect.stringMatching(/^Enter a size/) });
    expect(parseDiskSize('100 K')).toEqual({ error: 'A disk must be at least 1 MiB.' });
    expect(parseDiskSize('2 P')).toEqual({ error: 'A disk can be at most 1 PiB.' });
  });
});

describe('what of a running VM is live', () => {
  it('calls a disk the QEMU has live, and one added but not plugged in "next start"', () => {
    const vm = vmWith({ live: { disks: [{ target: 'vda', path: '/d/vda.qcow2' }], cdromDrives: 1 } });
    const s = diskStatus(vm);
    expect(s.of.get('vda')).toBe('live');
    expect(s.of.get('vdb')).toBe('next-start');
    expect(s.stillAttached).toEqual([]);
  });

  it('lists a removed disk the guest still holds until its next start', () => {
    const vm = vmWith({
      live: {
        disks: [
          { target: 'vda', path: '/d/vda.qcow2' },
          { target: 'vdb', path: '/d/vdb.qcow2' },
          { target: 'vdc', path: '/x/data.raw' },
        ],
        cdromDrives: 1,
      },
    });
    expect(diskStatus(vm).stillAttached).toEqual([{ target: 'vdc', file: 'data.raw' }]);
  });

  it('counts the CD-ROM drives the running QEMU has', () => {
    const two = vmWith({ live: { disks: [], cdromDrives: 1 } }, { cdroms: [null, null] });
    expect(runningCdromDrives(two)).toBe(1);
    expect(cdromLive(two, 0)).toBe(true);
    expect(cdromLive(two, 1)).toBe(false);
    expect(runningCdromDrives(vmWith({}, { cdroms: [null, null] }))).toBe(2);
    const stopped = vmWith({ state: 'stopped' }, { cdroms: [null] });
    expect(runningCdromDrives(stopped)).toBeUndefined();
    expect(cdromLive(stopped, 0)).toBe(false);
  });
});

describe('where a dropped ISO goes', () => {
  it('into the first empty drive', () => {
    expect(dropDrive(['/a.iso', null, null])).toEqual({ drive: 1 });
    expect(dropDrive([null])).toEqual({ drive: 0 });
  });

  it('asks when every drive holds a disc, or there is none', () => {
    expect(dropDrive(['/a.iso', '/b.iso'])).toEqual({ choose: true });
    expect(dropDrive([])).toEqual({ choose: true });
  });

  it('offers another drive up to the limit', () => {
    expect(canAddDrive([null, null, null])).toBe(true);
    expect(canAddDrive([null, null, null, null])).toBe(false);
  });
});

describe('what a disk allows', () => {
  it("refuses to remove a running VM's boot disk, and the base of linked clones", () => {
    const vm = vmWith({});
    expect(diskRemoveProblem(vm, disk('vda'))).toMatch(/boots from, and the VM is running/);
    expect(diskRemoveProblem(vm, disk('vdb'))).toBeUndefined();
    expect(diskRemoveProblem({ ...vm, state: 'stopped' }, disk('vda'))).toBeUndefined();
    expect(diskRemoveProblem(vm, disk('vdb', { linkedClones: [ID] }))).toMatch(/base of 1 linked clone/);
  });

  it('refuses to grow a read-only disk or a base of linked clones', () => {
    expect(diskGrowProblem(disk('vdb', { readOnly: true }))).toBe('It is read-only.');
    expect(diskGrowProblem(disk('vdb', { linkedClones: [ID] }))).toMatch(/linked clones/);
    expect(diskGrowProblem(disk('vdb'))).toBeUndefined();
  });
});
