/**
 * The Windows install image (sources/install.wim or install.esd): its header names an XML
 * resource (UTF-16, stored uncompressed) describing each edition — name, build, architecture.
 * The build tells Windows 11 (22000 and later) from Windows 10, which share volume ids.
 */
import type { Arch } from '../common/host-types.js';
import type { WindowsMedia } from '../common/iso-types.js';
import type { Extent } from './udf.js';
import type { ImageReader } from './reader.js';
import { IsoFormatError, u32, u64, u8 } from './reader.js';

const MAX_XML_BYTES = 1024 * 1024;
const MAX_EDITIONS = 32;

/** Reads `length` bytes at `fileOffset` of a file stored as `extents` (in order). */
export async function readExtents(
  r: ImageReader,
  extents: Extent[],
  fileOffset: number,
  length: number,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let skip = fileOffset;
  let want = length;
  for (const e of extents) {
    if (want === 0) break;
    if (skip >= e.length) {
      skip -= e.length;
      continue;
    }
    const n = Math.min(e.length - skip, want);
    parts.push(await r.read(e.offset + skip, n, 'the Windows install image'));
    want -= n;
    skip = 0;
  }
  if (want > 0) throw new IsoFormatError('the Windows install image is shorter than its header says');
  return Buffer.concat(parts);
}

type WimFacts = Pick<WindowsMedia, 'build' | 'installationType' | 'editions' | 'arch'>;

export async function readWimFacts(r: ImageReader, extents: Extent[]): Promise<WimFacts> {
  const header = await readExtents(r, extents, 0, 208);
  // "MSWIM\0\0\0"; install.esd uses the same header.
  if (header.toString('latin1', 0, 8) !== 'MSWIM\0\0\0')
    throw new IsoFormatError('the Windows install image has no WIM header');
  // rhXmlData (RESHDR_DISK_SHORT at 0x48): 7-byte size, 1-byte flags, 8-byte offset, 8-byte original size.
  const size = u32(header, 0x48) + (u8(header, 0x4c) + u8(header, 0x4d) * 256 + u8(header, 0x4e) * 65536) * 2 ** 32;
  const flags = u8(header, 0x4f);
  const offset = u64(header, 0x50);
  if (flags & 0x04) throw new IsoFormatError('the Windows install image stores its XML compressed');
  if (size < 2 || size > MAX_XML_BYTES) throw new IsoFormatError(`the Windows install image's XML is ${size} bytes`);
  const xml = (await readExtents(r, extents, offset, size - (size % 2))).toString('utf16le').replace(/^\uFEFF/, '');
  return parseWimXml(xml);
}

/** Facts from the WIM XML: the first edition's build/type/arch and every edition's name. */
export function parseWimXml(xml: string): WimFacts {
  const images = xml.match(/<IMAGE\b[\s\S]*?<\/IMAGE>/g) ?? [];
  const tag = (s: string, name: string) => {
    const text = s.match(new RegExp(`<${name}>([^<]{0,200})</${name}>`))?.[1]?.trim();
    return text === undefined
      ? null
      : text
          .replace(/&lt;/g, '<')
          .replace(/&gt;/g, '>')
          .replace(/&quot;/g, '"')
          .replace(/&apos;/g, "'")
          .replace(/&amp;/g, '&');
  };
  const first = images[0] ?? '';
  const build = Number(tag(first, 'BUILD'));
  const archCode = tag(first, 'ARCH');
  // PROCESSOR_ARCHITECTURE values: 0 x86, 5 ARM, 9 AMD64, 12 ARM64.
  const arch: Arch | 'x86' | 'other' | null =
    archCode === null
      ? null
      : (({ '0': 'x86', '9': 'x86_64', '12': 'aarch64' } as Record<string, Arch | 'x86'>)[archCode] ?? 'other');
  const editions = images
    .map((img) => tag(img, 'DISPLAYNAME') ?? tag(img, 'NAME'))
    .filter((n): n is string => !!n)
    .slice(0, MAX_EDITIONS);
  return {
    build: Number.isSafeInteger(build) && build > 0 ? build : null,
    installationType: tag(first, 'INSTALLATIONTYPE'),
    editions,
    arch,
  };
}
