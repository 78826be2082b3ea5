/**
 * The Snapshots tab's pure logic: the tree from the driver's flat list (parent → children,
 * oldest first), where "You are here" goes, a default name for the next snapshot, and the
 * sentences the tab and its confirmations say.
 */
import type { JobProgress, SnapshotInfo } from '../../../main/common/contract.js';
import { sameVmName, snapshotNameProblem } from '../../../main/common/names.js';
import type { VmState, VmSummary } from '../../../main/common/vm-types.js';
import { progressText } from '../clone/clone-actions.js';

/** A node of the tree: a snapshot with the ones taken after it, or the "You are here" marker. */
export type TreeItem = { kind: 'snapshot'; snap: SnapshotInfo; children: TreeItem[] } | { kind: 'here' };

/** Oldest first (the order they were taken), then by name so equal times keep one order. */
function byTime(a: SnapshotInfo, b: SnapshotInfo): number {
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.name.localeCompare(b.name);
}

/**
 * The snapshots as a tree: each under its parent, siblings oldest first. A snapshot whose parent
 * is not in the list (or whose parents loop) is shown as a first one, never dropped. "You are
 * here" is the last child of the current snapshot — where the VM stands is a new branch taken
 * off it — or the last root when no snapshot is current. No snapshots: an empty tree.
 */
export function buildSnapshotTree(list: readonly SnapshotInfo[]): TreeItem[] {
  if (list.length === 0) return [];
  const byName = new Map(list.map((s) => [s.name, s]));
  /** The parent it is shown under: none when missing or when following parents comes back to it. */
  const parentOf = (s: SnapshotInfo): string | null => {
    if (s.parent === null || !byName.has(s.parent)) return null;
    const seen = new Set([s.name]);
    for (let p: string | null = s.parent; p !== null; p = byName.get(p)?.parent ?? null) {
      if (seen.has(p)) return null;
      seen.add(p);
      if (!byName.has(p)) break;
    }
    return s.parent;
  };
  const current = list.find((s) => s.current)?.name;
  const nodes = new Map<string, Extract<TreeItem, { kind: 'snapshot' }>>();
  for (const s of [...list].sort(byTime)) nodes.set(s.name, { kind: 'snapshot', snap: s, children: [] });
  const roots: TreeItem[] = [];
  for (const node of nodes.values()) {
    const p = parentOf(node.snap);
    (p === null ? roots : nodes.get(p)!.children).push(node);
  }
  const here = current !== undefined ? nodes.get(current) : undefined;
  (here ? here.children : roots).push({ kind: 'here' });
  return roots;
}

/** "Snapshot N": one more than the snapshots there are, or the next free number after that. */
export function defaultSnapshotName(list: readonly Pick<SnapshotInfo, 'name'>[]): string {
  for (let n = list.length + 1; ; n++) {
    const name = `Snapshot ${n}`;
    if (!list.some((s) => sameVmName(s.name, name))) return name;
  }
}

/** Why `name` cannot name a snapshot of this VM (`except`: the one being renamed), or undefined. */
export function snapshotNameError(
  name: string,
  list: readonly Pick<SnapshotInfo, 'name'>[],
  except?: string,
): string | undefined {
  const problem = snapshotNameProblem(name);
  if (problem) return problem;
  if (list.some((s) => s.name !== except && sameVmName(s.name, name)))
    return `This VM already has a snapshot named "${name}". Choose another name.`;
  return undefined;
}

const live = (state: VmState) => state === 'running' || state === 'paused';

/** "With memory (running)", "With memory (paused)" or "Disks only". */
export function snapshotKind(s: Pick<SnapshotInfo, 'withMemory' | 'state'>): string {
  return s.withMemory ? `With memory (${s.state === 'paused' ? 'paused' : 'running'})` : 'Disks only';
}

/**
 * What a snapshot taken now holds: a running or paused VM's memory with its disks (the driver
 * refuses its disks alone: its file systems are mid-write), a VM that is off its disks alone.
 */
export type TakeMode = { mode: 'memory' } | { mode: 'disks' } | { mode: 'none'; why: string };

export function takeMode(state: VmState, name: string): TakeMode {
  if (state === 'running' || state === 'paused') return { mode: 'memory' };
  if (state === 'stopped' || state === 'crashed') return { mode: 'disks' };
  if (state === 'broken')
    return { mode: 'none', why: `vmdesk cannot read “${name}”’s file, so it has no disks to snapshot.` };
  return { mode: 'none', why: `“${name}” is ${state}: take a snapshot once it is running or off.` };
}

/** A reason the VM cannot have snapshots, as the driver refuses them, said before anyone tries. */
export interface SnapshotBlocker {
  kind: 'no-disk' | 'raw' | 'vgpu' | 'linked' | 'read-only';
  text: string;
  /** For a raw disk: the command that converts it (the window has a button for the same). */
  command?: string;
  /** For a raw disk: its target, for vm.convertDisk. */
  target?: string;
}

/** Quotes a path for a POSIX shell when it needs it. */
function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Why this VM cannot take a snapshot now, as the driver would refuse it (app/main/vm/snapshots.ts
 * assertSnapshottable): snapshots live inside qcow2 disks (internal snapshots), so a VM without
 * one, or with a raw or read-only disk, has nowhere to keep them; a disk other VMs' linked clones
 * read through must not change under them; a vGPU's state cannot be saved, so a VM with one takes
 * snapshots of its disks alone, while it is off.
 */
export function snapshotBlockers(vm: VmSummary): SnapshotBlocker[] {
  const d = vm.definition;
  if (!d) return [];
  const out: SnapshotBlocker[] = [];
  if (d.disks.length === 0)
    out.push({
      kind: 'no-disk',
      text: `“${vm.name}” has no disk. Snapshots are kept inside a qcow2 disk: add one in Settings first.`,
    });
  for (const disk of d.disks.filter((k) => k.format === 'raw')) {
    out.push({
      kind: 'raw',
      text: `Disk ${disk.target} (${disk.path}) is a raw image, which cannot hold snapshots. Convert it to qcow2 while “${vm.name}” is off: a qcow2 copy in the VM’s folder takes its place, and the raw file is kept.`,
      command: `vmdesk disk convert ${shellQuote(vm.name)} ${disk.target}`,
      target: disk.target,
    });
  }
  if (d.mdevs.length > 0 && live(vm.state))
    out.push({
      kind: 'vgpu',
      text: `“${vm.name}” has a vGPU, whose state cannot be saved with its memory. Shut it down to take a snapshot of its disks.`,
    });
  for (const disk of d.disks.filter((k) => (k.linkedClones?.length ?? 0) > 0)) {
    const n = disk.linkedClones!.length;
    out.push({
      kind: 'linked',
      text: `Disk ${disk.target} is shared read-only with ${n === 1 ? 'a linked clone' : `${n} linked clones`}: it must not change under ${n === 1 ? 'it' : 'them'}. Delete the linked clone${n === 1 ? '' : 's'}, or take snapshots of ${n === 1 ? 'the clone' : 'a clone'} instead.`,
    });
  }
  for (const disk of d.disks.filter((k) => k.readOnly && (k.linkedClones?.length ?? 0) === 0))
    out.push({
      kind: 'read-only',
      text: `Disk ${disk.target} is read-only, so it cannot hold snapshots. Make it writable or remove it in Settings to take snapshots.`,
    });
  return out;
}

/** What reverting to `snap` does, in sentences for the confirmation. */
export interface RevertPlan {
  /** The VM runs (or is paused) and the snapshot holds disks only: it is forced off first. */
  forceOff: boolean;
  /** The VM is off and the snapshot holds memory: it is started first, to load it into. */
  startFirst: boolean;
  /** What is lost. */
  lost: string[];
  /** Where the VM is afterwards. */
  after: string;
}

export function revertPlan(
  snap: SnapshotInfo,
  vm: Pick<VmSummary, 'name' | 'state'>,
  list: readonly SnapshotInfo[],
  when: string,
): RevertPlan {
  const current = list.find((s) => s.current);
  const lost: string[] = [];
  if (live(vm.state))
    lost.push(
      `What “${vm.name}” has in memory now: its open programs and anything not saved to its disks. Take a snapshot first to keep it.`,
    );
  lost.push(
    current
      ? `Changes to its disks since “${current.name}” (where it stands now) that are in no snapshot.`
      : 'Changes to its disks that are in no snapshot.',
  );
  return {
    forceOff: !snap.withMemory && live(vm.state),
    startFirst: snap.withMemory && (vm.state === 'stopped' || vm.state === 'crashed'),
    lost,
    after: snap.withMemory
      ? `“${vm.name}” is then ${snap.state === 'paused' ? 'paused' : 'running'}, as it was on ${when}.`
      : `“${vm.name}” is then off, with its disks as they were on ${when}.`,
  };
}

/** What deleting `snap` does to the rest of the tree, as a sentence. */
export function deleteEffect(snap: SnapshotInfo, list: readonly SnapshotInfo[]): string {
  const children = list.filter((s) => s.parent === snap.name).map((s) => `“${s.name}”`);
  const parent = snap.parent !== null && list.some((s) => s.name === snap.parent) ? snap.parent : null;
  const vm = snap.current
    ? `The VM itself does not change; “You are here” moves to ${parent ? `“${parent}”` : 'the top of the tree'}.`
    : 'The VM itself does not change.';
  if (children.length === 0) return vm;
  const names = children.length === 1 ? children[0]! : `${children.slice(0, -1).join(', ')} and ${children.at(-1)!}`;
  const stay = children.length === 1 ? 'stays' : 'stay';
  return `${names} ${stay}, ${parent ? `attached to “${parent}”` : 'at the top of the tree'}. ${vm}`;
}

/** Memory the VM's snapshots keep, summed (the VM summary has it too, once the driver counts). */
export function savedMemoryBytes(list: readonly SnapshotInfo[]): number {
  return list.reduce((n, s) => n + (s.vmStateBytes ?? 0), 0);
}

/**
 * A job's progress as the bar and line show it. A clone counts bytes; QEMU's snapshot-save and
 * snapshot-load jobs count abstract steps (0 of 1 until done), so a total under 1 MiB is no
 * amount to show: the bar then just says it is busy.
 */
export function jobProgressView(p: Pick<JobProgress, 'what' | 'doneBytes' | 'totalBytes'> | undefined): {
  line: string;
  /** Undefined: an indeterminate bar. */
  value?: { done: number; total: number };
} {
  if (!p) return { line: 'Starting…' };
  if (p.totalBytes < 2 ** 20) return { line: `${p.what}…` };
  return { line: `${p.what}: ${progressText(p)}`, value: { done: p.doneBytes, total: p.totalBytes } };
}
