import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveAppPaths } from './app-paths.js';
import type { AppPaths } from './app-paths.js';
import {
  assertSocketPathFits,
  definitionsDir,
  driverFiles,
  isoLibraryDir,
  newDataDir,
  nvramPath,
  ownedDiskPath,
  runRecordsDir,
  shortId,
  socketPathMax,
  vmFiles,
} from './vm-files.js';
import { thrown } from '../testing/thrown.js';

const ID = '0123abcd-4567-89ef-0123-456789abcdef';

const paths: AppPaths = resolveAppPaths({
  env: {
    XDG_CONFIG_HOME: '/x/config',
    XDG_DATA_HOME: '/x/data',
    XDG_STATE_HOME: '/x/state',
    XDG_CACHE_HOME: '/x/cache',
    XDG_RUNTIME_DIR: '/run/user/1000',
  },
  platform: 'linux',
  home: '/home/ada',
  uid: 1000,
  tmpdir: '/tmp',
});

/** A path of exactly `bytes` bytes ending in ".sock". */
function socketPathOf(bytes: number, prefix = '/r/'): string {
  const s = prefix + 'a'.repeat(bytes - prefix.length - '.sock'.length) + '.sock';
  expect(Buffer.byteLength(s)).toBe(bytes);
  return s;
}

function isUnder(base: string, file: string): boolean {
  const rel = path.relative(base, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

describe('shortId', () => {
  it('is the first 8 hex digits of the uuid', () => {
    expect(shortId(ID)).toBe('0123abcd');
  });
});

describe('vmFiles', () => {
  const f = vmFiles(paths, ID);

  it('puts the definition in <config>/vms/<id>.json', () => {
    expect(f.definition).toBe('/x/config/vmdesk/vms/0123abcd-4567-89ef-0123-456789abcdef.json');
    expect(path.dirname(f.definition)).toBe(definitionsDir(paths));
  });

  it('puts the disks and NVRAM under <data>/vms/<id>', () => {
    expect(f.dataDir).toBe(path.join(paths.data, 'vms', ID));
    expect(path.dirname(ownedDiskPath(f.dataDir, 0, 'qcow2'))).toBe(f.dataDir);
    expect(path.dirname(nvramPath(f.dataDir))).toBe(f.dataDir);
  });

  it('puts the data of a VM made with a VM folder set in <folder>/<name>-<id8>, its logs where they were', () => {
    const dir = newDataDir(paths, ID, 'web server', '/srv/vms');
    expect(dir).toBe('/srv/vms/web server-0123abcd');
    expect(newDataDir(paths, ID, 'web server', '')).toBe(f.dataDir);
    const g = vmFiles(paths, ID, dir);
    expect(g.dataDir).toBe(dir);
    expect(g.tpmStateDir).toBe(path.join(dir, 'tpm'));
    expect(g.logDir).toBe(f.logDir);
    expect(g.definition).toBe(f.definition);
  });

  it('names owned disks by index and format', () => {
    expect(path.basename(ownedDiskPath(f.dataDir, 0, 'qcow2'))).toBe('disk0.qcow2');
    expect(path.basename(ownedDiskPath(f.dataDir, 2, 'raw'))).toBe('disk2.img');
  });

  it('puts the logs and the run record under state', () => {
    for (const log of [f.qemuLog, f.serialLog, f.driverLog]) {
      expect(path.dirname(log)).toBe(f.logDir);
    }
    expect(isUnder(paths.state, f.logDir)).toBe(true);
    expect(path.basename(f.logDir)).toBe(ID);
    expect(f.runRecord).toBe(path.join(runRecordsDir(paths), `${ID}.json`));
    expect(isUnder(paths.state, f.runRecord)).toBe(true);
  });

  it('puts every socket and the pidfile in one runtime subdir named by shortId', () => {
    expect(f.runtimeDir).toBe(path.join(paths.runtime, '0123abcd'));
    for (const file of [f.qmpSocket, f.serialSocket, f.vncSocket, f.pidfile]) {
      expect(path.dirname(file)).toBe(f.runtimeDir);
    }
    expect(new Set([f.qmpSocket, f.serialSocket, f.vncSocket, f.pidfile]).size).toBe(4);
  });

  it('keeps nothing of one VM outside its own names', () => {
    const other = vmFiles(paths, 'ffffffff-0000-0000-0000-000000000000');
    const mine = Object.values(f);
    for (const file of Object.values(other)) expect(mine).not.toContain(file);
  });

  it('keeps the driver lock in config and the control socket in runtime', () => {
    const d = driverFiles(paths);
    expect(path.dirname(d.lock)).toBe(paths.config);
    expect(path.dirname(d.controlSocket)).toBe(paths.runtime);
    expect(isUnder(paths.state, d.driverLog)).toBe(true);
    expect(d.capsCacheDir).toBe(paths.cache);
  });

  it('keeps the ISO library under data', () => {
    expect(isoLibraryDir(paths)).toBe(path.join(paths.data, 'isos'));
  });
});

describe('assertSocketPathFits', () => {
  it('knows the sun_path limits (without the NUL) per platform', () => {
    expect(socketPathMax('linux')).toBe(107);
    expect(socketPathMax('darwin')).toBe(103);
  });

  it('accepts a 107-byte path on Linux', () => {
    expect(() => assertSocketPathFits(socketPathOf(107), 'linux', {})).not.toThrow();
  });

  it('refuses a 108-byte path on Linux with socket-path-too-long', () => {
    const err = thrown(() => assertSocketPathFits(socketPathOf(108), 'linux', { XDG_RUNTIME_DIR: '/r' }));
    expect(err.code).toBe('socket-path-too-long');
    expect(err.details).toMatchObject({ bytes: 108, max: 107, variable: 'XDG_RUNTIME_DIR' });
  });

  it('accepts 103 bytes and refuses 104 on macOS', () => {
    expect(() => assertSocketPathFits(socketPathOf(103), 'darwin', {})).not.toThrow();
    const err = thrown(() => assertSocketPathFits(socketPathOf(104), 'darwin', {}));
    expect(err.code).toBe('socket-path-too-long');
    expect(err.message).toContain('macOS');
  });

  it('counts bytes, not characters', () => {
    // 55 characters, but "é" is 2 bytes in UTF-8: 109 bytes.
    const err = thrown(() => assertSocketPathFits('/' + 'é'.repeat(54), 'linux', {}));
    expect(err.details).toMatchObject({ bytes: 109 });
  });

  it('tells the user to shorten XDG_RUNTIME_DIR when it is set, and shows its value', () => {
    const err = thrown(() => assertSocketPathFits(socketPathOf(120), 'linux', { XDG_RUNTIME_DIR: '/r', TMPDIR: '/t' }));
    expect(err.message).toContain('Set XDG_RUNTIME_DIR');
    expect(err.message).toContain('(now /r)');
  });

  it('tells the user to shorten TMPDIR when XDG_RUNTIME_DIR is unset', () => {
    const err = thrown(() => assertSocketPathFits(socketPathOf(120), 'linux', { TMPDIR: '/long/tmp' }));
    expect(err.message).toContain('Set TMPDIR');
    expect(err.message).toContain('(now /long/tmp)');
    expect(err.message).not.toContain('XDG_RUNTIME_DIR');
  });

  // Was a bug (fixed): vm-files.ts assertSocketPathFits: a relative XDG_RUNTIME_DIR is ignored by
  // resolveAppPaths (the runtime dir falls back to <tmpdir>), but this message still tells the
  // user to shorten XDG_RUNTIME_DIR, which would change nothing.
  it('tells the user to shorten TMPDIR when XDG_RUNTIME_DIR is relative (and so ignored)', () => {
    const err = thrown(() =>
      assertSocketPathFits(socketPathOf(120), 'linux', { XDG_RUNTIME_DIR: 'run', TMPDIR: '/long/tmp' }),
    );
    expect(err.message).toContain('Set TMPDIR');
  });
});
