import { useState } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { Dialog } from '../../components/Dialog.js';
import { closeDialog, deleteVm } from '../../store/actions.js';
import { useVmdesk } from '../../store/store.js';

export function DeleteDialog({ vm }: { vm: VmSummary }) {
  const disks = vm.definition?.disks ?? [];
  const owned = disks.filter((d) => d.owned);
  const external = disks.filter((d) => !d.owned);
  // A broken VM's file cannot be read, so its disks are unknown: what vmdesk made for it (disks,
  // UEFI variables) is in its data folder, offered as one choice, off by default.
  const broken = vm.state === 'broken';
  const [deleteDisks, setDeleteDisks] = useState(!broken && owned.length > 0);
  const busy = useVmdesk((s) => s.busy[vm.id] === 'delete');
  return (
    <Dialog
      title={`Delete “${vm.name}”?`}
      onClose={closeDialog}
      footer={
        <>
          <Button onClick={closeDialog}>Cancel</Button>
          <Button variant="danger" disabled={busy} autoFocus onClick={() => void deleteVm(vm.id, !deleteDisks)}>
            Delete
          </Button>
        </>
      }
    >
      {vm.host ? (
        <p>
          libvirt forgets the domain <code>{vm.host.domain}</code> on {vm.host.label} (like virsh undefine). This cannot
          be undone.
        </p>
      ) : (
        <p>The VM’s definition and logs are removed. This cannot be undone.</p>
      )}
      {broken ? (
        <label className="check">
          <input type="checkbox" checked={deleteDisks} onChange={(e) => setDeleteDisks(e.target.checked)} />
          <span>
            Also delete the VM’s data folder
            <span className="check-hint">
              Its file cannot be read, so vmdesk cannot list its disks. The disks vmdesk created for it (and its UEFI
              variables) are in this folder; disks elsewhere are never touched.
            </span>
            <code className="path block">…/vmdesk/vms/{vm.id}/</code>
          </span>
        </label>
      ) : null}
      {owned.length > 0 ? (
        <label className="check">
          <input type="checkbox" checked={deleteDisks} onChange={(e) => setDeleteDisks(e.target.checked)} />
          <span>
            Delete disks too
            <span className="check-hint">
              {owned.length === 1
                ? 'The disk vmdesk created for it:'
                : `The ${owned.length} disks vmdesk created for it:`}
            </span>
            {owned.map((d) => (
              <code key={d.path} className="path block">
                {d.path}
              </code>
            ))}
          </span>
        </label>
      ) : null}
      {external.length > 0 ? (
        <p className="muted small">
          Disks vmdesk did not create are always kept:{' '}
          {external.map((d) => (
            <code key={d.path} className="path">
              {d.path}
            </code>
          ))}
        </p>
      ) : null}
    </Dialog>
  );
}
