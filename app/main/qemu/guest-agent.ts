// A client for the QEMU guest agent (qemu-ga), which runs inside the guest and answers over the
// virtio-serial port `org.qemu.guest_agent.0`. QEMU exposes that port on the host as a unix
// socket (qga.sock) that accepts one client at a time. Protocol: QEMU `qga/qapi-schema.json`.
//
// Why it differs from the QMP client: nobody may be at the other end. When the guest runs no
// agent, QEMU accepts the connection and then buffers or drops what we write, and nothing ever
// answers; bytes we wrote may also reach an agent that starts later and answer a request we gave
// up on. So every call (1) has a timeout, (2) drops the connection when it times out, so the
// stale bytes go with it, and (3) starts with `guest-sync-delimited`: write 0xFF (the agent
// resets its parser), send a random id, discard everything up to the 0xFF the agent puts before
// its reply, then read replies until the one that returns our id (libvirt syncs before every
// command too). After that the next reply is the command's: one request is outstanding at a time.
import { randomInt } from 'node:crypto';
import net from 'node:net';
import { VmdeskError } from '../common/errors.js';
import type { ErrorCode } from '../common/errors.js';

/** What the Overview and `vmdesk info` show about a guest, as its agent reports it. */
export interface GuestInfo {
  /** From guest-get-host-name; absent when the agent lacks or refuses the command. */
  hostname?: string;
  /** From guest-get-osinfo (os-release(5) on Linux); absent likewise. */
  os?: GuestOs;
  /** Without loopback (127/8, ::1) and link-local (169.254/16, fe80::/10) addresses. */
  addresses: GuestAddress[];
  /** When this was read (ISO 8601). */
  at: string;
}

export interface GuestOs {
  /** "Debian GNU/Linux", "Microsoft Windows". */
  name: string;
  /** os-release ID: "debian", "fedora"; "mswindows" on Windows. */
  id?: string;
  /** "12 (bookworm)"; on Windows a long product string. */
  version?: string;
  /** uname release on POSIX ("6.1.0-18-amd64"), the build number on Windows. */
  kernel?: string;
  /** "Debian GNU/Linux 12 (bookworm)", "Microsoft Windows 11 Pro". */
  prettyName?: string;
}

export interface GuestAddress {
  iface: string;
  address: string;
  /** Prefix length in bits. */
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

export interface GuestAgentOptions {
  /**
   * Per request in ms (default 3000): the connect + sync, and then each command, each get this
   * long. It is also how long guest-shutdown must stay quiet to count as accepted.
   */
  timeoutMs?: number;
  /** For guest-fsfreeze-freeze and -thaw, which sync every guest filesystem (default 30_000). */
  freezeTimeoutMs?: number;
}

/** A reply (or any line) longer than this is not the agent talking; refuse it, keep memory flat. */
export const MAX_REPLY_BYTES = 1024 * 1024;
const SENTINEL = 0xff;
const NEWLINE = 0x0a;
/** Ids stay exact as JS numbers (the agent's int is 64-bit; 2^53 is our limit). */
const MAX_SYNC_ID = 2 ** 47;

type Message = Record<string, unknown>;
type Reply = { ok: true; value: unknown } | { ok: false; errorClass: string; desc: string };

const isRecord = (v: unknown): v is Message => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Splits the agent's byte stream into reply lines. A 0xFF byte anywhere resets the partial line
 * (the spec's "flush your parser"); after skipToSentinel() everything up to and including the
 * next 0xFF is discarded unread. Bytes, not strings: 0xFF is not UTF-8, and a multi-byte
 * character split across chunks is decoded only once its line is whole.
 * Exported for tests; not part of the client's API.
 */
export class QgaLineReader {
  #parts: Buffer[] = [];
  #size = 0;
  #skipping = false;

  constructor(readonly maxLineBytes = MAX_REPLY_BYTES) {}

  skipToSentinel(): void {
    this.#skipping = true;
    this.#reset();
  }

  /** Returns the complete lines in `chunk`, decoded. Throws RangeError past maxLineBytes. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    while (start < chunk.length) {
      if (this.#skipping) {
        const s = chunk.indexOf(SENTINEL, start);
        if (s < 0) break;
        this.#skipping = false;
        start = s + 1;
        continue;
      }
      const nl = chunk.indexOf(NEWLINE, start);
      const ff = chunk.indexOf(SENTINEL, start);
      if (ff >= 0 && (nl < 0 || ff < nl)) {
        this.#reset();
        start = ff + 1;
        continue;
      }
      const end = nl < 0 ? chunk.length : nl;
      this.#size += end - start;
      if (this.#size > this.maxLineBytes) {
        this.#reset();
        throw new RangeError(`a reply over ${this.maxLineBytes} bytes`);
      }
      this.#parts.push(chunk.subarray(start, end));
      if (nl < 0) break;
      const line = Buffer.concat(this.#parts).toString('utf8').trim();
      this.#reset();
      if (line !== '') lines.push(line);
      start = nl + 1;
    }
    return lines;
  }

  #reset(): void {
    this.#parts = [];
    this.#size = 0;
  }
}

interface Waiter {
  command: string;
  line(msg: Message): void;
  /** The connection ended; `peerGone` when the other side closed or reset it. */
  end(err: VmdeskError, peerGone: boolean): void;
}

interface Job {
  run: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * One VM's guest agent. Calls are queued and run one at a time, each on a synced connection that
 * is opened on demand and reopened after QEMU closes it or after a timeout.
 * Errors are VmdeskError: `timeout` (nothing answered: no agent, or it is still starting),
 * `invalid-state` (the socket is absent or the connection ended: the VM is not running),
 * `unsupported` (the agent lacks or disables the command), `qemu-failed` (the agent refused, or
 * sent garbage or a reply over MAX_REPLY_BYTES), `cancelled` (close() during the call).
 * MUST be closed when the VM stops; close() leaves no socket or timer behind.
 */
export class GuestAgent {
  readonly #timeoutMs: number;
  readonly #freezeTimeoutMs: number;
  #socket: net.Socket | undefined;
  #reader = new QgaLineReader();
  #waiter: Waiter | undefined;
  readonly #queue: Job[] = [];
  #busy = false;
  #closed = false;
  /** Errors for a connection the peer closed or reset (as opposed to timeouts and garbage). */
  readonly #lostErrors = new WeakSet<Error>();

  constructor(
    readonly socketPath: string,
    opts: GuestAgentOptions = {},
  ) {
    this.#timeoutMs = opts.timeoutMs ?? 3000;
    this.#freezeTimeoutMs = opts.freezeTimeoutMs ?? 30_000;
  }

  /** True when an agent answers within the timeout. Never throws (false after close()). */
  ping(): Promise<boolean> {
    return this.#enqueue(async () => {
      const socket = await this.#sync();
      await this.#command(socket, 'guest-ping'); // any answer, even a refusal, is an agent
      return true;
    }).catch(() => false);
  }

  /**
   * Hostname, OS and addresses. A part the agent lacks or refuses is left out (older agents have
   * no guest-get-osinfo; a frozen guest refuses all three), so this throws only when no agent
   * answers or the connection fails.
   */
  info(): Promise<GuestInfo> {
    return this.#enqueue(async () => {
      const socket = await this.#sync();
      const host = await this.#command(socket, 'guest-get-host-name');
      const os = await this.#command(socket, 'guest-get-osinfo');
      const ifaces = await this.#command(socket, 'guest-network-get-interfaces');
      const info: GuestInfo = { addresses: [], at: new Date().toISOString() };
      const hostname = host.ok && isRecord(host.value) ? str(host.value['host-name']) : undefined;
      if (hostname) info.hostname = hostname;
      const guestOs = os.ok ? readOsInfo(os.value) : undefined;
      if (guestOs) info.os = guestOs;
      if (ifaces.ok) info.addresses = readAddresses(ifaces.value);
      return info;
    });
  }

  /**
   * Asks the guest to power down (or reboot). The agent sends no reply when it accepts, so this
   * resolves when the connection closes (QEMU exiting) or stays quiet for the timeout after the
   * request, and rejects when the agent refuses. It proves nothing: confirm the shutdown by QEMU
   * exiting, and fall back (ACPI, then kill) if it does not.
   */
  shutdown(mode: 'powerdown' | 'reboot' = 'powerdown'): Promise<void> {
    return this.#enqueue(async () => {
      const socket = await this.#sync();
      const command = 'guest-shutdown';
      const msg = await this.#exchange(socket, encode(command, { mode }), command, this.#timeoutMs, true);
      // A refusal that comes after the quiet window must not be read as the next call's reply.
      this.#drop();
      if (msg) expectOk(this.#toReply(msg, command), command);
    });
  }

  /**
   * Freezes the guest's local filesystems (for a consistent snapshot) and returns how many.
   * The caller MUST call thaw() afterwards, also when this rejects with `timeout` (the guest may
   * have frozen anyway). Rejects with `unsupported` when the agent cannot freeze.
   */
  freeze(): Promise<number> {
    return this.#fsfreeze('guest-fsfreeze-freeze');
  }

  /** Thaws what freeze() froze; returns how many filesystems it thawed (0 when none were frozen). */
  thaw(): Promise<number> {
    return this.#fsfreeze('guest-fsfreeze-thaw');
  }

  /** Whether the guest's filesystems are frozen (to clean up after a failed snapshot). */
  freezeStatus(): Promise<'thawed' | 'frozen'> {
    const command = 'guest-fsfreeze-status';
    return this.#enqueue(async () => {
      const value = expectOk(await this.#command(await this.#sync(), command), command);
      if (value === 'thawed' || value === 'frozen') return value;
      throw this.#garbage(command, JSON.stringify(value));
    });
  }

  /** Rejects the running and queued calls with `cancelled` and closes the connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = this.#error('cancelled', 'The guest agent client was closed before the call finished.');
    for (const job of this.#queue.splice(0)) job.reject(err);
    this.#drop(err);
  }

  #fsfreeze(command: 'guest-fsfreeze-freeze' | 'guest-fsfreeze-thaw'): Promise<number> {
    return this.#enqueue(async () => {
      const socket = await this.#sync();
      const value = expectOk(await this.#command(socket, command, this.#freezeTimeoutMs), command);
      if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
      throw this.#garbage(command, JSON.stringify(value));
    });
  }

  #enqueue<T>(run: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(this.#error('invalid-state', 'The guest agent client is closed; make a new one.'));
    }
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#busy) this.#next();
    });
  }

  #next(): void {
    const job = this.#queue.shift();
    this.#busy = job !== undefined;
    // An idle connection does not keep the process alive; a call in progress does.
    if (!job) return void this.#socket?.unref();
    this.#socket?.ref();
    void job
      .run()
      .then(job.resolve, job.reject)
      .then(() => this.#next());
  }

  /** Connects if needed and syncs the stream; resolves with the socket to send on. */
  async #sync(): Promise<net.Socket> {
    const reused = this.#socket !== undefined;
    try {
      return await this.#syncOn(await this.#connect());
    } catch (err) {
      // QEMU may have closed an idle connection (it restarted the port, or the VM rebooted)
      // before we noticed: nothing was asked yet, so one fresh connection is safe to try.
      if (!reused || !(err instanceof Error) || !this.#lostErrors.has(err)) throw err;
      return this.#syncOn(await this.#connect());
    }
  }

  async #syncOn(socket: net.Socket): Promise<net.Socket> {
    const id = randomInt(1, MAX_SYNC_ID);
    const command = 'guest-sync-delimited';
    this.#reader.skipToSentinel();
    const request = Buffer.concat([Buffer.from([SENTINEL]), encode(command, { id })]);
    // Replies before ours (to an earlier client's requests, or the agent's complaint about the
    // 0xFF we sent) are skipped; only the reply that returns our id ends the sync.
    await this.#exchange(socket, request, command, this.#timeoutMs, false, (msg) => msg.return === id);
    return socket;
  }

  #connect(): Promise<net.Socket> {
    if (this.#closed) return Promise.reject(this.#error('cancelled', 'The guest agent client was closed.'));
    if (this.#socket) return Promise.resolve(this.#socket);
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: this.socketPath });
      const fail = (err: VmdeskError): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      // A unix connect answers at once; this only bounds a wedged peer.
      const timer = setTimeout(() => fail(this.#noAnswer('connect', this.#timeoutMs)), this.#timeoutMs);
      socket.once('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? err.message;
        const message = `Cannot reach the guest agent channel ${this.socketPath} (${code}): the VM is not running, or was started without the guest agent channel.`;
        fail(this.#error('invalid-state', message, { cause: err }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        if (this.#closed) return fail(this.#error('cancelled', 'The guest agent client was closed.'));
        this.#attach(socket);
        resolve(socket);
      });
    });
  }

  #attach(socket: net.Socket): void {
    this.#socket = socket;
    this.#reader = new QgaLineReader();
    const lost = (cause?: Error): void => {
      if (socket !== this.#socket) return;
      const message = 'The guest agent connection was closed: the VM may be stopping. Try again once it runs.';
      const err = this.#error('invalid-state', message, { cause });
      this.#lostErrors.add(err);
      this.#drop(err, true);
    };
    // Stays for the socket's lifetime: a late EPIPE/ECONNRESET is never unhandled.
    socket.on('error', lost);
    socket.on('close', () => lost());
    socket.on('data', (chunk: Buffer) => socket === this.#socket && this.#onData(chunk));
  }

  #onData(chunk: Buffer): void {
    let lines: string[];
    try {
      lines = this.#reader.push(chunk);
    } catch {
      const message = `The guest agent sent a reply over ${MAX_REPLY_BYTES} bytes; vmdesk closed the connection. Restart the agent in the guest if this repeats.`;
      return this.#drop(this.#error('qemu-failed', message));
    }
    for (const line of lines) {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        msg = undefined;
      }
      if (!isRecord(msg)) return void this.#garbage(this.#waiter?.command ?? 'no request', line);
      this.#waiter?.line(msg);
      if (!this.#socket) return; // the waiter dropped the connection
    }
  }

  /**
   * Writes `request` and resolves with the first message `accept` takes. On timeout the
   * connection is dropped and this rejects with `timeout`, or with `quiet`, resolves undefined
   * (so it does when the peer closes the connection: guest-shutdown's success).
   */
  #exchange(
    socket: net.Socket,
    request: Buffer,
    command: string,
    timeoutMs: number,
    quiet: boolean,
    accept: (msg: Message) => boolean = () => true,
  ): Promise<Message | undefined> {
    if (this.#closed) return Promise.reject(this.#error('cancelled', 'The guest agent client was closed.'));
    if (socket !== this.#socket) {
      return Promise.reject(this.#error('invalid-state', `The guest agent connection closed before ${command}.`));
    }
    return new Promise((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        this.#waiter = undefined;
      };
      const timer = setTimeout(() => {
        settle();
        const err = this.#noAnswer(command, timeoutMs);
        this.#drop(err);
        if (quiet) resolve(undefined);
        else reject(err);
      }, timeoutMs);
      this.#waiter = {
        command,
        line: (msg) => {
          if (!accept(msg)) return;
          settle();
          resolve(msg);
        },
        end: (err, peerGone) => {
          settle();
          if (quiet && peerGone) resolve(undefined);
          else reject(err);
        },
      };
      socket.write(request);
    });
  }

  async #command(socket: net.Socket, command: string, timeoutMs = this.#timeoutMs): Promise<Reply> {
    const msg = await this.#exchange(socket, encode(command), command, timeoutMs, false);
    return this.#toReply(msg ?? {}, command);
  }

  #toReply(msg: Message, command: string): Reply {
    if ('return' in msg) return { ok: true, value: msg.return };
    if (isRecord(msg.error)) {
      return { ok: false, errorClass: String(msg.error.class), desc: String(msg.error.desc ?? '') };
    }
    throw this.#garbage(command, JSON.stringify(msg));
  }

  /** Closes the connection (stale bytes go with it); the waiting request, if any, gets `err`. */
  #drop(err?: VmdeskError, peerGone = false): void {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.destroy();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter && err) waiter.end(err, peerGone);
  }

  #noAnswer(command: string, timeoutMs: number): VmdeskError {
    const message = `The guest agent did not answer ${command} within ${timeoutMs} ms: the guest may still be starting, or runs no agent (install and start qemu-guest-agent in the guest; on Windows it is on the virtio-win ISO).`;
    return this.#error('timeout', message, { command, timeoutMs });
  }

  /** Drops the connection (a request waiting on it fails) and returns the error to throw. */
  #garbage(command: string, text: string): VmdeskError {
    const message = `The guest agent sent something that is not a guest agent reply to ${command}: ${text.slice(0, 120)}. vmdesk closed the connection; restart the agent in the guest if this repeats.`;
    const err = this.#error('qemu-failed', message, { command });
    this.#drop(err);
    return err;
  }

  #error(code: ErrorCode, message: string, extra: { cause?: unknown } & Record<string, unknown> = {}): VmdeskError {
    const { cause, ...details } = extra;
    return new VmdeskError(code, message, { socketPath: this.socketPath, ...details }, cause ? { cause } : undefined);
  }
}

function encode(command: string, args?: Message): Buffer {
  return Buffer.from(`${JSON.stringify({ execute: command, ...(args && { arguments: args }) })}\n`);
}

/** The agent's error reply as a VmdeskError: a missing or disabled command is `unsupported`. */
function expectOk(reply: Reply, command: string): unknown {
  if (reply.ok) return reply.value;
  // qemu-ga reports both "has not been found" and "has been disabled" (--block-rpcs, or any
  // command but a few while the guest is frozen) as CommandNotFound.
  if (reply.errorClass === 'CommandNotFound' || /not (currently )?supported/i.test(reply.desc)) {
    const message = `The guest agent does not offer ${command} (${reply.desc}). Update qemu-guest-agent in the guest, or allow the command in its configuration.`;
    return throwError('unsupported', message, reply, command);
  }
  return throwError('qemu-failed', `The guest agent refused ${command}: ${reply.desc}`, reply, command);
}

function throwError(code: ErrorCode, message: string, reply: Reply & { ok: false }, command: string): never {
  throw new VmdeskError(code, message, { command, agentError: reply.errorClass });
}

function readOsInfo(value: unknown): GuestOs | undefined {
  if (!isRecord(value)) return undefined;
  const name = str(value.name) ?? str(value['pretty-name']) ?? str(value.id);
  if (!name) return undefined;
  const os: GuestOs = { name };
  const id = str(value.id);
  const version = str(value.version) ?? str(value['version-id']);
  const kernel = str(value['kernel-release']);
  const prettyName = str(value['pretty-name']);
  if (id) os.id = id;
  if (version) os.version = version;
  if (kernel) os.kernel = kernel;
  if (prettyName) os.prettyName = prettyName;
  return os;
}

function readAddresses(value: unknown): GuestAddress[] {
  if (!Array.isArray(value)) return [];
  const out: GuestAddress[] = [];
  for (const iface of value) {
    if (!isRecord(iface) || !str(iface.name) || !Array.isArray(iface['ip-addresses'])) continue;
    for (const a of iface['ip-addresses']) {
      if (!isRecord(a)) continue;
      const address = str(a['ip-address']);
      const family = a['ip-address-type'];
      const prefix = a.prefix;
      if (!address || (family !== 'ipv4' && family !== 'ipv6') || typeof prefix !== 'number') continue;
      if (isLoopbackOrLinkLocal(address, family)) continue;
      out.push({ iface: String(iface.name), address, prefix, family });
    }
  }
  return out;
}

/** 127/8 and ::1; 169.254/16 (an address nobody gave: no DHCP answered) and fe80::/10. */
function isLoopbackOrLinkLocal(address: string, family: 'ipv4' | 'ipv6'): boolean {
  const a = address.toLowerCase();
  if (family === 'ipv4') return a.startsWith('127.') || a.startsWith('169.254.');
  return a === '::1' || /^fe[89ab][0-9a-f]?:/.test(a);
}
