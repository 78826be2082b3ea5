import { Notice } from './Notice.js';
import type { JobPhase } from './use-cancellable-job.js';

/** Under a cancellable job's form: that it was cancelled and nothing was kept, or why it failed. */
export function JobOutcome({ phase, what, failed }: { phase: JobPhase; what: string; failed: string }) {
  if (phase.step !== 'form') return null;
  if (phase.cancelled)
    return (
      <Notice>
        <p>Cancelled: nothing of the {what} was kept.</p>
      </Notice>
    );
  if (phase.error)
    return (
      <Notice tone="error" title={failed}>
        <p>{phase.error}</p>
      </Notice>
    );
  return null;
}
