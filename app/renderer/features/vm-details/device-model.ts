/**
 * The Settings view's disks and CD-ROM drives: sizes as people type them, what of a running VM's
 * devices is live and what waits for its next start (the summary's `live`: what its QEMU has), and
 * which drive a dropped ISO goes into. Pure: no store, no DOM.
 */
import type { DiskSpec, VmState, VmSummary } from '../../../main/common/vm-types.js';
import { diskIsReadOnly, MAX_CDROMS } from '../../../main/common/devices.js';

export { BOOT_DEVICES, MAX_CDROMS, MAX_DISKS, bootOrderText, diskIsReadOnly } from '../../../main/common/devices.js';

/** QEMU is there (or on its way): changes to its hardware wait for the next start. */
export function runsNow(state: VmState): boolean {
  return state === 'starting' || state === 'running' || state === 'paused' || state === 'stopping';
}

const MiB = 2 ** 20;
const UNITS: Record<string, number> = { k: 2 ** 10, m: MiB, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };
const MIN_DISK = MiB;
const MAX_DISK = 2 ** 50;

/**
 * A disk size as typed ("20 GiB", "20G", "512 MiB", "1.5 TiB", a bare number is GiB) in bytes,
 * rounded to whole MiB; or the sentence saying what to type.
 */
export function parseDiskSize(text: string): { bytes: number } | { error: string } {
  const m = /^\s*(\d+(?:[.,]\d+)?)\s*(?:([kmgtp])(?:i?b)?)?\s*$/i.exec(text);
  if (!m) return { error: 'Enter a size like 20 GiB, 512 MiB or 1.5 TiB (a bare number is GiB).' };
  const n = Number(m[1]!.replace(',', '.'));
  const unit = UNITS[(m[2] ?? 'g').toLowerCase()]!;
  const bytes = Math.round((n * unit) / MiB) * MiB;
  if (bytes < MIN_DISK) return { error: 'A disk must be at least 1 MiB.' };
  if (bytes > MAX_DISK) return { error: 'A disk can be at most 1 PiB.' };
  return { bytes };
}

/** Where a disk of a running VM stands against what its QEMU has. */
export type DiskLiveness = 'live' | 'next-start';

export interface RemovedDisk {
  target: string;
  file: string;
}

/**
 * For each disk of the definition: `live` when the running QEMU has it (or nothing runs),
 * `next-start` when it was added but not plugged in. And the disks removed from the definition
 * that the running guest still holds until its next start.
 */
export function diskStatus(vm: VmSummary): { of: Map<string, DiskLiveness>; stillAttached: RemovedDisk[] } {
  const of = new Map<string, DiskLiveness>();
  const live = runsNow(vm.state) ? vm.live : undefined;
  const defined = vm.definition?.disks ?? [];
  for (const d of defined)
    of.set(
      d.target,
      !live || live.disks.some((l) => l.target === d.target && l.path === d.path) ? 'live' : 'next-start',
    );
  const stillAttached = (live?.disks ?? [])
    .filter((l) => !defined.some((d) => d.target === l.target && d.path === l.path))
    .map((l) => ({ target: l.target, file: baseName(l.path) }));
  return { of, stillAttached };
}

/**
 * How many CD-ROM drives the running QEMU has (insert and eject are live in those), or undefined
 * when no QEMU runs.
 */
export function runningCdromDrives(vm: VmSummary): number | undefined {
  if (!runsNow(vm.state)) return undefined;
  return vm.live?.cdromDrives ?? vm.definition?.cdroms.length ?? 0;
}

/** Whether a disc put into drive `i` (or taken out) reaches the guest now. */
export function cdromLive(vm: VmSummary, i: number): boolean {
  const n = runningCdromDrives(vm);
  return n !== undefined && i < n;
}

/**
 * The drive a dropped ISO goes into: the first empty one; `choose` when every drive holds a disc
 * or there is none (the user picks one to replace, or adds a drive).
 */
export function dropDrive(cdroms: readonly (string | null)[]): { drive: number } | { choose: true } {
  const i = cdroms.findIndex((c) => c === null);
  return i >= 0 ? { drive: i } : { choose: true };
}

/** Whether another drive can be added. */
export function canAddDrive(cdroms: readonly unknown[]): boolean {
  return cdroms.length < MAX_CDROMS;
}

/** Why a disk cannot be removed now, or undefined when it can. */
export function diskRemoveProblem(vm: VmSummary, disk: DiskSpec): string | undefined {
  const d = vm.definition;
  if ((disk.linkedClones?.length ?? 0) > 0)
    return `It is the base of ${disk.linkedClones!.length} linked clone(s), which read through it. Delete those clones first.`;
  if (d && runsNow(vm.state) && d.boot.includes('disk') && d.disks[0]?.target === disk.target)
    return `It is the disk “${vm.name}” boots from, and the VM is ${vm.state}. Shut it down first.`;
  return undefined;
}

/** Why a disk cannot grow, or undefined when it can. */
export function diskGrowProblem(disk: DiskSpec): string | undefined {
  if ((disk.linkedClones?.length ?? 0) > 0) return 'It is the base of linked clones, which would break if it changed.';
  if (diskIsReadOnly(disk)) return 'It is read-only.';
  return undefined;
}

/** The last part of a path ("debian.iso"). */
export function baseName(p: string): string {
  return p.split(/[/\\]/).pop() || p;
}
