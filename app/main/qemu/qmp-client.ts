// A QMP client as an explicit state machine, after QEMU's python/qemu/qmp/protocol.py:
//   idle → connecting → negotiating → running → disconnecting → closed
// Any failure goes straight to `closed` after rolling back (socket destroyed, timers cleared,
// pending requests settled) and keeps the root cause as `cause`. A client is single-use: to
// reconnect, make a new one.
import { performance } from 'node:perf_hooks';
import net from 'node:net';
import { QmpCommandError, QmpConnectionError, QmpTimeoutError } from './qmp-types.js';
import type { QmpEvent, QmpState } from './qmp-types.js';

export interface QmpClientOptions {
  /** Per-request timeout in ms (default 10_000). Also bounds the wait for the greeting. */
  requestTimeoutMs?: number;
  /**
   * For connect(): total time in ms to keep retrying while the socket does not exist yet or
   * refuses (ENOENT/ECONNREFUSED) — QEMU creates its socket a few ms after spawn.
   * Default 0 = single attempt.
   */
  connectRetryMs?: number;
  /**
   * Cancels connect() (which rejects with QmpConnectionError, `cause` = the abort reason) and
   * closes the client; aborting a running client is treated like close().
   */
  signal?: AbortSignal;
}

/** What QEMU says about itself in the `{"QMP": ...}` greeting. */
export interface QmpGreeting {
  version: { major: number; minor: number; micro: number };
  package: string;
  capabilities: string[];
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const RETRYABLE = new Set(['ENOENT', 'ECONNREFUSED']);
/** connect() polls for the socket after 2, 4, 8, 10, 10... ms. QEMU makes it ~20 ms after spawn
 * (TCG, 2 cores) and answers `qmp_capabilities` once its machine is built, ~15 ms later; a
 * coarser poll (it was 5, 10, 20, 25) connected up to 15 ms late, past that point on a loaded
 * machine. A refused attempt on a unix socket costs microseconds. */
const FIRST_RETRY_DELAY_MS = 2;
const MAX_RETRY_DELAY_MS = 10;
/** Events kept while nobody listens (oldest dropped first), so a late subscriber misses none. */
const MAX_BACKLOG = 1000;
/** A line longer than this is not QMP; refuse it instead of growing without bound. */
const MAX_LINE_CHARS = 64 * 1024 * 1024;
/** How long close() waits for QEMU to close its end before destroying the socket. */
const CLOSE_GRACE_MS = 1000;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Listener errors must not corrupt the client: rethrow them outside our call stack. */
function callSafely(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

export class QmpClient {
  #state: QmpState = 'idle';
  #socket: net.Socket | undefined;
  #greeting: QmpGreeting | undefined;
  #buffer = '';
  #nextId = 1;
  #quitSent = false;
  #closeCause: Error | undefined;
  /** Retry backoff, greeting wait or close grace: at most one at a time. */
  #timer: NodeJS.Timeout | undefined;
  #connecting: { resolve: () => void; reject: (err: Error) => void } | undefined;
  #backlog: QmpEvent[] = [];
  readonly #pending = new Map<number, Pending>();
  readonly #eventListeners = new Set<(e: QmpEvent) => void>();
  readonly #closeListeners = new Set<(cause?: Error) => void>();
  readonly #closed: Promise<void>;
  #markClosed!: () => void;
  readonly #timeoutMs: number;
  readonly #options: QmpClientOptions;

  constructor(
    readonly socketPath: string,
    options: QmpClientOptions = {},
  ) {
    this.#options = options;
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#closed = new Promise((resolve) => (this.#markClosed = resolve));
  }

  get state(): QmpState {
    return this.#state;
  }

  /** QEMU's version and capabilities from the greeting; undefined until negotiation starts. */
  get greeting(): QmpGreeting | undefined {
    return this.#greeting;
  }

  /**
   * Connects, reads the greeting, sends `qmp_capabilities` and resolves once `running`.
   * MUST be called at most once, from `idle`. On failure the client is `closed` and the
   * promise rejects with a QmpConnectionError whose `cause` is the root cause.
   * Note: QEMU serves one QMP client per socket; a second client connects but never gets a
   * greeting, so it fails after `requestTimeoutMs`.
   */
  connect(): Promise<void> {
    if (this.#state !== 'idle') {
      return Promise.reject(new QmpConnectionError(`connect() called while ${this.#state}`));
    }
    const { signal } = this.#options;
    const done = new Promise<void>((resolve, reject) => (this.#connecting = { resolve, reject }));
    if (signal?.aborted) {
      this.#teardown(this.#abortReason(), 'QMP connect aborted');
    } else {
      signal?.addEventListener('abort', this.#onAbort, { once: true });
      this.#state = 'connecting';
      this.#attempt(performance.now() + (this.#options.connectRetryMs ?? 0), FIRST_RETRY_DELAY_MS);
    }
    return done;
  }

  /**
   * Sends one command and resolves with its `return`. Rejects with QmpCommandError (QEMU
   * refused), QmpTimeoutError (no reply in time; a late reply is ignored) or
   * QmpConnectionError (not running, or the connection ended first).
   * MUST NOT write to a closed or destroyed socket.
   * `quit` resolves when its reply arrives, and also when QEMU closes or resets the connection
   * before replying (QEMU exits on quit and may not flush the reply); the caller still has to
   * confirm that the process exited.
   */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, opts?: { timeoutMs?: number }): Promise<T> {
    if (this.#state !== 'running') {
      return Promise.reject(new QmpConnectionError(`cannot send ${command}: QMP client is ${this.#state}`));
    }
    return this.#send(command, args, opts?.timeoutMs ?? this.#timeoutMs) as Promise<T>;
  }

  /**
   * Subscribes to events; returns a disposer. Events are delivered in order and none are lost
   * between connect() and the first subscription: events sent before the qmp_capabilities reply,
   * or while nobody listens, are kept (up to MAX_BACKLOG) and delivered once running.
   */
  onEvent(listener: (e: QmpEvent) => void): () => void {
    this.#eventListeners.add(listener);
    if (this.#backlog.length > 0) queueMicrotask(() => this.#flush());
    return () => void this.#eventListeners.delete(listener);
  }

  /**
   * Called once when the connection ends for any reason, with the cause: undefined for close(),
   * for an abort of a running client, and for QEMU closing the connection after `quit`.
   * Subscribing after the end calls the listener on the next microtask.
   */
  onClose(listener: (cause?: Error) => void): () => void {
    if (this.#state === 'closed') {
      queueMicrotask(() => listener(this.#closeCause));
      return () => {};
    }
    this.#closeListeners.add(listener);
    return () => void this.#closeListeners.delete(listener);
  }

  /** Closes gracefully; pending requests reject with QmpConnectionError. Idempotent. */
  close(): Promise<void> {
    if (this.#state === 'running') {
      this.#state = 'disconnecting';
      this.#settlePending(new QmpConnectionError('QMP client closed'), false);
      this.#socket?.end();
      this.#timer = setTimeout(() => this.#teardown(undefined, 'QMP client closed'), CLOSE_GRACE_MS).unref();
    } else if (this.#state !== 'disconnecting') {
      this.#teardown(undefined, 'QMP client closed');
    }
    return this.#closed;
  }

  #attempt(deadline: number, retryDelayMs: number): void {
    const socket = net.createConnection({ path: this.socketPath });
    this.#socket = socket;
    socket.setEncoding('utf8'); // decodes multi-byte characters split across chunks
    socket.on('data', (chunk: string) => socket === this.#socket && this.#onData(chunk));
    // This listener stays for the socket's lifetime: a late EPIPE/ECONNRESET is never unhandled.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (socket !== this.#socket) return;
      const remaining = deadline - performance.now();
      if (this.#state === 'connecting' && RETRYABLE.has(err.code ?? '') && remaining > 0) {
        this.#socket = undefined;
        socket.destroy();
        const next = Math.min(retryDelayMs * 2, MAX_RETRY_DELAY_MS);
        this.#timer = setTimeout(() => this.#attempt(deadline, next), Math.min(retryDelayMs, remaining));
        return;
      }
      this.#peerGone(err);
    });
    socket.on('close', () => {
      if (socket === this.#socket) this.#peerGone(new QmpConnectionError('QEMU closed the QMP connection'));
    });
    socket.once('connect', () => {
      this.#state = 'negotiating';
      const err = new QmpConnectionError(`no QMP greeting within ${this.#timeoutMs} ms`);
      this.#timer = setTimeout(() => this.#teardown(err, 'QMP connect failed'), this.#timeoutMs).unref();
    });
  }

  #send(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<unknown> {
    const socket = this.#socket;
    if (!socket || socket.destroyed || !socket.writable) {
      return Promise.reject(new QmpConnectionError(`cannot send ${command}: QMP socket is not writable`));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new QmpTimeoutError(command, timeoutMs));
      }, timeoutMs).unref();
      this.#pending.set(id, { command, resolve, reject, timer });
      if (command === 'quit') this.#quitSent = true;
      socket.write(`${JSON.stringify({ execute: command, ...(args && { arguments: args }), id })}\n`);
    });
  }

  #onData(chunk: string): void {
    const lines = (this.#buffer + chunk).split('\n');
    this.#buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (this.#state === 'closed') return;
      if (line.trim() !== '') this.#onLine(line);
    }
    if (this.#buffer.length > MAX_LINE_CHARS) {
      this.#teardown(new QmpConnectionError(`QMP line over ${MAX_LINE_CHARS} characters`), 'QMP protocol error');
    }
  }

  #onLine(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch (err) {
      const cause = new QmpConnectionError(`malformed QMP message: ${line.slice(0, 200)}`, { cause: err });
      return this.#teardown(cause, 'QMP protocol error');
    }
    if (!isRecord(msg)) {
      const cause = new QmpConnectionError(`QMP message is not an object: ${line.slice(0, 200)}`);
      return this.#teardown(cause, 'QMP protocol error');
    }
    if ('QMP' in msg) return this.#onGreeting(msg.QMP);
    if (typeof msg.event === 'string') return this.#onEvent(msg);
    if (typeof msg.id !== 'number') return; // not ours (we only send numeric ids)
    const pending = this.#pending.get(msg.id);
    if (!pending) return; // timed out earlier, or rejected by close()
    this.#pending.delete(msg.id);
    clearTimeout(pending.timer);
    if (isRecord(msg.error)) {
      pending.reject(new QmpCommandError(pending.command, String(msg.error.class), String(msg.error.desc)));
    } else {
      pending.resolve(msg.return);
    }
  }

  #onGreeting(qmp: unknown): void {
    if (this.#state !== 'negotiating' || this.#greeting) return;
    clearTimeout(this.#timer);
    const version = isRecord(qmp) && isRecord(qmp.version) ? qmp.version : {};
    const qemu = isRecord(version.qemu) ? version.qemu : {};
    this.#greeting = {
      version: { major: Number(qemu.major), minor: Number(qemu.minor), micro: Number(qemu.micro) },
      package: typeof version.package === 'string' ? version.package : '',
      capabilities: isRecord(qmp) && Array.isArray(qmp.capabilities) ? qmp.capabilities.map(String) : [],
    };
    this.#send('qmp_capabilities', undefined, this.#timeoutMs).then(
      () => {
        if (this.#state !== 'negotiating') return;
        this.#state = 'running';
        this.#connecting?.resolve();
        this.#connecting = undefined;
        this.#flush();
      },
      (err: Error) => this.#teardown(err, 'QMP connect failed'),
    );
  }

  #onEvent(msg: Record<string, unknown>): void {
    if (this.#state === 'disconnecting') return;
    const timestamp = isRecord(msg.timestamp) ? msg.timestamp : {};
    this.#backlog.push({
      event: String(msg.event),
      data: isRecord(msg.data) ? msg.data : {},
      timestamp: { seconds: Number(timestamp.seconds ?? 0), microseconds: Number(timestamp.microseconds ?? 0) },
    });
    if (this.#backlog.length > MAX_BACKLOG) this.#backlog.shift();
    this.#flush();
  }

  #flush(): void {
    while (this.#state === 'running' && this.#eventListeners.size > 0) {
      const e = this.#backlog.shift();
      if (!e) return;
      for (const listener of [...this.#eventListeners]) callSafely(() => listener(e));
    }
  }

  /** The socket ended or failed. After `quit` that is QEMU exiting as asked, not an error. */
  #peerGone(err: Error): void {
    if (this.#state === 'disconnecting' || (this.#state === 'running' && this.#quitSent)) {
      this.#teardown(undefined, this.#quitSent ? 'QEMU quit' : 'QMP client closed', true);
    } else if (this.#state === 'running') {
      this.#teardown(err, 'QMP connection lost');
    } else {
      this.#teardown(err, `QMP connect to ${this.socketPath} failed`);
    }
  }

  readonly #onAbort = (): void => {
    if (this.#state === 'connecting' || this.#state === 'negotiating') {
      this.#teardown(this.#abortReason(), 'QMP connect aborted');
    } else {
      void this.close();
    }
  };

  #abortReason(): Error {
    const reason: unknown = this.#options.signal?.reason;
    return reason instanceof Error ? reason : new Error(String(reason ?? 'aborted'));
  }

  #settlePending(err: Error, peerGone: boolean): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      if (peerGone && p.command === 'quit') p.resolve({});
      else p.reject(err);
    }
    this.#pending.clear();
  }

  /** Rolls back everything and enters `closed`. `cause` undefined = an expected end. */
  #teardown(cause: Error | undefined, reason: string, peerGone = false): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeCause = cause;
    clearTimeout(this.#timer);
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#socket?.destroy();
    const err = new QmpConnectionError(cause ? `${reason}: ${cause.message}` : reason, { cause });
    this.#connecting?.reject(err);
    this.#connecting = undefined;
    this.#settlePending(err, peerGone);
    this.#backlog = [];
    this.#eventListeners.clear();
    const listeners = [...this.#closeListeners];
    this.#closeListeners.clear();
    for (const listener of listeners) callSafely(() => listener(cause));
    this.#markClosed();
  }
}
