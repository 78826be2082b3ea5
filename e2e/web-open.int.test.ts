/**
 * `vmdesk web --open` as another local user would see it: the real `vmdesk web` process, `ps`
 * run as `nobody`, and the page it opens loaded in real Debian Chromium. Any user can read every
 * command line, and the token controls every VM, so it must be on none of them.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox, VMDESK, waitFor } from './support/cli.js';
import { CHROMIUM, launchChromium, shot, startWeb } from './support/web.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const mode = (p: string) => fs.lstatSync(p).mode & 0o777;
const asNobody = (...argv: string[]) => spawnSync('runuser', ['-u', 'nobody', '--', ...argv], { encoding: 'utf8' });

/**
 * A stand-in for xdg-open (this machine has no desktop to open a browser on). It does what
 * matters here: its command line is what a browser's would be, and it stays alive, as a browser
 * would, until the test releases it (bounded at 60 s). It records its arguments for the test.
 */
function fakeXdgOpen(dir: string): { argsFile: string; release: () => void } {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  const argsFile = path.join(dir, 'xdg-open.args');
  const releaseFile = path.join(dir, 'xdg-open.release');
  fs.writeFileSync(
    path.join(bin, 'xdg-open'),
    `#!/bin/sh
printf '%s\\n' "$@" > '${argsFile}.tmp' && mv '${argsFile}.tmp' '${argsFile}'
i=0
while [ ! -e '${releaseFile}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
`,
    { mode: 0o755 },
  );
  return { argsFile, release: () => fs.writeFileSync(releaseFile, '') };
}

describe.skipIf(!fs.existsSync(CHROMIUM))('vmdesk web --open (skipped without /usr/bin/chromium)', () => {
  it('opens the browser with no token on any command line, through a page only we can read', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const xdg = fakeXdgOpen(s.root);
    cleanups.push(xdg.release);
    s.env.PATH = `${path.join(s.root, 'bin')}:${s.env.PATH}`;
    // A home that others may enter (as Debian's default 0755 homes were): only vmdesk's own modes
    // then keep `nobody` away from the page.
    for (const d of [s.root, s.env.XDG_CONFIG_HOME!, s.env.XDG_RUNTIME_DIR!, s.env.XDG_STATE_HOME!])
      fs.chmodSync(d, 0o755);
    await s.json(['define', '--name', 'opened', '--memory', '128M', '--cdrom', guestIso()]);
    // A page left behind by a `vmdesk web` that was killed (no such pid: pid_max ≤ 2^22).
    const pagesDir = path.join(s.env.XDG_RUNTIME_DIR!, 'vmdesk', 'web-open');
    fs.mkdirSync(pagesDir, { recursive: true, mode: 0o700 });
    const stale = path.join(pagesDir, `open-${2 ** 22 + 3}.html`);
    fs.writeFileSync(stale, 'old', { mode: 0o600 });

    const web = await startWeb(s, ['--open']);
    cleanups.push(() => web.stop());
    const token = fs.readFileSync(path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk', 'web-token'), 'utf8').trim();
    expect(web.url).toContain(`#token=${token}`); // still printed, for whoever opens it by hand

    await waitFor(() => fs.existsSync(xdg.argsFile), 'the browser opener to start', 30_000);
    const opened = fs.readFileSync(xdg.argsFile, 'utf8').trim().split('\n');

    // Every command line, as another user sees them while the opener (the "browser") runs.
    const ps = asNobody('ps', '-eww', '-o', 'args');
    expect(ps.status, ps.stderr).toBe(0);
    expect(ps.stdout, 'ps as nobody sees the opener').toContain(`xdg-open ${opened[0]}`);
    expect(ps.stdout.includes(token), 'the token is on a command line').toBe(false);

    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatch(/^file:\/\/\/.*\/open-\d+\.html$/);
    const page = fileURLToPath(opened[0]!);
    expect(path.dirname(page)).toBe(pagesDir);
    expect(fs.existsSync(stale), 'the stale page is removed at start').toBe(false);

    // The page is ours alone: 0600 in a 0700 dir, and `nobody` (who can enter the sandbox) can't read it.
    expect(mode(page)).toBe(0o600);
    expect(mode(pagesDir)).toBe(0o700);
    expect(asNobody('ls', s.env.XDG_RUNTIME_DIR!).status, 'nobody can enter the runtime base').toBe(0);
    const cat = asNobody('cat', page);
    expect(cat.status).not.toBe(0);
    expect(cat.stdout).toBe('');
    expect(fs.readFileSync(page, 'utf8')).toContain(token);

    // What the browser does with it: the page sends it on to the app, which gets in with the token.
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const tab = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(String(e)));
    await tab.goto(opened[0]!, { waitUntil: 'commit' });
    const app = new AppPage(tab);
    await app.vmItem('opened').waitFor({ timeout: 60_000 }); // listed over the token-checked /api
    await tab.getByRole('button', { name: 'New VM' }).waitFor();
    expect(await tab.getByText(/access token|Cannot reach vmdesk|Disconnected from vmdesk/).count()).toBe(0);
    expect(new URL(tab.url()).origin).toBe(`http://127.0.0.1:${web.port}`);
    expect(tab.url()).not.toContain(token); // the app moves the token out of the address bar
    await shot(tab, 'web-open-redirect');
    expect(errors).toEqual([]);

    // Stopping the server removes the page.
    xdg.release();
    await web.stop();
    expect(web.child.exitCode).toBe(0);
    expect(fs.existsSync(page)).toBe(false);
  });
});

// No browser needed: the real `vmdesk web` and a WebSocket client.
describe('the token file of vmdesk web', () => {
  it('replaces a token file others can read, says so on stderr, and refuses the old token', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const config = path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk');
    fs.mkdirSync(config, { recursive: true });
    fs.chmodSync(config, 0o755);
    const tokenFile = path.join(config, 'web-token');
    const old = 'B'.repeat(32);
    fs.writeFileSync(tokenFile, old + '\n');
    fs.chmodSync(tokenFile, 0o644);

    const child = spawn(process.execPath, [VMDESK, 'web'], { env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
    s.track(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(() => out.includes('#token=') || child.exitCode !== null, 'vmdesk web to print its URL', 60_000);
    const url = /(http:\/\/\S+#token=\S+)/.exec(out)?.[1];
    expect(url, err).toBeDefined();
    expect(err).toContain(`WARNING: the access token file ${tokenFile} is open to other users (mode 0644)`);
    expect(err).toContain('reopen any open vmdesk page with the new URL');
    expect(err).toContain(`WARNING: ${config} was open to other users (mode 0755)`);
    expect(mode(tokenFile)).toBe(0o600);
    expect(mode(config)).toBe(0o700);
    const token = fs.readFileSync(tokenFile, 'utf8').trim();
    expect(token).not.toBe(old);
    expect(url).toContain(`#token=${token}`);

    // A page still holding the old token gets nowhere: the WebSocket upgrade is refused.
    const port = new URL(url!).port;
    const connects = (t: string) =>
      new Promise<boolean>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/api?token=${encodeURIComponent(t)}`);
        ws.once('open', () => {
          ws.close();
          resolve(true);
        });
        ws.once('error', () => resolve(false));
      });
    expect(await connects(old)).toBe(false);
    expect(await connects(token)).toBe(true);
    child.kill('SIGTERM');
  });
});
