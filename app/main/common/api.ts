/**
 * What the renderer (and any other client) sees of vmdesk, whatever carries it: the Electron
 * preload (IPC + MessagePorts) or the browser client of `vmdesk web` (WebSockets).
 */
import type {
  CallName,
  CallParams,
  CallResults,
  ContractEvents,
  EventName,
  StreamName,
  StreamParams,
} from './contract.js';
import type { VmState } from './vm-types.js';

/**
 * A byte stream shaped like the part of the WebSocket API that noVNC and xterm adapters use,
 * so noVNC can take it directly in place of a URL (noVNC's Websock.attach() checks for exactly
 * send, close, binaryType, onerror, onmessage, onopen, protocol and readyState). Binary frames only; `onclose` carries
 * the driver's reason (e.g. "The VM stopped.") and code 1000, or code >= 4000 for an error.
 */
export interface StreamChannel {
  binaryType: 'arraybuffer' | 'blob';
  readonly protocol: string;
  /** 0 connecting, 1 open, 2 closing, 3 closed (WebSocket's numbers). */
  readonly readyState: number;
  send(data: ArrayBuffer | ArrayBufferView | string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: ArrayBuffer }) => void) | null;
  onclose: ((ev: StreamCloseEvent) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** The part of a WebSocket CloseEvent that matters (common/ has no DOM types). */
export interface StreamCloseEvent {
  code: number;
  reason: string;
  wasClean: boolean;
}

export type ConnectionState = 'connecting' | 'open' | 'closed';

export interface VmdeskApi {
  call<C extends CallName>(method: C, params: CallParams<C>): Promise<CallResults[C]>;
  /** Every event pushed by the driver (full objects). Returns a disposer. */
  onEvent(listener: <E extends EventName>(name: E, data: ContractEvents[E]) => void): () => void;
  /** The connection to the driver: a reconnect after it was lost should trigger a fresh vm.list. */
  onConnection(listener: (state: ConnectionState) => void): () => void;
  openStream<S extends StreamName>(name: S, params: StreamParams<S>): StreamChannel;
}

/**
 * Close codes for streams (the WebSocket range for applications starts at 4000).
 * The close reason is the sentence for the user (at most 123 bytes, the WebSocket limit).
 */
export const STREAM_CLOSE = {
  /** The driver ended the stream normally (the VM stopped, the console was closed). */
  ended: 1000,
  /** The stream could not be opened: not running, unknown VM, invalid arguments. */
  refused: 4400,
  /** Authentication failed (web mode: wrong token). */
  unauthorized: 4401,
  /** An internal error in the driver. */
  failed: 4500,
} as const;

/**
 * The web wire protocol (vmdesk web), for the browser client and the server:
 * - `GET /...` serves the built renderer. The page URL carries the token after `#token=`.
 * - WebSocket `/api?token=T`: text frames, one JSON object each, exactly the control-socket
 *   messages: `{id, method, params}` → `{id, result}` | `{id, error: {code, message, details}}`;
 *   `{id, subscribe: true}` → `{id, result: {}}` then `{event, data}` frames. A malformed frame
 *   gets an error reply and the connection stays open.
 * - WebSocket `/stream?token=T&name=<StreamName>&params=<JSON, URI-encoded>`: binary frames both
 *   ways; it closes with a STREAM_CLOSE code and the reason sentence.
 * - `PUT /upload?token=T&name=<file>.iso` with the file as the body (Content-Length required):
 *   an ISO into the ISO library; `{path, plan}` (the IsoPlan) or `{error}`.
 * All three check the token and the Origin header against the page's own origin.
 */
export const WEB_PATHS = { api: '/api', stream: '/stream', upload: '/upload' } as const;

/**
 * What the app menu and the page's keyboard shortcuts ask for. The page carries out every one
 * but `openLogsFolder` (the main process opens a folder; a browser cannot). VM commands apply to
 * the selected VM, or to the `vm` a shell event names.
 */
export const APP_COMMANDS = [
  'newVm',
  'createFromIso',
  'start',
  'shutdown',
  'stop',
  'pause',
  'resume',
  'reboot',
  'snapshot',
  'delete',
  'showScreen',
  'showSerial',
  'showLogs',
  'fullscreen',
  'openLogsFolder',
] as const;
export type AppCommand = (typeof APP_COMMANDS)[number];

export function isAppCommand(v: unknown): v is AppCommand {
  return typeof v === 'string' && (APP_COMMANDS as readonly string[]).includes(v);
}

/**
 * The states a VM command applies in (the driver's own checks, mirrored so that menus and
 * buttons offer only what it will do). The window's toolbar and the app menu both read it.
 */
export const VM_COMMAND_STATES = {
  start: ['stopped', 'crashed'],
  shutdown: ['running'],
  stop: ['running', 'paused', 'starting', 'stopping'],
  pause: ['running'],
  resume: ['paused'],
  reboot: ['running', 'paused'],
  // A broken VM (its file unreadable) can be deleted too: the driver removes the file and the
  // VM's own folders, never a disk outside them.
  delete: ['stopped', 'crashed', 'broken'],
} as const satisfies Record<string, readonly VmState[]>;
export type VmCommand = keyof typeof VM_COMMAND_STATES;

export function vmCommandAllowed(command: VmCommand, state: VmState): boolean {
  return (VM_COMMAND_STATES[command] as readonly VmState[]).includes(state);
}

/**
 * `window.vmdeskShell` in the Electron window (absent in `vmdesk web`): what only a desktop app
 * can do. Every `on...` returns a disposer; events that arrive before the page listens are kept
 * and delivered to the first listener.
 */
export interface VmdeskShellApi {
  onOpenIso(listener: (req: { path: string }) => void): () => void;
  onOpenConsole(listener: (req: { vm: string }) => void): () => void;
  /** A command from the app menu (`vm`: the VM it is for; absent: the selected one). */
  onCommand(listener: (req: { command: AppCommand; vm?: string }) => void): () => void;
  /** Tells the main process which VM the page shows (the app menu's VM items follow it). */
  reportSelection(vm: string | null): void;
  /** A native file dialog; null when cancelled. */
  pickIso(): Promise<string | null>;
  pickDisk(): Promise<string | null>;
  /** The file system path of a dropped file (Electron ≥ 32 no longer sets File.path). */
  pathForFile(file: Blob): string;
  /**
   * "Start vmdesk at login" (in the tray only): turned on or off when `enabled` is given, then
   * read back; null where this system has no such thing. Rejects with the reason it failed.
   */
  loginItem(enabled?: boolean): Promise<boolean | null>;
}
