/**
 * The control socket: how the CLI (and any second vmdesk process) talks to the driver that owns
 * the VMs. A unix socket in the private runtime dir (0700 dir, 0600 socket): only this user.
 *
 * Protocol, one JSON object per line:
 *   → {"id":1,"method":"vm.start","params":{"vm":"web"}}
 *     ← {"id":1,"result":{...}} | {"id":1,"error":{code,message,details}}
 *   → {"id":0,"hello":true}
 *     ← {"id":0,"result":{"pid":123}}  (is anybody there?)
 *   → {"id":2,"subscribe":true}
 *     ← {"id":2,"result":{}} then {"event":"vm.changed","data":{...}} ...
 *   → {"id":3,"stream":"console.serial","params":{"vm":"web"}}
 *     ← {"id":3,"result":{}} then the connection carries raw bytes both ways
 * A malformed line gets an error reply and the connection stays usable.
 *
 * Backpressure: replies and events go through a ByteChannel (consoles/byte-channel.ts). A client
 * that does not read them stops having its requests read (the kernel holds them) once they cost
 * REPLY_BUDGET_BYTES, at most MAX_CALLS_IN_FLIGHT calls of one connection run at once, and one
 * whose events pass REPLY_HARD_LIMIT_BYTES is disconnected. A stream's bytes go through the
 * stream's own channel, whose policy decides what a slow reader gets (see consoles/); the
 * client's bytes toward the stream go through a channel that stops reading the socket while the
 * stream says QEMU takes no more (a paused guest) and more than STREAM_BUDGET_BYTES wait.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { serializeError, VmdeskError, type SerializedError } from '../common/errors.js';
import { paramsShapeProblem } from '../common/request-limits.js';
import type { ContractEvents, EventName } from '../common/contract.js';
import type { Dispatcher } from './dispatcher.js';
import {
  attachStreamInput,
  ByteChannel,
  STREAM_BUDGET_BYTES,
  type ByteSource,
  type ByteStream,
} from '../consoles/byte-channel.js';
import type { StreamOpener } from './streams.js';

/** The events a subscribed connection receives (every transport pushes these). */
export const PUSHED_EVENTS = [
  'vm.changed',
  'vm.removed',
  'job.progress',
  'snapshot.changed',
  'host.connectionChanged',
] as const satisfies readonly EventName[];

/** One request line may not exceed this; longer input is refused and the connection closed. */
const MAX_LINE_BYTES = 1024 * 1024;

export interface EventSource {
  on<E extends EventName>(event: E, listener: (data: ContractEvents[E]) => void): () => void;
}

export interface ControlServer {
  close(): Promise<void>;
}

/**
 * Serves the control socket. `recreateDir`, when given, makes it self-healing: if the socket
 * file (or the whole runtime dir — a tmp cleaner, a logout that wiped XDG_RUNTIME_DIR) vanishes,
 * the directory is made again and the socket re-bound, so other vmdesk processes can still reach
 * this driver. Connections already open are not affected either way.
 */
export async function listenControlSocket(
  socketPath: string,
  dispatcher: Dispatcher,
  events: EventSource,
  openStream: StreamOpener,
  recreateDir?: () => void,
): Promise<ControlServer> {
  const conns = new Set<net.Socket>();
  const listen = async (): Promise<net.Server> => {
    // We hold the owner lock, so a socket file already there belongs to a dead owner.
    fs.rmSync(socketPath, { force: true });
    const server = net.createServer((sock) => {
      conns.add(sock);
      sock.on('close', () => conns.delete(sock));
      serveConnection(sock, dispatcher, events, openStream);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    fs.chmodSync(socketPath, 0o600);
    return server;
  };
  let server = await listen();
  let closed = false;
  let watcher: fs.FSWatcher | undefined;
  let watchedIno: number | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const dirIno = () => {
    try {
      return fs.statSync(path.dirname(socketPath)).ino;
    } catch {
      return undefined;
    }
  };
  const heal = async () => {
    timer = undefined;
    if (closed) return;
    if (fs.existsSync(socketPath)) {
      // Still there; but if the directory was replaced, the old watch sees nothing any more.
      if (dirIno() !== watchedIno) watch();
      return;
    }
    try {
      recreateDir!();
      // Close the old listener first: libuv unlinks a unix socket's path when its server closes
      // (synchronously, in uv_close), which would remove a new socket bound at the same path.
      // Not awaited: close()'s callback waits for every open connection, which stay served.
      server.close();
      server = await listen();
    } catch {
      /* try again on the next change */
    }
    watch();
  };
  const watch = () => {
    if (!recreateDir || closed) return;
    watcher?.close();
    watchedIno = dirIno();
    try {
      watcher = fs.watch(path.dirname(socketPath), { persistent: false }, () => {
        timer ??= setTimeout(() => void heal(), 50);
      });
      // The directory itself was removed: the watch dies with it.
      watcher.on('error', () => {
        timer ??= setTimeout(() => void heal(), 50);
      });
    } catch {
      timer ??= setTimeout(() => void heal(), 50);
    }
  };
  watch();
  return {
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        watcher?.close();
        if (timer) clearTimeout(timer);
        for (const c of conns) c.destroy();
        server.close(() => resolve());
        fs.rmSync(socketPath, { force: true });
      }),
  };
}

/** Memory a connection's unsent replies (and events) may hold before its requests stop being read. */
const REPLY_BUDGET_BYTES = 1024 * 1024;
/** Past this, a client that still does not read (events keep coming) is disconnected. */
const REPLY_HARD_LIMIT_BYTES = 16 * 1024 * 1024;
/**
 * How long a dropped stream viewer gets to read the line saying why, before its socket is cut.
 * A viewer is dropped because it stopped reading (a suspended terminal, a stopped process), so
 * this is long: what it holds meanwhile is the socket's buffers, not the guest's output.
 */
const DROPPED_GRACE_MS = 120_000;
/** Calls of one connection that run at once; later requests wait in the socket (and the kernel). */
export const MAX_CALLS_IN_FLIGHT = 16;

/**
 * The replies and events of one request connection (this socket, or a `vmdesk web` /api
 * WebSocket): past the budget, `requests` (the reading of that connection's requests) pauses.
 */
export function replyChannel(requests: ByteSource, dropReason: string): ByteChannel {
  return new ByteChannel({
    budgetBytes: REPLY_BUDGET_BYTES,
    overflow: { kind: 'pause', hardLimitBytes: REPLY_HARD_LIMIT_BYTES, source: requests },
    dropReason,
  });
}

function serveConnection(
  sock: net.Socket,
  dispatcher: Dispatcher,
  events: EventSource,
  openStream: StreamOpener,
): void {
  // Bytes until a whole line is there: a character split across reads is decoded only once whole,
  // and bytes after a stream request pass on untouched.
  let buf: Buffer = Buffer.alloc(0);
  const disposers: (() => void)[] = [];
  let stream: ByteStream | undefined;
  /** A stream's input from the client: past its budget (QEMU not reading), the socket is paused. */
  let input: ByteChannel | undefined;
  let inFlight = 0;
  let readingPaused = false;
  let closed = false;
  /** No more requests are taken (the connection is being closed, or became a stream). */
  let done = false;
  // Replies and events: a client that pipelines calls and never reads must not make the driver
  // hold every reply. Past the budget its requests stop being read (and parsed) until it drains.
  const replies = replyChannel(
    {
      pause: () => {
        readingPaused = true;
        flowControl();
      },
      resume: () => {
        readingPaused = false;
        flowControl();
        processLines();
      },
    },
    "The client stopped reading the driver's replies.",
  );
  // The channel currently writing to the socket: the replies, then a stream's output.
  let writing: ByteChannel = replies;
  replies.attach({
    write: (chunk) => sock.write(chunk),
    // The replies end when a stream takes the connection over, or before hanging up.
    end: (_reason, how) => {
      if (how === 'dropped') sock.destroy();
      else if (stream) startStreamOutput();
      else sock.end();
    },
  });
  sock.on('drain', () => writing.resume());

  const send = (obj: unknown) => {
    if (!done && !closed) replies.push(Buffer.from(JSON.stringify(obj) + '\n'));
  };
  const fail = (id: unknown, error: SerializedError) => send({ id: id ?? null, error });
  /** The client went away: a long job it started (a full clone) is cancelled. */
  const gone = new AbortController();
  sock.on('error', () => {});
  sock.on('close', () => {
    closed = true;
    gone.abort();
    replies.dispose();
    input?.dispose();
    for (const d of disposers.splice(0)) d();
  });

  /** Reads more requests only while replies drain and few calls run. */
  const flowControl = () => {
    if (closed || done) return;
    if (readingPaused || inFlight >= MAX_CALLS_IN_FLIGHT) sock.pause();
    else sock.resume();
  };

  const startStream = (id: unknown, msg: Record<string, unknown>) => {
    let opened: ByteStream;
    try {
      const shape = paramsShapeProblem(msg.params);
      if (shape) throw new VmdeskError('invalid-argument', `Invalid stream parameters: ${shape}`);
      opened = openStream(msg.stream, msg.params);
    } catch (err) {
      return fail(id, serializeError(err));
    }
    send({ id, result: {} });
    stream = opened;
    done = true;
    disposers.push(() => opened.close());
    input = new ByteChannel({ budgetBytes: STREAM_BUDGET_BYTES, overflow: { kind: 'pause', source: sock } });
    // A stream whose input throws is dropped: its output ends the connection with the reason.
    attachStreamInput(input, opened, (reason, how) => {
      if (how === 'dropped') opened.output.drop(reason);
    });
    // The accept line (and any reply still queued) goes first; then the stream's own channel,
    // which has held what the opener produced meanwhile (the console's history), takes over.
    replies.end('');
    // From here on the connection is a raw byte pipe.
    const rest = buf;
    buf = Buffer.alloc(0);
    if (rest.length > 0) input.push(new Uint8Array(rest.buffer, rest.byteOffset, rest.byteLength));
    if (!input.isSourcePaused) sock.resume();
  };

  const startStreamOutput = () => {
    if (!stream || closed) return;
    writing = stream.output;
    stream.output.attach({
      write: (chunk) => sock.write(chunk),
      end: (reason, how) => {
        if (sock.destroyed) return;
        sock.end(`\r\n[vmdesk] ${reason}\r\n`);
        // A viewer dropped for not reading may never read its last line: do not wait forever.
        if (how === 'dropped') setTimeout(() => sock.destroy(), DROPPED_GRACE_MS).unref();
      },
    });
  };

  const onLine = (line: string) => {
    let msg: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      msg = parsed as Record<string, unknown>;
    } catch {
      return fail(null, { code: 'invalid-argument', message: 'Each line must be one JSON object.' });
    }
    const id = typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null;
    if (msg.hello === true) return send({ id, result: { pid: process.pid } });
    if (msg.subscribe === true) {
      for (const name of PUSHED_EVENTS) {
        disposers.push(events.on(name, (data) => send({ event: name, data })));
      }
      return send({ id, result: {} });
    }
    if (msg.stream !== undefined) return startStream(id, msg);
    inFlight++;
    void dispatcher.dispatch(msg.method, msg.params, { signal: gone.signal }).then((r) => {
      inFlight--;
      if (r.ok) send({ id, result: r.result });
      else fail(id, r.error);
      flowControl();
      processLines();
    });
  };

  const processLines = () => {
    let nl: number;
    while (!done && !closed && !readingPaused && inFlight < MAX_CALLS_IN_FLIGHT && (nl = buf.indexOf(0x0a)) >= 0) {
      const line = buf.subarray(0, nl).toString('utf8');
      buf = buf.subarray(nl + 1);
      if (line.trim() !== '') onLine(line);
    }
    flowControl();
  };

  sock.on('data', (chunk: Buffer) => {
    if (input) return void input.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (done) return;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    processLines();
    if (!done && buf.length > MAX_LINE_BYTES && buf.indexOf(0x0a) < 0) {
      fail(
        null,
        new VmdeskError('invalid-argument', `A request line is longer than ${MAX_LINE_BYTES} bytes.`).toJSON(),
      );
      done = true;
      buf = Buffer.alloc(0);
      replies.end(''); // hangs up once the error reply is out
    }
  });
}
