/**
 * Vendor and device names from the hardware id databases, pci.ids (lspci) and usb.ids (lsusb),
 * which share one format (https://pci-ids.ucw.cz/, http://www.linux-usb.org/usb.ids): "vvvv  Vendor"
 * at column 0, "\tdddd  Device" under it, deeper levels on two tabs, "#" comments, and trailing
 * sections ("C 09  Hub", "HUT 0c  Consumer"...) whose lines never look like a 4-hex-digit vendor.
 *
 * Looked up lazily: the first lookup reads the first readable file once; each lookup scans only the
 * asked-for vendor's block, never parsing the whole database (usb.ids is ~700 KB, pci.ids 1.3 MB).
 */
import { readFile } from 'node:fs/promises';

export interface HwNames {
  vendorName?: string;
  deviceName?: string;
}

export interface HwIdsLookup {
  /** Ids are 4 hex digits without 0x (any case). Never rejects: unknown is `{}`. */
  lookup(vendorId: string, deviceId: string): Promise<HwNames>;
}

export function createHwIdsLookup(
  paths: readonly string[],
  readText: (p: string) => Promise<string> = (p) => readFile(p, 'utf8'),
): HwIdsLookup {
  let text: Promise<string | undefined> | undefined;
  const load = () =>
    (text ??= (async () => {
      for (const p of paths) {
        try {
          return await readText(p);
        } catch {
          /* next candidate */
        }
      }
      return undefined;
    })());
  const cache = new Map<string, HwNames>();
  return {
    async lookup(vendorId, deviceId) {
      const key = `${vendorId}:${deviceId}`.toLowerCase();
      const hit = cache.get(key);
      if (hit) return hit;
      const db = await load();
      const found = db === undefined ? {} : findHwNames(db, vendorId.toLowerCase(), deviceId.toLowerCase());
      cache.set(key, found);
      return found;
    },
  };
}

/** Scans one vendor block of the database text; ids in lowercase. */
export function findHwNames(db: string, vendorId: string, deviceId: string): HwNames {
  const first = db.startsWith(`${vendorId}  `);
  const at = first ? 0 : db.indexOf(`\n${vendorId}  `);
  if (at < 0) return {};
  const start = first ? 0 : at + 1;
  const lineEnd = db.indexOf('\n', start);
  const vendorName = db.slice(start + vendorId.length + 2, lineEnd < 0 ? undefined : lineEnd).trim();
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
