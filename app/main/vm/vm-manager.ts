/**
 * VmManager: the session-mode driver's heart. Owns every VM's state machine
 * (stopped → starting → running ⇄ paused → stopping → stopped, plus crashed and broken),
 * runs one operation per VM at a time, and learns state from QMP events, never by polling.
 *
 * MUST be the only driver for its config dir (the caller holds the owner lock).
 * MUST NOT start a VM that is running, or whose read-write disk another running VM uses.
 * MUST leave no socket, pidfile or run record behind when a VM ends, whichever way it ends.
 */
import fs from 'node:fs';
import { VmdeskError } from '../common/errors.js';
import type { CallParams, DefineVmInput } from '../common/contract.js';
import { sameName, type MdevAssignment, type VmDefinition, type VmState, type VmSummary } from '../common/vm-types.js';
import type { AppPaths } from '../paths/app-paths.js';
import { definitionsDir, runRecordsDir, vmFiles } from '../paths/vm-files.js';
import type { SerialHub } from '../consoles/serial-hub.js';
import { QmpClient } from '../qemu/qmp-client.js';
import { pidExists, spawnDetached, waitForExit } from '../qemu/process.js';
import { DefinitionStore } from './definition-store.js';
import { createVmFiles, validateDefineInput } from './define-vm.js';
import type { HostServices } from './host-services.js';
import { DEFAULT_LOG_CAP_BYTES } from './log-cap.js';
import { writeRunRecord } from './run-record.js';
import { qemuLogSinceStart } from './exit-reason.js';
import { VmEvents } from './vm-events.js';
import { realpath, sweepOrphans } from './runtime-files.js';
import { defineInputFromPlan, planFromIso, type IsoPlan } from './iso-plan.js';
import { assertDisksFree, prepareLaunch, tcgHint } from './launch.js';
import { adoptVm } from './adoption.js';
import { summarize, type VmRuntime } from './vm-runtime.js';
import { VmPlumbing } from './vm-plumbing.js';

export interface VmManagerOptions {
  paths: AppPaths;
  host: HostServices;
  /** How long an ACPI shutdown may take before the ladder forces the VM off. */
  shutdownTimeoutMs?: number;
  /** Each forcing rung (quit, SIGTERM, SIGKILL) waits this long for the process to go. */
  rungTimeoutMs?: number;
  /** How long to wait for QEMU's QMP socket after spawning. */
  startTimeoutMs?: number;
  logCapBytes?: number;
}

/** Tuning from the environment: VMDESK_LOG_CAP_BYTES (at least 64 KiB) caps each log file. */
export function managerOptionsFromEnv(env: NodeJS.ProcessEnv): Omit<VmManagerOptions, 'paths' | 'host'> {
  const cap = Number(env.VMDESK_LOG_CAP_BYTES);
  return Number.isInteger(cap) && cap >= 64 * 1024 ? { logCapBytes: cap } : {};
}


export class VmManager {
  readonly events = new VmEvents();
  private readonly vms = new Map<string, VmRuntime>();
  private readonly store: DefinitionStore;
  private readonly opts: Required<Omit<VmManagerOptions, 'paths' | 'host'>>;
  private readonly plumbing: VmPlumbing;

  constructor(private readonly paths: AppPaths, private readonly host: HostServices, options: Omit<VmManagerOptions, 'paths' | 'host'> = {}) {
    this.store = new DefinitionStore(definitionsDir(paths));
    this.opts = {
      shutdownTimeoutMs: options.shutdownTimeoutMs ?? 60_000,
      rungTimeoutMs: options.rungTimeoutMs ?? 3_000,
      startTimeoutMs: options.startTimeoutMs ?? 30_000,
      logCapBytes: options.logCapBytes ?? DEFAULT_LOG_CAP_BYTES,
    };
    this.plumbing = new VmPlumbing(paths, this.opts.logCapBytes, this.opts.rungTimeoutMs, {
      setState: (rt, state, reason, logTail) => this.setState(rt, state, reason, logTail),
      log: (rt, line) => this.log(rt, line),
    });
  }

  /** Loads every definition and adopts every QEMU that a previous driver left running. */
  async init(): Promise<void> {
    for (const e of this.store.loadAll()) {
      const rt: VmRuntime = e.ok
        ? { id: e.id, file: e.file, def: e.definition, state: 'stopped', expectingExit: false, cleanups: [] }
        : { id: e.id, file: e.file, brokenReason: e.reason, state: 'broken', reason: e.reason, expectingExit: false, cleanups: [] };
      this.vms.set(e.id, rt);
    }
    let records: string[] = [];
    try {
      records = fs.readdirSync(runRecordsDir(this.paths)).filter((n) => n.endsWith('.json'));
    } catch { /* no run records yet */ }
    const adopted = await Promise.all(records.map((n) => this.adopt(n.slice(0, -5))));
    // Safe only here: we hold the owner lock and no operation has started.
    const owned = [...this.vms.values()].flatMap((rt) => (rt.run ? [rt.run.runtimeDir] : []));
    sweepOrphans(this.paths, new Set([...owned, ...adopted.flatMap((a) => (a.keepRuntimeDir ? [a.keepRuntimeDir] : []))]));
  }

  list(): VmSummary[] {
    return [...this.vms.values()].map((rt) => this.summary(rt)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** By id, then by exact name. MUST throw not-found naming what was asked for. */
  resolve(ref: string): VmRuntime {
    const byId = this.vms.get(ref) ?? [...this.vms.values()].find((rt) => rt.id.startsWith(ref) && ref.length >= 8);
    if (byId) return byId;
    const byName = [...this.vms.values()].filter((rt) => rt.def && sameName(rt.def.name, ref));
    if (byName.length === 1) return byName[0]!;
    throw new VmdeskError('not-found', `No VM named or with id "${ref}". Run \`vmdesk list\` to see your VMs.`, { vm: ref });
  }

  get(ref: string): VmSummary {
    return this.summary(this.resolve(ref));
  }

  async define(input: DefineVmInput): Promise<VmSummary> {
    const existing = [...this.vms.values()].flatMap((rt) => (rt.def ? [rt.def] : []));
    validateDefineInput(input, existing, this.host);
    const def = await createVmFiles(input, this.paths, this.host);
    try {
      this.store.save(def);
    } catch (err) {
      fs.rmSync(vmFiles(this.paths, def.id).dataDir, { recursive: true, force: true });
      throw err;
    }
    const rt: VmRuntime = { id: def.id, file: this.store.fileFor(def.id), def, state: 'stopped', expectingExit: false, cleanups: [] };
    this.vms.set(def.id, rt);
    this.log(rt, `defined: ${def.memoryMiB} MiB, ${def.cpus} CPU, accel ${def.accel}`);
    this.emit(rt);
    return this.summary(rt);
  }

  /** What an ISO is and the VM proposed for it; creates nothing. */
  async inspectIso(path: string): Promise<IsoPlan> {
    const names = [...this.vms.values()].flatMap((rt) => (rt.def ? [rt.def.name] : []));
    return planFromIso(path, this.host, names);
  }

  /**
   * A VM from an installer image: the recognised OS's defaults, each overridable. Everything is
   * checked before anything is made, and define() leaves nothing behind when a step fails.
   */
  async create(p: CallParams<'vm.create'>): Promise<VmSummary> {
    const plan = await this.inspectIso(p.iso);
    const input = defineInputFromPlan(plan, p);
    const vm = await this.define(input);
    this.log(this.resolve(vm.id), `created from ${plan.info.path} (${plan.os.name}, ${plan.os.source})`);
    return p.start ? this.start({ vm: vm.id }) : vm;
  }

  /** Takes the ISO out (from the running VM too); the VM then boots from its disk. */
  async eject(p: CallParams<'vm.eject'>): Promise<VmSummary> {
    const rt = this.resolve(p.vm);
    const def = this.requireDefinition(rt);
    if (!def.cdrom) throw new VmdeskError('invalid-state', `"${def.name}" has no ISO inserted.`);
    if (rt.qmp && rt.qmp.state === 'running') {
      // force: the guest may have locked the tray (an installer that is reading the disc).
      await rt.qmp.execute('blockdev-open-tray', { id: 'cdrom0', force: true }).catch(() => undefined);
      await rt.qmp.execute('blockdev-remove-medium', { id: 'cdrom0' });
    }
    return this.saveDefinition(rt, { ...def, cdrom: null, boot: 'disk' }, `ejected ${def.cdrom}`);
  }

  /**
   * Changes the VM's mediated devices (the mdev layer's assign and unassign): `change` gets the
   * current list and returns the new one; it runs synchronously against the latest definition, so
   * two changes never lose each other. Only while the VM is off and no operation (a start that is
   * still probing) runs: QEMU's device list is fixed at spawn. Nothing on the host changes here.
   */
  updateMdevs(ref: string, change: (current: readonly MdevAssignment[], vm: { id: string; name: string }) => MdevAssignment[]): VmSummary {
    const rt = this.resolve(ref);
    const def = this.requireDefinition(rt);
    if (rt.busy || (rt.proc && pidExists(rt.proc.pid)) || !['stopped', 'crashed'].includes(rt.state)) {
      const doing = rt.busy ? `busy with ${rt.busy.op}` : rt.state;
      throw new VmdeskError('invalid-state', `"${def.name}" is ${doing}; shut it down before changing its mediated devices.`, { state: rt.state });
    }
    const mdevs = change(def.mdevs ?? [], { id: def.id, name: def.name }).map((m) => ({ ...m, uuid: m.uuid.toLowerCase() }));
    const uuids = mdevs.map((m) => m.uuid);
    const dup = uuids.find((u, i) => uuids.indexOf(u) !== i);
    if (dup) throw new VmdeskError('invalid-argument', `${dup} is already assigned to "${def.name}"; a mediated device can be assigned to a VM once.`, { field: 'uuid' });
    return this.saveDefinition(rt, { ...def, mdevs }, `mediated devices: ${mdevs.length ? mdevs.map((m) => `${m.uuid} (${m.type} on ${m.parent})`).join(', ') : 'none'}`);
  }

  async start(p: CallParams<'vm.start'>): Promise<VmSummary> {
    const rt = this.resolve(p.vm);
    const def = this.requireDefinition(rt);
    if (rt.state !== 'stopped' && rt.state !== 'crashed') {
      throw new VmdeskError('invalid-state', `"${def.name}" is ${rt.state}; it can only be started when stopped.`, { state: rt.state });
    }
    if (rt.proc && pidExists(rt.proc.pid)) {
      throw new VmdeskError('invalid-state', `"${def.name}" still has a QEMU process (pid ${rt.proc.pid}). Force it off first: vmdesk stop "${def.name}".`);
    }
    assertDisksFree(def, rt, this.vms.values());
    return this.runOp(rt, 'start', async (signal) => {
      await this.doStart(rt, def, signal);
      return this.summary(rt);
    });
  }

  private async doStart(rt: VmRuntime, def: VmDefinition, signal: AbortSignal): Promise<void> {
    const files = vmFiles(this.paths, def.id);
    const clash = [...this.vms.values()].find((o) => o !== rt && o.run?.runtimeDir === files.runtimeDir);
    if (clash) throw new VmdeskError('internal', `Runtime directory clash with VM ${clash.id}.`);
    const others = () => [...this.vms.values()].filter((o) => o !== rt && o.def).map((o) => ({ id: o.id, name: o.def!.name, running: ['starting', 'running', 'paused', 'stopping'].includes(o.state), mdevs: o.def!.mdevs ?? [] }));
    const { caps, accel, argv } = await prepareLaunch(def, files, { paths: this.paths, host: this.host, logCapBytes: this.opts.logCapBytes, others });
    this.setState(rt, 'starting', undefined);
    rt.expectingExit = false;
    rt.logTail = undefined;
    rt.run = {
      id: def.id, pid: 0, binary: caps.binary, accel: accel.accel, accelReason: accel.reason,
      runtimeDir: files.runtimeDir, qmpSocket: files.qmpSocket, serialSocket: files.serialSocket,
      vncSocket: files.vncSocket, pidfile: files.pidfile,
      disks: def.disks.filter((d) => !d.readOnly).map((d) => realpath(d.path)), startedAt: new Date().toISOString(),
    };
    writeRunRecord(files.runRecord, rt.run);
    const proc = await spawnDetached(caps.binary, argv, files.qemuLog);
    rt.proc = proc;
    rt.run = { ...rt.run, pid: proc.pid };
    writeRunRecord(files.runRecord, rt.run);
    this.log(rt, `spawned QEMU pid ${proc.pid} (${accel.accel}: ${accel.reason})`);
    const exited = new Promise<void>((resolve) => proc.child?.once('exit', (code, sig) => resolve(this.plumbing.onProcessGone(rt, proc, code, sig))));
    rt.exited = exited;

    // QEMU that dies during start-up (bad argv, locked disk) must fail the start with its words.
    const died = exited.then(() => {
      throw new VmdeskError('qemu-failed', `QEMU exited while starting "${def.name}": ${rt.logTail?.join(' ').trim() || 'no output'}${tcgHint(accel.accel)}`, { logTail: rt.logTail, accel: accel.accel });
    });
    died.catch(() => {}); // only the races below care; a later exit is not an error here
    try {
      const qmp = new QmpClient(files.qmpSocket, { connectRetryMs: this.opts.startTimeoutMs, signal });
      await Promise.race([qmp.connect(), died]);
      this.plumbing.attachQmp(rt, qmp);
      await Promise.race([this.plumbing.attachConsole(rt, files.serialSocket, false), died]);
      await Promise.race([qmp.execute('cont'), died]);
    } catch (err) {
      // A cancelled start is being forced off by whoever cancelled it.
      if (!signal.aborted && !(err instanceof VmdeskError && err.code === 'qemu-failed')) {
        rt.expectingExit = true;
        await this.plumbing.forceOff(rt, proc);
      }
      if (signal.aborted) throw new VmdeskError('cancelled', `Starting "${def.name}" was cancelled.`);
      if (err instanceof VmdeskError) throw err;
      const tail = qemuLogSinceStart(files.qemuLog).slice(-5).join(' ');
      throw new VmdeskError('qemu-failed', `QEMU did not become ready for "${def.name}" (${(err as Error).message}); it was stopped. ${tail ? `QEMU said: ${tail}` : `See ${files.qemuLog}.`}${tcgHint(accel.accel)}`, { accel: accel.accel }, { cause: err });
    }
    this.plumbing.watchLogs(rt, files.qemuLog, files.serialLog);
    this.setState(rt, 'running');
  }

  /** ACPI power button. With wait: resolves when stopped; forces off after the timeout. */
  async shutdown(p: CallParams<'vm.shutdown'>): Promise<VmSummary> {
    const rt = this.resolve(p.vm);
    const def = this.requireDefinition(rt);
    if (rt.state === 'paused') throw new VmdeskError('invalid-state', `"${def.name}" is paused and cannot react to the power button. Resume it first, or force it off with \`vmdesk stop\`.`);
    if (rt.state !== 'running') throw new VmdeskError('invalid-state', `"${def.name}" is ${rt.state}, not running.`, { state: rt.state });
    const timeoutMs = p.timeoutMs ?? this.opts.shutdownTimeoutMs;
    const work = this.runOp(rt, 'shutdown', async (signal) => {
      this.setState(rt, 'stopping');
      this.recordIntent(rt, 'shutdown');
      await rt.qmp!.execute('system_powerdown');
      this.log(rt, 'sent ACPI power button');
      const proc = rt.proc!;
      const gone = await waitForExit(proc, timeoutMs, signal);
      if (signal.aborted) return this.summary(rt);
      if (!gone) {
        this.log(rt, `guest did not power off within ${timeoutMs} ms: forcing off`);
        rt.expectingExit = true;
        await this.plumbing.forceOff(rt, proc);
        rt.reason = `The guest did not shut down within ${Math.round(timeoutMs / 1000)} s, so it was forced off.`;
      }
      await rt.exited;
      return this.summary(rt);
    });
    if (p.wait) return work;
    work.catch((err) => this.log(rt, `shutdown failed: ${(err as Error).message}`));
    // Without wait, return once the button press reached QEMU (state is now `stopping`).
    await new Promise((r) => setImmediate(r));
    return this.summary(rt);
  }

  /** Force off: cancels whatever the VM is doing, then quit → SIGTERM → SIGKILL. */
  async stop(p: CallParams<'vm.stop'>): Promise<VmSummary> {
    const rt = this.resolve(p.vm);
    const def = this.requireDefinition(rt);
    const proc = rt.proc;
    if (!proc || (rt.state === 'stopped' || rt.state === 'crashed') && !pidExists(proc.pid)) {
      throw new VmdeskError('invalid-state', `"${def.name}" is not running.`, { state: rt.state });
    }
    rt.busy?.abort.abort();
    rt.expectingExit = true;
    this.setState(rt, 'stopping');
    this.recordIntent(rt, 'stop');
    await this.plumbing.forceOff(rt, proc);
    await rt.exited;
    return this.summary(rt);
  }

  async reboot(p: CallParams<'vm.reboot'>): Promise<VmSummary> {
    return this.simpleQmp(p.vm, 'system_reset', ['running', 'paused'], 'reset');
  }

  async pause(p: CallParams<'vm.pause'>): Promise<VmSummary> {
    const s = await this.simpleQmp(p.vm, 'stop', ['running'], 'paused');
    this.setState(this.resolve(p.vm), 'paused');
    return { ...s, state: 'paused' };
  }

  async resume(p: CallParams<'vm.resume'>): Promise<VmSummary> {
    const s = await this.simpleQmp(p.vm, 'cont', ['paused'], 'resumed');
    this.setState(this.resolve(p.vm), 'running');
    return { ...s, state: 'running' };
  }

  private async simpleQmp(ref: string, command: string, allowed: VmState[], verb: string): Promise<VmSummary> {
    const rt = this.resolve(ref);
    const def = this.requireDefinition(rt);
    if (!allowed.includes(rt.state) || !rt.qmp) {
      throw new VmdeskError('invalid-state', `"${def.name}" is ${rt.state}; it can be ${verb} only when ${allowed.join(' or ')}.`, { state: rt.state });
    }
    await this.runOp(rt, command, () => rt.qmp!.execute(command));
    this.log(rt, verb);
    return this.summary(rt);
  }

  async delete(p: CallParams<'vm.delete'>): Promise<{ id: string }> {
    const rt = this.resolve(p.vm);
    if (rt.state === 'broken') {
      throw new VmdeskError('vm-broken', `vmdesk does not delete a VM file it cannot read. ${rt.brokenReason}`, { file: rt.file });
    }
    const def = this.requireDefinition(rt);
    if (rt.busy || (rt.proc && pidExists(rt.proc.pid))) {
      throw new VmdeskError('invalid-state', `"${def.name}" is ${rt.state}. Shut it down or force it off before deleting it.`, { state: rt.state });
    }
    const files = vmFiles(this.paths, def.id);
    // The definition goes first: if anything after fails, there is no half-deleted VM on show.
    this.store.remove(def.id);
    this.vms.delete(def.id);
    if (!p.keepDisks) {
      fs.rmSync(files.dataDir, { recursive: true, force: true });
    } else if (def.nvram) {
      fs.rmSync(def.nvram, { force: true });
    }
    fs.rmSync(files.logDir, { recursive: true, force: true });
    fs.rmSync(files.runRecord, { force: true });
    this.events.emit('vm.removed', { id: def.id });
    return { id: def.id };
  }

  logPaths(ref: string) {
    const rt = this.resolve(ref);
    const f = vmFiles(this.paths, rt.id);
    return { qemu: f.qemuLog, serial: f.serialLog, driver: f.driverLog };
  }

  /** The console hub of a running VM (the CLI and the UI attach viewers to it). */
  serialHub(ref: string): SerialHub {
    const rt = this.resolve(ref);
    if (!rt.serial || (rt.state !== 'running' && rt.state !== 'paused' && rt.state !== 'stopping')) {
      throw new VmdeskError('invalid-state', `"${rt.def?.name ?? rt.id}" is ${rt.state}; its console is available while it runs.`, { state: rt.state });
    }
    return rt.serial;
  }

  /** The VNC socket of a running VM with a display (the graphical console proxies to it). */
  vncSocket(ref: string): string {
    const rt = this.resolve(ref);
    if (!rt.run || (rt.state !== 'running' && rt.state !== 'paused' && rt.state !== 'stopping')) {
      throw new VmdeskError('invalid-state', `"${rt.def?.name ?? rt.id}" is ${rt.state}; its screen is available while it runs.`, { state: rt.state });
    }
    if (rt.def?.display === 'none') throw new VmdeskError('unsupported', `"${rt.def.name}" has no display.`);
    return rt.run.vncSocket;
  }

  /** Stops listening and closes connections; running VMs keep running (the next driver adopts them). */
  async detachAll(): Promise<void> {
    for (const rt of this.vms.values()) {
      rt.busy?.abort.abort();
      this.plumbing.releaseConnections(rt);
      rt.proc?.child?.removeAllListeners('exit');
    }
  }

  // ——— adoption ———

  private adopt(id: string): Promise<{ keepRuntimeDir?: string }> {
    return adoptVm(id, this.vms.get(id), {
      paths: this.paths,
      log: (rt, line) => this.log(rt, line),
      setState: (rt, state, reason, logTail) => this.setState(rt, state, reason, logTail),
      attachQmp: (rt, qmp) => this.plumbing.attachQmp(rt, qmp),
      attachConsole: (rt, socket, replay) => this.plumbing.attachConsole(rt, socket, replay),
      watchLogs: (rt, qemuLog, serialLog) => this.plumbing.watchLogs(rt, qemuLog, serialLog),
      finishStop: (rt) => void this.stop({ vm: rt.id }).catch((err: unknown) => this.log(rt, `finishing the force off failed: ${(err as Error).message}`)),
    });
  }

  /** Remembered on disk, so a driver that dies mid-way still knows the exit was wanted. */
  private recordIntent(rt: VmRuntime, intent: 'shutdown' | 'stop'): void {
    if (!rt.run) return;
    rt.run = { ...rt.run, intent };
    try {
      writeRunRecord(vmFiles(this.paths, rt.id).runRecord, rt.run);
    } catch { /* the in-memory flag still covers this driver's lifetime */ }
  }

  private async runOp<T>(rt: VmRuntime, op: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (rt.busy) throw new VmdeskError('invalid-state', `"${rt.def?.name ?? rt.id}" is busy (${rt.busy.op}). Wait for it, or force it off.`, { busy: rt.busy.op });
    const abort = new AbortController();
    const busy = { op, abort };
    rt.busy = busy;
    try {
      return await fn(abort.signal);
    } finally {
      if (rt.busy === busy) rt.busy = undefined;
    }
  }

  /** A changed definition: on disk first, then in memory, the driver log, and every window. */
  private saveDefinition(rt: VmRuntime, updated: VmDefinition, logLine: string): VmSummary {
    this.store.save(updated);
    rt.def = updated;
    this.log(rt, logLine);
    this.emit(rt);
    return this.summary(rt);
  }

  private requireDefinition(rt: VmRuntime): VmDefinition {
    if (!rt.def) throw new VmdeskError('vm-broken', `The VM file ${rt.file} cannot be used: ${rt.brokenReason}`, { file: rt.file });
    return rt.def;
  }

  private setState(rt: VmRuntime, state: VmState, reason?: string, logTail?: string[]): void {
    const changed = rt.state !== state || rt.reason !== reason;
    rt.state = state;
    rt.reason = reason;
    if (logTail !== undefined || state !== 'crashed') rt.logTail = logTail;
    if (changed) {
      this.log(rt, `state ${state}${reason ? `: ${reason}` : ''}`);
      this.emit(rt);
    }
  }

  private emit(rt: VmRuntime): void {
    this.events.emit('vm.changed', this.summary(rt));
  }

  private log(rt: VmRuntime, line: string): void {
    try {
      const f = vmFiles(this.paths, rt.id);
      fs.mkdirSync(f.logDir, { recursive: true, mode: 0o700 });
      fs.appendFileSync(f.driverLog, `${new Date().toISOString()} [${process.pid}] ${line}\n`, { mode: 0o600 });
    } catch { /* logging must never break an operation */ }
  }

  private summary(rt: VmRuntime): VmSummary {
    return summarize(rt, vmFiles(this.paths, rt.id));
  }
}
