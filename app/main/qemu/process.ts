/**
 * QEMU processes: spawned detached so they outlive the driver, identified by their command line
 * when adopted, and ended by signals as the last rungs of the stop ladder.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

export interface SpawnedQemu {
  pid: number;
  /** Present while this process is QEMU's parent; adopted QEMUs have none. */
  child?: ChildProcess;
}

/**
 * Starts QEMU in its own session (detached: closing the window, killing the driver or the
 * terminal's SIGHUP do not reach it) with stdout+stderr appended to `logFile`. Resolves once the
 * process exists; rejects if exec fails (e.g. the binary vanished).
 */
export function spawnDetached(binary: string, argv: string[], logFile: string): Promise<SpawnedQemu> {
  const fd = fs.openSync(logFile, 'a', 0o600);
  // QEMU creates its sockets, pidfile and serial log with the umask it inherits: make them
  // private (0600/0700). spawn() forks synchronously, so the umask is restored right after.
  const oldUmask = process.umask(0o077);
  try {
    let child: ChildProcess;
    try {
      child = spawn(binary, argv, { detached: true, stdio: ['ignore', fd, fd], env: qemuEnv() });
    } finally {
      process.umask(oldUmask);
    }
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        child.off('error', reject);
        // Do not keep the driver's event loop alive for QEMU: a CLI that started a VM exits.
        child.unref();
        resolve({ pid: child.pid!, child });
      });
    });
  } finally {
    fs.closeSync(fd);
  }
}

/** QEMU gets a minimal environment: no secrets from the driver's environment on its side. */
function qemuEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'XDG_RUNTIME_DIR', 'DISPLAY', 'WAYLAND_DISPLAY'];
  const env: NodeJS.ProcessEnv = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

/** True if a process with this pid exists (ours or not). EPERM means it exists but is not ours. */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The process's argv, or undefined if it is gone or unreadable. */
export function readCmdline(pid: number): string[] | undefined {
  if (process.platform === 'linux') {
    try {
      const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return raw.split('\0').filter((s, i, a) => s !== '' || i < a.length - 1);
    } catch {
      return undefined;
    }
  }
  try {
    // macOS has no /proc; ps prints the command line joined by spaces, enough to find our uuid.
    return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' })
      .trim()
      .split(' ');
  } catch {
    return undefined;
  }
}

/**
 * The pid runs the QEMU we started for this VM: it is alive, is a qemu-system binary, and its
 * command line carries our `-uuid`. A recycled pid belonging to anything else fails this.
 */
export function isOurQemu(pid: number, vmId: string): boolean {
  const argv = readCmdline(pid);
  if (!argv || argv.length === 0) return false;
  if (!/qemu-system-|qemu-kvm/.test(argv[0] ?? '')) return false;
  const i = argv.indexOf('-uuid');
  if (i >= 0) return argv[i + 1]?.toLowerCase() === vmId.toLowerCase();
  return argv.some((a) => a.toLowerCase() === vmId.toLowerCase());
}

/** The QEMU whose command line carries `-uuid <id>` (Linux /proc scan; undefined elsewhere). */
export function findQemuByUuid(id: string): number | undefined {
  if (process.platform !== 'linux') return undefined;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid !== process.pid && isOurQemu(pid, id)) return pid;
  }
  return undefined;
}

export function sendSignal(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves true once the process is gone, false after `timeoutMs`. For our own child it listens
 * for 'exit'; an adopted process is not our child, so its death is seen by probing the pid
 * (only while waiting for an exit we expect, never as a background poll).
 */
export function waitForExit(proc: SpawnedQemu, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const { pid, child } = proc;
  if (child) {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  } else if (!pidExists(pid)) {
    return Promise.resolve(true);
  }
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(probe);
      child?.off('exit', onExit);
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onExit = () => finish(true);
    const onAbort = () => finish(false);
    const timer = setTimeout(() => finish(!pidExists(pid)), timeoutMs);
    let probe: ReturnType<typeof setInterval> | undefined;
    if (child) child.once('exit', onExit);
    else
      probe = setInterval(() => {
        if (!pidExists(pid)) finish(true);
      }, 10);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
