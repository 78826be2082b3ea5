/**
 * Adoption: a new driver finds the QEMU processes an earlier one left running (from their run
 * records), takes them over without restarting them, and settles the ones that ended meanwhile
 * (crashed, or stopped as the user asked). Called by VmManager.init() for every run record.
 */
import fs from 'node:fs';
import type { VmState } from '../common/vm-types.js';
import type { AppPaths } from '../paths/app-paths.js';
import { vmFiles } from '../paths/vm-files.js';
import { QmpClient } from '../qemu/qmp-client.js';
import { isOurQemu, pidExists, type SpawnedQemu } from '../qemu/process.js';
import { classifyExit, qemuLogSinceStart, stateFromQmpStatus } from './exit-reason.js';
import { readRunRecord, writeRunRecord } from './run-record.js';
import { cleanupRuntime, findQemuByUuid, readPidfile } from './runtime-files.js';
import type { VmRuntime } from './vm-runtime.js';

/** The VmManager plumbing adoption needs. */
export interface AdoptionContext {
  paths: AppPaths;
  log(rt: VmRuntime, line: string): void;
  setState(rt: VmRuntime, state: VmState, reason?: string, logTail?: string[]): void;
  attachQmp(rt: VmRuntime, qmp: QmpClient): void;
  attachConsole(rt: VmRuntime, socketPath: string, replayLog: boolean): Promise<void>;
  watchLogs(rt: VmRuntime, qemuLog: string, serialLog: string): void;
  /** The previous driver died while forcing this VM off: finish what the user asked for. */
  finishStop(rt: VmRuntime): void;
}

/**
 * `rt` is the VM's record (undefined when the run record has no readable definition). A QEMU that
 * is alive but does not answer QMP ends as crashed, with a reason that says how to force it off.
 * Returns the runtime dir of a live QEMU left alone (its definition is unreadable), which the
 * orphan sweep MUST keep: its sockets are the only way to reach that QEMU.
 */
export async function adoptVm(id: string, rt: VmRuntime | undefined, ctx: AdoptionContext): Promise<{ keepRuntimeDir?: string }> {
  const file = vmFiles(ctx.paths, id).runRecord;
  const rec = readRunRecord(file);
  if (!rec || !rt || rt.state === 'broken') {
    // A run record without a readable definition: leave sockets of a live QEMU alone, tell the log.
    if (rec && pidExists(rec.pid) && isOurQemu(rec.pid, id)) return { keepRuntimeDir: rec.runtimeDir };
    if (rec) cleanupRuntime(rec);
    fs.rmSync(file, { force: true });
    return {};
  }
  // A record written just before a spawn has pid 0; QEMU's pidfile, or failing that its
  // command line (our -uuid), says which process it became.
  const pid = [rec.pid, readPidfile(rec.pidfile), findQemuByUuid(id)].find((p): p is number => !!p && pidExists(p) && isOurQemu(p, id));
  if (pid !== undefined && pid !== rec.pid) {
    rec.pid = pid;
    writeRunRecord(file, rec);
  }
  rt.run = rec;
  const proc: SpawnedQemu = { pid: rec.pid };
  if (pid === undefined) {
    rt.proc = undefined;
    const verdict = rec.intent
      ? { state: 'stopped' as const, reason: undefined, logTail: undefined }
      : classifyExit({ pidfileLeft: fs.existsSync(rec.pidfile), logSinceStart: qemuLogSinceStart(vmFiles(ctx.paths, id).qemuLog) });
    ctx.log(rt, `found QEMU pid ${rec.pid} gone while no driver ran: ${verdict.state}`);
    cleanupRuntime(rec);
    fs.rmSync(file, { force: true });
    rt.run = undefined;
    ctx.setState(rt, verdict.state, verdict.reason, verdict.logTail);
    return {};
  }
  rt.proc = proc;
  rt.exited = new Promise<void>((resolve) => { rt.cleanups.push(() => resolve()); });
  try {
    const qmp = new QmpClient(rec.qmpSocket, { connectRetryMs: 2000 });
    await qmp.connect();
    ctx.attachQmp(rt, qmp);
    let status = await qmp.execute<{ status: string }>('query-status');
    if (status.status === 'prelaunch' && !rec.intent) {
      // The driver that started this VM died before releasing it (-S): finish the start.
      await qmp.execute('cont');
      status = { status: 'running' };
    }
    if (rec.intent) rt.expectingExit = true;
    await ctx.attachConsole(rt, rec.serialSocket, true).catch(() => undefined);
    const files = vmFiles(ctx.paths, id);
    ctx.watchLogs(rt, files.qemuLog, files.serialLog);
    ctx.log(rt, `adopted QEMU pid ${rec.pid} (${status.status})`);
    ctx.setState(rt, stateFromQmpStatus(status.status));
    if (rec.intent === 'stop') {
      // The previous driver died while forcing this VM off: finish what the user asked for.
      ctx.finishStop(rt);
    }
  } catch (err) {
    ctx.log(rt, `QEMU pid ${rec.pid} is alive but QMP failed: ${(err as Error).message}`);
    ctx.setState(rt, 'crashed', `QEMU (pid ${rec.pid}) is running but does not answer on its control socket. Force it off with \`vmdesk stop ${rt.def?.name}\`.`);
  }
  return {};
}
