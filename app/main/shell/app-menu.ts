/**
 * The application menu as data: `appMenuTemplate(state, onCommand)` is pure (no Electron at run
 * time), so every state is tested without a window; shell-app.ts hands the result to
 * Menu.buildFromTemplate and rebuilds it when `appMenuKey` changes.
 *
 * Who handles a shortcut: the PAGE, in every mode (features/commands/shortcuts.ts), because only
 * the page knows where the focus is (a text field, or the VM's screen, which must get its keys).
 * So the menu shows its accelerators without registering them (`registerAccelerator: false`,
 * Linux and Windows). macOS ignores that flag but gives the page the key first and runs a menu
 * key equivalent only when the page did not handle it (electron#18295), and the page handles
 * what it acts on with preventDefault: a shortcut never runs twice.
 *
 * Clicks become commands. `openLogsFolder` is for the main process (a folder opens on this
 * computer); every other command goes to the page as a ShellEvent `command`, which carries it
 * out exactly as its buttons do (busy marks, errors in the window, the delete confirmation).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { MenuItemConstructorOptions } from 'electron';
import { vmCommandAllowed, type AppCommand, type VmCommand } from '../common/api.js';
import type { VmSummary } from '../common/vm-types.js';
import type { AppPaths } from '../paths/app-paths.js';
import { driverFiles, vmFiles } from '../paths/vm-files.js';

export interface AppCommandRequest {
  command: AppCommand;
  /** The VM the menu showed when it was clicked (absent for commands that are about no VM). */
  vm?: string;
}

/** What the menu depends on: nothing else may change it (see appMenuKey). */
export interface AppMenuState {
  platform: NodeJS.Platform;
  /** The macOS app menu's title and the About/Hide/Quit labels. */
  appName: string;
  /** The VM the page shows (IPC.selection), as the driver last described it. */
  selected?: Pick<VmSummary, 'id' | 'name' | 'state' | 'host'>;
}

/** The shortcuts the page handles, as Electron accelerators (shown in the menu, never registered). */
export function shortcutAccelerators(platform: NodeJS.Platform): Partial<Record<AppCommand, string>> {
  return {
    newVm: 'CmdOrCtrl+N',
    createFromIso: 'CmdOrCtrl+O',
    // The Mac keyboard's "delete" is Backspace; Finder deletes with Cmd+Backspace.
    delete: platform === 'darwin' ? 'Cmd+Backspace' : 'Delete',
  };
}

const VM_ITEMS: { command: VmCommand; label: string }[] = [
  { command: 'start', label: 'Start' },
  { command: 'shutdown', label: 'Shut down' },
  { command: 'stop', label: 'Force off' },
  { command: 'pause', label: 'Pause' },
  { command: 'resume', label: 'Resume' },
  { command: 'reboot', label: 'Reboot' },
];

const STATE_WORD: Record<VmSummary['state'], string> = {
  stopped: 'stopped',
  starting: 'starting',
  running: 'running',
  paused: 'paused',
  stopping: 'shutting down',
  crashed: 'crashed',
  broken: 'cannot be read',
};

export function appMenuTemplate(
  state: AppMenuState,
  onCommand: (c: AppCommandRequest) => void,
): MenuItemConstructorOptions[] {
  const mac = state.platform === 'darwin';
  const keys = shortcutAccelerators(state.platform);
  const vm = state.selected;
  // Linux and Windows read `&` as a mnemonic marker; macOS shows it.
  const esc = (s: string) => (mac ? s : s.replace(/&/g, '&&'));
  const item = (
    command: AppCommand,
    label: string,
    opts: { enabled?: boolean; forVm?: boolean } = {},
  ): MenuItemConstructorOptions => {
    const accelerator = keys[command];
    const req: AppCommandRequest = opts.forVm && vm ? { command, vm: vm.id } : { command };
    return {
      id: command,
      label,
      ...(accelerator ? { accelerator, registerAccelerator: false } : {}),
      ...(opts.enabled === false ? { enabled: false } : {}),
      click: () => onCommand(req),
    };
  };
  const sep: MenuItemConstructorOptions = { type: 'separator' };
  const forVm = (command: VmCommand, label: string) =>
    item(command, label, { forVm: true, enabled: !!vm && vmCommandAllowed(command, vm.state) });
  const local = !!vm && !vm.host;

  const appMenu: MenuItemConstructorOptions = {
    label: state.appName,
    submenu: [
      { role: 'about', label: `About ${state.appName}` },
      sep,
      { role: 'services' },
      sep,
      { role: 'hide', label: `Hide ${state.appName}` },
      { role: 'hideOthers' },
      { role: 'unhide' },
      sep,
      // The quit flow (before-quit) asks about running VMs first.
      { role: 'quit', label: `Quit ${state.appName}` },
    ],
  };
  const fileMenu: MenuItemConstructorOptions = {
    label: mac ? 'File' : '&File',
    submenu: [
      item('newVm', 'New VM…'),
      item('createFromIso', 'Create from ISO…'),
      sep,
      mac ? { role: 'close' } : { role: 'quit', label: 'Quit', accelerator: 'Ctrl+Q' },
    ],
  };
  const vmMenu: MenuItemConstructorOptions = {
    label: mac ? 'VM' : '&VM',
    submenu: [
      { id: 'vm-title', label: vm ? `${esc(vm.name)} — ${STATE_WORD[vm.state]}` : 'No VM selected', enabled: false },
      sep,
      ...VM_ITEMS.map((i) => forVm(i.command, i.label)),
      sep,
      // Snapshots are vmdesk's own (libvirt VMs have virsh snapshot-*); the tab says what blocks one.
      item('snapshot', 'Take snapshot…', { forVm: true, enabled: local && vm?.state !== 'broken' }),
      sep,
      forVm('delete', 'Delete…'),
    ],
  };
  const viewMenu: MenuItemConstructorOptions = {
    label: mac ? 'View' : '&View',
    submenu: [
      item('showScreen', 'Screen', { forVm: true, enabled: !!vm && vm.state !== 'broken' }),
      item('showSerial', 'Serial console', { forVm: true, enabled: !!vm && vm.state !== 'broken' }),
      // libvirt keeps a libvirt VM's logs on its host: the window has no Logs tab for it.
      item('showLogs', 'Logs', { forVm: true, enabled: local }),
      sep,
      // The window's full screen. F11 in the page puts the VM's screen itself in full screen when it
      // shows, so F11 is the page's (not registered) off macOS; macOS keeps its Ctrl+Cmd+F.
      mac
        ? { role: 'togglefullscreen' }
        : { role: 'togglefullscreen', label: 'Full screen', accelerator: 'F11', registerAccelerator: false },
      sep,
      { role: 'resetZoom' },
      { role: 'zoomIn' },
      { role: 'zoomOut' },
    ],
  };
  const helpMenu: MenuItemConstructorOptions = {
    role: 'help',
    label: mac ? 'Help' : '&Help',
    submenu: [
      ...(mac ? [] : [{ role: 'about', label: `About ${state.appName}` } as const, sep]),
      item('openLogsFolder', local ? 'Open this VM’s logs folder' : 'Open logs folder', { forVm: local }),
    ],
  };
  return [
    ...(mac ? [appMenu] : []),
    fileMenu,
    // Cut, copy and paste in text fields: on macOS they work only through this menu's roles.
    { role: 'editMenu' },
    vmMenu,
    viewMenu,
    ...(mac ? [{ role: 'windowMenu' } as const] : []),
    helpMenu,
  ];
}

/** Equal keys, equal menus: rebuild only when it changes (vm.changed events are frequent). */
export function appMenuKey(state: AppMenuState): string {
  const vm = state.selected;
  return JSON.stringify([state.platform, state.appName, vm?.id, vm?.name, vm?.state, !!vm?.host]);
}

/**
 * The folder "Open logs folder" opens: the selected local VM's log folder (qemu.log,
 * serial.log) once it has one, otherwise the driver's (driver.log and every VM's folder).
 * `vm` is a local VM's UUID; anything else (a libvirt `HOST/UUID`) gets the driver's folder.
 */
export function logsFolder(paths: AppPaths, vm?: string, exists: (p: string) => boolean = fs.existsSync): string {
  const root = path.dirname(driverFiles(paths).driverLog);
  if (!vm || !/^[A-Za-z0-9_-]+$/.test(vm)) return root;
  const dir = vmFiles(paths, vm).logDir;
  return exists(dir) ? dir : root;
}

/** The sentence shown when the file manager cannot open `dir` (`why`: shell.openPath's answer). */
export function logsFolderError(dir: string, why: string): { title: string; content: string } {
  return {
    title: 'The logs folder cannot be opened',
    content: `${why.replace(/\.?$/, '.')}\n\nOpen ${dir} in your file manager instead.`,
  };
}
