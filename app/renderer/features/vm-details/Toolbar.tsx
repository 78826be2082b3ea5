import { useState, type ReactNode } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { OverflowToolbar, type ToolbarGroup, type ToolbarItem } from '../../components/OverflowToolbar.js';
import { IconEject, IconPause, IconPlay, IconPower, IconReboot, IconStop, IconTrash } from '../../components/icons.js';
import { CloneDialog } from '../clone/CloneDialog.js';
import { ejectIso, openDialog, requestVmAction } from '../../store/actions.js';
import { useVmdesk, type BusyWith } from '../../store/store.js';
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
  const action = (a: ToolbarAction, variant: ToolbarItem['variant'] = 'default'): ToolbarItem => ({
    id: a,
    label: ACTION_LABELS[a],
    icon: ICONS[a],
    variant,
    // Force off stays available while another call waits: it is the way out of a hung one.
    disabled: !online || (busy !== undefined && a !== 'stop') || !isActionEnabled(a, vm.state),
    busy: busy === a,
    title: HINTS[a],
    onSelect: () => (a === 'delete' ? openDialog('delete') : requestVmAction(vm.id, a)),
  });
  const groups: ToolbarGroup[] = [
    // Narrow, the groups leave for the More menu lowest rank first: power stays longest.
    { id: 'power', rank: 4, items: [action('start', 'primary'), action('shutdown'), action('stop')] },
    { id: 'run', rank: 3, items: [action('pause'), action('resume'), action('reboot')] },
    // Eject and Clone: what only vmdesk's own VMs have (libvirt's change their drives with virsh).
    ...(vm.host ? [] : localOnlyGroups(vm, online, busy, () => setCloning(true))),
    { id: 'delete', rank: 2, items: [action('delete', 'danger')] },
  ];
  return (
    <>
      <OverflowToolbar label={`Actions for ${vm.name}`} groups={groups} />
      {cloning ? <CloneDialog vm={vm} onClose={() => setCloning(false)} /> : null}
    </>
  );
}

function localOnlyGroups(
  vm: VmSummary,
  online: boolean,
  busy: BusyWith | undefined,
  onClone: () => void,
): ToolbarGroup[] {
  const disc = vm.definition?.cdroms[0] ?? null;
  const off = vm.state === 'stopped' || vm.state === 'crashed';
  return [
    {
      id: 'eject',
      items: [
        {
          id: 'eject',
          label: 'Eject ISO',
          icon: <IconEject />,
          disabled: !online || busy !== undefined || !disc,
          busy: busy === 'eject',
          title: disc ? `Take ${disc} out; the VM then boots from its disk` : 'No ISO is inserted',
          onSelect: () => void ejectIso(vm.id),
        },
      ],
    },
    {
      id: 'clone',
      items: [
        {
          id: 'clone',
          label: 'Clone…',
          disabled: !online || busy !== undefined || !off || !vm.definition,
          title: off
            ? 'A new VM with a copy of this one’s disks, or linked to them'
            : 'Shut the VM down to clone it: its disks must not change under the copy',
          onSelect: onClone,
        },
      ],
    },
  ];
}
