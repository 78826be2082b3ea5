/**
 * One run of QEMU for one VM: its process (spawned here or adopted from an earlier driver), its
 * run record, its QMP connection, its serial hub and its log caps. `spawn` and `adopt` are the
 * two ways to get one; both give the same object, and `ended` resolves exactly once, when the
 * process is gone and every file and connection of the run is cleaned up.
 *
 * MUST leave nothing running when `spawn` rejects: a failure after the process exists kills it
 * (the forcing ladder) and waits for its end before rejecting.
 */
import fs from 'node:fs';
import { VmdeskError } from '../common/errors.js';
import { DEFAULT_RING_BYTES, SerialHub } from '../consoles/serial-hub.js';
import type { VmFiles } from '../paths/vm-files.js';
import type { ProcessExit, QemuLauncher, QemuProcess } from '../qemu/launcher.js';
import { QmpClient } from '../qemu/qmp-client.js';
import type { DriverLog } from './driver-log.js';
import { classifyExit, logBytesSinceStart, qemuLogSinceStart, type ExitVerdict } from './exit-reason.js';
import { watchLogCap } from './log-cap.js';
import { writeRunRecord, type RunRecord } from './run-record.js';
import { endStrayHelpers, HelperProcess } from './helper-process.js';
import { cleanupRuntime, readPidfile } from './runtime-files.js';

export interface RunContext {
  launcher: QemuLauncher;
  files: VmFiles;
  log: DriverLog;
  logCapBytes: number;
  /** Each forcing rung (quit, SIGTERM, SIGKILL) waits this long for the process to go. */
  rungTimeoutMs: number;
}

export interface SpawnPlan {
  binary: string;
  argv: readonly string[];
  /** The record to write, with pid 0 until the process exists. */
  record: RunRecord;
  /** How long QEMU may take to open its control socket. */
  connectTimeoutMs: number;
  /** Adds the VM's own words to a QEMU failure (e.g. the TCG hint). */
  hint: string;
  vmName: string;
  /** The processes started before QEMU (swtpm, virtiofsd), in order; `record.helpers` has their
   * records, pid 0 until they run. */
  helpers?: { binary: string; argv: readonly string[]; logFile: string }[];
}

/** A failed spawn whose process existed: `exit` says how it ended (crashed by itself, or stopped by us). */
export type SpawnFailure = VmdeskError & { exit?: ExitVerdict };

/** What adopting found: a run to take over, or a QEMU that ended while no driver watched. */
export type Adopted =
  | { kind: 'live'; run: QemuRun; status: string }
  /** Alive but unreachable over QMP: kept (so it can be forced off), with the reason. */
  | { kind: 'unreachable'; run: QemuRun; reason: string }
  | { kind: 'gone'; verdict: ExitVerdict };

export class QemuRun {
  qmp: QmpClient | undefined;
  serial: SerialHub | undefined;
  /** The exit is wanted (we forced it, or the guest announced SHUTDOWN): it is not a crash. */
  expectingExit = false;
  /** Resolves once the process is gone and the run is cleaned up; never rejects. */
  readonly ended: Promise<ExitVerdict>;
  /** Resolves with a reason when QMP closed but the process lives on (a hung or broken QEMU). */
  readonly lostControl: Promise<string>;
  #resolveEnded!: (v: ExitVerdict) => void;
  #resolveLost!: (reason: string) => void;
  #finished = false;
  #detached = false;
  /** The processes the run owns besides QEMU (swtpm, virtiofsd): ended once QEMU is. */
  #helpers: HelperProcess[] = [];
  /** How the process ended, once it has. */
  #verdict: ExitVerdict | undefined;
  readonly #cleanups: (() => void)[] = [];

  private constructor(
    readonly proc: QemuProcess,
    public record: RunRecord,
    private readonly ctx: RunContext,
  ) {
    this.ended = new Promise((r) => (this.#resolveEnded = r));
    this.lostControl = new Promise((r) => (this.#resolveLost = r));
    void proc.exit?.then((e) => this.#finish(e));
  }

  get pid(): number {
    return this.proc.pid;
  }

  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Spawns QEMU paused (-S), records it, connects QMP and the serial console. The caller
   * releases the CPUs (`cont`). `signal` cancels: the process is then forced off. A rejection
   * after the process existed carries `exit`, how it ended (see `SpawnFailure`).
   */
  static async spawn(plan: SpawnPlan, ctx: RunContext, signal: AbortSignal): Promise<QemuRun> {
    const { files } = ctx;
    // The record goes first, so a driver that dies right after the spawn still finds the QEMU
    // (through the pidfile or its -uuid) instead of leaving an orphan nobody knows about.
    writeRunRecord(files.runRecord, plan.record);
    const helpers: HelperProcess[] = [];
    let proc: QemuProcess;
    try {
      const records = [...(plan.record.helpers ?? [])];
      for (const [i, h] of (plan.helpers ?? []).entries()) {
        const helper = await HelperProcess.spawn(
          h.binary,
          h.argv,
          records[i]!,
          h.logFile,
          plan.connectTimeoutMs,
          signal,
        );
        helpers.push(helper);
        records[i] = helper.record;
        plan = { ...plan, record: { ...plan.record, helpers: [...records] } };
        writeRunRecord(files.runRecord, plan.record);
        ctx.log.write(`spawned ${helper.record.kind} pid ${helper.pid}`);
      }
      proc = await ctx.launcher.spawn(plan.binary, plan.argv, files.qemuLog);
    } catch (err) {
      await Promise.all(helpers.map((h) => h.end(0)));
      fs.rmSync(files.runRecord, { force: true });
      if (signal.aborted) throw new VmdeskError('cancelled', `Starting "${plan.vmName}" was cancelled.`);
      throw err instanceof VmdeskError ? err : spawnError(err, plan);
    }
    const run = new QemuRun(proc, { ...plan.record, pid: proc.pid }, ctx);
    run.#helpers = helpers;
    ctx.log.write(`spawned QEMU pid ${proc.pid} (${plan.record.accel}: ${plan.record.accelReason})`);
    const died = run.ended.then((v) => {
      throw new VmdeskError(
        'qemu-failed',
        `QEMU exited while starting "${plan.vmName}": ${v.logTail?.join(' ').trim() || v.reason || 'no output'}${plan.hint}`,
        {
          logTail: v.logTail,
          accel: plan.record.accel,
        },
      );
    });
    died.catch(() => undefined); // only the races below care; a later exit is not an error here
    try {
      writeRunRecord(files.runRecord, run.record);
      const qmp = new QmpClient(files.qmpSocket, { connectRetryMs: plan.connectTimeoutMs, signal });
      await Promise.race([qmp.connect(), died]);
      run.#attachQmp(qmp);
      await Promise.race([run.#attachSerial(false), died]);
      run.#watchLogs();
      if (signal.aborted) throw signal.reason;
      return run;
    } catch (err) {
      await run.abandon();
      const failure = (e: VmdeskError) => Object.assign(e, { exit: run.#verdict });
      if (signal.aborted) throw failure(new VmdeskError('cancelled', `Starting "${plan.vmName}" was cancelled.`));
      if (err instanceof VmdeskError) throw failure(err);
      const tail = qemuLogSinceStart(files.qemuLog).slice(-5).join(' ');
      throw failure(
        new VmdeskError(
          'qemu-failed',
          `QEMU did not become ready for "${plan.vmName}" (${(err as Error).message}); it was stopped. ${tail ? `QEMU said: ${tail}` : `See ${files.qemuLog}.`}${plan.hint}`,
          { accel: plan.record.accel },
          { cause: err },
        ),
      );
    }
  }

  /** Takes over the QEMU of `record` (left by an earlier driver), or settles one that ended. */
  static async adopt(record: RunRecord, vmId: string, ctx: RunContext): Promise<Adopted> {
    const { launcher, files } = ctx;
    // A record written just before a spawn has pid 0; QEMU's pidfile, or failing that its
    // command line (our -uuid), says which process it became.
    const pid = [record.pid, readPidfile(record.pidfile), launcher.findByUuid(vmId)].find(
      (p): p is number => !!p && launcher.pidExists(p) && launcher.isOurQemu(p, vmId),
    );
    if (pid === undefined) {
      const verdict = record.intent
        ? { state: 'stopped' as const }
        : classifyExit({ pidfileLeft: fs.existsSync(record.pidfile), logSinceStart: qemuLogSinceStart(files.qemuLog) });
      ctx.log.write(`found QEMU pid ${record.pid} gone while no driver ran: ${verdict.state}`);
      // Its helpers normally ended with it; one that did not (QEMU never connected) is an orphan.
      for (const h of record.helpers ?? []) {
        const left = await endStrayHelpers(h, 1000);
        ctx.log.write(`ended the ${h.kind} left by that run${left ? ` (${left} would not end)` : ''}`);
      }
      cleanupRuntime(record);
      fs.rmSync(files.runRecord, { force: true });
      return { kind: 'gone', verdict };
    }
    const run = new QemuRun(launcher.adopt(pid), { ...record, pid }, ctx);
    for (const h of record.helpers ?? []) {
      const helper = HelperProcess.adopt(h);
      if (helper) run.#helpers.push(helper);
      ctx.log.write(
        helper
          ? `adopted ${h.kind} pid ${helper.pid}`
          : `the ${h.kind} of this run is gone: the guest has lost ${h.kind === 'swtpm' ? 'its TPM' : 'a shared folder'} until the VM restarts`,
      );
    }
    if (pid !== record.pid) writeRunRecord(files.runRecord, run.record);
    run.expectingExit = !!record.intent;
    try {
      const qmp = new QmpClient(record.qmpSocket, { connectRetryMs: 2000 });
      await qmp.connect();
      run.#attachQmp(qmp);
      let status = (await qmp.execute<{ status: string }>('query-status')).status;
      if (status === 'prelaunch' && !record.intent) {
        // The driver that started this VM died before releasing it (-S): finish the start.
        await qmp.execute('cont');
        status = 'running';
      }
      // The guest has shut down and QEMU is on its way out: that end is not a crash.
      if (status === 'shutdown') run.expectingExit = true;
      await run.#attachSerial(true).catch(() => undefined);
      run.#watchLogs();
      ctx.log.write(`adopted QEMU pid ${pid} (${status})`);
      return { kind: 'live', run, status };
    } catch (err) {
      ctx.log.write(`QEMU pid ${pid} is alive but QMP failed: ${(err as Error).message}`);
      run.#watchWithoutQmp();
      return {
        kind: 'unreachable',
        run,
        reason: `QEMU (pid ${pid}) is running but does not answer on its control socket.`,
      };
    }
  }

  /** Remembered on disk, so a driver that dies mid-way still knows the exit was wanted. */
  setIntent(intent: 'shutdown' | 'stop'): void {
    this.expectingExit = true;
    this.record = { ...this.record, intent };
    if (this.#finished) return;
    try {
      writeRunRecord(this.ctx.files.runRecord, this.record);
    } catch {
      // The in-memory flag still covers this driver's lifetime.
    }
  }

  /** A refused power button: the exit that was announced is not coming. */
  clearIntent(): void {
    this.expectingExit = false;
    const { intent: _dropped, ...rest } = this.record;
    this.record = rest;
    if (this.#finished) return;
    try {
      writeRunRecord(this.ctx.files.runRecord, this.record);
    } catch {
      // A later driver may then take a crash for a wanted stop; nothing worse.
    }
  }

  /**
   * quit → SIGTERM → SIGKILL, each rung waiting rungTimeoutMs; resolves once the run has ended.
   * An adopted process is checked to still be this VM's QEMU before each signal: a pid the
   * kernel gave to another process since is never signalled. MUST throw only if the process
   * survived SIGKILL.
   */
  async forceOff(): Promise<void> {
    this.expectingExit = true;
    if (this.#finished) return;
    const rung = this.ctx.rungTimeoutMs;
    const proc = this.proc;
    if (this.qmp?.state === 'running') {
      const answered = await this.qmp.execute('quit', {}, { timeoutMs: rung }).then(
        () => true,
        () => false,
      );
      // A QEMU that did not even answer `quit` is hung: waiting longer for it helps nobody.
      if (await proc.waitForExit(answered ? rung : 100)) return this.#settle();
    }
    for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
      if (!this.#stillOurs()) return this.#settle();
      this.ctx.log.write(`sending ${sig} to QEMU pid ${proc.pid}`);
      proc.kill(sig);
      if (await proc.waitForExit(rung)) return this.#settle();
    }
    throw new VmdeskError('internal', `QEMU pid ${proc.pid} survived SIGKILL.`);
  }

  /** Ends a run that must not go on (a failed start): forces it off and waits for its end. */
  async abandon(): Promise<void> {
    try {
      await this.forceOff();
    } catch (err) {
      this.ctx.log.write(`could not end QEMU pid ${this.pid}: ${(err as Error).message}`);
      return;
    }
    await this.ended;
  }

  /** The driver goes away; the process keeps running for the next driver to adopt, and its
   * end is no longer this driver's to record (the files belong to the next one). */
  detach(): void {
    this.#detached = true;
    this.#release('The console was closed: vmdesk is quitting.');
  }

  /** Our child is ours until it exits; an adopted pid is ours while it still runs our QEMU. */
  #stillOurs(): boolean {
    return !!this.proc.exit || this.ctx.launcher.isOurQemu(this.pid, this.record.id);
  }

  /**
   * An adopted QEMU we cannot talk to gives no sign when it ends: look every few seconds, only
   * in this state (a VM that shows as crashed), so its end is seen and its pid never reused.
   */
  #watchWithoutQmp(): void {
    const timer = setInterval(
      () => {
        if (!this.#stillOurs()) this.#finish({ code: null, signal: null });
      },
      Math.min(2000, 5 * this.ctx.rungTimeoutMs),
    );
    timer.unref();
    this.#cleanups.push(() => clearInterval(timer));
  }

  async #settle(): Promise<void> {
    // Our child's 'exit' event finishes the run; an adopted process has none.
    if (!this.proc.exit) this.#finish({ code: null, signal: null });
    await this.ended;
  }

  #attachQmp(qmp: QmpClient): void {
    this.qmp = qmp;
    const off = qmp.onClose(() => {
      if (this.proc.exit || this.#finished) return; // our child's 'exit' event does the rest
      // Not our child: the process may still be writing its last words. Three rungs' worth.
      void this.proc.waitForExit(3 * this.ctx.rungTimeoutMs).then((gone) => {
        if (gone) return this.#finish({ code: null, signal: null });
        this.#watchWithoutQmp();
        this.#resolveLost(`QEMU (pid ${this.pid}) closed its control socket but is still running. Force it off.`);
      });
    });
    this.#cleanups.push(off);
  }

  /** `replayLog`: seed the console history from serial.log (QEMU kept logging while no driver
   * was attached). */
  async #attachSerial(replayLog: boolean): Promise<void> {
    const seed = replayLog ? logBytesSinceStart(this.ctx.files.serialLog, DEFAULT_RING_BYTES) : undefined;
    const hub = new SerialHub(this.record.serialSocket, {
      ...(seed ? { seed } : {}),
      onViewerDropped: () =>
        this.ctx.log.write('a serial console viewer fell too far behind the guest output and was disconnected', 'warn'),
    });
    try {
      await hub.connect();
    } catch (err) {
      hub.close();
      throw err;
    }
    // The process may have ended (or the driver detached) while the console connected.
    if (this.#finished || this.#detached) return hub.close();
    this.serial = hub;
  }

  #watchLogs(): void {
    const { files, logCapBytes } = this.ctx;
    this.#cleanups.push(watchLogCap(files.qemuLog, logCapBytes), watchLogCap(files.serialLog, logCapBytes));
    for (const h of this.record.helpers ?? []) if (h.log) this.#cleanups.push(watchLogCap(h.log, logCapBytes));
  }

  /** Idempotent end of the process: classify, clean up, resolve `ended`. */
  #finish(exit: ProcessExit): void {
    if (this.#finished || this.#detached) return;
    this.#finished = true;
    const { files } = this.ctx;
    const verdict: ExitVerdict = this.expectingExit
      ? { state: 'stopped' }
      : classifyExit({
          pidfileLeft: fs.existsSync(this.record.pidfile),
          logSinceStart: qemuLogSinceStart(files.qemuLog),
          code: exit.code,
          signal: exit.signal,
        });
    this.ctx.log.write(`QEMU pid ${this.pid} ended (code ${exit.code}, signal ${exit.signal}): ${verdict.state}`);
    try {
      cleanupRuntime(this.record);
      fs.rmSync(files.runRecord, { force: true });
    } catch (err) {
      this.ctx.log.write(`cleaning up after QEMU pid ${this.pid} failed: ${(err as Error).message}`);
    }
    this.#release(verdict.state === 'crashed' ? 'The VM crashed.' : 'The VM stopped.');
    this.#verdict = verdict;
    // The run has ended once its helpers have too (a start right after must not meet them on
    // the TPM's state or a share's socket). Each ends by itself when QEMU closes its socket; a
    // second is plenty.
    const helpers = this.#helpers;
    if (helpers.length === 0) return this.#resolveEnded(verdict);
    void Promise.all(
      helpers.map((h) => h.end(1000).then(() => this.ctx.log.write(`${h.record.kind} pid ${h.pid} ended`))),
    ).then(() => this.#resolveEnded(verdict));
  }

  #release(reason: string): void {
    for (const c of this.#cleanups.splice(0)) c();
    this.serial?.close(reason);
    this.serial = undefined;
    void this.qmp?.close();
    this.qmp = undefined;
  }
}

/** The OS's refusal to start QEMU, in words that say what to change. */
function spawnError(err: unknown, plan: SpawnPlan): VmdeskError {
  const code = (err as NodeJS.ErrnoException).code;
  const bytes = plan.argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
  const why =
    code === 'E2BIG'
      ? `its command line is too long for this system (E2BIG: ${plan.argv.length} arguments, ${bytes} bytes). Remove port forwards or devices from "${plan.vmName}" and start it again.`
      : code === 'ENOENT'
        ? `${plan.binary} does not exist. Reinstall QEMU.`
        : code === 'EACCES'
          ? `${plan.binary} is not executable by you.`
          : (err as Error).message;
  return new VmdeskError(
    'qemu-failed',
    `QEMU could not be started for "${plan.vmName}": ${why}`,
    { code },
    { cause: err },
  );
}
