/**
 * VmManager: the registry of a user's VMs. It loads them (adopting every QEMU an earlier driver
 * left running), defines and deletes them, finds them by name or id, and hands every other call
 * to the VM's own VmInstance. Name uniqueness and the files of define/delete are decided inside
 * one serialised registry job, so two defines of one name can never both succeed.
 *
 * MUST be the only driver for its config dir (the caller holds the owner lock).
 * MUST leave no data or log directory without a definition, even when killed mid-way (intents).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { VmdeskError } from '../common/errors.js';
import type { CallParams, CallResults, DefineVmInput, OrphanDir } from '../common/contract.js';
import { sameVmName } from '../common/names.js';
import type { MdevAssignment, VmDefinition, VmSummary } from '../common/vm-types.js';
import type { SerialHub } from '../consoles/serial-hub.js';
import type { AppPaths } from '../paths/app-paths.js';
import { definitionsDir, driverFiles, runRecordsDir, vmFiles } from '../paths/vm-files.js';
import { nodeQemuLauncher, type QemuLauncher } from '../qemu/launcher.js';
import { createVmFiles, validateDefineInput } from './define-vm.js';
import { DefinitionStore } from './definition-store.js';
import { DriverLog } from './driver-log.js';
import type { HostServices } from './host-services.js';
import { clearIntent, findOrphans, recoverIntents, writeIntent } from './intents.js';
import { defineInputFromPlan, planFromIso, type IsoPlan } from './iso-plan.js';
import { JobLock } from './job-lock.js';
import { DEFAULT_LOG_CAP_BYTES } from './log-cap.js';
import { readRunRecord } from './run-record.js';
import { cleanupRuntime, safeReaddir, sweepOrphans } from './runtime-files.js';
import { VmEvents } from './vm-events.js';
import { VmInstance, type InstanceContext, type VmTuning } from './vm-instance.js';

export interface VmManagerOptions extends Partial<VmTuning> {
  /** Starts and finds QEMU processes; tests pass a fake. */
  launcher?: QemuLauncher;
}

/** Tuning from the environment: VMDESK_LOG_CAP_BYTES (at least 64 KiB) caps each log file. */
export function managerOptionsFromEnv(env: NodeJS.ProcessEnv): VmManagerOptions {
  const cap = Number(env.VMDESK_LOG_CAP_BYTES);
  return Number.isInteger(cap) && cap >= 64 * 1024 ? { logCapBytes: cap } : {};
}

export class VmManager {
  readonly events = new VmEvents();
  /** The driver-wide log (driver.log next to the VMs' log dirs): takeovers, the dispatcher's calls. */
  readonly driverLog: DriverLog;
  readonly #vms = new Map<string, VmInstance>();
  readonly #store: DefinitionStore;
  readonly #ctx: InstanceContext;
  /** Define and delete, one at a time: names and files are decided against a stable registry. */
  readonly #registry: JobLock;

  constructor(
    readonly paths: AppPaths,
    host: HostServices,
    options: VmManagerOptions = {},
  ) {
    this.#store = new DefinitionStore(definitionsDir(paths));
    const tuning: VmTuning = {
      shutdownTimeoutMs: options.shutdownTimeoutMs ?? 60_000,
      rungTimeoutMs: options.rungTimeoutMs ?? 3_000,
      startTimeoutMs: options.startTimeoutMs ?? 30_000,
      logCapBytes: options.logCapBytes ?? DEFAULT_LOG_CAP_BYTES,
      // libvirt's QEMU_JOB_WAIT_TIME.
      jobWaitMs: options.jobWaitMs ?? 30_000,
    };
    this.driverLog = new DriverLog(driverFiles(paths).driverLog, tuning.logCapBytes);
    this.#ctx = {
      paths,
      host,
      launcher: options.launcher ?? nodeQemuLauncher,
      store: this.#store,
      events: this.events,
      tuning,
    };
    this.#registry = new JobLock(() => 'the VM list', tuning.jobWaitMs);
  }

  /**
   * Finishes what a killed driver left half done, loads every definition and adopts every QEMU
   * an earlier driver left running. MUST run once, under the owner lock, before any call.
   */
  async init(): Promise<void> {
    recoverIntents(this.paths, this.driverLog);
    const records = new Set(
      safeReaddir(runRecordsDir(this.paths))
        .filter((n) => n.endsWith('.json'))
        .map((n) => n.slice(0, -5)),
    );
    const keep: string[] = [];
    await Promise.all(
      this.#store.loadAll().map(async (entry) => {
        const record = records.delete(entry.id) ? readRunRecord(vmFiles(this.paths, entry.id).runRecord) : undefined;
        if (!record) {
          fs.rmSync(vmFiles(this.paths, entry.id).runRecord, { force: true });
          this.#vms.set(entry.id, VmInstance.load(entry, this.#ctx));
          return;
        }
        const { vm, keepRuntimeDir } = await VmInstance.adopt(entry, record, this.#ctx);
        if (keepRuntimeDir) keep.push(keepRuntimeDir);
        this.#vms.set(entry.id, vm);
      }),
    );
    // Run records of VMs with no definition file at all: a live QEMU keeps its sockets (the only
    // way to reach it); anything else is stale.
    const { launcher } = this.#ctx;
    for (const id of records) {
      const file = vmFiles(this.paths, id).runRecord;
      const rec = readRunRecord(file);
      if (rec && rec.pid && launcher.pidExists(rec.pid) && launcher.isOurQemu(rec.pid, id)) {
        keep.push(rec.runtimeDir);
        continue;
      }
      if (rec) cleanupRuntime(rec);
      fs.rmSync(file, { force: true });
    }
    // Safe only here: we hold the owner lock and no operation has started.
    const owned = [...this.#vms.values()].flatMap((vm) => (vm.runtimeDir ? [vm.runtimeDir] : []));
    sweepOrphans(this.paths, new Set([...owned, ...keep]));
  }

  list(): VmSummary[] {
    return [...this.#vms.values()]
      .map((vm) => {
        vm.refresh();
        return vm.summary();
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** By id, id prefix (8+ characters), then exact name. MUST throw not-found naming what was asked for. */
  resolve(ref: string): VmInstance {
    const byId =
      this.#vms.get(ref) ?? (ref.length >= 8 ? [...this.#vms.values()].find((vm) => vm.id.startsWith(ref)) : undefined);
    if (byId) return byId;
    const named = () => [...this.#vms.values()].filter((vm) => sameVmName(vm.name, ref));
    let byName = named();
    if (byName.length !== 1) {
      // A file repaired (or renamed inside) on disk since it was last read names the VM anew.
      for (const vm of this.#vms.values()) vm.refresh();
      byName = named();
    }
    if (byName.length === 1) return byName[0]!;
    throw new VmdeskError('not-found', `No VM named or with id "${ref}". Run \`vmdesk list\` to see your VMs.`, {
      vm: ref,
    });
  }

  get(ref: string): VmSummary {
    const vm = this.resolve(ref);
    vm.refresh();
    return vm.summary();
  }

  /**
   * A new VM. Checked against the other VMs inside the registry job, so a concurrent define of
   * the same name gets name-taken. Its files are made behind an intent (intents.ts).
   */
  async define(input: DefineVmInput): Promise<VmSummary> {
    return this.#registry.run('define', async () => {
      const existing = [...this.#vms.values()].flatMap((vm) => (vm.definition ? [vm.definition] : []));
      validateDefineInput(input, existing, this.#ctx.host);
      const id = crypto.randomUUID();
      writeIntent(this.paths, { op: 'define', id, at: new Date().toISOString() });
      let stamp: string | undefined;
      let def;
      try {
        def = await createVmFiles(input, id, this.paths, this.#ctx.host);
        stamp = this.#store.save(def);
      } catch (err) {
        const files = vmFiles(this.paths, id);
        fs.rmSync(files.dataDir, { recursive: true, force: true });
        fs.rmSync(files.definition, { force: true });
        clearIntent(this.paths, id);
        throw err;
      }
      clearIntent(this.paths, id);
      const vm = VmInstance.load({ ok: true, id, file: this.#store.fileFor(id), definition: def, stamp }, this.#ctx);
      this.#vms.set(id, vm);
      vm.log.write(`defined: ${def.memoryMiB} MiB, ${def.cpus} CPU, accel ${def.accel}`);
      const summary = vm.summary();
      this.events.emit('vm.changed', summary);
      return summary;
    });
  }

  /** What an ISO is and the VM proposed for it; creates nothing. */
  async inspectIso(path: string): Promise<IsoPlan> {
    const names = [...this.#vms.values()].flatMap((vm) => (vm.definition ? [vm.definition.name] : []));
    return planFromIso(path, this.#ctx.host, names);
  }

  /**
   * A VM from an installer image: the recognised OS's defaults, each overridable. Everything is
   * checked before anything is made, and define() leaves nothing behind when a step fails.
   */
  async create(p: CallParams<'vm.create'>): Promise<VmSummary> {
    const plan = await this.inspectIso(p.iso);
    const summary = await this.define(defineInputFromPlan(plan, p));
    const vm = this.resolve(summary.id);
    vm.log.write(`created from ${plan.info.path} (${plan.os.name}, ${plan.os.source})`);
    return p.start ? vm.start({ vm: vm.id }, this.#vms) : summary;
  }

  /** Deletes a VM, a broken one too (see VmInstance.remove); answers what was removed and kept. */
  async delete(p: CallParams<'vm.delete'>): Promise<CallResults['vm.delete']> {
    return this.#registry.run('delete', async () => {
      const vm = this.resolve(p.vm);
      const { removed, kept, note } = await vm.remove(p.keepDisks);
      this.#vms.delete(vm.id);
      this.driverLog.write(
        `deleted ${vm.id} ("${vm.name}"): removed ${removed.join(', ') || 'nothing'}; kept ${kept.join(', ') || 'nothing'}`,
      );
      this.events.emit('vm.removed', { id: vm.id });
      return { id: vm.id, removed, kept, ...(note ? { note } : {}) };
    });
  }

  /**
   * vm.update. A rename runs in the registry's job, like a define, so two VMs never end up with
   * one name; other changes only take the VM's own job.
   */
  async update(p: CallParams<'vm.update'>): Promise<VmSummary> {
    const vm = this.resolve(p.vm);
    const others = () => this.#othersOf(vm);
    return p.name === undefined ? vm.update(p, others) : this.#registry.run('rename', () => vm.update(p, others));
  }

  async insertCdrom(p: CallParams<'vm.insertCdrom'>): Promise<VmSummary> {
    return this.resolve(p.vm).insertCdrom(p.iso, p.drive);
  }

  async addDisk(p: CallParams<'vm.addDisk'>): Promise<VmSummary> {
    const { vm: ref, ...disk } = p;
    const vm = this.resolve(ref);
    // In the registry's job, like a define: two VMs never take one file between them.
    return this.#registry.run('add a disk', () => vm.addDisk(disk, () => this.#othersOf(vm)));
  }

  async removeDisk(p: CallParams<'vm.removeDisk'>): Promise<VmSummary> {
    const { vm, ...rest } = p;
    return this.resolve(vm).removeDisk(rest);
  }

  async resizeDisk(p: CallParams<'vm.resizeDisk'>): Promise<VmSummary> {
    const { vm, ...rest } = p;
    return this.resolve(vm).resizeDisk(rest);
  }

  /** The other VMs' definitions (broken ones have none). */
  #othersOf(vm: VmInstance): VmDefinition[] {
    return [...this.#vms.values()].flatMap((o) => (o !== vm && o.definition ? [o.definition] : []));
  }

  async addForward(p: CallParams<'vm.addForward'>): Promise<VmSummary> {
    return this.resolve(p.vm).addForward(p.forward, this.#vms);
  }

  async removeForward(p: CallParams<'vm.removeForward'>): Promise<VmSummary> {
    const { vm, ...key } = p;
    return this.resolve(vm).removeForward(key);
  }

  async start(p: CallParams<'vm.start'>): Promise<VmSummary> {
    return this.resolve(p.vm).start(p, this.#vms);
  }

  async shutdown(p: CallParams<'vm.shutdown'>): Promise<VmSummary> {
    return this.resolve(p.vm).shutdown(p);
  }

  async stop(p: CallParams<'vm.stop'>): Promise<VmSummary> {
    return this.resolve(p.vm).stop();
  }

  async reboot(p: CallParams<'vm.reboot'>): Promise<VmSummary> {
    return this.resolve(p.vm).reboot();
  }

  async pause(p: CallParams<'vm.pause'>): Promise<VmSummary> {
    return this.resolve(p.vm).pause();
  }

  async resume(p: CallParams<'vm.resume'>): Promise<VmSummary> {
    return this.resolve(p.vm).resume();
  }

  async eject(p: CallParams<'vm.eject'>): Promise<VmSummary> {
    return this.resolve(p.vm).eject(p.drive);
  }

  /** The mdev layer's assign and unassign (see VmInstance.updateMdevs). */
  async updateMdevs(
    ref: string,
    change: (current: readonly MdevAssignment[], vm: { id: string; name: string }) => MdevAssignment[],
  ): Promise<VmSummary> {
    return this.resolve(ref).updateMdevs(change);
  }

  logPaths(ref: string): { qemu: string; serial: string; driver: string } {
    const f = this.resolve(ref).files;
    return { qemu: f.qemuLog, serial: f.serialLog, driver: f.driverLog };
  }

  serialHub(ref: string): SerialHub {
    return this.resolve(ref).serialHub();
  }

  vncSocket(ref: string): string {
    return this.resolve(ref).vncSocket();
  }

  /** VM directories that belong to no VM: shown to the user, never deleted by vmdesk. */
  orphans(): OrphanDir[] {
    return findOrphans(this.paths);
  }

  /** Stops listening and closes connections; running VMs keep running (the next driver adopts them). */
  async detachAll(): Promise<void> {
    for (const vm of this.#vms.values()) vm.detach();
  }
}
