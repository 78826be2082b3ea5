/**
 * What the window may load, open and ask for, as data and pure functions (window.ts applies them):
 * the app:// responses with their CSP, navigation and window.open decisions, the permission
 * allow-list, and the file dialog filters.
 */
import fs from 'node:fs';
import { contentType, resolveStaticFile } from '../ipc/web-auth.js';
import { APP_HOST, type PickKind } from './channels.js';
import { isAppUrl } from './ipc-guard.js';

/**
 * The page's Content-Security-Policy: only our own scripts (no inline, no eval), styles inline
 * for React/xterm, images from data:/blob: for screenshots, no network but app:// itself, no
 * frames, no plugins. Sent as a header by the app:// handler, so it covers every response.
 */
export const APP_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-src 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

const BASE_HEADERS = {
  'Content-Security-Policy': APP_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  // Rebuilt files keep their names: never serve a stale app.js after an update.
  'Cache-Control': 'no-cache',
};

/**
 * The response to one app:// request: a file of the built renderer (`realRoot`, already
 * realpath'd), resolved as `vmdesk web` resolves its static files (no `..`, no symlink escape).
 */
export async function appResponse(realRoot: string, req: { url: string; method: string }): Promise<Response> {
  const notFound = () =>
    new Response('Not found.\n', {
      status: 404,
      headers: { ...BASE_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' },
    });
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return new Response(null, { status: 405, headers: { ...BASE_HEADERS, Allow: 'GET, HEAD' } });
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return notFound();
  }
  if (url.host !== APP_HOST) return notFound();
  const found = await resolveStaticFile(realRoot, url.pathname);
  if (!found) return notFound();
  const headers = { ...BASE_HEADERS, 'Content-Type': contentType(found.file), 'Content-Length': String(found.size) };
  const body = req.method === 'HEAD' ? null : new Uint8Array(await fs.promises.readFile(found.file));
  return new Response(body, { status: 200, headers });
}

/** Where a link may lead: our own pages stay, http(s) opens in the user's browser, anything else is dropped. */
export function navigationDecision(url: string): 'allow' | 'external' | 'deny' {
  if (isAppUrl(url)) return 'allow';
  return isExternalWebUrl(url) ? 'external' : 'deny';
}

export function isExternalWebUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

/**
 * Permissions the page may have: the clipboard both ways (writing sanitized text, e.g. what the
 * guest copied; reading it for "Paste to guest" and "Type text…"), and fullscreen for the console.
 */
const ALLOWED_PERMISSIONS: ReadonlySet<string> = new Set(['clipboard-sanitized-write', 'clipboard-read', 'fullscreen']);

export function isPermissionAllowed(permission: string, requestingUrl: string | undefined): boolean {
  return ALLOWED_PERMISSIONS.has(permission) && isAppUrl(requestingUrl);
}

export function pickDialogOptions(kind: PickKind): {
  title: string;
  properties: ['openFile'];
  filters: { name: string; extensions: string[] }[];
} {
  const all = { name: 'All files', extensions: ['*'] };
  return kind === 'iso'
    ? {
        title: 'Choose an installer ISO',
        properties: ['openFile'],
        filters: [{ name: 'Disk images (ISO)', extensions: ['iso'] }, all],
      }
    : {
        title: 'Choose a disk image',
        properties: ['openFile'],
        filters: [{ name: 'Disk images', extensions: ['qcow2', 'img', 'raw'] }, all],
      };
}
