/**
 * One dispatcher for what the app menu (Electron), the tray's "Open console" and the keyboard
 * shortcuts (every mode) ask for: each command does what the matching button does, with the
 * same checks, busy marks, confirmation and error notice.
 */
import { vmCommandAllowed, type AppCommand } from '../../../main/common/api.js';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { openDialog, requestVmAction, selectTab, selectVm, setTakeSnapshotFor } from '../../store/actions.js';
import { store, type TabId } from '../../store/store.js';
import { startCreateFromIso } from '../create-wizard/from-iso.js';
import { toggleFullscreen } from './fullscreen.js';

const TAB_OF: Partial<Record<AppCommand, TabId>> = {
  showScreen: 'screen',
  showSerial: 'serial',
  showLogs: 'logs',
};

/** A VM the command is about: the one named, else the selected one. */
function target(vm?: string): VmSummary | undefined {
  const s = store.getState();
  const id = vm ?? s.selectedId;
  return id ? s.vms[id] : undefined;
}

function show(vm: VmSummary, tab: TabId): void {
  if (store.getState().selectedId !== vm.id) selectVm(vm.id);
  selectTab(tab);
}

/**
 * Carries out `command` (for `vm`, else the selected VM). True when it did something: a key
 * that did nothing is left to the browser (and, on macOS, to the menu; there it is disabled).
 */
export function runCommand(command: AppCommand, vm?: string): boolean {
  const s = store.getState();
  const creating = s.wizard?.step === 'form' && !!s.wizard.creating;
  switch (command) {
    case 'newVm':
      if (creating) return false;
      openDialog('new-vm');
      return true;
    case 'createFromIso':
      return !creating && startCreateFromIso();
    case 'fullscreen':
      return toggleFullscreen();
    case 'openLogsFolder':
      return false; // the main process opens it; a browser cannot open a folder
    default:
      break;
  }
  const v = target(vm);
  if (!v) return false;
  const online = s.connection === 'open';
  switch (command) {
    case 'start':
    case 'shutdown':
    case 'stop':
    case 'pause':
    case 'resume':
    case 'reboot':
      // As the toolbar: one call at a time per VM, except Force off (the way out of a hung one).
      if (!online || !vmCommandAllowed(command, v.state) || (s.busy[v.id] && command !== 'stop')) return false;
      requestVmAction(v.id, command);
      return true;
    case 'delete':
      if (!online || !vmCommandAllowed('delete', v.state) || s.busy[v.id]) return false;
      if (s.selectedId !== v.id) selectVm(v.id);
      // The confirmation dialog (DeleteDialog) does the rest.
      openDialog('delete');
      return true;
    case 'snapshot':
      if (v.host || v.state === 'broken') return false;
      show(v, 'snapshots');
      // SnapshotsTab opens its Take dialog once it has read the list (or says what blocks one).
      setTakeSnapshotFor(v.id);
      return true;
    default: {
      const tab = TAB_OF[command];
      if (!tab || (tab === 'logs' && v.host) || v.state === 'broken') return false;
      show(v, tab);
      return true;
    }
  }
}

/** The tray's "Open console": the screen, or the serial console of a VM without one. */
export function openConsole(vm: string): void {
  const v = target(vm);
  if (!v || v.state === 'broken') return;
  show(v, v.definition?.display === 'none' ? 'serial' : 'screen');
}
