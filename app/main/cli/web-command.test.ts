/**
 * The web token file and the page `--open` hands to the browser, on real files: the token must
 * never be readable by anyone else, and the redirect page must be private and short-lived.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppPaths } from '../paths/app-paths.js';
import {
  loadOrCreateToken,
  openPagesDir,
  redirectPageHtml,
  sweepStaleOpenPages,
  webTokenFile,
  writeOpenPage,
} from './web-command.js';

let root: string;
let paths: AppPaths;
let warnings: string[];
const warn = (m: string) => warnings.push(m);
const mode = (p: string) => fs.lstatSync(p).mode & 0o777;
const OLD = 'A'.repeat(32);

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-webcmd-'));
  const d = (n: string) => path.join(root, n, 'vmdesk');
  paths = { config: d('c'), data: d('d'), state: d('s'), runtime: d('r'), cache: d('k'), platform: process.platform };
  fs.mkdirSync(paths.config, { recursive: true, mode: 0o700 });
  warnings = [];
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function plantToken(fileMode: number): void {
  fs.writeFileSync(webTokenFile(paths), OLD + '\n', { mode: fileMode });
  fs.chmodSync(webTokenFile(paths), fileMode); // the umask must not soften what we plant
}

describe('the web token file', () => {
  it('keeps a private (0600) token file as it is, without a warning', () => {
    plantToken(0o600);
    expect(loadOrCreateToken(paths, false, warn)).toBe(OLD);
    expect(warnings).toEqual([]);
    expect(mode(webTokenFile(paths))).toBe(0o600);
  });

  it('creates a 0600 token in a new 0700 config dir on the first run', () => {
    fs.rmSync(paths.config, { recursive: true });
    const t = loadOrCreateToken(paths, false, warn);
    expect(t).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(mode(webTokenFile(paths))).toBe(0o600);
    expect(mode(paths.config)).toBe(0o700);
    expect(warnings).toEqual([]);
  });

  it('replaces a token that other users can read (0644), and says why and what to do', () => {
    plantToken(0o644);
    const t = loadOrCreateToken(paths, false, warn);
    expect(t).not.toBe(OLD);
    expect(fs.readFileSync(webTokenFile(paths), 'utf8').trim()).toBe(t);
    expect(mode(webTokenFile(paths))).toBe(0o600);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(webTokenFile(paths));
    expect(warnings[0]).toContain('0644');
    expect(warnings[0]).toMatch(/other users may have read it/);
    expect(warnings[0]).toMatch(/reopen .*new URL/);
  });

  it('replaces a token file that is a symbolic link, leaving its target alone', () => {
    const target = path.join(root, 'elsewhere');
    fs.writeFileSync(target, OLD + '\n', { mode: 0o600 });
    fs.symlinkSync(target, webTokenFile(paths));
    const t = loadOrCreateToken(paths, false, warn);
    expect(t).not.toBe(OLD);
    expect(fs.lstatSync(webTokenFile(paths)).isFile()).toBe(true);
    expect(mode(webTokenFile(paths))).toBe(0o600);
    expect(fs.readFileSync(target, 'utf8').trim()).toBe(OLD);
    expect(warnings.join('\n')).toMatch(/symbolic link/);
  });

  it.skipIf(process.getuid?.() !== 0)('replaces a token file that belongs to another user', () => {
    plantToken(0o600);
    fs.chownSync(webTokenFile(paths), 65534, 65534);
    const t = loadOrCreateToken(paths, false, warn);
    expect(t).not.toBe(OLD);
    expect(fs.lstatSync(webTokenFile(paths)).uid).toBe(process.getuid!());
    expect(warnings.join('\n')).toMatch(/belongs to another user \(uid 65534\)/);
  });

  it('makes a config dir that others can read (0755) private (0700) and keeps a private token', () => {
    plantToken(0o600);
    fs.chmodSync(paths.config, 0o755);
    expect(loadOrCreateToken(paths, false, warn)).toBe(OLD);
    expect(mode(paths.config)).toBe(0o700);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(paths.config);
    expect(warnings[0]).toContain('0755');
    expect(warnings[0]).toContain('0700');
  });

  it('replaces the token on --new-token without a warning', () => {
    plantToken(0o600);
    expect(loadOrCreateToken(paths, true, warn)).not.toBe(OLD);
    expect(warnings).toEqual([]);
  });
});

describe('the page that --open hands to the browser', () => {
  const url = 'http://127.0.0.1:8123/#token=abc_DEF-123';

  it('is a 0600 file in a 0700 directory that sends the browser to the token URL', () => {
    const file = writeOpenPage(paths, url);
    expect(path.dirname(file)).toBe(openPagesDir(paths));
    expect(mode(file)).toBe(0o600);
    expect(mode(openPagesDir(paths))).toBe(0o700);
    const html = fs.readFileSync(file, 'utf8');
    expect(html).toContain(`<meta http-equiv="refresh" content="0;url=${url}">`);
    expect(html).toContain(`location.replace("${url}")`);
  });

  it('escapes the URL for HTML and for the script', () => {
    const html = redirectPageHtml('http://[::1]:1/#token=a"<b>&</script>');
    expect(html).not.toContain('</script>"');
    expect(html).toContain('&quot;&lt;b&gt;&amp;');
    expect(html).toContain('\\u003c/script>');
  });

  it('makes a group-readable directory of ours private again before writing into it', () => {
    fs.mkdirSync(openPagesDir(paths), { recursive: true, mode: 0o755 });
    fs.chmodSync(openPagesDir(paths), 0o755);
    writeOpenPage(paths, url);
    expect(mode(openPagesDir(paths))).toBe(0o700);
  });

  it('removes the pages of vmdesk processes that are gone, and keeps those of live ones', () => {
    const dir = openPagesDir(paths);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // pid_max is at most 2^22 on Linux: this pid cannot exist.
    const gone = 2 ** 22 + 7;
    const dead = path.join(dir, `open-${gone}.html`);
    const live = path.join(dir, `open-${process.ppid}.html`);
    const tmp = path.join(dir, `.open-${gone}.html.${gone}.x.tmp`);
    for (const f of [dead, live, tmp]) fs.writeFileSync(f, 'x', { mode: 0o600 });
    sweepStaleOpenPages(paths);
    expect(fs.existsSync(dead)).toBe(false);
    expect(fs.existsSync(tmp)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
  });
});
