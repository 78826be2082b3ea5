/**
 * `vmdesk web`: the built renderer over HTTP, and the driver over two WebSocket endpoints, as
 * described by the web wire protocol in common/api.ts. `/api` carries the control-socket
 * messages (see control-socket.ts; the behaviour mirrors it: a malformed frame gets an error
 * reply and the connection stays open); `/stream` carries one byte stream per socket.
 *
 * Every WebSocket needs the token (`?token=`) and, if it comes from a browser, our own Origin
 * (web-auth.ts says why a missing Origin is allowed). So does `PUT /upload`, which puts a file
 * from the browser's machine into the ISO library (see serveUpload).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
// Types only: `ws` itself is loaded when a web server starts, so other CLI commands don't pay
// for it (esbuild hoists static imports of external packages to the top of the bundle).
import type { RawData, WebSocket } from 'ws';

/** WebSocket readyState values (RFC 6455 / the WHATWG API). */
const WS_OPEN = 1;
const WS_CLOSED = 3;
import { STREAM_CLOSE, WEB_PATHS } from '../common/api.js';
import {
  ROOT_PROMPT_CALLS,
  type CallName,
  type CallParams,
  type StreamName,
  type StreamParams,
} from '../common/contract.js';
import { isUserError, serializeError, VmdeskError } from '../common/errors.js';
import {
  attachStreamInput,
  ByteChannel,
  STREAM_BUDGET_BYTES,
  type ByteReader,
  type ByteStream,
} from '../consoles/byte-channel.js';
import { MAX_CALLS_IN_FLIGHT, replyChannel } from './control-socket.js';
import type { DriverLink } from './driver-link.js';
import {
  allowedOrigins,
  assertListenHost,
  checkUpgrade,
  contentType,
  resolveStaticFile,
  securityHeaders,
  urlHost,
} from './web-auth.js';
import { createUploadHandler, UPLOAD_PATH } from './web-upload.js';

export { MAX_UPLOAD_BYTES, UPLOAD_PATH } from './web-upload.js';

export interface WebServerOptions {
  /**
   * The driver (owner or client). Its `call` and `openStream` MUST validate what they get: the server passes wire input
   * through.
   */
  link: Pick<DriverLink, 'call' | 'subscribe' | 'openStream'>;
  /** The built renderer (index.html + assets). */
  staticDir: string;
  /** Required on every WebSocket (`?token=`). MUST NOT be empty. */
  token: string;
  /** Default 127.0.0.1. A wildcard address (0.0.0.0, ::) is refused: see web-auth.ts. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Debug log (`call vm.start {"vm":"x"}`, refused upgrades, stream opens); arguments cut to 500 chars. */
  log?: (line: string) => void;
  /**
   * Keep-alive ping period; a socket that missed the previous ping is terminated, unless the server itself stopped
   * reading it meanwhile (backpressure). Default 30 s (tests shorten it).
   */
  pingIntervalMs?: number;
  /** Where `PUT /upload` stores files (the ISO library); without it uploads answer 404. */
  uploadDir?: string;
}

export interface WebServer {
  /** `http://127.0.0.1:PORT/#token=T`: ready to open in a browser. */
  url: string;
  /** `http://127.0.0.1:PORT`: the origin the WebSockets accept. */
  origin: string;
  port: number;
  /** Closes every socket (code 1001) and the server. Idempotent. */
  close(): Promise<void>;
}

/**
 * Larger frames are refused by ws itself, which closes the socket with 1009 (the one malformed frame that does not get
 * a reply).
 */
const MAX_FRAME_BYTES = 1024 * 1024;
/**
 * Frames handed to ws that the kernel has not taken yet may cost this much (payload plus
 * FRAME_OVERHEAD_BYTES each: ws keeps a header buffer and a callback per frame) before the socket
 * counts as full; then the frames wait, coalesced, in a ByteChannel (see wsSender).
 */
const WS_WINDOW_BYTES = 256 * 1024;
const FRAME_OVERHEAD_BYTES = 256;
/** The WebSocket limit for a close reason. */
const REASON_MAX_BYTES = 123;
const CLOSE_GRACE_MS = 1000;
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

function closeWith(ws: WebSocket, code: number, reason: string): void {
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

/** Ends a refused upgrade with a bare HTTP status, as ws's own abortHandshake does. */
function refuseUpgrade(socket: Duplex, status: number): void {
  if (!socket.writable) return void socket.destroy();
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export async function startWebServer(opts: WebServerOptions): Promise<WebServer> {
  const host = opts.host ?? '127.0.0.1';
  assertListenHost(host);
  if (opts.token === '')
    throw new VmdeskError('invalid-argument', 'vmdesk web needs a non-empty token.', { field: 'token' });
  let realRoot: string;
  try {
    realRoot = await fs.promises.realpath(opts.staticDir);
  } catch (err) {
    throw new VmdeskError(
      'not-found',
      `The web UI is not built: ${opts.staticDir} does not exist. Run npm run build.`,
      { path: opts.staticDir },
      { cause: err },
    );
  }
  const link = opts.link;
  const log = (line: string) => {
    try {
      opts.log?.(line);
    } catch {
      /* a failing logger must not break a request */
    }
  };
  const alive = new Map<WebSocket, boolean>();
  /**
   * Sockets the server stopped reading (`hold`) since the last keep-alive tick: a paused socket
   * cannot read the pong to the last ping either, so its silence does not count against it. (A
   * peer that is really gone fails the pings' TCP retransmissions, which closes the socket.)
   */
  const held = new Set<WebSocket>();
  /** Stops reading `ws` (ws.pause(), a no-op on a socket that is not open). */
  const hold = (ws: WebSocket) => {
    ws.pause();
    held.add(ws);
  };
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, clientTracking: false });
  const server = http.createServer();
  let origins: string[] = [];
  let headers: Record<string, string> = {};
  let closing: Promise<void> | undefined;

  // Node's default (5 min for a whole request) would cut a large upload; idle uploads time out instead.
  server.requestTimeout = 0;
  const serveUpload = createUploadHandler({
    dir: opts.uploadDir,
    token: opts.token,
    origins: () => origins,
    closing: () => closing !== undefined,
    log,
    inspect: (file) => link.call('iso.inspect', { path: file }),
  });

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (new URL(req.url ?? '/', 'http://request.invalid').pathname === UPLOAD_PATH) {
      serveUpload(req).then(
        ({ status, body }) => {
          for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
          // A refused request's body is read and dropped by Node after this reply (keep-alive).
          res
            .writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' })
            .end(JSON.stringify(body));
        },
        () => res.destroy(),
      );
      return;
    }
    serveStatic(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });

  async function serveStatic(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    const found = await resolveStaticFile(realRoot, req.url ?? '/');
    if (!found) {
      res
        .writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' })
        .end(req.method === 'HEAD' ? undefined : 'Not found.\n');
      return;
    }
    const type = contentType(found.file);
    res.writeHead(200, {
      'Content-Type': type,
      'Content-Length': found.size,
      // The page names the current asset files: always revalidate it.
      ...(type.startsWith('text/html') ? { 'Cache-Control': 'no-cache' } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    const body = fs.createReadStream(found.file);
    body.on('error', () => res.destroy());
    body.pipe(res);
  }

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    try {
      const url = new URL(req.url ?? '/', 'http://upgrade.invalid');
      if (url.pathname !== WEB_PATHS.api && url.pathname !== WEB_PATHS.stream) return refuseUpgrade(socket, 404);
      if (closing) return refuseUpgrade(socket, 503);
      const verdict = checkUpgrade(req.headers.origin, url.searchParams.get('token'), opts.token, origins);
      if (!verdict.ok) {
        log(`refused ${url.pathname}: ${verdict.status} (${verdict.why})`);
        return refuseUpgrade(socket, verdict.status);
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        alive.set(ws, true);
        ws.on('pong', () => alive.set(ws, true));
        ws.on('error', () => {});
        ws.on('close', () => {
          alive.delete(ws);
          held.delete(ws);
        });
        if (url.pathname === WEB_PATHS.api) serveApi(ws, !isLoopback(req.socket.remoteAddress));
        else serveStream(ws, url.searchParams);
      });
    } catch (err) {
      log(`upgrade failed: ${serializeError(err).message.slice(0, 500)}`);
      socket.destroy();
    }
  });

  function serveApi(ws: WebSocket, remote: boolean): void {
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
      if (msg.subscribe === true) return subscribe(id);
      if (msg.stream !== undefined)
        return invalid(id, `Streams open on their own WebSocket: ${WEB_PATHS.stream}?name=...&params=...`);
      const method =
        typeof msg.method === 'string' ? msg.method.slice(0, 100) : String(JSON.stringify(msg.method)).slice(0, 100);
      log(`call ${method} ${String(JSON.stringify(msg.params ?? {})).slice(0, 500)}`);
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

  function serveStream(ws: WebSocket, query: URLSearchParams): void {
    const name = query.get('name');
    const rawParams = query.get('params');
    log(`stream ${String(name).slice(0, 100)} ${String(rawParams).slice(0, 500)}`);
    let params: unknown;
    try {
      params = rawParams === null ? undefined : JSON.parse(rawParams);
    } catch {
      return closeWith(ws, STREAM_CLOSE.refused, 'The stream parameters are not valid JSON.');
    }
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
      .then(() => link.openStream(name as StreamName, params as StreamParams<StreamName>))
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

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  origins = allowedOrigins(host, port);
  headers = securityHeaders(origins);

  const keepAlive = setInterval(() => {
    for (const [ws, ok] of alive) {
      if (!ok && !held.has(ws)) {
        ws.terminate();
        continue;
      }
      if (ws.isPaused) held.add(ws);
      else held.delete(ws);
      alive.set(ws, false);
      try {
        ws.ping();
      } catch {
        /* not open any more: its close event removes it */
      }
    }
  }, opts.pingIntervalMs ?? 30_000);
  keepAlive.unref();

  const shutdown = async () => {
    clearInterval(keepAlive);
    const sockets = [...alive.keys()];
    const allClosed = Promise.all(
      sockets.map((ws) => (ws.readyState === WS_CLOSED ? undefined : new Promise((r) => ws.once('close', r)))),
    );
    for (const ws of sockets) closeWith(ws, 1001, 'vmdesk web is shutting down.');
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([allClosed, new Promise((r) => (grace = setTimeout(r, CLOSE_GRACE_MS)))]);
    clearTimeout(grace);
    for (const ws of sockets) ws.terminate();
    wss.close();
    const serverClosed = new Promise<void>((r) => server.close(() => r()));
    server.closeAllConnections();
    await serverClosed;
  };

  return {
    url: `http://${urlHost(host)}:${port}/#token=${encodeURIComponent(opts.token)}`,
    origin: origins[0]!,
    port,
    close: () => (closing ??= shutdown()),
  };
}

/** 127.0.0.0/8, ::1, and IPv4-mapped loopback (::ffff:127.x): the browser is on this computer. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4 === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}
