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
import { WEB_PATHS } from '../common/api.js';
import { serializeError, VmdeskError } from '../common/errors.js';
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
import { closeWith, KeepAlive, serveApi, serveStream, WS_CLOSED, type WebLink } from './web-sockets.js';

export { MAX_UPLOAD_BYTES, UPLOAD_PATH } from './web-upload.js';

export interface WebServerOptions {
  /**
   * The driver (owner or client). Its `call` and `openStream` MUST validate what they get: the server passes wire input
   * through. As a client (`mode`), the server opens a local VM's screen itself (see web-sockets.ts openStream).
   */
  link: WebLink;
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
  /** Where `PUT /upload` stores files (the ISO library, asked at each upload when a function);
   * without it uploads answer 404. */
  uploadDir?: string | (() => Promise<string>);
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
const CLOSE_GRACE_MS = 1000;
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
  const keepAlive = new KeepAlive(opts.pingIntervalMs ?? 30_000);
  // `ws` is loaded only when a web server starts, so other CLI commands don't pay for it (esbuild
  // hoists static imports of external packages to the top of the bundle; web-sockets.ts takes types).
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
          // A request refused before its body was read (409, 411, 413, 507...): close the
          // connection after the reply, or Node would read and drop gigabytes to keep it alive.
          if (!req.readableEnded) res.setHeader('Connection', 'close');
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
        keepAlive.track(ws);
        ws.on('error', () => {});
        const ctx = { link, log, keepAlive };
        if (url.pathname === WEB_PATHS.api) serveApi(ws, !isLoopback(req.socket.remoteAddress), ctx);
        else serveStream(ws, url.searchParams, ctx);
      });
    } catch (err) {
      log(`upgrade failed: ${serializeError(err).message.slice(0, 500)}`);
      socket.destroy();
    }
  });

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

  const shutdown = async () => {
    keepAlive.stop();
    const sockets = keepAlive.sockets;
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
