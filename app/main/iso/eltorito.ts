/**
 * El Torito (the "Bootable CD-ROM Format Specification" 1.0): the boot catalogue named by the
 * boot record descriptor — a validation entry, the default entry, then section headers each
 * followed by their entries. Platform 0x00 entries boot under BIOS, 0xEF entries under UEFI.
 */
import type { BootEmulation, BootEntry, BootPlatform } from '../common/iso-types.js';
import type { ImageReader } from './reader.js';
import { IsoFormatError, SECTOR, u16, u32, u8 } from './reader.js';

export const MAX_CATALOG_ENTRIES = 64;
/** 64 entries of 32 bytes plus headers and extensions fit well within four sectors. */
const CATALOG_BYTES = 4 * SECTOR;

export interface BootCatalog {
  entries: BootEntry[];
  warnings: string[];
}

const PLATFORMS: Record<number, BootPlatform> = { 0x00: 'bios', 0x01: 'powerpc', 0x02: 'mac', 0xef: 'efi' };
const EMULATIONS: BootEmulation[] = ['none', 'floppy-1.2M', 'floppy-1.44M', 'floppy-2.88M', 'hard-disk'];

export async function readBootCatalog(r: ImageReader, lba: number): Promise<BootCatalog> {
  const warnings: string[] = [];
  const start = lba * SECTOR;
  // A catalogue at the very end of a small image may be shorter than four sectors.
  const avail = Math.min(CATALOG_BYTES, Math.max(0, r.size - start));
  if (avail < 64) throw new IsoFormatError(`the boot catalogue (sector ${lba}) lies outside the file`);
  const cat = await r.read(start, avail - (avail % 32), 'the boot catalogue');

  // Validation entry: header 0x01, key bytes 0x55 0xAA, and its sixteen words sum to zero.
  if (u8(cat, 0) !== 0x01 || u8(cat, 30) !== 0x55 || u8(cat, 31) !== 0xaa)
    throw new IsoFormatError('the boot catalogue has no valid validation entry');
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum = (sum + u16(cat, i)) & 0xffff;
  if (sum !== 0)
    warnings.push('The El Torito validation entry has a wrong checksum; its boot entries were read anyway.');

  const entries: BootEntry[] = [entry(cat, 32, u8(cat, 1))];
  let o = 64;
  let count = 1;
  // Section headers: 0x90 = more headers follow, 0x91 = final header.
  while (o + 32 <= cat.length && count < MAX_CATALOG_ENTRIES) {
    const indicator = u8(cat, o);
    if (indicator !== 0x90 && indicator !== 0x91) break;
    const platformId = u8(cat, o + 1);
    const n = u16(cat, o + 2);
    o += 32;
    for (let i = 0; i < n && o + 32 <= cat.length; i++) {
      if (count >= MAX_CATALOG_ENTRIES) break;
      const e = entry(cat, o, platformId);
      const hasExtension = (u8(cat, o + 1) & 0x20) !== 0;
      entries.push(e);
      count++;
      o += 32;
      // Selection-criteria extension entries (0x44) follow an entry whose media byte has bit 5 set.
      for (let x = 0; hasExtension && x < 16 && o + 32 <= cat.length && u8(cat, o) === 0x44; x++) {
        const more = (u8(cat, o + 1) & 0x20) !== 0;
        o += 32;
        if (!more) break;
      }
    }
    if (indicator === 0x91) break;
  }
  if (count >= MAX_CATALOG_ENTRIES)
    warnings.push(
      `The boot catalogue lists more than ${MAX_CATALOG_ENTRIES} entries; only the first ${MAX_CATALOG_ENTRIES} were read.`,
    );
  return { entries, warnings };
}

function entry(cat: Buffer, o: number, platformId: number): BootEntry {
  const media = u8(cat, o + 1) & 0x0f;
  return {
    platform: PLATFORMS[platformId] ?? 'other',
    platformId,
    bootable: u8(cat, o) === 0x88,
    emulation: EMULATIONS[media] ?? 'other',
    loadRba: u32(cat, o + 8),
    sectorCount: u16(cat, o + 6),
  };
}
