/**
 * A dialog's long job that the user may cancel (a full clone, a live snapshot): its phase (the
 * form, with the last error or "cancelled"; or running, with QEMU's or the copy's progress), a
 * start that follows the job to its end, and a cancel that asks the driver to stop it.
 */
import { useState } from 'react';
import type { JobProgress } from '../../main/common/contract.js';
import { VmdeskError } from '../../main/common/errors.js';
import { messageOf } from '../store/actions.js';

export type JobPhase =
  | { step: 'form'; error?: string; cancelled?: boolean }
  | { step: 'running'; jobId: string; progress?: JobProgress; cancelling?: boolean };

export interface StartedJob<T> {
  jobId: string;
  done: Promise<T>;
}

export function useCancellableJob<T>(onDone: (result: T) => void, cancelJob: (jobId: string) => Promise<void>) {
  const [phase, setPhase] = useState<JobPhase>({ step: 'form' });
  /** Starts the job `begin` makes (it reports progress through the callback it is given). */
  const start = (begin: (onProgress: (p: JobProgress) => void) => StartedJob<T>) => {
    const job = begin((progress) => setPhase((p) => (p.step === 'running' ? { ...p, progress } : p)));
    setPhase({ step: 'running', jobId: job.jobId });
    job.done.then(onDone, (err: unknown) =>
      setPhase((p) =>
        // 'cancelled' is also a call the connection lost or never sent (web-api.ts): only the
        // user's own Cancel is "cancelled".
        err instanceof VmdeskError && err.code === 'cancelled' && p.step === 'running' && p.cancelling
          ? { step: 'form', cancelled: true }
          : { step: 'form', error: messageOf(err) },
      ),
    );
  };
  /** Asks the driver to stop the running job; false when none runs (the dialog may just close). */
  const cancel = (): boolean => {
    if (phase.step !== 'running') return false;
    setPhase({ ...phase, cancelling: true });
    void cancelJob(phase.jobId).catch(() => undefined);
    return true;
  };
  return { phase, start, cancel };
}
