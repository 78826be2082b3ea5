/**
 * The preload's logic, without Electron: it turns ipcRenderer into the MainWorldBridge that
 * `installVmdeskApi` wraps (see main-world.ts for why) and into `window.vmdeskShell`.
 * preload.ts only feeds it the real ipcRenderer, MessageChannel and webUtils.
 */
import { isAppCommand, STREAM_CLOSE } from '../common/api.js';
import { isCallName, isStreamName } from '../common/contract.js';
import {
  IPC,
  PORT_FLOW,
  type CallReply,
  type PickKind,
  type PortDown,
  type PortUp,
  type ShellEvent,
  type VmdeskShellApi,
} from './channels.js';
import type { MainWorldBridge, StreamControlFns } from './main-world.js';

/** The part of Electron's ipcRenderer used here. */
export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  postMessage(channel: string, message: unknown, transfer: MessagePort[]): void;
}

const refused = (message: string): CallReply => ({ ok: false, error: { code: 'invalid-argument', message } });

export function createMainWorldBridge(ipc: IpcRendererLike, newChannel: () => MessageChannel): MainWorldBridge {
  return {
    // The method list is the contract's: anything else never reaches the main process.
    call: async (method, params) => {
      if (!isCallName(method)) return refused(`Unknown method ${String(JSON.stringify(method)).slice(0, 100)}.`);
      return (await ipc.invoke(IPC.call, method, params)) as CallReply;
    },
    onEvent: (listener) => {
      const h = (_e: unknown, name: unknown, data: unknown) => {
        if (typeof name === 'string') listener(name, data);
      };
      ipc.on(IPC.event, h);
      return () => {
        ipc.removeListener(IPC.event, h);
      };
    },
    openStream: (name, params, sink): StreamControlFns => {
      if (!isStreamName(name)) {
        void Promise.resolve().then(() =>
          sink.close(STREAM_CLOSE.refused, `Unknown stream ${String(JSON.stringify(name)).slice(0, 100)}.`),
        );
        return { send: () => {}, close: () => {} };
      }
      const { port1, port2 } = newChannel();
      let closed = false;
      // What the page has taken since the last ack: acked once it is worth a message (PORT_FLOW).
      let takenBytes = 0;
      let takenMessages = 0;
      // The page's input: posted while the main process has acked all but a window of it
      // (PORT_FLOW); held here meanwhile (QEMU takes no more: a paused guest).
      const held: Uint8Array[] = [];
      let unacked = 0;
      const sendHeld = () => {
        while (!closed && held.length > 0 && unacked < PORT_FLOW.windowBytes) {
          const d = held.shift()!;
          unacked += d.byteLength + PORT_FLOW.messageOverheadBytes;
          port1.postMessage({ t: 'data', d } satisfies PortUp);
        }
      };
      port1.onmessage = (ev: { data: unknown }) => {
        const m = ev.data as PortDown;
        if (closed) return;
        if (m.t === 'open') sink.open();
        else if (m.t === 'ack') {
          unacked = Math.max(0, unacked - m.bytes - m.messages * PORT_FLOW.messageOverheadBytes);
          if (unacked <= PORT_FLOW.windowBytes / 2) sendHeld();
        } else if (m.t === 'data') {
          // Hand the page an ArrayBuffer holding exactly the chunk (the bridge copies it once more).
          sink.data(m.d.buffer.slice(m.d.byteOffset, m.d.byteOffset + m.d.byteLength) as ArrayBuffer);
          takenBytes += m.d.byteLength;
          takenMessages++;
          if (!closed && (takenBytes >= PORT_FLOW.ackBytes || takenMessages >= PORT_FLOW.ackMessages)) {
            port1.postMessage({ t: 'ack', bytes: takenBytes, messages: takenMessages } satisfies PortUp);
            takenBytes = 0;
            takenMessages = 0;
          }
        } else if (m.t === 'close') {
          closed = true;
          held.length = 0;
          port1.close();
          sink.close(m.code, m.reason);
        }
      };
      ipc.postMessage(IPC.stream, { name, params }, [port2]);
      return {
        send: (bytes) => {
          if (closed) return;
          const max = PORT_FLOW.inputMessageBytes;
          // Pieces of their own: structured clone copies a view's whole buffer.
          if (bytes.byteLength <= max) held.push(bytes);
          else for (let at = 0; at < bytes.byteLength; at += max) held.push(bytes.slice(at, at + max));
          sendHeld();
        },
        close: () => {
          if (closed) return;
          closed = true;
          held.length = 0;
          port1.postMessage({ t: 'close' } satisfies PortUp);
          port1.close();
        },
      };
    },
  };
}

type Kind = ShellEvent['kind'];
type Payload<K extends Kind> = Omit<Extract<ShellEvent, { kind: K }>, 'kind'>;

/**
 * `window.vmdeskShell`. Shell events that say what to show (an ISO given at launch, the tray's
 * Open console, before React mounted) are kept until the first listener of their kind registers.
 * A menu `command` is not: one clicked before the page listens would run later, against
 * whatever is selected then; it is dropped (the user clicks again once the window shows).
 */
export function createShellApi(ipc: IpcRendererLike, pathForFile: (file: Blob) => string): VmdeskShellApi {
  type Listener = (payload: object) => void;
  const listeners = new Map<Kind, Set<Listener>>();
  const pending = new Map<Kind, object[]>();
  const deliver = (l: Listener, payload: object) => {
    try {
      l(payload);
    } catch (err) {
      console.error(err);
    }
  };
  ipc.on(IPC.shellEvent, (_e, ev) => {
    if (typeof ev !== 'object' || ev === null) return;
    const { kind, ...payload } = ev as ShellEvent;
    const set = listeners.get(kind);
    if (set && set.size > 0) for (const l of set) deliver(l, payload);
    else if (kind !== 'command') pending.set(kind, [...(pending.get(kind) ?? []), payload]);
  });
  const on = <K extends Kind>(kind: K, listener: (p: Payload<K>) => void): (() => void) => {
    const l = listener as Listener; // every payload of `kind` is a Payload<K>
    const set = listeners.get(kind) ?? new Set();
    listeners.set(kind, set);
    set.add(l);
    for (const p of pending.get(kind)?.splice(0) ?? []) deliver(l, p);
    return () => {
      set.delete(l);
    };
  };
  const pick = async (kind: PickKind) => {
    const r = await ipc.invoke(IPC.pick, kind);
    return typeof r === 'string' ? r : null;
  };
  return {
    onOpenIso: (l) => on('openIso', l),
    onOpenConsole: (l) => on('openConsole', l),
    // Only the commands the page knows: a newer main process may send more.
    onCommand: (l) =>
      on('command', (c) => {
        if (isAppCommand(c.command)) l(c);
      }),
    // postMessage, not send: the same one-way message, and the only one ipcRenderer needs here.
    reportSelection: (vm) => ipc.postMessage(IPC.selection, typeof vm === 'string' ? vm : null, []),
    pickIso: () => pick('iso'),
    pickDisk: () => pick('disk'),
    pathForFile: (file) => pathForFile(file),
    loginItem: async (enabled) => {
      const r = (await ipc.invoke(IPC.loginItem, enabled)) as { value?: unknown; error?: unknown } | null;
      if (r && typeof r.error === 'string') throw new Error(r.error);
      return typeof r?.value === 'boolean' ? r.value : null;
    },
  };
}
