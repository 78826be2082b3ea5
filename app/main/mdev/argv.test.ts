import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { MdevAssignment } from '../common/vm-types.js';
import { libvirtHostdevXml, mdevArgs, type MdevArgv } from './argv.js';
import { assignmentDisplayKind, parseDescription, summarizeDetails, vendorOf } from './describe.js';
import { expectGolden } from '../testing/golden.js';
import { GVT_UUID, MBOCHS_UUID, MDPY_UUID, MTTY_UUID, NVIDIA_UUID } from './fixtures/hosts.js';

// Golden files (golden/README.md says why the arguments look as they do): regenerate after an
// intended change with
//   UPDATE_GOLDENS=1 npx vitest run app/main/mdev/argv.test.ts
// and review the diff like code (testing/golden.ts).
const goldenDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden');
const expectMdevGolden = (file: string, text: string) => expectGolden(path.join(goldenDir, file), text);

/** One argument per line, in sections, so a diff shows exactly what QEMU gets. */
function render(r: MdevArgv): string {
  const section = (name: string, args: string[]) => [`${name}:`, ...args.map((a) => `  ${a}`)];
  return (
    [
      ...section('deviceArgs', r.deviceArgs),
      ...section('displayArgs', r.displayArgs),
      `vncDisplay: ${r.vncDisplay ?? '(none)'}`,
      `dropEmulatedDisplay: ${r.dropEmulatedDisplay}`,
    ].join('\n') + '\n'
  );
}

const gvtg: MdevAssignment = { uuid: GVT_UUID, type: 'i915-GVTg_V5_4', parent: '0000:00:02.0', display: true };
const grid: MdevAssignment = { uuid: NVIDIA_UUID, type: 'nvidia-64', parent: '0000:3b:00.0', display: false };
const mdpy: MdevAssignment = { uuid: MDPY_UUID, type: 'mdpy-xga', parent: 'mdpy', display: true };
const mbochs: MdevAssignment = { uuid: MBOCHS_UUID, type: 'mbochs-2', parent: 'mbochs', display: true };
const mtty: MdevAssignment = { uuid: MTTY_UUID, type: 'mtty-2', parent: 'mtty', display: false };

describe('mdevArgs (golden, one per vendor)', () => {
  it('Intel GVT-g: nohotplug with ramfb, x-igd-opregion, egl-headless on the iGPU render node', () => {
    expectMdevGolden('gvtg.argv', render(mdevArgs([gvtg], '/', { renderNode: '/dev/dri/renderD128' })));
  });
  it('NVIDIA GRID: plain vfio-pci, no display', () => {
    expectMdevGolden('nvidia-grid.argv', render(mdevArgs([grid])));
  });
  it('mdpy: region display, no OpenGL needed', () => {
    expectMdevGolden('mdpy.argv', render(mdevArgs([mdpy])));
  });
  it('mbochs: dma-buf display through egl-headless (any render node)', () => {
    expectMdevGolden('mbochs.argv', render(mdevArgs([mbochs])));
  });
  it('mtty: a serial device, no display', () => {
    expectMdevGolden('mtty.argv', render(mdevArgs([mtty])));
  });
  it('two displays: only the first gets ramfb and the VNC console', () => {
    expectMdevGolden('two-displays.argv', render(mdevArgs([mtty, mdpy, mbochs])));
  });
  it('headless VM: no display at all, GVT-g still gets its OpRegion', () => {
    expectMdevGolden('gvtg-headless.argv', render(mdevArgs([gvtg], '/', { headless: true })));
  });
});

describe('mdevArgs rules', () => {
  it('numbers ids in definition order and lower-cases UUIDs', () => {
    const r = mdevArgs([{ ...mtty, uuid: MTTY_UUID.toUpperCase() }, grid]);
    expect(r.deviceArgs).toEqual([
      '-device',
      `vfio-pci,sysfsdev=/sys/bus/mdev/devices/${MTTY_UUID},id=hostdev0`,
      '-device',
      `vfio-pci,sysfsdev=/sys/bus/mdev/devices/${NVIDIA_UUID},id=hostdev1`,
    ]);
    expect(r).toMatchObject({ displayArgs: [], dropEmulatedDisplay: false });
    expect(r.vncDisplay).toBeUndefined();
  });

  it('points sysfsdev under a different sysfs root', () => {
    expect(mdevArgs([mtty], '/tmp/fixture/').deviceArgs[1]).toBe(
      `vfio-pci,sysfsdev=/tmp/fixture/sys/bus/mdev/devices/${MTTY_UUID},id=hostdev0`,
    );
  });

  it('ignores a display flag on types that have none (QEMU would refuse display=on)', () => {
    expect(mdevArgs([{ ...grid, display: true }]).deviceArgs[1]).toBe(
      `vfio-pci,sysfsdev=/sys/bus/mdev/devices/${NVIDIA_UUID},id=hostdev0`,
    );
    expect(assignmentDisplayKind('mtty-1', true)).toBe('none');
    expect(assignmentDisplayKind('acme-vgpu-1', true)).toBe('dmabuf');
  });

  it('gives no args for no devices', () => {
    expect(mdevArgs([])).toEqual({ deviceArgs: [], displayArgs: [], dropEmulatedDisplay: false });
  });
});

describe('libvirtHostdevXml', () => {
  it('exports display types with display and ramfb on, others with display off', () => {
    expectMdevGolden('gvtg.libvirt.xml', libvirtHostdevXml(gvtg) + '\n');
    expectMdevGolden('nvidia-grid.libvirt.xml', libvirtHostdevXml(grid) + '\n');
    expect(libvirtHostdevXml(mdpy, { ramfb: false })).toContain(`display='on'>`);
  });
});

describe('descriptions', () => {
  it('parses the GVT-g and NVIDIA formats into fields', () => {
    expect(
      parseDescription(
        'intel-gvtg',
        'low_gm_size: 128MB\nhigh_gm_size: 384MB\nfence: 4\nresolution: 1920x1200\nweight: 4',
      ),
    ).toEqual({
      lowGmMiB: 128,
      highGmMiB: 384,
      fence: 4,
      resolution: '1920x1200',
      weight: 4,
    });
    expect(
      parseDescription(
        'nvidia',
        'num_heads=4, frl_config=60, framebuffer=2048M, max_resolution=4096x2160, max_instance=4',
      ),
    ).toEqual({
      heads: 4,
      frameRateLimit: 60,
      framebufferMiB: 2048,
      resolution: '4096x2160',
      maxInstances: 4,
    });
    expect(parseDescription('nvidia', 'num_heads=1, framebuffer=1G')).toEqual({ heads: 1, framebufferMiB: 1024 });
  });

  it('keeps unknown or malformed descriptions out of the fields', () => {
    expect(parseDescription('other', 'anything: 1')).toEqual({});
    expect(parseDescription('intel-gvtg', 'resolution: huge\nweight: four')).toEqual({});
    expect(parseDescription('nvidia', undefined)).toEqual({});
  });

  it('names the family from the driver or the type id', () => {
    expect(['i915', 'i915-GVTg_V4_2', 'nvidia-63', 'mdpy-hd', 'mbochs', 'vfio_ap-passthrough'].map(vendorOf)).toEqual([
      'intel-gvtg',
      'intel-gvtg',
      'nvidia',
      'mdpy',
      'mbochs',
      'other',
    ]);
    expect(summarizeDetails({ resolution: '1920x1200', lowGmMiB: 128, highGmMiB: 512, weight: 4 })).toBe(
      '1920x1200, 128+512 MiB graphics memory, weight 4',
    );
  });
});
