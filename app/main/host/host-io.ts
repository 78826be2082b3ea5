/** The host probe's only doors to the OS. Everything in app/main/host takes these as parameters,
 * so each diagnosis ("/dev/kvm not writable", "descriptor points to a missing file") is a unit
 * test with a typed fake (./testing/fakes.ts); node-host-io.ts has the real ones. */

/** The few stat fields the probe reads. */
export interface HostStat {
  size: number;
  mtimeMs: number;
  /** Permission bits and file type, as in fs.Stats.mode. */
  mode: number;
  uid: number;
  gid: number;
  isFile: boolean;
  isDirectory: boolean;
  isCharacterDevice: boolean;
}

export type AccessMode = 'read' | 'write' | 'execute';

/**
 * Contract: failing methods reject with an Error carrying a string `code` (ENOENT, EACCES...),
 * like Node's fs errors; `errnoOf()` reads it.
 */
export interface HostFs {
  readText(path: string): Promise<string>;
  /** Entry names (not paths) of a directory. */
  readDir(path: string): Promise<string[]>;
  /** Follows symlinks. */
  stat(path: string): Promise<HostStat>;
  /** Resolves when this process may access `path` in `mode`. */
  access(path: string, mode: AccessMode): Promise<void>;
  /** open(2) read-write, as QEMU opens /dev/kvm; the caller MUST close the fd. */
  openReadWrite(path: string): Promise<number>;
  close(fd: number): Promise<void>;
  /** Creates parent directories; writes a temp file then renames, so a reader never sees half. */
  writeTextAtomic(path: string, text: string): Promise<void>;
}

export interface CommandResult {
  /** Exit code; null when killed by a signal or never started. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the command could not run at all (ENOENT, timeout). */
  error?: string;
}

/** Runs a short command to completion. MUST NOT reject: failures are in the result. */
export type RunCommand = (
  file: string,
  args: readonly string[],
  options: { timeoutMs: number },
) => Promise<CommandResult>;

export interface QmpProcessExit {
  code: number | null;
  signal: string | null;
  /** Spawn failure (ENOENT, EACCES) when the process never ran. */
  error?: string;
  /** The end of what the process wrote to stderr. */
  stderr: string;
}

/** A QEMU started with `-qmp stdio`: JSON lines in both directions. */
export interface QmpProcess {
  /** Writes one line (the newline is added). */
  write(line: string): void;
  onLine(listener: (line: string) => void): void;
  /** Called exactly once, when the process has exited or failed to start. */
  onExit(listener: (exit: QmpProcessExit) => void): void;
  /** SIGKILL; safe to call after exit. */
  kill(): void;
}

export type SpawnQmp = (binary: string, args: readonly string[]) => QmpProcess;

/** Everything the host probe touches, bundled so probeHost() takes one parameter for it. */
export interface HostIo {
  fs: HostFs;
  run: RunCommand;
  spawnQmp: SpawnQmp;
}

/** The errno name of a rejected HostFs call ('EACCES'), or undefined for other errors. */
export function errnoOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** True when `path` can be stat'ed (any type). Any error, not only ENOENT, counts as absent:
 * what this process cannot stat, the QEMU it spawns cannot use either. */
export async function pathExists(fs: Pick<HostFs, 'stat'>, path: string): Promise<boolean> {
  try {
    await fs.stat(path);
    return true;
  } catch {
    return false;
  }
}
