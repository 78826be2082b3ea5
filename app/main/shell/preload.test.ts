/**
 * The preload end to end: preload.ts runs against the fake electron, its installer is compiled
 * from source in a separate V8 context (the "main world"), and every call goes through the real
 * ipc.ts handlers to a fake driver link.
 */
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StreamChannel, StreamCloseEvent, VmdeskApi } from '../common/api.js';
import { VmdeskError } from '../common/errors.js';
import { APP_URL, IPC, type VmdeskShellApi } from './channels.js';
import { registerIpc } from './ipc.js';
import { fake, FakeBrowserWindow, resetFakeElectron } from './testing/fake-electron.js';
import { FakeLink, vm } from './testing/fake-link.js';
import { createMainWindow } from './window.js';

vi.mock('electron', async () => (await import('./testing/fake-electron.js')).fakeElectronModule);

const link = new FakeLink([vm('web', 'running')]);
let win: FakeBrowserWindow;
let page: { vmdesk: VmdeskApi; vmdeskShell: VmdeskShellApi };
const selections: (string | null)[] = [];
/** The login item as the shell keeps it; `refuse`: setting it fails with this sentence. */
const login: { on: boolean; refuse?: string } = { on: false };

beforeAll(async () => {
  resetFakeElectron();
  createMainWindow({ preload: '/p.cjs', bounds: { width: 800, height: 600 } });
  win = FakeBrowserWindow.instances[0]!;
  await win.loadURL(APP_URL);
  registerIpc({
    window: () => win as never,
    link: Promise.resolve(link),
    log: () => {},
    onSelection: (vm) => selections.push(vm),
    loginItem: (enabled) => {
      if (enabled !== undefined && login.refuse) throw new Error(login.refuse);
      if (enabled !== undefined) login.on = enabled;
      return login.on;
    },
  });
  await import('./preload.js');
  page = fake.mainWorld as unknown as typeof page; // the page's global object, as the page sees it
});

beforeEach(() => {
  link.calls.length = 0;
  link.channels.length = 0;
  link.answers.clear();
  link.refuseStreams = undefined;
});

/** What noVNC's Websock.attach() checks before it takes a raw channel. */
const RAW_CHANNEL_PROPS = ['send', 'close', 'binaryType', 'onerror', 'onmessage', 'onopen', 'protocol', 'readyState'];

function watch(ch: StreamChannel) {
  const got: { open: number; data: Uint8Array[]; close?: StreamCloseEvent } = { open: 0, data: [] };
  ch.onopen = () => {
    got.open++;
  };
  ch.onmessage = (ev) => {
    got.data.push(new Uint8Array(ev.data));
  };
  ch.onclose = (ev) => {
    got.close = ev;
  };
  return got;
}

describe('window.vmdesk', () => {
  it('is installed in the page world, read-only', () => {
    expect(Object.keys(page.vmdesk).sort()).toEqual(['call', 'onConnection', 'onEvent', 'openStream']);
    expect(Object.getOwnPropertyDescriptor(page, 'vmdesk')).toMatchObject({ writable: false, configurable: false });
    expect(Object.isFrozen(page.vmdesk)).toBe(true);
  });

  it('calls the driver through the generic channel', async () => {
    expect(await page.vmdesk.call('vm.list', {})).toEqual(link.vms);
    expect(link.calls).toEqual([{ method: 'vm.list', params: {} }]);
  });

  it('rejects with an Error carrying code and details', async () => {
    link.answers.set('vm.define', () => {
      throw new VmdeskError('name-taken', 'A VM named "web" already exists.', { field: 'name' });
    });
    const err = await page.vmdesk.call('vm.define', { name: 'web', memoryMiB: 512, cpus: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      name: 'VmdeskError',
      message: 'A VM named "web" already exists.',
      code: 'name-taken',
      details: { field: 'name' },
    });
  });

  it('refuses a method outside the contract in the preload, before any IPC', async () => {
    const invoke = vi.spyOn(fake.ipcMain, 'invoke');
    const err = await (page.vmdesk.call as (m: string, p: unknown) => Promise<unknown>)('vm.nuke', {}).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'invalid-argument', message: 'Unknown method "vm.nuke".' });
    expect(invoke).not.toHaveBeenCalled();
    invoke.mockRestore();
  });

  it('delivers driver events and stops after the disposer', () => {
    const seen: unknown[] = [];
    const off = page.vmdesk.onEvent((name, data) => seen.push([name, data]));
    const changed = vm('web', 'paused');
    win.webContents.send(IPC.event, 'vm.changed', changed);
    off();
    win.webContents.send(IPC.event, 'vm.removed', { id: changed.id });
    expect(seen).toEqual([['vm.changed', changed]]);
  });

  it('reports the connection as open at once', () => {
    const states: string[] = [];
    page.vmdesk.onConnection((s) => states.push(s))();
    expect(states).toEqual(['open']);
  });
});

describe('streams through the bridge', () => {
  it('give noVNC a channel whose handlers are plain properties set by the page', async () => {
    const ch = page.vmdesk.openStream('console.vnc', { vm: 'web' });
    const names = [...Object.keys(ch), ...Object.getOwnPropertyNames(Object.getPrototypeOf(ch))];
    for (const p of RAW_CHANNEL_PROPS) expect(names, p).toContain(p);
    expect(ch.readyState).toBe(0);
    expect(ch.binaryType).toBe('arraybuffer');
    const got = watch(ch);
    await vi.waitFor(() => expect(got.open).toBe(1));
    expect(ch.readyState).toBe(1);

    const driver = link.channels[0]!;
    expect([driver.name, driver.params]).toEqual(['console.vnc', { vm: 'web' }]);
    driver.emit(new Uint8Array(Buffer.from('RFB 003.008\n')));
    await vi.waitFor(() => expect(got.data).toEqual([new Uint8Array(Buffer.from('RFB 003.008\n'))]));

    // noVNC sends a view into its reusable send buffer: exactly the viewed bytes arrive.
    const big = new Uint8Array([9, 1, 2, 3, 9]);
    ch.send(big.subarray(1, 4));
    ch.send('a');
    await vi.waitFor(() => expect(driver.written).toEqual([new Uint8Array([1, 2, 3]), new Uint8Array([97])]));

    driver.end('The VM stopped.');
    await vi.waitFor(() => expect(got.close).toEqual({ code: 1000, reason: 'The VM stopped.', wasClean: true }));
    expect(ch.readyState).toBe(3);
  });

  it('close from the page ends the driver stream and reports 1000', async () => {
    const ch = page.vmdesk.openStream('console.serial', { vm: 'web' });
    const got = watch(ch);
    await vi.waitFor(() => expect(got.open).toBe(1));
    ch.close(1000, 'viewer closed');
    expect(ch.readyState).toBe(2);
    await vi.waitFor(() => expect(got.close).toEqual({ code: 1000, reason: 'viewer closed', wasClean: true }));
    await vi.waitFor(() => expect(link.channels[0]?.closed).toBe(1));
  });

  it('closes with 4400 and the driver sentence when the stream is refused', async () => {
    link.refuseStreams = new VmdeskError('invalid-state', '"web" is stopped; its console is available while it runs.');
    const got = watch(page.vmdesk.openStream('console.serial', { vm: 'web' }));
    await vi.waitFor(() =>
      expect(got.close).toEqual({
        code: 4400,
        reason: '"web" is stopped; its console is available while it runs.',
        wasClean: false,
      }),
    );
    expect(got.open).toBe(0);
  });

  it('refuses an unknown stream name in the preload', async () => {
    const got = watch((page.vmdesk.openStream as (n: string, p: unknown) => StreamChannel)('disk.read', {}));
    await vi.waitFor(() => expect(got.close?.code).toBe(4400));
    expect(link.channels).toEqual([]);
  });
});

describe('window.vmdeskShell', () => {
  it('is exposed through contextBridge', () => {
    expect([...fake.exposed.keys()]).toEqual(['vmdeskShell']);
    expect(Object.keys(page.vmdeskShell).sort()).toEqual([
      'loginItem',
      'onCommand',
      'onOpenConsole',
      'onOpenIso',
      'pathForFile',
      'pickDisk',
      'pickIso',
      'reportSelection',
    ]);
  });

  it('delivers the tray’s console request (kept until the page listens) and the menu’s commands', () => {
    // A menu click before the page listens is dropped: run later, it would act on whatever is
    // selected then.
    win.webContents.send(IPC.shellEvent, { kind: 'command', command: 'delete', vm: 'web' });
    win.webContents.send(IPC.shellEvent, { kind: 'openConsole', vm: 'web' });
    const consoles: string[] = [];
    const commands: unknown[] = [];
    const offConsole = page.vmdeskShell.onOpenConsole(({ vm }) => consoles.push(vm));
    const offCommand = page.vmdeskShell.onCommand((c) => commands.push(c));
    win.webContents.send(IPC.shellEvent, { kind: 'command', command: 'pause', vm: 'web' });
    // A command this page does not know (a newer main process) is not passed on.
    win.webContents.send(IPC.shellEvent, { kind: 'command', command: 'format-disk', vm: 'web' });
    offConsole();
    offCommand();
    expect(consoles).toEqual(['web']);
    expect(commands).toEqual([{ command: 'pause', vm: 'web' }]);
  });

  it('keeps an ISO sent before the page listened, then delivers live', () => {
    win.webContents.send(IPC.shellEvent, { kind: 'openIso', path: '/isos/early.iso' });
    const got: string[] = [];
    const off = page.vmdeskShell.onOpenIso(({ path }) => got.push(path));
    win.webContents.send(IPC.shellEvent, { kind: 'openIso', path: '/isos/late.iso' });
    off();
    expect(got).toEqual(['/isos/early.iso', '/isos/late.iso']);
  });

  it('reports the page’s selection to the main process', () => {
    page.vmdeskShell.reportSelection('web');
    page.vmdeskShell.reportSelection(null);
    expect(selections).toEqual(['web', null]);
  });

  it('reads and sets "Start vmdesk at login", and rejects with the reason a set failed', async () => {
    expect(await page.vmdeskShell.loginItem()).toBe(false);
    expect(await page.vmdeskShell.loginItem(true)).toBe(true);
    expect(login.on).toBe(true);
    login.refuse = 'Could not write the autostart entry: no space left on the device.';
    await expect(page.vmdeskShell.loginItem(false)).rejects.toThrow(login.refuse);
    expect(login.on).toBe(true);
  });

  it('picks files with the native dialog', async () => {
    fake.openDialogResults.push({ canceled: false, filePaths: ['/isos/alpine.iso'] });
    expect(await page.vmdeskShell.pickIso()).toBe('/isos/alpine.iso');
    expect(await page.vmdeskShell.pickDisk()).toBeNull();
  });

  it('asks webUtils for the path of a dropped file', () => {
    const file = Object.assign(new File(['x'], 'debian.iso'), { path: '/home/ada/debian.iso' });
    expect(page.vmdeskShell.pathForFile(file)).toBe('/home/ada/debian.iso');
  });
});
