/**
 * ISO 9660 (ECMA-119): the volume descriptor set at sector 16, and just enough of the directory
 * tree to look up a few paths (EFI/BOOT/*.EFI, sources/install.wim). Names are compared without
 * case and without the ";1" version; Rock Ridge NM names and the Joliet tree are consulted too.
 */
import type { ImageReader } from './reader.js';
import { asciiField, IsoFormatError, SECTOR, slice, u16, u32, u8, ucs2beField } from './reader.js';

/** Volume descriptors read before giving up on finding a terminator (real discs have 3–6). */
const MAX_DESCRIPTORS = 64;
export const MAX_DEPTH = 8;
export const MAX_ENTRIES = 10_000;
/** A directory larger than this is not one we need to read (real ones are a few sectors). */
const MAX_DIR_BYTES = 2 * 2 ** 20;

export interface DirRecord {
  /** The name as used for lookups: Rock Ridge or Joliet name when present, else the ISO name without ";1". */
  name: string;
  /** The ISO 9660 name itself (without ";1"), to tell 8.3 names (level 1) from longer ones. */
  isoName: string;
  lba: number;
  size: number;
  isDir: boolean;
  /** Further extents follow in the next record with the same name (files over 4 GiB). */
  multiExtent: boolean;
}

export interface VolumeDescriptorSet {
  pvd: Buffer | null;
  joliet: Buffer | null;
  /** An ISO 9660:1999 enhanced volume descriptor (file structure version 2). */
  enhanced: boolean;
  /** The El Torito boot record's catalogue sector. */
  bootCatalogLba: number | null;
  terminated: boolean;
  /** ECMA-167 volume recognition sequence: BEA01 … NSR02/NSR03 … TEA01 (UDF). */
  udfRecognised: boolean;
  /** Sector 16 starts with "CD001". */
  iso9660: boolean;
}

/** Walks sectors 16.. reading ISO 9660 descriptors, then the UDF recognition sequence after them. */
export async function readDescriptors(r: ImageReader): Promise<VolumeDescriptorSet> {
  const set: VolumeDescriptorSet = {
    pvd: null,
    joliet: null,
    enhanced: false,
    bootCatalogLba: null,
    terminated: false,
    udfRecognised: false,
    iso9660: false,
  };
  let bea = false;
  let nsr = false;
  for (let i = 0; i < MAX_DESCRIPTORS; i++) {
    const d = await r.tryRead((16 + i) * SECTOR, SECTOR);
    if (!d) break;
    const id = d.toString('latin1', 1, 6);
    if (id === 'CD001') {
      if (i === 0) set.iso9660 = true;
      const type = d[0]!;
      if (type === 0 && d.toString('latin1', 7, 30) === 'EL TORITO SPECIFICATION') set.bootCatalogLba = u32(d, 71);
      else if (type === 1) set.pvd ??= d;
      else if (type === 2) {
        const esc = d.toString('latin1', 88, 91);
        if (d[881] === 2) set.enhanced = true;
        else if (esc === '%/@' || esc === '%/C' || esc === '%/E') set.joliet ??= d;
      } else if (type === 255) set.terminated = true;
    } else if (id === 'BEA01') bea = true;
    else if (id === 'NSR02' || id === 'NSR03') nsr = true;
    else if (id === 'TEA01') {
      set.udfRecognised = bea && nsr;
      break;
    } else if (id !== 'BOOT2' && id !== 'CDW02') break;
  }
  if (bea && nsr) set.udfRecognised = true;
  return set;
}

export interface PrimaryFields {
  systemId: string;
  volumeId: string;
  volumeSetId: string;
  publisher: string;
  dataPreparer: string;
  applicationId: string;
  volumeSizeBytes: number;
  blockSize: number;
  created: string | null;
  modified: string | null;
}

export function primaryFields(pvd: Buffer): PrimaryFields {
  const blockSize = u16(pvd, 128);
  return {
    systemId: asciiField(slice(pvd, 8, 32)),
    volumeId: asciiField(slice(pvd, 40, 32)),
    volumeSetId: asciiField(slice(pvd, 190, 128)),
    publisher: asciiField(slice(pvd, 318, 128)),
    dataPreparer: asciiField(slice(pvd, 446, 128)),
    applicationId: asciiField(slice(pvd, 574, 128)),
    volumeSizeBytes: u32(pvd, 80) * blockSize,
    blockSize,
    created: decDateTime(slice(pvd, 813, 17)),
    modified: decDateTime(slice(pvd, 830, 17)),
  };
}

export function jolietVolumeId(svd: Buffer): string {
  return ucs2beField(slice(svd, 40, 32));
}

/** ECMA-119 8.4.26.1: "YYYYMMDDHHMMSScc" in ASCII digits plus a signed offset from UTC in 15-minute units. */
export function decDateTime(b: Buffer): string | null {
  if (b.length < 17) return null;
  const s = b.toString('latin1', 0, 16);
  if (!/^\d{16}$/.test(s) || /^0+$/.test(s)) return null;
  const n = (from: number, len: number) => Number(s.slice(from, from + len));
  const [y, mo, d, h, mi, sec, cs] = [n(0, 4), n(4, 2), n(6, 2), n(8, 2), n(10, 2), n(12, 2), n(14, 2)];
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) return null;
  const offsetMin = b.readInt8(16) * 15;
  if (offsetMin < -12 * 60 || offsetMin > 14 * 60) return null;
  const t = Date.UTC(y, mo - 1, d, h, mi, sec, cs * 10) - offsetMin * 60_000;
  const date = new Date(t);
  return Number.isNaN(t) || date.getUTCFullYear() > 9999 ? null : date.toISOString();
}

/** Reading state shared by all lookups in one image: the entry budget and what the names tell us. */
export class Iso9660Tree {
  entriesSeen = 0;
  longNames = false;
  multiExtent = false;
  rockRidge = false;
  /** Bytes to skip at the start of each System Use area (SUSP "SP" on the root's "." entry). */
  private suspSkip = 0;

  /** Directories already read, by extent: lookups of EFI/BOOT and sources/ share the root. */
  private readonly listed = new Map<number, DirRecord[]>();

  constructor(
    private readonly r: ImageReader,
    private readonly root: DirRecord,
    readonly joliet: boolean,
  ) {}

  static async open(r: ImageReader, descriptor: Buffer, joliet: boolean): Promise<Iso9660Tree> {
    const rec = parseRecord(slice(descriptor, 156, 34), 0, joliet);
    if (!rec || !rec.isDir) throw new IsoFormatError('the root directory record is damaged');
    const tree = new Iso9660Tree(r, rec, joliet);
    if (!joliet) await tree.detectRockRidge();
    return tree;
  }

  /** Rock Ridge is announced by SUSP "SP" (and an "RR"/"ER" entry) in the root's own "." record. */
  private async detectRockRidge(): Promise<void> {
    const first = await this.r.tryRead(this.root.lba * SECTOR, SECTOR);
    if (!first) return;
    const len = first[0] ?? 0;
    if (len < 34) return;
    const nameLen = first[32]!;
    const su = 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
    if (first.toString('latin1', su, su + 2) === 'SP' && first[su + 4] === 0xbe && first[su + 5] === 0xef) {
      this.suspSkip = first[su + 6] ?? 0;
      this.rockRidge = true;
    }
  }

  /** The records of one directory ("." and ".." left out). */
  async list(dir: DirRecord): Promise<DirRecord[]> {
    if (!dir.isDir) return [];
    const known = this.listed.get(dir.lba);
    if (known) return known;
    const size = Math.min(dir.size, MAX_DIR_BYTES);
    const data = await this.r.read(dir.lba * SECTOR, Math.ceil(size / SECTOR) * SECTOR, 'a directory');
    const out: DirRecord[] = [];
    let o = 0;
    while (o < size) {
      const len = data[o]!;
      // Records never cross a sector boundary: a zero length means "continue at the next sector".
      if (len === 0) {
        o = (Math.floor(o / SECTOR) + 1) * SECTOR;
        continue;
      }
      if (++this.entriesSeen > MAX_ENTRIES)
        throw new IsoFormatError(`the directory tree has more than ${MAX_ENTRIES} entries`);
      const rec = parseRecord(data.subarray(o, Math.min(o + len, data.length)), this.suspSkip, this.joliet);
      o += len;
      if (!rec || rec.name === '.' || rec.name === '..' || rec.name === '') continue;
      if (rec.multiExtent) this.multiExtent = true;
      if (!this.joliet && !/^[A-Z0-9_]{1,8}(\.[A-Z0-9_]{0,3})?$/.test(rec.isoName)) this.longNames = true;
      out.push(rec);
    }
    this.listed.set(dir.lba, out);
    return out;
  }

  /** Follows `path` (case-insensitive components) from the root; every extent of a multi-extent file. */
  async lookup(path: string[]): Promise<DirRecord[] | undefined> {
    if (path.length > MAX_DEPTH) return undefined;
    let dir = this.root;
    for (let i = 0; i < path.length; i++) {
      const want = path[i]!.toUpperCase();
      const entries = await this.list(dir);
      const hits = entries.filter((e) => e.name.toUpperCase() === want);
      if (hits.length === 0) return undefined;
      if (i === path.length - 1) return hits;
      const next = hits.find((h) => h.isDir);
      if (!next) return undefined;
      dir = next;
    }
    return [dir];
  }

  async listPath(path: string[]): Promise<DirRecord[]> {
    const hit = await this.lookup(path);
    const dir = hit?.find((h) => h.isDir);
    return dir ? this.list(dir) : [];
  }
}

/** One directory record (ECMA-119 9.1); undefined when it is too damaged to use. */
function parseRecord(b: Buffer, suspSkip: number, joliet: boolean): DirRecord | undefined {
  if (b.length < 34) return undefined;
  const nameLen = u8(b, 32);
  if (33 + nameLen > b.length) return undefined;
  const flags = u8(b, 25);
  const raw = b.subarray(33, 33 + nameLen);
  if (nameLen === 1 && (raw[0] === 0 || raw[0] === 1))
    return {
      name: raw[0] === 0 ? '.' : '..',
      isoName: '',
      lba: u32(b, 2),
      size: u32(b, 10),
      isDir: true,
      multiExtent: false,
    };
  let name = (joliet ? ucs2beField(raw) : raw.toString('latin1')).replace(/;\d*$/, '').replace(/\.$/, '');
  const isoName = name;
  if (!joliet) {
    const su = 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0) + suspSkip;
    const rr = rockRidgeName(b, su);
    if (rr) name = rr;
  }
  return {
    name,
    isoName,
    lba: u32(b, 2),
    size: u32(b, 10),
    isDir: (flags & 0x02) !== 0,
    multiExtent: (flags & 0x80) !== 0,
  };
}

/** The Rock Ridge alternate name (one or more "NM" entries) in a System Use area. */
function rockRidgeName(b: Buffer, start: number): string | undefined {
  let o = start;
  let name = '';
  let found = false;
  for (let n = 0; n < 64 && o + 4 <= b.length; n++) {
    const sig = b.toString('latin1', o, o + 2);
    const len = b[o + 2]!;
    if (len < 4 || o + len > b.length) break;
    if (sig === 'NM' && len >= 5) {
      const flags = b[o + 4]!;
      // Flags 2/4 mean "." / ".."; these never name a real entry.
      if ((flags & 0x06) === 0) {
        name += b.toString('utf8', o + 5, o + len);
        found = true;
      }
      if ((flags & 0x01) === 0 && found) break;
    } else if (sig === 'ST') break;
    o += len;
  }
  // eslint-disable-next-line no-control-regex
  return found && name !== '' && !/[/\u0000]/.test(name) ? name : undefined;
}
