import type { MenuItemConstructorOptions } from 'electron';
import { describe, expect, it } from 'vitest';
import { VM_STATES } from '../common/vm-types.js';
import type { AppPaths } from '../paths/app-paths.js';
import { appMenuKey, appMenuTemplate, logsFolder, type AppCommandRequest, type AppMenuState } from './app-menu.js';
import { vm } from './testing/fake-link.js';

const web = vm('web & db', 'running');

function build(state: Partial<AppMenuState> = {}) {
  const clicked: AppCommandRequest[] = [];
  const menu = appMenuTemplate({ platform: 'linux', appName: 'vmdesk', ...state }, (c) => clicked.push(c));
  return { menu, clicked };
}

const subItems = (i: MenuItemConstructorOptions) => (Array.isArray(i.submenu) ? i.submenu : []);

/** The template as indented text: `(off)` disabled, `[key]` its accelerator, `*` registered with the system. */
function render(items: MenuItemConstructorOptions[], depth = 0): string {
  return items
    .map((i) => {
      const pad = '  '.repeat(depth);
      if (i.type === 'separator') return `${pad}---`;
      const name = i.label ?? `(${i.role})`;
      const key = i.accelerator ? ` [${i.accelerator}${i.registerAccelerator === false ? '' : '*'}]` : '';
      const line = `${pad}${name}${i.role && i.label ? ` (${i.role})` : ''}${i.enabled === false ? ' (off)' : ''}${key}`;
      const sub = subItems(i);
      return sub.length ? `${line}\n${render(sub, depth + 1)}` : line;
    })
    .join('\n');
}

function find(items: MenuItemConstructorOptions[], id: string): MenuItemConstructorOptions {
  for (const i of items) {
    if (i.id === id) return i;
    const sub = subItems(i);
    if (sub.length) {
      try {
        return find(sub, id);
      } catch {
        /* not in this one */
      }
    }
  }
  throw new Error(`no menu item ${id}`);
}

/** Our items ignore the (item, window, event) arguments Electron passes. */
const click = (i: MenuItemConstructorOptions) => (i.click as () => void)();

describe('appMenuTemplate', () => {
  it('lays out File, Edit, VM, View and Help on Linux, for a running VM', () => {
    expect('\n' + render(build({ selected: web }).menu) + '\n').toMatchInlineSnapshot(`
      "
      &File
        New VM… [CmdOrCtrl+N]
        Create from ISO… [CmdOrCtrl+O]
        ---
        Quit (quit) [Ctrl+Q*]
      (editMenu)
      V&M
        web && db — running (off)
        ---
        Start (off)
        Shut down
        Force off
        Pause
        Resume (off)
        Reboot
        ---
        Take snapshot…
        ---
        Delete… (off) [Delete]
      &View
        Screen
        Serial console
        Logs
        ---
        Full screen [F11]
        ---
        (resetZoom)
        (zoomIn)
        (zoomOut)
      &Help (help)
        About vmdesk (about)
        ---
        Open this VM’s logs folder
      "
    `);
  });

  it('follows the macOS conventions: an app menu with About, Hide and Quit, Cmd shortcuts, a Window menu', () => {
    const { menu } = build({ platform: 'darwin', selected: vm('mac & cheese', 'stopped') });
    expect(menu.map((m) => m.label ?? m.role)).toEqual([
      'vmdesk',
      'File',
      'editMenu',
      'VM',
      'View',
      'windowMenu',
      'Help',
    ]);
    expect(render(subItems(menu[0]!))).toMatchInlineSnapshot(`
      "About vmdesk (about)
      ---
      (services)
      ---
      Hide vmdesk (hide)
      (hideOthers)
      (unhide)
      ---
      Quit vmdesk (quit)"
    `);
    // No mnemonics on macOS: the & is shown as is.
    expect(find(menu, 'vm-title').label).toBe('mac & cheese — stopped');
    // macOS runs a key equivalent the page leaves alone even when it is not registered
    // (electron#18295), and a text field needs its Cmd+Backspace: Delete… has none.
    expect(find(menu, 'delete').accelerator).toBeUndefined();
    expect(find(menu, 'newVm').accelerator).toBe('CmdOrCtrl+N');
    expect(subItems(menu[1]!).map((i) => i.role ?? i.label)).toEqual([
      'New VM…',
      'Create from ISO…',
      undefined,
      'close',
    ]);
    // Full screen keeps macOS's own shortcut (Ctrl+Cmd+F) and the Help menu has no About.
    expect(find(menu, 'showLogs').enabled).toBeUndefined();
    expect(render(subItems(menu[6]!))).toBe('Open this VM’s logs folder');
  });

  it('never registers a shortcut the page handles, so a key in a text field or the VM screen stays there', () => {
    // Linux and Windows honour registerAccelerator: false. macOS does not (electron#18295): the
    // page prevents the Cmd+N / Cmd+O it declines, and Delete… shows no key there at all.
    const handled = { linux: ['newVm', 'createFromIso', 'delete', 'fullscreen'], darwin: ['newVm', 'createFromIso'] };
    for (const platform of ['linux', 'win32', 'darwin'] as const) {
      const { menu } = build({ platform, selected: web });
      for (const id of handled[platform === 'darwin' ? 'darwin' : 'linux']) {
        expect(find(menu, id).accelerator, `${platform} ${id}`).toBeTruthy();
        expect(find(menu, id).registerAccelerator, `${platform} ${id}`).toBe(false);
      }
    }
  });

  it('has one full screen off macOS: the page’s, with a user activation so the page may enter it', async () => {
    const { menu, clicked } = build({ selected: web });
    const item = find(menu, 'fullscreen');
    expect(item.role).toBeUndefined(); // not the window's own full screen
    const scripts: [string, boolean | undefined][] = [];
    const win = {
      webContents: {
        executeJavaScript: (code: string, gesture?: boolean) => {
          scripts.push([code, gesture]);
          return Promise.resolve(0);
        },
      },
    };
    (item.click as (i: unknown, w: unknown) => void)(item, win);
    expect(clicked).toEqual([]); // the command follows the activation
    await Promise.resolve();
    expect(scripts).toEqual([['0', true]]);
    expect(clicked).toEqual([{ command: 'fullscreen' }]);
    // macOS keeps the window's (its green button and Ctrl+Cmd+F are the same one).
    const mac = build({ platform: 'darwin' }).menu;
    expect(subItems(mac[4]!).some((i) => i.role === 'togglefullscreen')).toBe(true);
    expect(() => find(mac, 'fullscreen')).toThrow();
  });

  it('offers each VM command only in the states the driver accepts it', () => {
    const offered = (state: (typeof VM_STATES)[number]) => {
      const { menu } = build({ selected: vm('x', state) });
      return ['start', 'shutdown', 'stop', 'pause', 'resume', 'reboot', 'snapshot', 'delete'].filter(
        (id) => find(menu, id).enabled !== false,
      );
    };
    expect(Object.fromEntries(VM_STATES.map((s) => [s, offered(s).join(' ')]))).toEqual({
      stopped: 'start snapshot delete',
      starting: 'stop snapshot',
      running: 'shutdown stop pause reboot snapshot',
      paused: 'stop resume reboot snapshot',
      stopping: 'stop snapshot',
      crashed: 'start snapshot delete',
      broken: 'delete',
    });
  });

  it('disables every VM item when no VM is selected, and keeps File and Help', () => {
    const { menu, clicked } = build();
    expect(find(menu, 'vm-title').label).toBe('No VM selected');
    for (const id of ['start', 'stop', 'snapshot', 'delete', 'showScreen', 'showSerial', 'showLogs'])
      expect(find(menu, id).enabled, id).toBe(false);
    click(find(menu, 'newVm'));
    click(find(menu, 'openLogsFolder'));
    expect(clicked).toEqual([{ command: 'newVm' }, { command: 'openLogsFolder' }]);
    expect(find(menu, 'openLogsFolder').label).toBe('Open logs folder');
  });

  it('has no Logs and no snapshots for a libvirt VM (both are its host’s)', () => {
    const remote = {
      ...vm('far', 'stopped'),
      id: 'qemu-ssh/abc',
      host: { id: 'qemu-ssh', label: 'far', uri: 'qemu+ssh://far/system', domain: 'far' },
    };
    const { menu, clicked } = build({ selected: remote });
    expect(find(menu, 'showLogs').enabled).toBe(false);
    expect(find(menu, 'snapshot').enabled).toBe(false);
    expect(find(menu, 'start').enabled).toBeUndefined();
    click(find(menu, 'openLogsFolder'));
    expect(clicked).toEqual([{ command: 'openLogsFolder' }]);
  });

  it('turns clicks into commands for the VM the menu showed', () => {
    const { menu, clicked } = build({ selected: web });
    for (const id of [
      'shutdown',
      'pause',
      'snapshot',
      'showScreen',
      'showSerial',
      'showLogs',
      'openLogsFolder',
      'createFromIso',
    ])
      click(find(menu, id));
    expect(clicked).toEqual([
      { command: 'shutdown', vm: web.id },
      { command: 'pause', vm: web.id },
      { command: 'snapshot', vm: web.id },
      { command: 'showScreen', vm: web.id },
      { command: 'showSerial', vm: web.id },
      { command: 'showLogs', vm: web.id },
      { command: 'openLogsFolder', vm: web.id },
      { command: 'createFromIso' },
    ]);
  });
});

describe('appMenuKey', () => {
  it('changes with what the menu shows, and only with that', () => {
    const base: AppMenuState = { platform: 'linux', appName: 'vmdesk', selected: web };
    expect(appMenuKey({ ...base, selected: { ...web, pid: 4 } as typeof web })).toBe(appMenuKey(base));
    expect(appMenuKey({ ...base, selected: { ...web, state: 'paused' } })).not.toBe(appMenuKey(base));
    expect(appMenuKey({ ...base, selected: { ...web, name: 'other' } })).not.toBe(appMenuKey(base));
    expect(appMenuKey({ ...base, selected: undefined })).not.toBe(appMenuKey(base));
  });
});

describe('logsFolder', () => {
  const paths: AppPaths = {
    config: '/home/ada/.config/vmdesk',
    data: '/home/ada/.local/share/vmdesk',
    state: '/home/ada/.local/state/vmdesk',
    runtime: '/run/user/1000/vmdesk',
    cache: '/home/ada/.cache/vmdesk',
    platform: 'linux',
  };
  const root = '/home/ada/.local/state/vmdesk/logs';
  it('opens the VM’s own folder once it has one, else the driver’s', () => {
    expect(logsFolder(paths, web.id, () => true)).toBe(`${root}/${web.id}`);
    expect(logsFolder(paths, web.id, () => false)).toBe(root);
    expect(logsFolder(paths, undefined, () => true)).toBe(root);
  });
  it('never builds a path out of something that is not a local VM id', () => {
    for (const id of ['../../etc', 'qemu-ssh/abc', '', '/abs'])
      expect(
        logsFolder(paths, id, () => true),
        id,
      ).toBe(root);
  });
});
