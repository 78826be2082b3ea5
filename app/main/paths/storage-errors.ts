/**
 * A full disk, a read-only mount or a directory we may not write, in vmdesk's own directories,
 * turned into one sentence that names the directory and says what to do (code `storage`, a
 * problem the user can fix). The one place these messages are built: every code path that
 * writes vmdesk's files hands its errors here with the file it was writing, because an error
 * from a write on an fd carries no path of its own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import { appPathsFromProcess, type AppPaths } from './app-paths.js';

/** The errnos that mean "the place is full, frozen or not ours", not "vmdesk has a bug". */
export const STORAGE_ERRNOS = ['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM'] as const;
export type StorageErrno = (typeof STORAGE_ERRNOS)[number];

/** Syscalls whose failure is about the directory holding `path`, not `path` itself. */
const DIRECTORY_SYSCALLS = new Set(['unlink', 'rmdir', 'rm', 'rename', 'link', 'symlink']);

interface Base {
  dir: string;
  /** The environment variable that moves this directory elsewhere. */
  variable: string;
}

/** vmdesk's base directories, most specific first when two share a prefix. */
function basesOf(p: AppPaths): Base[] {
  // resolveAppPaths names the runtime dir `<XDG_RUNTIME_DIR>/vmdesk`, or `<tmpdir>/vmdesk-<uid>`
  // without it: then TMPDIR is what moves it.
  const runtimeVariable = path.basename(p.runtime) === 'vmdesk' ? 'XDG_RUNTIME_DIR' : 'TMPDIR';
  const bases: Base[] = [
    { dir: p.config, variable: 'XDG_CONFIG_HOME' },
    { dir: p.data, variable: 'XDG_DATA_HOME' },
    { dir: p.state, variable: 'XDG_STATE_HOME' },
    { dir: p.cache, variable: 'XDG_CACHE_HOME' },
    { dir: p.runtime, variable: runtimeVariable },
  ];
  return bases.sort((a, b) => b.dir.length - a.dir.length);
}

function isInside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The closest of `p` and its ancestors that exists (and so is what refused us). */
function nearestExisting(p: string): string {
  let cur = path.resolve(p);
  for (;;) {
    try {
      fs.lstatSync(cur);
      return cur;
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return cur;
      cur = up;
    }
  }
}

function isStorageErrno(code: unknown): code is StorageErrno {
  return (STORAGE_ERRNOS as readonly unknown[]).includes(code);
}

/**
 * `err` as a `storage` VmdeskError when it is a full disk (ENOSPC, EDQUOT), a read-only file
 * system (EROFS) or a refused write (EACCES, EPERM) while writing `target` (a file or directory
 * of vmdesk's); any other error is returned as it is, so callers write `throw storageError(err, f)`.
 *
 * The message names vmdesk's base directory holding `target` for a full or read-only disk (that
 * is what to clean or move) and the nearest existing directory or file for a refused write (that
 * is what to chown or chmod). `paths` defaults to the directories this process uses.
 */
export function storageError(err: unknown, target: string, paths: AppPaths = appPathsFromProcess()): unknown {
  if (err instanceof VmdeskError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  if (!e || !isStorageErrno(e.code)) return err;
  const errno = e.code;
  const base = basesOf(paths).find((b) => isInside(b.dir, target));
  const where = base?.dir ?? nearestExisting(path.dirname(target));
  const details = { errno, path: target, dir: where };
  const opts = { cause: err };
  switch (errno) {
    case 'ENOSPC':
      return new VmdeskError(
        'storage',
        `No space left in ${where} (the disk holding it is full). Free some space there and try again.`,
        details,
        opts,
      );
    case 'EDQUOT':
      return new VmdeskError(
        'storage',
        `No space left in ${where} (your disk quota there is used up). Free some space there (\`quota -s\` shows your limits) and try again.`,
        details,
        opts,
      );
    case 'EROFS':
      return new VmdeskError(
        'storage',
        `${where} is on a read-only file system. Make it writable` +
          (base ? `, or point ${base.variable} at a writable directory.` : '.'),
        base ? { ...details, variable: base.variable } : details,
        opts,
      );
    case 'EACCES':
    case 'EPERM': {
      // What refused us: the file when it exists and the call was about it, else the directory.
      const asked = e.path ?? target;
      const blocked = nearestExisting(DIRECTORY_SYSCALLS.has(e.syscall ?? '') ? path.dirname(asked) : asked);
      const isDir = fs.statSync(blocked, { throwIfNoEntry: false })?.isDirectory() ?? true;
      const why = errno === 'EACCES' ? 'permission denied' : 'operation not permitted';
      const immutable = errno === 'EPERM' ? `; lsattr -d ${blocked} shows whether it is immutable` : '';
      return new VmdeskError(
        'storage',
        `You cannot write to ${blocked} (${why}). Check its owner and permissions ` +
          `(ls -ld ${blocked}; it should be yours, mode ${isDir ? '0700' : '0600'}${immutable}).`,
        { ...details, dir: blocked },
        opts,
      );
    }
  }
}

/**
 * For a boundary that catches what nobody mapped (the dispatcher, the CLI): an error that names
 * its own path (open, mkdir, rename; not a write on an fd) inside vmdesk's directories becomes
 * the same sentence. Errors elsewhere (a user's disk image on a read-only mount) stay as they are.
 */
export function asStorageError(err: unknown, paths: AppPaths = appPathsFromProcess()): unknown {
  // copyFile, rename and link name the source in `path` and the target in `dest`: the target is
  // where a full or read-only disk bites.
  const e = err as (NodeJS.ErrnoException & { dest?: unknown }) | undefined;
  const ours = (p: unknown): p is string => typeof p === 'string' && basesOf(paths).some((b) => isInside(b.dir, p));
  const p = ours(e?.dest) ? e.dest : ours(e?.path) ? e.path : undefined;
  return p === undefined ? err : storageError(err, p, paths);
}

/** Runs `fn`, which writes `target`, and turns its storage errors into sentences. */
export function withStorageErrors<T>(target: string, fn: () => T, paths?: AppPaths): T {
  try {
    return fn();
  } catch (err) {
    throw storageError(err, target, paths);
  }
}

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/**
 * `mkdir -p` with mode 0700 that keeps the real errno: Node's `recursive: true` reports a
 * read-only file system or a full disk as ENOENT (nodejs/node#47098, #42808), which would say
 * the folder is missing instead of what to fix. One level at a time, parents first on ENOENT.
 */
export function mkdirs(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return;
    if (errnoOf(err) !== 'ENOENT' || path.dirname(dir) === dir) throw err;
    mkdirs(path.dirname(dir));
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (again) {
      if (errnoOf(again) !== 'EEXIST') throw again;
    }
  }
}

/** `mkdirs` without blocking (the web server's upload folder). */
export async function mkdirsAsync(dir: string): Promise<void> {
  try {
    await fs.promises.mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return;
    if (errnoOf(err) !== 'ENOENT' || path.dirname(dir) === dir) throw err;
    await mkdirsAsync(path.dirname(dir));
    await fs.promises.mkdir(dir, { mode: 0o700 }).catch((again: unknown) => {
      if (errnoOf(again) !== 'EEXIST') throw again;
    });
  }
}

/** Creates `dir` (and its parents) private to the user; a refusal is explained. */
export function makePrivateDir(dir: string, paths?: AppPaths): void {
  withStorageErrors(dir, () => mkdirs(dir), paths);
}

/** Removes a file of vmdesk's (or, with `recursive`, a directory) if it is there; a refusal is explained. */
export function removePath(p: string, opts: { recursive?: boolean; paths?: AppPaths } = {}): void {
  withStorageErrors(p, () => fs.rmSync(p, { recursive: opts.recursive ?? false, force: true }), opts.paths);
}

/**
 * Refuses a directory vmdesk cannot write (read-only mount, another user's directory) before
 * any work starts, with the same sentence a failed write would give.
 */
export function assertWritableDir(dir: string, paths?: AppPaths): void {
  withStorageErrors(dir, () => fs.accessSync(dir, fs.constants.W_OK), paths);
}
