/**
 * An ISO dropped on a VM: the upload (browser), the choice of drive when none is empty, a
 * failure, in one dialog; the outcome as a message in the corner that stays until dismissed.
 */
import { useId, useState } from 'react';
import { Button } from '../../components/Button.js';
import { Dialog } from '../../components/Dialog.js';
import { Notice } from '../../components/Notice.js';
import { closeIsoDrop, insertDroppedIso } from '../../store/iso-drop-actions.js';
import { useVmdesk, type IsoDropStep } from '../../store/store.js';
import { percent } from '../create-wizard/progress.js';
import { MAX_CDROMS, baseName, cdromLive } from './device-model.js';
import { formatBytes } from './format.js';

function ChooseDrive({ s, formId }: { s: Extract<IsoDropStep, { step: 'choose' }>; formId: string }) {
  const vm = useVmdesk((st) => st.vms[s.vmId]);
  const drives = vm?.definition?.cdroms ?? [];
  const canAdd = drives.length < MAX_CDROMS;
  // The first drive (its disc is replaced), or a new one when there is none.
  const [drive, setDrive] = useState(0);
  const id = useId();
  if (!vm) return <p>This VM no longer exists.</p>;
  return (
    <form
      id={formId}
      className="iso-pick"
      onSubmit={(e) => {
        e.preventDefault();
        void insertDroppedIso(s.vmId, s.path, drive);
      }}
    >
      <p>
        {drives.length === 0
          ? `“${vm.name}” has no CD-ROM drive yet.`
          : `Every CD-ROM drive of “${vm.name}” holds a disc. Choose the one to put ${s.fileName} into:`}
      </p>
      <fieldset className="iso-pick-list">
        <legend className="sr-only">Drive</legend>
        {drives.map((iso, i) => (
          <label key={i} className="iso-pick-item">
            <input type="radio" name={`${id}-drive`} checked={drive === i} onChange={() => setDrive(i)} />
            <span className="iso-pick-text">
              <span className="iso-pick-name">CD-ROM {i + 1}</span>
              <span className="muted small">
                Replaces {iso ? baseName(iso) : 'nothing'}
                {cdromLive(vm, i) ? ' · the guest sees it now' : ''}
              </span>
            </span>
          </label>
        ))}
        {canAdd ? (
          <label className="iso-pick-item">
            <input
              type="radio"
              name={`${id}-drive`}
              checked={drive === drives.length}
              onChange={() => setDrive(drives.length)}
            />
            <span className="iso-pick-text">
              <span className="iso-pick-name">A new drive (CD-ROM {drives.length + 1})</span>
              <span className="muted small">
                {vm.state === 'stopped' || vm.state === 'crashed'
                  ? 'Added to the VM.'
                  : 'Added to the VM; the running guest gets it at its next start.'}
              </span>
            </span>
          </label>
        ) : null}
      </fieldset>
    </form>
  );
}

function Body({ s }: { s: IsoDropStep }) {
  if (s.step === 'upload')
    return (
      <div className="wizard-upload">
        <p>
          Uploading <strong>{s.fileName}</strong> to the ISO library on the machine running vmdesk.
        </p>
        <progress className="progress" max={Math.max(s.total, 1)} value={s.loaded} aria-label="Upload progress" />
        <p className="wizard-upload-line" aria-live="polite">
          {formatBytes(s.loaded)} of {formatBytes(s.total)} ({percent(s.loaded, s.total)} %)
        </p>
      </div>
    );
  if (s.step === 'inserting')
    return (
      <p role="status" className="wizard-reading">
        <span className="spinner" aria-hidden="true" />
        Inserting {s.fileName}…
      </p>
    );
  if (s.step === 'failed')
    return (
      <Notice tone="error" title={`“${s.fileName}” was not inserted`}>
        <p>{s.message}</p>
      </Notice>
    );
  return null;
}

export function IsoDropDialog() {
  const s = useVmdesk((st) => st.isoDrop);
  const name = useVmdesk((st) => (st.isoDrop ? st.vms[st.isoDrop.vmId]?.name : undefined));
  const formId = `${useId()}-form`;
  if (!s) return null;
  if (s.step === 'done')
    return (
      <div className="toast" role="status" data-testid="iso-drop-done">
        <span>{s.message}</span>
        <Button small variant="ghost" onClick={closeIsoDrop}>
          Dismiss
        </Button>
      </div>
    );
  const busy = s.step === 'inserting';
  return (
    <Dialog
      title={`Insert an ISO into “${name ?? 'the VM'}”`}
      onClose={() => {
        if (!busy) closeIsoDrop();
      }}
      footer={
        s.step === 'choose' ? (
          <>
            <Button onClick={closeIsoDrop}>Cancel</Button>
            <Button variant="primary" type="submit" form={formId}>
              Insert
            </Button>
          </>
        ) : (
          <Button onClick={closeIsoDrop} disabled={busy}>
            {s.step === 'upload' ? 'Cancel upload' : 'Close'}
          </Button>
        )
      }
    >
      {s.step === 'choose' ? <ChooseDrive s={s} formId={formId} /> : <Body s={s} />}
    </Dialog>
  );
}
