/**
 * A running VM's connections and the end of its QEMU: QMP events into states, the serial hub,
 * log caps, the forcing ladder, and the idempotent bookkeeping when a process is gone. VmManager
 * owns one; adoption and start use the same pieces.
 */
import fs from 'node:fs';
import type { VmState } from '../common/vm-types.js';
import { DEFAULT_RING_BYTES, SerialHub } from '../consoles/serial-hub.js';
import { VmdeskError } from '../common/errors.js';
import type { AppPaths } from '../paths/app-paths.js';
import { vmFiles } from '../paths/vm-files.js';
import type { QmpClient } from '../qemu/qmp-client.js';
import { sendSignal, waitForExit, type SpawnedQemu } from '../qemu/process.js';
import { classifyExit, logBytesSinceStart, qemuLogSinceStart } from './exit-reason.js';
import { watchLogCap } from './log-cap.js';
import { cleanupRuntime } from './runtime-files.js';
import type { VmRuntime } from './vm-runtime.js';

export interface PlumbingHooks {
  setState(rt: VmRuntime, state: VmState, reason?: string, logTail?: string[]): void;
  log(rt: VmRuntime, line: string): void;
}

export class VmPlumbing {
  constructor(
    private readonly paths: AppPaths,
    private readonly logCapBytes: number,
    /** Each forcing rung (quit, SIGTERM, SIGKILL) waits this long for the process to go. */
    private readonly rungTimeoutMs: number,
    private readonly hooks: PlumbingHooks,
  ) {}

  attachQmp(rt: VmRuntime, qmp: QmpClient): void {
    rt.qmp = qmp;
    const offEvent = qmp.onEvent((e) => {
      if (e.event === 'STOP' && rt.state === 'running') this.hooks.setState(rt, 'paused');
      else if (e.event === 'RESUME' && (rt.state === 'paused' || rt.state === 'starting')) this.hooks.setState(rt, 'running');
      else if (e.event === 'SHUTDOWN') {
        // QEMU exits right after (no -no-shutdown): the exit is expected, whoever asked.
        rt.expectingExit = true;
        if (rt.state !== 'stopping') this.hooks.setState(rt, 'stopping');
      }
    });
    const offClose = qmp.onClose(() => {
      const proc = rt.proc;
      if (!proc || proc.child) return; // our child's 'exit' event does the rest
      void waitForExit(proc, 10_000).then((gone) => {
        if (gone) this.onProcessGone(rt, proc, null, null);
        else if (rt.proc === proc) this.hooks.setState(rt, 'crashed', `QEMU (pid ${proc.pid}) closed its control socket but is still running. Force it off.`);
      });
    });
    rt.cleanups.push(offEvent, offClose);
  }

  /** `replayLog`: seed the console history from serial.log (adopting a VM another driver
   * started: QEMU kept logging while no driver was attached). */
  async attachConsole(rt: VmRuntime, socketPath: string, replayLog: boolean): Promise<void> {
    const seed = replayLog ? logBytesSinceStart(vmFiles(this.paths, rt.id).serialLog, DEFAULT_RING_BYTES) : undefined;
    const hub = new SerialHub(socketPath, seed ? { seed } : {});
    await hub.connect();
    rt.serial = hub;
  }

  watchLogs(rt: VmRuntime, qemuLog: string, serialLog: string): void {
    rt.cleanups.push(watchLogCap(qemuLog, this.logCapBytes), watchLogCap(serialLog, this.logCapBytes));
  }

  /** Idempotent end of one QEMU process: classify, clean up, publish. */
  onProcessGone(rt: VmRuntime, proc: SpawnedQemu, code: number | null, sig: NodeJS.Signals | null): void {
    if (rt.proc !== proc) return;
    rt.proc = undefined;
    const files = vmFiles(this.paths, rt.id);
    const verdict = rt.expectingExit
      ? { state: 'stopped' as const, reason: rt.reason, logTail: undefined }
      : classifyExit({ pidfileLeft: rt.run ? fs.existsSync(rt.run.pidfile) : false, logSinceStart: qemuLogSinceStart(files.qemuLog), code, signal: sig });
    this.hooks.log(rt, `QEMU pid ${proc.pid} ended (code ${code}, signal ${sig}): ${verdict.state}`);
    if (rt.run) cleanupRuntime(rt.run);
    fs.rmSync(files.runRecord, { force: true });
    this.releaseConnections(rt);
    rt.run = undefined;
    this.hooks.setState(rt, verdict.state, verdict.reason, verdict.logTail);
  }

  releaseConnections(rt: VmRuntime): void {
    const cleanups = rt.cleanups.splice(0);
    for (const c of cleanups) c();
    rt.serial?.close(rt.state === 'crashed' ? 'The VM crashed.' : 'The VM stopped.');
    rt.serial = undefined;
    void rt.qmp?.close();
    rt.qmp = undefined;
  }

  /** quit → SIGTERM → SIGKILL, each rung waiting rungTimeoutMs for the process to go. */
  async forceOff(rt: VmRuntime, proc: SpawnedQemu): Promise<void> {
    const rung = this.rungTimeoutMs;
    if (rt.qmp && rt.qmp.state === 'running') {
      const answered = await rt.qmp.execute('quit', {}, { timeoutMs: rung }).then(() => true, () => false);
      // A QEMU that did not even answer `quit` is hung: waiting longer for it helps nobody.
      if (await waitForExit(proc, answered ? rung : 100)) return this.settle(rt, proc);
    }
    for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
      this.hooks.log(rt, `sending ${sig} to QEMU pid ${proc.pid}`);
      sendSignal(proc.pid, sig);
      if (await waitForExit(proc, rung)) return this.settle(rt, proc);
    }
    throw new VmdeskError('internal', `QEMU pid ${proc.pid} survived SIGKILL.`);
  }

  /** For adopted processes there is no 'exit' event: finish the bookkeeping here. */
  settle(rt: VmRuntime, proc: SpawnedQemu): void {
    if (!proc.child) this.onProcessGone(rt, proc, null, null);
  }
}
