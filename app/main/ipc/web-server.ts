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
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
// Types only: `ws` itself is loaded when a web server starts, so other CLI commands don't pay
// for it (esbuild hoists static imports of external packages to the top of the bundle).
import type { RawData, WebSocket } from 'ws';

/** WebSocket readyState values (RFC 6455 / the WHATWG API). */
const WS_OPEN = 1;
const WS_CLOSED = 3;
import { STREAM_CLOSE, WEB_PATHS } from '../common/api.js';
import type { CallName, CallParams, StreamName, StreamParams } from '../common/contract.js';
import { isUserError, serializeError, VmdeskError } from '../common/errors.js';
import type { ByteChannel, DriverLink } from './driver-link.js';
import { allowedOrigins, assertListenHost, checkUpgrade, contentType, resolveStaticFile, securityHeaders, uploadFileName, urlHost } from './web-auth.js';

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
export const UPLOAD_PATH = '/upload';
/** No installer image comes near this (the largest DVDs are ~20 GiB); bigger is refused with 413. */
export const MAX_UPLOAD_BYTES = 2 ** 40;
/** An upload that sends nothing for this long is dropped (and its .part file removed). */
const UPLOAD_IDLE_MS = 60_000;

type UploadReply = { status: number; body: object };
const uploadError = (status: number, code: string, message: string): UploadReply => ({ status, body: { error: { code, message } } });

function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[i]}`;
}

async function freeBytes(dir: string): Promise<number> {
  const st = await fs.promises.statfs(dir);
  return st.bavail * st.bsize;
}

async function sizeOf(file: string): Promise<number | undefined> {
  const st = await fs.promises.stat(file).catch(() => undefined);
  return st?.isFile() ? st.size : undefined;
}

/**
 * Where a finished upload of `name` goes: `name` itself, or a same-size file already there
 * (the same ISO dropped again: reused, not copied twice), or "name (2).iso", "name (3).iso"...
 */
async function libraryTarget(dir: string, name: string, size: number): Promise<{ file: string; reused: boolean }> {
  const ext = path.extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 1; ; n++) {
    const file = path.join(dir, n === 1 ? name : `${stem} (${n})${ext}`);
    const have = await sizeOf(file);
    if (have === undefined) return { file, reused: false };
    if (have === size) return { file, reused: true };
  }
}

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
  const uploading = new Set<string>();

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

  /**
   * `PUT /upload?token=T&name=N`, the file as the body (Content-Length required). Streams into
   * `<uploadDir>/.N.part` (0600) and renames it when complete; an aborted or failed upload
   * deletes its .part file. The stored file is then inspected (iso.inspect) and deleted again if
   * it is not an installer image, so nothing unusable stays in the library. Replies `{path, plan}`,
   * or `{error: {code, message}}` with 400/401/403/404/409/411/413/422/507.
   */
  async function serveUpload(req: http.IncomingMessage): Promise<UploadReply> {
    const url = new URL(req.url ?? '/', 'http://request.invalid');
    const dir = opts.uploadDir;
    if (!dir) return uploadError(404, 'unsupported', 'This server does not take uploads.');
    if (req.method !== 'PUT') return uploadError(405, 'invalid-argument', 'Upload with PUT.');
    if (closing) return uploadError(503, 'cancelled', 'vmdesk web is shutting down.');
    const verdict = checkUpgrade(req.headers.origin, url.searchParams.get('token'), opts.token, origins);
    if (!verdict.ok) {
      log(`refused ${UPLOAD_PATH}: ${verdict.status} (${verdict.why})`);
      return uploadError(verdict.status, 'invalid-argument', verdict.status === 401 ? 'The access token is wrong or missing. Open the link vmdesk web printed.' : 'Uploads are accepted only from the vmdesk page itself.');
    }
    const length = req.headers['content-length'];
    if (length === undefined || !/^\d+$/.test(length)) return uploadError(411, 'invalid-argument', 'An upload needs a Content-Length header.');
    const size = Number(length);
    if (size > MAX_UPLOAD_BYTES) return uploadError(413, 'insufficient-resources', `This file (${formatBytes(size)}) is larger than any installer image vmdesk takes (${formatBytes(MAX_UPLOAD_BYTES)}).`);
    let name: string;
    try {
      name = uploadFileName(url.searchParams.get('name'));
    } catch (err) {
      return uploadError(400, 'invalid-argument', serializeError(err).message);
    }
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    const early = await libraryTarget(dir, name, size);
    if (early.reused) {
      log(`upload ${name}: reusing ${early.file}`);
      return inspectUpload(early.file, false);
    }
    if (uploading.has(name)) return uploadError(409, 'invalid-state', `"${name}" is being uploaded already. Wait for that upload to finish.`);
    const free = await freeBytes(dir);
    if (size > free) {
      return uploadError(507, 'insufficient-resources', `"${name}" needs ${formatBytes(size)}, but only ${formatBytes(free)} is free in ${dir}. Free some space and try again.`);
    }
    uploading.add(name);
    const onIdle = () => req.destroy(new Error(`nothing received for ${UPLOAD_IDLE_MS / 1000} s`));
    const part = path.join(dir, `.${name}.part`);
    let target: { file: string; reused: boolean };
    try {
      req.socket.setTimeout(UPLOAD_IDLE_MS);
      req.socket.on('timeout', onIdle);
      await pipeline(req, fs.createWriteStream(part, { mode: 0o600 }));
      const got = await sizeOf(part);
      if (got !== size) throw new VmdeskError('invalid-argument', `The upload ended after ${got ?? 0} of ${size} bytes.`);
      target = await libraryTarget(dir, name, size);
      if (target.reused) await fs.promises.rm(part, { force: true });
      else await fs.promises.rename(part, target.file);
    } catch (err) {
      await fs.promises.rm(part, { force: true });
      log(`upload ${name} failed: ${serializeError(err).message.slice(0, 500)}`);
      return uploadError(400, 'cancelled', 'The upload did not complete; nothing was kept. Try again.');
    } finally {
      req.socket.setTimeout(0);
      req.socket.off('timeout', onIdle);
      uploading.delete(name);
    }
    log(`upload ${name}: ${size} bytes → ${target.file}`);
    return inspectUpload(target.file, !target.reused);
  }

  async function inspectUpload(file: string, created: boolean): Promise<UploadReply> {
    try {
      const plan = await link.call('iso.inspect', { path: file });
      return { status: 200, body: { path: file, plan } };
    } catch (err) {
      if (created) await fs.promises.rm(file, { force: true });
      const e = serializeError(err);
      return { status: isUserError(e.code) ? 422 : 500, body: { error: e } };
    }
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
        if (url.pathname === WEB_PATHS.api) serveApi(ws);
        else serveStream(ws, url.searchParams);
      });
    } catch (err) {
      log(`upgrade failed: ${serializeError(err).message.slice(0, 500)}`);
      socket.destroy();
    }
  });

  function serveApi(ws: WebSocket): void {
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
