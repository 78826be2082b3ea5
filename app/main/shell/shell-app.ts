/**
 * The desktop app's life: one instance, one window that hides to the tray, the driver link, and
 * the quit flow. Decisions live in the pure modules (quit-flow, tray-menu, window-state, open-iso);
 * this file only wires them to Electron.
 */
import path from 'node:path';
import { app, clipboard, dialog, Menu, Notification, screen, session, shell, type BrowserWindow } from 'electron';
import { serializeError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import type { DriverLink } from '../ipc/driver-link.js';
import type { AppPaths } from '../paths/app-paths.js';
import { appMenuKey, appMenuTemplate, logsFolder, logsFolderError, type AppCommandRequest } from './app-menu.js';
import { APP_URL, IPC, type ShellEvent } from './channels.js';
import { firstRunNotice, firstRunShownBefore, markFirstRunShown, readOsRelease, runsAsAppImage } from './first-run.js';
import { registerIpc } from './ipc.js';
import { trayIconPath, type ShellLayout } from './layout.js';
import {
  isLoginItemEnabled,
  loginCommand,
  loginItemSupported,
  setLoginItem,
  startsHidden,
  type LoginItemContext,
} from './login-item.js';
import { isIsoPath, isoPathsFromArgv } from './open-iso.js';
import { choiceFromResponse, progressText, quitDialog, runQuitFlow } from './quit-flow.js';
import { createTray, type ShellTray } from './tray.js';
import { applyVmEvent, LIVE_STATES, type TrayAction } from './tray-menu.js';
import { applySessionPolicy, createMainWindow, registerAppScheme, serveApp } from './window.js';
import { readShellState, restoreBounds, shellStateFile, writeShellState } from './window-state.js';

export interface ShellDeps {
  paths: AppPaths;
  /** Opens the driver (owner, or client of `vmdesk web` / `vmdesk driver` when one runs). */
  openLink(): Promise<DriverLink>;
  argv: readonly string[];
  cwd: string;
  platform: NodeJS.Platform;
  log(line: string): void;
  /** The text of os-release(5) (default: read it): which package manager an AppImage's notice names. */
  osRelease?: () => string | undefined;
}

export function runShell(layout: ShellLayout, deps: ShellDeps): void {
  // A second launch forwards its argv to us (second-instance) and exits here.
  if (!app.requestSingleInstanceLock()) return void app.quit();
  app.enableSandbox();
  registerAppScheme();
  const stateFile = shellStateFile(deps.paths);
  let state = readShellState(stateFile);
  const saveState = (w?: BrowserWindow) => {
    if (w && !w.isDestroyed()) state = { ...state, bounds: w.getNormalBounds(), maximized: w.isMaximized() };
    try {
      writeShellState(stateFile, state);
    } catch (err) {
      deps.log(`cannot save the window state: ${serializeError(err).message}`);
    }
  };
  let win: BrowserWindow | undefined;
  let loaded = false;
  let tray: ShellTray | undefined;
  let vms: VmSummary[] = [];
  let quitApproved = false;
  let quitting = false;
  const outbox: ShellEvent[] = isoPathsFromArgv(deps.argv, deps.cwd).map((p) => ({ kind: 'openIso', path: p }));
  const link = deps.openLink();
  link.catch(() => {}); // reported once `ready`

  const createWindow = (): BrowserWindow => {
    const bounds = restoreBounds(
      state.bounds,
      screen.getAllDisplays().map((d) => d.workArea),
    );
    const w = createMainWindow({ preload: layout.preload, bounds, icon: path.join(layout.resourcesDir, 'icon.png') });
    if (state.maximized) w.maximize();
    loaded = false;
    w.webContents.on('did-finish-load', () => {
      loaded = true;
      for (const ev of outbox.splice(0)) w.webContents.send(IPC.shellEvent, ev);
    });
    w.on('close', (e) => {
      saveState(w);
      if (quitApproved) return;
      e.preventDefault();
      w.hide();
      if (state.trayNoticeShown) return;
      state = { ...state, trayNoticeShown: true };
      saveState();
      if (Notification.isSupported())
        new Notification({
          title: 'vmdesk keeps running in the tray',
          body: 'Your VMs keep running. Quit vmdesk from its tray menu.',
        }).show();
    });
    void w.loadURL(APP_URL);
    return w;
  };
  const showWindow = (): BrowserWindow | undefined => {
    if (!app.isReady()) return undefined;
    if (!win || win.isDestroyed()) win = createWindow();
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
    return win;
  };
  const sendShell = (ev: ShellEvent) => {
    const w = showWindow();
    if (w && loaded) w.webContents.send(IPC.shellEvent, ev);
    else outbox.push(ev);
  };

  const requestQuit = async () => {
    if (quitting) return;
    quitting = true;
    try {
      const l = await link.catch(() => undefined);
      const outcome = !l
        ? { quit: true as const, failures: [] }
        : await runQuitFlow({
            link: l,
            ask: async (live) => {
              const w = showWindow();
              const r = await (w
                ? dialog.showMessageBox(w, quitDialog(live))
                : dialog.showMessageBox(quitDialog(live)));
              return choiceFromResponse(r.response);
            },
            onProgress: (p) => tray?.update(vms, progressText(p)),
          });
      if (!outcome.quit) return;
      if (outcome.failures.length > 0)
        dialog.showErrorBox(
          'Some VMs could not be shut down',
          outcome.failures.map((f) => `${f.name}: ${f.message}`).join('\n') +
            '\n\nThey keep running; vmdesk picks them up again at its next start.',
        );
      quitApproved = true;
      if (win && !win.isDestroyed()) saveState(win);
      app.quit();
    } finally {
      quitting = false;
    }
  };

  // The application menu follows the page's selected VM (IPC.selection) and that VM's state.
  let selectedId: string | null = null;
  let menuKey = '';
  const onMenuCommand = (c: AppCommandRequest) => {
    if (c.command !== 'openLogsFolder') return sendShell({ kind: 'command', ...c });
    const dir = logsFolder(deps.paths, c.vm);
    void shell.openPath(dir).then((why) => {
      if (!why) return;
      const e = logsFolderError(dir, why);
      dialog.showErrorBox(e.title, e.content);
    });
  };
  const updateMenu = () => {
    const state = { platform: deps.platform, appName: app.getName(), selected: vms.find((v) => v.id === selectedId) };
    const key = appMenuKey(state);
    if (key === menuKey) return;
    menuKey = key;
    Menu.setApplicationMenu(Menu.buildFromTemplate(appMenuTemplate(state, onMenuCommand)));
  };

  /** An AppImage brings no QEMU: the first time (or while a required one is missing), say which packages to install. */
  const showFirstRunNotice = async (l: DriverLink) => {
    if (!runsAsAppImage(process.env, deps.platform)) return;
    const notice = firstRunNotice({
      facts: await l.call('host.info', {}),
      env: process.env,
      platform: deps.platform,
      osRelease: (deps.osRelease ?? readOsRelease)(),
      shownBefore: firstRunShownBefore(deps.paths.config),
    });
    if (!notice) return;
    const buttons = notice.command ? ['Copy the command', 'OK'] : ['OK'];
    const opts = {
      type: notice.blocking ? ('warning' as const) : ('info' as const),
      title: notice.title,
      message: notice.title,
      detail: notice.message,
      buttons,
      defaultId: 0,
      cancelId: buttons.length - 1,
    };
    const w = win && !win.isDestroyed() ? win : undefined;
    const { response } = await (w ? dialog.showMessageBox(w, opts) : dialog.showMessageBox(opts));
    if (notice.command && response === 0) clipboard.writeText(notice.command);
    markFirstRunShown(deps.paths.config);
  };

  // "Start vmdesk at login" (off by default): an XDG autostart entry on Linux, a login item on macOS.
  const loginCtx: LoginItemContext = {
    platform: deps.platform,
    env: process.env,
    command: loginCommand({
      env: process.env,
      execPath: process.execPath,
      isPackaged: app.isPackaged,
      appPath: app.getAppPath(),
    }),
    app,
  };
  const loginItemState = () => (loginItemSupported(deps.platform) ? isLoginItemEnabled(loginCtx) : undefined);

  const onTrayAction = (a: TrayAction) => {
    if (a.kind === 'show') showWindow();
    else if (a.kind === 'quit') app.quit();
    else if (a.kind === 'console') sendShell({ kind: 'openConsole', vm: a.vm });
    else if (a.kind === 'loginItem') {
      try {
        setLoginItem(a.enabled, loginCtx);
      } catch (err) {
        dialog.showErrorBox('vmdesk', serializeError(err).message);
      }
      tray?.update(vms);
    } else
      link
        .then(async (l) => {
          if (a.method === 'vm.stop' && !(await confirmForceOff(l, a.vm))) return;
          await l.call(a.method, { vm: a.vm });
        })
        .catch((err: unknown) => dialog.showErrorBox('vmdesk', serializeError(err).message));
  };

  /** The window's question before Force off (the confirmForceOff setting), as a native box: the
   * tray has no page to ask in. "Do not ask again" turns the setting off, as in the window. */
  const confirmForceOff = async (l: DriverLink, id: string): Promise<boolean> => {
    let ask = true;
    try {
      ask = (await l.call('settings.get', {})).values.confirmForceOff;
    } catch {
      // Settings that cannot be read: ask, as the default says.
    }
    if (!ask) return true;
    const name = vms.find((v) => v.id === id)?.name ?? 'this VM';
    const r = await dialog.showMessageBox({
      type: 'warning',
      title: 'vmdesk',
      message: `Force off “${name}”?`,
      detail:
        'The power is cut at once, so whatever the guest has not saved is lost. Shut down asks the guest to stop cleanly instead.',
      buttons: ['Cancel', 'Force off'],
      defaultId: 0,
      cancelId: 0,
      checkboxLabel: 'Do not ask again',
    });
    if (r.response !== 1) return false;
    // The guest may have shut itself down while the box was open: nothing to force then.
    const now = vms.find((v) => v.id === id);
    if (now && !LIVE_STATES.includes(now.state)) return false;
    if (r.checkboxChecked)
      await l.call('settings.set', { values: { confirmForceOff: false } }).catch((err: unknown) => {
        deps.log(`could not save "do not ask again" for Force off: ${serializeError(err).message}`);
      });
    return true;
  };

  app.on('second-instance', (_e, argv, cwd) => {
    // The login entry starting vmdesk again while it runs: stay in the tray.
    if (!startsHidden(argv)) showWindow();
    for (const p of isoPathsFromArgv(argv, cwd)) sendShell({ kind: 'openIso', path: p });
  });
  // macOS sends open-file before `ready` when an ISO launches the app: queued in the outbox.
  app.on('open-file', (e, p) => {
    e.preventDefault();
    if (isIsoPath(p)) sendShell({ kind: 'openIso', path: p });
  });
  app.on('activate', () => showWindow());
  app.on('window-all-closed', () => {
    /* the app lives on in the tray */
  });
  app.on('before-quit', (e) => {
    if (quitApproved) return;
    e.preventDefault();
    void requestQuit();
  });

  void app.whenReady().then(async () => {
    serveApp(layout.rendererDir);
    app.setAboutPanelOptions({
      applicationName: 'vmdesk',
      applicationVersion: app.getVersion(),
      copyright: 'Copyright © vmdesk contributors',
      credits: 'Virtual machines on QEMU, as your own user.',
      // Linux's About box shows only what is given: without this, no icon.
      iconPath: path.join(layout.resourcesDir, 'icon.png'),
    });
    applySessionPolicy(session.defaultSession);
    registerIpc({
      window: () => win,
      link,
      log: deps.log,
      onSelection: (id) => {
        selectedId = id;
        updateMenu();
      },
      // Preferences' checkbox: the same entry as the tray's, which follows it.
      loginItem: (enabled) => {
        if (!loginItemSupported(deps.platform)) return undefined;
        if (enabled !== undefined) {
          setLoginItem(enabled, loginCtx);
          tray?.update(vms);
        }
        return isLoginItemEnabled(loginCtx);
      },
    });
    updateMenu();
    // Started at login: the tray only, the window when the user asks for it.
    const hidden = startsHidden(deps.argv, deps.platform === 'darwin' ? app.getLoginItemSettings() : undefined);
    if (!hidden) showWindow();
    let l: DriverLink;
    try {
      l = await link;
    } catch (err) {
      dialog.showErrorBox('vmdesk cannot reach its VMs', serializeError(err).message);
      quitApproved = true;
      return app.exit(1);
    }
    tray = createTray(trayIconPath(layout, deps.platform), deps.platform, onTrayAction, loginItemState);
    await l.subscribe((name, data) => {
      vms = applyVmEvent(vms, name, data);
      if (!quitting) tray?.update(vms);
      updateMenu();
      if (win && !win.isDestroyed()) win.webContents.send(IPC.event, name, data);
    });
    vms = await l.call('vm.list', {}).catch(() => vms);
    tray.update(vms);
    updateMenu();
    // Not over a login that keeps to the tray (a missing QEMU says so again at the next start).
    if (!hidden)
      showFirstRunNotice(l).catch((err: unknown) =>
        deps.log(`cannot tell which system packages are missing: ${serializeError(err).message}`),
      );
  });
}
