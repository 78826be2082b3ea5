/**
 * A VM's devices as plain values: the limits, disk targets, boot devices and the words for them.
 * No schema library here, so the renderer loads this too (eslint.config.js RENDERER_VALUES_FROM_COMMON).
 */
/** Disks per VM (virtio-blk slots a guest sees comfortably). */
export const MAX_DISKS = 16;
/** CD-ROM drives per VM (an installer and a driver disc, with room to spare). */
export const MAX_CDROMS = 4;

/** The guest-facing name of disk `i` in vmdesk's numbering (vda, vdb, …): stable once given. */
export function diskTarget(i: number): string {
  return `vd${String.fromCharCode(97 + i)}`;
}
/** The slot a target names (vdc → 2): QEMU's node and device ids are numbered by it. */
export function diskSlot(target: string): number {
  return target.charCodeAt(2) - 97;
}

/** Whether QEMU opens the disk read-only: asked for, or the base of a linked clone. */
export function diskIsReadOnly(d: { readOnly: boolean; linkedClones?: readonly string[] | undefined }): boolean {
  return d.readOnly || (d.linkedClones?.length ?? 0) > 0;
}

export const BOOT_DEVICES = ['disk', 'cdrom', 'network'] as const;
export type BootDevice = (typeof BOOT_DEVICES)[number];
const BOOT_WORDS = { disk: 'disk', cdrom: 'CD-ROM', network: 'network' } as const;
/** "CD-ROM, then disk". */
export function bootOrderText(boot: readonly BootDevice[]): string {
  return boot.map((b) => BOOT_WORDS[b]).join(', then ');
}

/** Disk buses: virtio-blk (hot-pluggable, fastest) or SATA (AHCI; every OS has a driver). */
export const DISK_BUSES = ['virtio', 'sata'] as const;
export type DiskBus = (typeof DISK_BUSES)[number];
/** NIC models: virtio-net, or e1000e (Intel 82574; Windows has its driver). */
export const NIC_MODELS = ['virtio', 'e1000e'] as const;
export type NicModel = (typeof NIC_MODELS)[number];
/** Disks on the SATA bus: one AHCI controller's six ports. */
export const MAX_SATA_DISKS = 6;

/** Shared folders per VM. */
export const MAX_SHARES = 8;
/** Host USB devices per VM. */
export const MAX_USB = 8;

/** The guest settings of a VM made for no OS in particular (and of every VM made before they
 * existed): no Secure Boot, no TPM, virtio devices, a UTC clock, no shared folders. */
export const PLAIN_GUEST = {
  secureBoot: false,
  tpm: false,
  devices: { disk: 'virtio', nic: 'virtio' },
  clock: 'utc',
  hyperv: false,
  shares: [] as never[],
  sound: false,
  clipboard: false,
  usb: [] as never[],
} as const;
