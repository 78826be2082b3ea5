/**
 * QEMU arguments (and libvirt XML) for mediated devices assigned to a VM. Pure, like
 * qemu/argv.ts: golden files in ./golden pin the output.
 *
 * What QEMU 7.2 needs for a vGPU display with vmdesk's VNC-only setup (see golden/README.md
 * for the sources):
 * - `display=on` on the vfio-pci device makes QEMU create a graphic console for the vGPU.
 * - dma-buf displays (GVT-g, mbochs) fail without OpenGL ("vfio-display-dmabuf: opengl not
 *   available", hw/vfio/display.c): with VNC only, `-display egl-headless` provides it; it needs
 *   a DRM render node (/dev/dri/renderD*), ideally the GPU that exported the dma-buf. Region
 *   displays (mdpy) need nothing more.
 * - `ramfb=on` (a boot framebuffer, so firmware and boot loader show before the guest driver
 *   loads) exists only on `vfio-pci-nohotplug` (ramfb cannot be hot-plugged), and only one device
 *   may have it (a single fw_cfg file, etc/ramfb).
 * - GVT-g guests need `x-igd-opregion=on` (off by default in 7.2) so the guest i915 finds its
 *   OpRegion/VBT and lights the virtual outputs.
 * - VNC shows console 0 unless told otherwise: `-vnc ...,display=hostdev0` pins it to the vGPU,
 *   and the emulated VGA is better left out (ramfb covers the boot screen).
 */
import type { MdevAssignment } from '../common/vm-types.js';
import { assignmentDisplayKind, vendorOf } from './describe.js';

export interface MdevArgvOptions {
  /** The VM has no display (`display: 'none'`): every vGPU is assigned without display=on. */
  headless?: boolean;
  /** The render node egl-headless should use (the vGPU parent's own node when known). */
  renderNode?: string;
}

export interface MdevArgv {
  /** `-device ...` pairs, one per assignment, ids hostdev0, hostdev1, ... in definition order. */
  deviceArgs: string[];
  /** Replaces `-display none` when non-empty (`-display egl-headless[,rendernode=...]`). */
  displayArgs: string[];
  /** Append `,display=<id>` to `-vnc` so the console shows the vGPU; absent without a display. */
  vncDisplay?: string;
  /** A vGPU with ramfb is the VM's display: leave out the emulated VGA/virtio-vga. */
  dropEmulatedDisplay: boolean;
}

/** The QEMU device id of the Nth assignment: also what `-vnc display=` names. */
export const hostdevId = (n: number) => `hostdev${n}`;

export function mdevSysfsPath(uuid: string, sysfsRoot = '/'): string {
  const root = sysfsRoot.endsWith('/') ? sysfsRoot.slice(0, -1) : sysfsRoot;
  return `${root}/sys/bus/mdev/devices/${uuid.toLowerCase()}`;
}

export function mdevArgs(mdevs: readonly MdevAssignment[], sysfsRoot = '/', opts: MdevArgvOptions = {}): MdevArgv {
  const deviceArgs: string[] = [];
  let needsGl = false;
  let vncDisplay: string | undefined;
  mdevs.forEach((m, n) => {
    const kind = opts.headless ? 'none' : assignmentDisplayKind(m.type, m.display);
    const first = kind !== 'none' && vncDisplay === undefined;
    // UUIDs and sysfs roots never contain commas (validated), so no qemuEscape is needed here.
    const props = [
      `${first ? 'vfio-pci-nohotplug' : 'vfio-pci'}`,
      `sysfsdev=${mdevSysfsPath(m.uuid, sysfsRoot)}`,
      `id=${hostdevId(n)}`,
    ];
    if (kind !== 'none') props.push('display=on');
    if (first) props.push('ramfb=on');
    if (vendorOf(m.type) === 'intel-gvtg') props.push('x-igd-opregion=on');
    if (first) vncDisplay = hostdevId(n);
    if (kind === 'dmabuf') needsGl = true;
    deviceArgs.push('-device', props.join(','));
  });
  const displayArgs = needsGl
    ? ['-display', `egl-headless${opts.renderNode ? `,rendernode=${opts.renderNode}` : ''}`]
    : [];
  return {
    deviceArgs,
    displayArgs,
    ...(vncDisplay ? { vncDisplay } : {}),
    dropEmulatedDisplay: vncDisplay !== undefined,
  };
}

const xmlAttr = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * libvirt's form of one assignment, for export (formatdomain "Host device assignment", mdev):
 * `display='on'` plus `ramfb='on'` for display types. libvirt has no attribute for GVT-g's
 * x-igd-opregion; it takes `<qemu:override>` in the domain, which this fragment cannot carry.
 */
export function libvirtHostdevXml(a: MdevAssignment, opts: { ramfb?: boolean } = {}): string {
  const display = a.display && assignmentDisplayKind(a.type, a.display) !== 'none';
  const ramfb = display && (opts.ramfb ?? true);
  return [
    `<hostdev mode='subsystem' type='mdev' model='vfio-pci' display='${display ? 'on' : 'off'}'${ramfb ? " ramfb='on'" : ''}>`,
    '  <source>',
    `    <address uuid='${xmlAttr(a.uuid.toLowerCase())}'/>`,
    '  </source>',
    '</hostdev>',
  ].join('\n');
}
