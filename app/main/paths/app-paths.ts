/**
 * Per-user base directories (XDG on Linux, the usual Library folders on macOS).
 *
 * Every base can be overridden by its XDG variable on both platforms, so tests isolate
 * themselves by pointing the five variables at a temporary directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import { assertWritableDir, makePrivateDir, storageError } from './storage-errors.js';

export interface AppPaths {
  /** VM definitions, the owner lock. */
  config: string;
  /** Disks, NVRAM, the ISO library. */
  data: string;
  /** Logs and run records (which QEMU runs for which VM). */
  state: string;
  /** Sockets and pidfiles; private (0700). */
  runtime: string;
  /** Capability cache. */
  cache: string;
  platform: NodeJS.Platform;
}

export interface PathEnv {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  home: string;
  uid: number;
  tmpdir: string;
}

export function currentPathEnv(): PathEnv {
  return {
    env: process.env,
    platform: process.platform,
    home: os.homedir(),
    uid: typeof process.getuid === 'function' ? process.getuid() : 0,
    tmpdir: os.tmpdir(),
  };
}

const APP = 'vmdesk';

/** Only absolute paths count: the XDG spec says relative values are invalid and must be ignored. */
function xdg(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v && path.isAbsolute(v) ? v : undefined;
}

/** Pure: computes the directories without touching the disk. */
export function resolveAppPaths(pe: PathEnv): AppPaths {
  const { env, platform, home, uid, tmpdir } = pe;
  const mac = platform === 'darwin';
  const lib = (...p: string[]) => path.join(home, 'Library', ...p);
  const config = xdg(env, 'XDG_CONFIG_HOME') ?? (mac ? lib('Application Support') : path.join(home, '.config'));
  const data = xdg(env, 'XDG_DATA_HOME') ?? (mac ? lib('Application Support') : path.join(home, '.local', 'share'));
  const state = xdg(env, 'XDG_STATE_HOME') ?? (mac ? lib('Logs') : path.join(home, '.local', 'state'));
  const cache = xdg(env, 'XDG_CACHE_HOME') ?? (mac ? lib('Caches') : path.join(home, '.cache'));
  // Without XDG_RUNTIME_DIR (cron, ssh without logind, macOS) fall back to a private per-uid
  // directory in the temp dir, as libvirt does; ensureRuntimeDir() checks we own it.
  const runtimeBase = xdg(env, 'XDG_RUNTIME_DIR');
  const runtime = runtimeBase ? path.join(runtimeBase, APP) : path.join(tmpdir, `${APP}-${uid}`);
  // On macOS without XDG, config and data share Application Support/vmdesk: subfolders differ.
  return {
    config: path.join(config, APP),
    data: path.join(data, APP),
    state: path.join(state, APP),
    runtime,
    cache: path.join(cache, APP),
    platform,
  };
}

/**
 * Creates the runtime dir 0700 and refuses one that another user could have planted (a shared
 * /tmp fallback): it must be a real directory, owned by us, with no group/other access.
 */
export function ensureRuntimeDir(dir: string, uid: number): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    // EEXIST from a file in the way: the checks below explain it.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw storageError(err, dir);
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) {
    throw new VmdeskError(
      'runtime-dir-unsafe',
      `The runtime directory ${dir} is not a directory. Remove it or set XDG_RUNTIME_DIR to a private directory.`,
    );
  }
  if (st.uid !== uid) {
    throw new VmdeskError(
      'runtime-dir-unsafe',
      `The runtime directory ${dir} belongs to another user (uid ${st.uid}). Remove it or set XDG_RUNTIME_DIR to a private directory.`,
    );
  }
  if ((st.mode & 0o077) !== 0) {
    try {
      fs.chmodSync(dir, 0o700);
    } catch (err) {
      throw storageError(err, dir);
    }
  }
  // Sockets are made here: a read-only runtime dir is said now, not as a bind error later.
  assertWritableDir(dir);
}

/**
 * Creates the non-runtime bases (user-private: logs and definitions are nobody else's business).
 * Every command writes the owner lock in config, so a config dir vmdesk cannot write (read-only,
 * another user's after a `sudo vmdesk`) is refused here, naming it. The others are only needed
 * by what writes there (define, start), which says so itself.
 */
export function ensureBaseDirs(p: AppPaths): void {
  for (const d of [p.config, p.data, p.state, p.cache]) makePrivateDir(d, p);
  assertWritableDir(p.config, p);
}

export function appPathsFromProcess(): AppPaths {
  return resolveAppPaths(currentPathEnv());
}
