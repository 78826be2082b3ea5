/** The app's life with the fake electron: single instance, ISO hand-over, tray, close and quit. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import type { AppPaths } from '../paths/app-paths.js';
import { APP_URL, IPC } from './channels.js';
import type { ShellLayout } from './layout.js';
import { runShell } from './shell-app.js';
import {
  fake,
  FakeBrowserWindow,
  FakeEvent,
  FakeNotification,
  FakeTray,
  resetFakeElectron,
} from './testing/fake-electron.js';
import { FakeLink, vm } from './testing/fake-link.js';
import { LOGIN_ITEM_LABEL } from './tray-menu.js';
import { readShellState, shellStateFile, writeShellState } from './window-state.js';

vi.mock('electron', async () => (await import('./testing/fake-electron.js')).fakeElectronModule);

let tmp: string;
let paths: AppPaths;
let layout: ShellLayout;
let link: FakeLink;
let opened: number;

beforeEach(() => {
  resetFakeElectron();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-shell-'));
  const dir = (d: string) => {
    fs.mkdirSync(path.join(tmp, d), { recursive: true });
    return path.join(tmp, d);
  };
  paths = {
    config: dir('config'),
    data: dir('data'),
    state: dir('state'),
    runtime: dir('run'),
    cache: dir('cache'),
    platform: 'linux',
  };
  layout = {
    rendererDir: dir('dist/renderer'),
    preload: path.join(tmp, 'dist/shell/preload.cjs'),
    resourcesDir: dir('resources'),
    programDir: path.join(tmp, 'dist/shell'),
  };
  fs.writeFileSync(path.join(layout.rendererDir, 'index.html'), '<!doctype html>');
  link = new FakeLink([vm('web', 'running', 1), vm('db', 'running', 2), vm('old', 'stopped', 3)]);
  opened = 0;
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function start(o: { argv?: string[]; platform?: NodeJS.Platform; openLink?: () => Promise<FakeLink> } = {}): void {
  runShell(layout, {
    paths,
    openLink:
      o.openLink ??
      (async () => {
        opened++;
        return link;
      }),
    argv: o.argv ?? ['/opt/vmdesk/vmdesk'],
    cwd: '/home/ada',
    platform: o.platform ?? 'linux',
    log: () => {},
    osRelease: () => 'ID=debian\n',
  });
}

/** Started, window loaded, tray built from vm.list. */
async function started(o: Parameters<typeof start>[0] = {}): Promise<{ win: FakeBrowserWindow; tray: FakeTray }> {
  start(o);
  await vi.waitFor(() => expect(FakeTray.instances[0]?.tooltip).toBe('vmdesk — 2 running'));
  const win = FakeBrowserWindow.instances[0]!;
  await vi.waitFor(() => expect(win.visible).toBe(true));
  return { win, tray: FakeTray.instances[0]! };
}

const shellEvents = (w: FakeBrowserWindow) =>
  w.webContents.sent.filter((s) => s.channel === IPC.shellEvent).map((s) => s.args[0]);

describe('start-up', () => {
  it('hands over to the running instance and quits when the lock is taken', () => {
    fake.app.gotLock = false;
    start();
    expect(fake.app.quitCalls).toBe(1);
    expect(opened).toBe(0);
    expect(FakeBrowserWindow.instances).toEqual([]);
  });

  it('opens the driver, serves the renderer on app:// and shows it in a sandboxed window', async () => {
    const { win } = await started();
    expect(opened).toBe(1);
    expect(fake.app.sandboxed).toBe(true);
    expect(fake.privilegedSchemes.map((s) => s.scheme)).toEqual(['app']);
    expect(fake.protocolHandlers.has('app')).toBe(true);
    expect(win.loadedUrl).toBe(APP_URL);
    expect(win.options.webPreferences?.preload).toBe(layout.preload);
    expect(fake.session.requestHandler).not.toBeNull();
  });

  it('says why and exits when the VMs cannot be reached', async () => {
    start({
      openLink: () =>
        Promise.reject(
          new VmdeskError(
            'owner-elsewhere',
            'The VMs are managed by vmdesk process 77 (web), but its control socket does not answer.',
          ),
        ),
    });
    await vi.waitFor(() => expect(fake.app.exitCode).toBe(1));
    expect(fake.errorBoxes).toEqual([
      {
        title: 'vmdesk cannot reach its VMs',
        content: 'The VMs are managed by vmdesk process 77 (web), but its control socket does not answer.',
      },
    ]);
  });
});

describe('ISO paths from the system', () => {
  it('a second launch with an ISO focuses the window and opens the wizard with the path', async () => {
    const { win } = await started();
    win.hide();
    fake.app.emit(
      'second-instance',
      new FakeEvent(),
      ['/opt/vmdesk/vmdesk', '--enable-features=X', 'Downloads/debian-12.iso'],
      '/home/ada',
      {},
    );
    expect(win.visible).toBe(true);
    expect(win.focused).toBeGreaterThan(0);
    expect(shellEvents(win)).toEqual([{ kind: 'openIso', path: '/home/ada/Downloads/debian-12.iso' }]);
  });

  it('macOS open-file delivers the path, also when it arrives before the page has loaded', async () => {
    start({ platform: 'darwin' });
    const early = new FakeEvent();
    fake.app.emit('open-file', early, '/Users/ada/alpine.iso');
    expect(early.defaultPrevented).toBe(true);
    expect(FakeBrowserWindow.instances).toEqual([]); // not ready yet: the path waits in the outbox
    const win = await vi.waitFor(() => {
      const w = FakeBrowserWindow.instances[0];
      if (!w) throw new Error('no window yet');
      return w;
    });
    await vi.waitFor(() => expect(shellEvents(win)).toEqual([{ kind: 'openIso', path: '/Users/ada/alpine.iso' }]));
    fake.app.emit('open-file', new FakeEvent(), '/Users/ada/notes.txt');
    fake.app.emit('open-file', new FakeEvent(), '/Users/ada/fedora.ISO');
    expect(shellEvents(win)).toEqual([
      { kind: 'openIso', path: '/Users/ada/alpine.iso' },
      { kind: 'openIso', path: '/Users/ada/fedora.ISO' },
    ]);
  });

  it('an ISO on the first command line is delivered once the page has loaded', async () => {
    const { win } = await started({ argv: ['/opt/vmdesk/vmdesk', 'win.iso'] });
    expect(shellEvents(win)).toEqual([{ kind: 'openIso', path: '/home/ada/win.iso' }]);
  });
});

describe('the tray', () => {
  it('follows vm.changed and vm.removed, and forwards them to the page', async () => {
    const { win, tray } = await started();
    link.emit('vm.changed', vm('db', 'stopped', 2));
    expect(tray.tooltip).toBe('vmdesk — 1 running');
    link.emit('vm.removed', { id: vm('web', 'running', 1).id });
    expect(tray.tooltip).toBe('vmdesk — Nothing running');
    expect(tray.menu?.items.map((i) => i.label)).toEqual([
      'Nothing running',
      undefined,
      'db — stopped',
      'old — stopped',
      undefined,
      'Start vmdesk at login',
      'Show vmdesk',
      'Quit vmdesk',
    ]);
    expect(win.webContents.sent.filter((s) => s.channel === IPC.event).map((s) => s.args[0])).toEqual([
      'vm.changed',
      'vm.removed',
    ]);
  });

  it('runs VM actions through the driver and opens consoles in the window', async () => {
    const { win, tray } = await started();
    tray.menu?.find(['web — running', 'Pause']).click?.();
    tray.menu?.find(['old — stopped', 'Start']).click?.();
    await vi.waitFor(() =>
      expect(link.actions()).toEqual([
        { method: 'vm.pause', params: { vm: vm('web', 'running', 1).id } },
        { method: 'vm.start', params: { vm: vm('old', 'stopped', 3).id } },
      ]),
    );
    win.hide();
    tray.menu?.find(['db — running', 'Open console']).click?.();
    expect(win.visible).toBe(true);
    expect(shellEvents(win)).toEqual([{ kind: 'openConsole', vm: vm('db', 'running', 2).id }]);
  });

  it('asks before Force off as the window does, and stops asking after "Do not ask again"', async () => {
    const { tray } = await started();
    let confirm = true;
    link.answers.set('settings.get', () => ({ values: { confirmForceOff: confirm } }));
    link.answers.set('settings.set', (p) => {
      confirm = (p as { values: { confirmForceOff: boolean } }).values.confirmForceOff;
      return { values: { confirmForceOff: confirm } };
    });
    const web = vm('web', 'running', 1).id;
    const stops = () => link.actions().filter((a) => a.method === 'vm.stop');
    // Cancel: nothing happens.
    fake.messageBoxResponses.push(0);
    tray.menu?.find(['web — running', 'Force off']).click?.();
    await vi.waitFor(() => expect(fake.messageBoxes).toHaveLength(1));
    expect(fake.messageBoxes[0]).toMatchObject({
      message: 'Force off “web”?',
      buttons: ['Cancel', 'Force off'],
      cancelId: 0,
      checkboxLabel: 'Do not ask again',
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(stops()).toEqual([]);
    // Force off with "Do not ask again": the setting goes off, the VM is forced off.
    fake.messageBoxResponses.push(1);
    fake.messageBoxChecks.push(true);
    tray.menu?.find(['web — running', 'Force off']).click?.();
    await vi.waitFor(() => expect(stops()).toEqual([{ method: 'vm.stop', params: { vm: web } }]));
    expect(confirm).toBe(false);
    // From now on: no question.
    tray.menu?.find(['web — running', 'Force off']).click?.();
    await vi.waitFor(() => expect(stops()).toHaveLength(2));
    expect(fake.messageBoxes).toHaveLength(2);
  });

  it('uses a template image on macOS', async () => {
    const { tray } = await started({ platform: 'darwin' });
    expect(tray.image).toMatchObject({ path: path.join(layout.resourcesDir, 'trayTemplate.png'), template: true });
  });
});

describe('closing the window', () => {
  it('hides it to the tray, with a notice the first time only', async () => {
    const { win } = await started();
    win.close();
    expect(win.destroyed).toBe(false);
    expect(win.visible).toBe(false);
    win.show();
    win.close();
    expect(FakeNotification.shown).toEqual([
      { title: 'vmdesk keeps running in the tray', body: 'Your VMs keep running. Quit vmdesk from its tray menu.' },
    ]);
    expect(readShellState(shellStateFile(paths)).trayNoticeShown).toBe(true);
    expect(link.actions()).toEqual([]);
    fake.app.emit('activate');
    expect(win.visible).toBe(true);
  });

  it('remembers size and position, restoring them only on a visible display', async () => {
    writeShellState(shellStateFile(paths), { bounds: { x: 200, y: 150, width: 1000, height: 700 }, maximized: false });
    const { win } = await started();
    expect(win.options).toMatchObject({ x: 200, y: 150, width: 1000, height: 700 });
    win.close();
    expect(readShellState(shellStateFile(paths)).bounds).toEqual({ x: 200, y: 150, width: 1000, height: 700 });

    resetFakeElectron();
    fake.displays = [{ workArea: { x: 0, y: 0, width: 1280, height: 800 } }];
    writeShellState(shellStateFile(paths), { bounds: { x: 3000, y: 150, width: 1000, height: 700 } });
    const again = await started();
    expect(again.win.options).toMatchObject({ width: 1000, height: 700 });
    expect(again.win.options.x).toBeUndefined();
  });
});

describe('quitting with running VMs', () => {
  it('keep: leaves every VM running, closes the link and quits', async () => {
    await started();
    fake.messageBoxResponses.push(0);
    fake.app.quit();
    await vi.waitFor(() => expect(fake.app.quitted).toBe(true));
    expect(fake.messageBoxes[0]?.buttons).toEqual(['Keep running in the background', 'Shut down and quit', 'Cancel']);
    expect(link.actions()).toEqual([]);
    expect(link.closed).toBe(1);
  });

  it('shut down: ACPI shutdown with wait and timeout for each running VM, progress in the tray, then quit', async () => {
    const { tray } = await started();
    const tooltips: string[] = [];
    const setToolTip = tray.setToolTip.bind(tray);
    tray.setToolTip = (t) => {
      tooltips.push(t);
      setToolTip(t);
    };
    fake.messageBoxResponses.push(1);
    fake.app.quit();
    await vi.waitFor(() => expect(fake.app.quitted).toBe(true));
    expect(link.actions()).toEqual([
      { method: 'vm.shutdown', params: { vm: vm('web', 'running', 1).id, wait: true, timeoutMs: 30_000 } },
      { method: 'vm.shutdown', params: { vm: vm('db', 'running', 2).id, wait: true, timeoutMs: 30_000 } },
    ]);
    expect(tooltips).toContain('vmdesk — Shutting down VMs… 0 of 2 off');
    expect(link.closed).toBe(1);
    expect(FakeBrowserWindow.instances[0]?.destroyed).toBe(true);
  });

  it('cancel: nothing happens and the app stays', async () => {
    const { win } = await started();
    fake.messageBoxResponses.push(2);
    fake.app.quit();
    await vi.waitFor(() => expect(fake.messageBoxes).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.app.quitted).toBe(false);
    expect(link.actions()).toEqual([]);
    expect(link.closed).toBe(0);
    expect(win.destroyed).toBe(false);
  });

  it('quits without asking when nothing runs', async () => {
    link.vms = [vm('old', 'stopped', 3)];
    start();
    await vi.waitFor(() => expect(FakeTray.instances[0]?.tooltip).toBe('vmdesk — Nothing running'));
    fake.app.quit();
    await vi.waitFor(() => expect(fake.app.quitted).toBe(true));
    expect(fake.messageBoxes).toEqual([]);
    expect(link.closed).toBe(1);
  });
});

describe('the application menu', () => {
  const menu = () => {
    if (!fake.applicationMenu) throw new Error('no application menu');
    return fake.applicationMenu;
  };
  const select = (id: string | null) => fake.ipcRenderer.postMessage(IPC.selection, id);
  /** Electron's default: an item without `enabled` is enabled. */
  const enabled = (labels: string[]) => menu().find(labels).enabled !== false;

  it('follows the VM the page shows, and its state', async () => {
    const { win } = await started();
    expect(enabled(['V&M', 'No VM selected'])).toBe(false);
    expect(enabled(['V&M', 'Start'])).toBe(false);
    const web = vm('web', 'running', 1);
    select(web.id);
    expect(enabled(['V&M', 'web — running'])).toBe(false);
    expect(enabled(['V&M', 'Start'])).toBe(false);
    expect(enabled(['V&M', 'Pause'])).toBe(true);
    // The driver says it paused: the menu follows without the page.
    link.emit('vm.changed', { ...web, state: 'paused' });
    expect(enabled(['V&M', 'web — paused'])).toBe(false);
    expect(enabled(['V&M', 'Resume'])).toBe(true);
    expect(enabled(['V&M', 'Pause'])).toBe(false);
    // A click goes to the page, which runs it like its own button (busy marks, errors).
    menu().find(['V&M', 'Resume']).click!();
    expect(shellEvents(win)).toEqual([{ kind: 'command', command: 'resume', vm: web.id }]);
    expect(link.actions()).toEqual([]);
    select(null);
    expect(enabled(['V&M', 'No VM selected'])).toBe(false);
  });

  it('shows the shortcuts the page handles, without registering them', async () => {
    await started();
    const newVm = menu().find(['&File', 'New VM…']);
    expect(newVm.accelerator).toBe('CmdOrCtrl+N');
    expect(menu().find(['&File', 'Create from ISO…']).accelerator).toBe('CmdOrCtrl+O');
    newVm.click!();
    expect(shellEvents(FakeBrowserWindow.instances[0]!)).toEqual([{ kind: 'command', command: 'newVm' }]);
  });

  it("opens the selected VM's logs folder in the file manager", async () => {
    await started();
    const web = vm('web', 'running', 1);
    select(web.id);
    fs.mkdirSync(path.join(paths.state, 'logs', web.id), { recursive: true });
    menu().find(['&Help', 'Open this VM’s logs folder']).click!();
    await vi.waitFor(() => expect(fake.openedPaths).toHaveLength(1));
    expect(fake.openedPaths).toEqual([path.join(paths.state, 'logs', web.id)]);
    expect(fake.errorBoxes).toEqual([]);
  });

  it('gives macOS its app menu', async () => {
    await started({ platform: 'darwin' });
    expect(menu().items[0]?.label).toBe('vmdesk');
    expect(menu().find(['vmdesk', 'Quit vmdesk']).role).toBe('quit');
    expect(fake.app.aboutPanel).toMatchObject({ applicationName: 'vmdesk', applicationVersion: '0.1.0' });
  });
});

describe("an AppImage's first run", () => {
  const missingQemu = {
    hostArch: 'x86_64',
    qemu: {
      x86_64: { arch: 'x86_64', status: 'missing', reason: 'no qemu-system-x86_64', fix: 'install it', searched: [] },
      aarch64: {
        arch: 'aarch64',
        status: 'missing',
        reason: 'no qemu-system-aarch64',
        fix: 'install it',
        searched: [],
      },
    },
    qemuImg: { status: 'ok', path: '/usr/bin/qemu-img', version: '7.2.0' },
    firmware: { images: [{ arch: 'x86_64' }], missing: [] },
    swtpm: { path: '/usr/bin/swtpm' },
    virtiofsd: { path: '/usr/libexec/virtiofsd' },
  };
  afterEach(() => {
    delete process.env.APPIMAGE;
  });

  it('says which packages to install, copies the command, and says it again while QEMU is missing', async () => {
    process.env.APPIMAGE = '/home/ada/Applications/vmdesk.AppImage';
    link.answers.set('host.info', () => missingQemu);
    fake.messageBoxResponses.push(0);
    await started();
    await vi.waitFor(() => expect(fake.messageBoxes).toHaveLength(1));
    expect(fake.messageBoxes[0]).toMatchObject({ title: 'vmdesk needs some system packages' });
    expect(fake.messageBoxes[0]?.detail).toMatch(/cannot start VMs until these system packages are installed: QEMU/);
    await vi.waitFor(() => expect(fake.clipboardText).toBe('sudo apt install qemu-system-x86'));
    expect(fs.existsSync(path.join(paths.config, 'appimage-first-run'))).toBe(true);
  });

  it('says nothing outside an AppImage', async () => {
    link.answers.set('host.info', () => missingQemu);
    await started();
    await vi.waitFor(() => expect(link.calls.some((c) => c.method === 'vm.list')).toBe(true));
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.messageBoxes).toEqual([]);
  });
});

describe('starting at login', () => {
  let savedConfigHome: string | undefined;
  beforeEach(() => {
    savedConfigHome = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = paths.config;
  });
  afterEach(() => {
    if (savedConfigHome === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = savedConfigHome;
  });
  const entry = () => path.join(paths.config, 'autostart', 'vmdesk.desktop');

  it('is off by default; the tray checkbox writes and removes the autostart entry', async () => {
    const { tray } = await started();
    expect(tray.menu!.find([LOGIN_ITEM_LABEL]).checked).toBe(false);
    expect(fs.existsSync(entry())).toBe(false);
    tray.menu!.find([LOGIN_ITEM_LABEL]).click!();
    expect(fs.readFileSync(entry(), 'utf8')).toMatch(/^Exec=.* --hidden$/m);
    expect(FakeTray.instances[0]!.menu!.find([LOGIN_ITEM_LABEL]).checked).toBe(true);
    FakeTray.instances[0]!.menu!.find([LOGIN_ITEM_LABEL]).click!();
    expect(fs.existsSync(entry())).toBe(false);
    expect(FakeTray.instances[0]!.menu!.find([LOGIN_ITEM_LABEL]).checked).toBe(false);
  });

  it('started with --hidden (the login entry), only the tray shows; a second launch without it shows the window', async () => {
    start({ argv: ['/opt/vmdesk/vmdesk', '--hidden'] });
    await vi.waitFor(() => expect(FakeTray.instances[0]?.tooltip).toBe('vmdesk — 2 running'));
    expect(FakeBrowserWindow.instances.filter((w) => w.visible)).toEqual([]);
    fake.app.emit('second-instance', new FakeEvent(), ['/opt/vmdesk/vmdesk', '--hidden'], '/home/ada', {});
    expect(FakeBrowserWindow.instances.filter((w) => w.visible)).toEqual([]);
    fake.app.emit('second-instance', new FakeEvent(), ['/opt/vmdesk/vmdesk'], '/home/ada', {});
    expect(FakeBrowserWindow.instances.filter((w) => w.visible)).toHaveLength(1);
  });
});
