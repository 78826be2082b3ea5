import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeRun } from '../host/testing/fakes.js';
import type { VmDefinition } from '../common/vm-types.js';
import { discoverMdev, type DiscoverOptions } from './discover.js';
import { parseMdevctlDump } from './mdevctl.js';
import { createPciNames, findNames } from './pci-ids.js';
import { buildSysfs, type BuiltSysfs, type SysfsFixture } from './fixtures/build-sysfs.js';
import {
  GVT_UUID,
  gvtgDisabledHost,
  gvtgHost,
  intelUhd630,
  MTTY_UUID,
  newIntelHost,
  nvidiaGridHost,
  nvidiaVendorVfioHost,
  PCI_IDS,
  samplesHost,
} from './fixtures/hosts.js';

let built: BuiltSysfs[] = [];
afterEach(() => {
  for (const b of built) b.cleanup();
  built = [];
});

function host(f: SysfsFixture): BuiltSysfs {
  const b = buildSysfs(f);
  built.push(b);
  return b;
}

const vm = (name: string, uuids: string[]): Pick<VmDefinition, 'id' | 'name' | 'mdevs'> => ({
  id: `0f3c1a2b-6d7e-4f80-9a1b-${String(name.length).padStart(12, '0')}`,
  name,
  mdevs: uuids.map((uuid) => ({ uuid, type: 'x', parent: 'y', display: false })),
});

async function discover(b: BuiltSysfs, extra: Partial<DiscoverOptions> = {}) {
  return discoverMdev({ fs: b.fs, roots: b.roots, pciNames: createPciNames(b.fs, [b.pciIdsPath]), ...extra });
}

describe('discoverMdev on real-looking hosts', () => {
  it('finds the GVT-g parent with its four types, names from pci.ids, and the vGPU a VM uses', async () => {
    const b = host(gvtgHost);
    const inv = await discover(b, { vms: [vm('win10', [GVT_UUID.toUpperCase()])] });
    expect(inv.parents).toHaveLength(1);
    const p = inv.parents[0]!;
    expect(p).toMatchObject({
      name: '0000:00:02.0',
      driver: 'i915',
      vendor: 'intel-gvtg',
      hasTypesDir: true,
      problems: [],
      pci: {
        vendorId: '8086',
        deviceId: '3e92',
        vendorName: 'Intel Corporation',
        deviceName: 'CoffeeLake-S GT2 [UHD Graphics 630]',
      },
    });
    expect(p.types.map((t) => t.id)).toEqual(['i915-GVTg_V5_1', 'i915-GVTg_V5_2', 'i915-GVTg_V5_4', 'i915-GVTg_V5_8']);
    const v54 = p.types[2]!;
    expect(v54).toMatchObject({
      name: 'GVTg_V5_4',
      deviceApi: 'vfio-pci',
      availableInstances: 2,
      canCreate: true,
      display: 'dmabuf',
      instances: [GVT_UUID],
    });
    expect(v54.description).toBe('low_gm_size: 128MB\nhigh_gm_size: 512MB\nfence: 4\nresolution: 1920x1200\nweight: 4');
    expect(v54.details).toEqual({ lowGmMiB: 128, highGmMiB: 512, fence: 4, resolution: '1920x1200', weight: 4 });
    expect(inv.devices).toEqual([
      {
        uuid: GVT_UUID,
        type: 'i915-GVTg_V5_4',
        parent: '0000:00:02.0',
        iommuGroup: '16',
        usedBy: [{ id: expect.any(String), name: 'win10' }],
        problems: [],
      },
    ]);
    expect(inv.notes).toEqual([]);
  });

  it('parses NVIDIA GRID descriptions and gives its types no QEMU display', async () => {
    const inv = await discover(host(nvidiaGridHost));
    const p = inv.parents[0]!;
    expect(p).toMatchObject({ driver: 'nvidia', vendor: 'nvidia', pci: { deviceName: 'GP104GL [Tesla P4]' } });
    const q2 = p.types.find((t) => t.id === 'nvidia-64')!;
    expect(q2.description).toBe(
      'num_heads=4, frl_config=60, framebuffer=2048M, max_resolution=4096x2160, max_instance=4',
    );
    expect(q2.details).toEqual({
      heads: 4,
      frameRateLimit: 60,
      framebufferMiB: 2048,
      resolution: '4096x2160',
      maxInstances: 4,
    });
    expect(p.types.every((t) => t.display === 'none')).toBe(true);
    expect(p.types.find((t) => t.id === 'nvidia-69')!.availableInstances).toBe(0);
  });

  it('lists the sample drivers as virtual parents: mtty (serial), mdpy (region display), mbochs (dma-buf)', async () => {
    const inv = await discover(host(samplesHost));
    expect(inv.parents.map((p) => [p.name, p.driver, p.vendor, p.pci])).toEqual([
      ['mbochs', 'mbochs', 'mbochs', undefined],
      ['mdpy', 'mdpy', 'mdpy', undefined],
      ['mtty', 'mtty', 'mtty', undefined],
    ]);
    const mtty = inv.parents.find((p) => p.name === 'mtty')!;
    expect(mtty.types.map((t) => [t.id, t.name, t.description, t.display])).toEqual([
      ['mtty-1', 'Single port serial', undefined, 'none'],
      ['mtty-2', 'Dual port serial', undefined, 'none'],
    ]);
    expect(mtty.types.every((t) => t.problems.length === 0)).toBe(true); // mtty has no description, and that is fine
    expect(inv.parents.find((p) => p.name === 'mdpy')!.types[0]).toMatchObject({
      display: 'region',
      details: { resolution: '1920x1080' },
    });
    expect(inv.parents.find((p) => p.name === 'mbochs')!.types[0]).toMatchObject({
      display: 'dmabuf',
      details: { framebufferMiB: 4 },
    });
    expect(inv.devices).toEqual([
      { uuid: MTTY_UUID, type: 'mtty-2', parent: 'mtty', iommuGroup: '0', usedBy: [], problems: [] },
    ]);
  });
});

describe('discoverMdev explains GPUs without mdev types', () => {
  it('a newer Intel GPU (i915 parent without types) is beyond GVT-g', async () => {
    const inv = await discover(host(newIntelHost));
    expect(inv.parents[0]).toMatchObject({ name: '0000:00:02.0', hasTypesDir: false, types: [] });
    expect(inv.notes).toHaveLength(1);
    expect(inv.notes[0]).toMatchObject({ id: 'gvtg-unsupported-gpu', device: '0000:00:02.0' });
    expect(inv.notes[0]!.text).toContain('10th-generation Core');
    expect(inv.notes[0]!.text).toContain('Raptor Lake-S GT1 [UHD Graphics 770]');
  });

  it('a GVT-g-capable GPU with enable_gvt=N gets the kernel-parameter fix', async () => {
    const inv = await discover(host(gvtgDisabledHost));
    expect(inv.notes.map((n) => n.id)).toEqual(['gvtg-disabled']);
    expect(inv.notes[0]!.fix!.text).toContain('i915.enable_gvt=1');
    expect(inv.notes[0]!.fix!.text).toContain('kvmgt');
  });

  it('an NVIDIA GPU on the vendor-specific VFIO driver is explained once (the VF speaks through its PF)', async () => {
    const inv = await discover(host(nvidiaVendorVfioHost));
    expect(inv.parents).toEqual([]);
    expect(inv.notes.map((n) => [n.id, n.device])).toEqual([['nvidia-vendor-vfio', '0000:41:00.0']]);
    expect(inv.notes[0]!.text).toContain('current_vgpu_type');
    expect(inv.notes[0]!.text).toContain('AD102GL [L40S]');
  });

  it('an nvidia mdev parent without mdev_supported_types is explained the same way', async () => {
    const parent = { ...nvidiaGridHost.parents[0]! };
    delete parent.types;
    const inv = await discover(host({ ...nvidiaGridHost, parents: [parent], devices: [] }));
    expect(inv.parents[0]!.hasTypesDir).toBe(false);
    expect(inv.notes.map((n) => n.id)).toEqual(['nvidia-vendor-vfio']);
  });

  it('a host with no parents at all says how to try the sample drivers', async () => {
    const inv = await discover(host({ parents: [] }));
    expect(inv.notes.map((n) => n.id)).toEqual(['no-parents']);
    expect(inv.notes[0]!.fix).toMatchObject({ command: 'sudo modprobe mtty', privileged: true });
  });

  it('a missing sysfs altogether is an empty inventory, not an error', async () => {
    const inv = await discoverMdev({ fs: host({ parents: [] }).fs, roots: { sysfsRoot: '/nonexistent/vmdesk' } });
    expect(inv.parents).toEqual([]);
    expect(inv.devices).toEqual([]);
  });
});

describe('discoverMdev with bad input', () => {
  it('keeps going past missing and unreadable attributes, a type without create, and garbage counts', async () => {
    const parent = {
      ...intelUhd630,
      types: [
        {
          id: 'i915-GVTg_V5_4',
          name: 'GVTg_V5_4',
          available: 2,
          unreadable: ['description' as const, 'name' as const],
        },
        { id: 'i915-GVTg_V5_8', name: 'GVTg_V5_8', available: 'lots', create: false },
        { id: 'i915-GVTg_V5_2' },
      ],
    };
    const b = host({ parents: [parent], pciIds: PCI_IDS });
    const inv = await discover(b);
    const [v52, v54, v58] = inv.parents[0]!.types;
    expect(v54!.name).toBeUndefined();
    expect(v54!.description).toBeUndefined();
    expect(v54!.problems).toEqual(['name cannot be read (EACCES)']);
    expect(v54!.availableInstances).toBe(2);
    expect(v58).toMatchObject({ canCreate: false });
    expect(v58!.availableInstances).toBeUndefined();
    expect(v58!.problems).toEqual([
      'available_instances is not a number ("lots")',
      'there is no create file, so no device of this type can be created',
    ]);
    expect(v52!.problems).toEqual(['name is missing', 'available_instances is missing']);
  });

  it('reports a device whose links cannot be read instead of failing', async () => {
    const b = host(samplesHost);
    fs.rmSync(path.join(b.root, 'sys/devices/virtual/mtty/mtty', MTTY_UUID, 'iommu_group'));
    const inv = await discover(b);
    expect(inv.devices[0]).toMatchObject({ uuid: MTTY_UUID, type: 'mtty-2', problems: ['iommu_group cannot be read'] });
    expect(inv.devices[0]!.iommuGroup).toBeUndefined();
  });
});

describe('mdevctl definitions', () => {
  // mdevctl's own test data (tests/list/default/defined.json), trimmed.
  const dump = JSON.stringify([
    {
      '0000:00:02.0': [
        { '4a0a190f-dcf3-4def-9342-c48768f0c940': { mdev_type: 'i915-GVTg_V5_8', start: 'auto', attrs: [] } },
        { [GVT_UUID]: { mdev_type: 'i915-GVTg_V5_4', start: 'manual', attrs: [] } },
      ],
    },
  ]);

  it('reads persistent definitions and marks the ones that exist now', async () => {
    const run = fakeRun({ 'mdevctl list --defined --dumpjson': { stdout: dump } });
    const inv = await discover(host(gvtgHost), { run });
    expect(run.calls).toEqual(['mdevctl list --defined --dumpjson']);
    expect(inv.mdevctl).toEqual({
      installed: true,
      definitions: [
        {
          uuid: '4a0a190f-dcf3-4def-9342-c48768f0c940',
          parent: '0000:00:02.0',
          type: 'i915-GVTg_V5_8',
          start: 'auto',
          active: false,
        },
        { uuid: GVT_UUID, parent: '0000:00:02.0', type: 'i915-GVTg_V5_4', start: 'manual', active: true },
      ],
    });
  });

  it('treats a missing mdevctl as not installed and a failing one as a note', async () => {
    expect((await discover(host(samplesHost), { run: fakeRun({}) })).mdevctl).toEqual({
      installed: false,
      definitions: [],
    });
    const broken = await discover(host(samplesHost), {
      run: fakeRun({ 'mdevctl list --defined --dumpjson': { code: 1, stderr: 'Error: permission denied\n' } }),
    });
    expect(broken.mdevctl.error).toBe('mdevctl list failed: Error: permission denied');
    expect(broken.notes.map((n) => n.id)).toEqual(['mdevctl-failed']);
  });

  it('parses empty output as no definitions and skips entries of the wrong shape', () => {
    expect(parseMdevctlDump('')).toEqual([]);
    expect(
      parseMdevctlDump(
        '[{"mtty": [{"x": 1}, {"83b8f4f2-509f-382f-3c1e-e6bfe0fa1001": {"mdev_type": "mtty-1"}}], "bad": 3}]',
      ),
    ).toEqual([{ uuid: '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001', parent: 'mtty', type: 'mtty-1', start: 'manual' }]);
    expect(() => parseMdevctlDump('{not json')).toThrow();
  });
});

describe('pci.ids lookup', () => {
  it('finds vendor and device names in the vendor block only, ignoring subsystem lines and classes', () => {
    expect(findNames(PCI_IDS, '10de', '1bb3')).toEqual({
      vendorName: 'NVIDIA Corporation',
      deviceName: 'GP104GL [Tesla P4]',
    });
    expect(findNames(PCI_IDS, '10de', '11d8')).toEqual({ vendorName: 'NVIDIA Corporation' });
    expect(findNames(PCI_IDS, '8086', 'a780')).toEqual({
      vendorName: 'Intel Corporation',
      deviceName: 'Raptor Lake-S GT1 [UHD Graphics 770]',
    });
    expect(findNames(PCI_IDS, '1002', '0001')).toEqual({ vendorName: 'Advanced Micro Devices, Inc. [AMD/ATI]' });
    expect(findNames(PCI_IDS, 'ffff', '0001')).toEqual({});
  });

  it('reads the file once, tries the next path when one is missing, and answers {} without any', async () => {
    const b = host({ parents: [], pciIds: PCI_IDS });
    let reads = 0;
    const counting = { ...b.fs, readText: (p: string) => (reads++, b.fs.readText(p)) };
    const names = createPciNames(counting, ['/nonexistent/pci.ids', b.pciIdsPath]);
    expect(await names.lookup('8086', '3e92')).toMatchObject({ deviceName: 'CoffeeLake-S GT2 [UHD Graphics 630]' });
    expect(await names.lookup('10de', '1bb3')).toMatchObject({ deviceName: 'GP104GL [Tesla P4]' });
    expect(reads).toBe(2); // one failed candidate, one read
    expect(await createPciNames(b.fs, ['/nonexistent/pci.ids']).lookup('8086', '3e92')).toEqual({});
  });
});
