/**
 * The Snapshots tab's calls. The tree itself follows the driver's snapshot.changed events (the
 * store); these mark the VM busy meanwhile (its toolbar waits, Force off excepted), show a VM's
 * new summary, and throw refusals to the tab, which shows their sentence next to the action.
 */
import type { JobProgress, SnapshotInfo } from '../../../main/common/contract.js';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { applySnapshotsChanged, applyVmChanged, requireApi, setBusy } from '../../store/actions.js';
import { store } from '../../store/store.js';

let jobs = 0;

function newJobId(): string {
  return `window-snap-${Date.now().toString(36)}-${++jobs}`;
}

function show(vm: VmSummary): VmSummary {
  // A VM deleted meanwhile (its vm.removed came first) is not brought back.
  if (store.getState().vms[vm.id]) applyVmChanged(vm);
  return vm;
}

/** Runs `call` with the VM marked busy, and `onProgress` fed the job.progress events of `jobId`. */
async function asJob<T>(
  vm: string,
  jobId: string,
  onProgress: ((p: JobProgress) => void) | undefined,
  call: () => Promise<T>,
): Promise<T> {
  const off = onProgress
    ? requireApi().onEvent((event, data) => {
        if (event === 'job.progress' && (data as JobProgress).jobId === jobId) onProgress(data as JobProgress);
      })
    : () => undefined;
  setBusy(vm, 'snapshot');
  try {
    return await call();
  } finally {
    off();
    setBusy(vm, null);
  }
}

export interface SnapshotJob<T> {
  jobId: string;
  /** Rejects with the driver's sentence, or with code "cancelled" after cancelJob(). */
  done: Promise<T>;
}

/** Takes a snapshot; one with memory reports its save as job.progress and can be cancelled. */
export function takeSnapshot(
  vm: string,
  input: { name: string; description?: string; diskOnly?: boolean },
  onProgress: (p: JobProgress) => void,
): SnapshotJob<SnapshotInfo> {
  const jobId = newJobId();
  const params = {
    vm,
    name: input.name,
    jobId,
    ...(input.description ? { description: input.description } : {}),
    ...(input.diskOnly ? { diskOnly: true } : {}),
  };
  return { jobId, done: asJob(vm, jobId, onProgress, () => requireApi().call('snapshot.create', params)) };
}

/** Asks the driver to stop a job; its own call then fails with "cancelled" and leaves nothing. */
export async function cancelJob(jobId: string): Promise<void> {
  await requireApi().call('job.cancel', { jobId });
}

/**
 * Goes back to `snap`. A snapshot of the VM while it was off holds no memory to go back to, so a
 * running or paused VM is forced off first (the confirmation said so); the driver then refuses
 * nothing it would refuse of a stopped VM.
 */
export function revertToSnapshot(
  vm: VmSummary,
  snap: SnapshotInfo,
  onProgress: (p: JobProgress) => void,
): SnapshotJob<VmSummary> {
  const jobId = newJobId();
  const api = requireApi();
  const live = vm.state === 'running' || vm.state === 'paused';
  return {
    jobId,
    done: asJob(vm.id, jobId, onProgress, async () => {
      if (!snap.withMemory && live) show(await api.call('vm.stop', { vm: vm.id }));
      return show(await api.call('snapshot.revert', { vm: vm.id, name: snap.name, jobId }));
    }),
  };
}

/** Deletes a snapshot; its children move to its parent. Shows the snapshots left at once. */
export async function deleteSnapshot(vm: string, name: string): Promise<SnapshotInfo[]> {
  return asJob(vm, newJobId(), undefined, async () => {
    const left = await requireApi().call('snapshot.delete', { vm, name });
    applySnapshotsChanged(vm, left);
    return left;
  });
}

/** Renames a snapshot and/or changes its description (only what is given). */
export async function updateSnapshot(
  vm: string,
  name: string,
  change: { newName?: string; description?: string },
): Promise<SnapshotInfo> {
  return requireApi().call('snapshot.update', { vm, name, ...change });
}

/** Thumbnails fetched so far (base64 PNG, or null: none), by VM, snapshot and time taken. */
const thumbnails = new Map<string, Promise<string | null>>();
/** Enough for a few VMs' trees; the oldest fetched goes first. */
const MAX_THUMBNAILS = 120;

/**
 * The screen at the moment of `snap`, fetched once per snapshot. A failed fetch is forgotten, so
 * the next showing tries again. Keyed by the time it was taken too: a snapshot deleted and taken
 * again under its old name is another picture.
 */
export function snapshotThumbnail(vm: string, snap: Pick<SnapshotInfo, 'name' | 'createdAt'>): Promise<string | null> {
  const key = `${vm}\u0000${snap.name}\u0000${snap.createdAt}`;
  const had = thumbnails.get(key);
  if (had) return had;
  const p = requireApi()
    .call('snapshot.thumbnail', { vm, name: snap.name })
    .then((r) => r.png)
    .catch((err: unknown) => {
      thumbnails.delete(key);
      throw err;
    });
  thumbnails.set(key, p);
  while (thumbnails.size > MAX_THUMBNAILS) thumbnails.delete(thumbnails.keys().next().value!);
  return p;
}

/** For tests: forget the fetched thumbnails. */
export function forgetThumbnails(): void {
  thumbnails.clear();
}

/** Converts a stopped VM's raw disk to qcow2 (vm.convertDisk); the answer's notice says where the raw file stays. */
export async function convertDisk(vm: string, target: string): Promise<VmSummary> {
  const after = await requireApi().call('vm.convertDisk', { vm, target });
  applyVmChanged(after);
  return after;
}
