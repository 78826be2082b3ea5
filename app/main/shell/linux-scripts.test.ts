/**
 * The deb/rpm after-install and after-remove scripts, run for real with /bin/sh against a
 * temporary root (VMDESK_PACKAGE_ROOT): the tree the deb would unpack under /opt/vmdesk, then the
 * scripts as dpkg and rpm call them. As root (as on our machines) the ownership is real, and the
 * installed helper must pass the same trust check vmdesk makes before pkexec runs it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { helperTrustProblem, PACKAGED_HELPER } from '../mdev/privileged.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const AFTER_INSTALL = path.join(repo, 'build/linux/after-install.sh');
const AFTER_REMOVE = path.join(repo, 'build/linux/after-remove.sh');
const HELPER_SOURCE = path.join(repo, 'resources/mdev-helper/vmdesk-mdev-helper');
const isRoot = process.getuid?.() === 0;
const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
});

/** What the package unpacks before its after-install runs: the app under /opt/vmdesk (the helper
 * unpacked from the asar, as electron-builder's asarUnpack puts it) and the desktop entry. */
function unpackedPackage(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-pkg-root-'));
  roots.push(root);
  const app = path.join(root, 'opt/vmdesk');
  const helperDir = path.join(app, 'resources/app.asar.unpacked/resources/mdev-helper');
  fs.mkdirSync(helperDir, { recursive: true });
  fs.copyFileSync(HELPER_SOURCE, path.join(helperDir, 'vmdesk-mdev-helper'));
  fs.writeFileSync(path.join(app, 'vmdesk'), '#!/bin/sh\necho vmdesk\n', { mode: 0o755 });
  fs.writeFileSync(path.join(app, 'chrome-sandbox'), '', { mode: 0o755 });
  fs.mkdirSync(path.join(root, 'usr/share/applications'), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'usr/share/applications/vmdesk.desktop'),
    '[Desktop Entry]\nName=vmdesk\nExec=/opt/vmdesk/vmdesk %U\nType=Application\nMimeType=application/x-cd-image;application/x-iso9660-image;\n',
  );
  return root;
}

function run(script: string, root: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('/bin/sh', [script, ...args], {
    env: { PATH, VMDESK_PACKAGE_ROOT: root, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const helperIn = (root: string) => path.join(root, PACKAGED_HELPER);

describe.skipIf(!isRoot)('after-install.sh (deb postinst, rpm %post)', () => {
  it('installs the mdev helper root-owned 0755 where vmdesk looks, and vmdesk trusts it', () => {
    const root = unpackedPackage();
    // A sloppy source and a directory left open by someone: the script must not carry either over.
    const src = path.join(root, 'opt/vmdesk/resources/app.asar.unpacked/resources/mdev-helper/vmdesk-mdev-helper');
    fs.chownSync(src, 1000, 1000);
    fs.chmodSync(src, 0o777);
    fs.mkdirSync(path.dirname(helperIn(root)), { recursive: true });
    fs.chownSync(path.dirname(helperIn(root)), 1000, 1000);
    fs.chmodSync(path.dirname(helperIn(root)), 0o777);

    const r = run(AFTER_INSTALL, root, ['configure', '']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);

    const helper = fs.statSync(helperIn(root));
    expect([helper.uid, helper.gid, helper.mode & 0o7777]).toEqual([0, 0, 0o755]);
    const dir = fs.statSync(path.dirname(helperIn(root)));
    expect([dir.uid, dir.gid, dir.mode & 0o7777]).toEqual([0, 0, 0o755]);
    expect(fs.readFileSync(helperIn(root))).toEqual(fs.readFileSync(HELPER_SOURCE));
    expect(helperTrustProblem(helperIn(root))).toBeUndefined();
    expect(fs.existsSync(`${helperIn(root)}.new`)).toBe(false);

    // It runs: with no arguments the helper prints its usage and refuses (exit 2).
    const usage = spawnSync(helperIn(root), [], { encoding: 'utf8', env: { PATH } });
    expect([usage.status, usage.stderr]).toEqual([2, expect.stringContaining('usage: vmdesk-mdev-helper')]);
  });

  it('links /usr/bin/vmdesk to the app', () => {
    const root = unpackedPackage();
    expect(run(AFTER_INSTALL, root, ['1']).code).toBe(0);
    expect(fs.realpathSync(path.join(root, 'usr/bin/vmdesk'))).toBe(path.join(root, 'opt/vmdesk/vmdesk'));
  });

  it('runs again on upgrade (deb configure VERSION, rpm 2) and leaves one helper in place', () => {
    const root = unpackedPackage();
    expect(run(AFTER_INSTALL, root, ['configure', '']).code).toBe(0);
    expect(run(AFTER_INSTALL, root, ['configure', '0.1.0']).code).toBe(0);
    expect(run(AFTER_INSTALL, root, ['2']).code).toBe(0);
    expect(fs.readdirSync(path.dirname(helperIn(root)))).toEqual(['vmdesk-mdev-helper']);
    expect(helperTrustProblem(helperIn(root))).toBeUndefined();
  });

  it('fails, saying so, when the package has no helper to install', () => {
    const root = unpackedPackage();
    fs.rmSync(path.join(root, 'opt/vmdesk/resources/app.asar.unpacked'), { recursive: true });
    const r = run(AFTER_INSTALL, root, ['configure', '']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/this package is broken: .*vmdesk-mdev-helper is missing\. Reinstall vmdesk\./);
    expect(fs.existsSync(helperIn(root))).toBe(false);
  });

  it('does not fail the install when an optional step fails (a desktop database tool that errors)', () => {
    const root = unpackedPackage();
    // A stand-in: no real update-desktop-database fails on demand.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-pkg-bin-'));
    roots.push(bin);
    fs.writeFileSync(path.join(bin, 'update-desktop-database'), '#!/bin/sh\necho broken >&2\nexit 1\n', {
      mode: 0o755,
    });
    const r = run(AFTER_INSTALL, root, ['configure', ''], { PATH: `${bin}:${PATH}` });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('vmdesk: update-desktop-database failed');
    expect(helperTrustProblem(helperIn(root))).toBeUndefined();
  });

  // Only where this machine has no vmdesk package: the script then stops at the missing helper,
  // before it writes anything, and says which path it looked at.
  it.skipIf(fs.existsSync('/opt/vmdesk'))('ignores the test root under dpkg (a variable leaked by sudo -E)', () => {
    const root = unpackedPackage();
    const r = run(AFTER_INSTALL, root, ['configure', ''], { DPKG_MAINTSCRIPT_PACKAGE: 'vmdesk' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'this package is broken: /opt/vmdesk/resources/app.asar.unpacked/resources/mdev-helper/vmdesk-mdev-helper is missing',
    );
    expect(fs.existsSync(helperIn(root))).toBe(false);
  });

  it('refuses a relative test root', () => {
    const r = run(AFTER_INSTALL, 'tmp/root', ['configure', '']);
    expect([r.code, r.stderr.trim()]).toEqual([1, 'vmdesk: VMDESK_PACKAGE_ROOT must be an absolute path']);
  });
});

describe.skipIf(!isRoot)('after-remove.sh (deb postrm, rpm %postun)', () => {
  const installed = () => {
    const root = unpackedPackage();
    expect(run(AFTER_INSTALL, root, ['configure', '']).code).toBe(0);
    return root;
  };

  it.each([['upgrade', '0.2.0'], ['failed-upgrade', '0.2.0'], ['abort-upgrade', '0.1.0'], ['1'], ['2']])(
    'keeps everything on an upgrade (%s)',
    (...args) => {
      const root = installed();
      const r = run(AFTER_REMOVE, root, args);
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(helperTrustProblem(helperIn(root))).toBeUndefined();
      expect(fs.realpathSync(path.join(root, 'usr/bin/vmdesk'))).toBe(path.join(root, 'opt/vmdesk/vmdesk'));
    },
  );

  it.each([['remove'], ['purge'], ['0']])('removes the helper, its directory and the link (%s)', (arg) => {
    const root = installed();
    const r = run(AFTER_REMOVE, root, [arg]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(fs.existsSync(helperIn(root))).toBe(false);
    expect(fs.existsSync(path.dirname(helperIn(root)))).toBe(false);
    expect(fs.existsSync(path.join(root, 'usr/libexec'))).toBe(true);
    expect(() => fs.lstatSync(path.join(root, 'usr/bin/vmdesk'))).toThrow(/ENOENT/);
  });

  it('removes twice without complaint (deb remove, then purge)', () => {
    const root = installed();
    expect(run(AFTER_REMOVE, root, ['remove']).code).toBe(0);
    expect(run(AFTER_REMOVE, root, ['purge'])).toMatchObject({ code: 0, stderr: '' });
  });
});

describe('the scripts as files', () => {
  it.each([AFTER_INSTALL, AFTER_REMOVE])('%s is executable POSIX sh that dash and busybox parse', (script) => {
    expect(fs.statSync(script).mode & 0o111).toBe(0o111);
    expect(fs.readFileSync(script, 'utf8').split('\n')[0]).toBe('#!/bin/sh');
    for (const shell of ['/usr/bin/dash', '/bin/busybox'].filter((s) => fs.existsSync(s))) {
      const args = shell.endsWith('busybox') ? ['sh', '-n', script] : ['-n', script];
      expect(spawnSync(shell, args, { encoding: 'utf8' }).stderr, shell).toBe('');
    }
  });
});
