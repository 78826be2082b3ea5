/**
 * "Insert an ISO into CD-ROM N": an image from the ISO library (iso.list) or any file by its path
 * on the computer running vmdesk (in `vmdesk web` there is no native file picker).
 */
import { useEffect, useId, useState, type FormEvent } from 'react';
import type { IsoLibraryEntry } from '../../../main/common/contract.js';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { Dialog } from '../../components/Dialog.js';
import { Notice } from '../../components/Notice.js';
import { insertCdrom, messageOf } from '../../store/actions.js';
import { listIsoLibrary } from '../iso-library/iso-library-actions.js';
import { cdromLive } from './device-model.js';
import { formatBytes } from './format.js';

const OTHER = '';

export function IsoPickerDialog({
  vm,
  drive,
  onClose,
}: {
  vm: VmSummary;
  drive: number;
  onClose(message: string | null): void;
}) {
  const [library, setLibrary] = useState<IsoLibraryEntry[] | null>(null);
  const [libraryError, setLibraryError] = useState<string | null>(null);
  const [choice, setChoice] = useState<string | null>(null);
  const [path, setPath] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const current = vm.definition?.cdroms[drive] ?? null;

  useEffect(() => {
    let live = true;
    listIsoLibrary().then(
      (l) => {
        if (!live) return;
        setLibrary(l);
        // The first image that is not already in this drive, else typing a path.
        setChoice((c) => c ?? l.find((e) => e.path !== current)?.path ?? OTHER);
      },
      (err: unknown) => {
        if (!live) return;
        setLibraryError(messageOf(err));
        setChoice((c) => c ?? OTHER);
      },
    );
    return () => {
      live = false;
    };
  }, [current]);

  const iso = choice === OTHER ? path.trim() : choice;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!iso) return setError('Choose an image, or type the full path of an ISO file.');
    if (!iso.startsWith('/'))
      return setError('Type the full path of the ISO on the computer running vmdesk, e.g. /home/you/drivers.iso.');
    setBusy(true);
    setError(null);
    try {
      const after = await insertCdrom(vm.id, iso, drive);
      const name = iso.split('/').pop();
      onClose(
        `Inserted ${name} into CD-ROM ${drive + 1}: ${cdromLive(after, drive) ? 'the guest sees it now.' : 'the VM has it from its next start.'}`,
      );
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };

  return (
    <Dialog
      title={`${current ? 'Change the disc in' : 'Insert an ISO into'} CD-ROM ${drive + 1}`}
      subtitle={`“${vm.name}”${cdromLive(vm, drive) ? ': the running guest sees it at once' : ''}`}
      onClose={() => {
        if (!busy) onClose(null);
      }}
      wide
      footer={
        <>
          <Button onClick={() => onClose(null)} disabled={busy}>
            Cancel
          </Button>
          <Button variant="primary" type="submit" form={`${id}-form`} disabled={busy || choice === null}>
            {busy ? 'Inserting…' : 'Insert'}
          </Button>
        </>
      }
    >
      <form id={`${id}-form`} className="iso-pick" onSubmit={(e) => void submit(e)} noValidate>
        <fieldset className="iso-pick-list">
          <legend className="field-label">From the ISO library</legend>
          {library === null && !libraryError ? <p className="muted">Reading the ISO library…</p> : null}
          {libraryError ? <p className="muted">The ISO library cannot be read: {libraryError}</p> : null}
          {library && library.length === 0 ? (
            <p className="muted">The library is empty: images you drop on the window in a browser land there.</p>
          ) : null}
          {library?.map((e) => (
            <label key={e.path} className="iso-pick-item">
              <input
                type="radio"
                name={`${id}-iso`}
                value={e.path}
                checked={choice === e.path}
                onChange={() => {
                  setChoice(e.path);
                  setError(null);
                }}
              />
              <span className="iso-pick-text">
                <span className="iso-pick-name">{e.name}</span>
                <span className="muted small">
                  {[e.os, formatBytes(e.sizeBytes), e.path === current ? 'in this drive now' : null]
                    .filter(Boolean)
                    .join(' · ')}
                </span>
              </span>
            </label>
          ))}
          <label className="iso-pick-item">
            <input
              type="radio"
              name={`${id}-iso`}
              value={OTHER}
              checked={choice === OTHER}
              onChange={() => {
                setChoice(OTHER);
                setError(null);
              }}
            />
            <span className="iso-pick-text">
              <span className="iso-pick-name">Another file</span>
              <span className="muted small">By its path on the computer running vmdesk.</span>
            </span>
          </label>
          {choice === OTHER ? (
            <input
              className="iso-pick-path"
              type="text"
              aria-label="ISO path"
              value={path}
              placeholder="/home/you/Downloads/drivers.iso"
              autoComplete="off"
              spellCheck={false}
              autoFocus
              onChange={(e) => {
                setPath(e.target.value);
                setError(null);
              }}
            />
          ) : null}
        </fieldset>
        {error ? <Notice tone="error">{error}</Notice> : null}
      </form>
    </Dialog>
  );
}
