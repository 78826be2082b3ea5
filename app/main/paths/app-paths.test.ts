import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import { ensureRuntimeDir, resolveAppPaths } from './app-paths.js';
import type { PathEnv } from './app-paths.js';

const isRoot = process.getuid?.() === 0;
const myUid = process.getuid?.() ?? 0;

function pathEnv(over: Partial<PathEnv> = {}): PathEnv {
  return { env: {}, platform: 'linux', home: '/home/ada', uid: 1000, tmpdir: '/tmp', ...over };
}

describe('resolveAppPaths', () => {
  it('puts every base under the XDG variables when they are set', () => {
    const p = resolveAppPaths(
      pathEnv({
        env: {
          XDG_CONFIG_HOME: '/x/config',
          XDG_DATA_HOME: '/x/data',
          XDG_STATE_HOME: '/x/state',
          XDG_CACHE_HOME: '/x/cache',
          XDG_RUNTIME_DIR: '/run/user/1000',
        },
      }),
    );
    expect(p).toEqual({
      config: '/x/config/vmdesk',
      data: '/x/data/vmdesk',
      state: '/x/state/vmdesk',
      cache: '/x/cache/vmdesk',
      runtime: '/run/user/1000/vmdesk',
      platform: 'linux',
    });
  });

  it('honours the XDG variables on macOS too', () => {
    const p = resolveAppPaths(
      pathEnv({ platform: 'darwin', env: { XDG_CONFIG_HOME: '/x/config', XDG_RUNTIME_DIR: '/x/run' } }),
    );
    expect(p.config).toBe('/x/config/vmdesk');
    expect(p.runtime).toBe('/x/run/vmdesk');
    expect(p.data).toBe('/home/ada/Library/Application Support/vmdesk');
  });

  it('ignores relative XDG values, as the XDG spec requires', () => {
    const p = resolveAppPaths(
      pathEnv({
        env: {
          XDG_CONFIG_HOME: 'config',
          XDG_DATA_HOME: './data',
          XDG_STATE_HOME: '../state',
          XDG_CACHE_HOME: 'cache',
          XDG_RUNTIME_DIR: 'run',
        },
      }),
    );
    expect(p.config).toBe('/home/ada/.config/vmdesk');
    expect(p.data).toBe('/home/ada/.local/share/vmdesk');
    expect(p.state).toBe('/home/ada/.local/state/vmdesk');
    expect(p.cache).toBe('/home/ada/.cache/vmdesk');
    expect(p.runtime).toBe('/tmp/vmdesk-1000');
  });

  it('ignores empty XDG values', () => {
    const p = resolveAppPaths(pathEnv({ env: { XDG_CONFIG_HOME: '', XDG_RUNTIME_DIR: '' } }));
    expect(p.config).toBe('/home/ada/.config/vmdesk');
    expect(p.runtime).toBe('/tmp/vmdesk-1000');
  });

  it('falls back to the freedesktop defaults under the home directory on Linux', () => {
    expect(resolveAppPaths(pathEnv())).toEqual({
      config: '/home/ada/.config/vmdesk',
      data: '/home/ada/.local/share/vmdesk',
      state: '/home/ada/.local/state/vmdesk',
      cache: '/home/ada/.cache/vmdesk',
      runtime: '/tmp/vmdesk-1000',
      platform: 'linux',
    });
  });

  it('falls back to the Library folders on macOS', () => {
    const p = resolveAppPaths(
      pathEnv({ platform: 'darwin', home: '/Users/ada', uid: 501, tmpdir: '/var/folders/ab/T' }),
    );
    expect(p).toEqual({
      config: '/Users/ada/Library/Application Support/vmdesk',
      data: '/Users/ada/Library/Application Support/vmdesk',
      state: '/Users/ada/Library/Logs/vmdesk',
      cache: '/Users/ada/Library/Caches/vmdesk',
      runtime: '/var/folders/ab/T/vmdesk-501',
      platform: 'darwin',
    });
  });

  it('puts the runtime dir in <tmpdir>/vmdesk-<uid> when XDG_RUNTIME_DIR is unset', () => {
    expect(resolveAppPaths(pathEnv({ uid: 4242, tmpdir: '/var/tmp' })).runtime).toBe('/var/tmp/vmdesk-4242');
  });

  it('does not touch the disk', () => {
    const home = path.join(os.tmpdir(), `vmdesk-never-created-${process.pid}`);
    resolveAppPaths(pathEnv({ home, tmpdir: home }));
    expect(fs.existsSync(home)).toBe(false);
  });
});

describe('ensureRuntimeDir', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-paths-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('creates the directory (and its parents) with mode 0700', () => {
    const dir = path.join(tmp, 'a', 'vmdesk-1000');
    ensureRuntimeDir(dir, myUid);
    const st = fs.statSync(dir);
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o777).toBe(0o700);
  });

  it('tightens an existing 0755 directory to 0700', () => {
    const dir = path.join(tmp, 'run');
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    ensureRuntimeDir(dir, myUid);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('accepts an existing private directory as it is', () => {
    const dir = path.join(tmp, 'run');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'keep'), 'x');
    ensureRuntimeDir(dir, myUid);
    expect(fs.readFileSync(path.join(dir, 'keep'), 'utf8')).toBe('x');
  });

  // chown to another uid needs root; as an ordinary user the case cannot be set up.
  it.skipIf(!isRoot)('refuses a directory owned by another user (needs root to chown; skipped otherwise)', () => {
    const dir = path.join(tmp, 'vmdesk-1000');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chownSync(dir, 65534, 65534);
    const err = catchError(() => ensureRuntimeDir(dir, myUid));
    expect(err).toBeInstanceOf(VmdeskError);
    expect(err).toMatchObject({ code: 'runtime-dir-unsafe' });
    expect((err as VmdeskError).message).toContain('uid 65534');
    expect((err as VmdeskError).message).toContain('XDG_RUNTIME_DIR');
  });

  it('refuses a directory owned by a uid other than the one it is told', () => {
    // The same check as above without root: claim to be someone else.
    const dir = path.join(tmp, 'vmdesk-1000');
    fs.mkdirSync(dir, { mode: 0o700 });
    expect(() => ensureRuntimeDir(dir, myUid + 1)).toThrow(expect.objectContaining({ code: 'runtime-dir-unsafe' }));
  });

  it('refuses a symlink planted in its place, even one pointing at a private directory', () => {
    const target = path.join(tmp, 'elsewhere');
    fs.mkdirSync(target, { mode: 0o700 });
    const dir = path.join(tmp, 'vmdesk-1000');
    fs.symlinkSync(target, dir);
    expect(() => ensureRuntimeDir(dir, myUid)).toThrow(expect.objectContaining({ code: 'runtime-dir-unsafe' }));
  });

  it('refuses a regular file in its place', () => {
    const dir = path.join(tmp, 'vmdesk-1000');
    fs.writeFileSync(dir, 'planted');
    expect(() => ensureRuntimeDir(dir, myUid)).toThrow();
    expect(fs.readFileSync(dir, 'utf8')).toBe('planted');
  });

  // Was a bug (fixed): app-paths.ts ensureRuntimeDir: fs.mkdirSync(recursive) throws a raw EEXIST for a file in
  // the way, so the "is not a directory" VmdeskError below it is unreachable for files and the
  // user gets an `internal` error with no advice instead of `runtime-dir-unsafe`.
  it('refuses a regular file in its place with runtime-dir-unsafe and advice', () => {
    const dir = path.join(tmp, 'vmdesk-1000');
    fs.writeFileSync(dir, 'planted');
    const err = catchError(() => ensureRuntimeDir(dir, myUid));
    expect(err).toBeInstanceOf(VmdeskError);
    expect(err).toMatchObject({ code: 'runtime-dir-unsafe' });
  });
});

function catchError(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error, got none');
}
