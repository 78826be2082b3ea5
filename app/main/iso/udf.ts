/**
 * Just enough UDF (ECMA-167 / OSTA UDF 1.02–2.01) to find a file by path: anchor at sector 256 →
 * volume descriptor sequence (partition + logical volume) → file set → root directory → file
 * identifiers. Windows installation media keep their files (sources/install.wim) only here: the
 * ISO 9660 side of their UDF bridge holds just a README.TXT. Metadata partitions (UDF 2.50+,
 * Blu-ray) are not read.
 */
import type { ImageReader } from './reader.js';
import { IsoFormatError, SECTOR, slice, u16, u32, u64, u8, ucs2beField } from './reader.js';
import { MAX_DEPTH, MAX_ENTRIES } from './iso9660.js';

const MAX_EXTENTS = 1024;
const MAX_DIR_BYTES = 2 * 2 ** 20;

export interface Extent {
  /** Absolute byte offset in the image. */
  offset: number;
  length: number;
}

export interface UdfNode {
  isDir: boolean;
  size: number;
  extents: Extent[];
}

interface Partition {
  number: number;
  start: number;
  length: number;
}

interface LongAd {
  length: number;
  lbn: number;
  partRef: number;
}

/** Checks a descriptor tag (ECMA-167 3/7.2): its identifier and its checksum. */
function checkTag(b: Buffer, o: number, id: number, what: string): void {
  if (u16(b, o) !== id) throw new IsoFormatError(`${what}: expected UDF tag ${id}, found ${u16(b, o)}`);
  let sum = 0;
  for (let i = 0; i < 16; i++) if (i !== 4) sum = (sum + u8(b, o + i)) & 0xff;
  if (sum !== u8(b, o + 4)) throw new IsoFormatError(`${what}: the UDF tag checksum is wrong`);
}

/** C0 control characters, dropped from 8-bit CS0 strings (a named constant so the lint exception
 * stays on its line whatever a formatter does to the call). */
// eslint-disable-next-line no-control-regex
const C0_CONTROLS = /[\u0000-\u001f]/g;

/** OSTA CS0 characters: a compression id (8 = one byte per char, 16 = UCS-2 BE) then the chars. */
function cs0(b: Buffer): string {
  if (b.length === 0) return '';
  const comp = b[0];
  const body = b.subarray(1);
  if (comp === 8) return body.toString('latin1').replace(C0_CONTROLS, '').trimEnd();
  if (comp === 16) return ucs2beField(body);
  return '';
}

/** A dstring: fixed field whose last byte says how many bytes are used. */
function dstring(b: Buffer): string {
  const used = b[b.length - 1] ?? 0;
  return used > 0 && used < b.length ? cs0(b.subarray(0, used)) : '';
}

function longAd(b: Buffer, o: number): LongAd {
  return { length: u32(b, o) & 0x3fffffff, lbn: u32(b, o + 4), partRef: u16(b, o + 8) };
}

/** Absolute sector of logical block `lbn` in partition reference `ref`, checked against the partition. */
function sectorOf(maps: Partition[], ref: number, lbn: number): number {
  const p = maps[ref];
  if (!p) throw new IsoFormatError(`UDF partition reference ${ref} does not exist`);
  if (lbn >= p.length) throw new IsoFormatError('a UDF block lies outside its partition');
  return p.start + lbn;
}

export class UdfVolume {
  private entries = 0;
  private constructor(
    private readonly r: ImageReader,
    readonly volumeId: string,
    private readonly maps: Partition[],
    private readonly root: LongAd,
  ) {}

  static async open(r: ImageReader): Promise<UdfVolume> {
    const avdp = await r.read(256 * SECTOR, 512, 'the UDF anchor (sector 256)');
    checkTag(avdp, 0, 2, 'UDF anchor');
    const vdsLen = Math.min(u32(avdp, 16), 32 * SECTOR);
    const vds = await r.read(
      u32(avdp, 20) * SECTOR,
      Math.max(SECTOR, vdsLen - (vdsLen % SECTOR)),
      'the UDF volume descriptors',
    );
    const partitions: Partition[] = [];
    let volumeId = '';
    let lvd: Buffer | undefined;
    for (let o = 0; o + 16 <= vds.length; o += SECTOR) {
      const id = u16(vds, o);
      if (id === 8 || id === 0) break;
      const d = vds.subarray(o, o + SECTOR);
      if (id === 1) volumeId ||= dstring(slice(d, 24, 32));
      else if (id === 5) partitions.push({ number: u16(d, 22), start: u32(d, 188), length: u32(d, 192) });
      else if (id === 6) lvd ??= d;
    }
    if (!lvd) throw new IsoFormatError('the UDF volume has no logical volume descriptor');
    checkTag(lvd, 0, 6, 'UDF logical volume');
    if (u32(lvd, 212) !== SECTOR) throw new IsoFormatError(`UDF block size ${u32(lvd, 212)} is not ${SECTOR}`);
    volumeId ||= dstring(slice(lvd, 84, 128));
    const maps: Partition[] = [];
    const nMaps = Math.min(u32(lvd, 268), 8);
    for (let i = 0, o = 440; i < nMaps; i++) {
      const type = u8(lvd, o);
      const len = u8(lvd, o + 1);
      if (type !== 1 || len !== 6)
        throw new IsoFormatError(
          'the UDF volume uses a virtual, sparable or metadata partition (UDF 2.x), which vmdesk does not read',
        );
      const p = partitions.find((x) => x.number === u16(lvd!, o + 4));
      if (!p) throw new IsoFormatError('a UDF partition map names a partition that is not described');
      maps.push(p);
      o += len;
    }
    const fsdAd = longAd(lvd, 248);
    const fsd = await r.read(sectorOf(maps, fsdAd.partRef, fsdAd.lbn) * SECTOR, 512, 'the UDF file set descriptor');
    checkTag(fsd, 0, 256, 'UDF file set');
    return new UdfVolume(r, volumeId, maps, longAd(fsd, 400));
  }

  /** Reads a (extended) file entry: its type, length and where its data lies. */
  private async node(ad: LongAd): Promise<UdfNode & { embedded?: Buffer }> {
    const fe = await this.r.read(sectorOf(this.maps, ad.partRef, ad.lbn) * SECTOR, SECTOR, 'a UDF file entry');
    const tag = u16(fe, 0);
    if (tag !== 261 && tag !== 266) throw new IsoFormatError(`expected a UDF file entry, found tag ${tag}`);
    checkTag(fe, 0, tag, 'UDF file entry');
    const fileType = u8(fe, 27);
    const allocType = u16(fe, 34) & 7;
    const size = u64(fe, 56);
    const [eaAt, adAt] = tag === 261 ? [168, 176] : [208, 216];
    const lEa = u32(fe, eaAt);
    const lAd = u32(fe, eaAt + 4);
    const start = adAt + lEa;
    if (start + lAd > fe.length) throw new IsoFormatError('a UDF file entry is longer than its block');
    const ads = fe.subarray(start, start + lAd);
    const node: UdfNode & { embedded?: Buffer } = { isDir: fileType === 4, size, extents: [] };
    if (allocType === 3) {
      node.embedded = ads.subarray(0, Math.min(size, ads.length));
      return node;
    }
    const step = allocType === 0 ? 8 : allocType === 1 ? 16 : 0;
    if (step === 0) throw new IsoFormatError('a UDF file uses extended allocation descriptors');
    for (let o = 0; o + step <= ads.length && node.extents.length < MAX_EXTENTS; o += step) {
      const raw = u32(ads, o);
      const kind = raw >>> 30;
      const length = raw & 0x3fffffff;
      if (length === 0 || kind === 3) break; // end, or a continuation of descriptors elsewhere (not followed)
      if (kind !== 0) continue; // allocated but unrecorded: reads as zeros, nothing to look at
      const lbn = u32(ads, o + 4);
      const ref = step === 16 ? u16(ads, o + 8) : ad.partRef;
      node.extents.push({ offset: sectorOf(this.maps, ref, lbn) * SECTOR, length });
    }
    return node;
  }

  private async dirBytes(n: UdfNode & { embedded?: Buffer }): Promise<Buffer> {
    if (n.embedded) return n.embedded;
    const parts: Buffer[] = [];
    let total = 0;
    for (const e of n.extents) {
      const len = Math.min(e.length, MAX_DIR_BYTES - total);
      if (len <= 0) break;
      parts.push(await this.r.read(e.offset, len, 'a UDF directory'));
      total += len;
    }
    return Buffer.concat(parts);
  }

  private async list(dir: LongAd): Promise<{ name: string; isDir: boolean; icb: LongAd }[]> {
    const n = await this.node(dir);
    if (!n.isDir) return [];
    const data = await this.dirBytes(n);
    const out: { name: string; isDir: boolean; icb: LongAd }[] = [];
    for (let o = 0; o + 38 <= data.length;) {
      if (++this.entries > MAX_ENTRIES) throw new IsoFormatError(`the UDF tree has more than ${MAX_ENTRIES} entries`);
      checkTag(data, o, 257, 'UDF file identifier');
      const chars = u8(data, o + 18);
      const lFi = u8(data, o + 19);
      const lIu = u16(data, o + 36);
      const nameAt = o + 38 + lIu;
      if (nameAt + lFi > data.length) throw new IsoFormatError('a UDF file identifier runs past its directory');
      if ((chars & 0x0c) === 0)
        out.push({
          name: cs0(data.subarray(nameAt, nameAt + lFi)),
          isDir: (chars & 0x02) !== 0,
          icb: longAd(data, o + 20),
        });
      o += 4 * Math.ceil((38 + lIu + lFi) / 4);
    }
    return out;
  }

  /** Follows `path` (case-insensitive) from the root; undefined when some component is absent. */
  async lookup(path: string[]): Promise<UdfNode | undefined> {
    if (path.length === 0 || path.length > MAX_DEPTH) return undefined;
    let at = this.root;
    for (let i = 0; i < path.length; i++) {
      const want = path[i]!.toUpperCase();
      const hit = (await this.list(at)).find(
        (e) => e.name.toUpperCase() === want && (i === path.length - 1 || e.isDir),
      );
      if (!hit) return undefined;
      at = hit.icb;
    }
    const { isDir, size, extents } = await this.node(at);
    return { isDir, size, extents };
  }
}
