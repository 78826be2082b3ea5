/**
 * `vm.clone`: what a clone is made of (the plan, pure), and making its files. A clone is a new
 * VM: new id (so a new MAC, derived from it), its own folder, the source's NVRAM copied.
 *
 * Full: every disk is copied into the clone's folder, the ones the source does not own too (the
 * clone owns its copies). A plain image is copied byte for byte (holes stay holes; as fast as
 * `cp`, and internal snapshots survive); an overlay (a linked clone's disk, or any qcow2 with a
 * backing file) is flattened with `qemu-img convert`, so the copy stands alone.
 * Linked: each disk of the clone is a qcow2 overlay reading through the source's disk, which then
 * stays read-only for as long as the clone exists (the caller marks it, VmInstance.setLinkedClone).
 *
 * The caller (VmManager) owns the registry, the intent and the clean-up: these functions only
 * make files inside the clone's folder, and MUST stop at once when their AbortSignal fires.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { VmdeskError } from '../common/errors.js';
import { normalizeVmName } from '../common/names.js';
import { diskSlot, type DiskSpec, type VmDefinition } from '../common/vm-types.js';
import { nvramPath, ownedDiskPath } from '../paths/vm-files.js';
import { formatMiB } from './define-vm.js';
import { imageInfo } from './disks.js';

const execFileP = promisify(execFile);

/** How one disk of the clone is made. */
export type CloneHow = 'overlay' | 'copy' | 'flatten';

export interface CloneDiskStep {
  /** The source's disk (its target is kept: the guest sees the same vda, vdb…). */
  source: DiskSpec;
  how: CloneHow;
  /** The clone's disk file, in its own folder. */
  dest: string;
  format: 'qcow2' | 'raw';
  /** Work for the progress bar: the bytes a copy reads, a flatten's virtual size; 0 for an overlay. */
  bytes: number;
}

export interface ClonePlan {
  id: string;
  name: string;
  linked: boolean;
  /** The clone's data folder (VmFiles.dataDir): its disks and UEFI variables go there. */
  dataDir: string;
  /** `dataDir` is not the default one (a VM folder set in Preferences): the definition says it. */
  customDataDir: boolean;
  disks: CloneDiskStep[];
  /** The source's UEFI variables, copied into the clone's folder. */
  nvram?: { from: string; to: string; bytes: number };
  /** Bytes of free space the clone needs in the data folder (an estimate on the safe side). */
  needBytes: number;
}

/** What the caller needs to know of each source disk that it cannot tell from the definition. */
export interface SourceDiskFacts {
  /** Apparent size in bytes (what a byte copy reads). */
  size: number;
  /** Bytes a copy or a flatten writes at most (allocated blocks; `qemu-img measure` for a flatten). */
  need: number;
  /** The image reads through a backing file (a qcow2 overlay): a full clone flattens it. */
  hasBacking: boolean;
}

/**
 * The disks of a clone, one step each. Pure: `facts` says what is on disk. A full clone flattens
 * every image with a backing file, and copies the others as they are.
 */
export function planClone(
  src: VmDefinition,
  o: {
    id: string;
    name: string;
    linked: boolean;
    dataDir: string;
    customDataDir: boolean;
    facts: ReadonlyMap<string, SourceDiskFacts>;
  },
): ClonePlan {
  const disks = src.disks.map((d): CloneDiskStep => {
    const f = o.facts.get(d.path);
    if (!f) throw new Error(`no facts about ${d.path}`);
    if (o.linked)
      return {
        source: d,
        how: 'overlay',
        dest: ownedDiskPath(o.dataDir, diskSlot(d.target), 'qcow2'),
        format: 'qcow2',
        bytes: 0,
      };
    const how = f.hasBacking || d.backing ? 'flatten' : 'copy';
    const format = how === 'flatten' ? 'qcow2' : d.format;
    return { source: d, how, dest: ownedDiskPath(o.dataDir, diskSlot(d.target), format), format, bytes: f.size };
  });
  const nvram =
    src.nvram && fs.existsSync(src.nvram)
      ? { from: src.nvram, to: nvramPath(o.dataDir, src.secureBoot), bytes: fs.statSync(src.nvram).size }
      : undefined;
  // An overlay starts at a few hundred KiB (its header and first tables).
  const needBytes =
    disks.reduce((n, s) => n + (s.how === 'overlay' ? 2 ** 20 : o.facts.get(s.source.path)!.need), 0) +
    (nvram?.bytes ?? 0);
  return {
    id: o.id,
    name: normalizeVmName(o.name),
    linked: o.linked,
    dataDir: o.dataDir,
    customDataDir: o.customDataDir,
    disks,
    ...(nvram ? { nvram } : {}),
    needBytes,
  };
}

/** Reads the facts `planClone` needs: sizes, and for a full clone, which images are overlays. */
export async function readDiskFacts(
  qemuImg: string,
  disks: readonly DiskSpec[],
  linked: boolean,
): Promise<Map<string, SourceDiskFacts>> {
  const facts = new Map<string, SourceDiskFacts>();
  for (const d of disks) {
    let st: fs.Stats;
    try {
      st = fs.statSync(d.path);
    } catch {
      throw new VmdeskError(
        'not-found',
        `Disk ${d.target} (${d.path}) is missing, so it cannot be cloned. Put it back, or remove the disk from the VM first.`,
        { field: 'vm' },
      );
    }
    const allocated = st.blocks * 512;
    if (linked || d.format === 'raw') {
      facts.set(d.path, { size: st.size, need: allocated, hasBacking: false });
      continue;
    }
    const info = await imageInfo(qemuImg, d.path);
    const hasBacking = info.backing.length > 0;
    const need = hasBacking ? await measureFlat(qemuImg, d.path) : allocated;
    facts.set(d.path, { size: hasBacking ? info.virtualSize : st.size, need, hasBacking });
  }
  return facts;
}

/** Bytes a flattened qcow2 copy of `file` takes (`qemu-img measure`'s "required"). */
async function measureFlat(qemuImg: string, file: string): Promise<number> {
  try {
    const { stdout } = await execFileP(qemuImg, ['measure', '--output=json', '-f', 'qcow2', '-O', 'qcow2', file]);
    return (JSON.parse(stdout) as { required: number }).required;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new VmdeskError('qemu-failed', `qemu-img cannot measure ${file}: ${(e.stderr || e.message).trim()}`);
  }
}

/** Refuses a clone that does not fit in the free space, in a sentence that offers the way out. */
export function assertCloneFits(plan: ClonePlan, sourceName: string, freeBytes: number, where: string): void {
  if (plan.needBytes <= freeBytes) return;
  const size = (n: number) => formatMiB(Math.ceil(n / 2 ** 20));
  throw new VmdeskError(
    'insufficient-resources',
    `A full clone of "${sourceName}" needs ${size(plan.needBytes)} and ${where} has ${size(freeBytes)} free. Free some space, or make a linked clone (it needs almost none).`,
    { field: 'linked', needBytes: plan.needBytes, freeBytes },
  );
}

/** Free bytes for an unprivileged writer in the filesystem that holds `dir` (or its nearest existing parent). */
export function freeBytesAt(dir: string): number {
  let d = dir;
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  const s = fs.statfsSync(d);
  return s.bavail * s.bsize;
}

/**
 * The clone's definition: the source's settings under a new id and name, its disks as the plan
 * made them. Port forwards and mediated devices are not taken along (two VMs cannot hold one host
 * port or one vGPU); `dropped` says so, for the answer.
 */
export function cloneDefinition(
  src: VmDefinition,
  plan: ClonePlan,
  now = new Date(),
): { def: VmDefinition; dropped: string[] } {
  const disks = plan.disks.map((s): DiskSpec => {
    const { linkedClones: _l, backing: _b, ...rest } = s.source;
    return {
      ...rest,
      path: s.dest,
      format: s.format,
      owned: true,
      ...(s.how === 'overlay' ? { backing: s.source.path } : {}),
    };
  });
  const dropped: string[] = [];
  const forwards = src.network.forwards.length;
  if (forwards > 0)
    dropped.push(
      `its ${forwards === 1 ? 'port forward was' : `${forwards} port forwards were`} not copied (a host port serves one VM): add new ones to the clone`,
    );
  const mdevs = src.mdevs?.length ?? 0;
  if (mdevs > 0)
    dropped.push(
      `its ${mdevs === 1 ? 'mediated device was' : `${mdevs} mediated devices were`} not copied (a vGPU serves one VM): assign one to the clone`,
    );
  if (src.tpm)
    dropped.push(
      "its TPM's memory was not copied (it holds the keys of that one machine): the clone gets a new, empty TPM, so BitLocker and Windows Hello must be set up again in it",
    );
  // A clone does not start at login because its source does: the user says so for it.
  // Nor does it live in its source's folder.
  const { autostart: _sourceStarts, dataDir: _sourceFolder, ...copied } = src;
  const def: VmDefinition = {
    ...copied,
    ...(plan.customDataDir ? { dataDir: plan.dataDir } : {}),
    id: plan.id,
    name: plan.name,
    disks,
    nvram: plan.nvram ? plan.nvram.to : null,
    network: { ...src.network, forwards: [] },
    mdevs: [],
    createdAt: now.toISOString(),
  };
  return { def, dropped };
}

/** Progress of one job, handed out at most about once a second, and always at the end. */
export class ProgressMeter {
  #done = 0;
  #last = 0;
  constructor(
    readonly totalBytes: number,
    private readonly emit: (doneBytes: number, totalBytes: number, what: string) => void,
    private readonly everyMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get doneBytes(): number {
    return this.#done;
  }

  /** `what` is now under way (emitted at once: a new step shows without waiting). */
  begin(what: string): void {
    this.#last = this.now();
    this.emit(this.#done, this.totalBytes, what);
  }

  add(bytes: number, what: string): void {
    this.#done = Math.min(this.totalBytes, this.#done + bytes);
    const t = this.now();
    if (t - this.#last >= this.everyMs) {
      this.#last = t;
      this.emit(this.#done, this.totalBytes, what);
    }
  }

  /** Sets the bytes done to an absolute figure (a step that reports a fraction). */
  set(doneBytes: number, what: string): void {
    this.add(Math.max(0, doneBytes - this.#done), what);
  }

  finish(what: string): void {
    this.#done = this.totalBytes;
    this.emit(this.#done, this.totalBytes, what);
  }
}

const CHUNK = 4 * 2 ** 20;
/** Zero runs at least this long become holes in a copy (a disk image is mostly holes). */
const HOLE = 2 ** 20;
const ZEROS = Buffer.alloc(HOLE);

/**
 * Copies `from` to the new file `to` (0600), keeping its holes. Reports the bytes copied about
 * every 200 ms; synced to disk before it resolves, since the definition that names it is. On
 * abort or failure the partial file is removed. On Linux the copy is coreutils' `cp
 * --reflink=never` (copy_file_range in the kernel, holes found with SEEK_DATA): as fast as a copy
 * gets; elsewhere a read/write loop that leaves zero runs as holes.
 */
export async function copyImageFile(
  from: string,
  to: string,
  o: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
): Promise<void> {
  if (process.platform !== 'linux') return copyImageFileLoop(from, to, o);
  o.signal?.throwIfAborted();
  const size = (await fsp.stat(from)).size;
  // Made here first: O_EXCL never overwrites a file, and the copy is private from its first byte.
  await (await fsp.open(to, 'wx', 0o600)).close();
  let reported = 0;
  const report = () => {
    const now = Math.min(fs.statSync(to, { throwIfNoEntry: false })?.size ?? 0, size);
    if (now > reported) o.onBytes?.(now - reported);
    reported = Math.max(reported, now);
  };
  const child = spawn('cp', ['--reflink=never', '--', from, to], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setInterval(report, 200);
  const kill = () => child.kill('SIGKILL');
  o.signal?.addEventListener('abort', kill);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    o.signal?.throwIfAborted();
    if (code !== 0) throw new Error(`cp could not copy ${from}: ${stderr.trim() || `exit ${code}`}`);
    if (size > reported) o.onBytes?.(size - reported);
    reported = size;
    o.signal?.throwIfAborted();
    const fh = await fsp.open(to, 'r+');
    try {
      await fh.datasync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    fs.rmSync(to, { force: true }); // ours: made with O_EXCL above
    throw err;
  } finally {
    clearInterval(timer);
    o.signal?.removeEventListener('abort', kill);
  }
}

/** copyImageFile without coreutils: a read/write loop, zero runs left as holes. */
export async function copyImageFileLoop(
  from: string,
  to: string,
  o: { signal?: AbortSignal; onBytes?: (n: number) => void },
): Promise<void> {
  const src = await fsp.open(from, 'r');
  let dst: fsp.FileHandle | undefined;
  let writing: Promise<void> = Promise.resolve();
  try {
    dst = await fsp.open(to, 'wx', 0o600);
    const size = (await src.stat()).size;
    // Two buffers: the next chunk is read while the last one is written.
    const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    let pos = 0;
    for (let n = 0; pos < size; n++) {
      o.signal?.throwIfAborted();
      const buf = bufs[n % 2]!;
      const { bytesRead } = await src.read(buf, 0, Math.min(CHUNK, size - pos), pos);
      if (bytesRead === 0) break;
      await writing;
      writing = writeRuns(dst, buf.subarray(0, bytesRead), pos);
      pos += bytesRead;
      o.onBytes?.(bytesRead);
    }
    await writing;
    await dst.truncate(pos);
    await dst.datasync();
  } catch (err) {
    await writing.catch(() => undefined);
    if (dst) {
      await dst.close().catch(() => undefined);
      dst = undefined;
      fs.rmSync(to, { force: true }); // ours: opened with O_EXCL
    }
    throw err;
  } finally {
    await dst?.close();
    await src.close();
  }
}

/** Writes the runs of `chunk` that are not all zeros at `position`; the rest stays holes. */
async function writeRuns(fh: fsp.FileHandle, chunk: Buffer, position: number): Promise<void> {
  let run = -1;
  for (let off = 0; off < chunk.length; off += HOLE) {
    const end = Math.min(off + HOLE, chunk.length);
    const zero = chunk.subarray(off, end).equals(ZEROS.subarray(0, end - off));
    if (!zero && run < 0) run = off;
    if (zero && run >= 0) {
      await writeAll(fh, chunk.subarray(run, off), position + run);
      run = -1;
    }
  }
  if (run >= 0) await writeAll(fh, chunk.subarray(run), position + run);
}

async function writeAll(fh: fsp.FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * A standalone qcow2 copy of an overlay and everything it reads through (`qemu-img convert -p`),
 * reporting the fraction done. The child is killed on abort and the partial file removed.
 */
export function flattenImage(
  qemuImg: string,
  from: string,
  to: string,
  o: { signal?: AbortSignal; onFraction?: (f: number) => void } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(qemuImg, ['convert', '-p', '-f', 'qcow2', '-O', 'qcow2', from, to], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(o.signal ? { signal: o.signal } : {}),
    });
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      // "    (12.34/100%)\r", one per step.
      const all = [...d.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
      const last = all.at(-1);
      if (last) o.onFraction?.(Number(last[1]) / 100);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const fail = (e: unknown) => {
      fs.rmSync(to, { force: true });
      reject(e);
    };
    child.on('error', (e) => fail(o.signal?.aborted ? o.signal.reason : e));
    child.on('close', (code) => {
      if (o.signal?.aborted) return fail(o.signal.reason);
      if (code !== 0)
        return fail(new VmdeskError('qemu-failed', `qemu-img could not copy ${from}: ${err.trim() || `exit ${code}`}`));
      fs.chmodSync(to, 0o600);
      resolve();
    });
  });
}

/** A qcow2 overlay at `to` reading through `base` (its format recorded: QEMU never probes it). */
export async function createOverlay(
  qemuImg: string,
  base: string,
  baseFormat: 'qcow2' | 'raw',
  to: string,
): Promise<void> {
  try {
    await execFileP(qemuImg, ['create', '-q', '-f', 'qcow2', '-b', base, '-F', baseFormat, to]);
  } catch (err) {
    fs.rmSync(to, { force: true });
    const e = err as { stderr?: string; message: string };
    throw new VmdeskError(
      'qemu-failed',
      `qemu-img could not make an overlay on ${base}: ${(e.stderr || e.message).trim()}`,
    );
  }
  fs.chmodSync(to, 0o600);
}

/**
 * Makes the clone's files as `plan` says, in its folder (which the caller made, and removes when
 * this throws). `signal` cancels at the next chunk.
 */
export async function makeCloneFiles(
  plan: ClonePlan,
  o: { qemuImg: string; signal?: AbortSignal; meter?: ProgressMeter },
): Promise<void> {
  const { signal, meter } = o;
  for (const step of plan.disks) {
    signal?.throwIfAborted();
    const what = `${step.how === 'overlay' ? 'Making an overlay for' : 'Copying'} ${step.source.target} (${path.basename(step.source.path)})`;
    meter?.begin(what);
    if (step.how === 'overlay') await createOverlay(o.qemuImg, step.source.path, step.source.format, step.dest);
    else if (step.how === 'copy')
      await copyImageFile(step.source.path, step.dest, {
        ...(signal ? { signal } : {}),
        onBytes: (n) => meter?.add(n, what),
      });
    else {
      const start = meter?.doneBytes ?? 0;
      await flattenImage(o.qemuImg, step.source.path, step.dest, {
        ...(signal ? { signal } : {}),
        onFraction: (f) => meter?.set(start + Math.round(f * step.bytes), what),
      });
      meter?.set(start + step.bytes, what);
    }
  }
  if (plan.nvram) {
    signal?.throwIfAborted();
    fs.copyFileSync(plan.nvram.from, plan.nvram.to);
    fs.chmodSync(plan.nvram.to, 0o600);
    meter?.add(plan.nvram.bytes, 'Copying the UEFI variables');
  }
}

/** Bytes the progress bar counts for a plan. */
export function planBytes(plan: ClonePlan): number {
  return plan.disks.reduce((n, s) => n + s.bytes, 0) + (plan.nvram?.bytes ?? 0);
}
