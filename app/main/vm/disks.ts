/**
 * A VM's disks after it is made: what an image file is (qemu-img, once, then stored), making,
 * growing, and plugging disks into a running QEMU and out of it. The caller (VmInstance) holds
 * the VM's job lock and owns the definition; these functions only touch files and QEMU.
 *
 * MUST NOT let QEMU guess a format: every image is opened with the format stored for it, and an
 * image whose backing file has no recorded format, or lies outside the user's own files, is refused.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { VmdeskError } from '../common/errors.js';
import { diskSlot, MAX_DISKS, diskTarget, type DiskSpec, type VmDefinition } from '../common/vm-types.js';
import type { QmpClient } from '../qemu/qmp-client.js';
import { HOTPLUG_PORTS } from '../qemu/argv.js';
import type { AppPaths } from '../paths/app-paths.js';
import { makePrivateDir } from '../paths/storage-errors.js';
import { ownedDiskPath, vmFiles } from '../paths/vm-files.js';
import { checkReadableFile, formatMiB } from './define-vm.js';
import { realpath } from './runtime-files.js';

const execFileP = promisify(execFile);

/** What `qemu-img info` says about an image (the first entry of its backing chain). */
export interface ImageInfo {
  format: 'qcow2' | 'raw';
  virtualSize: number;
  /** The backing chain below it, nearest first: file and recorded format (absent: not recorded). */
  backing: { file: string; format?: string }[];
}

interface QemuImgInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
}

/**
 * The image's format, size and backing chain. `running`: the image is open in a QEMU (`-U`, no
 * lock taken). A format other than qcow2 or raw is refused with what to do.
 */
export async function imageInfo(qemuImg: string, file: string, running = false): Promise<ImageInfo> {
  const info = (chain: boolean) =>
    execFileP(
      qemuImg,
      ['info', '--output=json', ...(chain ? ['--backing-chain'] : []), ...(running ? ['-U'] : []), file],
      {
        maxBuffer: 4 * 2 ** 20,
      },
    );
  let out: string;
  try {
    out = (await info(true)).stdout;
  } catch (err) {
    // The chain cannot be followed: say which backing file is missing, when that is why.
    const top = await info(false).then(
      (r) => JSON.parse(r.stdout) as QemuImgInfo[] | QemuImgInfo,
      () => undefined,
    );
    const backing = top && !Array.isArray(top) ? (top['full-backing-filename'] ?? top['backing-filename']) : undefined;
    if (backing && !fs.existsSync(backing))
      throw new VmdeskError(
        'invalid-argument',
        `${file} reads through the backing file ${backing}, which does not exist. Put it back, or attach a disk without it.`,
        { field: 'file' },
      );
    const e = err as { stderr?: string; message: string };
    throw new VmdeskError(
      'invalid-argument',
      `qemu-img cannot read ${file}: ${(e.stderr || e.message).trim().split('\n')[0]}`,
      { field: 'file' },
    );
  }
  const chain = JSON.parse(out) as QemuImgInfo[];
  const top = chain[0];
  if (!top) throw new VmdeskError('invalid-argument', `qemu-img says nothing about ${file}.`, { field: 'file' });
  if (top.format !== 'qcow2' && top.format !== 'raw')
    throw new VmdeskError(
      'invalid-argument',
      `${file} is a ${top.format} image; vmdesk uses qcow2 and raw. Convert it: qemu-img convert -O qcow2 "${file}" "${file}.qcow2"`,
      { field: 'file' },
    );
  const backing: ImageInfo['backing'] = [];
  for (const entry of chain) {
    if (!entry['backing-filename']) break;
    const file = entry['full-backing-filename'] ?? entry['backing-filename'];
    backing.push({
      file,
      ...(entry['backing-filename-format'] ? { format: entry['backing-filename-format'] } : {}),
    });
  }
  return { format: top.format, virtualSize: top['virtual-size'], backing };
}

/**
 * Refuses an image to attach whose backing chain QEMU would open on the user's behalf without
 * the user seeing it: a backing file that is missing, not the user's own, or whose format is not
 * recorded (QEMU would have to guess it).
 */
export function assertBackingChainIsTheUsers(file: string, info: ImageInfo, uid = process.getuid?.()): void {
  for (const b of info.backing) {
    const st = fs.statSync(b.file, { throwIfNoEntry: false });
    if (!st)
      throw new VmdeskError(
        'invalid-argument',
        `${file} reads through the backing file ${b.file}, which does not exist. Attach a copy without it: qemu-img convert -O qcow2 "${file}" copy.qcow2`,
        { field: 'file' },
      );
    if (uid !== undefined && st.uid !== uid)
      throw new VmdeskError(
        'invalid-argument',
        `${file} reads through ${b.file}, which is not your file (owner uid ${st.uid}). vmdesk opens only your own files; attach a flattened copy: qemu-img convert -O qcow2 "${file}" copy.qcow2`,
        { field: 'file' },
      );
    if (!b.format)
      throw new VmdeskError(
        'invalid-argument',
        `${file} does not record the format of its backing file ${b.file}, so QEMU would have to guess it. Record it: qemu-img rebase -u -F qcow2 -b "${b.file}" "${file}" (or -F raw).`,
        { field: 'file' },
      );
  }
}

/** The space a disk's file takes on the host (allocated blocks: a sparse or qcow2 file grows as the guest writes). */
export function hostUsage(disk: Pick<DiskSpec, 'path'>): number | undefined {
  try {
    // A missing file is no exception here (a list of VMs with a moved disk asks for it every time).
    const st = fs.statSync(disk.path, { throwIfNoEntry: false });
    return st ? st.blocks * 512 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * qcow2 sizes read from headers, by path, with the file's identity and version when read: every
 * summary of every VM (a list of 200) asks, and an unchanged image is not opened again. A resize
 * (qemu-img, or QEMU's block_resize) writes the header and so changes mtime and ctime.
 */
const qcow2Sizes = new Map<string, { stamp: string; size: number | undefined }>();
/** Disks are few; a bound keeps images long deleted or renamed from piling up in a long-lived driver. */
const QCOW2_SIZES_MAX = 4096;

/**
 * The size the guest sees, read from the image itself (cheap enough for every summary): a raw
 * image's length, a qcow2 header's size field. Undefined when the file cannot be read.
 */
export function virtualSize(disk: Pick<DiskSpec, 'path' | 'format'>): number | undefined {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(disk.path, { throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  if (!st) {
    qcow2Sizes.delete(disk.path);
    return undefined;
  }
  if (disk.format === 'raw') return st.size;
  const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  const known = qcow2Sizes.get(disk.path);
  if (known?.stamp === stamp) return known.size;
  const size = qcow2HeaderSize(disk.path);
  if (qcow2Sizes.size >= QCOW2_SIZES_MAX) qcow2Sizes.clear();
  qcow2Sizes.set(disk.path, { stamp, size });
  return size;
}

/** A qcow2 header's size field (bytes 24-31, big-endian), undefined when it is not qcow2. */
function qcow2HeaderSize(file: string): number | undefined {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const head = Buffer.alloc(32);
      if (fs.readSync(fd, head, 0, 32, 0) < 32 || head.readUInt32BE(0) !== 0x514649fb) return undefined;
      return Number(head.readBigUInt64BE(24));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/**
 * The disk vm.addDisk asks for as `target`: a new qcow2 made in the VM's folder, or an existing
 * image checked (readable, no VM's yet, format and backing chain as qemu-img reads them).
 * `others`: the other VMs' definitions.
 */
export async function prepareDisk(
  p: { sizeBytes?: number; path?: string; format?: 'qcow2' | 'raw' },
  def: VmDefinition,
  target: string,
  others: readonly VmDefinition[],
  o: { qemuImg: string; paths: AppPaths },
): Promise<DiskSpec> {
  if ((p.sizeBytes === undefined) === (p.path === undefined))
    throw new VmdeskError('invalid-argument', 'Give either a size for a new disk or the path of an existing one.', {
      field: 'disk',
    });
  if (p.path === undefined) {
    const file = newDiskFile(o.paths, def, target);
    makePrivateDir(path.dirname(file), o.paths);
    await createQcow2(o.qemuImg, file, p.sizeBytes!);
    return { path: file, target, format: 'qcow2', owned: true, readOnly: false };
  }
  const file = checkReadableFile(p.path, 'file', 'disk image', true);
  const real = realpath(file);
  const mine = def.disks.find((d) => realpath(d.path) === real);
  if (mine)
    throw new VmdeskError('disk-in-use', `${file} is already disk ${mine.target} of "${def.name}".`, { field: 'file' });
  const user = others.find((other) => other.disks.some((d) => realpath(d.path) === real));
  if (user)
    throw new VmdeskError(
      'disk-in-use',
      `${file} already belongs to the VM "${user.name}". Use a copy, or remove it from "${user.name}" first.`,
      { field: 'file' },
    );
  const info = await imageInfo(o.qemuImg, file);
  if (p.format && p.format !== info.format)
    throw new VmdeskError(
      'invalid-argument',
      `${file} is a ${info.format} image, not ${p.format}. Leave the format out, or convert it.`,
      { field: 'format' },
    );
  assertBackingChainIsTheUsers(file, info);
  return { path: file, target, format: info.format, owned: false, readOnly: false };
}

/** A new disk's file in the VM's folder: named by its target, never an existing file's name. */
function newDiskFile(paths: AppPaths, def: VmDefinition, target: string): string {
  const base = ownedDiskPath(vmFiles(paths, def.id, def.dataDir).dataDir, diskSlot(target), 'qcow2');
  let file = base;
  for (let n = 2; fs.existsSync(file); n++) file = base.replace(/\.qcow2$/, `-${n}.qcow2`);
  return file;
}

/** The first free target: not used by the definition nor (while it runs) by the running QEMU. */
export function freeTarget(def: VmDefinition, runDef: VmDefinition | undefined): string {
  const used = new Set([...def.disks, ...(runDef?.disks ?? [])].map((d) => d.target));
  for (let i = 0; i < MAX_DISKS; i++) if (!used.has(diskTarget(i))) return diskTarget(i);
  throw new VmdeskError(
    'invalid-argument',
    `"${def.name}" has ${def.disks.length} disks${runDef ? ' (counting the ones its running QEMU still has)' : ''}; a VM can have at most ${MAX_DISKS}. Remove one first.`,
    { field: 'disk' },
  );
}

/** The disk with this target, or a sentence naming the ones there are. */
export function findDisk(def: VmDefinition, target: string): DiskSpec {
  const disk = def.disks.find((d) => d.target === target);
  if (disk) return disk;
  throw new VmdeskError(
    'not-found',
    `"${def.name}" has no disk ${target}; its disks are ${def.disks.map((d) => d.target).join(', ') || 'none'}.`,
    { field: 'target' },
  );
}

/** A new, empty qcow2 of `sizeBytes` (private to the user), after checking it would fit. */
export async function createQcow2(
  qemuImg: string,
  file: string,
  sizeBytes: number,
  signal?: AbortSignal,
): Promise<void> {
  const free = fs.statfsSync(path.dirname(file));
  const freeBytes = free.bavail * free.bsize;
  if (sizeBytes > freeBytes)
    throw new VmdeskError(
      'insufficient-resources',
      `A ${formatMiB(Math.round(sizeBytes / 2 ** 20))} disk does not fit: ${formatMiB(Math.floor(freeBytes / 2 ** 20))} free in ${path.dirname(file)}. Choose a smaller size or free space.`,
      { field: 'size' },
    );
  try {
    await execFileP(qemuImg, ['create', '-q', '-f', 'qcow2', file, String(sizeBytes)], { signal });
  } catch (err) {
    fs.rmSync(file, { force: true });
    const e = err as { stderr?: string; message: string };
    throw new VmdeskError('qemu-failed', `qemu-img could not create the disk: ${(e.stderr || e.message).trim()}`);
  }
  fs.chmodSync(file, 0o600);
}

/** Refuses a new size that does not grow the disk, in a sentence. */
export function assertGrows(name: string, disk: DiskSpec, current: number, sizeBytes: number): void {
  if (sizeBytes > current) return;
  const size = (n: number) => formatMiB(Math.round(n / 2 ** 20));
  throw new VmdeskError(
    'invalid-argument',
    sizeBytes === current
      ? `${disk.target} of "${name}" is already ${size(current)}.`
      : `${disk.target} of "${name}" is ${size(current)}; shrinking a disk is refused, since it cuts off whatever the guest keeps at its end. Give a size above ${size(current)}.`,
    { field: 'size' },
  );
}

/**
 * A qcow2 copy of a raw image no QEMU has open, in the VM's folder as `target`'s new file; the
 * raw file is left as it was. The copy is removed again when the conversion fails.
 */
export async function convertToQcow2(
  qemuImg: string,
  def: VmDefinition,
  disk: DiskSpec,
  paths: AppPaths,
): Promise<DiskSpec> {
  const file = newDiskFile(paths, def, disk.target);
  makePrivateDir(path.dirname(file), paths);
  const free = fs.statfsSync(path.dirname(file));
  const used = fs.statSync(disk.path).blocks * 512;
  if (used > free.bavail * free.bsize)
    throw new VmdeskError(
      'insufficient-resources',
      `Converting ${disk.target} needs about ${formatMiB(Math.ceil(used / 2 ** 20))} free in ${path.dirname(file)}; ${formatMiB(Math.floor((free.bavail * free.bsize) / 2 ** 20))} are free.`,
      { field: 'target' },
    );
  try {
    await execFileP(qemuImg, ['convert', '-q', '-f', 'raw', '-O', 'qcow2', disk.path, file]);
  } catch (err) {
    fs.rmSync(file, { force: true });
    const e = err as { stderr?: string; message: string };
    throw new VmdeskError('qemu-failed', `qemu-img could not convert ${disk.path}: ${(e.stderr || e.message).trim()}`);
  }
  fs.chmodSync(file, 0o600);
  return { path: file, target: disk.target, format: 'qcow2', owned: true, readOnly: disk.readOnly };
}

/** Grows an image that no QEMU has open. */
export async function resizeImage(qemuImg: string, disk: DiskSpec, sizeBytes: number): Promise<void> {
  try {
    await execFileP(qemuImg, ['resize', '-q', '-f', disk.format, disk.path, String(sizeBytes)]);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new VmdeskError('qemu-failed', `qemu-img could not grow ${disk.path}: ${(e.stderr || e.message).trim()}`);
  }
}

/** Grows a disk of a running QEMU; the guest sees the new size at once (virtio-blk). */
export async function resizeLive(qmp: QmpClient, disk: DiskSpec, sizeBytes: number): Promise<void> {
  await qmp.execute('block_resize', { 'node-name': `disk${diskSlot(disk.target)}`, size: sizeBytes });
}

/**
 * Plugs a disk into a running QEMU: its node (format given), then a virtio-blk device in the
 * first free hot-plug port. Undoes the node when no port takes the device.
 */
export async function plugDisk(qmp: QmpClient, disk: DiskSpec): Promise<void> {
  const n = diskSlot(disk.target);
  await qmp.execute('blockdev-add', {
    driver: disk.format,
    'node-name': `disk${n}`,
    'read-only': disk.readOnly,
    file: { driver: 'file', filename: disk.path, 'read-only': disk.readOnly },
  });
  let last: unknown;
  for (let port = 0; port < HOTPLUG_PORTS; port++) {
    try {
      await qmp.execute('device_add', {
        driver: 'virtio-blk-pci',
        drive: `disk${n}`,
        id: `virtio-disk${n}`,
        bus: `hotplug${port}`,
      });
      return;
    } catch (err) {
      last = err;
      // A port that holds a device already: try the next one. Anything else is QEMU refusing.
      if (!/slot .*(in use|occupied)|already|no free slot|not free/i.test((err as Error).message)) break;
    }
  }
  await qmp.execute('blockdev-del', { 'node-name': `disk${n}` }).catch(() => undefined);
  const why = (last as Error | undefined)?.message ?? 'no hot-plug port';
  throw new VmdeskError(
    'qemu-failed',
    /slot|already|free/i.test(why)
      ? `Every hot-plug slot of the running VM is taken (${HOTPLUG_PORTS}); the disk is added from its next start. Shut it down to add it now.`
      : `QEMU could not plug the disk in: ${why}`,
  );
}

/**
 * Asks the guest to release a disk (PCI hot-unplug) and waits for QEMU's DEVICE_DELETED up to
 * `timeoutMs`; then closes its node. False when the guest did not let go in time: the device
 * stays in this run and goes at the next start.
 */
export async function unplugDisk(qmp: QmpClient, disk: DiskSpec, timeoutMs: number): Promise<boolean> {
  const n = diskSlot(disk.target);
  const id = `virtio-disk${n}`;
  let off = (): void => undefined;
  const deleted = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    off = qmp.onEvent((e) => {
      const data = e.data as { device?: string } | undefined;
      if (e.event === 'DEVICE_DELETED' && data?.device === id) {
        clearTimeout(timer);
        resolve(true);
      }
    });
  });
  try {
    await qmp.execute('device_del', { id });
    if (!(await deleted)) return false;
  } finally {
    off();
  }
  await qmp.execute('blockdev-del', { 'node-name': `disk${n}` }).catch(() => undefined);
  return true;
}
