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
