/**
 * The Settings view's "Disks": each disk (target, file, format, who made it, read-only or the
 * base of linked clones, and on a running VM whether the guest has it now) with Grow and Remove,
 * and two ways to add one: a new qcow2 of a size, or an existing image by its path.
 */
import { useId, useState, type FormEvent } from 'react';
import { VmdeskError } from '../../../main/common/errors.js';
import type { DiskSpec, VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { Dialog } from '../../components/Dialog.js';
import { DiskSize } from '../../components/DiskSize.js';
import { Field } from '../../components/Field.js';
import { Notice } from '../../components/Notice.js';
import { addDisk, messageOf, removeDisk, resizeDisk } from '../../store/actions.js';
import { useVmdesk } from '../../store/store.js';
import { MAX_DISKS, baseName, diskGrowProblem, diskRemoveProblem, diskStatus, parseDiskSize } from './device-model.js';
import { formatBytes } from './format.js';
import { runsNow } from './settings-form.js';

function dirName(p: string): string {
  const i = p.lastIndexOf('/');
  return i > 0 ? p.slice(0, i + 1) : '';
}

/** A file as people scan it: the name first, the folder under it (cut at the start when long). */
export function FileCell({ path }: { path: string }) {
  return (
    <span className="file-cell" title={path}>
      <span className="file-name">{baseName(path)}</span>
      <span className="file-dir">
        {/* The folder's end is what tells folders apart: it stays visible, the start is cut. */}
        <bdi>{dirName(path)}</bdi>
      </span>
    </span>
  );
}

function DiskBadges({ disk }: { disk: DiskSpec }) {
  const clones = disk.linkedClones?.length ?? 0;
  return (
    <span className="disk-badges">
      <span className={disk.owned ? 'tag tag-own' : 'tag'}>{disk.owned ? 'Created by vmdesk' : 'Attached file'}</span>
      {clones > 0 ? (
        <span className="tag tag-warn" title="Linked clones read through it, so it opens read-only while they exist">
          Base of {clones} linked clone{clones === 1 ? '' : 's'}
        </span>
      ) : disk.readOnly ? (
        <span className="tag tag-warn">Read-only</span>
      ) : null}
      {disk.backing ? (
        <span className="tag" title={`Reads through ${disk.backing}`}>
          Linked clone of {baseName(disk.backing)}
        </span>
      ) : null}
    </span>
  );
}

/** "Grow vdb": the new size, inline under the disk's row. */
function GrowRow({ vm, disk, onDone }: { vm: VmSummary; disk: DiskSpec; onDone(message: string | null): void }) {
  const [size, setSize] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const id = useId();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = parseDiskSize(size);
    if ('error' in r) return setError(r.error);
    setBusy(true);
    setError(undefined);
    try {
      const after = await resizeDisk(vm.id, disk.target, r.bytes);
      onDone(
        runsNow(after.state)
          ? `${disk.target} grown to ${formatBytes(r.bytes)}: the guest sees the new size now (grow its partition inside the guest to use it).`
          : `${disk.target} grown to ${formatBytes(r.bytes)}.`,
      );
    } catch (err) {
      // The driver's sentence: a shrink is refused with the size the disk has.
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="disk-inline" aria-label={`Grow ${disk.target}`} onSubmit={(e) => void submit(e)} noValidate>
      <Field
        id={`${id}-size`}
        label={`New size of ${disk.target}`}
        error={error}
        hint={`Larger than now${vm.diskSizes?.[disk.target] !== undefined ? ` (${formatBytes(vm.diskSizes[disk.target]!)})` : ''}: disks only grow (shrinking would cut off the guest's data).`}
      >
        {(p) => (
          <input
            {...p}
            type="text"
            value={size}
            placeholder="e.g. 40 GiB"
            autoComplete="off"
            spellCheck={false}
            autoFocus
            onChange={(e) => {
              setSize(e.target.value);
              setError(undefined);
            }}
          />
        )}
      </Field>
      <div className="disk-inline-actions">
        <Button type="submit" variant="primary" disabled={busy}>
          {busy ? 'Growing…' : 'Grow'}
        </Button>
        <Button onClick={() => onDone(null)} disabled={busy}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

/** "Remove vdb?": the file is kept unless vmdesk made it and the user asks for it to go. */
function RemoveDiskDialog({
  vm,
  disk,
  onClose,
}: {
  vm: VmSummary;
  disk: DiskSpec;
  onClose(message: string | null): void;
}) {
  const [deleteFile, setDeleteFile] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const live = runsNow(vm.state);
  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      const after = await removeDisk(vm.id, disk.target, deleteFile && disk.owned);
      const held = diskStatus(after).stillAttached.some((r) => r.target === disk.target);
      onClose(
        held
          ? `Removed ${disk.target} from the settings; the guest has not let go of it, so it keeps it until its next start.`
          : `Removed ${disk.target}${deleteFile && disk.owned ? ' and deleted its file' : ''}${live ? ': unplugged from the running VM' : ''}.`,
      );
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={`Remove ${disk.target} from “${vm.name}”?`}
      onClose={() => {
        if (!busy) onClose(null);
      }}
      footer={
        <>
          <Button onClick={() => onClose(null)} disabled={busy}>
            Cancel
          </Button>
          <Button variant="danger" autoFocus disabled={busy} onClick={() => void remove()}>
            {busy ? 'Removing…' : deleteFile && disk.owned ? 'Remove and delete' : 'Remove'}
          </Button>
        </>
      }
    >
      <p>
        <code className="path">{disk.path}</code>
      </p>
      {live ? (
        <p>
          The guest is asked to let go of it now, like unplugging a drive: unmount it in the guest first. A guest that
          does not answer keeps it until its next start.
        </p>
      ) : (
        <p>The VM no longer has this disk from its next start.</p>
      )}
      {disk.owned ? (
        <label className="check">
          <input type="checkbox" checked={deleteFile} onChange={(e) => setDeleteFile(e.target.checked)} />
          <span>
            Also delete the file
            <span className="check-hint">
              vmdesk created it for this VM. Deleting it cannot be undone; left unticked, the file stays in the VM’s
              folder (and goes when the VM is deleted).
            </span>
          </span>
        </label>
      ) : (
        <p className="muted">The file stays where it is: vmdesk did not create it, so it never deletes it.</p>
      )}
      {error ? <Notice tone="error">{error}</Notice> : null}
    </Dialog>
  );
}

/** Where a refused add shows: the new-disk size or the attach path (`details.field`). */
function addErrorField(err: unknown, attaching: boolean): 'size' | 'path' {
  const field = err instanceof VmdeskError ? err.details?.field : undefined;
  if (field === 'size' || field === 'sizeBytes') return 'size';
  if (field === 'file' || field === 'path' || field === 'format') return 'path';
  return attaching ? 'path' : 'size';
}

export function DisksCard({ vm }: { vm: VmSummary }) {
  const d = vm.definition;
  const online = useVmdesk((s) => s.connection === 'open');
  const vmBusy = useVmdesk((s) => s.busy[vm.id] !== undefined);
  const [size, setSize] = useState('20 GiB');
  const [path, setPath] = useState('');
  const [errors, setErrors] = useState<{ size?: string; path?: string }>({});
  const [busy, setBusy] = useState<'new' | 'attach' | null>(null);
  const [status, setStatus] = useState('');
  const [growing, setGrowing] = useState<string | null>(null);
  const [removing, setRemoving] = useState<DiskSpec | null>(null);
  const id = useId();
  if (!d) return null;
  const live = runsNow(vm.state);
  const { of, stillAttached } = diskStatus(vm);
  const full = d.disks.length >= MAX_DISKS;
  const locked = !online || busy !== null || vmBusy;
  const bootDisk = d.boot.includes('disk') ? d.disks[0]?.target : undefined;

  const add = async (e: FormEvent, attaching: boolean) => {
    e.preventDefault();
    let input: { sizeBytes: number } | { path: string };
    if (attaching) {
      const p = path.trim();
      if (!p.startsWith('/'))
        return setErrors({
          path: 'Enter the full path of a disk image on the computer running vmdesk, e.g. /home/you/data.qcow2.',
        });
      input = { path: p };
    } else {
      const r = parseDiskSize(size);
      if ('error' in r) return setErrors({ size: r.error });
      input = { sizeBytes: r.bytes };
    }
    setBusy(attaching ? 'attach' : 'new');
    setErrors({});
    setStatus('');
    try {
      const before = new Set(d.disks.map((k) => k.target));
      const after = await addDisk(vm.id, input);
      const made = after.definition?.disks.find((k) => !before.has(k.target));
      const now = made && diskStatus(after).of.get(made.target) === 'live';
      const what = made ? `${made.target} (${baseName(made.path)})` : 'the disk';
      setStatus(
        `Added ${what}: ${runsNow(after.state) ? (now ? 'plugged into the running VM.' : 'the VM gets it at its next start.') : 'the VM has it from its next start.'}`,
      );
      if (attaching) setPath('');
    } catch (err) {
      setErrors({ [addErrorField(err, attaching)]: messageOf(err) });
    } finally {
      setBusy(null);
    }
  };

  return (
    <section className="card" aria-label="Disks">
      <h3 className="card-title">Disks</h3>
      {d.disks.length === 0 ? (
        <p className="muted">No disks. Add a new one or attach an image below.</p>
      ) : (
        <table className="table disks-table">
          <thead>
            <tr>
              <th scope="col">Disk</th>
              <th scope="col">File</th>
              <th scope="col">Size</th>
              <th scope="col">Format</th>
              <th scope="col">Kind</th>
              {live ? <th scope="col">Running VM</th> : null}
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {d.disks.map((disk) => {
              const grow = diskGrowProblem(disk);
              const remove = diskRemoveProblem(vm, disk);
              const state = of.get(disk.target);
              return [
                <tr key={disk.target} data-testid="disk-row" data-target={disk.target}>
                  <td>
                    <strong className="disk-target">{disk.target}</strong>
                    {disk.target === bootDisk ? <span className="tag tag-own">boot</span> : null}
                  </td>
                  <td className="cell-file">
                    <FileCell path={disk.path} />
                  </td>
                  <td className="num">
                    <DiskSize vm={vm} target={disk.target} />
                  </td>
                  <td>{disk.format}</td>
                  <td>
                    <DiskBadges disk={disk} />
                  </td>
                  {live ? (
                    <td>
                      {state === 'live' ? (
                        <span className="live-now">In use now</span>
                      ) : (
                        <span className="applies-later">From next start</span>
                      )}
                    </td>
                  ) : null}
                  <td className="cell-actions">
                    <Button
                      small
                      disabled={locked || grow !== undefined}
                      title={grow ?? (live ? 'Grow it now; the guest sees the new size at once' : 'Grow the file')}
                      aria-label={`Grow ${disk.target}`}
                      aria-expanded={growing === disk.target}
                      onClick={() => setGrowing(growing === disk.target ? null : disk.target)}
                    >
                      Grow…
                    </Button>
                    <Button
                      small
                      disabled={locked || remove !== undefined}
                      title={remove ?? undefined}
                      aria-label={`Remove ${disk.target}`}
                      onClick={() => setRemoving(disk)}
                    >
                      Remove…
                    </Button>
                  </td>
                </tr>,
                growing === disk.target ? (
                  <tr key={`${disk.target}-grow`} className="row-inline">
                    <td colSpan={live ? 7 : 6}>
                      <GrowRow
                        vm={vm}
                        disk={disk}
                        onDone={(m) => {
                          setGrowing(null);
                          if (m) setStatus(m);
                        }}
                      />
                    </td>
                  </tr>
                ) : null,
              ];
            })}
            {stillAttached.map((r) => (
              <tr key={`gone-${r.target}`} className="row-gone">
                <td>
                  <strong className="disk-target">{r.target}</strong>
                </td>
                <td colSpan={live ? 6 : 5} className="muted">
                  {r.file}: removed; the guest keeps it until its next start.
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <div className="disk-add">
        <form className="disk-add-form" aria-label="Add a new disk" onSubmit={(e) => void add(e, false)} noValidate>
          <Field id={`${id}-size`} label="New disk size" error={errors.size} hint="A new qcow2 in the VM’s folder.">
            {(p) => (
              <input
                {...p}
                type="text"
                value={size}
                autoComplete="off"
                spellCheck={false}
                onChange={(e) => {
                  setSize(e.target.value);
                  setErrors({});
                }}
              />
            )}
          </Field>
          <Button
            type="submit"
            disabled={locked || full}
            title={full ? `A VM can have at most ${MAX_DISKS} disks` : undefined}
          >
            {busy === 'new' ? 'Adding…' : 'Add new disk'}
          </Button>
        </form>
        <form
          className="disk-add-form"
          aria-label="Attach an existing disk image"
          onSubmit={(e) => void add(e, true)}
          noValidate
        >
          <Field
            id={`${id}-path`}
            label="Existing image"
            error={errors.path}
            hint="A qcow2 or raw file on the computer running vmdesk; vmdesk never deletes it."
          >
            {(p) => (
              <input
                {...p}
                type="text"
                value={path}
                placeholder="/home/you/images/data.qcow2"
                autoComplete="off"
                spellCheck={false}
                onChange={(e) => {
                  setPath(e.target.value);
                  setErrors({});
                }}
              />
            )}
          </Field>
          <Button type="submit" disabled={locked || full}>
            {busy === 'attach' ? 'Attaching…' : 'Attach'}
          </Button>
        </form>
      </div>
      <p className="muted small">
        {live
          ? 'The running VM gets an added disk at once (hot-plug); a removed one is unplugged when the guest lets it go.'
          : 'Added and removed disks apply from the next start.'}
      </p>
      <p role="status" className="card-status" data-testid="disks-status">
        {status}
      </p>
      {removing ? (
        <RemoveDiskDialog
          vm={vm}
          disk={removing}
          onClose={(m) => {
            setRemoving(null);
            if (m) setStatus(m);
          }}
        />
      ) : null}
    </section>
  );
}
