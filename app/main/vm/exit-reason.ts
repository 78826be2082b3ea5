/**
 * Why a QEMU process ended, decided from what it leaves behind. QEMU removes its pidfile on
 * every orderly exit (guest power-off, `quit`, SIGTERM/SIGINT/SIGHUP) and logs
 * "terminating on signal N from pid P" for signals; SIGKILL and crashes leave the pidfile.
 * So a driver that was not running when QEMU ended can still tell a clean power-off from a crash.
 */
import fs from 'node:fs';
import type { VmState } from '../common/vm-types.js';

/** Written to qemu.log before each spawn, so a crash report shows only this run's lines. */
const MARKER = '=== vmdesk: starting QEMU';

export function startMarker(at: Date): string {
  return `${MARKER} at ${at.toISOString()} ===\n`;
}

/** The bytes of a log written since the last start marker, at most the final `maxBytes`. */
export function logBytesSinceStart(file: string, maxBytes = 64 * 1024): Buffer {
  let buf: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, maxBytes);
      buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return Buffer.alloc(0);
  }
  const at = buf.lastIndexOf(MARKER);
  if (at < 0) return buf;
  const nl = buf.indexOf(0x0a, at);
  return nl < 0 ? Buffer.alloc(0) : buf.subarray(nl + 1);
}

/** qemu.log lines written since the last start marker (at most the final 64 KiB of the file). */
export function qemuLogSinceStart(file: string): string[] {
  return logBytesSinceStart(file)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
}

export interface ExitFacts {
  /** QEMU's pidfile still exists: it did not get to run its exit handlers. */
  pidfileLeft: boolean;
  logSinceStart: string[];
  /** Only known when QEMU was our child. */
  code?: number | null;
  signal?: NodeJS.Signals | null;
}

export interface ExitVerdict {
  state: Extract<VmState, 'stopped' | 'crashed'>;
  reason?: string;
  logTail?: string[];
}

const TAIL_LINES = 20;

export function classifyExit(f: ExitFacts): ExitVerdict {
  const tail = f.logSinceStart.slice(-TAIL_LINES);
  const crashed = (reason: string): ExitVerdict => ({ state: 'crashed', reason, logTail: tail });
  if (f.signal) return crashed(`QEMU was killed by ${f.signal}.`);
  if (typeof f.code === 'number' && f.code !== 0) return crashed(`QEMU exited with code ${f.code}.`);
  const term = f.logSinceStart.find((l) => /terminating on signal \d+/.test(l));
  if (term)
    return crashed(
      `QEMU was stopped from outside vmdesk (${term.replace(/^\S+\s+/, '').replace(/^qemu-system-\S+: /, '')}).`,
    );
  if (f.pidfileLeft) return crashed('QEMU ended abruptly (killed or crashed) without shutting down.');
  const errors = f.logSinceStart.filter((l) => /error|fail|abort|assert/i.test(l));
  if (errors.length > 0 && f.code === undefined) return crashed('QEMU ended after reporting errors.');
  return { state: 'stopped' };
}

/** QMP `query-status` → our states. Anything QEMU reports as not running counts as paused. */
export function stateFromQmpStatus(status: string): VmState {
  if (status === 'running') return 'running';
  if (status === 'shutdown') return 'stopping';
  return 'paused';
}
