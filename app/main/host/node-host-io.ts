import { execFile, spawn } from 'node:child_process';
import { close, existsSync, constants as fsConstants, open } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type {
  AccessMode,
  CommandResult,
  HostFs,
  HostIo,
  QmpProcess,
  QmpProcessExit,
  RunCommand,
  SpawnQmp,
} from './host-io.js';

const closeFd = promisify(close);
// The callback API, not fs/promises: a FileHandle closes its fd when garbage-collected, which
// could close a number that has since been reused. ioctl needs a raw fd we own.
const openFd = promisify(open);
/** Enough stderr to show why QEMU refused to start, not so much that a chatty binary fills memory. */
const STDERR_TAIL = 4096;

const ACCESS: Record<AccessMode, number> = {
  read: fsConstants.R_OK,
  write: fsConstants.W_OK,
  execute: fsConstants.X_OK,
};

export const nodeHostFs: HostFs = {
  readText: (p) => readFile(p, 'utf8'),
  readDir: (p) => readdir(p),
  async stat(p) {
    const s = await stat(p);
    return {
      size: s.size,
      mtimeMs: s.mtimeMs,
      mode: s.mode,
      uid: s.uid,
      gid: s.gid,
      isFile: s.isFile(),
      isDirectory: s.isDirectory(),
      isCharacterDevice: s.isCharacterDevice(),
    };
  },
  access: (p, mode) => access(p, ACCESS[mode]),
  openReadWrite: (p) => openFd(p, 'r+'),
  close: (fd) => closeFd(fd),
  // No fsync: only the probe cache is written here, and a torn file is detected and rebuilt.
  async writeTextAtomic(p, text) {
    await mkdir(path.dirname(p), { recursive: true });
    const tmp = `${p}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, p);
  },
};

export const nodeRunCommand: RunCommand = (file, args, { timeoutMs }) =>
  new Promise<CommandResult>((resolve) => {
    execFile(
      file,
      [...args],
      { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
        if (typeof e.code === 'number') return resolve({ code: e.code, stdout, stderr });
        resolve({ code: null, stdout, stderr, error: e.killed ? `timed out after ${timeoutMs} ms` : e.message });
      },
    );
  });

/**
 * A probe QEMU does not exit when its stdin closes: if vmdesk died mid-probe (kill -9, a killed
 * `vmdesk web`), it would idle forever. On Linux, util-linux's setpriv makes the kernel kill it
 * with its parent (PR_SET_PDEATHSIG survives the exec into QEMU).
 */
export function deathSignalWrapper(
  binary: string,
  args: readonly string[],
  platform = process.platform,
  exists = existsSync,
): [string, string[]] {
  const setpriv = platform === 'linux' ? ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => exists(p)) : undefined;
  return setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, [...args]];
}

export const nodeSpawnQmp: SpawnQmp = (binary, args): QmpProcess => {
  const [file, argv] = deathSignalWrapper(binary, args);
  const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let exited: QmpProcessExit | undefined;
  const exitListeners: Array<(e: QmpProcessExit) => void> = [];
  const finish = (e: QmpProcessExit): void => {
    if (exited) return;
    exited = e;
    for (const l of exitListeners) l(e);
  };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_TAIL);
  });
  // EPIPE when QEMU dies before reading what we wrote: the exit handler reports it.
  child.stdin.on('error', () => {});
  child.on('error', (err) => finish({ code: null, signal: null, error: err.message, stderr }));
  // 'close' (not 'exit') so the last stdout lines and stderr are read before we report.
  child.on('close', (code, signal) => finish({ code, signal, stderr }));
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  return {
    write: (line) => {
      if (!exited && child.stdin.writable) child.stdin.write(`${line}\n`);
    },
    onLine: (listener) => lines.on('line', listener),
    onExit: (listener) => {
      if (exited) listener(exited);
      else exitListeners.push(listener);
    },
    kill: () => {
      if (!exited) child.kill('SIGKILL');
    },
  };
};

export const nodeHostIo: HostIo = { fs: nodeHostFs, run: nodeRunCommand, spawnQmp: nodeSpawnQmp };
