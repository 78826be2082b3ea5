/**
 * The processes a VM's run owns besides QEMU: swtpm (its TPM) and one virtiofsd per shared
 * folder. Each is started as the user before QEMU (detached, like QEMU, so both outlive the
 * driver) and waited for until its socket is there; each ends by itself when QEMU closes that
 * socket, and the driver still checks and forces it, so a VM never leaves one behind or gets two.
 * A later driver finds them again from the run record: their pid, checked against their command
 * line (the binary's name and an argument only this helper of this VM has).
 */
import fs from 'node:fs';
import path from 'node:path';
import * as v from 'valibot';
import { VmdeskError } from '../common/errors.js';
import { readCmdline, sendSignal, spawnDetached, waitForExit, type SpawnedQemu } from '../qemu/process.js';
import { readPidfile } from './runtime-files.js';

export const HELPER_KINDS = ['swtpm', 'virtiofsd'] as const;
export type HelperKind = (typeof HELPER_KINDS)[number];

/** What a run record keeps of one helper. */
export const HelperRecordSchema = v.object({
  kind: v.picklist(HELPER_KINDS),
  /** 0 until the process exists (the record is written first, as for QEMU). */
  pid: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** The socket QEMU connects to; the helper is ready once it exists. */
  socket: v.string(),
  /** An argument of its command line that names this VM's helper and nothing else. */
  marker: v.string(),
  /** Where it writes its pid, when it does (a later driver finds a helper spawned just before a crash). */
  pidfile: v.optional(v.string()),
  /** Its log, capped like QEMU's. */
  log: v.optional(v.string()),
});
export type HelperRecord = v.InferOutput<typeof HelperRecordSchema>;

/** What a helper is called in sentences. */
const WHAT: Record<HelperKind, string> = {
  swtpm: 'The TPM emulator (swtpm)',
  virtiofsd: 'The shared-folder daemon (virtiofsd)',
};

/** The process runs this helper (not a pid the kernel gave to something else since). */
export function isOurHelper(pid: number, rec: Pick<HelperRecord, 'kind' | 'marker'>): boolean {
  const argv = readCmdline(pid);
  if (!argv || path.basename(argv[0] ?? '') !== rec.kind) return false;
  return argv.includes(rec.marker);
}

/** Every process that is this helper (Linux: a /proc scan; elsewhere what the record knows). */
function helperPids(rec: HelperRecord): number[] {
  const pids = new Set<number>();
  for (const p of [rec.pid, rec.pidfile ? readPidfile(rec.pidfile) : undefined])
    if (p && isOurHelper(p, rec)) pids.add(p);
  if (process.platform === 'linux') {
    for (const name of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      if (pid !== process.pid && isOurHelper(pid, rec)) pids.add(pid);
    }
  }
  return [...pids];
}

export class HelperProcess {
  constructor(
    private readonly proc: SpawnedQemu,
    readonly record: HelperRecord,
  ) {}

  get pid(): number {
    return this.proc.pid;
  }

  /**
   * Ends any process still being this helper (an orphan: no QEMU of this VM runs when a start
   * begins), then starts one and waits until its socket is there. Throws with the helper's own
   * words when it does not come up within `timeoutMs`.
   */
  static async spawn(
    binary: string,
    argv: readonly string[],
    rec: HelperRecord,
    logFile: string,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<HelperProcess> {
    await endStrayHelpers(rec, 1000);
    fs.rmSync(rec.socket, { force: true });
    if (rec.pidfile) fs.rmSync(rec.pidfile, { force: true });
    const logStart = fileSize(logFile);
    let proc: SpawnedQemu;
    try {
      proc = await spawnDetached(binary, [...argv], logFile);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new VmdeskError(
        rec.kind === 'swtpm' ? 'no-swtpm' : 'qemu-failed',
        `${WHAT[rec.kind]} could not be started: ${code === 'ENOENT' ? `${binary} does not exist; reinstall it` : (err as Error).message}.`,
        { code },
        { cause: err },
      );
    }
    const helper = new HelperProcess(proc, { ...rec, pid: proc.pid });
    const deadline = Date.now() + timeoutMs;
    while (!fs.existsSync(rec.socket)) {
      const gone = await waitForExit(proc, 10, signal);
      if (gone || signal.aborted || Date.now() > deadline) {
        await helper.end(0);
        if (signal.aborted) throw signal.reason;
        const said = logSince(logFile, logStart);
        throw new VmdeskError(
          'qemu-failed',
          `${WHAT[rec.kind]} ${gone ? 'exited' : `did not open its socket within ${Math.round(timeoutMs / 1000)} s`} while starting${said ? `: ${said}` : ''}. See ${logFile}.`,
        );
      }
    }
    return helper;
  }

  /** The helper an earlier driver started for this run, if it still runs. */
  static adopt(rec: HelperRecord): HelperProcess | undefined {
    const pid = [rec.pid, rec.pidfile ? readPidfile(rec.pidfile) : undefined].find(
      (p): p is number => !!p && isOurHelper(p, rec),
    );
    return pid === undefined ? undefined : new HelperProcess({ pid }, { ...rec, pid });
  }

  /**
   * Once QEMU is gone: the helper ends by itself (QEMU closed its socket); after `graceMs` it is
   * ended (SIGTERM, then SIGKILL). Resolves when it is gone; never throws.
   */
  async end(graceMs: number): Promise<void> {
    if (!(await waitForExit(this.proc, graceMs))) {
      for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
        // An adopted pid is signalled only while it still is our helper.
        if (!this.proc.child && !isOurHelper(this.pid, this.record)) break;
        sendSignal(this.pid, sig);
        if (await waitForExit(this.proc, 2000)) break;
      }
    }
    fs.rmSync(this.record.socket, { force: true });
    if (this.record.pidfile) fs.rmSync(this.record.pidfile, { force: true });
  }
}

/** Ends every process that is this helper: orphans of a run whose QEMU is gone. Returns how
 * many would not end. */
export async function endStrayHelpers(rec: HelperRecord, graceMs: number): Promise<number> {
  const pids = helperPids(rec);
  await Promise.all(pids.map((pid) => new HelperProcess({ pid }, { ...rec, pid }).end(graceMs)));
  return pids.filter((p) => isOurHelper(p, rec)).length;
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** The last lines a log got since `from` (a helper's reason for failing), on one line. */
function logSince(file: string, from: number): string {
  try {
    const buf = fs.readFileSync(file);
    return buf
      .subarray(Math.min(from, buf.length))
      .toString('utf8')
      .trim()
      .split('\n')
      .slice(-3)
      .join(' ')
      .slice(0, 500);
  } catch {
    return '';
  }
}
