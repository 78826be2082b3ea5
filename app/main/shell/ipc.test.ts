import { beforeEach, describe, expect, it, vi } from 'vitest';
import { STREAM_CLOSE } from '../common/api.js';
import { CALLS, type CallName } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import { APP_URL, IPC, type CallReply, type PortDown } from './channels.js';
import { registerIpc } from './ipc.js';
import {
  fake,
  FakeBrowserWindow,
  FakeMessageChannelMain,
  resetFakeElectron,
  type FakeIpcEvent,
  type FakeMessagePortMain,
} from './testing/fake-electron.js';
import { FakeLink, vm } from './testing/fake-link.js';
import { createMainWindow } from './window.js';

vi.mock('electron', async () => (await import('./testing/fake-electron.js')).fakeElectronModule);

let link: FakeLink;
let win: FakeBrowserWindow;
let refusals: string[];
let selections: (string | null)[];
/** The login item the shell would keep (an XDG autostart entry); `failWith`: setting it throws. */
let login: { on: boolean; sets: boolean[]; failWith?: string };

beforeEach(async () => {
  resetFakeElectron();
  link = new FakeLink([vm('web', 'running')]);
  refusals = [];
  selections = [];
  login = { on: false, sets: [] };
  createMainWindow({ preload: '/p.cjs', bounds: { width: 800, height: 600 } });
  win = FakeBrowserWindow.instances[0]!;
  await win.loadURL(APP_URL);
  // The shell hands registerIpc its real BrowserWindow; here that is the fake one.
  registerIpc({
    window: () => win as never,
    link: Promise.resolve(link),
    log: (l) => refusals.push(l),
    onSelection: (v) => selections.push(v),
    loginItem: (enabled) => {
      if (enabled !== undefined) {
        if (login.failWith) throw new Error(login.failWith);
        login.sets.push(enabled);
        login.on = enabled;
      }
      return login.on;
    },
  });
});

const call = (event: FakeIpcEvent, method: unknown, params: unknown) =>
  fake.ipcMain.invoke(IPC.call, event, method, params) as Promise<CallReply>;

/** Collects what the main side posts on a stream port, until it closes. */
function collect(port: FakeMessagePortMain): { messages: PortDown[]; closed: Promise<void> } {
  const messages: PortDown[] = [];
  const closed = new Promise<void>((resolve) => {
    port.on('message', (ev: { data: PortDown }) => {
      messages.push(ev.data);
      if (ev.data.t === 'close') resolve();
    });
    port.on('close', () => resolve());
  });
  port.start();
  return { messages, closed };
}

describe('the generic call channel', () => {
  it('routes every method of the contract to the driver', async () => {
    for (const method of Object.keys(CALLS) as CallName[]) {
      const reply = await call(win.webContents.trustedEvent(), method, { vm: 'web' });
      expect(reply.ok, method).toBe(true);
    }
    expect(link.calls.map((c) => c.method)).toEqual(Object.keys(CALLS));
  });

  it('refuses a method that is not in the contract without reaching the driver', async () => {
    const reply = await call(win.webContents.trustedEvent(), 'vm.format', {});
    expect(reply).toEqual({ ok: false, error: { code: 'invalid-argument', message: 'Unknown method "vm.format".' } });
    expect(link.calls).toEqual([]);
  });

  it('carries the driver error as code, message and details', async () => {
    link.answers.set('vm.start', () => {
      throw new VmdeskError('disk-in-use', 'The disk is used by "db".', { vm: 'db' });
    });
    expect(await call(win.webContents.trustedEvent(), 'vm.start', { vm: 'web' })).toEqual({
      ok: false,
      error: { code: 'disk-in-use', message: 'The disk is used by "db".', details: { vm: 'db' } },
    });
  });
});

describe('the sender check', () => {
  const refused: CallReply = {
    ok: false,
    error: { code: 'unsupported', message: 'This page may not control vmdesk.' },
  };

  it('refuses a call from a foreign page, a subframe, another webContents or a vanished frame', async () => {
    const other = new FakeBrowserWindow();
    const events: [string, FakeIpcEvent][] = [
      ['foreign page', win.webContents.foreignEvent('https://evil.example/')],
      ['file page', win.webContents.foreignEvent('file:///tmp/x.html')],
      ['subframe', win.webContents.subframeEvent()],
      ['other webContents', other.webContents.trustedEvent()],
      ['vanished frame', { sender: win.webContents, senderFrame: null, ports: [] }],
    ];
    for (const [what, event] of events) expect(await call(event, 'vm.list', {}), what).toEqual(refused);
    expect(link.calls).toEqual([]);
    expect(refusals).toHaveLength(5);
  });

  it('refuses a stream from a subframe by closing its port', async () => {
    const ch = new FakeMessageChannelMain();
    const { messages, closed } = collect(ch.port1);
    fake.ipcMain.emit(IPC.stream, win.webContents.subframeEvent([ch.port2]), {
      name: 'console.serial',
      params: { vm: 'web' },
    });
    await closed;
    expect(messages).toEqual([]);
    expect(link.channels).toEqual([]);
  });

  it('refuses a file dialog to a foreign page', async () => {
    expect(await fake.ipcMain.invoke(IPC.pick, win.webContents.foreignEvent(), 'iso')).toBeNull();
    expect(fake.openDialogs).toEqual([]);
  });
});

describe('streams over a MessagePort', () => {
  it('opens the driver stream, passes bytes both ways and ends with the driver reason', async () => {
    const ch = new FakeMessageChannelMain();
    const { messages, closed } = collect(ch.port1);
    ch.port1.postMessage({ t: 'data', d: new Uint8Array([1, 2]) }); // typed before the stream opened
    fake.ipcMain.emit(IPC.stream, win.webContents.trustedEvent([ch.port2]), {
      name: 'console.serial',
      params: { vm: 'web' },
    });
    await vi.waitFor(() => expect(messages).toEqual([{ t: 'open' }]));
    const driver = link.channels[0]!;
    expect(driver.name).toBe('console.serial');
    driver.emit(new Uint8Array(Buffer.from('login: ')));
    ch.port1.postMessage({ t: 'data', d: new Uint8Array([3]) });
    await vi.waitFor(() => expect(driver.written).toEqual([new Uint8Array([1, 2]), new Uint8Array([3])]));
    driver.end('The VM stopped.');
    await closed;
    expect(messages).toEqual([
      { t: 'open' },
      { t: 'data', d: new Uint8Array(Buffer.from('login: ')) },
      { t: 'close', code: STREAM_CLOSE.ended, reason: 'The VM stopped.' },
    ]);
  });

  it('says why a stream cannot be opened (4400 for the user to fix)', async () => {
    link.refuseStreams = new VmdeskError('invalid-state', '"web" is stopped; its console is available while it runs.');
    const ch = new FakeMessageChannelMain();
    const { messages, closed } = collect(ch.port1);
    fake.ipcMain.emit(IPC.stream, win.webContents.trustedEvent([ch.port2]), {
      name: 'console.vnc',
      params: { vm: 'web' },
    });
    await closed;
    expect(messages).toEqual([
      { t: 'close', code: STREAM_CLOSE.refused, reason: '"web" is stopped; its console is available while it runs.' },
    ]);
  });

  it('closes the driver stream when the page closes it', async () => {
    const ch = new FakeMessageChannelMain();
    const { messages } = collect(ch.port1);
    fake.ipcMain.emit(IPC.stream, win.webContents.trustedEvent([ch.port2]), {
      name: 'log.tail',
      params: { vm: 'web', which: 'qemu' },
    });
    await vi.waitFor(() => expect(messages).toEqual([{ t: 'open' }]));
    ch.port1.postMessage({ t: 'close' });
    await vi.waitFor(() => expect(link.channels[0]?.closed).toBe(1));
  });
});

describe('file dialogs', () => {
  it('returns the chosen path, or null when cancelled', async () => {
    fake.openDialogResults.push({ canceled: false, filePaths: ['/isos/debian.iso'] });
    expect(await fake.ipcMain.invoke(IPC.pick, win.webContents.trustedEvent(), 'iso')).toBe('/isos/debian.iso');
    expect(fake.openDialogs[0]?.filters?.[0]?.extensions).toEqual(['iso']);
    expect(await fake.ipcMain.invoke(IPC.pick, win.webContents.trustedEvent(), 'disk')).toBeNull();
    expect(await fake.ipcMain.invoke(IPC.pick, win.webContents.trustedEvent(), 'anything')).toBeNull();
    expect(fake.openDialogs).toHaveLength(2);
  });
});

describe('the selection the page reports', () => {
  it('reaches the app menu as a VM id, or null for no VM', () => {
    fake.ipcMain.emit(IPC.selection, win.webContents.trustedEvent(), 'qemu-ssh/abc');
    fake.ipcMain.emit(IPC.selection, win.webContents.trustedEvent(), null);
    expect(selections).toEqual(['qemu-ssh/abc', null]);
  });

  it('counts anything that is not a VM id as no selection', () => {
    for (const v of [42, { id: 'x' }, '', 'x'.repeat(301), undefined])
      fake.ipcMain.emit(IPC.selection, win.webContents.trustedEvent(), v);
    expect(selections).toEqual([null, null, null, null, null]);
  });

  it('ignores a subframe or a foreign page', () => {
    fake.ipcMain.emit(IPC.selection, win.webContents.subframeEvent(), 'a');
    fake.ipcMain.emit(IPC.selection, win.webContents.foreignEvent(), 'b');
    expect(selections).toEqual([]);
    expect(refusals).toHaveLength(2);
  });
});

describe('"Start vmdesk at login" from Preferences', () => {
  const ask = (event: FakeIpcEvent, enabled?: unknown) => fake.ipcMain.invoke(IPC.loginItem, event, enabled);

  it('reads it, sets it, and says why a set failed', async () => {
    expect(await ask(win.webContents.trustedEvent())).toEqual({ value: false });
    expect(await ask(win.webContents.trustedEvent(), true)).toEqual({ value: true });
    // Anything but a boolean only reads.
    expect(await ask(win.webContents.trustedEvent(), 'false')).toEqual({ value: true });
    expect(login.sets).toEqual([true]);
    login.failWith = 'Could not write /home/ada/.config/autostart/vmdesk.desktop: read-only file system.';
    expect(await ask(win.webContents.trustedEvent(), false)).toEqual({ error: login.failWith });
  });

  it('neither reads nor sets it for a subframe or a foreign page', async () => {
    expect(await ask(win.webContents.subframeEvent(), true)).toEqual({ value: null });
    expect(await ask(win.webContents.foreignEvent(), true)).toEqual({ value: null });
    expect(login.sets).toEqual([]);
    expect(refusals).toHaveLength(2);
  });
});
