/**
 * Just enough FAT12/16/32 to list one directory of the EFI System Partition image that an El
 * Torito EFI entry points at (normally /EFI/BOOT). Short 8.3 names only: the boot files are
 * specified with 8.3 names (BOOTX64.EFI), so long-name entries are skipped.
 */
import type { ImageReader } from './reader.js';
import { IsoFormatError, u16, u32, u8 } from './reader.js';

/** Clusters followed in one directory's chain before calling it a loop. */
const MAX_CHAIN = 4096;
const MAX_DIR_ENTRIES = 4096;

interface Fat {
  base: number;
  bytesPerSector: number;
  clusterBytes: number;
  fatOffset: number;
  type: 12 | 16 | 32;
  rootOffset: number;
  rootBytes: number;
  rootCluster: number;
  dataOffset: number;
  clusters: number;
  /** The image's end as its own header states it, clipped to the file. */
  end: number;
}

interface FatEntry {
  name: string;
  isDir: boolean;
  cluster: number;
}

/**
 * Parses the FAT boot sector at byte `base`. The image's extent comes from its own header, bounded
 * by the file: El Torito's sector count for no-emulation EFI images is unreliable in the wild
 * (0, 1, or capped at 0xFFFF for images over 32 MiB).
 */
async function openFat(r: ImageReader, base: number): Promise<Fat> {
  const bs = await r.read(base, 512, 'the EFI system partition image');
  const bytesPerSector = u16(bs, 11);
  const spc = u8(bs, 13);
  const reserved = u16(bs, 14);
  const nFats = u8(bs, 16);
  const rootEntries = u16(bs, 17);
  const total = u16(bs, 19) || u32(bs, 32);
  const fatSize16 = u16(bs, 22);
  const fatSectors = fatSize16 || u32(bs, 36);
  if (
    ![512, 1024, 2048, 4096].includes(bytesPerSector) ||
    spc === 0 ||
    (spc & (spc - 1)) !== 0 ||
    reserved === 0 ||
    nFats === 0 ||
    nFats > 4 ||
    fatSectors === 0 ||
    total === 0
  ) {
    throw new IsoFormatError('the El Torito EFI image is not a FAT filesystem');
  }
  const rootBytes = rootEntries * 32;
  const rootSectors = Math.ceil(rootBytes / bytesPerSector);
  const firstData = reserved + nFats * fatSectors + rootSectors;
  if (firstData >= total) throw new IsoFormatError('the EFI system partition image has an impossible layout');
  const clusters = Math.floor((total - firstData) / spc);
  const type = clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32;
  if ((type === 32) !== (fatSize16 === 0 && rootEntries === 0))
    throw new IsoFormatError('the EFI system partition image mixes FAT12/16 and FAT32 fields');
  const end = base + Math.min(total * bytesPerSector, r.size - base);
  return {
    base,
    bytesPerSector,
    clusterBytes: spc * bytesPerSector,
    fatOffset: base + reserved * bytesPerSector,
    type,
    rootOffset: base + (reserved + nFats * fatSectors) * bytesPerSector,
    rootBytes,
    rootCluster: type === 32 ? u32(bs, 44) : 0,
    dataOffset: base + firstData * bytesPerSector,
    clusters,
    end,
  };
}

async function readInImage(r: ImageReader, fat: Fat, offset: number, length: number): Promise<Buffer> {
  if (offset < fat.base || offset + length > fat.end)
    throw new IsoFormatError('the EFI system partition image points outside itself');
  return r.read(offset, length, 'the EFI system partition image');
}

async function nextCluster(r: ImageReader, fat: Fat, cluster: number): Promise<number | undefined> {
  let next: number;
  if (fat.type === 12) {
    const b = await readInImage(r, fat, fat.fatOffset + Math.floor(cluster * 1.5), 2);
    const v = u16(b, 0);
    next = cluster % 2 === 0 ? v & 0x0fff : v >> 4;
    if (next >= 0xff8) return undefined;
  } else if (fat.type === 16) {
    next = u16(await readInImage(r, fat, fat.fatOffset + cluster * 2, 2), 0);
    if (next >= 0xfff8) return undefined;
  } else {
    next = u32(await readInImage(r, fat, fat.fatOffset + cluster * 4, 4), 0) & 0x0fffffff;
    if (next >= 0x0ffffff8) return undefined;
  }
  return next >= 2 && next < fat.clusters + 2 ? next : undefined;
}

/** The bytes of a directory: the fixed root area (FAT12/16) or a cluster chain. */
async function readDir(r: ImageReader, fat: Fat, cluster: number): Promise<Buffer> {
  if (cluster === 0 && fat.type !== 32)
    return readInImage(r, fat, fat.rootOffset, Math.min(fat.rootBytes, MAX_DIR_ENTRIES * 32));
  const parts: Buffer[] = [];
  const seen = new Set<number>();
  let c: number | undefined = cluster;
  while (
    c !== undefined &&
    c >= 2 &&
    c < fat.clusters + 2 &&
    !seen.has(c) &&
    seen.size < MAX_CHAIN &&
    parts.length * fat.clusterBytes < MAX_DIR_ENTRIES * 32
  ) {
    seen.add(c);
    parts.push(await readInImage(r, fat, fat.dataOffset + (c - 2) * fat.clusterBytes, fat.clusterBytes));
    c = await nextCluster(r, fat, c);
  }
  return Buffer.concat(parts);
}

function entries(dir: Buffer, type: 12 | 16 | 32): FatEntry[] {
  const out: FatEntry[] = [];
  for (let o = 0; o + 32 <= dir.length && out.length < MAX_DIR_ENTRIES; o += 32) {
    const first = dir[o]!;
    if (first === 0x00) break;
    const attr = dir[o + 11]!;
    if (first === 0xe5 || attr === 0x0f || (attr & 0x08) !== 0) continue;
    const base = dir.toString('latin1', o, o + 8).trimEnd();
    const ext = dir.toString('latin1', o + 8, o + 11).trimEnd();
    const hi = type === 32 ? u16(dir, o + 20) : 0;
    out.push({
      name: (ext ? `${base}.${ext}` : base).toUpperCase(),
      isDir: (attr & 0x10) !== 0,
      cluster: (hi << 16) | u16(dir, o + 26),
    });
  }
  return out;
}

/**
 * The file names in directory `path` (e.g. ["EFI", "BOOT"]) of the FAT image at byte `base`,
 * upper-cased. Throws IsoFormatError when the image is damaged; [] when the path is absent.
 */
export async function listFatDir(r: ImageReader, base: number, path: string[]): Promise<string[]> {
  const fat = await openFat(r, base);
  let cluster = fat.type === 32 ? fat.rootCluster : 0;
  for (const part of path) {
    const hit = entries(await readDir(r, fat, cluster), fat.type).find((e) => e.isDir && e.name === part.toUpperCase());
    // A subdirectory with cluster 0 would be the root again: treat it as absent rather than loop.
    if (!hit || hit.cluster === 0) return [];
    cluster = hit.cluster;
  }
  return entries(await readDir(r, fat, cluster), fat.type)
    .filter((e) => !e.isDir)
    .map((e) => e.name);
}
