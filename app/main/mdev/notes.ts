/**
 * Known hardware facts, explained instead of showing an empty list: GVT-g exists only up to
 * 10th-generation Core graphics; recent NVIDIA vGPU drivers use a vendor-specific VFIO interface
 * rather than mdev; and what to load to try mdev without any hardware (the kernel samples).
 */
import type { MdevNote, MdevParent } from '../common/mdev-types.js';

type Pci = MdevParent['pci'];

/**
 * Device-id prefixes of the Intel GPUs GVT-g supports (i915/gvt: Broadwell 16xx, Apollo Lake 5Axx,
 * Skylake 19xx, Kaby/Amber Lake 59xx and 87xx, Coffee/Whiskey Lake 3Exx, Comet Lake 9Bxx).
 * Everything from Ice Lake on (8Axx, Tiger Lake 9Axx, Rocket Lake 4Cxx, Alder/Raptor Lake 46xx/
 * A7xx, Meteor Lake 7Dxx, Arc 56xx...) has no GVT-g: Intel moved to SR-IOV.
 */
const GVTG_DEVICE_PREFIXES = ['16', '19', '59', '5a', '87', '3e', '9b'];

export function gvtgCapable(deviceId: string | undefined): boolean | undefined {
  if (!deviceId) return undefined;
  return GVTG_DEVICE_PREFIXES.some((p) => deviceId.toLowerCase().startsWith(p));
}

const named = (address: string, pci: Pci) =>
  pci ? `${address} (${pci.deviceName ?? 'Intel GPU'}, ${pci.vendorId}:${pci.deviceId})` : address;

const GVTG_PARAMS_FIX = [
  'add i915.enable_gvt=1 to the kernel command line: in /etc/default/grub append it to GRUB_CMDLINE_LINUX_DEFAULT,',
  'then run `sudo update-grub` (Debian/Ubuntu) or `sudo grub2-mkconfig -o /boot/grub2/grub.cfg` (Fedora);',
  'load kvmgt at boot: echo kvmgt | sudo tee /etc/modules-load.d/kvmgt.conf; then reboot.',
].join('\n');

export interface GvtgFacts {
  address: string;
  pci: Pci;
  /** /sys/module/i915/parameters/enable_gvt ("Y" / "N"), when readable. */
  enableGvt?: string;
  driver?: string;
  /** The GPU is listed under /sys/class/mdev_bus (with no types). */
  isParent: boolean;
}

export function gvtgNote(f: GvtgFacts): MdevNote {
  const capable = f.driver === 'xe' ? false : gvtgCapable(f.pci?.deviceId);
  const who = named(f.address, f.pci);
  if (capable !== false && !f.isParent && f.enableGvt !== 'Y') {
    return {
      id: 'gvtg-disabled',
      device: f.address,
      text: `The Intel GPU ${who} supports GVT-g, but it is switched off (i915.enable_gvt is ${f.enableGvt ?? 'not set'}), so it offers no vGPU types.`,
      fix: { text: GVTG_PARAMS_FIX, privileged: true },
    };
  }
  return {
    id: 'gvtg-unsupported-gpu',
    device: f.address,
    text:
      capable === false
        ? `The Intel GPU ${who} is newer than GVT-g: Intel's mediated vGPUs exist only up to 10th-generation Core (Broadwell to Comet Lake) graphics. Newer Intel GPUs share through SR-IOV virtual functions, which vmdesk does not assign yet.`
        : `The Intel GPU ${who} offers no GVT-g types although i915 loaded GVT-g. GVT-g exists only up to 10th-generation Core graphics; on those, check that the kvmgt module is loaded (sudo modprobe kvmgt) and see \`sudo dmesg | grep -i gvt\` for why i915 refused.`,
  };
}

export function nvidiaVendorVfioNote(address: string, pci: Pci): MdevNote {
  const who = pci ? `${address} (${pci.deviceName ?? 'NVIDIA GPU'}, ${pci.vendorId}:${pci.deviceId})` : address;
  return {
    id: 'nvidia-vendor-vfio',
    device: address,
    text: `The NVIDIA GPU ${who} has no mdev types: NVIDIA's recent vGPU drivers (vGPU 17 and later on Linux 6.8+, and Ada/Hopper/Blackwell GPUs) use NVIDIA's own VFIO interface instead of mediated devices — a vGPU is an SR-IOV virtual function given a type through /sys/bus/pci/devices/<VF>/nvidia/current_vgpu_type and assigned as a PCI device. vmdesk assigns only mdev-based vGPUs, so this GPU cannot be used here yet. Older GPUs (Pascal to Ampere) with a vGPU 16 or earlier host driver still use mdev.`,
  };
}

export function noParentsNote(): MdevNote {
  return {
    id: 'no-parents',
    text: [
      'No device on this host offers mediated devices (/sys/class/mdev_bus is empty or missing).',
      "Intel GVT-g needs a 5th–10th generation Core GPU, i915.enable_gvt=1 and the kvmgt module; NVIDIA vGPU needs NVIDIA's vGPU host driver on a supported data-centre GPU.",
      'To try mediated devices without such hardware, load a kernel sample driver (if your kernel ships them): mtty (serial ports), mdpy or mbochs (displays).',
    ].join('\n'),
    fix: { text: 'load the mtty sample driver', command: 'sudo modprobe mtty', privileged: true },
  };
}
