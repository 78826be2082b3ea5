/**
 * One driver per config dir. The lock is an flock(2) on `<config>/driver.lock`: the kernel drops
 * it when the owner dies, however it dies, so there is never a stale lock to guess about. The
 * file also says who the owner is and where its control socket is, so a second process (the CLI,
 * another window, a driver with a different XDG_RUNTIME_DIR) can talk to it instead.
 *
 * Where flock is impossible (no native layer, a filesystem without locks) it falls back to a
 * pid check, which is racy when two drivers start in the same instant; the reason is reported.
 */
import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import type { NativeHost } from '../../native/index.js';
import { storageError } from '../paths/storage-errors.js';
import { pidExists } from '../qemu/process.js';

export interface OwnerInfo {
  pid: number;
  /** What kind of process owns the VMs: the desktop app, `vmdesk web`, `vmdesk driver`, or a CLI command. */
  kind: 'app' | 'web' | 'driver' | 'cli';
  controlSocket: string;
  startedAt: string;
}

export type LockOutcome =
  { owned: true; lock: OwnerLock; fallbackReason?: string } | { owned: false; owner?: OwnerInfo };

export class OwnerLock {
  private released = false;
  constructor(
    private readonly fd: number,
    private readonly native: NativeHost,
    readonly info: OwnerInfo,
    private readonly file: string,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      // Clear the owner info so nobody tries a dead socket; then drop the lock.
      fs.ftruncateSync(this.fd, 0);
    } catch {
      /* best effort */
    }
    this.native.unlock(this.fd);
    fs.closeSync(this.fd);
  }

  get path(): string {
    return this.file;
  }
}

export function readOwnerInfo(file: string): OwnerInfo | undefined {
  // The owner writes its info right after locking; a reader can land in between: retry briefly.
  for (let i = 0; i < 5; i++) {
    try {
      const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as OwnerInfo;
      if (typeof parsed.pid === 'number' && typeof parsed.controlSocket === 'string') return parsed;
    } catch {
      /* empty or half written */
    }
    const until = performance.now() + 10;
    while (performance.now() < until) {
      /* a 10 ms pause without making every caller async */
    }
  }
  return undefined;
}

export function tryAcquireOwnerLock(
  file: string,
  info: Omit<OwnerInfo, 'pid' | 'startedAt'>,
  native: NativeHost,
): LockOutcome {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  } catch (err) {
    throw storageError(err, file);
  }
  const full: OwnerInfo = { ...info, pid: process.pid, startedAt: new Date().toISOString() };
  const r = native.lockExclusive(fd);
  if (r.state === 'held-by-other') {
    fs.closeSync(fd);
    return { owned: false, owner: readOwnerInfo(file) };
  }
  let fallbackReason: string | undefined;
  if (r.state === 'unsupported') {
    fallbackReason = r.reason;
    const current = readOwnerInfo(file);
    if (current && current.pid !== process.pid && pidExists(current.pid)) {
      fs.closeSync(fd);
      return { owned: false, owner: current };
    }
  }
  try {
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, JSON.stringify(full) + '\n', 0);
    fs.fsyncSync(fd);
  } catch (err) {
    // Not the owner after all: release the lock so the next try (after space is freed) can take it.
    native.unlock(fd);
    fs.closeSync(fd);
    throw storageError(err, file);
  }
  return { owned: true, lock: new OwnerLock(fd, native, full, file), fallbackReason };
}
