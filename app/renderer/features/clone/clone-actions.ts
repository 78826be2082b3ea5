/**
 * The window's side of vm.clone: a default name for the copy, the call with its job id, the
 * job's progress (job.progress events of that id only), and its cancel.
 */
import type { JobProgress } from '../../../main/common/contract.js';
import { sameVmName, vmNameProblem } from '../../../main/common/names.js';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { applyVmChanged, requireApi, selectVm } from '../../store/actions.js';

/** "web (clone)", or "web (clone 2)" … when that is taken. */
export function defaultCloneName(name: string, taken: readonly string[]): string {
  const free = (n: string) => !taken.some((t) => sameVmName(t, n));
  for (let i = 1; ; i++) {
    const candidate = `${name} (clone${i === 1 ? '' : ` ${i}`})`;
    if (free(candidate)) return candidate;
  }
}

/** Why `name` cannot be the clone's name, or undefined (the driver checks again). */
export function cloneNameProblem(name: string, taken: readonly string[]): string | undefined {
  const problem = vmNameProblem(name);
  if (problem) return problem;
  if (taken.some((t) => sameVmName(t, name))) return `A VM named "${name}" already exists. Choose another name.`;
  return undefined;
}

/** "1.2 GiB of 20.0 GiB (6 %)". */
export function progressText(p: Pick<JobProgress, 'doneBytes' | 'totalBytes'>): string {
  const gib = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.round(n / 2 ** 20)} MiB`);
  if (p.totalBytes <= 0) return '';
  return `${gib(p.doneBytes)} of ${gib(p.totalBytes)} (${Math.floor((p.doneBytes / p.totalBytes) * 100)} %)`;
}

let jobs = 0;

export interface CloneJob {
  jobId: string;
  /** The new VM, selected in the list; rejects with the driver's sentence (or "cancelled"). */
  done: Promise<VmSummary>;
}

/** Starts a clone of `vm`; `onProgress` gets its job.progress events until it ends. */
export function startClone(vm: string, name: string, linked: boolean, onProgress: (p: JobProgress) => void): CloneJob {
  const api = requireApi();
  const jobId = `window-${Date.now().toString(36)}-${++jobs}`;
  const off = api.onEvent((event, data) => {
    if (event === 'job.progress' && (data as JobProgress).jobId === jobId) onProgress(data as JobProgress);
  });
  const done = api
    .call('vm.clone', { vm, name, jobId, ...(linked ? { linked } : {}) })
    .then((made) => {
      applyVmChanged(made);
      selectVm(made.id);
      return made;
    })
    .finally(off);
  return { jobId, done };
}

/** Asks the driver to stop the job; the clone's own call then fails with "cancelled". */
export async function cancelClone(jobId: string): Promise<void> {
  await requireApi().call('job.cancel', { jobId });
}
