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
import { ROOT_PROMPT_CALLS, type CallName, type CallParams, type StreamName, type StreamParams } from '../common/contract.js';
import { isUserError, serializeError, VmdeskError } from '../common/errors.js';
import type { ByteChannel, DriverLink } from './driver-link.js';
import { allowedOrigins, assertListenHost, checkUpgrade, contentType, resolveStaticFile, securityHeaders, urlHost } from './web-auth.js';
import { createUploadHandler, UPLOAD_PATH } from './web-upload.js';

export { MAX_UPLOAD_BYTES, UPLOAD_PATH } from './web-upload.js';

export interface WebServerOptions {
  /** The driver (owner or client). Its `call` and `openStream` MUST validate what they get: the server passes wire input through. */
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
  /** Keep-alive ping period; a socket that missed the previous ping is terminated. Default 30 s (tests shorten it). */
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

/** Larger frames are refused by ws itself, which closes the socket with 1009 (the one malformed frame that does not get a reply). */
const MAX_FRAME_BYTES = 1024 * 1024;
/**
 * A client whose unsent queue grows past this is dropped (4500) rather than paused: ByteChannel
 * has no pause, and a viewer that far behind (8 MiB of VNC) is better off reconnecting.
 */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
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

/** Sends, then drops a client that stopped reading. Returns false once the socket is unusable. */
function sendGuarded(ws: WebSocket, data: string | Uint8Array): boolean {
  if (ws.readyState !== WS_OPEN) return false;
  ws.send(data, { binary: typeof data !== 'string' });
  if (ws.bufferedAmount <= MAX_BUFFERED_BYTES) return true;
  closeWith(ws, STREAM_CLOSE.failed, 'The viewer fell too far behind.');
  return false;
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
  if (opts.token === '') throw new VmdeskError('invalid-argument', 'vmdesk web needs a non-empty token.', { field: 'token' });
  let realRoot: string;
  try {
    realRoot = await fs.promises.realpath(opts.staticDir);
  } catch (err) {
    throw new VmdeskError('not-found', `The web UI is not built: ${opts.staticDir} does not exist. Run npm run build.`, { path: opts.staticDir }, { cause: err });
  }
  const link = opts.link;
  const log = (line: string) => {
    try {
      opts.log?.(line);
    } catch { /* a failing logger must not break a request */ }
  };
  const alive = new Map<WebSocket, boolean>();
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, clientTracking: false });
  const server = http.createServer();
  let origins: string[] = [];
  let headers: Record<string, string> = {};
  let closing: Promise<void> | undefined;

  // Node's default (5 min for a whole request) would cut a large upload; idle uploads time out instead.
  server.requestTimeout = 0;
  const serveUpload = createUploadHandler({
    dir: opts.uploadDir, token: opts.token, origins: () => origins, closing: () => closing !== undefined, log,
    inspect: (file) => link.call('iso.inspect', { path: file }),
  });

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (new URL(req.url ?? '/', 'http://request.invalid').pathname === UPLOAD_PATH) {
      serveUpload(req).then(({ status, body }) => {
        for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
        // A refused request's body is read and dropped by Node after this reply (keep-alive).
        res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }).end(JSON.stringify(body));
      }, () => res.destroy());
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
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : 'Not found.\n');
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
        ws.on('close', () => alive.delete(ws));
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
    const send = (obj: object) => {
      let text: string;
      try {
        text = JSON.stringify(obj);
      } catch (err) {
        text = JSON.stringify({ id: 'id' in obj ? obj.id : null, error: serializeError(err) });
      }
      sendGuarded(ws, text);
    };
    const invalid = (id: unknown, message: string) => send({ id, error: { code: 'invalid-argument', message } });
    ws.on('close', () => {
      closed = true;
      for (const d of disposers.splice(0)) {
        try {
          d();
        } catch { /* the subscription is gone either way */ }
      }
    });

    const subscribe = (id: unknown) => {
      // Events that arrive before the subscription is confirmed wait, so the reply comes first.
      let confirmed = false;
      const early: object[] = [];
      Promise.resolve()
        .then(() => link.subscribe((event, data) => (confirmed ? send({ event, data }) : early.push({ event, data }))))
        .then((dispose) => {
          if (closed) return dispose();
          disposers.push(dispose);
          send({ id, result: {} });
          confirmed = true;
          for (const f of early.splice(0)) send(f);
        }, (err: unknown) => send({ id, error: serializeError(err) }));
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
      if (msg.stream !== undefined) return invalid(id, `Streams open on their own WebSocket: ${WEB_PATHS.stream}?name=...&params=...`);
      const method = typeof msg.method === 'string' ? msg.method.slice(0, 100) : String(JSON.stringify(msg.method)).slice(0, 100);
      log(`call ${method} ${String(JSON.stringify(msg.params ?? {})).slice(0, 500)}`);
      if (remote && ROOT_PROMPT_CALLS.includes(msg.method as CallName)) {
        return send({ id, error: { code: 'unsupported', message: 'This asks for an administrator password on the computer that runs vmdesk, so it only works from a browser on that computer (or run `vmdesk mdev check VM --fix` there).' } });
      }
      // The link validates method and params (the dispatcher, here or in the owner process).
      Promise.resolve()
        .then(() => link.call(msg.method as CallName, msg.params as CallParams<CallName>))
        .then((result) => send({ id, result }), (err: unknown) => send({ id, error: serializeError(err) }));
    };

    ws.on('message', (data: RawData, isBinary: boolean) => {
      try {
        onFrame(data, isBinary);
      } catch (err) {
        send({ id: null, error: serializeError(err) });
      }
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
    let channel: ByteChannel | undefined;
    let done = false;
    const early: Uint8Array[] = [];
    const finish = () => {
      if (done) return;
      done = true;
      try {
        channel?.close();
      } catch (err) {
        log(`stream close failed: ${serializeError(err).message.slice(0, 500)}`);
      }
    };
    ws.on('message', (data: RawData) => {
      if (done) return;
      const bytes = toBytes(data);
      if (!channel) return void early.push(bytes);
      try {
        channel.write(bytes);
      } catch (err) {
        // Thrown from inside ws's event: uncaught, it would take the whole server down.
        closeWith(ws, STREAM_CLOSE.failed, serializeError(err).message);
        finish();
      }
    });
    ws.on('close', finish);

    // The link validates name and params (parseStreamRequest, here or in the owner process).
    Promise.resolve()
      .then(() => link.openStream(name as StreamName, params as StreamParams<StreamName>))
      .then((ch) => {
        if (done) return ch.close();
        channel = ch;
        for (const b of early.splice(0)) ch.write(b);
        // Data first: an owner-mode channel replays queued bytes (and a recorded end) on registration.
        ch.onData((chunk) => {
          if (!done && !sendGuarded(ws, chunk)) finish();
          // Tells the producer (e.g. the VNC proxy) how far behind this viewer is, so it can pause.
          return ws.bufferedAmount;
        });
        ch.onEnd((reason) => closeWith(ws, STREAM_CLOSE.ended, reason));
      }, (err: unknown) => {
        const e = serializeError(err);
        log(`stream refused: ${e.code} ${e.message.slice(0, 500)}`);
        closeWith(ws, isUserError(e.code) ? STREAM_CLOSE.refused : STREAM_CLOSE.failed, e.message);
      })
      .catch((err: unknown) => {
        // A channel that throws while being wired up: end the socket, never the server.
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
      if (!ok) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      try {
        ws.ping();
      } catch { /* not open any more: its close event removes it */ }
    }
  }, opts.pingIntervalMs ?? 30_000);
  keepAlive.unref();

  const shutdown = async () => {
    clearInterval(keepAlive);
    const sockets = [...alive.keys()];
    const allClosed = Promise.all(sockets.map((ws) => (ws.readyState === WS_CLOSED ? undefined : new Promise((r) => ws.once('close', r)))));
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
