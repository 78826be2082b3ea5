/**
 * `window.vmdesk` for the Electron window, built IN THE PAGE'S OWN WORLD.
 *
 * Why not simply contextBridge.exposeInMainWorld('vmdesk', api): everything the bridge hands to
 * the page is a frozen copy (functions become proxies, prototypes and accessors are dropped), so a
 * StreamChannel made by the preload arrives as a plain object whose `onmessage`, `onopen`... the
 * page can set (noVNC's Websock.attach() and the serial console do exactly that) without the
 * preload ever seeing them. Handlers must live on an object of the page's world.
 *
 * So the preload runs `installVmdeskApi` in the main world with contextBridge.executeInMainWorld
 * (Electron ≥ 35), passing a MainWorldBridge of plain functions (proxied by the bridge; their
 * arguments and results are copied). The installer defines a real StreamChannel class there,
 * with own data properties (noVNC checks `Object.keys` and the prototype's names), and forwards:
 *   page → preload: bridge.call / bridge.onEvent / bridge.openStream(name, params, sink) → {send, close}
 *   preload → page: sink.open() / sink.data(ArrayBuffer) / sink.close(code, reason)
 * The MessagePort stays in the preload (ports cannot cross the bridge).
 *
 * The function is SERIALIZED (Function.prototype.toString) and compiled in the main world: it
 * MUST NOT reference anything outside its own body (no imports, no module constants, no helpers
 * a compiler might inject) and uses only what every page has. build-shell.test.ts runs the
 * bundled copy in a fresh V8 context to keep this true.
 *
 * Errors: a call's promise rejects with an Error carrying `name = 'VmdeskError'`, `code` and
 * `details` (instanceof VmdeskError cannot hold across worlds: the renderer rebuilds it).
 */
import type { CallReply } from './channels.js';

export interface StreamSinkFns {
  open(): void;
  data(bytes: ArrayBuffer): void;
  close(code: number, reason: string): void;
}

export interface StreamControlFns {
  send(bytes: Uint8Array): void;
  close(): void;
}

/** What the preload hands to the installer: functions only (the bridge proxies them). */
export interface MainWorldBridge {
  call(method: string, params: unknown): Promise<CallReply>;
  /** One listener for all events; returns its disposer. */
  onEvent(listener: (name: string, data: unknown) => void): () => void;
  openStream(name: string, params: unknown, sink: StreamSinkFns): StreamControlFns;
}

/** Installs `target.vmdesk` (read-only). `target` is the page's global unless a test passes one. */
export function installVmdeskApi(bridge: MainWorldBridge, target?: object): void {
  const global = (target ?? globalThis) as Record<string, unknown>;
  const CONNECTING = 0,
    OPEN = 1,
    CLOSING = 2,
    CLOSED = 3;
  type Handler<T> = ((ev: T) => void) | null;
  type CloseEv = { code: number; reason: string; wasClean: boolean };

  class BridgedStreamChannel {
    // Own data properties, as noVNC expects of a raw channel.
    binaryType: 'arraybuffer' | 'blob' = 'arraybuffer';
    protocol = '';
    readyState = CONNECTING;
    onopen: Handler<unknown> = null;
    onmessage: Handler<{ data: ArrayBuffer }> = null;
    onclose: Handler<CloseEv> = null;
    onerror: Handler<unknown> = null;
    #control: StreamControlFns;

    constructor(name: string, params: unknown) {
      const ended = (ev: CloseEv) => {
        if (this.readyState === CLOSED) return;
        this.readyState = CLOSED;
        this.onclose?.(ev);
      };
      this.#control = bridge.openStream(name, params, {
        open: () => {
          if (this.readyState !== CONNECTING) return;
          this.readyState = OPEN;
          this.onopen?.({ type: 'open' });
        },
        data: (bytes) => {
          if (this.readyState === OPEN) this.onmessage?.({ data: bytes });
        },
        close: (code, reason) => ended({ code, reason, wasClean: code === 1000 }),
      });
    }

    send(data: ArrayBuffer | ArrayBufferView | string): void {
      // Like WebStreamChannel: input while not open has nowhere to go. Copy now: noVNC reuses its buffer.
      if (this.readyState !== OPEN) return;
      let bytes: Uint8Array;
      if (typeof data === 'string') bytes = new TextEncoder().encode(data);
      else if (ArrayBuffer.isView(data))
        bytes = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
      else bytes = new Uint8Array(data.slice(0));
      this.#control.send(bytes);
    }

    close(code?: number, reason?: string): void {
      if (this.readyState === CLOSING || this.readyState === CLOSED) return;
      this.readyState = CLOSING;
      this.#control.close();
      // As a WebSocket does, report the close asynchronously, with the code the page gave.
      void Promise.resolve().then(() => {
        if (this.readyState === CLOSED) return;
        this.readyState = CLOSED;
        this.onclose?.({ code: code ?? 1000, reason: reason ?? '', wasClean: true });
      });
    }
  }

  type EventListener = (name: string, data: unknown) => void;
  const listeners = new Set<EventListener>();
  bridge.onEvent((name, data) => {
    for (const l of [...listeners]) {
      try {
        l(name, data);
      } catch (err) {
        console.error(err);
      }
    }
  });

  const api = Object.freeze({
    call(method: string, params: unknown): Promise<unknown> {
      return bridge.call(method, params).then((reply) => {
        if (reply.ok) return reply.result;
        const err = new Error(reply.error.message) as Error & { code?: string; details?: Record<string, unknown> };
        err.name = 'VmdeskError';
        err.code = reply.error.code;
        if (reply.error.details) err.details = reply.error.details;
        throw err;
      });
    },
    onEvent(listener: EventListener): () => void {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    // IPC is up for as long as the window exists.
    onConnection(listener: (state: 'open') => void): () => void {
      listener('open');
      return () => {};
    },
    openStream(name: string, params: unknown): BridgedStreamChannel {
      return new BridgedStreamChannel(name, params);
    },
  });
  Object.defineProperty(global, 'vmdesk', { value: api, enumerable: true, configurable: false, writable: false });
}
