import { useEffect, useId, useState, type FormEvent } from 'react';
import type { SnapshotInfo } from '../../../main/common/contract.js';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { Field } from '../../components/Field.js';
import { CopyCode, EmptyPanel, Notice } from '../../components/Notice.js';
import { loadSnapshots, messageOf, selectTab, setTakeSnapshotFor } from '../../store/actions.js';
import { store, useVmdesk } from '../../store/store.js';
import { formatBytes, formatDateTime } from '../vm-details/format.js';
import { DeleteSnapshotDialog, RevertDialog, TakeSnapshotDialog } from './SnapshotDialogs.js';
import { SnapshotThumb } from './SnapshotThumb.js';
import { convertDisk, updateSnapshot } from './snapshot-actions.js';
import {
  buildSnapshotTree,
  savedMemoryBytes,
  snapshotBlockers,
  snapshotKind,
  snapshotNameError,
  takeMode,
  type TreeItem,
} from './snapshot-tree.js';

type Open = { kind: 'take' } | { kind: 'revert'; name: string } | { kind: 'delete'; name: string } | null;

/** What the row buttons of every snapshot need. */
interface RowContext {
  vm: VmSummary;
  list: SnapshotInfo[];
  locked: boolean;
  editing: string | null;
  setEditing(name: string | null): void;
  open(o: Open): void;
  said(status: string): void;
}

/**
 * A VM's snapshots as a tree (parent → children, oldest first) with "You are here" after the
 * snapshot the VM stands on; each with its screen, what it holds, when it was taken, and Revert,
 * Edit (name, description) and Delete.
 */
export function SnapshotsTab({ vm }: { vm: VmSummary }) {
  const list = useVmdesk((s) => s.snapshots[vm.id]);
  const loadError = useVmdesk((s) => s.snapshotsError[vm.id]);
  const online = useVmdesk((s) => s.connection === 'open');
  const busy = useVmdesk((s) => s.busy[vm.id]);
  const [opened, open] = useState<Open>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [status, setStatus] = useState('');

  useEffect(() => {
    void loadSnapshots(vm.id);
  }, [vm.id]);

  const blockers = snapshotBlockers(vm);
  const mode = takeMode(vm.state, vm.name);
  const locked = !online || busy !== undefined;
  // Not before the list is read: the proposed name and the name check need it.
  const canTake = blockers.length === 0 && mode.mode !== 'none' && !locked && list !== undefined;
  // The app menu's Take snapshot…: the dialog once the list is read (else the tab says what blocks one).
  const wantsTake = useVmdesk((s) => s.takeSnapshotFor === vm.id);
  const listRead = list !== undefined || loadError !== undefined;
  useEffect(() => {
    if (!wantsTake || !listRead) return;
    setTakeSnapshotFor(null);
    if (canTake) {
      setStatus('');
      open({ kind: 'take' });
    }
  }, [wantsTake, listRead, canTake]);
  // A request this tab did not take (the user left it, or chose another VM, before the list was
  // read) ends with it: it must not pop the Take dialog up on a later visit. Read from the store,
  // not from the unmount alone: StrictMode's rehearsal unmount leaves the tab where it is.
  useEffect(
    () => () => {
      const s = store.getState();
      if (s.takeSnapshotFor === vm.id && (s.tab !== 'snapshots' || s.selectedId !== vm.id)) setTakeSnapshotFor(null);
    },
    [vm.id],
  );
  const snaps = list ?? [];
  const named = (name: string) => snaps.find((s) => s.name === name);
  const revertTo = opened?.kind === 'revert' ? named(opened.name) : undefined;
  const deleting = opened?.kind === 'delete' ? named(opened.name) : undefined;
  const tree = buildSnapshotTree(snaps);
  const memory = vm.snapshots?.vmStateBytes ?? savedMemoryBytes(snaps);
  const ctx: RowContext = { vm, list: snaps, locked, editing, setEditing, open, said: setStatus };
  const takeButton = (
    <Button
      variant="primary"
      disabled={!canTake}
      onClick={() => {
        setStatus('');
        open({ kind: 'take' });
      }}
    >
      Take snapshot…
    </Button>
  );

  return (
    <div className="snapshots">
      <div className="snapshots-head">
        <div>
          <h2 className="snapshots-title">Snapshots</h2>
          <p className="muted small" data-testid="snapshots-summary">
            {list === undefined
              ? 'Reading…'
              : snaps.length === 0
                ? 'None yet.'
                : `${snaps.length} snapshot${snaps.length === 1 ? '' : 's'}${memory > 0 ? ` · ${formatBytes(memory)} of saved memory in the VM’s disk` : ''}`}
          </p>
        </div>
        <div className="snapshots-take">
          {takeButton}
          {blockers.length === 0 && mode.mode === 'none' ? <p className="muted small">{mode.why}</p> : null}
        </div>
      </div>

      {blockers.length > 0 ? (
        <Notice tone="warn" title={`“${vm.name}” cannot take snapshots`}>
          {blockers.map((b) => (
            <div key={b.text} className="snap-blocker">
              <p>{b.text}</p>
              {b.kind === 'raw' && b.target && !vm.host ? (
                <ConvertButton vm={vm} target={b.target} said={setStatus} />
              ) : null}
              {b.command ? <CopyCode text={b.command} /> : null}
              {b.kind === 'no-disk' && !vm.host ? (
                <Button small onClick={() => selectTab('settings')}>
                  Open Settings
                </Button>
              ) : null}
            </div>
          ))}
        </Notice>
      ) : null}
      {loadError ? (
        <Notice tone="error" title="The snapshots could not be read">
          <p>{loadError}</p>
        </Notice>
      ) : null}
      <p role="status" className="snapshots-status">
        {!online ? 'Not connected to vmdesk: snapshots cannot be changed now.' : status}
      </p>

      {list === undefined ? null : snaps.length === 0 ? (
        <EmptyPanel title="No snapshots yet" className="snapshots-empty">
          <p>
            A snapshot keeps “{vm.name}” as it is now — its disks, and while it runs its memory too — so you can come
            back to this moment later.
          </p>
          {blockers.length === 0 ? takeButton : null}
        </EmptyPanel>
      ) : (
        <ul className="snap-tree" aria-label={`Snapshots of ${vm.name}`}>
          <Items items={tree} ctx={ctx} current={snaps.find((s) => s.current)?.name} />
        </ul>
      )}

      {opened?.kind === 'take' ? (
        <TakeSnapshotDialog
          vm={vm}
          list={snaps}
          onClose={() => open(null)}
          onDone={(made) => {
            open(null);
            setStatus(`Took “${made.name}”.`);
          }}
        />
      ) : null}
      {revertTo ? (
        <RevertDialog
          vm={vm}
          snap={revertTo}
          list={snaps}
          onClose={() => open(null)}
          onDone={(after) => {
            open(null);
            setStatus(`Reverted to “${revertTo.name}”: “${after.name}” is ${after.state}.`);
          }}
        />
      ) : null}
      {deleting ? (
        <DeleteSnapshotDialog
          vm={vm}
          snap={deleting}
          list={snaps}
          onClose={() => open(null)}
          onDone={() => {
            open(null);
            setStatus(`Deleted “${deleting.name}”.`);
          }}
        />
      ) : null}
    </div>
  );
}

function Items({ items, ctx, current }: { items: TreeItem[]; ctx: RowContext; current: string | undefined }) {
  return items.map((item) =>
    item.kind === 'here' ? (
      <YouAreHere key="/here" /* no snapshot name has a "/" */ vm={ctx.vm} current={current} />
    ) : (
      <li key={item.snap.name} className="snap-item">
        <SnapshotNode snap={item.snap} ctx={ctx} />
        {item.children.length > 0 ? (
          <ul className="snap-children">
            <Items items={item.children} ctx={ctx} current={current} />
          </ul>
        ) : null}
      </li>
    ),
  );
}

const STATE_WORD: Partial<Record<VmSummary['state'], string>> = { stopped: 'off' };

/** Where the VM stands: its disks (and memory) now, on top of the current snapshot. */
function YouAreHere({ vm, current }: { vm: VmSummary; current: string | undefined }) {
  return (
    <li className="snap-here" data-testid="you-are-here">
      <span className="snap-here-pin" aria-hidden="true" />
      <strong>You are here</strong>
      <span className="muted small">
        “{vm.name}” now ({STATE_WORD[vm.state] ?? vm.state}) ·{' '}
        {current ? `changes since “${current}” are in no snapshot` : 'its changes are in no snapshot'}
      </span>
    </li>
  );
}

function SnapshotNode({ snap, ctx }: { snap: SnapshotInfo; ctx: RowContext }) {
  const { vm, locked } = ctx;
  const editing = ctx.editing === snap.name;
  return (
    <div
      className={`snap-node${snap.current ? ' snap-node-current' : ''}`}
      role="group"
      aria-label={snap.name}
      aria-current={snap.current || undefined}
      data-testid="snapshot"
    >
      <SnapshotThumb vm={vm.id} vmName={vm.name} snap={snap} />
      {editing ? (
        <EditSnapshot snap={snap} ctx={ctx} />
      ) : (
        <>
          <div className="snap-body">
            <div className="snap-line">
              <strong className="snap-name">{snap.name}</strong>
              <span className={`tag ${snap.withMemory ? 'tag-own' : ''}`}>{snapshotKind(snap)}</span>
              {snap.current ? <span className="tag tag-here">Current</span> : null}
            </div>
            <div className="muted small">
              <time dateTime={snap.createdAt}>{formatDateTime(snap.createdAt)}</time>
              {snap.vmStateBytes ? ` · ${formatBytes(snap.vmStateBytes)} of memory` : ''}
            </div>
            {snap.description ? <p className="snap-desc">{snap.description}</p> : null}
          </div>
          <div className="snap-actions">
            <Button
              small
              disabled={locked}
              aria-label={`Revert to ${snap.name}`}
              onClick={() => {
                ctx.said('');
                ctx.open({ kind: 'revert', name: snap.name });
              }}
            >
              Revert…
            </Button>
            {/* libvirt's snapshots are renamed with virsh, not here. */}
            {vm.host ? null : (
              <Button
                small
                variant="ghost"
                disabled={locked}
                aria-label={`Edit ${snap.name}`}
                onClick={() => {
                  ctx.said('');
                  ctx.setEditing(snap.name);
                }}
              >
                Edit
              </Button>
            )}
            <Button
              small
              variant="ghost"
              className="snap-delete"
              disabled={locked}
              aria-label={`Delete ${snap.name}`}
              onClick={() => {
                ctx.said('');
                ctx.open({ kind: 'delete', name: snap.name });
              }}
            >
              Delete…
            </Button>
          </div>
        </>
      )}
    </div>
  );
}

/** Name and description edited in place; the driver's refusal shows under the fields. */
function EditSnapshot({ snap, ctx }: { snap: SnapshotInfo; ctx: RowContext }) {
  const [name, setName] = useState(snap.name);
  const [description, setDescription] = useState(snap.description ?? '');
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const base = useId();
  const problem = name !== snap.name ? snapshotNameError(name, ctx.list, snap.name) : undefined;
  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (problem || saving) return;
    const change = {
      ...(name !== snap.name ? { newName: name } : {}),
      ...(description !== (snap.description ?? '') ? { description } : {}),
    };
    if (Object.keys(change).length === 0) return ctx.setEditing(null);
    setSaving(true);
    setError(null);
    try {
      const after = await updateSnapshot(ctx.vm.id, snap.name, change);
      ctx.setEditing(null);
      ctx.said(after.name !== snap.name ? `Renamed “${snap.name}” to “${after.name}”.` : `Saved “${after.name}”.`);
    } catch (err) {
      setError(messageOf(err));
      setSaving(false);
    }
  };
  return (
    <form className="snap-edit" aria-label={`Edit ${snap.name}`} onSubmit={(e) => void save(e)}>
      <Field id={`${base}-name`} label="Name" error={problem}>
        {(p) => (
          <input
            {...p}
            type="text"
            value={name}
            autoFocus
            disabled={saving}
            onChange={(e) => setName(e.target.value)}
          />
        )}
      </Field>
      <Field id={`${base}-desc`} label="Description">
        {(p) => (
          <textarea
            {...p}
            rows={2}
            value={description}
            disabled={saving}
            onChange={(e) => setDescription(e.target.value)}
          />
        )}
      </Field>
      {error ? (
        <p className="field-error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="snap-edit-actions">
        <Button type="submit" variant="primary" small disabled={saving || !!problem} aria-busy={saving || undefined}>
          Save
        </Button>
        <Button small disabled={saving} onClick={() => ctx.setEditing(null)}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

/**
 * "Convert vdb to qcow2": the driver makes the copy (the VM must be off). What it says (where the
 * raw file stays) goes to the tab's status line: this button is gone once the disk is qcow2.
 */
function ConvertButton({ vm, target, said }: { vm: VmSummary; target: string; said(text: string): void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const off = vm.state === 'stopped' || vm.state === 'crashed';
  return (
    <div className="snap-convert">
      <Button
        small
        variant="primary"
        disabled={!off || busy}
        title={off ? undefined : `Shut “${vm.name}” down first: its disk is converted while it is off.`}
        onClick={() => {
          setBusy(true);
          setError(undefined);
          convertDisk(vm.id, target)
            .then(
              (after) => said(after.notice ?? `${target} is qcow2 now.`),
              (err: unknown) => setError(messageOf(err)),
            )
            .finally(() => setBusy(false));
        }}
      >
        {busy ? `Converting ${target}…` : `Convert ${target} to qcow2`}
      </Button>
      {!off ? <span className="muted small"> Shut it down first.</span> : null}
      {error ? (
        <p className="field-error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
