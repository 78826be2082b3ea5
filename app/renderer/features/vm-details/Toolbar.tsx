import { useState, type ReactNode } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { IconEject, IconPause, IconPlay, IconPower, IconReboot, IconStop, IconTrash } from '../../components/icons.js';
import { CloneDialog } from '../clone/CloneDialog.js';
import { ejectIso, openDialog, runVmAction } from '../../store/actions.js';
import { useVmdesk } from '../../store/store.js';
import { ACTION_LABELS, isActionEnabled, type ToolbarAction } from './vm-actions.js';

const ICONS: Record<ToolbarAction, ReactNode> = {
  start: <IconPlay />,
  shutdown: <IconPower />,
  stop: <IconStop />,
  pause: <IconPause />,
  resume: <IconPlay />,
  reboot: <IconReboot />,
  delete: <IconTrash />,
};

const HINTS: Partial<Record<ToolbarAction, string>> = {
  shutdown: 'Press the ACPI power button; the guest shuts down cleanly',
  stop: 'Cut the power at once (unsaved guest data is lost)',
  reboot: 'Reset the VM at once, like a reset button',
};

export function Toolbar({ vm }: { vm: VmSummary }) {
  const busy = useVmdesk((s) => s.busy[vm.id]);
  const online = useVmdesk((s) => s.connection === 'open');
  const [cloning, setCloning] = useState(false);
  const button = (action: ToolbarAction, variant: 'default' | 'primary' | 'danger' = 'default') => (
    <Button
      key={action}
      variant={variant}
      icon={ICONS[action]}
      // Force off stays available while another call waits: it is the way out of a hung one.
      disabled={!online || (busy !== undefined && action !== 'stop') || !isActionEnabled(action, vm.state)}
      aria-busy={busy === action || undefined}
      title={HINTS[action]}
      onClick={() => (action === 'delete' ? openDialog('delete') : void runVmAction(vm.id, action))}
    >
      {ACTION_LABELS[action]}
    </Button>
  );
  return (
    <div className="toolbar" role="group" aria-label={`Actions for ${vm.name}`}>
      <div className="toolbar-group">
        {button('start', 'primary')}
        {button('shutdown')}
        {button('stop')}
      </div>
      <div className="toolbar-group">
        {button('pause')}
        {button('resume')}
        {button('reboot')}
      </div>
      {vm.host ? null : (
        <LocalOnlyActions vm={vm} online={online} busy={busy !== undefined} onClone={() => setCloning(true)} />
      )}
      <div className="toolbar-group">{button('delete', 'danger')}</div>
      {cloning ? <CloneDialog vm={vm} onClose={() => setCloning(false)} /> : null}
    </div>
  );
}

/** Eject and Clone: what only vmdesk's own VMs have (libvirt's change their drives with virsh). */
function LocalOnlyActions({
  vm,
  online,
  busy,
  onClone,
}: {
  vm: VmSummary;
  online: boolean;
  busy: boolean;
  onClone(): void;
}) {
  const ejecting = useVmdesk((s) => s.busy[vm.id] === 'eject');
  const disc = vm.definition?.cdroms[0] ?? null;
  const off = vm.state === 'stopped' || vm.state === 'crashed';
  return (
    <>
      <div className="toolbar-group">
        <Button
          icon={<IconEject />}
          disabled={!online || busy || !disc}
          aria-busy={ejecting || undefined}
          title={disc ? `Take ${disc} out; the VM then boots from its disk` : 'No ISO is inserted'}
          onClick={() => void ejectIso(vm.id)}
        >
          Eject ISO
        </Button>
      </div>
      <div className="toolbar-group">
        <Button
          disabled={!online || busy || !off || !vm.definition}
          title={
            off
              ? 'A new VM with a copy of this one’s disks, or linked to them'
              : 'Shut the VM down to clone it: its disks must not change under the copy'
          }
          onClick={onClone}
        >
          Clone…
        </Button>
      </div>
    </>
  );
}
