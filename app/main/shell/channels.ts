/**
 * What the Electron main process, the preload and the page agree on: the IPC channel names, the
 * app:// origin the page is served from, and the messages on a stream's MessagePort.
 * Plain TS (no electron, no node): the preload bundle and the main bundle both import it.
 */
import type { AppCommand } from '../common/api.js';
import type { SerializedError } from '../common/errors.js';

/** Every IPC channel. The contract's calls share ONE channel; the method name is an argument. */
export const IPC = {
  /** invoke(method, params) → CallReply. */
  call: 'vmdesk:call',
  /** main → page: (name, data), the contract's events. */
  event: 'vmdesk:event',
  /** postMessage(StreamRequest, [port]): opens a contract stream on the transferred port. */
  stream: 'vmdesk:stream',
  /** main → page: ShellEvent (an ISO to open, a console to show). */
  shellEvent: 'vmdesk-shell:event',
  /** invoke(PickKind) → string | null: a native open-file dialog. */
  pick: 'vmdesk-shell:pick',
  /** page → main, postMessage(vmId | null): the VM the page shows (the app menu follows it). */
  selection: 'vmdesk-shell:selection',
  /** invoke(enabled?: boolean) → boolean | null: "Start vmdesk at login", set when `enabled` is
   * given, then read; null where it is not offered. A failure to set is `{error: sentence}`. */
  loginItem: 'vmdesk-shell:login-item',
} as const;

/**
 * The page is served by our own privileged scheme (protocol.handle), never file://: it gets a
 * real origin for the CSP, `'self'` and the sender check, and file:// pages could read any file.
 */
export const APP_SCHEME = 'app';
export const APP_HOST = 'vmdesk';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_URL = `${APP_ORIGIN}/index.html`;

/** The reply of `IPC.call`. Errors travel as data: a rejected invoke() loses `.code` and `.details`. */
export type CallReply = { ok: true; result: unknown } | { ok: false; error: SerializedError };

export interface StreamRequest {
  name: unknown;
  params: unknown;
}

/**
 * Main → preload on a stream's port. `open` comes first, `close` last (then the port closes).
 * `ack`: the driver's stream has taken `bytes` of the page's input in `messages` data messages
 * since the last ack (see PORT_FLOW; none while QEMU takes no more input).
 */
export type PortDown =
  | { t: 'open' }
  | { t: 'data'; d: Uint8Array }
  | { t: 'ack'; bytes: number; messages: number }
  | { t: 'close'; code: number; reason: string };

/**
 * Preload → main on a stream's port. `ack`: the page has taken `bytes` in `messages` data
 * messages since the last ack (MessagePorts have no backpressure of their own; see PORT_FLOW).
 */
export type PortUp = { t: 'data'; d: Uint8Array } | { t: 'close' } | { t: 'ack'; bytes: number; messages: number };

/**
 * Flow control on a stream's port, the same both ways. The sender counts what it posted and the
 * other side has not acknowledged, as memory (payload plus `messageOverheadBytes` per message:
 * each is a structured clone and an IPC message); past `windowBytes` it stops posting, and posts
 * again once acks bring the count under half the window. The receiver acks once it has taken
 * `ackBytes`, or `ackMessages` messages. What a receiver may hold unacknowledged (< ackBytes +
 * ackMessages × overhead) MUST stay under half the window, or a stream could stall.
 *
 * Output (main → page): the page acks what it has handed on; while the window is full the
 * stream's channel holds (and, past its budget, drops the viewer or pauses the source).
 * Input (page → main): the main process acks what the driver's stream has taken, and stops
 * acking while QEMU takes no more (a paused guest); the preload then holds the page's input
 * instead of the main process. It posts at most `inputMessageBytes` per message.
 */
export const PORT_FLOW = {
  windowBytes: 512 * 1024,
  messageOverheadBytes: 512,
  ackBytes: 32 * 1024,
  ackMessages: 64,
  inputMessageBytes: 64 * 1024,
} as const;

export type PickKind = 'iso' | 'disk';

/** Things the shell asks the page to do (the page decides how: the wizard, the console tab). */
export type ShellEvent =
  /** Open the create-VM wizard with this ISO (second launch with a path, macOS open-file, argv). */
  | { kind: 'openIso'; path: string }
  /** Show this VM's console (tray menu). */
  | { kind: 'openConsole'; vm: string }
  /** A command from the app menu, for `vm` (absent: whatever the page has selected). */
  | { kind: 'command'; command: AppCommand; vm?: string };

export type { AppCommand, VmdeskShellApi } from '../common/api.js';
