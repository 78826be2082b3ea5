/**
 * The Settings view's "CD-ROM drives": each drive with its disc or Empty, Insert/Change and Eject
 * (live for the drives a running QEMU has), and adding or removing a drive (next start).
 */
import { useState } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { messageOf, ejectCdrom, setCdromDrives } from '../../store/actions.js';
import { useVmdesk } from '../../store/store.js';
import { FileCell } from './DisksCard.js';
import { MAX_CDROMS, baseName, canAddDrive, cdromLive, runningCdromDrives } from './device-model.js';
import { IsoPickerDialog } from './IsoPickerDialog.js';
import { runsNow } from './settings-form.js';

export function CdromCard({ vm }: { vm: VmSummary }) {
  const d = vm.definition;
  const online = useVmdesk((s) => s.connection === 'open');
  const vmBusy = useVmdesk((s) => s.busy[vm.id] !== undefined);
  const [picking, setPicking] = useState<number | null>(null);
  const [status, setStatus] = useState('');
  const [error, setError] = useState<string | null>(null);
  if (!d) return null;
  const drives = d.cdroms;
  const live = runsNow(vm.state);
  const running = runningCdromDrives(vm) ?? 0;
  const locked = !online || vmBusy;
  const last = drives.length - 1;

  const run = async (what: () => Promise<VmSummary>, done: (after: VmSummary) => string) => {
    setError(null);
    setStatus('');
    try {
      setStatus(done(await what()));
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const eject = (i: number) =>
    run(
      () => ejectCdrom(vm.id, i),
      (after) =>
        `Ejected ${baseName(drives[i] ?? '')} from CD-ROM ${i + 1}${cdromLive(after, i) ? ': the guest sees an empty drive now.' : '.'}`,
    );
  const addDrive = () =>
    run(
      () => setCdromDrives(vm.id, drives.length + 1),
      (after) =>
        `Added CD-ROM ${drives.length + 1}${runsNow(after.state) ? ': the VM has it from its next start.' : '.'}`,
    );
  const removeDrive = () =>
    run(
      () => setCdromDrives(vm.id, drives.length - 1),
      (after) =>
        `Removed CD-ROM ${drives.length}${runsNow(after.state) ? ': the VM keeps it until its next start.' : '.'}`,
    );

  return (
    <section className="card" aria-label="CD-ROM drives">
      <h3 className="card-title">CD-ROM drives</h3>
      {drives.length === 0 ? (
        <p className="muted">No CD-ROM drive. Add one to insert an installer or driver disc.</p>
      ) : (
        <table className="table cdrom-table">
          <thead>
            <tr>
              <th scope="col">Drive</th>
              <th scope="col">Disc</th>
              {live ? <th scope="col">Running VM</th> : null}
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {drives.map((iso, i) => (
              <tr key={i} data-testid="cdrom-row" data-drive={i}>
                <td>
                  <strong>CD-ROM {i + 1}</strong>
                </td>
                <td className="cell-file">{iso ? <FileCell path={iso} /> : <span className="muted">Empty</span>}</td>
                {live ? (
                  <td>
                    {i < running ? (
                      <span className="live-now" title="Insert and eject reach the guest at once">
                        Changes now
                      </span>
                    ) : (
                      <span className="applies-later">From next start</span>
                    )}
                  </td>
                ) : null}
                <td className="cell-actions">
                  <Button
                    small
                    disabled={locked}
                    aria-label={`${iso ? 'Change the disc in' : 'Insert an ISO into'} CD-ROM ${i + 1}`}
                    onClick={() => {
                      setError(null);
                      setPicking(i);
                    }}
                  >
                    {iso ? 'Change…' : 'Insert…'}
                  </Button>
                  <Button
                    small
                    disabled={locked || !iso}
                    aria-label={`Eject CD-ROM ${i + 1}`}
                    title={iso ? `Take ${baseName(iso)} out` : 'The drive is empty'}
                    onClick={() => void eject(i)}
                  >
                    Eject
                  </Button>
                </td>
              </tr>
            ))}
            {live && running > drives.length
              ? Array.from({ length: running - drives.length }, (_, k) => (
                  <tr key={`gone-${k}`} className="row-gone">
                    <td>
                      <strong>CD-ROM {drives.length + k + 1}</strong>
                    </td>
                    <td colSpan={3} className="muted">
                      Removed; the running VM keeps it until its next start.
                    </td>
                  </tr>
                ))
              : null}
          </tbody>
        </table>
      )}
      <div className="card-actions">
        <Button
          disabled={locked || !canAddDrive(drives)}
          title={canAddDrive(drives) ? undefined : `A VM can have at most ${MAX_CDROMS} CD-ROM drives`}
          onClick={() => void addDrive()}
        >
          Add a drive
        </Button>
        <Button
          disabled={locked || drives.length === 0}
          title={
            last >= 0 && drives[last]
              ? `Removes CD-ROM ${last + 1} with ${baseName(drives[last]!)} in it`
              : last >= 0
                ? `Removes CD-ROM ${last + 1}`
                : undefined
          }
          onClick={() => void removeDrive()}
        >
          Remove last drive
        </Button>
      </div>
      <p className="muted small">
        {live
          ? 'Discs go in and out of the running VM’s drives at once; a drive added or removed applies at its next start.'
          : 'Changes apply from the next start.'}{' '}
        Dropping an ISO on this VM (here or on its row in the list) puts it into the first empty drive.
      </p>
      {error ? (
        <p className="field-error" role="alert">
          {error}
        </p>
      ) : null}
      <p role="status" className="card-status" data-testid="cdrom-status">
        {status}
      </p>
      {picking !== null ? (
        <IsoPickerDialog
          vm={vm}
          drive={picking}
          onClose={(m) => {
            setPicking(null);
            if (m) setStatus(m);
          }}
        />
      ) : null}
    </section>
  );
}
