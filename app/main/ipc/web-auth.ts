/**
 * Who may reach `vmdesk web`, and what: the token and Origin checks for its WebSockets, the
 * headers of every HTTP response, and the resolution of a request path to a file that is really
 * inside the static directory.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';

/**
 * Compares in constant time. Both sides are hashed first so the buffers handed to
 * timingSafeEqual always have the same length, and a wrong length leaks nothing either.
 */
export function tokenMatches(given: string | null | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const digest = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest();
  return crypto.timingSafeEqual(digest(given), digest(expected));
}

/** `host` as it appears in a URL (IPv6 in brackets). */
export function urlHost(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

/**
 * The origins whose pages may open our WebSockets: our own, plus `localhost` when we listen on
 * 127.0.0.1 (the same socket, reached by the name people type).
 * MUST NOT be called with a wildcard address: a browser never uses 0.0.0.0 as an origin, so
 * every page would be refused; the caller refuses such a host before listening.
 */
export function allowedOrigins(host: string, port: number): string[] {
  const own = [`http://${urlHost(host)}:${port}`];
  if (host === '127.0.0.1') own.push(`http://localhost:${port}`);
  return own;
}

export function assertListenHost(host: string): void {
  if (host === '0.0.0.0' || host === '::' || host === '') {
    throw new VmdeskError(
      'invalid-argument',
      `vmdesk web cannot listen on the wildcard address ${JSON.stringify(host)}: browsers check the page's own address. Listen on the address the browser will use (e.g. 127.0.0.1 or this machine's LAN address).`,
      { field: 'host' },
    );
  }
}

export type UpgradeVerdict = { ok: true } | { ok: false; status: 401 | 403; why: string };

/**
 * The check for every WebSocket upgrade.
 * - Origin: browsers always send it on a WebSocket handshake and a page cannot remove or forge
 *   it, so a page on another origin (a web site the user visits, DNS rebinding) always presents
 *   a foreign one and is refused here, even if it somehow knew the token.
 * - No Origin at all therefore means a non-browser client (the CLI, a script, the tests); those
 *   are let in on the token alone, as a local process could read the token anyway.
 * Origin goes first so a foreign page never gets to probe the token.
 */
export function checkUpgrade(
  origin: string | undefined,
  token: string | null,
  expectedToken: string,
  origins: readonly string[],
): UpgradeVerdict {
  if (origin !== undefined && !origins.includes(origin))
    return { ok: false, status: 403, why: `origin ${origin.slice(0, 200)}` };
  if (!tokenMatches(token, expectedToken))
    return { ok: false, status: 401, why: token === null ? 'no token' : 'wrong token' };
  return { ok: true };
}

/** Headers on every HTTP response. `origins` are ours, so `ws://` forms of them may be connected to. */
export function securityHeaders(origins: readonly string[]): Record<string, string> {
  const ws = origins.map((o) => o.replace(/^http:/, 'ws:')).join(' ');
  return {
    'Content-Security-Policy': `default-src 'self'; connect-src 'self' ${ws}; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'`,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  };
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

export function contentType(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The file a request path names inside `realRoot` (already realpath'd), or undefined (→ 404).
 * Refuses: anything not starting with `/`, bad percent-encoding, NUL, backslashes, any `..` or
 * `.` segment after decoding (so `%2e%2e` and `..%2f` are caught too), and any file whose real
 * path (symlinks followed) is outside the root. Only regular files are served; `/` is index.html.
 */
export async function resolveStaticFile(
  realRoot: string,
  rawUrl: string,
): Promise<{ file: string; size: number } | undefined> {
  if (!rawUrl.startsWith('/')) return undefined;
  const rawPath = rawUrl.split(/[?#]/, 1)[0] ?? '';
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) return undefined;
  if (segments.length === 0) segments.push('index.html');
  try {
    const real = await fs.promises.realpath(path.join(realRoot, ...segments));
    if (!real.startsWith(realRoot + path.sep)) return undefined;
    const st = await fs.promises.stat(real);
    return st.isFile() ? { file: real, size: st.size } : undefined;
  } catch {
    return undefined;
  }
}

/** ISO library names are at most this long (bytes), well under NAME_MAX (255) with ".…part" around them. */
const MAX_UPLOAD_NAME_BYTES = 200;

/**
 * The file name an upload is stored under in the ISO library, from the name the browser sent:
 * its last path component only, characters outside [A-Za-z0-9._ -] replaced by "_", no leading
 * dots or spaces (no hidden files, no clash with our own temp files ".NAME.<random>.part"), ending in .iso or .img.
 * Throws invalid-argument (→ 400) when nothing usable is left.
 */
export function uploadFileName(raw: string | null): string {
  const base = (raw ?? '').split(/[/\\]/).pop() ?? '';
  let name = base
    .replace(/[^A-Za-z0-9._ -]/g, '_')
    .replace(/^[. ]+/, '')
    .trimEnd();
  if (Buffer.byteLength(name) > MAX_UPLOAD_NAME_BYTES) {
    const ext = path.extname(name);
    name = name.slice(0, MAX_UPLOAD_NAME_BYTES - ext.length) + ext;
  }
  if (!/^.+\.(iso|img)$/i.test(name)) {
    throw new VmdeskError(
      'invalid-argument',
      `"${base.slice(0, 200)}" is not an installer image name: upload a file whose name ends in .iso or .img.`,
      { field: 'name' },
    );
  }
  return name;
}
