/// <reference lib="dom" />
/**
 * The page's side of the Electron stand-in (electron-page.ts bundles it into the page's init
 * script, which runs before any of the page's own scripts). It gives the REAL preload bundle
 * (dist/shell/preload.cjs) the three things it requires of 'electron':
 * - ipcRenderer: invoke / on / removeListener / postMessage(channel, msg, [port]), carried over
 *   one WebSocket to Node, where the real main-process handlers run (registerIpc on the fake
 *   electron's ipcMain). A transferred MessagePort stays here, a real port of this page: its
 *   messages are relayed both ways, so the preload's other end sees a real MessagePort.
 * - contextBridge: executeInMainWorld compiles the function from its source text (the text was
 *   taken from the same bundle in Node and compiled with this script: the page's CSP forbids
 *   eval); values crossing it are copied as Electron's bridge copies them (functions wrapped,
 *   data structured-cloned). Both run in the page's main world: Chromium's isolated worlds are
 *   Electron's part and are not exercised.
 * - webUtils.getPathForFile: Chromium has no file paths; the harness names the real file
 *   behind a dropped File's name (addFile), '' otherwise, as Electron answers for a File not on disk.
 */
import { decodeFrame, encodeFrame, type DownFrame, type UpFrame } from './wire.js';

type Listener = (event: unknown, ...args: unknown[]) => void;

export interface ShimOptions {
  /** The installer's source text, as Function.prototype.toString gave it in Node. */
  installerText: string;
  /** That text, compiled in this world as part of the init script. */
  installer: (...args: unknown[]) => unknown;
  /** The preload bundle, as a CommonJS module function. */
  runPreload: (require: (id: string) => unknown, module: { exports: unknown }, exports: unknown) => void;
}

/** Copies a value across the "bridge" as Electron's contextBridge does. */
function bridged(v: unknown): unknown {
  if (typeof v === 'function') {
    const f = v as (...a: unknown[]) => unknown;
    return (...args: unknown[]) => bridged(f(...args.map(bridged)));
  }
  if (v instanceof Promise) return v.then(bridged, (e: unknown) => Promise.reject(bridged(e)));
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(bridged);
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto === Object.prototype || proto === null) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = bridged(x);
    return o;
  }
  return structuredClone(v); // ArrayBuffer, typed arrays, File/Blob, Error
}

export function install(o: ShimOptions): void {
  const ws = new WebSocket(`ws://${location.host}/__shim/ipc`);
  const outbox: string[] = [];
  const send = (f: UpFrame) => {
    const text = encodeFrame(f);
    if (ws.readyState === WebSocket.OPEN) ws.send(text);
    else outbox.push(text);
  };
  ws.onopen = () => {
    for (const t of outbox.splice(0)) ws.send(t);
  };

  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const listeners = new Map<string, Listener[]>();
  const ports = new Map<number, MessagePort>();

  ws.onmessage = (ev: MessageEvent<string>) => {
    const f = decodeFrame<DownFrame>(ev.data);
    if (f.op === 'reply') {
      const p = pending.get(f.id);
      pending.delete(f.id);
      if (f.ok) p?.resolve(f.value);
      else p?.reject(new Error(f.message));
    } else if (f.op === 'send') {
      for (const l of [...(listeners.get(f.channel) ?? [])]) l({ sender: ipcRenderer, ports: [] }, ...f.args);
    } else if (f.op === 'port') {
      ports.get(f.id)?.postMessage(f.msg);
    } else if (f.op === 'portClose') {
      ports.get(f.id)?.close();
      ports.delete(f.id);
    }
  };
  ws.onclose = () => {
    for (const p of pending.values()) p.reject(new Error('The main process went away.'));
    pending.clear();
  };

  const ipcRenderer = {
    invoke(channel: string, ...args: unknown[]): Promise<unknown> {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        send({ op: 'invoke', id, channel, args });
      });
    },
    on(channel: string, listener: Listener) {
      const list = listeners.get(channel) ?? [];
      if (list.length === 0) send({ op: 'on', channel });
      listeners.set(channel, [...list, listener]);
      return ipcRenderer;
    },
    removeListener(channel: string, listener: Listener) {
      listeners.set(
        channel,
        (listeners.get(channel) ?? []).filter((l) => l !== listener),
      );
      return ipcRenderer;
    },
    postMessage(channel: string, message: unknown, transfer: MessagePort[] = []): void {
      const ids = transfer.map((port) => {
        const id = nextId++;
        ports.set(id, port);
        port.onmessage = (ev: MessageEvent) => send({ op: 'port', id, msg: ev.data });
        return id;
      });
      send({ op: 'postMessage', channel, message, ports: ids });
    },
  };

  const files = new Map<string, string>();
  const electron = {
    ipcRenderer,
    contextBridge: {
      executeInMainWorld(script: { func: (...a: unknown[]) => unknown; args?: unknown[] }): unknown {
        // Electron serializes the function; only the text compiled with the init script can run here.
        if (script.func.toString() !== o.installerText)
          throw new Error('executeInMainWorld: not the function this harness compiled from the preload bundle');
        return bridged(o.installer(...(script.args ?? []).map(bridged)));
      },
      exposeInMainWorld(key: string, api: unknown): void {
        Object.defineProperty(window, key, { value: bridged(api), enumerable: true });
      },
    },
    webUtils: {
      getPathForFile: (file: File): string => files.get(file.name) ?? '',
    },
  };

  // The harness's own hook (not Electron's): which real file a dropped File's name stands for.
  Object.defineProperty(window, '__vmdeskElectronShim', {
    value: Object.freeze({ addFile: (name: string, path: string) => files.set(name, path) }),
  });

  const module = { exports: {} };
  o.runPreload(
    (id) => {
      if (id !== 'electron') throw new Error(`a sandboxed preload cannot require ${id}`);
      return electron;
    },
    module,
    module.exports,
  );
}
