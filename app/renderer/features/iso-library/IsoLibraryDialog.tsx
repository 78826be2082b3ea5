/** The ISO library: the installer images vmdesk keeps, who uses them, and deleting the unused ones. */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { IsoLibraryEntry } from '../../../main/common/contract.js';
import { Button } from '../../components/Button.js';
import { Dialog } from '../../components/Dialog.js';
import { IconDisc, IconTrash } from '../../components/icons.js';
import { EmptyPanel, Notice } from '../../components/Notice.js';
import { closeDialog, messageOf } from '../../store/actions.js';
import { useVmdesk, type VmdeskState } from '../../store/store.js';
import { listIsoLibrary, removeIso } from './iso-library-actions.js';
import {
  DEFAULT_LIBRARY_DIR,
  isoLibraryView,
  stillConfirmable,
  USUAL_LIBRARY_DIR,
  type IsoRow,
} from './iso-library-model.js';

/**
 * Who uses which image changes with the VMs (a CD inserted, ejected, a VM deleted): this key
 * changes exactly then, so the list is read again.
 */
const selectCdromKey = (s: VmdeskState) =>
  Object.values(s.vms)
    .map((v) => `${v.id}\u0000${v.name}\u0000${v.definition?.cdroms.join('\u0002') ?? ''}`)
    .sort()
    .join('\u0001');

interface Message {
  tone: 'info' | 'error';
  text: string;
}

function Row({
  row,
  confirming,
  removing,
  onAsk,
  onCancel,
  onConfirm,
}: {
  row: IsoRow;
  confirming: boolean;
  removing: boolean;
  onAsk(): void;
  onCancel(): void;
  onConfirm(): void;
}) {
  return (
    <li aria-label={row.name} className="iso-item">
      <div className="host-line">
        <strong className="host-name iso-name">{row.name}</strong>
        <span className="iso-size">{row.size}</span>
      </div>
      <p className="muted small">
        <span className={row.recognised ? 'iso-os' : undefined}>{row.os}</span> · {row.stored}
      </p>
      <div className="host-line">
        <span className={row.canDelete ? 'muted' : undefined} data-testid="iso-usage">
          {row.usage}
          {row.hint ? <span className="muted small"> · {row.hint}</span> : null}
        </span>
        {row.canDelete && !confirming ? (
          <Button small variant="danger" icon={<IconTrash />} aria-label={`Delete ${row.name}`} onClick={onAsk}>
            Delete
          </Button>
        ) : null}
      </div>
      {confirming ? (
        <div className="notice notice-warn iso-confirm" role="group" aria-label={`Confirm deleting ${row.name}`}>
          <div className="notice-text">
            <strong className="notice-title">Delete {row.name}?</strong>
            <span>The file is removed from disk; this cannot be undone.</span>
          </div>
          <div className="iso-confirm-actions">
            <Button small onClick={onCancel} disabled={removing}>
              Cancel
            </Button>
            <Button small variant="danger" autoFocus disabled={removing} aria-busy={removing} onClick={onConfirm}>
              {removing ? 'Deleting…' : 'Delete'}
            </Button>
          </div>
        </div>
      ) : null}
    </li>
  );
}

export function IsoLibraryDialog() {
  const [entries, setEntries] = useState<IsoLibraryEntry[] | null>(null);
  const [loading, setLoading] = useState(false);
  const [message, setMessage] = useState<Message | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [removing, setRemoving] = useState<string | null>(null);
  const cdroms = useVmdesk(selectCdromKey);
  // Only the newest read lands: a slow read must not overwrite the list a delete just returned.
  const seq = useRef(0);

  const load = useCallback(async () => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const list = await listIsoLibrary();
      if (mine !== seq.current) return;
      setEntries(list);
      setConfirming((c) => stillConfirmable(list, c));
    } catch (err) {
      if (mine === seq.current) setMessage({ tone: 'error', text: messageOf(err) });
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load, cdroms]);

  const remove = async (row: IsoRow) => {
    const mine = ++seq.current;
    setRemoving(row.path);
    setMessage(null);
    setStatus(null);
    const out = await removeIso(row.path, row.name);
    setRemoving(null);
    setConfirming(null);
    if (mine === seq.current) {
      setLoading(false);
      if (out.entries) setEntries(out.entries);
    } else {
      // A read started meanwhile (a VM changed) may have listed the file before it went: read again.
      void load();
    }
    if (out.message) setMessage({ tone: out.tone, text: out.message });
    if (out.removed) setStatus(`Deleted ${row.name}.`);
  };

  const view = isoLibraryView(entries);
  return (
    <Dialog
      title="ISO library"
      subtitle={view.summary}
      wide
      onClose={closeDialog}
      footer={
        <>
          <Button disabled={loading || removing !== null} onClick={() => void load()}>
            {loading ? 'Reading…' : 'Refresh'}
          </Button>
          <Button variant="primary" onClick={closeDialog}>
            Done
          </Button>
        </>
      }
    >
      <div className="iso-library">
        <p className="muted small">
          Images live in{' '}
          {view.folder ? (
            <code className="path">{view.folder}</code>
          ) : (
            <>
              <code className="path">{DEFAULT_LIBRARY_DIR}</code> (usually{' '}
              <code className="path">{USUAL_LIBRARY_DIR}</code>)
            </>
          )}
          . ISOs dropped or picked in the browser (<code>vmdesk web</code>) are uploaded there; the desktop app uses an
          ISO where it is, so it is not listed here.
        </p>
        {message ? (
          <Notice tone={message.tone} onDismiss={() => setMessage(null)}>
            {message.text}
          </Notice>
        ) : null}
        <p role="status" className="small iso-status">
          {status}
        </p>
        {view.empty ? (
          <EmptyPanel title="The ISO library is empty" icon={<IconDisc />}>
            No installer images are stored. An ISO you drop on this window in the browser lands here, and stays until
            you delete it.
          </EmptyPanel>
        ) : (
          <ul className="host-list" aria-label="Images in the ISO library">
            {view.rows.map((row) => (
              <Row
                key={row.path}
                row={row}
                confirming={confirming === row.path}
                removing={removing === row.path}
                onAsk={() => {
                  setConfirming(row.path);
                  setStatus(null);
                }}
                onCancel={() => setConfirming(null)}
                onConfirm={() => void remove(row)}
              />
            ))}
          </ul>
        )}
      </div>
    </Dialog>
  );
}
