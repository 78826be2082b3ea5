/** The Snapshots tab's dialogs: take one (with its save's progress and Cancel), revert, delete. */
import { useId, useState } from 'react';
import type { JobProgress, SnapshotInfo } from '../../../main/common/contract.js';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { JobOutcome } from '../../components/JobOutcome.js';
import { useCancellableJob } from '../../components/use-cancellable-job.js';
import { Dialog } from '../../components/Dialog.js';
import { Field } from '../../components/Field.js';
import { Notice } from '../../components/Notice.js';
import { messageOf } from '../../store/actions.js';
import { formatBytes, formatDateTime, formatMiB } from '../vm-details/format.js';
import { cancelJob, deleteSnapshot, revertToSnapshot, takeSnapshot } from './snapshot-actions.js';
import {
  defaultSnapshotName,
  deleteEffect,
  jobProgressView,
  revertPlan,
  snapshotNameError,
  takeMode,
} from './snapshot-tree.js';

/** A job's progress bar and its line ("Saving memory and disks…", or an amount done for one that counts bytes). */
function JobStatus({ label, progress, note }: { label: string; progress?: JobProgress; note?: string }) {
  const view = jobProgressView(progress);
  return (
    <div className="snap-progress" role="status">
      {view.value ? (
        <progress className="progress" max={Math.max(view.value.total, 1)} value={view.value.done} aria-label={label} />
      ) : (
        <progress className="progress" aria-label={label} />
      )}
      <p className="small" data-testid="snapshot-progress">
        {note ?? view.line}
      </p>
    </div>
  );
}

/**
 * Take a snapshot: a name (proposed), a description, and for a running VM whether its memory is
 * saved too. A live save shows its progress and can be cancelled; nothing of it stays then.
 */
export function TakeSnapshotDialog({
  vm,
  list,
  onClose,
  onDone,
}: {
  vm: VmSummary;
  list: readonly SnapshotInfo[];
  onClose(): void;
  onDone(made: SnapshotInfo): void;
}) {
  const [initial] = useState(() => defaultSnapshotName(list));
  const [name, setName] = useState(initial);
  const [description, setDescription] = useState('');
  const [touched, setTouched] = useState(false);
  /** Disks only while it runs: possible when a guest agent can freeze its file systems. */
  const [disksOnly, setDisksOnly] = useState(false);
  const canFreeze = vm.state === 'running' && !!vm.guest?.connected;
  const { phase, start, cancel: cancelRunning } = useCancellableJob(onDone, cancelJob);
  const formId = useId();
  const mode = takeMode(vm.state, vm.name);
  const problem = snapshotNameError(name, list);
  const running = phase.step === 'running';
  const memory = vm.definition ? formatMiB(vm.definition.memoryMiB) : 'its';

  const submit = () => {
    setTouched(true);
    if (problem || running || mode.mode === 'none') return;
    const frozen = mode.mode === 'memory' && disksOnly && canFreeze;
    start((onProgress) =>
      takeSnapshot(
        vm.id,
        { name, description: description.trim() || undefined, ...(frozen ? { diskOnly: true } : {}) },
        onProgress,
      ),
    );
  };
  const cancel = () => {
    if (!cancelRunning()) onClose();
  };
  const withMemory = mode.mode === 'memory' && !(disksOnly && canFreeze);

  return (
    <Dialog
      title={`Take a snapshot of “${vm.name}”`}
      onClose={cancel}
      footer={
        <>
          <Button onClick={cancel} disabled={running && phase.cancelling}>
            {running ? 'Cancel snapshot' : 'Cancel'}
          </Button>
          <Button
            variant="primary"
            type="submit"
            form={formId}
            disabled={running || mode.mode === 'none'}
            aria-busy={running || undefined}
          >
            Take snapshot
          </Button>
        </>
      }
    >
      <form
        id={formId}
        className="snap-form"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <Field id={`${formId}-name`} label="Name" error={touched || name !== initial ? problem : undefined}>
          {(p) => (
            <input
              {...p}
              type="text"
              value={name}
              disabled={running}
              autoFocus
              onFocus={(e) => e.currentTarget.select()}
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
        <Field id={`${formId}-desc`} label="Description (optional)">
          {(p) => (
            <textarea
              {...p}
              rows={2}
              value={description}
              disabled={running}
              placeholder="What is in it, why you took it"
              onChange={(e) => setDescription(e.target.value)}
            />
          )}
        </Field>
        {mode.mode === 'memory' ? (
          <fieldset className="choices" disabled={running}>
            <legend className="field-label">What it keeps</legend>
            <label className="choice">
              <input
                type="radio"
                name={`${formId}-what`}
                checked={!disksOnly || !canFreeze}
                onChange={() => setDisksOnly(false)}
              />
              <span className="choice-text">
                <strong>Disks and memory</strong>
                <span className="check-hint">
                  Reverting brings “{vm.name}” back {vm.state === 'paused' ? 'paused' : 'running'}, programs open,
                  exactly where it is now. The guest stops while its {memory} of memory are saved.
                </span>
              </span>
            </label>
            <label className={canFreeze ? 'choice' : 'choice choice-off'}>
              <input
                type="radio"
                name={`${formId}-what`}
                checked={disksOnly && canFreeze}
                disabled={!canFreeze}
                onChange={() => setDisksOnly(true)}
              />
              <span className="choice-text">
                <strong>Disks only</strong>
                <span className="check-hint">
                  {canFreeze
                    ? `The guest agent freezes the file systems of “${vm.name}” for a moment, so the disks hold what it meant to write; no memory is saved, and going back to it needs the VM off.`
                    : `Shut “${vm.name}” down first, or install qemu-guest-agent in it: while it ${vm.state === 'paused' ? 'is paused' : 'runs'}, its file systems are mid-write, and a snapshot of its disks alone would catch them half written.`}
                </span>
              </span>
            </label>
          </fieldset>
        ) : mode.mode === 'disks' ? (
          <p className="muted small" data-testid="snapshot-disks-only">
            “{vm.name}” is off, so the snapshot keeps its disks only; reverting to it leaves the VM off.
          </p>
        ) : (
          <Notice tone="warn">
            <p>{mode.why}</p>
          </Notice>
        )}
      </form>
      {running ? (
        <JobStatus
          label="Snapshot progress"
          progress={phase.progress}
          note={phase.cancelling ? 'Cancelling…' : withMemory || phase.progress ? undefined : 'Saving the disks…'}
        />
      ) : null}
      <JobOutcome phase={phase} what="snapshot" failed="The snapshot was not taken" />
    </Dialog>
  );
}

type RunPhase = { step: 'ask'; error?: string } | { step: 'running'; progress?: JobProgress };

/** Revert: what is lost, whether the VM is forced off first, and where it stands afterwards. */
export function RevertDialog({
  vm,
  snap,
  list,
  onClose,
  onDone,
}: {
  vm: VmSummary;
  snap: SnapshotInfo;
  list: readonly SnapshotInfo[];
  onClose(): void;
  onDone(after: VmSummary): void;
}) {
  const [phase, setPhase] = useState<RunPhase>({ step: 'ask' });
  const plan = revertPlan(snap, vm, list, formatDateTime(snap.createdAt));
  const running = phase.step === 'running';
  const go = () => {
    if (running) return;
    setPhase({ step: 'running' });
    revertToSnapshot(vm, snap, (progress) =>
      setPhase((p) => (p.step === 'running' ? { ...p, progress } : p)),
    ).done.then(onDone, (err: unknown) => setPhase({ step: 'ask', error: messageOf(err) }));
  };
  return (
    <Dialog
      title={`Revert “${vm.name}” to “${snap.name}”?`}
      onClose={() => !running && onClose()}
      footer={
        <>
          <Button onClick={onClose} disabled={running}>
            Cancel
          </Button>
          <Button variant="danger" onClick={go} disabled={running} aria-busy={running || undefined} autoFocus>
            {plan.forceOff ? 'Force off and revert' : 'Revert'}
          </Button>
        </>
      }
    >
      {plan.forceOff ? (
        <Notice tone="warn" title={`“${vm.name}” is forced off first`}>
          <p>
            “{snap.name}” was taken while the VM was off: it holds no memory to go back to. Forcing off is like pulling
            the power plug.
          </p>
        </Notice>
      ) : null}
      {plan.startFirst ? (
        <Notice title={`“${vm.name}” is started first`}>
          <p>“{snap.name}” holds the VM’s memory, which is loaded into it once it runs.</p>
        </Notice>
      ) : null}
      <p className="snap-lost-title">This loses:</p>
      <ul className="snap-lost">
        {plan.lost.map((l) => (
          <li key={l}>{l}</li>
        ))}
      </ul>
      <p>{plan.after}</p>
      {running ? (
        <JobStatus
          label="Revert progress"
          progress={phase.progress}
          note={
            phase.progress
              ? undefined
              : plan.forceOff
                ? 'Forcing off, then reverting…'
                : plan.startFirst
                  ? 'Starting, then reverting…'
                  : 'Reverting…'
          }
        />
      ) : null}
      {phase.step === 'ask' && phase.error ? (
        <Notice tone="error" title="Not reverted">
          <p>{phase.error}</p>
        </Notice>
      ) : null}
    </Dialog>
  );
}

/** Delete: what it frees and where its children go. */
export function DeleteSnapshotDialog({
  vm,
  snap,
  list,
  onClose,
  onDone,
}: {
  vm: VmSummary;
  snap: SnapshotInfo;
  list: readonly SnapshotInfo[];
  onClose(): void;
  onDone(): void;
}) {
  const [phase, setPhase] = useState<RunPhase>({ step: 'ask' });
  const running = phase.step === 'running';
  const go = () => {
    if (running) return;
    setPhase({ step: 'running' });
    deleteSnapshot(vm.id, snap.name).then(onDone, (err: unknown) => setPhase({ step: 'ask', error: messageOf(err) }));
  };
  return (
    <Dialog
      title={`Delete the snapshot “${snap.name}”?`}
      onClose={() => !running && onClose()}
      footer={
        <>
          <Button onClick={onClose} disabled={running}>
            Cancel
          </Button>
          <Button variant="danger" onClick={go} disabled={running} aria-busy={running || undefined} autoFocus>
            Delete snapshot
          </Button>
        </>
      }
    >
      <p className="snap-dialog-text">
        You can no longer go back to “{snap.name}” ({formatDateTime(snap.createdAt)})
        {snap.vmStateBytes ? `; the ${formatBytes(snap.vmStateBytes)} of memory it saved are freed` : ''}. This cannot
        be undone.
      </p>
      <p className="snap-dialog-text">{deleteEffect(snap, list)}</p>
      {running ? <JobStatus label="Delete progress" note="Deleting…" /> : null}
      {phase.step === 'ask' && phase.error ? (
        <Notice tone="error" title="Not deleted">
          <p>{phase.error}</p>
        </Notice>
      ) : null}
    </Dialog>
  );
}
