/**
 * Vendor and device names from pci.ids (the file lspci reads), looked up lazily: the file is read
 * once on the first lookup and only the blocks of the asked-for vendors are scanned, never the
 * whole 1.3 MB database parsed.
 *
 * Format (https://pci-ids.ucw.cz/): "vvvv  Vendor name" at column 0, "\tdddd  Device name" under
 * it, "\t\tssss ssss  Subsystem" below that, "#" comments, and a second part starting with
 * "C " (device classes) that never matches a 4-hex-digit vendor line.
 */
import { createHwIdsLookup, findHwNames } from '../host/hw-ids.js';
import type { MdevFs } from './sysfs-io.js';

export const PCI_IDS_PATHS = ['/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids'];

export interface PciNames {
  /** Ids are 4 lowercase hex digits without 0x. Never rejects: unknown is `{}`. */
  lookup(vendorId: string, deviceId: string): Promise<{ vendorName?: string; deviceName?: string }>;
}

export function createPciNames(fs: MdevFs, paths: readonly string[] = PCI_IDS_PATHS): PciNames {
  return createHwIdsLookup(paths, (p) => fs.readText(p));
}

/** Scans one vendor block (pci.ids and usb.ids share the format). Exported for tests. */
export const findNames = findHwNames;
