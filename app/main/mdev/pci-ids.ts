/**
 * Vendor and device names from pci.ids (the file lspci reads), looked up lazily: the file is read
 * once on the first lookup and only the blocks of the asked-for vendors are scanned, never the
 * whole 1.3 MB database parsed.
 *
 * Format (https://pci-ids.ucw.cz/): "vvvv  Vendor name" at column 0, "\tdddd  Device name" under
 * it, "\t\tssss ssss  Subsystem" below that, "#" comments, and a second part starting with
 * "C " (device classes) that never matches a 4-hex-digit vendor line.
 */
import type { MdevFs } from './sysfs-io.js';

export const PCI_IDS_PATHS = ['/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids'];

export interface PciNames {
  /** Ids are 4 lowercase hex digits without 0x. Never rejects: unknown is `{}`. */
  lookup(vendorId: string, deviceId: string): Promise<{ vendorName?: string; deviceName?: string }>;
}

export function createPciNames(fs: MdevFs, paths: readonly string[] = PCI_IDS_PATHS): PciNames {
  let text: Promise<string | undefined> | undefined;
  const load = () =>
    (text ??= (async () => {
      for (const p of paths) {
        try {
          return await fs.readText(p);
        } catch {
          /* next candidate */
        }
      }
      return undefined;
    })());
  const cache = new Map<string, { vendorName?: string; deviceName?: string }>();
  return {
    async lookup(vendorId, deviceId) {
      const key = `${vendorId}:${deviceId}`;
      const hit = cache.get(key);
      if (hit) return hit;
      const db = await load();
      const found = db === undefined ? {} : findNames(db, vendorId.toLowerCase(), deviceId.toLowerCase());
      cache.set(key, found);
      return found;
    },
  };
}

/** Scans one vendor block. Exported for tests. */
export function findNames(
  db: string,
  vendorId: string,
  deviceId: string,
): { vendorName?: string; deviceName?: string } {
  const marker = `\n${vendorId}  `;
  const start = db.startsWith(`${vendorId}  `) ? 0 : db.indexOf(marker);
  if (start < 0) return {};
  const lineStart = start === 0 ? 0 : start + 1;
  const lineEnd = db.indexOf('\n', lineStart);
  const vendorName = db.slice(lineStart + vendorId.length + 2, lineEnd < 0 ? undefined : lineEnd).trim();
  if (lineEnd < 0) return { vendorName };
  let pos = lineEnd + 1;
  while (pos < db.length) {
    const end = db.indexOf('\n', pos);
    const line = db.slice(pos, end < 0 ? undefined : end);
    pos = end < 0 ? db.length : end + 1;
    if (line.startsWith('#') || line === '' || line.startsWith('\t\t')) continue;
    if (!line.startsWith('\t')) break; // the next vendor
    if (line.slice(1, 5).toLowerCase() === deviceId && line.slice(5, 7) === '  ') {
      return { vendorName, deviceName: line.slice(7).trim() };
    }
  }
  return { vendorName };
}
