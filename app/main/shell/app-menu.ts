/**
 * The application menu as data: `appMenuTemplate(state, onCommand)` is pure (no Electron at run
 * time), so every state is tested without a window; shell-app.ts hands the result to
 * Menu.buildFromTemplate and rebuilds it when `appMenuKey` changes.
 *
 * Who handles a shortcut: the PAGE, in every mode (features/commands/shortcuts.ts), because only
 * the page knows where the focus is (a text field, or the VM's screen, which must get its keys).
 * So the menu shows its accelerators without registering them (`registerAccelerator: false`).
 * Linux and Windows honour that flag. macOS does NOT (electron#18295): it runs a menu item's key
 * equivalent for every key event the page leaves unhandled (no preventDefault). So on macOS the
 * page prevents the Cmd+N and Cmd+O it declines (in a text field, the console, a dialog: see
 * features/commands/install.ts), and Delete… has no key equivalent at all: Cmd+Backspace deletes
 * to the line's start in a text field, so the page cannot prevent it everywhere, and the page
 * handles it itself where it acts (the menu just does not show it).
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

/**
 * The shortcuts the page handles, as Electron accelerators (shown in the menu, never registered;
 * macOS runs them anyway when the page leaves the key alone: see above).
 */
export function shortcutAccelerators(platform: NodeJS.Platform): Partial<Record<AppCommand, string>> {
  return {
    newVm: 'CmdOrCtrl+N',
    createFromIso: 'CmdOrCtrl+O',
    // macOS: none (see above); the page still takes Cmd+Backspace, Finder's Move to Trash.
    ...(platform === 'darwin' ? {} : { delete: 'Delete' }),
    // The page's F11 (HTML full screen: the VM's screen, else the window); macOS keeps its role.
    ...(platform === 'darwin' ? {} : { fullscreen: 'F11' }),
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

/** What Electron passes a click as its window: a BrowserWindow has webContents. */
interface ClickedWindow {
  webContents?: { executeJavaScript(code: string, userGesture?: boolean): Promise<unknown> };
}

/**
 * The Full screen item: before the page hears the command, the main process gives it a user
 * activation (executeJavaScript with userGesture; it lasts a few seconds), without which
 * Chromium refuses requestFullscreen (electron#41090: a menu click is no gesture in the page).
 */
function fullscreenItem(base: MenuItemConstructorOptions): MenuItemConstructorOptions {
  const send = base.click as () => void;
  return {
    ...base,
    click: (_item, win) => {
      const wc = (win as ClickedWindow | undefined)?.webContents;
      if (!wc) return send();
      wc.executeJavaScript('0', true).then(send, send);
    },
  };
}

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
    label: mac ? 'VM' : 'V&M',
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
      // One full screen: the page's (HTML full screen of the VM's screen when it shows, else of
      // the whole page, which puts the window in full screen). Off macOS the window's own
      // (role togglefullscreen) would stack a second one under the page's F11, hide the menu bar
      // and leave no way out once the page's ended. macOS keeps its role and its Ctrl+Cmd+F.
      mac ? { role: 'togglefullscreen' } : fullscreenItem(item('fullscreen', 'Full screen')),
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
