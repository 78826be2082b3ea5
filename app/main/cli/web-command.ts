/**
 * `vmdesk web`: the renderer in a browser. Serves the built UI and the WebSocket transport on
 * 127.0.0.1 with a token; the printed URL is ready to open.
 *
 * The token and the port are kept (token 0600 in the config dir), so restarting `vmdesk web`
 * keeps an open page's URL valid and the page reconnects by itself.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VmdeskError } from '../common/errors.js';
import type { DriverLink } from '../ipc/driver-link.js';
import { startWebServer } from '../ipc/web-server.js';
import type { AppPaths } from '../paths/app-paths.js';
import { isoLibraryDir } from '../paths/vm-files.js';
import { writeFileAtomic } from '../vm/atomic-file.js';

export interface WebCommandOptions {
  port?: number;
  listen?: string;
  open: boolean;
  newToken: boolean;
}

/** The built renderer: dist/renderer next to dist/cli (where this module is bundled). */
export function rendererDir(): string {
  return fileURLToPath(new URL('../renderer/', import.meta.url));
}

export function webTokenFile(paths: AppPaths): string {
  return path.join(paths.config, 'web-token');
}

/** 192 bits of randomness, URL-safe; created once and kept private to the user. */
export function loadOrCreateToken(paths: AppPaths, renew: boolean): string {
  const file = webTokenFile(paths);
  if (!renew) {
    try {
      const t = fs.readFileSync(file, 'utf8').trim();
      if (/^[A-Za-z0-9_-]{32,}$/.test(t)) return t;
    } catch {
      /* first run */
    }
  }
  const token = crypto.randomBytes(24).toString('base64url');
  writeFileAtomic(file, token + '\n', 0o600);
  return token;
}

function lastPortFile(paths: AppPaths): string {
  return path.join(paths.state, 'web-port');
}

function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export async function runWeb(
  link: DriverLink,
  paths: AppPaths,
  o: WebCommandOptions,
  err: NodeJS.WritableStream,
  out: NodeJS.WritableStream,
): Promise<void> {
  const host = o.listen ?? '127.0.0.1';
  if (o.listen !== undefined && net.isIP(o.listen) === 0 && o.listen !== 'localhost') {
    throw new VmdeskError('invalid-argument', `--listen takes an IP address, not "${o.listen}".`, { field: 'listen' });
  }
  const staticDir = rendererDir();
  if (!fs.existsSync(path.join(staticDir, 'index.html'))) {
    throw new VmdeskError(
      'internal',
      `The web UI is not built (${staticDir} has no index.html). Run \`npm run build\` in the vmdesk folder.`,
    );
  }
  let port = o.port;
  if (port === undefined) {
    const last = Number(safeRead(lastPortFile(paths)));
    port = Number.isInteger(last) && last > 0 && (await portIsFree(host, last)) ? last : 0;
  }
  const token = loadOrCreateToken(paths, o.newToken);
  let server;
  try {
    server = await startWebServer({ link, staticDir, token, host, port, uploadDir: isoLibraryDir(paths) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new VmdeskError(
        'invalid-argument',
        `Port ${port} on ${host} is in use. Pick another with --port N, or leave --port out to get a free one.`,
        { field: 'port' },
      );
    throw e;
  }
  fs.writeFileSync(lastPortFile(paths), String(server.port) + '\n', { mode: 0o600 });
  if (!LOOPBACK.has(host)) {
    err.write(
      `WARNING: vmdesk web listens on ${host}: anyone who can reach this address and has the token can control your VMs. Prefer the default (127.0.0.1) with an SSH tunnel.\n`,
    );
  }
  out.write(
    `vmdesk web is running. Open this URL in your browser (it contains your access token):\n\n  ${server.url}\n\nCtrl+C stops the web server; your VMs keep running.\n`,
  );
  if (o.open) openBrowser(server.url, err);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
}

function safeRead(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function openBrowser(url: string, err: NodeJS.WritableStream): void {
  const cmd = process.platform === 'darwin' ? 'open' : 'xdg-open';
  execFile(cmd, [url], (e) => {
    if (e) err.write(`Could not open a browser (${cmd}: ${e.message}); open the URL above yourself.\n`);
  });
}
