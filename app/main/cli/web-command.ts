/**
 * `vmdesk web`: the renderer in a browser. Serves the built UI and the WebSocket transport on
 * 127.0.0.1 with a token; the printed URL is ready to open.
 *
 * The token and the port are kept (token 0600 in the config dir), so restarting `vmdesk web`
 * keeps an open page's URL valid and the page reconnects by itself.
 *
 * The token never goes on a command line: any local user can read every process's argv (`ps`),
 * and whoever has the token controls every VM. `--open` therefore hands the browser a private
 * redirect page (a file only we can read) rather than the token URL, as Jupyter does.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { VmdeskError } from '../common/errors.js';
import { DEFAULT_SETTINGS } from '../common/settings-types.js';
import type { DriverLink } from '../ipc/driver-link.js';
import { startWebServer } from '../ipc/web-server.js';
import { ensureRuntimeDir, type AppPaths } from '../paths/app-paths.js';
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

const myUid = (): number => process.getuid?.() ?? 0;
const octal = (mode: number): string => '0' + (mode & 0o777).toString(8).padStart(3, '0');

/**
 * 192 bits of randomness, URL-safe; created once and kept private to the user.
 *
 * A token file that others could have read is a leaked token: it is replaced, and `warn` says why
 * (a page opened with the old URL then needs the new one). The file must be a regular file (not a
 * symlink: lstat), ours, with no group/other bits. The config dir that holds it is made 0700.
 */
export function loadOrCreateToken(paths: AppPaths, renew: boolean, warn: (message: string) => void): string {
  const file = webTokenFile(paths);
  makeConfigDirPrivate(paths.config, warn);
  if (!renew) {
    const why = tokenFileProblem(file);
    if (why === undefined) {
      const t = fs.readFileSync(file, 'utf8').trim();
      if (/^[A-Za-z0-9_-]{32,}$/.test(t)) return t;
    } else if (why !== 'missing') {
      warn(
        `WARNING: the access token file ${file} ${why}, so other users may have read it. vmdesk web made a new token; ` +
          'reopen any open vmdesk page with the new URL printed below.\n',
      );
    }
  }
  const token = crypto.randomBytes(24).toString('base64url');
  // temp + rename: a symlink or another user's file in the way is replaced, never written through.
  writeFileAtomic(file, token + '\n', 0o600);
  return token;
}

/** Why `file` can't be trusted to hold a secret; undefined when it can. */
function tokenFileProblem(file: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw e;
  }
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (!st.isFile()) return 'is not a regular file';
  if (st.uid !== myUid()) return `belongs to another user (uid ${st.uid})`;
  if ((st.mode & 0o077) !== 0) return `is open to other users (mode ${octal(st.mode)})`;
  return undefined;
}

function makeConfigDirPrivate(dir: string, warn: (message: string) => void): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.statSync(dir);
  if (st.uid !== myUid())
    throw new VmdeskError(
      'invalid-state',
      `The config directory ${dir} belongs to another user (uid ${st.uid}), so vmdesk web cannot keep its access token there. Give it back to yourself (chown) or set XDG_CONFIG_HOME to a directory of yours.`,
    );
  if ((st.mode & 0o077) === 0) return;
  fs.chmodSync(dir, 0o700);
  warn(
    `WARNING: ${dir} was open to other users (mode ${octal(st.mode)}); it holds your web access token and VM definitions, so vmdesk made it private (0700).\n`,
  );
}

/**
 * Where `--open` writes the redirect pages: a 0700 directory of ours in the runtime dir (a tmpfs
 * cleared at logout on most desktops), one `open-<pid>.html` per `vmdesk web` process.
 */
export function openPagesDir(paths: AppPaths): string {
  return path.join(paths.runtime, 'web-open');
}

const OPEN_PAGE = /^\.?open-(\d+)\.html(?:\..*\.tmp)?$/;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** The page the browser gets from `--open`: it goes on to `url` (the token stays in the fragment). */
export function redirectPageHtml(url: string): string {
  const attr = url.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
  // JSON is a JS string literal; escaping `<` keeps a `</script>` in the URL from ending the script.
  const js = JSON.stringify(url).replace(/</g, '\\u003c');
  return `<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=${attr}">
<title>Opening vmdesk…</title>
<script>location.replace(${js});</script>
</head>
<body><p>Opening vmdesk… If nothing happens, <a href="${attr}">open vmdesk</a>.</p></body>
</html>
`;
}

/** Writes this process's redirect page (0600 in a 0700 dir we own) and returns its path. */
export function writeOpenPage(paths: AppPaths, url: string): string {
  ensureRuntimeDir(paths.runtime, myUid());
  // Same checks as the runtime dir: a real directory, ours, private.
  ensureRuntimeDir(openPagesDir(paths), myUid());
  const file = path.join(openPagesDir(paths), `open-${process.pid}.html`);
  writeFileAtomic(file, redirectPageHtml(url), 0o600);
  return file;
}

/** Removes redirect pages (and their temp files) left by `vmdesk web` processes that are gone. */
export function sweepStaleOpenPages(paths: AppPaths): void {
  const dir = openPagesDir(paths);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = OPEN_PAGE.exec(n);
    if (m && !processAlive(Number(m[1]))) fs.rmSync(path.join(dir, n), { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
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
  if (o.listen !== undefined && net.isIP(o.listen) === 0 && o.listen !== 'localhost') {
    throw new VmdeskError('invalid-argument', `--listen takes an IP address, not "${o.listen}".`, { field: 'listen' });
  }
  // The settings (webListen, webPort, webNewTokenEachStart) apply where no flag says otherwise.
  const settings = await link.call('settings.get', {}).then(
    (r) => r.values,
    (e: unknown) => {
      // An older vmdesk owning the VMs (the window, before an update) does not know the call.
      err.write(`vmdesk web uses its default settings: the settings could not be read (${(e as Error).message}).\n`);
      return DEFAULT_SETTINGS;
    },
  );
  const host = o.listen ?? settings.webListen;
  const staticDir = rendererDir();
  if (!fs.existsSync(path.join(staticDir, 'index.html'))) {
    throw new VmdeskError(
      'internal',
      `The web UI is not built (${staticDir} has no index.html). Run \`npm run build\` in the vmdesk folder.`,
    );
  }
  let port = o.port ?? (settings.webPort > 0 ? settings.webPort : undefined);
  if (port === undefined) {
    const last = Number(safeRead(lastPortFile(paths)));
    port = Number.isInteger(last) && last > 0 && (await portIsFree(host, last)) ? last : 0;
  }
  const token = loadOrCreateToken(paths, o.newToken || settings.webNewTokenEachStart, (m) => err.write(m));
  sweepStaleOpenPages(paths);
  let server;
  try {
    // The library's folder is the isoFolder setting's at each upload (Preferences change it live).
    const uploadDir = () => link.call('settings.get', {}).then((r) => isoLibraryDir(paths, r.values.isoFolder));
    server = await startWebServer({ link, staticDir, token, host, port, uploadDir });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new VmdeskError(
        'invalid-argument',
        o.port === undefined
          ? `Port ${port} on ${host} (the webPort setting) is in use. Pick another with --port N, or change webPort in Preferences or with \`vmdesk settings set webPort N\` (0: any free port).`
          : `Port ${port} on ${host} is in use. Pick another with --port N, or leave --port out to get a free one.`,
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
  let openPage: string | undefined;
  try {
    if (o.open) openPage = openBrowser(paths, server.url, err);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  } finally {
    if (openPage) fs.rmSync(openPage, { force: true });
  }
  await server.close();
}

function safeRead(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * Opens the browser on a private redirect page rather than on `url`: the browser's command line
 * (and the opener's) shows only `file:///…/open-PID.html`, which no one else can read. The page
 * is removed when the server stops. Returns its path, or undefined when it couldn't be written.
 *
 * Known limit: a browser confined as a snap or flatpak may be unable to read files under a hidden
 * or runtime directory (Firefox's snap shows "file not found"); the user then opens the printed
 * URL. A one-time login URL on the command line instead would still be usable by whoever reads
 * `ps` before the browser does, so the file is the safer trade.
 */
function openBrowser(paths: AppPaths, url: string, err: NodeJS.WritableStream): string | undefined {
  let file: string;
  try {
    file = writeOpenPage(paths, url);
  } catch (e) {
    err.write(
      `Could not write the page that opens your browser (${(e as Error).message}); open the URL above yourself.\n`,
    );
    return undefined;
  }
  const cmd = process.platform === 'darwin' ? 'open' : 'xdg-open';
  const failed = (why: string) =>
    err.write(`Could not open a browser (${cmd}: ${why}); open the URL above yourself.\n`);
  // Detached and ignored: the browser may outlive us, and its output is not ours to print.
  const child = spawn(cmd, [pathToFileURL(file).href], { stdio: 'ignore', detached: true });
  child.once('error', (e) => failed(e.message));
  child.once('exit', (code) => {
    if (code !== null && code !== 0) failed(`exit code ${code}`);
  });
  child.unref();
  return file;
}
