/**
 * A VM's snapshots. The disks hold them (qcow2 internal snapshots, under a tag vmdesk makes, so a
 * rename never touches a disk); vmdesk keeps what QEMU does not know in `snapshots.json` in the
 * VM's folder: the name people see, the description, the state the VM was in, the tree (each
 * snapshot's parent and which one the VM stands on), the thumbnail, and for a disk-only snapshot
 * a copy of a UEFI VM's variable store (raw, so it cannot hold internal snapshots), put back on
 * revert. A snapshot with memory needs no copy: QEMU keeps the flash in guest memory, which the
 * snapshot holds, and writes it back to the store after a load.
 *
 * The caller (VmInstance) holds the VM's job lock; these functions touch files, qemu-img and QMP.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as v from 'valibot';
import type { SnapshotInfo } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import { normalizeVmName, sameVmName } from '../common/names.js';
import { diskSlot, type VmDefinition } from '../common/vm-types.js';
import type { QmpClient } from '../qemu/qmp-client.js';
import { writeFileAtomic } from './atomic-file.js';
import { formatMiB } from './define-vm.js';
import { thumbnailFromPpm } from './thumbnail.js';

const execFileP = promisify(execFile);

const EntrySchema = v.object({
  name: v.string(),
  /** The qcow2 snapshot tag in every disk. */
  tag: v.pipe(v.string(), v.regex(/^vmdesk-[0-9a-f]{12}$/)),
  description: v.optional(v.string()),
  createdAt: v.string(),
  state: v.picklist(['running', 'paused', 'stopped']),
  withMemory: v.boolean(),
  /** The parent's tag. */
  parent: v.nullable(v.string()),
  vmStateBytes: v.optional(v.number()),
  /** File names in the snapshots folder. */
  thumbnail: v.optional(v.string()),
  nvram: v.optional(v.string()),
  /** The disks (targets) it was taken of; the first holds the memory. */
  targets: v.optional(v.array(v.string())),
});
type Entry = v.InferOutput<typeof EntrySchema>;
const FileSchema = v.object({
  version: v.literal(1),
  /** The tag of the snapshot the VM stands on (its disks are it plus what changed since). */
  current: v.nullable(v.string()),
  snapshots: v.array(EntrySchema),
});
export type SnapshotFile = v.InferOutput<typeof FileSchema>;

/** Where a VM's snapshot records live: `<data dir>/snapshots.json` and `<data dir>/snapshots/`. */
export class SnapshotStore {
  readonly file: string;
  readonly dir: string;
  /** How many times write() ran: a change that the file's stat may not show (same size, same tick). */
  writes = 0;
  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'snapshots.json');
    this.dir = path.join(dataDir, 'snapshots');
  }

  read(): SnapshotFile {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, current: null, snapshots: [] };
      throw err;
    }
    const parsed = v.safeParse(FileSchema, JSON.parse(text));
    if (!parsed.success)
      throw new VmdeskError('vm-broken', `${this.file} cannot be read: ${parsed.issues[0]?.message ?? 'bad shape'}.`);
    return parsed.output;
  }

  write(f: SnapshotFile): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file, JSON.stringify(f, null, 2) + '\n');
    this.writes++;
  }

  path(name: string): string {
    return path.join(this.dir, name);
  }
}

/** The snapshots as the contract shows them: parents before children, oldest first. */
export function snapshotInfos(f: SnapshotFile): SnapshotInfo[] {
  const byTag = new Map(f.snapshots.map((s) => [s.tag, s]));
  const out: SnapshotInfo[] = [];
  const visit = (parent: string | null) => {
    for (const s of f.snapshots
      .filter((x) => x.parent === parent)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))) {
      out.push({
        name: s.name,
        ...(s.description ? { description: s.description } : {}),
        createdAt: s.createdAt,
        state: s.state,
        withMemory: s.withMemory,
        parent: s.parent ? (byTag.get(s.parent)?.name ?? null) : null,
        current: f.current === s.tag,
        ...(s.vmStateBytes !== undefined ? { vmStateBytes: s.vmStateBytes } : {}),
        thumbnail: s.thumbnail !== undefined,
      });
      visit(s.tag);
    }
  };
  visit(null);
  // Entries whose parent is gone (a file edited by hand) still show, at the top.
  for (const s of f.snapshots)
    if (!out.some((o) => o.name === s.name)) out.push(...snapshotInfos({ ...f, snapshots: [{ ...s, parent: null }] }));
  return out;
}

export function findSnapshot(f: SnapshotFile, name: string, vmName: string): Entry {
  const s = f.snapshots.find((x) => sameVmName(x.name, name));
  if (s) return s;
  throw new VmdeskError(
    'not-found',
    `"${vmName}" has no snapshot named "${name}"${f.snapshots.length ? `; it has ${f.snapshots.map((x) => `"${x.name}"`).join(', ')}` : ''}.`,
    { field: 'name' },
  );
}

export function assertNameFree(f: SnapshotFile, name: string, vmName: string): void {
  if (f.snapshots.some((x) => sameVmName(x.name, name)))
    throw new VmdeskError('name-taken', `"${vmName}" has a snapshot named "${name}" already. Choose another name.`, {
      field: 'name',
    });
}

/**
 * Refuses a VM whose disks cannot hold internal snapshots, in a sentence that says what to do:
 * no disk, a raw disk, a disk a linked clone reads through (or an overlay on one: its base cannot
 * change), or a vGPU when memory is to be saved.
 */
export function assertSnapshottable(def: VmDefinition, withMemory: boolean): void {
  if (def.disks.length === 0)
    throw new VmdeskError('invalid-state', `"${def.name}" has no disk, so there is nothing to snapshot.`);
  const raw = def.disks.find((d) => d.format === 'raw');
  if (raw)
    throw new VmdeskError(
      'invalid-state',
      `Disk ${raw.target} of "${def.name}" is raw, which cannot hold snapshots. Convert it to qcow2 with the VM off: vmdesk disk convert "${def.name}" ${raw.target} (the raw file is kept).`,
      { field: 'disk' },
    );
  const base = def.disks.find((d) => (d.linkedClones?.length ?? 0) > 0 || d.readOnly);
  if (base)
    throw new VmdeskError(
      'invalid-state',
      (base.linkedClones?.length ?? 0) > 0
        ? `Disk ${base.target} of "${def.name}" is the base of linked clones and stays read-only while they exist, so it cannot take a snapshot. Snapshot the clones instead, or delete them first.`
        : `Disk ${base.target} of "${def.name}" is read-only, so it cannot take a snapshot.`,
      { field: 'disk' },
    );
  if (withMemory && (def.mdevs?.length ?? 0) > 0)
    throw new VmdeskError(
      'invalid-state',
      `"${def.name}" has a vGPU, whose state QEMU cannot save. Take a disk-only snapshot with the VM shut down instead.`,
      { field: 'vm' },
    );
}

/**
 * Refuses a snapshot that would not fit: a live one writes the guest's memory (up to its size)
 * into the first disk, and any snapshot lets later writes grow the disks (room for 10 % of
 * their size is asked for).
 */
export function assertSpaceFor(def: VmDefinition, withMemory: boolean, diskBytes: number, freeBytes: number): void {
  const need = (withMemory ? def.memoryMiB * 2 ** 20 : 0) + Math.round(diskBytes * 0.1);
  if (need <= freeBytes) return;
  throw new VmdeskError(
    'insufficient-resources',
    `A snapshot of "${def.name}" needs about ${formatMiB(Math.ceil(need / 2 ** 20))} free (${withMemory ? 'its memory, and ' : ''}room for its disks to grow), and ${formatMiB(Math.floor(freeBytes / 2 ** 20))} are free where its disks are. Free space, or delete snapshots it no longer needs.`,
    { field: 'vm' },
  );
}

export function newTag(): string {
  return `vmdesk-${crypto.randomBytes(6).toString('hex')}`;
}

/** QEMU's node names of the VM's disks (numbered by target, as qemu/argv.ts names them). */
export function diskNodes(def: VmDefinition): string[] {
  return def.disks.map((d) => `disk${diskSlot(d.target)}`);
}

/** The longest a timer waits (setTimeout's bound, ~24.8 days): no bound, in effect. */
const JOB_REPLY_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Runs a QMP job (snapshot-save, snapshot-load, snapshot-delete) to its end: resolves when it
 * concluded without error, rejects with QEMU's words when it failed. `signal` cancels it
 * (job-cancel). `onSent` runs right after the command was written, so what it does overlaps
 * QEMU's work instead of delaying the job's start or the handling of its end (QEMU answers a
 * snapshot command only once the job has run: the job holds QEMU's main loop). `onConcluded`
 * runs as the job ended, before its error is asked for, so a query sent there shares that
 * round trip.
 */
export async function runQmpJob(
  qmp: QmpClient,
  command: string,
  args: Record<string, unknown>,
  o: {
    jobId: string;
    signal?: AbortSignal;
    onSent?: () => void;
    onConcluded?: () => void;
  },
): Promise<void> {
  // QEMU's job ids start with a letter; the contract's may not (a UUID).
  const id = `vmdesk-${o.jobId}`;
  let off = (): void => undefined;
  // The end comes as an event (JOB_STATUS_CHANGE → concluded), never from polling.
  const concluded = new Promise<void>((resolve) => {
    off = qmp.onEvent((e) => {
      const d = e.data as { id?: string; status?: string } | undefined;
      if (e.event === 'JOB_STATUS_CHANGE' && d?.id === id && d.status === 'concluded') resolve();
    });
  });
  let notGone = (): void => undefined;
  const gone = new Promise<never>((_, reject) => {
    notGone = qmp.onClose(() => reject(new VmdeskError('qemu-failed', `QEMU went away during ${command}.`)));
  });
  // Raced only once the command was answered: QEMU may go away before (the command then fails).
  gone.catch(() => undefined);
  const cancel = () => void qmp.execute('job-cancel', { id }).catch(() => undefined);
  o.signal?.addEventListener('abort', cancel);
  // No query-jobs polling for progress: a snapshot job runs in one go on QEMU's main loop, which
  // answers QMP only after it, and its counters go from 0 of 1 to 1 of 1. A poll could only queue
  // an answer ahead of the ones that end the job.
  try {
    // No request timeout: QEMU answers once the job has run, which takes as long as the guest's
    // memory takes to write (seconds for a few GiB); QEMU going away ends the wait.
    const submitted = qmp.execute(command, { 'job-id': id, ...args }, { timeoutMs: JOB_REPLY_TIMEOUT_MS });
    o.onSent?.();
    await submitted;
    await Promise.race([concluded, gone]);
    o.onConcluded?.();
    // Sent together: QEMU answers in order, so query-jobs still sees the concluded job (and its
    // error) that job-dismiss then removes; one round trip instead of two.
    const [jobs] = await Promise.all([
      qmp.execute<{ id: string; error?: string }[]>('query-jobs'),
      qmp.execute('job-dismiss', { id }).catch(() => undefined),
    ]);
    const error = jobs.find((j) => j.id === id)?.error;
    o.signal?.throwIfAborted();
    if (error)
      throw new VmdeskError('qemu-failed', `QEMU could not ${command.replace('snapshot-', '')} the snapshot: ${error}`);
  } finally {
    off();
    notGone();
    o.signal?.removeEventListener('abort', cancel);
  }
}

/** `qemu-img snapshot -c|-a|-d TAG` on every disk of a VM no QEMU has open. */
export async function qemuImgSnapshot(qemuImg: string, def: VmDefinition, op: '-c' | '-a' | '-d', tag: string) {
  for (const d of def.disks) {
    try {
      // --image-opts: the format is given, never probed (qemu-img snapshot has no -f).
      const opts = `driver=${d.format},file.driver=file,file.filename=${d.path.replace(/,/g, ',,')}`;
      await execFileP(qemuImg, ['snapshot', '--image-opts', op, tag, opts]);
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new VmdeskError('qemu-failed', `qemu-img snapshot ${op} on ${d.path}: ${(e.stderr || e.message).trim()}`);
    }
  }
}

/** The snapshot tags a disk holds and their saved memory (qemu-img info; -U: a QEMU may have it open). */
export async function tagsOnDisk(qemuImg: string, file: string): Promise<Map<string, number>> {
  const { stdout } = await execFileP(qemuImg, ['info', '--output=json', '-U', file]);
  const info = JSON.parse(stdout) as { snapshots?: { name: string; 'vm-state-size': number }[] };
  return new Map((info.snapshots ?? []).map((s) => [s.name, s['vm-state-size']]));
}

/** What a snapshot operation needs of the VM, handed down by VmInstance (which holds its job). */
export interface SnapshotTarget {
  def: VmDefinition;
  store: SnapshotStore;
  qemuImg: string;
  /** The running QEMU's control link (undefined: no QEMU, the disks are closed). */
  qmp: QmpClient | undefined;
  state: 'running' | 'paused' | 'stopped';
  /** Where the running QEMU may write a screendump. */
  runtimeDir: string | undefined;
  jobId: string;
  signal?: AbortSignal;
  onProgress?: (what: string, done: number, total: number) => void;
  /** A running guest's agent: a snapshot of the disks alone is taken with its file systems frozen. */
  agent?: { freeze(): Promise<number>; thaw(): Promise<number> };
  log?: (line: string) => void;
}

/** The disks a snapshot was taken of that the VM still has, as QEMU node names (first: its memory). */
function nodesOf(def: VmDefinition, targets: readonly string[]): string[] {
  return def.disks.filter((d) => targets.includes(d.target)).map((d) => `disk${diskSlot(d.target)}`);
}

/**
 * QEMU 7.2's vdagent chardev (the shared clipboard) blocks saving and loading a VM's state ("The
 * vdagent chardev doesn't yet support migration"). For a snapshot with memory it is taken out of
 * the guest (its port unplugged, the chardev removed) and put back after, whatever happened; the
 * guest's spice-vdagent sees the port go and come back. Snapshots never hold it, so loading one
 * into a VM without it matches.
 *
 * This costs the take and the revert ~30–50 ms: the chardev can go only once the port is
 * finalized (DEVICE_DELETED), which QEMU does in an RCU callback that its RCU thread batches for
 * up to 5 × 10 ms. (A refused device_add, which drains RCU callbacks, does not cut that short: the
 * drain waits for the same batch.)
 */
async function withoutClipboard<T>(qmp: QmpClient, def: VmDefinition, fn: () => Promise<T>): Promise<T> {
  if (!def.clipboard || def.display === 'none') return fn();
  const ports = await qmp.execute<{ name: string }[]>('qom-list', { path: '/machine/peripheral' }).catch(() => []);
  if (!ports.some((p) => p.name === 'vdagent0port')) return fn();
  let off = (): void => undefined;
  const gone = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new VmdeskError('qemu-failed', 'The guest did not let go of the clipboard port within 10 s.')),
      10_000,
    );
    off = qmp.onEvent((e) => {
      if (e.event === 'DEVICE_DELETED' && (e.data as { device?: string } | undefined)?.device === 'vdagent0port') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  gone.catch(() => undefined);
  try {
    await qmp.execute('device_del', { id: 'vdagent0port' });
    await gone;
  } finally {
    off();
  }
  await qmp.execute('chardev-remove', { id: 'vdagent0' });
  try {
    return await fn();
  } finally {
    await putClipboardBack(qmp);
  }
}

/** The vdagent chardev and its port, back as qemu/argv.ts makes them. */
async function putClipboardBack(qmp: QmpClient): Promise<void> {
  // Sent together (QEMU runs them in order): one round trip. The port's device_add fails when the
  // chardev's did, and its error comes second.
  const added = await Promise.allSettled([
    qmp.execute('chardev-add', { id: 'vdagent0', backend: { type: 'qemu-vdagent', data: { clipboard: true } } }),
    qmp.execute('device_add', {
      driver: 'virtserialport',
      bus: 'vser0.0',
      chardev: 'vdagent0',
      name: 'com.redhat.spice.0',
      id: 'vdagent0port',
    }),
  ]);
  const failed = added.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Takes a snapshot: with memory through QMP snapshot-save when QEMU runs (QEMU pauses the guest
 * for the save and lets it go on), of the disks alone with qemu-img when it does not. Whatever
 * fails or is cancelled is removed again: no half snapshot stays.
 */
export async function takeSnapshot(
  t: SnapshotTarget,
  p: { name: string; description?: string; diskOnly?: boolean },
): Promise<void> {
  const { def, store } = t;
  const f = store.read();
  const live = t.qmp !== undefined && !p.diskOnly;
  const tag = newTag();
  fs.mkdirSync(store.dir, { recursive: true, mode: 0o700 });
  const made: string[] = [];
  const entry: Entry = {
    name: normalizeVmName(p.name),
    tag,
    ...(p.description ? { description: p.description } : {}),
    createdAt: new Date().toISOString(),
    state: t.state,
    withMemory: live,
    // A disk-only snapshot of a running guest goes back to a VM that is off.
    ...(p.diskOnly && t.qmp ? { state: 'stopped' as const } : {}),
    parent: f.current,
  };
  try {
    if (live) {
      const qmp = t.qmp!;
      // No pause and no copy of a UEFI VM's variable store: QEMU keeps the flash in the VM's
      // memory, which the snapshot saves, and writes it back to the store after a load.
      // The screendump is sent first and what follows right behind it: QEMU runs QMP commands
      // in order, so the screen is the one before the save, without waiting for its answer here.
      const dumped = screendump(qmp, def, t.runtimeDir, tag);
      let thumbnail: Promise<void> | undefined;
      // The thumbnail is encoded once the save is sent, while QEMU's own process writes the
      // memory: encoding it before would hold back the commands that lead to the save.
      const makeThumbnail = () =>
        (thumbnail = dumped.then((ppm) => {
          if (!ppm) return;
          const png = store.path(`${tag}.png`);
          try {
            fs.writeFileSync(png, thumbnailFromPpm(fs.readFileSync(ppm)), { mode: 0o600 });
            made.push(png);
            entry.thumbnail = `${tag}.png`;
          } catch {
            // A screen that cannot be read: the snapshot goes on without one.
          }
        }));
      const nodes = diskNodes(def);
      let size: Promise<number> | undefined;
      const askSize = () => {
        size = vmStateSize(qmp, nodes[0]!, tag);
        size.catch(() => undefined); // awaited below once the job is known to have succeeded
      };
      t.onProgress?.('Saving memory and disks', 0, 1);
      try {
        await withoutClipboard(qmp, def, () =>
          runQmpJob(
            qmp,
            'snapshot-save',
            { tag, vmstate: nodes[0], devices: nodes },
            {
              jobId: t.jobId,
              ...(t.signal ? { signal: t.signal } : {}),
              onSent: makeThumbnail,
              onConcluded: askSize,
            },
          ),
        );
      } finally {
        await thumbnail;
        const ppm = await dumped;
        if (ppm) fs.rmSync(ppm, { force: true });
      }
      t.signal?.throwIfAborted();
      entry.vmStateBytes = await (size ?? vmStateSize(qmp, nodes[0]!, tag));
    } else if (t.qmp) {
      // The disks alone while the guest runs: its agent flushes and freezes its file systems, so
      // what the disks hold is what the guest meant to write; frozen only for the snapshot itself.
      const agent = t.agent;
      if (!agent) throw new VmdeskError('internal', 'a live disk-only snapshot without the guest agent');
      copyNvram(def, store, tag, entry, made);
      t.onProgress?.('Freezing the guest’s file systems', 0, 1);
      const frozen = await agent.freeze().catch(async (err: unknown) => {
        await agent.thaw().catch(() => undefined); // a timed-out freeze may still take effect
        throw new VmdeskError(
          'guest-agent',
          `The guest agent could not freeze the file systems of "${def.name}": ${(err as Error).message} Take a snapshot with its memory instead.`,
        );
      });
      try {
        t.onProgress?.('Saving disks', 0, 1);
        for (const node of diskNodes(def))
          await t.qmp.execute('blockdev-snapshot-internal-sync', { device: node, name: tag });
      } finally {
        const thawed = await agent.thaw().catch((err: unknown) => {
          t.log?.(`thawing the guest's file systems failed: ${(err as Error).message}`);
          return -1;
        });
        t.log?.(
          `the guest agent froze ${frozen} file system${frozen === 1 ? '' : 's'} for the snapshot (thawed ${thawed})`,
        );
      }
      entry.vmStateBytes = 0;
    } else {
      copyNvram(def, store, tag, entry, made);
      t.onProgress?.('Saving disks', 0, 1);
      await qemuImgSnapshot(t.qemuImg, def, '-c', tag);
      t.signal?.throwIfAborted();
      entry.vmStateBytes = 0;
    }
  } catch (err) {
    // No half snapshot: the tag goes from every disk that has it, and the files made for it.
    await dropTag(t, tag).catch(() => undefined);
    for (const file of made) fs.rmSync(file, { force: true });
    throw err;
  }
  store.write({
    ...f,
    current: tag,
    snapshots: [...f.snapshots, { ...entry, targets: def.disks.map((d) => d.target) }],
  });
}

/** A PPM of the screen in the runtime dir (undefined for a headless VM, or one QEMU cannot dump). */
async function screendump(
  qmp: QmpClient,
  def: VmDefinition,
  runtimeDir: string | undefined,
  tag: string,
): Promise<string | undefined> {
  if (def.display === 'none' || !runtimeDir) return undefined;
  const ppm = path.join(runtimeDir, `${tag}.ppm`);
  try {
    await qmp.execute('screendump', { filename: ppm });
    return ppm;
  } catch {
    fs.rmSync(ppm, { force: true });
    return undefined;
  }
}

/** The bytes of memory a snapshot saved in node `node` (QEMU's block info: no qemu-img round trip). */
async function vmStateSize(qmp: QmpClient, node: string, tag: string): Promise<number> {
  const nodes = await qmp.execute<
    { 'node-name': string; image?: { snapshots?: { name: string; 'vm-state-size': number }[] } }[]
  >('query-named-block-nodes', { flat: true });
  return (
    nodes.find((n) => n['node-name'] === node)?.image?.snapshots?.find((x) => x.name === tag)?.['vm-state-size'] ?? 0
  );
}

function copyNvram(def: VmDefinition, store: SnapshotStore, tag: string, entry: { nvram?: string }, made: string[]) {
  if (!def.nvram || !fs.existsSync(def.nvram)) return;
  const copy = store.path(`${tag}.fd`);
  fs.copyFileSync(def.nvram, copy);
  fs.chmodSync(copy, 0o600);
  made.push(copy);
  entry.nvram = `${tag}.fd`;
}

/** Removes a tag from every disk of the VM that holds it (QMP when QEMU runs, else qemu-img). */
async function dropTag(t: SnapshotTarget, tag: string, targets?: readonly string[]): Promise<void> {
  const disks = t.def.disks.filter((d) => !targets || targets.includes(d.target));
  if (t.qmp) {
    const holding: string[] = [];
    for (const d of disks)
      if ((await tagsOnDisk(t.qemuImg, d.path)).has(tag)) holding.push(`disk${diskSlot(d.target)}`);
    if (holding.length)
      await runQmpJob(t.qmp, 'snapshot-delete', { tag, devices: holding }, { jobId: `${t.jobId}-drop` });
    return;
  }
  for (const d of disks)
    if ((await tagsOnDisk(t.qemuImg, d.path)).has(tag))
      await qemuImgSnapshot(t.qemuImg, { ...t.def, disks: [d] }, '-d', tag);
}

/**
 * Goes back to snapshot `name`. With memory: QMP snapshot-load into the running QEMU (paused for
 * it), the NVRAM copy put back, and the guest left running or paused as it was then. Disks only:
 * qemu-img with the VM off. The VM then stands on it.
 */
export async function revertToSnapshot(t: SnapshotTarget, name: string): Promise<'running' | 'paused' | 'stopped'> {
  const f = t.store.read();
  const s = findSnapshot(f, name, t.def.name);
  const targets = s.targets ?? t.def.disks.map((d) => d.target);
  const nodes = nodesOf(t.def, targets);
  if (nodes.length === 0 || !t.def.disks.some((d) => d.target === targets[0]))
    throw new VmdeskError(
      'invalid-state',
      `The disk "${name}" saved ${s.withMemory ? 'the memory in' : 'first'} (${targets[0]}) is no longer a disk of "${t.def.name}", so it cannot go back to it.`,
    );
  let after: 'running' | 'paused' | 'stopped' = 'stopped';
  if (s.withMemory) {
    const qmp = t.qmp;
    if (!qmp)
      throw new VmdeskError(
        'invalid-state',
        `"${t.def.name}" must run to go back to "${name}", which holds its memory.`,
      );
    // snapshot-load stops the guest, loads, and lets it run again only if it ran before and the
    // load succeeded (a failed one leaves it stopped). So a running VM going back to a running
    // snapshot needs neither stop nor cont; one going back to a paused snapshot is paused first.
    if (t.state === 'running' && s.state !== 'running') await qmp.execute('stop');
    t.onProgress?.('Loading memory and disks', 0, 1);
    await withoutClipboard(qmp, t.def, () =>
      runQmpJob(qmp, 'snapshot-load', { tag: s.tag, vmstate: nodes[0], devices: nodes }, { jobId: t.jobId }),
    );
    if (s.state === 'running' && t.state !== 'running') await qmp.execute('cont');
    after = s.state === 'running' ? 'running' : 'paused';
  } else {
    if (t.qmp)
      throw new VmdeskError(
        'invalid-state',
        `"${name}" holds "${t.def.name}"'s disks only: going back to it needs the VM off. Shut it down (or force it off) first; what it did since is lost.`,
        { state: t.state },
      );
    await qemuImgSnapshot(
      t.qemuImg,
      { ...t.def, disks: t.def.disks.filter((d) => targets.includes(d.target)) },
      '-a',
      s.tag,
    );
    restoreNvram(t, s);
  }
  t.store.write({ ...f, current: s.tag });
  return after;
}

/** A disk-only snapshot's copy of the variable store, back in place (the VM is off). */
function restoreNvram(t: SnapshotTarget, s: Entry): void {
  if (!s.nvram || !t.def.nvram) return;
  fs.copyFileSync(t.store.path(s.nvram), t.def.nvram);
}

/** Deletes snapshot `name` from the disks and the tree: its children move to its parent. */
export async function deleteSnapshot(t: SnapshotTarget, name: string): Promise<void> {
  const f = t.store.read();
  const s = findSnapshot(f, name, t.def.name);
  await dropTag(t, s.tag, s.targets);
  for (const file of [s.thumbnail, s.nvram]) if (file) fs.rmSync(t.store.path(file), { force: true });
  t.store.write({
    ...f,
    current: f.current === s.tag ? s.parent : f.current,
    snapshots: f.snapshots.filter((x) => x !== s).map((x) => (x.parent === s.tag ? { ...x, parent: s.parent } : x)),
  });
}
