import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isUserError, VmdeskError } from '../common/errors.js';
import { resolveAppPaths, type AppPaths } from './app-paths.js';
import { asStorageError, makePrivateDir, removePath, storageError, withStorageErrors } from './storage-errors.js';

/**
 * An error shaped as node's fs raises it. The mapping reads only these fields; a full disk, a
 * read-only mount and a quota cannot be produced here without mounts, so the integration test
 * (e2e/storage-errors.int.test.ts) produces each of them for real through the CLI.
 */
function errnoError(code: string, syscall: string, p?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall}${p ? ` '${p}'` : ''}`), { code, syscall, path: p });
}

let tmp: string;
let paths: AppPaths;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-storage-'));
  paths = resolveAppPaths({
    env: {
      XDG_CONFIG_HOME: path.join(tmp, 'config'),
      XDG_DATA_HOME: path.join(tmp, 'data'),
      XDG_STATE_HOME: path.join(tmp, 'state'),
      XDG_CACHE_HOME: path.join(tmp, 'cache'),
      XDG_RUNTIME_DIR: path.join(tmp, 'run'),
    },
    platform: 'linux',
    home: tmp,
    uid: 1000,
    tmpdir: tmp,
  });
  for (const d of [paths.config, paths.data, paths.state, paths.cache, paths.runtime])
    fs.mkdirSync(d, { recursive: true });
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function mapped(err: unknown, target: string, p: AppPaths = paths): VmdeskError {
  const out = storageError(err, target, p);
  expect(out).toBeInstanceOf(VmdeskError);
  return out as VmdeskError;
}

describe('storageError', () => {
  it('is a problem the user can fix (CLI exit 1)', () => {
    const e = mapped(errnoError('ENOSPC', 'write'), path.join(paths.data, 'vms', 'x', 'disk0.qcow2'));
    expect(e.code).toBe('storage');
    expect(isUserError(e.code)).toBe(true);
  });

  it('names the base directory of a full disk, not the file, and says to free space', () => {
    const file = path.join(paths.data, 'vms', 'abc', 'efivars.fd');
    const e = mapped(errnoError('ENOSPC', 'write'), file);
    expect(e.message).toBe(
      `No space left in ${paths.data} (the disk holding it is full). Free some space there and try again.`,
    );
    expect(e.details).toEqual({ errno: 'ENOSPC', path: file, dir: paths.data });
    expect(e.cause).toMatchObject({ code: 'ENOSPC' });
  });

  it('says a used-up quota is a quota, and how to see it', () => {
    const e = mapped(errnoError('EDQUOT', 'write'), path.join(paths.config, 'vms', 'a.json'));
    expect(e.message).toContain(`No space left in ${paths.config} (your disk quota there is used up)`);
    expect(e.message).toContain('quota -s');
  });

  it.each([
    ['config', 'XDG_CONFIG_HOME'],
    ['data', 'XDG_DATA_HOME'],
    ['state', 'XDG_STATE_HOME'],
    ['cache', 'XDG_CACHE_HOME'],
    ['runtime', 'XDG_RUNTIME_DIR'],
  ] as const)('on a read-only %s dir names it and the variable that moves it (%s)', (base, variable) => {
    const e = mapped(errnoError('EROFS', 'open', path.join(paths[base], 'f')), path.join(paths[base], 'f'));
    expect(e.message).toBe(
      `${paths[base]} is on a read-only file system. Make it writable, or point ${variable} at a writable directory.`,
    );
    expect(e.details).toMatchObject({ variable });
  });

  it('tells to move TMPDIR for the runtime dir when XDG_RUNTIME_DIR is unset', () => {
    const p = resolveAppPaths({ env: {}, platform: 'linux', home: tmp, uid: 1000, tmpdir: path.join(tmp, 't') });
    expect(p.runtime).toBe(path.join(tmp, 't', 'vmdesk-1000'));
    const e = mapped(errnoError('EROFS', 'bind'), path.join(p.runtime, 'control.sock'), p);
    expect(e.message).toContain('point TMPDIR at a writable directory');
  });

  it('names the innermost base when two bases nest', () => {
    const p = { ...paths, cache: path.join(paths.data, 'cache') };
    const e = mapped(errnoError('EROFS', 'open'), path.join(p.cache, 'caps.json'), p);
    expect(e.message).toContain('XDG_CACHE_HOME');
    expect(e.message.startsWith(p.cache)).toBe(true);
  });

  it('outside vmdesk’s directories names the nearest existing directory and no variable', () => {
    const file = path.join(tmp, 'elsewhere', 'deep', 'f');
    fs.mkdirSync(path.join(tmp, 'elsewhere'));
    const e = mapped(errnoError('EROFS', 'open', file), file);
    expect(e.message).toBe(`${path.join(tmp, 'elsewhere')} is on a read-only file system. Make it writable.`);
  });

  it('for a refused write names the directory the file was to be made in, with the mode it needs', () => {
    const vms = path.join(paths.config, 'vms');
    fs.mkdirSync(vms);
    const tmpFile = path.join(vms, '.a.json.1.x.tmp'); // never made: the open was refused
    const e = mapped(errnoError('EACCES', 'open', tmpFile), path.join(vms, 'a.json'));
    expect(e.message).toBe(
      `You cannot write to ${vms} (permission denied). Check its owner and permissions (ls -ld ${vms}; it should be yours, mode 0700).`,
    );
    expect(e.details).toMatchObject({ errno: 'EACCES', dir: vms });
  });

  it('for a refused open of an existing file names the file and mode 0600', () => {
    const lock = path.join(paths.config, 'driver.lock');
    fs.writeFileSync(lock, '');
    const e = mapped(errnoError('EACCES', 'open', lock), lock);
    expect(e.message).toContain(`You cannot write to ${lock} (permission denied)`);
    expect(e.message).toContain('mode 0600');
  });

  it.each(['unlink', 'rename', 'rmdir'])('for a refused %s names the directory holding the file', (syscall) => {
    const file = path.join(paths.state, 'run', 'a.json');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, '{}');
    const e = mapped(errnoError('EACCES', syscall, file), file);
    expect(e.details).toMatchObject({ dir: path.dirname(file) });
  });

  it('for a refused mkdir names the nearest directory that exists', () => {
    const want = path.join(paths.data, 'vms', 'abc');
    const e = mapped(errnoError('EACCES', 'mkdir', want), want);
    expect(e.details).toMatchObject({ dir: paths.data });
  });

  it('says "operation not permitted" for EPERM and how to see an immutable flag', () => {
    const e = mapped(errnoError('EPERM', 'open', path.join(paths.config, 'x.tmp')), path.join(paths.config, 'x'));
    expect(e.message).toContain('(operation not permitted)');
    expect(e.message).toContain(`lsattr -d ${paths.config}`);
  });

  it('leaves every other error as it is', () => {
    const enoent = errnoError('ENOENT', 'open', '/nope');
    expect(storageError(enoent, '/nope', paths)).toBe(enoent);
    const mine = new VmdeskError('invalid-argument', 'x');
    expect(storageError(mine, paths.config, paths)).toBe(mine);
    expect(storageError('a string', paths.config, paths)).toBe('a string');
    expect(storageError(undefined, paths.config, paths)).toBe(undefined);
  });
});

describe('asStorageError', () => {
  it('maps an error whose own path is in vmdesk’s directories', () => {
    const lock = path.join(paths.config, 'driver.lock');
    expect(asStorageError(errnoError('EROFS', 'open', lock), paths)).toMatchObject({
      code: 'storage',
      message: expect.stringContaining(`${paths.config} is on a read-only file system`),
    });
  });

  // Found by review: copyFile's `path` is the source (/usr/share/OVMF/...), the target is `dest`.
  it('names the target of a copy into vmdesk’s directories, not its source', () => {
    const err = Object.assign(errnoError('ENOSPC', 'copyfile', '/usr/share/OVMF/OVMF_VARS.fd'), {
      dest: path.join(paths.data, 'vms', 'x', 'efivars.fd'),
    });
    expect(asStorageError(err, paths)).toMatchObject({
      code: 'storage',
      message: expect.stringContaining(`No space left in ${paths.data}`),
    });
  });

  it('leaves a path elsewhere (the user’s own disk image) and a pathless write alone', () => {
    const other = errnoError('EROFS', 'open', path.join(tmp, 'my-disk.qcow2'));
    expect(asStorageError(other, paths)).toBe(other);
    const pathless = errnoError('ENOSPC', 'write');
    expect(asStorageError(pathless, paths)).toBe(pathless);
  });
});

describe('withStorageErrors and removePath', () => {
  it('returns what the function returns', () => {
    expect(withStorageErrors(paths.config, () => 42, paths)).toBe(42);
  });

  it('maps what the function throws', () => {
    expect(() =>
      withStorageErrors(
        paths.config,
        () => {
          throw errnoError('EROFS', 'open', path.join(paths.config, 'driver.lock'));
        },
        paths,
      ),
    ).toThrow(expect.objectContaining({ code: 'storage' }));
  });

  it('removes a file, and a directory only when asked to', () => {
    const dir = path.join(paths.state, 'logs', 'x');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'qemu.log'), 'x');
    removePath(path.join(dir, 'qemu.log'), { paths });
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.writeFileSync(path.join(dir, 'qemu.log'), 'x');
    expect(() => removePath(dir, { paths })).toThrow();
    expect(fs.existsSync(path.join(dir, 'qemu.log'))).toBe(true);
    removePath(dir, { recursive: true, paths });
    expect(fs.existsSync(dir)).toBe(false);
    removePath(dir, { recursive: true, paths }); // already gone: nothing to do
  });
});

// Node's mkdir with `recursive` says ENOENT for a read-only file system; the user must hear EROFS.
describe.skipIf(process.getuid?.() !== 0)('makePrivateDir on a read-only mount (needs root to mount)', () => {
  it('names the read-only file system, not a missing folder', () => {
    const src = fs.mkdtempSync(path.join(os.tmpdir(), 'ro-src-'));
    const ro = fs.mkdtempSync(path.join(os.tmpdir(), 'ro-'));
    execFileSync('mount', ['--bind', src, ro]);
    try {
      execFileSync('mount', ['-o', 'remount,ro,bind', ro]);
      const err = thrownBy(() => makePrivateDir(path.join(ro, 'a', 'b'), paths));
      expect(err).toMatchObject({ code: 'storage', details: { errno: 'EROFS' } });
    } finally {
      execFileSync('umount', [ro]);
      fs.rmSync(ro, { recursive: true, force: true });
      fs.rmSync(src, { recursive: true, force: true });
    }
  });
});

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
