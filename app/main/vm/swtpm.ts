/**
 * swtpm, the TPM 2.0 emulator behind a VM's TPM: a second process a VM's run owns. Started as the
 * user before QEMU (detached, like QEMU, so both outlive the driver), its state private in the
 * VM's data dir, its control socket in the VM's runtime dir. `--terminate` makes it end when QEMU
 * closes that socket, so it ends with QEMU however QEMU ends; the driver still checks, and forces
 * it, so a VM never leaves one behind or gets two.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import { makePrivateDir } from '../paths/storage-errors.js';
import type { AppPaths } from '../paths/app-paths.js';
import type { VmFiles } from '../paths/vm-files.js';
import { pidExists, readCmdline, sendSignal, spawnDetached, waitForExit, type SpawnedQemu } from '../qemu/process.js';
import { readPidfile } from './runtime-files.js';

/** What a run record keeps of a VM's swtpm, so a later driver adopts or ends it. */
export interface SwtpmRecord {
  /** 0 until the process exists (the record is written first, as for QEMU). */
  pid: number;
  pidfile: string;
  socket: string;
  stateDir: string;
}

export function swtpmRecord(files: VmFiles): SwtpmRecord {
  return { pid: 0, pidfile: files.swtpmPidfile, socket: files.swtpmSocket, stateDir: files.tpmStateDir };
}

/** swtpm's command line: TPM 2.0, private state and socket, errors to its log, gone with QEMU. */
export function swtpmArgv(rec: SwtpmRecord, logFile: string): string[] {
  const esc = (s: string) => s.replace(/,/g, ',,');
  return [
    'socket',
    '--tpm2',
    '--tpmstate',
    `dir=${esc(rec.stateDir)},mode=0600`,
    '--ctrl',
    `type=unixio,path=${esc(rec.socket)},mode=0600`,
    '--pid',
    `file=${esc(rec.pidfile)}`,
    // swtpm opens it O_APPEND (checked), so the driver caps it by copy-and-truncate like QEMU's.
    '--log',
    `file=${esc(logFile)},level=1`,
    '--terminate',
  ];
}

/** The process runs swtpm on this state dir (not a pid the kernel gave to something else since). */
export function isOurSwtpm(pid: number, stateDir: string): boolean {
  const argv = readCmdline(pid);
  if (!argv || !/(^|\/)swtpm$/.test(argv[0] ?? '')) return false;
  return argv.some((a) => a.startsWith(`dir=${stateDir.replace(/,/g, ',,')},`));
}

/** Every swtpm on this state dir (Linux: a /proc scan; elsewhere only what the pidfile says). */
function swtpmsOn(rec: SwtpmRecord): number[] {
  const pids = new Set<number>();
  for (const p of [rec.pid, readPidfile(rec.pidfile)]) if (p && isOurSwtpm(p, rec.stateDir)) pids.add(p);
  if (process.platform === 'linux') {
    for (const name of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      if (pid !== process.pid && isOurSwtpm(pid, rec.stateDir)) pids.add(pid);
    }
  }
  return [...pids];
}

export class SwtpmProcess {
  constructor(
    private readonly proc: SpawnedQemu,
    readonly record: SwtpmRecord,
  ) {}

  get pid(): number {
    return this.proc.pid;
  }

  /**
   * Ends any swtpm still on this VM's state (an orphan: no QEMU of this VM runs when a start
   * begins), then starts one and waits until its control socket is there for QEMU to connect to.
   * Throws with swtpm's own words when it does not come up within `timeoutMs`.
   */
  static async spawn(
    binary: string,
    rec: SwtpmRecord,
    logFile: string,
    paths: AppPaths,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<SwtpmProcess> {
    await endStraySwtpms(rec, 1000);
    makePrivateDir(path.dirname(rec.stateDir), paths);
    makePrivateDir(rec.stateDir, paths);
    fs.rmSync(rec.socket, { force: true });
    fs.rmSync(rec.pidfile, { force: true });
    const logStart = fileSize(logFile);
    let proc: SpawnedQemu;
    try {
      proc = await spawnDetached(binary, swtpmArgv(rec, logFile), logFile);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new VmdeskError(
        'no-swtpm',
        code === 'ENOENT'
          ? `${binary} does not exist: reinstall swtpm, or turn the TPM off for this VM.`
          : `swtpm could not be started (${(err as Error).message}).`,
        { code },
        { cause: err },
      );
    }
    const swtpm = new SwtpmProcess(proc, { ...rec, pid: proc.pid });
    const deadline = Date.now() + timeoutMs;
    while (!fs.existsSync(rec.socket)) {
      const gone = await waitForExit(proc, 10, signal);
      if (gone || signal.aborted || Date.now() > deadline) {
        await swtpm.end(0);
        if (signal.aborted) throw signal.reason;
        const said = logSince(logFile, logStart);
        throw new VmdeskError(
          'qemu-failed',
          `The TPM emulator (swtpm) ${gone ? 'exited' : `did not open its socket within ${Math.round(timeoutMs / 1000)} s`} while starting${said ? `: ${said}` : ''}. See ${logFile}.`,
        );
      }
    }
    return swtpm;
  }

  /** The swtpm an earlier driver started for this run, if it still runs. */
  static adopt(rec: SwtpmRecord): SwtpmProcess | undefined {
    const pid = [rec.pid, readPidfile(rec.pidfile)].find((p): p is number => !!p && isOurSwtpm(p, rec.stateDir));
    return pid === undefined ? undefined : new SwtpmProcess({ pid }, { ...rec, pid });
  }

  /**
   * Once QEMU is gone: swtpm ends by itself (QEMU closed its socket); after `graceMs` it is
   * ended (SIGTERM, then SIGKILL). Resolves when it is gone; never throws.
   */
  async end(graceMs: number): Promise<void> {
    if (await waitForExit(this.proc, graceMs)) return this.#cleanup();
    for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
      // An adopted pid is signalled only while it still runs our swtpm.
      if (!this.proc.child && !isOurSwtpm(this.pid, this.record.stateDir)) break;
      sendSignal(this.pid, sig);
      if (await waitForExit(this.proc, 2000)) break;
    }
    this.#cleanup();
  }

  #cleanup(): void {
    fs.rmSync(this.record.socket, { force: true });
    fs.rmSync(this.record.pidfile, { force: true });
  }
}

/** Ends every swtpm on this state dir: orphans of a run whose QEMU is gone. */
export async function endStraySwtpms(rec: SwtpmRecord, graceMs: number): Promise<number> {
  const pids = swtpmsOn(rec);
  await Promise.all(pids.map((pid) => new SwtpmProcess({ pid }, { ...rec, pid }).end(graceMs)));
  return pids.filter((p) => pidExists(p) && isOurSwtpm(p, rec.stateDir)).length;
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** The last lines a log got since `from` (swtpm's reason for failing), on one line. */
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
