/**
 * The Electron window without Electron (its binary cannot run here): the REAL main-process shell
 * (`runShell` from app/main/shell/shell-app.ts, so registerIpc, the sender check, driver-bridge's
 * routeCall and pipeStream, the app:// handler with its CSP, the event forwarding) runs in this
 * Node process against the typed fake electron, over a REAL DriverLink; the REAL preload bundle
 * (dist/shell/preload.cjs, built by scripts/build-shell.mjs) and the REAL renderer bundle
 * (dist/renderer, which picks electronApi() because window.vmdesk exists) run in Debian's
 * Chromium. Only ipcRenderer, contextBridge and webUtils are stood in for
 * (electron-shim/page-shim.ts); their messages travel over one WebSocket to this process.
 *
 * Streams: the preload's `new MessageChannel()` is a real one of the page; the port it transfers
 * stays in the page, and its messages are relayed (binary-safe) to one end of a Node
 * MessageChannel whose other end, wrapped as the fake's MessagePortMain, is what ipcMain hands to
 * pipeStream. Both halves of the PORT_FLOW flow control run unchanged; `CountingPortMain`
 * records what pipeStream posted and what the page acknowledged.
 *
 * What is NOT exercised: Chromium's isolated world for the preload (it runs in the page's main
 * world; contextBridge's copying is imitated), Electron's own IPC and MessagePortMain (a
 * WebSocket and Node MessagePorts carry them), the app:// scheme itself (the page is on
 * http://127.0.0.1 and the sender check is given the window's app:// main frame, for a socket
 * whose Origin is this server's), the sandboxed renderer process, and native dialogs.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import vm from 'node:vm';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { WebSocketServer, type WebSocket } from 'ws';
import type { DriverLink } from '../../app/main/ipc/driver-link.js';
import type { AppPaths } from '../../app/main/paths/app-paths.js';
import { PORT_FLOW, type PortDown, type PortUp, type StreamRequest } from '../../app/main/shell/channels.js';
import { shellLayout, type ShellLayout } from '../../app/main/shell/layout.js';
import { runShell } from '../../app/main/shell/shell-app.js';
import {
  fake,
  FakeBrowserWindow,
  FakeMessagePortMain,
  resetFakeElectron,
} from '../../app/main/shell/testing/fake-electron.js';
import { AppPage } from '../pages/app-page.js';
import { REPO, waitFor } from './cli.js';
import { decodeFrame, encodeFrame, type DownFrame, type UpFrame } from './electron-shim/wire.js';
import { launchChromium } from './web.js';

/**
 * The main process's end of one stream port, as ipcMain hands it to pipeStream, counting the
 * flow: bytes are counted as PORT_FLOW counts them (payload + messageOverheadBytes a message).
 */
export class CountingPortMain extends FakeMessagePortMain {
  postedBytes = 0;
  ackedBytes = 0;
  /** The most that was ever posted and not yet acknowledged by the page. */
  maxUnacked = 0;
  /** The largest single data message (with its overhead). */
  largestMessage = 0;
  dataMessages = 0;
  closed = false;

  constructor(
    port: MessagePort,
    readonly request: StreamRequest,
  ) {
    super(port);
    this.on('message', (ev: { data: unknown }) => {
      const m = ev.data as PortUp | undefined;
      if (m?.t === 'ack') this.ackedBytes += m.bytes + m.messages * PORT_FLOW.messageOverheadBytes;
    });
    this.on('close', () => {
      this.closed = true;
    });
  }

  get unacked(): number {
    return this.postedBytes - this.ackedBytes;
  }

  override postMessage(message: unknown): void {
    const m = message as PortDown;
    if (m.t === 'data') {
      const n = m.d.byteLength + PORT_FLOW.messageOverheadBytes;
      this.postedBytes += n;
      this.dataMessages++;
      this.largestMessage = Math.max(this.largestMessage, n);
      this.maxUnacked = Math.max(this.maxUnacked, this.unacked);
    }
    super.postMessage(message);
  }
}

export interface ElectronWindowOptions {
  paths: AppPaths;
  /** What main.ts passes as openLink (the harness calls it once, through runShell). */
  openLink(layout: ShellLayout): Promise<DriverLink>;
  /** Receives the cleanups, run by the caller (last first). */
  defer(cleanup: () => Promise<void> | void): void;
}

export interface ElectronWindow {
  page: Page;
  app: AppPage;
  /** The driver link the shell opened. */
  link: Promise<DriverLink>;
  /** Every stream port the main process was handed, oldest first. */
  ports: CountingPortMain[];
  /** What the shell logged (refused IPC, stream failures). */
  log: string[];
  /** Errors the page threw (uncaught) since it opened. */
  pageErrors: string[];
  /** Makes `realPath` the file behind a dropped File of the same name (webUtils.getPathForFile). */
  addFile(realPath: string): Promise<void>;
  /**
   * Blocks the page's event loop (a synchronous XMLHttpRequest that this server answers only
   * later) while `during` runs, then lets it go on. No task of the page runs meanwhile: no
   * WebSocket, MessagePort or rendering work.
   */
  whilePageBlocked<T>(during: () => Promise<T>): Promise<T>;
}

const SHIM_ENTRY = path.join(REPO, 'e2e/support/electron-shim/page-shim.ts');

/** The page-shim bundle, as a script that defines `var __vmdeskShim`. */
async function shimBundle(): Promise<string> {
  const r = await build({
    entryPoints: [SHIM_ENTRY],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: '__vmdeskShim',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'warning',
  });
  return r.outputFiles[0]!.text;
}

/**
 * The text of the function the preload hands to contextBridge.executeInMainWorld: the bundle is
 * run once in a Node V8 context with an electron that only records (as build-shell.test.ts does).
 */
function installerText(preload: string): string {
  let func: ((...a: unknown[]) => unknown) | undefined;
  const electron = {
    contextBridge: {
      executeInMainWorld: (s: { func: (...a: unknown[]) => unknown }) => {
        func = s.func;
      },
      exposeInMainWorld: () => {},
    },
    ipcRenderer: { invoke: async () => undefined, on: () => {}, removeListener: () => {}, postMessage: () => {} },
    webUtils: { getPathForFile: () => '' },
  };
  vm.runInNewContext(preload, {
    require: (id: string) => {
      if (id !== 'electron') throw new Error(`the preload requires ${id}`);
      return electron;
    },
    module: { exports: {} },
    exports: {},
    console,
  });
  if (!func) throw new Error('the preload never called contextBridge.executeInMainWorld');
  return func.toString();
}

/** The page's init script: the shim, the installer compiled from its text, the preload as a CommonJS function. */
async function initScript(preloadFile: string): Promise<string> {
  const preload = fs.readFileSync(preloadFile, 'utf8');
  const text = installerText(preload);
  return [
    '(() => {',
    "if (location.protocol !== 'http:') return;",
    await shimBundle(),
    '__vmdeskShim.install({',
    `  installerText: ${JSON.stringify(text)},`,
    `  installer: (${text}),`,
    `  runPreload: function (require, module, exports) {\n${preload}\n},`,
    '});',
    '})();',
  ].join('\n');
}

/** Starts the shell on the fake electron and opens its window's page in Chromium. */
export async function openElectronWindow(o: ElectronWindowOptions): Promise<ElectronWindow> {
  resetFakeElectron();
  const layout = shellLayout(path.join(REPO, 'dist/shell'));
  const log: string[] = [];
  let link: Promise<DriverLink> | undefined;
  runShell(layout, {
    paths: o.paths,
    openLink: () => (link = o.openLink(layout)),
    argv: [process.execPath, REPO],
    cwd: REPO,
    platform: 'linux',
    log: (line) => log.push(line),
  });
  await waitFor(() => FakeBrowserWindow.instances.length > 0 && fake.protocolHandlers.has('app'), 'the shell window');
  if (!link) throw new Error('the shell did not open its driver link');
  const opened = link;
  // The shell keeps the link; the harness closes it after the window (VMs keep running, as at quit).
  o.defer(async () => {
    await (await opened.catch(() => undefined))?.close();
  });
  const window = (): FakeBrowserWindow => {
    const w = FakeBrowserWindow.instances.findLast((x) => !x.destroyed);
    if (!w) throw new Error('the shell has no window');
    return w;
  };
  const preloadFile = window().options.webPreferences?.preload;
  if (!preloadFile) throw new Error('the window has no preload');
  const script = await initScript(preloadFile);

  const ports: CountingPortMain[] = [];
  let hold: { entered(): void; answer: Promise<string> } | undefined;
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname === '/__shim/hold') {
        const h = hold;
        if (!h) return res.writeHead(409).end('nothing to wait for');
        h.entered();
        return res.writeHead(200, { 'Content-Type': 'text/plain' }).end(await h.answer);
      }
      // The window's own app:// handler (window.ts serveApp → window-policy.ts appResponse).
      const handler = fake.protocolHandlers.get('app')!;
      const r = await handler(new Request(`app://vmdesk${url.pathname}${url.search}`, { method: req.method }));
      const headers: Record<string, string> = {};
      r.headers.forEach((v, k) => (headers[k] = v));
      res.writeHead(r.status, headers);
      res.end(Buffer.from(await r.arrayBuffer()));
    })().catch((err: unknown) => {
      res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    // Only our page may speak for the window (the sender check is given its main frame).
    if (req.url !== '/__shim/ipc' || req.headers.origin !== origin) return void socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => serveIpc(ws));
  });
  o.defer(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );

  function serveIpc(ws: WebSocket): void {
    const down = (f: DownFrame) => {
      if (ws.readyState === ws.OPEN) ws.send(encodeFrame(f));
    };
    /** The page's port id → this process's end of the relay. */
    const relays = new Map<number, MessagePort>();
    const subscriptions: [string, (e: object, ...args: unknown[]) => void][] = [];
    ws.on('message', (data: Buffer) => {
      const f = decodeFrame<UpFrame>(data.toString('utf8'));
      if (f.op === 'invoke') {
        fake.ipcMain.invoke(f.channel, window().webContents.trustedEvent(), ...f.args).then(
          (value) => down({ op: 'reply', id: f.id, ok: true, value }),
          (err: unknown) =>
            down({ op: 'reply', id: f.id, ok: false, message: `Error invoking remote method '${f.channel}': ${err}` }),
        );
      } else if (f.op === 'on') {
        const l = (_e: object, ...args: unknown[]) => down({ op: 'send', channel: f.channel, args });
        fake.ipcRenderer.on(f.channel, l);
        subscriptions.push([f.channel, l]);
      } else if (f.op === 'postMessage') {
        const mains = f.ports.map((id) => {
          const { port1, port2 } = new MessageChannel();
          const main = new CountingPortMain(port2, f.message as StreamRequest);
          ports.push(main);
          relays.set(id, port1);
          port1.onmessage = (ev: MessageEvent) => down({ op: 'port', id, msg: ev.data });
          port1.addEventListener('close', () => {
            relays.delete(id);
            down({ op: 'portClose', id });
          });
          return main;
        });
        fake.ipcMain.emit(f.channel, window().webContents.trustedEvent(mains), f.message);
      } else if (f.op === 'port') {
        relays.get(f.id)?.postMessage(f.msg);
      }
    });
    ws.on('close', () => {
      // The page is gone: its ports close, as a renderer's do when it goes away.
      for (const p of relays.values()) p.close();
      for (const [channel, l] of subscriptions) fake.ipcRenderer.removeListener(channel, l);
    });
  }

  const browser: Browser = await launchChromium();
  o.defer(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.addInitScript({ content: script });
  await page.goto(`${origin}/index.html`);

  return {
    page,
    app: new AppPage(page),
    link: opened,
    ports,
    log,
    pageErrors,
    addFile: (realPath) =>
      page.evaluate(
        ([name, p]) =>
          (
            window as unknown as { __vmdeskElectronShim: { addFile(n: string, p: string): void } }
          ).__vmdeskElectronShim.addFile(name, p),
        [path.basename(realPath), realPath] as const,
      ),
    async whilePageBlocked<T>(during: () => Promise<T>): Promise<T> {
      let entered!: () => void;
      const inside = new Promise<void>((r) => (entered = r));
      let release!: (answer: string) => void;
      hold = { entered, answer: new Promise<string>((r) => (release = r)) };
      const blocked = page.evaluate(() => {
        const x = new XMLHttpRequest();
        x.open('GET', '/__shim/hold', false);
        x.send();
        if (x.responseText !== 'go') throw new Error(`blocked page released with ${x.responseText}`);
      });
      await Promise.race([
        inside,
        blocked.then(() => Promise.reject(new Error('the page never blocked on the hold request'))),
      ]);
      try {
        return await during();
      } finally {
        release('go');
        hold = undefined;
        await blocked;
      }
    },
  };
}
