/**
 * `inspectIso(path)`: what an installer image is and how it boots, read with positioned reads
 * (a few hundred kilobytes at most, whatever the ISO's size). A file that is not a disc image is
 * a VmdeskError('invalid-argument', field 'iso') saying what it is and what to do; a damaged
 * optional part (boot catalogue, EFI image, UDF, WIM) becomes a warning.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import type { Arch } from '../common/host-types.js';
import type { IsoInfo, WindowsMedia } from '../common/iso-types.js';
import { fileSource, ImageReader, IsoFormatError, SECTOR } from './reader.js';
import { Iso9660Tree, jolietVolumeId, primaryFields, readDescriptors, type DirRecord } from './iso9660.js';
import { readBootCatalog } from './eltorito.js';
import { listFatDir } from './fat.js';
import { UdfVolume, type Extent } from './udf.js';
import { readWimFacts } from './wim.js';
import { sniffFileKind } from './sniff.js';

/** 16 system-area sectors plus one descriptor: nothing shorter can be an ISO. */
export const MIN_ISO_BYTES = 17 * SECTOR;
/** A volume may claim a little more than the file holds (padding dropped by some tools). */
const SHORTFALL_TOLERANCE = 1024 * 1024;
const MAX_EFI_ENTRIES = 4;

const EFI_ARCH: Record<string, Arch> = { 'BOOTX64.EFI': 'x86_64', 'BOOTAA64.EFI': 'aarch64' };
const INSTALL_IMAGES = [
  ['sources', 'install.wim'],
  ['sources', 'install.esd'],
];

function invalid(message: string): VmdeskError {
  return new VmdeskError('invalid-argument', message, { field: 'iso' });
}

function mib(bytes: number): string {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${bytes} bytes`;
}

async function openChecked(abs: string): Promise<{ fh: fs.FileHandle; size: number }> {
  let st;
  try {
    st = await fs.stat(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw invalid(`There is no file at ${abs}. Check the path, or pick the ISO again.`);
    if (code === 'EACCES')
      throw invalid(
        `vmdesk cannot reach ${abs}: permission denied on a folder above it. Copy the ISO somewhere your user can read.`,
      );
    throw invalid(`vmdesk cannot look at ${abs}: ${(err as Error).message}.`);
  }
  if (st.isDirectory()) throw invalid(`${abs} is a folder, not an ISO image. Pick the .iso file inside it.`);
  if (!st.isFile())
    throw invalid(
      `${abs} is not a regular file (it is a device, pipe or socket). Pick an .iso file; to use a physical disc, copy it to a file first (e.g. dd if=/dev/sr0 of=disc.iso).`,
    );
  if (st.size === 0)
    throw invalid(`${abs} is empty (0 bytes), probably an unfinished download. Download the ISO again.`);
  try {
    return { fh: await fs.open(abs, 'r'), size: st.size };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM')
      throw invalid(
        `vmdesk cannot read ${abs}: permission denied. Make it readable for your user (chmod a+r "${abs}") or copy it somewhere you own.`,
      );
    throw invalid(`vmdesk cannot open ${abs}: ${(err as Error).message}.`);
  }
}

/** The refusal for a file that is not a disc image: what it looks like when its first bytes say, else `otherwise`. */
async function notAnIso(r: ImageReader, abs: string, otherwise: string): Promise<VmdeskError> {
  const head = (await r.tryRead(0, Math.min(r.size, 1024))) ?? Buffer.alloc(0);
  const kind = sniffFileKind(head);
  return invalid(kind ? `${abs} is ${kind.what}, not an ISO disc image. ${kind.hint}` : otherwise);
}

export async function inspectIso(file: string): Promise<IsoInfo> {
  const abs = path.resolve(file);
  const { fh, size } = await openChecked(abs);
  try {
    return await inspectImage(new ImageReader(fileSource(fh, size)), abs);
  } finally {
    await fh.close();
  }
}

/**
 * The inspection proper, on any byte source (the fuzz test feeds mutated buffers). Resolves with
 * the facts or throws VmdeskError; `abs` is only used in messages.
 */
export async function inspectImage(r: ImageReader, abs: string): Promise<IsoInfo> {
  try {
    return await inspectOpen(r, abs);
  } catch (err) {
    // A malformed required structure (the part without which there is nothing to show).
    if (err instanceof IsoFormatError)
      throw invalid(`${abs} is a damaged ISO image (${err.message}). Download it again.`);
    throw err;
  }
}

async function inspectOpen(r: ImageReader, abs: string): Promise<IsoInfo> {
  if (r.size < MIN_ISO_BYTES) {
    throw await notAnIso(
      r,
      abs,
      `${abs} is only ${r.size} bytes, too small to be an ISO image (at least ${MIN_ISO_BYTES / 1024} KiB). It is probably an incomplete download: download it again.`,
    );
  }
  const desc = await readDescriptors(r);
  if (!desc.iso9660 && !desc.udfRecognised) {
    throw await notAnIso(
      r,
      abs,
      `${abs} is not an ISO 9660 or UDF disc image (there is no volume descriptor at sector 16). Pick the installer's .iso file, or download it again.`,
    );
  }
  const warnings: string[] = [];
  const info: IsoInfo = {
    path: abs,
    sizeBytes: r.size,
    volumeSizeBytes: null,
    format: desc.iso9660 ? (desc.udfRecognised ? 'iso9660+udf' : 'iso9660') : 'udf',
    volumeId: '',
    systemId: '',
    publisher: '',
    dataPreparer: '',
    applicationId: '',
    volumeSetId: '',
    created: null,
    modified: null,
    joliet: null,
    rockRidge: false,
    udf: desc.udfRecognised,
    isoLevel: null,
    hybrid: null,
    bootable: { bios: false, uefi: false },
    bootEntries: [],
    efiArchs: [],
    efiBootFiles: [],
    windows: null,
    warnings,
  };
  if (desc.iso9660) {
    if (!desc.pvd) {
      const cut = !desc.terminated;
      throw invalid(
        cut
          ? `${abs} is incomplete: it starts like an ISO image but ends (at ${mib(r.size)}) before its volume descriptors. The download was probably interrupted: download it again.`
          : `${abs} is a damaged ISO image: it has no primary volume descriptor. Download it again.`,
      );
    }
    const p = primaryFields(desc.pvd);
    Object.assign(info, {
      volumeId: p.volumeId,
      systemId: p.systemId,
      publisher: p.publisher,
      dataPreparer: p.dataPreparer,
      applicationId: p.applicationId,
      volumeSetId: p.volumeSetId,
      created: p.created,
      modified: p.modified,
    });
    info.volumeSizeBytes = p.volumeSizeBytes;
    if (p.blockSize !== SECTOR)
      warnings.push(
        `The volume declares ${p.blockSize}-byte blocks instead of ${SECTOR}; vmdesk reads it as ${SECTOR}.`,
      );
    if (p.volumeSizeBytes > r.size + SHORTFALL_TOLERANCE) {
      throw invalid(
        `${abs} is incomplete: the image says it holds ${mib(p.volumeSizeBytes)} but the file has only ${mib(r.size)}. The download was probably interrupted: download it again.`,
      );
    }
    if (p.volumeSizeBytes > r.size)
      warnings.push(
        `The file is ${mib(p.volumeSizeBytes - r.size)} shorter than its volume; the last sectors are missing.`,
      );
    if (desc.joliet) info.joliet = { volumeId: jolietVolumeId(desc.joliet) };
  }
  info.hybrid = await hybridTable(r);

  const trees = await openTrees(r, desc.pvd, desc.joliet, warnings);
  const primary = trees.find((t) => !t.joliet);
  if (primary) info.rockRidge = primary.rockRidge;
  const udf = desc.udfRecognised ? await optional(() => UdfVolume.open(r), 'the UDF filesystem', warnings) : undefined;
  if (!desc.iso9660) {
    info.volumeId = udf?.volumeId ?? '';
    warnings.push(
      'This is a UDF-only image (no ISO 9660 side, so no El Torito boot record): firmware cannot boot a VM from it. Attach it as a data disc, or use the installer ISO.',
    );
  }

  if (desc.bootCatalogLba !== null) {
    const lba = desc.bootCatalogLba;
    const cat = await optional(() => readBootCatalog(r, lba), 'the El Torito boot catalogue', warnings);
    if (cat) {
      info.bootEntries = cat.entries;
      warnings.push(...cat.warnings);
    }
  }
  await findEfiFiles(r, info, trees, warnings);
  info.windows = await findWindowsImage(r, trees, udf, warnings);

  if (primary) info.isoLevel = desc.enhanced ? 4 : primary.multiExtent ? 3 : primary.longNames ? 2 : 1;
  info.bootable.bios = info.bootEntries.some((e) => e.bootable && e.platform === 'bios');
  if (desc.iso9660 && !info.bootable.bios && !info.bootable.uefi) {
    warnings.push(
      info.bootEntries.length === 0
        ? 'This disc is not bootable (it has no El Torito boot entry): a VM cannot start from it. It can still be attached as a data CD.'
        : 'This disc has a boot catalogue but no entry a PC firmware can boot (BIOS or UEFI): a VM cannot start from it.',
    );
  }
  return info;
}

async function optional<T>(fn: () => Promise<T>, what: string, warnings: string[]): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof IsoFormatError)) throw err;
    warnings.push(`Could not read ${what}: ${err.message}.`);
    return undefined;
  }
}

async function hybridTable(r: ImageReader): Promise<'mbr' | 'gpt' | null> {
  const head = await r.tryRead(0, 1024);
  if (!head) return null;
  if (head.toString('latin1', 512, 520) === 'EFI PART') return 'gpt';
  return head[510] === 0x55 && head[511] === 0xaa ? 'mbr' : null;
}

/** The primary tree (with Rock Ridge names) first, then Joliet; either may be absent or damaged. */
async function openTrees(
  r: ImageReader,
  pvd: Buffer | null,
  joliet: Buffer | null,
  warnings: string[],
): Promise<Iso9660Tree[]> {
  const out: Iso9660Tree[] = [];
  if (pvd) {
    const t = await optional(() => Iso9660Tree.open(r, pvd, false), 'the ISO 9660 root directory', warnings);
    if (t) out.push(t);
  }
  if (joliet) {
    const t = await optional(() => Iso9660Tree.open(r, joliet, true), 'the Joliet root directory', warnings);
    if (t) out.push(t);
  }
  return out;
}

async function findEfiFiles(r: ImageReader, info: IsoInfo, trees: Iso9660Tree[], warnings: string[]): Promise<void> {
  const bootFile = (n: string) => /^BOOT[A-Z0-9]+\.EFI$/.test(n);
  const efiEntries = info.bootEntries.filter((e) => e.bootable && e.platform === 'efi').slice(0, MAX_EFI_ENTRIES);
  let espUsable = false;
  for (const e of efiEntries) {
    const names = await optional(
      () => listFatDir(r, e.loadRba * SECTOR, ['EFI', 'BOOT']),
      `the UEFI boot image at sector ${e.loadRba}`,
      warnings,
    );
    if (names === undefined) {
      espUsable = true; // unreadable to us, not necessarily to the firmware
      continue;
    }
    const found = names.filter(bootFile);
    if (found.length > 0) espUsable = true;
    for (const n of found) pushUnique(info.efiBootFiles, `esp:/EFI/BOOT/${n}`);
  }
  for (const t of trees) {
    const names = await optional(() => t.listPath(['EFI', 'BOOT']), 'the EFI/BOOT folder', warnings);
    for (const n of (names ?? [])
      .filter((d) => !d.isDir)
      .map((d) => d.name.toUpperCase())
      .filter(bootFile))
      pushUnique(info.efiBootFiles, `iso:/EFI/BOOT/${n}`);
  }
  info.bootable.uefi = efiEntries.length > 0 && espUsable;
  if (efiEntries.length > 0 && !espUsable)
    warnings.push('The UEFI boot image has no \\EFI\\BOOT\\BOOT*.EFI file, so UEFI firmware cannot boot this disc.');
  const names = new Set(info.efiBootFiles.map((f) => f.slice(f.lastIndexOf('/') + 1)));
  for (const [name, arch] of Object.entries(EFI_ARCH)) if (names.has(name)) info.efiArchs.push(arch);
  if (names.has('BOOTIA32.EFI') && info.efiArchs.length === 0)
    warnings.push(
      'The disc boots only 32-bit UEFI (BOOTIA32.EFI): 64-bit UEFI firmware cannot start it; use BIOS if the disc offers it.',
    );
}

function pushUnique(list: string[], item: string): void {
  if (!list.includes(item)) list.push(item);
}

async function findWindowsImage(
  r: ImageReader,
  trees: Iso9660Tree[],
  udf: UdfVolume | undefined,
  warnings: string[],
): Promise<WindowsMedia | null> {
  for (const p of INSTALL_IMAGES) {
    let extents: Extent[] | undefined;
    let foundIn: WindowsMedia['foundIn'] = 'iso9660';
    for (const t of trees) {
      const recs = await optional(() => t.lookup(p), 'the ISO 9660 directory tree', warnings);
      const files = recs?.filter((x: DirRecord) => !x.isDir);
      if (files && files.length > 0) {
        extents = files.map((f) => ({ offset: f.lba * SECTOR, length: f.size }));
        break;
      }
    }
    if (!extents && udf) {
      const node = await optional(() => udf.lookup(p), 'the UDF directory tree', warnings);
      if (node && !node.isDir) {
        extents = node.extents;
        foundIn = 'udf';
      }
    }
    if (!extents) continue;
    const ext = extents;
    const facts = await optional(() => readWimFacts(r, ext), `${p.join('/')}`, warnings);
    return {
      installImage: p.join('/'),
      foundIn,
      build: null,
      installationType: null,
      editions: [],
      arch: null,
      ...facts,
    };
  }
  return null;
}
