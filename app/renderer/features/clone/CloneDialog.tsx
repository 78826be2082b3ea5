import { useId, useState } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { Dialog } from '../../components/Dialog.js';
import { Field } from '../../components/Field.js';
import { useVmdesk } from '../../store/store.js';
import { useShallow } from 'zustand/react/shallow';
import { JobOutcome } from '../../components/JobOutcome.js';
import { useCancellableJob } from '../../components/use-cancellable-job.js';
import { cancelClone, cloneNameProblem, defaultCloneName, progressText, startClone } from './clone-actions.js';

/** Clone a stopped VM: a name, full or linked, then the copy's progress with a Cancel. */
export function CloneDialog({ vm, onClose }: { vm: VmSummary; onClose(): void }) {
  const names = useVmdesk(useShallow((s) => Object.values(s.vms).map((v) => v.name)));
  const [initial] = useState(() => defaultCloneName(vm.name, names));
  const [name, setName] = useState(initial);
  const [linked, setLinked] = useState(false);
  const { phase, start, cancel: cancelRunning } = useCancellableJob(onClose, cancelClone);
  const [touched, setTouched] = useState(false);
  const formId = useId();
  const disks = vm.definition?.disks ?? [];
  const problem = cloneNameProblem(name, names);
  const running = phase.step === 'running';

  const submit = () => {
    setTouched(true);
    if (problem || running) return;
    start((onProgress) => startClone(vm.id, name, linked, onProgress));
  };
  const cancel = () => {
    if (!cancelRunning()) onClose();
  };

  return (
    <Dialog
      title={`Clone “${vm.name}”`}
      onClose={cancel}
      footer={
        <>
          <Button onClick={cancel} disabled={running && phase.cancelling}>
            {running ? 'Cancel clone' : 'Cancel'}
          </Button>
          <Button variant="primary" type="submit" form={formId} disabled={running} aria-busy={running || undefined}>
            {linked ? 'Make linked clone' : 'Clone'}
          </Button>
        </>
      }
    >
      <form
        id={formId}
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <Field
          id={`${formId}-name`}
          label="Name of the new VM"
          error={touched || name !== initial ? problem : undefined}
          hint="It gets its own id and network address (MAC); its UEFI variables are copied."
        >
          {(p) => (
            <input
              {...p}
              type="text"
              value={name}
              disabled={running}
              autoFocus
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
        <label className="check">
          <input type="checkbox" checked={linked} disabled={running} onChange={(e) => setLinked(e.target.checked)} />
          <span>
            Linked clone
            <span className="check-hint">
              {disks.length === 0
                ? 'The VM has no disk: both kinds of clone are the same.'
                : `Made at once and takes almost no space: the clone’s disks read through the disks of “${vm.name}”, which then stay read-only for as long as the clone exists (“${vm.name}” still starts, but writes nothing to them, and it cannot be deleted before the clone). Without it, every disk is copied and the clone stands alone.`}
            </span>
          </span>
        </label>
      </form>
      {running ? (
        <div className="clone-progress" role="status" style={{ marginTop: 16 }}>
          <progress
            className="progress"
            max={Math.max(phase.progress?.totalBytes ?? 1, 1)}
            value={phase.progress?.doneBytes ?? 0}
            aria-label="Clone progress"
          />
          <p className="small" data-testid="clone-progress">
            {phase.cancelling
              ? 'Cancelling…'
              : phase.progress
                ? `${phase.progress.what}${phase.progress.totalBytes > 0 ? `: ${progressText(phase.progress)}` : ''}`
                : 'Starting…'}
          </p>
        </div>
      ) : null}
      <JobOutcome phase={phase} what="clone" failed="The clone was not made" />
    </Dialog>
  );
}
