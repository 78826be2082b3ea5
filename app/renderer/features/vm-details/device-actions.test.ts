/**
 * The Settings view's device calls and an ISO dropped on a VM, through the store, on the demo
 * fake (app/renderer/dev/fake-api.ts, which mirrors the driver: hot-plug on a running VM, discs
 * live in the drives its QEMU has, `pending` for the rest). The real driver's side is tested in
 * app/main/vm and e2e/settings-ui.int.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { setIntake } from '../../api/current.js';
import { createFakeApi, type FakeApi } from '../../dev/fake-api.js';
import { addDisk, connectStore, ejectCdrom, insertCdrom, resetStore, setCdromDrives } from '../../store/actions.js';
import { dropIsoOnVm, insertDroppedIso } from '../../store/iso-drop-actions.js';
import { store } from '../../store/store.js';
import { cdromLive, diskStatus } from './device-model.js';

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

const byName = (name: string): VmSummary => {
  const vm = Object.values(store.getState().vms).find((v) => v.name === name);
  if (!vm) throw new Error(`no ${name}`);
  return vm;
};

/** Electron's way in: a dropped file has its own path (the shell's webUtils.getPathForFile). */
const pathIntake = (path: string) => setIntake({ kind: 'path', pathFor: () => path, pick: async () => null });

describe('devices from the Settings view', () => {
  let fake: FakeApi;
  let disconnect: () => void;

  beforeEach(async () => {
    resetStore();
    setIntake(null);
    fake = createFakeApi({ latencyMs: 0 });
    disconnect = connectStore(fake);
    await until(() => store.getState().listLoaded);
  });
  afterEach(() => disconnect());

  it('plugs a new disk into a running VM at once: nothing about it is pending', async () => {
    const vm = byName('debian-web');
    const after = await addDisk(vm.id, { sizeBytes: 64 * 2 ** 20 });
    expect(after.definition!.disks.map((d) => d.target)).toEqual(['vda', 'vdb']);
    expect(diskStatus(after).of.get('vdb')).toBe('live');
    expect(after.pending).toBeUndefined();
    expect(store.getState().vms[vm.id]!.definition!.disks).toHaveLength(2);
  });

  it('changes the disc of a drive the running QEMU has at once; a drive added since waits for the next start', async () => {
    const vm = byName('debian-web');
    const more = await setCdromDrives(vm.id, 3);
    expect(more.pending).toEqual(['CD-ROM drives: 2 → 3']);
    const second = await insertCdrom(vm.id, '/isos/drivers.iso', 1);
    expect(cdromLive(second, 1)).toBe(true);
    const third = await insertCdrom(vm.id, '/isos/tools.iso', 2);
    expect(cdromLive(third, 2)).toBe(false);
    expect(third.definition!.cdroms).toEqual([vm.definition!.cdroms[0], '/isos/drivers.iso', '/isos/tools.iso']);
    const ejected = await ejectCdrom(vm.id, 1);
    expect(ejected.definition!.cdroms[1]).toBeNull();
    await expect(ejectCdrom(vm.id, 1)).rejects.toThrow('CD-ROM drive 1 of "debian-web" is already empty.');
  });

  it('puts an ISO dropped on a VM into its first empty drive (a path in Electron)', async () => {
    const vm = byName('debian-web'); // drive 0 holds the netinst, drive 1 is empty
    pathIntake('/home/ada/Downloads/virtio-win.iso');
    await dropIsoOnVm(vm.id, new File(['x'], 'virtio-win.iso'));
    expect(store.getState().isoDrop).toEqual({
      step: 'done',
      vmId: vm.id,
      fileName: 'virtio-win.iso',
      message: 'Inserted virtio-win.iso into CD-ROM 2 of “debian-web”: the guest sees it now.',
    });
    expect(store.getState().vms[vm.id]!.definition!.cdroms[1]).toBe('/home/ada/Downloads/virtio-win.iso');
    expect(store.getState().selectedId).toBe(vm.id);
  });

  it('uploads a dropped ISO first in a browser, then inserts the stored copy', async () => {
    const vm = byName('fedora-41-workstation'); // one empty drive
    setIntake({ kind: 'upload', upload: (f, onProgress) => fake.uploadIso(f, onProgress) });
    const iso = new File([new Uint8Array(40_000)], 'rescue.iso');
    const dropped = dropIsoOnVm(vm.id, iso);
    expect(store.getState().isoDrop).toMatchObject({ step: 'upload', fileName: 'rescue.iso' });
    await dropped;
    expect(store.getState().isoDrop).toMatchObject({ step: 'done' });
    expect(store.getState().vms[vm.id]!.definition!.cdroms[0]).toMatch(/\/isos\/rescue\.iso$/);
  });

  it('asks which drive when every drive holds a disc, and can add one for it', async () => {
    const vm = byName('fedora-41-workstation');
    await insertCdrom(vm.id, '/isos/first.iso', 0);
    pathIntake('/isos/second.iso');
    await dropIsoOnVm(vm.id, new File(['x'], 'second.iso'));
    expect(store.getState().isoDrop).toEqual({
      step: 'choose',
      vmId: vm.id,
      fileName: 'second.iso',
      path: '/isos/second.iso',
    });
    await insertDroppedIso(vm.id, '/isos/second.iso', 1);
    expect(store.getState().isoDrop).toMatchObject({ step: 'done' });
    expect(store.getState().vms[vm.id]!.definition!.cdroms).toEqual(['/isos/first.iso', '/isos/second.iso']);
  });

  it('says why a drop was not inserted, in the driver’s words', async () => {
    const vm = byName('fedora-41-workstation');
    pathIntake('/isos/notes.txt');
    await dropIsoOnVm(vm.id, new File(['x'], 'notes.txt'));
    expect(store.getState().isoDrop).toMatchObject({
      step: 'failed',
      message: 'There is no ISO image at /isos/notes.txt. Check the path.',
    });
  });
});
