import { afterEach, describe, expect, it } from 'vitest';
import type { VmDefinition } from '../common/vm-types.js';
import { FakeNative } from '../host/testing/fakes.js';
import { fakeQemuCaps } from '../host/testing/caps.js';
import { buildSysfs, type BuiltSysfs } from './fixtures/build-sysfs.js';
import { GVT_UUID, gvtgHost } from './fixtures/hosts.js';
import { prepareMdevStart } from './start.js';
import { PLAIN_GUEST } from '../common/vm-types.js';

let built: BuiltSysfs | undefined;
afterEach(() => built?.cleanup());

const caps = fakeQemuCaps();
const def: VmDefinition = {
  version: 3,
  ...PLAIN_GUEST,
  id: '0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b',
  name: 'win10',
  arch: 'x86_64',
  memoryMiB: 4096,
  cpus: 2,
  accel: 'kvm',
  firmware: 'uefi',
  disks: [],
  cdroms: [],
  boot: ['disk'],
  network: { mode: 'user', forwards: [] },
  display: 'std',
  nvram: null,
  mdevs: [{ uuid: GVT_UUID, type: 'i915-GVTg_V5_4', parent: '0000:00:02.0', display: true }],
  createdAt: '2026-11-22T00:00:00.000Z',
};
const groups = { nameOf: async () => undefined, gidOf: async () => 36 };

describe('prepareMdevStart', () => {
  it('on a ready host: raises the soft memlock limit for QEMU and names the iGPU render node', async () => {
    built = buildSysfs(gvtgHost);
    const native = Object.assign(new FakeNative(), {
      memlock: { ok: true, value: { soft: 64 * 2 ** 20, hard: 'unlimited' } },
    });
    const plan = await prepareMdevStart(def, caps, [], {
      native,
      fs: built.fs,
      roots: built.roots,
      groups,
      user: 'ada',
      kernelRelease: '6.1.0',
    });
    expect(plan).toEqual({ renderNode: '/dev/dri/renderD128' });
    expect(native.memlock).toEqual({ ok: true, value: { soft: 'unlimited', hard: 'unlimited' } });
  });

  it("stops the start with the doctor's message when a device is in use elsewhere", async () => {
    built = buildSysfs(gvtgHost);
    const native = Object.assign(new FakeNative(), {
      memlock: { ok: true, value: { soft: 'unlimited', hard: 'unlimited' } },
    });
    const others = [{ id: 'other', name: 'linux', running: true, mdevs: [{ uuid: GVT_UUID }] }];
    await expect(
      prepareMdevStart(def, caps, others, {
        native,
        fs: built.fs,
        roots: built.roots,
        groups,
        user: 'ada',
        kernelRelease: '6.1.0',
      }),
    ).rejects.toThrow(/"win10" cannot start[\s\S]*in use by the running VM "linux"/);
  });

  it('does nothing for a VM without mediated devices', async () => {
    const native = new FakeNative();
    const before = native.memlock;
    expect(
      await prepareMdevStart({ ...def, mdevs: [] }, caps, [], {
        native,
        roots: { sysfsRoot: '/nonexistent', devRoot: '/nonexistent' },
      }),
    ).toEqual({});
    expect(native.memlock).toBe(before);
  });
});
