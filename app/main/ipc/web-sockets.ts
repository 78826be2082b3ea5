/**
 * The two WebSocket endpoints of `vmdesk web` (web-server.ts accepts and routes them): `/api`
 * and `/stream`, each with backpressure both ways, and the keep-alive that pings them all.
 */
// Types only: `ws` itself is loaded when a web server starts (see web-server.ts).
import type { RawData, WebSocket } from 'ws';
import { STREAM_CLOSE, WEB_PATHS } from '../common/api.js';
import {
  ROOT_PROMPT_CALLS,
  type CallName,
  type CallParams,
  type StreamName,
  type StreamParams,
} from '../common/contract.js';
import { isUserError, serializeError } from '../common/errors.js';
import { logPreview, paramsShapeProblem } from '../common/request-limits.js';
import {
  attachStreamInput,
  ByteChannel,
  STREAM_BUDGET_BYTES,
  type ByteReader,
  type ByteStream,
} from '../consoles/byte-channel.js';
import { connectVnc } from '../consoles/vnc-proxy.js';
import { MAX_CALLS_IN_FLIGHT, replyChannel } from './control-socket.js';
import type { DriverLink } from './driver-link.js';

/** What the web server needs of the driver. */
export type WebLink = Pick<DriverLink, 'call' | 'subscribe' | 'openStream'> & Partial<Pick<DriverLink, 'mode'>>;

/** WebSocket readyState values (RFC 6455 / the WHATWG API). */
const WS_OPEN = 1;
export const WS_CLOSED = 3;

/** What a socket handler gets from the server that accepted it. */
export interface SocketContext {
  /** The driver (owner or client; `mode` unknown counts as owner). Its `call` and `openStream`
   * validate what they get. */
  link: WebLink;
  log(line: string): void;
  keepAlive: KeepAlive;
}

/**
 * Pings every open socket each interval and ends one that did not answer the previous ping. A
 * socket the server itself stopped reading (`hold`) cannot read the pong either, so its silence
 * does not count against it (a peer that is really gone fails the pings' TCP retransmissions).
 */
export class KeepAlive {
  readonly #alive = new Map<WebSocket, boolean>();
  readonly #held = new Set<WebSocket>();
  readonly #timer: NodeJS.Timeout;

  constructor(intervalMs: number) {
    this.#timer = setInterval(() => this.#tick(), intervalMs);
    this.#timer.unref();
  }

  /** A socket to keep alive until it closes. */
  track(ws: WebSocket): void {
    this.#alive.set(ws, true);
    // Any frame from the peer proves it is there: after a long paste the server resumes reading,
    // and the pongs wait in the page's socket behind megabytes of input still to come.
    const alive = () => this.#alive.set(ws, true);
    ws.on('pong', alive);
    ws.on('message', alive);
    ws.on('close', () => {
      this.#alive.delete(ws);
      this.#held.delete(ws);
    });
  }

  /** Stops reading `ws` (ws.pause(), a no-op on a socket that is not open). */
  hold(ws: WebSocket): void {
    ws.pause();
    this.#held.add(ws);
  }

  get sockets(): WebSocket[] {
    return [...this.#alive.keys()];
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    for (const [ws, ok] of this.#alive) {
      if (!ok && !this.#held.has(ws)) {
        ws.terminate();
        continue;
      }
      if (ws.isPaused) this.#held.add(ws);
      else this.#held.delete(ws);
      this.#alive.set(ws, false);
      try {
        ws.ping();
      } catch {
        /* not open any more: its close event removes it */
      }
    }
  }
}

/**
 * Frames handed to ws that the kernel has not taken yet may cost this much (payload plus
 * FRAME_OVERHEAD_BYTES each: ws keeps a header buffer and a callback per frame) before the socket
 * counts as full; then the frames wait, coalesced, in a ByteChannel (see wsSender).
 */
const WS_WINDOW_BYTES = 256 * 1024;
const FRAME_OVERHEAD_BYTES = 256;
/** The WebSocket limit for a close reason. */
const REASON_MAX_BYTES = 123;
/** The longest prefix of `s` that is at most `maxBytes` in UTF-8, never splitting a character. */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s, 'utf8') <= maxBytes) return s;
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (used + n > maxBytes) break;
    used += n;
    out += ch;
  }
  return out;
}

export function closeWith(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, truncateUtf8(reason, REASON_MAX_BYTES));
  } catch {
    ws.terminate();
  }
}

/**
 * Sends frames on `ws` and says when it is full: returns false once the frames the kernel has not
 * taken yet cost WS_WINDOW_BYTES, and calls `onRoom` when they are back under half of it. A
 * socket that is not open any more takes everything into the void (its close event cleans up).
 */
function wsSender(ws: WebSocket, onRoom: () => void): (data: Uint8Array, binary: boolean) => boolean {
  let unsent = 0;
  let full = false;
  return (data, binary) => {
    if (ws.readyState !== WS_OPEN) return true;
    const cost = data.byteLength + FRAME_OVERHEAD_BYTES;
    unsent += cost;
    ws.send(data, { binary }, () => {
      unsent -= cost;
      if (full && unsent <= WS_WINDOW_BYTES / 2) {
        full = false;
        onRoom();
      }
    });
    if (unsent >= WS_WINDOW_BYTES) full = true;
    return !full;
  };
}

/**
 * A channel reader that turns newline-separated JSON (JSON.stringify never emits a raw newline)
 * back into one text frame per object; a line the channel delivered in two pieces is joined.
 */
function lineFrames(sendFrame: (data: Uint8Array, binary: boolean) => boolean, end: ByteReader['end']): ByteReader {
  let partial: Uint8Array[] = [];
  return {
    write: (chunk) => {
      let more = true;
      let start = 0;
      for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
        const piece = chunk.subarray(start, nl);
        const frame = partial.length > 0 ? Buffer.concat([...partial, piece]) : piece;
        partial = [];
        more = sendFrame(frame, false) && more;
        start = nl + 1;
      }
      if (start < chunk.byteLength) partial.push(chunk.subarray(start));
      return more;
    },
    end,
  };
}

function toBytes(d: RawData): Buffer {
  if (Array.isArray(d)) return Buffer.concat(d);
  return Buffer.isBuffer(d) ? d : Buffer.from(d);
}

/**
 * `/api`: the control-socket messages, one JSON object per text frame. Replies and events go
 * through a reply channel (past its budget the socket stops being read); at most
 * MAX_CALLS_IN_FLIGHT calls run at once. `remote`: the browser is on another computer (calls that
 * prompt for an administrator password are refused).
 */
export function serveApi(ws: WebSocket, remote: boolean, ctx: SocketContext): void {
  const { link, log, keepAlive } = ctx;
  const hold = (w: WebSocket) => keepAlive.hold(w);
  const disposers: (() => void)[] = [];
  let closed = false;
  let inFlight = 0;
  /** Frames that arrived while calls were at their limit or replies over budget. */
  const waiting: { data: RawData; isBinary: boolean }[] = [];
  // Replies and events, one JSON object per line in the channel, one text frame each on the wire.
  // Past the budget ws stops reading; later frames wait (at most MAX_CALLS_IN_FLIGHT calls run).
  const replies = replyChannel(
    {
      pause: () => hold(ws),
      resume: () => {
        ws.resume();
        takeWaiting();
      },
    },
    "The page stopped reading the driver's replies.",
  );
  const sendFrame = wsSender(ws, () => replies.resume());
  replies.attach(
    lineFrames(sendFrame, (reason, how) => {
      if (how === 'dropped') closeWith(ws, STREAM_CLOSE.failed, reason);
    }),
  );
  const send = (obj: object) => {
    let text: string;
    try {
      text = JSON.stringify(obj);
    } catch (err) {
      text = JSON.stringify({ id: 'id' in obj ? obj.id : null, error: serializeError(err) });
    }
    if (!closed) replies.push(Buffer.from(text + '\n'));
  };
  const invalid = (id: unknown, message: string) => send({ id, error: { code: 'invalid-argument', message } });
  ws.on('close', () => {
    closed = true;
    replies.dispose();
    waiting.length = 0;
    for (const d of disposers.splice(0)) {
      try {
        d();
      } catch {
        /* the subscription is gone either way */
      }
    }
  });

  const subscribe = (id: unknown) => {
    // Events that arrive before the subscription is confirmed wait, so the reply comes first.
    let confirmed = false;
    const early: object[] = [];
    Promise.resolve()
      .then(() => link.subscribe((event, data) => (confirmed ? send({ event, data }) : early.push({ event, data }))))
      .then(
        (dispose) => {
          if (closed) return dispose();
          disposers.push(dispose);
          send({ id, result: {} });
          confirmed = true;
          for (const f of early.splice(0)) send(f);
        },
        (err: unknown) => send({ id, error: serializeError(err) }),
      );
  };

  const onFrame = (data: RawData, isBinary: boolean) => {
    if (isBinary) return invalid(null, 'Each request must be a text frame holding one JSON object.');
    let msg: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(toBytes(data).toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      msg = parsed as Record<string, unknown>;
    } catch {
      return invalid(null, 'Each frame must be one JSON object.');
    }
    const id = typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null;
    // Before anything recursive (the log line, forwarding to the owner): every reply has its id.
    const method = typeof msg.method === 'string' ? msg.method.slice(0, 100) : logPreview(msg.method, 100);
    const shape = paramsShapeProblem(msg.params);
    if (shape) return invalid(id, `Invalid arguments for ${method}: ${shape}`);
    if (msg.subscribe === true) return subscribe(id);
    if (msg.stream !== undefined)
      return invalid(id, `Streams open on their own WebSocket: ${WEB_PATHS.stream}?name=...&params=...`);
    log(`call ${method} ${logPreview(msg.params ?? {})}`);
    if (remote && ROOT_PROMPT_CALLS.includes(msg.method as CallName)) {
      return send({
        id,
        error: {
          code: 'unsupported',
          message:
            'This asks for an administrator password on the computer that runs vmdesk, so it only works from a browser on that computer (or run `vmdesk mdev check VM --fix` there).',
        },
      });
    }
    // The link validates method and params (the dispatcher, here or in the owner process).
    inFlight++;
    Promise.resolve()
      .then(() => link.call(msg.method as CallName, msg.params as CallParams<CallName>))
      .then(
        (result) => send({ id, result }),
        (err: unknown) => send({ id, error: serializeError(err) }),
      )
      .finally(() => {
        inFlight--;
        takeWaiting();
      });
  };

  const canTake = () => !closed && !replies.isSourcePaused && inFlight < MAX_CALLS_IN_FLIGHT;
  const take = (data: RawData, isBinary: boolean) => {
    try {
      onFrame(data, isBinary);
    } catch (err) {
      send({ id: null, error: serializeError(err) });
    }
  };
  function takeWaiting(): void {
    while (waiting.length > 0 && canTake()) {
      const f = waiting.shift()!;
      take(f.data, f.isBinary);
    }
    if (canTake()) ws.resume();
  }

  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (waiting.length === 0 && canTake()) return take(data, isBinary);
    // At most what ws had already read when it was paused (one socket read, frames ≤ 1 MiB).
    waiting.push({ data, isBinary });
    hold(ws);
  });
}

/**
 * A stream through the driver, except the screen of a VM of this computer while `vmdesk web` is a
 * client of the driver: QEMU's VNC server takes any number of clients and its socket is the
 * user's own, so this process connects to it itself with the proxy the driver would run, which
 * spares every message a hop through the driver (two more wake-ups of a process each way, on
 * the path where noVNC waits for an update before it asks for the next: issue 22). Anything
 * else, and any failure on the way (the VM stopped meanwhile, a socket this process cannot
 * reach), goes through the driver, which checks the request and says why it cannot open.
 */
async function openStream(link: WebLink, name: unknown, params: unknown, log: (line: string) => void) {
  if (name === 'console.vnc' && link.mode === 'client') {
    const socket = await localVncSocket(link, params).catch(() => undefined);
    if (socket) {
      try {
        return await connectVnc(socket);
      } catch (err) {
        log(
          `console.vnc: ${socket} did not connect (${serializeError(err).message.slice(0, 200)}); through the driver`,
        );
      }
    }
  }
  return link.openStream(name as StreamName, params as StreamParams<StreamName>);
}

/** QEMU's VNC socket of a VM of this computer that shows a screen now, as the driver says. */
async function localVncSocket(link: WebLink, params: unknown): Promise<string | undefined> {
  const vm = (params as { vm?: unknown } | null | undefined)?.vm;
  if (typeof vm !== 'string') return undefined;
  const s = await link.call('vm.get', { vm });
  const shows = s.state === 'running' || s.state === 'paused' || s.state === 'stopping';
  if (s.host || !shows || s.definition?.display === 'none') return undefined;
  return s.paths?.vnc;
}

/** `/stream?name=...&params=...`: one byte stream of the contract on this socket, both ways. */
export function serveStream(ws: WebSocket, query: URLSearchParams, ctx: SocketContext): void {
  const { link, log, keepAlive } = ctx;
  const hold = (w: WebSocket) => keepAlive.hold(w);
  const name = query.get('name');
  const rawParams = query.get('params');
  log(`stream ${String(name).slice(0, 100)} ${String(rawParams).slice(0, 500)}`);
  let params: unknown;
  try {
    params = rawParams === null ? undefined : JSON.parse(rawParams);
  } catch {
    return closeWith(ws, STREAM_CLOSE.refused, 'The stream parameters are not valid JSON.');
  }
  const shape = paramsShapeProblem(params);
  if (shape) return closeWith(ws, STREAM_CLOSE.refused, `Invalid stream parameters: ${shape}`);
  let stream: ByteStream | undefined;
  let done = false;
  // The page's bytes: held (pausing the socket past the budget) until the driver's side is open.
  const input = new ByteChannel({
    budgetBytes: STREAM_BUDGET_BYTES,
    overflow: { kind: 'pause', source: { pause: () => hold(ws), resume: () => ws.resume() } },
  });
  const finish = () => {
    if (done) return;
    done = true;
    input.dispose();
    try {
      stream?.close();
    } catch (err) {
      log(`stream close failed: ${serializeError(err).message.slice(0, 500)}`);
    }
  };
  ws.on('message', (data: RawData) => {
    if (!done) input.push(toBytes(data));
  });
  ws.on('close', finish);

  // The link validates name and params (parseStreamRequest, here or in the owner process).
  Promise.resolve()
    .then(() => openStream(link, name, params, log))
    .then(
      (s) => {
        if (done) return s.close();
        stream = s;
        // While the stream takes no more (QEMU not reading: a paused guest), the page's bytes
        // wait in `input`, and past its budget ws stops reading them. A stream whose input
        // throws is dropped by the channel (never an uncaught throw inside ws's event, which
        // would take the whole server down): close the socket.
        attachStreamInput(input, s, (reason, how) => {
          if (how !== 'dropped') return;
          closeWith(ws, STREAM_CLOSE.failed, reason);
          finish();
        });
        // A viewer that falls behind fills the stream's own channel, whose policy decides: the
        // serial console drops it (4500 and the reason), VNC and log tails pause their source.
        const sendFrame = wsSender(ws, () => s.output.resume());
        s.output.attach({
          write: (chunk) => sendFrame(chunk, true),
          end: (reason, how) => {
            closeWith(ws, how === 'dropped' ? STREAM_CLOSE.failed : STREAM_CLOSE.ended, reason);
            finish();
          },
        });
      },
      (err: unknown) => {
        const e = serializeError(err);
        log(`stream refused: ${e.code} ${e.message.slice(0, 500)}`);
        closeWith(ws, isUserError(e.code) ? STREAM_CLOSE.refused : STREAM_CLOSE.failed, e.message);
      },
    )
    .catch((err: unknown) => {
      // A stream that throws while being wired up: end the socket, never the server.
      closeWith(ws, STREAM_CLOSE.failed, serializeError(err).message);
      finish();
    });
}
