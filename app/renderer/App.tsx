import { useEffect, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { Button } from './components/Button.js';
import { IconConnections, IconDisc, IconHost, IconIsoLibrary, IconMonitor, IconPlus } from './components/icons.js';
import { EmptyPanel, Notice } from './components/Notice.js';
import { CreateWizard } from './features/create-wizard/CreateWizard.js';
import { DropTarget } from './features/create-wizard/DropTarget.js';
import { FromIsoButton } from './features/create-wizard/FromIsoButton.js';
import { HostPanel } from './features/host/HostPanel.js';
import { installCommands } from './features/commands/install.js';
import { modKeyLabel } from './features/commands/shortcuts.js';
import { ConnectionsDialog } from './features/hosts/ConnectionsDialog.js';
import { PreferencesButton } from './features/settings/PreferencesDialog.js';
import { IsoLibraryDialog } from './features/iso-library/IsoLibraryDialog.js';
import { NewVmDialog } from './features/new-vm/NewVmDialog.js';
import { ConfirmActionDialog } from './features/vm-details/ConfirmActionDialog.js';
import { DeleteDialog } from './features/vm-details/DeleteDialog.js';
import { IsoDropDialog } from './features/vm-details/IsoDropDialog.js';
import { VmView } from './features/vm-details/VmView.js';
import { VmList } from './features/vm-list/VmList.js';
import { VgpuWizard } from './features/mdev-wizard/VgpuWizard.js';
import { answerConfirmAction, dismissError, openDialog } from './store/actions.js';
import { vmCommandAllowed } from '../main/common/api.js';
import { selectSelectedVm, useVmdesk, visibleError } from './store/store.js';

const OPEN_THE_LINK = 'Check that `vmdesk web` is running and open the link it printed (it carries the access token).';

/** True once `ms` have passed while `active` stayed true. */
function useTakingLong(active: boolean, ms: number): boolean {
  const [long, setLong] = useState(false);
  useEffect(() => {
    setLong(false);
    if (!active) return;
    const t = setTimeout(() => setLong(true), ms);
    return () => clearTimeout(t);
  }, [active, ms]);
  return long;
}

function ConnectionBanner() {
  const { connection, wasOpen } = useVmdesk(useShallow((s) => ({ connection: s.connection, wasOpen: s.wasOpen })));
  // A wrong or missing token looks like a server that is not there (the upgrade is refused).
  const stuck = useTakingLong(connection === 'connecting' && !wasOpen, 5000);
  const text =
    connection === 'open'
      ? ''
      : connection === 'closed'
        ? `Disconnected from vmdesk. ${OPEN_THE_LINK}`
        : wasOpen
          ? 'Reconnecting to vmdesk…'
          : stuck
            ? `Cannot reach vmdesk yet. ${OPEN_THE_LINK}`
            : 'Connecting to vmdesk…';
  return (
    <div role="status" className={`banner${connection === 'closed' ? ' banner-bad' : ''}`}>
      {text}
    </div>
  );
}

function MainPane() {
  const vm = useVmdesk(selectSelectedVm);
  const { removed, count, loaded, error, hosts } = useVmdesk(
    useShallow((s) => ({
      removed: s.removed,
      count: Object.keys(s.vms).length,
      loaded: s.listLoaded,
      // An error about a VM shows with that VM only (not over the next one after a delete).
      error: visibleError(s),
      hosts: s.hosts,
    })),
  );
  // A libvirt VM (`HOST/UUID`) leaves the list when its host's connection is lost: not deleted.
  const lostHost = removed && hosts.find((h) => removed.id.startsWith(`${h.id}/`) && h.state !== 'connected');
  let body;
  if (vm) body = <VmView vm={vm} />;
  else if (removed && lostHost)
    body = (
      <EmptyPanel title="This VM's host is not connected." icon={<IconMonitor />}>
        “{removed.name}” is on {lostHost.label}, which vmdesk cannot reach now. Reconnect to it in the list to see its
        VMs again.
      </EmptyPanel>
    );
  else if (removed)
    body = (
      <EmptyPanel title="This VM was deleted." icon={<IconMonitor />}>
        “{removed.name}” no longer exists. Choose another VM from the list.
      </EmptyPanel>
    );
  else if (loaded && count === 0) {
    body = (
      <EmptyPanel title="No virtual machines yet" icon={<IconDisc />} className="dropzone">
        <p>Drop an installer ISO anywhere on this window, or click From ISO… or New VM.</p>
        <p className="small">vmdesk runs QEMU as you: no root, no background service.</p>
      </EmptyPanel>
    );
  } else if (loaded)
    body = (
      <EmptyPanel title="Choose a VM" icon={<IconMonitor />}>
        Select a virtual machine in the list.
      </EmptyPanel>
    );
  else body = null;
  return (
    <main className="main">
      {error ? (
        <div className="main-error">
          <Notice tone="error" onDismiss={dismissError}>
            {error}
          </Notice>
        </div>
      ) : null}
      {body}
    </main>
  );
}

function Dialogs() {
  const dialog = useVmdesk((s) => s.dialog);
  const vm = useVmdesk(selectSelectedVm);
  const confirm = useVmdesk((s) => s.confirmAction);
  const confirmVm = useVmdesk((s) => (s.confirmAction ? s.vms[s.confirmAction.vmId] : undefined));
  // A question about a VM that is gone, or that the action no longer applies to (the guest shut
  // itself down meanwhile), goes away.
  const stale = !!confirm && (!confirmVm || !vmCommandAllowed(confirm.action, confirmVm.state));
  useEffect(() => {
    if (stale) void answerConfirmAction(false);
  }, [stale]);
  if (confirm && confirmVm && !stale)
    return <ConfirmActionDialog key={confirm.vmId} vm={confirmVm} action={confirm.action} />;
  if (dialog === 'new-vm') return <NewVmDialog />;
  if (dialog === 'host') return <HostPanel />;
  if (dialog === 'connections') return <ConnectionsDialog />;
  if (dialog === 'iso-library') return <IsoLibraryDialog />;
  if (dialog === 'delete' && vm) return <DeleteDialog vm={vm} />;
  if ((dialog === 'vgpu' || dialog === 'vgpu-check') && vm)
    return <VgpuWizard key={vm.id} vm={vm} mode={dialog === 'vgpu' ? 'add' : 'check'} />;
  return null;
}

export function App() {
  useEffect(() => installCommands(), []);
  return (
    <div className="app">
      <header className="app-header">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" />
          vmdesk
        </div>
        <div className="header-actions">
          <Button
            icon={<IconPlus />}
            title={`A VM from scratch (${modKeyLabel('N')})`}
            onClick={() => openDialog('new-vm')}
          >
            New VM
          </Button>
          <FromIsoButton />
          <Button icon={<IconIsoLibrary />} onClick={() => openDialog('iso-library')}>
            ISO library
          </Button>
          <Button icon={<IconHost />} onClick={() => openDialog('host')}>
            Host
          </Button>
          <Button icon={<IconConnections />} onClick={() => openDialog('connections')}>
            Connections
          </Button>
          <PreferencesButton />
        </div>
      </header>
      <ConnectionBanner />
      <div className="app-body">
        <nav aria-label="Virtual machines" className="sidebar">
          <VmList />
        </nav>
        <MainPane />
      </div>
      <Dialogs />
      <CreateWizard />
      <IsoDropDialog />
      <DropTarget />
    </div>
  );
}
