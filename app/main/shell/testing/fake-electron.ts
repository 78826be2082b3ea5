/**
 * A fake `electron` module for the shell's unit tests (Electron's binary is not needed):
 *   vi.mock('electron', async () => (await import('./testing/fake-electron.js')).fakeElectronModule);
 * Each fake implements the members the shell uses with Electron's own signatures (`implements
 * Pick<Electron.X, ...>` / `satisfies`), so an API change breaks the tests at compile time, and
 * records what the shell did. `resetFakeElectron()` starts every test from scratch.
 *
 * Messaging is real where it matters: ipcRenderer.invoke reaches the ipcMain handler with an
 * event whose sender frame the test chooses, webContents.send reaches ipcRenderer listeners,
 * ports are Node MessagePorts (structured clone included), and executeInMainWorld compiles the
 * function from its source text in a fresh V8 context, as Electron does.
 */
import { EventEmitter } from 'node:events';
import vm from 'node:vm';
import type Electron from 'electron';
import { APP_URL } from '../channels.js';

export class FakeEvent {
  defaultPrevented = false;
  preventDefault(): void {
    this.defaultPrevented = true;
  }
}

export class FakeFrame {
  constructor(
    public url: string,
    readonly parent: FakeFrame | null = null,
  ) {}
}

/** What ipcMain handlers receive. */
export interface FakeIpcEvent {
  sender: FakeWebContents;
  senderFrame: FakeFrame | null;
  ports: FakeMessagePortMain[];
}

type MainListener = (event: FakeIpcEvent, ...args: unknown[]) => unknown;
type RendererListener = (event: object, ...args: unknown[]) => void;

export class FakeWebContents
  extends EventEmitter
  implements Pick<Electron.WebContents, 'id' | 'send' | 'setWindowOpenHandler'>
{
  private static nextId = 1;
  readonly id = FakeWebContents.nextId++;
  readonly mainFrame = new FakeFrame('');
  readonly sent: { channel: string; args: unknown[] }[] = [];
  windowOpenHandler: ((details: Electron.HandlerDetails) => Electron.WindowOpenHandlerResponse) | undefined;

  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, args });
    // Delivered to the page's ipcRenderer (cloned, as IPC does).
    for (const l of fake.rendererListeners.get(channel) ?? [])
      l({ sender: fake.ipcRenderer }, ...structuredClone(args));
  }

  setWindowOpenHandler(handler: (details: Electron.HandlerDetails) => Electron.WindowOpenHandlerResponse): void {
    this.windowOpenHandler = handler;
  }

  /** Emits `will-navigate` (or `will-redirect`) as Electron does; true when the shell let it through. */
  navigate(url: string, event: 'will-navigate' | 'will-redirect' = 'will-navigate'): boolean {
    const e = Object.assign(new FakeEvent(), { url });
    this.emit(event, e, url);
    return !e.defaultPrevented;
  }

  /** The events the page's frames would send: ours, one of our subframes, a foreign page. */
  trustedEvent(ports: FakeMessagePortMain[] = []): FakeIpcEvent {
    return { sender: this, senderFrame: this.mainFrame, ports };
  }
  subframeEvent(ports: FakeMessagePortMain[] = []): FakeIpcEvent {
    return { sender: this, senderFrame: new FakeFrame(APP_URL, this.mainFrame), ports };
  }
  foreignEvent(url = 'https://evil.example/', ports: FakeMessagePortMain[] = []): FakeIpcEvent {
    return { sender: this, senderFrame: new FakeFrame(url), ports };
  }
}

type WindowMethods =
  | 'show'
  | 'hide'
  | 'focus'
  | 'restore'
  | 'isMinimized'
  | 'isVisible'
  | 'maximize'
  | 'isMaximized'
  | 'isDestroyed'
  | 'getNormalBounds'
  | 'loadURL'
  | 'close'
  | 'destroy';

export class FakeBrowserWindow extends EventEmitter implements Pick<Electron.BrowserWindow, WindowMethods> {
  static instances: FakeBrowserWindow[] = [];
  readonly webContents = new FakeWebContents();
  visible = false;
  destroyed = false;
  minimized = false;
  maximized = false;
  focused = 0;
  loadedUrl: string | undefined;

  constructor(readonly options: Electron.BrowserWindowConstructorOptions = {}) {
    super();
    FakeBrowserWindow.instances.push(this);
  }

  /** Loads like Electron: the page's main frame gets the URL, then ready-to-show and did-finish-load. */
  loadURL(url: string): Promise<void> {
    this.loadedUrl = url;
    this.webContents.mainFrame.url = url;
    return Promise.resolve().then(() => {
      this.emit('ready-to-show');
      this.webContents.emit('did-finish-load');
    });
  }
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  focus(): void {
    this.focused++;
  }
  restore(): void {
    this.minimized = false;
  }
  isMinimized(): boolean {
    return this.minimized;
  }
  isVisible(): boolean {
    return this.visible;
  }
  maximize(): void {
    this.maximized = true;
  }
  isMaximized(): boolean {
    return this.maximized;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  getNormalBounds(): Electron.Rectangle {
    const o = this.options;
    return { x: o.x ?? 100, y: o.y ?? 100, width: o.width ?? 800, height: o.height ?? 600 };
  }
  /** The user (or app.quit) closes it: the shell may prevent that. */
  close(): void {
    const e = new FakeEvent();
    this.emit('close', e);
    if (!e.defaultPrevented) this.destroy();
  }
  destroy(): void {
    this.destroyed = true;
    this.visible = false;
    this.emit('closed');
  }
}

export class FakeApp
  extends EventEmitter
  implements
    Pick<
      Electron.App,
      | 'requestSingleInstanceLock'
      | 'whenReady'
      | 'isReady'
      | 'enableSandbox'
      | 'quit'
      | 'exit'
      | 'setLoginItemSettings'
      | 'getLoginItemSettings'
      | 'setAboutPanelOptions'
      | 'getVersion'
      | 'getName'
      | 'isPackaged'
      | 'getAppPath'
    >
{
  gotLock = true;
  /** False until whenReady() resolves, as before Electron's `ready`. */
  ready = false;
  sandboxed = false;
  quitCalls = 0;
  /** Set once a quit went through (nobody prevented before-quit). */
  quitted = false;
  exitCode: number | undefined;

  requestSingleInstanceLock(): boolean {
    return this.gotLock;
  }
  whenReady(): Promise<void> {
    return Promise.resolve().then(() => {
      this.ready = true;
    });
  }
  isReady(): boolean {
    return this.ready;
  }
  enableSandbox(): void {
    this.sandboxed = true;
  }
  /** Like Electron: before-quit (preventable), then every window is closed, then the app quits. */
  quit(): void {
    this.quitCalls++;
    const e = new FakeEvent();
    this.emit('before-quit', e);
    if (e.defaultPrevented) return;
    for (const w of FakeBrowserWindow.instances) if (!w.destroyed) w.close();
    this.quitted = true;
  }
  exit(code = 0): void {
    this.exitCode = code;
  }
  /** What setLoginItemSettings was last given (macOS and Windows only in Electron). */
  loginItem: Electron.Settings = {};
  setLoginItemSettings(settings: Electron.Settings): void {
    this.loginItem = { ...settings };
  }
  getLoginItemSettings(): Electron.LoginItemSettings {
    return {
      openAtLogin: this.loginItem.openAtLogin ?? false,
      openAsHidden: this.loginItem.openAsHidden ?? false,
      wasOpenedAtLogin: false,
      wasOpenedAsHidden: false,
      restoreState: false,
      status: 'not-registered',
      executableWillLaunchAtLogin: this.loginItem.openAtLogin ?? false,
      launchItems: [],
    };
  }
  aboutPanel: Electron.AboutPanelOptionsOptions | undefined;
  setAboutPanelOptions(options: Electron.AboutPanelOptionsOptions): void {
    this.aboutPanel = options;
  }
  getVersion(): string {
    return '0.1.0';
  }
  getName(): string {
    return 'vmdesk';
  }
  isPackaged = false;
  getAppPath(): string {
    return '/opt/vmdesk/resources/app.asar';
  }
}

/** `on` returns void here: Electron's returns the IpcMain itself, which a fake cannot be. */
export class FakeIpcMain implements Pick<Electron.IpcMain, 'handle' | 'removeHandler'> {
  readonly handlers = new Map<string, MainListener>();
  readonly listeners = new Map<string, MainListener[]>();

  handle(channel: string, listener: (event: Electron.IpcMainInvokeEvent, ...args: unknown[]) => unknown): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener as unknown as MainListener);
  }
  on(channel: string, listener: (event: Electron.IpcMainEvent, ...args: unknown[]) => void): void {
    this.listeners.set(channel, [...(this.listeners.get(channel) ?? []), listener as unknown as MainListener]);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }

  /** What ipcRenderer.invoke does: arguments and result are structured-cloned; a throw rejects. */
  async invoke(channel: string, event: FakeIpcEvent, ...args: unknown[]): Promise<unknown> {
    const h = this.handlers.get(channel);
    if (!h) throw new Error(`No handler registered for '${channel}'`);
    return structuredClone(await h(event, ...structuredClone(args)));
  }
  emit(channel: string, event: FakeIpcEvent, ...args: unknown[]): void {
    for (const l of this.listeners.get(channel) ?? []) l(event, ...structuredClone(args));
  }
}

/** Electron's MessagePortMain over one end of a Node MessageChannel (messages are really cloned). */
export class FakeMessagePortMain
  extends EventEmitter
  implements Pick<Electron.MessagePortMain, 'postMessage' | 'start' | 'close'>
{
  constructor(readonly port: MessagePort) {
    super();
    port.onmessage = (ev: { data: unknown }) => this.emit('message', { data: ev.data, ports: [] });
    port.addEventListener('close', () => this.emit('close'));
  }
  postMessage(message: unknown): void {
    this.port.postMessage(message);
  }
  start(): void {
    this.port.start();
  }
  close(): void {
    this.port.close();
  }
}

export class FakeMessageChannelMain {
  readonly port1: FakeMessagePortMain;
  readonly port2: FakeMessagePortMain;
  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.port1 = new FakeMessagePortMain(port1);
    this.port2 = new FakeMessagePortMain(port2);
  }
}

export class FakeNativeImage implements Pick<Electron.NativeImage, 'setTemplateImage' | 'isTemplateImage'> {
  template = false;
  constructor(readonly path: string) {}
  setTemplateImage(option: boolean): void {
    this.template = option;
  }
  isTemplateImage(): boolean {
    return this.template;
  }
}

/** A built menu: the template, with `click` callable without Electron's arguments. */
export interface FakeMenuItem {
  label?: string;
  type?: string;
  enabled?: boolean;
  checked?: boolean;
  toolTip?: string;
  accelerator?: string;
  role?: string;
  submenu?: FakeMenuItem[];
  click?: () => void;
}

export class FakeMenu {
  constructor(readonly items: FakeMenuItem[]) {}

  /** The item at a path of labels, e.g. ['web — running', 'Pause']. */
  find(labels: string[]): FakeMenuItem {
    let items = this.items;
    let found: FakeMenuItem | undefined;
    for (const l of labels) {
      found = items.find((i) => i.label === l);
      if (!found) throw new Error(`no menu item "${l}" in ${JSON.stringify(items.map((i) => i.label))}`);
      items = found.submenu ?? [];
    }
    if (!found) throw new Error('empty path');
    return found;
  }
}

function toFakeItems(template: readonly (Electron.MenuItemConstructorOptions | Electron.MenuItem)[]): FakeMenuItem[] {
  return template.map((o) => {
    const item: FakeMenuItem = {};
    if (o.label !== undefined) item.label = o.label;
    if (o.type !== undefined) item.type = o.type;
    if (o.enabled !== undefined) item.enabled = o.enabled;
    if (o.checked !== undefined) item.checked = o.checked;
    if (typeof o.accelerator === 'string') item.accelerator = o.accelerator;
    if (o.role !== undefined) item.role = o.role;
    if (o.toolTip !== undefined) item.toolTip = o.toolTip;
    if (Array.isArray(o.submenu)) item.submenu = toFakeItems(o.submenu);
    const click = o.click;
    if (click) item.click = () => Reflect.apply(click, undefined, []);
    return item;
  });
}

/** setContextMenu takes the FakeMenu that the fake Menu.buildFromTemplate returns. */
export class FakeTray extends EventEmitter implements Pick<Electron.Tray, 'setToolTip' | 'destroy'> {
  static instances: FakeTray[] = [];
  menu: FakeMenu | null = null;
  tooltip = '';
  destroyed = false;
  constructor(readonly image: FakeNativeImage | string) {
    super();
    FakeTray.instances.push(this);
  }
  setContextMenu(menu: FakeMenu | null): void {
    this.menu = menu;
  }
  setToolTip(toolTip: string): void {
    this.tooltip = toolTip;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

export class FakeNotification extends EventEmitter implements Pick<Electron.Notification, 'show'> {
  static shown: Electron.NotificationConstructorOptions[] = [];
  static isSupported(): boolean {
    return true;
  }
  constructor(readonly options: Electron.NotificationConstructorOptions = {}) {
    super();
  }
  show(): void {
    FakeNotification.shown.push(this.options);
  }
}

export class FakeSession implements Pick<
  Electron.Session,
  'setPermissionRequestHandler' | 'setPermissionCheckHandler'
> {
  requestHandler: Parameters<Electron.Session['setPermissionRequestHandler']>[0] = null;
  checkHandler: Parameters<Electron.Session['setPermissionCheckHandler']>[0] = null;
  setPermissionRequestHandler(handler: Parameters<Electron.Session['setPermissionRequestHandler']>[0]): void {
    this.requestHandler = handler;
  }
  setPermissionCheckHandler(handler: Parameters<Electron.Session['setPermissionCheckHandler']>[0]): void {
    this.checkHandler = handler;
  }
}

/** The page's side of the main world, as a fresh V8 context with the web globals the page code uses. */
function newMainWorld(): vm.Context {
  return vm.createContext({ TextEncoder, console });
}

class FakeState {
  app = new FakeApp();
  ipcMain = new FakeIpcMain();
  rendererListeners = new Map<string, RendererListener[]>();
  /** Which frame the page's ipcRenderer speaks from (default: the main frame of the first window). */
  rendererEvent: (ports: FakeMessagePortMain[]) => FakeIpcEvent = (ports) => {
    const w = FakeBrowserWindow.instances[0];
    if (!w) throw new Error('no window: the page cannot send IPC');
    return w.webContents.trustedEvent(ports);
  };
  mainWorld: vm.Context = newMainWorld();
  exposed = new Map<string, unknown>();
  privilegedSchemes: Electron.CustomScheme[] = [];
  protocolHandlers = new Map<string, (request: Request) => Response | Promise<Response>>();
  session = new FakeSession();
  openedExternal: string[] = [];
  openedPaths: string[] = [];
  /** What the shell put on the clipboard (clipboard.writeText). */
  clipboardText: string | undefined;
  /** What Menu.setApplicationMenu was last given. */
  applicationMenu: FakeMenu | null = null;
  displays: { workArea: Electron.Rectangle }[] = [{ workArea: { x: 0, y: 0, width: 1920, height: 1080 } }];
  messageBoxes: Electron.MessageBoxOptions[] = [];
  messageBoxResponses: number[] = [];
  /** Whether each message box's checkbox is ticked when it is answered (false when none is left). */
  messageBoxChecks: boolean[] = [];
  errorBoxes: { title: string; content: string }[] = [];
  openDialogs: Electron.OpenDialogOptions[] = [];
  openDialogResults: Electron.OpenDialogReturnValue[] = [];

  readonly ipcRenderer = {
    invoke: (channel: string, ...args: unknown[]): Promise<unknown> =>
      this.ipcMain.invoke(channel, this.rendererEvent([]), ...args),
    on: (channel: string, listener: RendererListener): void => {
      this.rendererListeners.set(channel, [...(this.rendererListeners.get(channel) ?? []), listener]);
    },
    removeListener: (channel: string, listener: RendererListener): void => {
      this.rendererListeners.set(
        channel,
        (this.rendererListeners.get(channel) ?? []).filter((l) => l !== listener),
      );
    },
    postMessage: (channel: string, message: unknown, transfer: MessagePort[] = []): void => {
      this.ipcMain.emit(channel, this.rendererEvent(transfer.map((p) => new FakeMessagePortMain(p))), message);
    },
  } satisfies Pick<Electron.IpcRenderer, 'invoke' | 'postMessage'> & { on: unknown; removeListener: unknown };
}

export let fake = new FakeState();

export function resetFakeElectron(): void {
  FakeBrowserWindow.instances = [];
  FakeTray.instances = [];
  FakeNotification.shown = [];
  fake = new FakeState();
}

/** The module `vi.mock('electron', ...)` returns. Getters: each test's fresh state. */
export const fakeElectronModule = {
  get app() {
    return fake.app;
  },
  get ipcMain() {
    return fake.ipcMain;
  },
  get ipcRenderer() {
    return fake.ipcRenderer;
  },
  BrowserWindow: FakeBrowserWindow,
  Tray: FakeTray,
  Notification: FakeNotification,
  MessageChannelMain: FakeMessageChannelMain,
  Menu: {
    buildFromTemplate: (template: (Electron.MenuItemConstructorOptions | Electron.MenuItem)[]) =>
      new FakeMenu(toFakeItems(template)),
    setApplicationMenu: (menu: FakeMenu | null): void => {
      fake.applicationMenu = menu;
    },
  },
  nativeImage: {
    createFromPath: (path: string) => new FakeNativeImage(path),
  },
  contextBridge: {
    executeInMainWorld: ({ func, args = [] }: Electron.ExecutionScript): unknown => {
      // Electron serializes the function: compile it from its text, in the page's world.
      const compiled = vm.runInContext(`(${func.toString()})`, fake.mainWorld) as (...a: unknown[]) => unknown;
      return compiled(...args);
    },
    exposeInMainWorld: (apiKey: string, api: unknown): void => {
      fake.exposed.set(apiKey, api);
      (fake.mainWorld as Record<string, unknown>)[apiKey] = api;
    },
  } satisfies Pick<Electron.ContextBridge, 'executeInMainWorld' | 'exposeInMainWorld'>,
  webUtils: {
    getPathForFile: (file: File): string => (file as File & { path?: string }).path ?? '',
  } satisfies Pick<Electron.WebUtils, 'getPathForFile'>,
  protocol: {
    registerSchemesAsPrivileged: (schemes: Electron.CustomScheme[]): void => {
      fake.privilegedSchemes.push(...schemes);
    },
    handle: (scheme: string, handler: (request: Request) => Response | Promise<Response>): void => {
      fake.protocolHandlers.set(scheme, handler);
    },
  } satisfies Pick<Electron.Protocol, 'registerSchemesAsPrivileged' | 'handle'>,
  session: {
    get defaultSession() {
      return fake.session;
    },
  },
  shell: {
    openExternal: (url: string): Promise<void> => {
      fake.openedExternal.push(url);
      return Promise.resolve();
    },
    openPath: (path: string): Promise<string> => {
      fake.openedPaths.push(path);
      return Promise.resolve('');
    },
  } satisfies Pick<Electron.Shell, 'openExternal' | 'openPath'>,
  screen: {
    getAllDisplays: () => fake.displays,
  },
  clipboard: {
    writeText: (text: string): void => {
      fake.clipboardText = text;
    },
  } satisfies Pick<Electron.Clipboard, 'writeText'>,
  dialog: {
    showMessageBox: (a: unknown, b?: Electron.MessageBoxOptions): Promise<Electron.MessageBoxReturnValue> => {
      const opts = (b ?? a) as Electron.MessageBoxOptions;
      fake.messageBoxes.push(opts);
      return Promise.resolve({
        response: fake.messageBoxResponses.shift() ?? opts.cancelId ?? 0,
        checkboxChecked: fake.messageBoxChecks.shift() ?? false,
      });
    },
    showOpenDialog: (a: unknown, b?: Electron.OpenDialogOptions): Promise<Electron.OpenDialogReturnValue> => {
      fake.openDialogs.push((b ?? a) as Electron.OpenDialogOptions);
      return Promise.resolve(fake.openDialogResults.shift() ?? { canceled: true, filePaths: [] });
    },
    showErrorBox: (title: string, content: string): void => {
      fake.errorBoxes.push({ title, content });
    },
  } satisfies Pick<Electron.Dialog, 'showMessageBox' | 'showOpenDialog' | 'showErrorBox'>,
};
