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
import os from 'node:os';
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import { LOCAL_HOST_ID } from '../common/connection-types.js';
import type { CallParams, CallResults, DefineVmInput, OrphanDir, SnapshotInfo } from '../common/contract.js';
import { isUuid, normalizeVmName, sameVmName, vmNameProblem } from '../common/names.js';
import type { MdevAssignment, VmDefinition, VmSummary } from '../common/vm-types.js';
import type { SerialHub } from '../consoles/serial-hub.js';
import type { AppPaths } from '../paths/app-paths.js';
import {
  defaultDataDir,
  definitionsDir,
  driverFiles,
  isoLibraryDir,
  newDataDir,
  ownedDiskPath,
  runRecordsDir,
  vmFiles,
} from '../paths/vm-files.js';
import { assertWritableDir, makePrivateDir, removePath } from '../paths/storage-errors.js';
import type { AppSettings } from '../common/settings-types.js';
import { nodeQemuLauncher, type QemuLauncher } from '../qemu/launcher.js';
import { listUsbDevices, usbListOptionsFromEnv, usbReport } from '../host/usb.js';
import type { UsbCheck, UsbDevice } from '../common/usb-types.js';
import {
  assertCloneFits,
  cloneDefinition,
  freeBytesAt,
  makeCloneFiles,
  planBytes,
  planClone,
  ProgressMeter,
  readDiskFacts,
  type ClonePlan,
} from './clone.js';
import { createVmFiles, memoryNotice, validateDefineInput } from './define-vm.js';
import { imageInfo } from './disks.js';
import { DefinitionStore } from './definition-store.js';
import { DriverLog } from './driver-log.js';
import { readSettings, readSettingsForEnv, settingsFile } from './app-settings.js';
import type { HostServices } from './host-services.js';
import { clearIntent, findOrphans, recoverIntents, writeIntent } from './intents.js';
import type { IsoPlan } from './iso-plan.js';
import { JobLock } from './job-lock.js';
import { DEFAULT_LOG_CAP_BYTES } from './log-cap.js';
import { readRunRecord } from './run-record.js';
import { cleanupRuntime, safeReaddir, sweepOrphans } from './runtime-files.js';
import { VmEvents } from './vm-events.js';
import { isLibvirtRef, isLocalLibvirtUri, LibvirtHosts } from '../libvirt/hosts.js';
import { candidatePaths, findBinary } from '../host/qemu-discovery.js';
import { nodeHostFs } from '../host/node-host-io.js';
import type { ByteStream } from '../consoles/byte-channel.js';
import { proxyVnc } from '../consoles/vnc-proxy.js';
import { captureRfb } from '../consoles/rfb-snapshot.js';
import { ScreenThumbs, type ScreenThumbsOptions } from './screen-thumbs.js';
import { VmInstance, type InstanceContext, type VmTuning } from './vm-instance.js';
import { domainXmlFromDefinition, parseDomainXml, type DomainFacts } from '../libvirt/domain-xml.js';
import { copyImageFile } from './clone.js';

export interface VmManagerOptions extends Partial<VmTuning> {
  /** Starts and finds QEMU processes; tests pass a fake. */
  launcher?: QemuLauncher;
  /** The host's USB devices (default: this host's sysfs, as this process may open them). */
  usbDevices?: () => Promise<UsbDevice[]>;
  /** vm.thumbnail's rate limit and picture width (default: one capture per VM every 3 s, 240 px). */
  thumbnails?: Pick<ScreenThumbsOptions, 'minIntervalMs' | 'width'>;
}

/** Tuning from the environment and the settings file its XDG variables point at: the log cap
 * (VMDESK_LOG_CAP_BYTES, at least 64 KiB, wins over the `logCapBytes` setting) for each log file;
 * VMDESK_SYSFS_ROOT, VMDESK_DEV_ROOT, VMDESK_USB_IDS: where USB devices are read (tests). */
export function managerOptionsFromEnv(env: NodeJS.ProcessEnv): VmManagerOptions {
  const settings = readSettingsForEnv(env);
  const usb = usbListOptionsFromEnv(env);
  return {
    ...(settings.sources.logCapBytes !== 'default' ? { logCapBytes: settings.values.logCapBytes } : {}),
    ...(Object.keys(usb).length > 0 ? { usbDevices: () => listUsbDevices(usb) } : {}),
  };
}

export class VmManager {
  readonly events = new VmEvents();
  /** libvirt hosts: their VMs answer the same calls as local ones (power, snapshots, consoles). */
  readonly hosts: LibvirtHosts;
  /** The driver-wide log (driver.log next to the VMs' log dirs): takeovers, the dispatcher's calls. */
  readonly driverLog: DriverLog;
  readonly #vms = new Map<string, VmInstance>();
  readonly #store: DefinitionStore;
  readonly #ctx: InstanceContext;
  /** Define and delete, one at a time: names and files are decided against a stable registry. */
  readonly #registry: JobLock;
  /** Long jobs (full clones) by job id: what job.cancel aborts, and its outcome once settled. */
  readonly #jobs = new Map<string, { abort: AbortController; settled: Promise<'done' | 'cancelled' | 'failed'> }>();
  /** Clones being made (id → name): their names are taken, their ids may already mark a base. */
  readonly #pendingClones = new Map<string, string>();
  /** The VM list's live screen pictures (vm.thumbnail). */
  readonly screens: ScreenThumbs;

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
      unplugTimeoutMs: options.unplugTimeoutMs ?? 15_000,
      agentShutdownAfterMs: options.agentShutdownAfterMs ?? 15_000,
    };
    this.driverLog = new DriverLog(driverFiles(paths).driverLog, tuning.logCapBytes);
    this.#ctx = {
      paths,
      host,
      launcher: options.launcher ?? nodeQemuLauncher,
      store: this.#store,
      events: this.events,
      tuning,
      usbDevices: options.usbDevices ?? (() => listUsbDevices()),
    };
    this.#registry = new JobLock(() => 'the VM list', tuning.jobWaitMs);
    this.hosts = new LibvirtHosts({
      file: path.join(paths.config, 'connections.json'),
      events: this.events,
      log: (line) => this.driverLog.write(line),
    });
    this.screens = new ScreenThumbs({
      ...options.thumbnails,
      log: (id, line) => (this.#vms.get(id)?.log ?? this.driverLog).write(line),
    });
    this.events.on('vm.removed', ({ id }) => this.screens.forget(id));
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
    await this.#releaseDanglingBases();
    // Safe only here: we hold the owner lock and no operation has started.
    const owned = [...this.#vms.values()].flatMap((vm) => (vm.runtimeDir ? [vm.runtimeDir] : []));
    sweepOrphans(this.paths, new Set([...owned, ...keep]));
  }

  /** This computer's VMs, then those of each connected libvirt host; `host`: one host's only. */
  list(host?: string): VmSummary[] {
    const local =
      host === undefined || host === LOCAL_HOST_ID
        ? [...this.#vms.values()]
            .map((vm) => {
              vm.refresh();
              return vm.summary();
            })
            .sort((a, b) => a.name.localeCompare(b.name))
        : [];
    return host === LOCAL_HOST_ID ? local : [...local, ...this.hosts.vms(host)];
  }

  /** By id, id prefix (8+ characters), then exact name. MUST throw not-found naming what was asked for. */
  resolve(ref: string): VmInstance {
    if (isLibvirtRef(ref)) {
      const vm = this.hosts.find(ref)!;
      throw new VmdeskError(
        'unsupported',
        `"${vm.name}" is a VM of ${vm.host.label}: vmdesk starts, stops and snapshots it and shows its consoles; change its settings with \`virsh -c ${vm.host.uri} edit ${vm.name}\`.`,
        { vm: ref },
      );
    }
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

  /** vm.get: a local VM's summary, or a libvirt VM's as its host says now. */
  async getAny(ref: string): Promise<VmSummary> {
    return this.hosts.find(ref)?.refresh() ?? this.get(ref);
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
  /** `vmFolder`: the VM folder to use (an import staged its copies there), else the setting's. */
  async define(input: DefineVmInput, vmFolder?: string): Promise<VmSummary> {
    return this.#registry.run('define', async () => {
      const existing = [...this.#vms.values()].flatMap((vm) => (vm.definition ? [vm.definition] : []));
      validateDefineInput(input, existing, this.#ctx.host);
      this.#assertNotBeingCloned(normalizeVmName(input.name));
      const id = crypto.randomUUID();
      const dataDir = this.#newDataDir(id, normalizeVmName(input.name), vmFolder);
      writeIntent(this.paths, {
        op: 'define',
        id,
        at: new Date().toISOString(),
        ...this.#customDir(id, dataDir),
      });
      let stamp: string | undefined;
      let def;
      try {
        def = await createVmFiles(input, id, this.paths, this.#ctx.host, undefined, dataDir);
        stamp = this.#store.save(def);
      } catch (err) {
        // Best effort: what cannot be removed now the intent removes at the next start.
        try {
          const files = vmFiles(this.paths, id, dataDir);
          fs.rmSync(files.dataDir, { recursive: true, force: true });
          fs.rmSync(files.definition, { force: true });
          clearIntent(this.paths, id);
        } catch (cleanup) {
          this.driverLog.write(`could not clean up the failed define of ${id}: ${(cleanup as Error).message}`);
        }
        throw err;
      }
      clearIntent(this.paths, id);
      const vm = VmInstance.load({ ok: true, id, file: this.#store.fileFor(id), definition: def, stamp }, this.#ctx);
      this.#vms.set(id, vm);
      vm.log.write(`defined: ${def.memoryMiB} MiB, ${def.cpus} CPU, accel ${def.accel}`);
      const summary = vm.summary();
      this.events.emit('vm.changed', summary);
      const notices = [memoryNotice(def.memoryMiB, this.#ctx.host)];
      // A TPM VM is made on a host without swtpm (the user may install it next); it says so now,
      // not only when the start is refused.
      if (def.tpm)
        notices.push(
          await this.#ctx.host.swtpm().then(
            () => undefined,
            (err: unknown) => (err as Error).message,
          ),
        );
      const notice = notices.filter(Boolean).join(' ');
      return notice ? { ...summary, notice } : summary;
    });
  }

  /** What an ISO is and the VM proposed for it; creates nothing. */
  async inspectIso(path: string): Promise<IsoPlan> {
    const names = [...this.#vms.values()].flatMap((vm) => (vm.definition ? [vm.definition.name] : []));
    // The ISO readers and the osinfo table (~400 KB of JS) load when an ISO is first looked at:
    // a driver that only lists or starts VMs (a CLI command with no driver running) never pays for them.
    const { driverSearchDirs, planFromIso } = await import('./iso-plan.js');
    return planFromIso(
      path,
      this.#ctx.host,
      names,
      driverSearchDirs(isoLibraryDir(this.#ctx.paths, this.#settings().isoFolder), os.homedir()),
      freeBytesAt(this.#settings().vmFolder || this.#ctx.paths.data),
    );
  }

  /** The app settings in force (read at each use: an edit by hand or by another vmdesk counts). */
  #settings(): AppSettings {
    return readSettings(settingsFile(this.paths)).values;
  }

  /**
   * The data folder of a VM being made now: in the vmFolder setting's folder when there is one
   * (created, private, here: a folder that cannot be made is refused before anything else is).
   */
  #newDataDir(id: string, name: string, folder = this.#settings().vmFolder): string {
    if (folder) {
      let problem: string | undefined;
      // Never inside a VM's own folder: deleting that VM would take this one with it.
      const inside = [...this.#vms.values()].find(
        (vm) => folder === vm.files.dataDir || folder.startsWith(vm.files.dataDir + path.sep),
      );
      if (inside) problem = `it is inside the folder of the VM "${inside.name}", which goes when that VM is deleted.`;
      else if (isUuid(path.relative(path.join(this.paths.data, 'vms'), folder).split(path.sep)[0] ?? ''))
        problem = "it is inside a VM's own folder, which goes when that VM is deleted.";
      if (!problem)
        try {
          makePrivateDir(folder, this.paths);
          if (!fs.statSync(folder).isDirectory()) problem = 'it is a file, not a folder.';
          else assertWritableDir(folder, this.paths);
        } catch (err) {
          problem = (err as Error).message;
        }
      if (problem)
        throw new VmdeskError(
          'invalid-argument',
          `The VM folder ${folder} (Preferences, vmFolder) cannot be used: ${problem} Choose another folder in Preferences, or make this one writable.`,
          { field: 'vmFolder' },
        );
    }
    return newDataDir(this.paths, id, name, folder);
  }

  /** An intent's `dataDir`, when the VM's is not the default one. */
  #customDir(id: string, dataDir: string): { dataDir?: string } {
    return dataDir === defaultDataDir(this.paths, id) ? {} : { dataDir };
  }

  /**
   * A VM from an installer image: the recognised OS's defaults, each overridable. Everything is
   * checked before anything is made, and define() leaves nothing behind when a step fails.
   */
  async create(p: CallParams<'vm.create'>): Promise<VmSummary> {
    const plan = await this.inspectIso(p.iso);
    const { defineInputFromPlan } = await import('./iso-plan.js');
    const summary = await this.define(defineInputFromPlan(plan, p));
    const vm = this.resolve(summary.id);
    vm.log.write(`created from ${plan.info.path} (${plan.os.name}, ${plan.os.source})`);
    // What the OS needs and the request turned off: said once, with the answer.
    const d = summary.definition!;
    const notices = [
      summary.notice,
      plan.os.tpm && !d.tpm
        ? `${plan.os.name}'s installer refuses to continue without a TPM 2.0: turn it on with vmdesk set "${d.name}" --tpm on.`
        : undefined,
      plan.os.family === 'windows' && d.firmware === 'uefi' && !d.secureBoot && plan.defaults.secureBoot
        ? `${plan.os.name} expects Secure Boot${plan.os.tpm ? ' (its installer checks for it)' : ''}: turn it on with vmdesk set "${d.name}" --secure-boot on.`
        : undefined,
    ].filter(Boolean);
    const made = notices.length > 0 ? { ...summary, notice: notices.join(' ') } : summary;
    if (!p.start) return made;
    const started = await vm.start({ vm: vm.id }, this.#vms);
    return made.notice ? { ...started, notice: made.notice } : started;
  }

  /**
   * vm.clone: a new VM from a stopped one (see clone.ts for what full and linked mean). The name
   * is taken and the intent written in the registry's job; a full copy runs in the source's job
   * (it cannot start meanwhile, and a force off cancels the copy); the definition is saved in the
   * registry's job again. job.cancel, the caller going away (`signal`) or any failure removes
   * everything the clone made, and a linked clone's base is released again.
   */
  async clone(p: CallParams<'vm.clone'>, signal?: AbortSignal): Promise<VmSummary> {
    return this.#asJob(p.jobId, signal, 'the clone', (jobId, abort) => this.#clone(p, jobId, abort));
  }

  /**
   * Runs `fn` as a job job.cancel can stop: under `jobId` (or a new one), aborted when the caller
   * goes away (`signal`); job.cancel waits for it to settle.
   */
  async #asJob<T>(
    wanted: string | undefined,
    signal: AbortSignal | undefined,
    what: string,
    fn: (jobId: string, abort: AbortController) => Promise<T>,
  ): Promise<T> {
    const jobId = wanted ?? crypto.randomUUID();
    if (this.#jobs.has(jobId))
      throw new VmdeskError(
        'invalid-argument',
        `A job with id "${jobId}" is running already. Give each job its own id.`,
        {
          field: 'jobId',
        },
      );
    const abort = new AbortController();
    let settle!: (outcome: 'done' | 'cancelled' | 'failed') => void;
    this.#jobs.set(jobId, { abort, settled: new Promise((r) => (settle = r)) });
    const onGone = () => abort.abort(new VmdeskError('cancelled', `The client that asked for ${what} went away.`));
    signal?.addEventListener('abort', onGone);
    if (signal?.aborted) onGone();
    try {
      const result = await fn(jobId, abort);
      settle('done');
      return result;
    } catch (err) {
      settle(abort.signal.aborted ? 'cancelled' : 'failed');
      throw err;
    } finally {
      signal?.removeEventListener('abort', onGone);
      this.#jobs.delete(jobId);
    }
  }

  /** snapshot.list, of a local VM or (async) of a libvirt VM. */
  async snapshotListAny(p: CallParams<'snapshot.list'>): Promise<SnapshotInfo[]> {
    return this.hosts.find(p.vm)?.snapshotList() ?? this.snapshotList(p);
  }

  snapshotList(p: CallParams<'snapshot.list'>): SnapshotInfo[] {
    return this.resolve(p.vm).snapshotList();
  }

  async snapshotCreate(p: CallParams<'snapshot.create'>, signal?: AbortSignal): Promise<SnapshotInfo> {
    const { vm: ref, jobId, ...rest } = p;
    const lv = this.hosts.find(ref);
    if (lv) return lv.snapshotCreate(rest);
    const vm = this.resolve(ref);
    return this.#asJob(jobId, signal, 'the snapshot', (id, abort) =>
      vm.snapshotCreate(rest, { jobId: id, signal: abort.signal }),
    );
  }

  /** snapshot.revert; a stopped VM going back to a snapshot with memory is started first. */
  async snapshotRevert(p: CallParams<'snapshot.revert'>, signal?: AbortSignal): Promise<VmSummary> {
    const lv = this.hosts.find(p.vm);
    if (lv) return lv.snapshotRevert(p.name);
    const vm = this.resolve(p.vm);
    const s = vm.snapshotList().find((x) => x.name === p.name);
    if (s?.withMemory && (vm.state === 'stopped' || vm.state === 'crashed')) await vm.start({ vm: vm.id }, this.#vms);
    return this.#asJob(p.jobId, signal, 'the revert', (id, abort) =>
      vm.snapshotRevert(p.name, { jobId: id, signal: abort.signal }),
    );
  }

  async snapshotDelete(p: CallParams<'snapshot.delete'>): Promise<SnapshotInfo[]> {
    const lv = this.hosts.find(p.vm);
    if (lv) return lv.snapshotDelete(p.name);
    return this.resolve(p.vm).snapshotDelete(p.name);
  }

  async snapshotUpdate(p: CallParams<'snapshot.update'>): Promise<SnapshotInfo> {
    const { vm, ...rest } = p;
    return this.resolve(vm).snapshotUpdate(rest);
  }

  snapshotThumbnail(p: CallParams<'snapshot.thumbnail'>): { png: string | null } {
    return { png: this.resolve(p.vm).snapshotThumbnail(p.name) };
  }

  async #clone(p: CallParams<'vm.clone'>, jobId: string, abort: AbortController): Promise<VmSummary> {
    const src = this.resolve(p.vm);
    const linked = p.linked ?? false;
    const progress = (doneBytes: number, totalBytes: number, what: string) =>
      this.events.emit('job.progress', { jobId, vm: src.id, what, doneBytes, totalBytes });
    // 1. Checks, the name taken, the intent: nothing is made before this succeeds.
    const { plan, qemuImg } = await this.#registry.run('clone', async () => {
      const def = this.#cloneSource(src);
      const name = normalizeVmName(p.name);
      const problem = vmNameProblem(name);
      if (problem) throw new VmdeskError('invalid-argument', problem, { field: 'name' });
      this.#assertNameFree(name);
      const qemuImg = await this.#ctx.host.qemuImg();
      const facts = await readDiskFacts(qemuImg, def.disks, linked);
      const id = crypto.randomUUID();
      const dataDir = this.#newDataDir(id, name);
      const customDataDir = dataDir !== defaultDataDir(this.paths, id);
      const plan = planClone(def, { id, name, linked, dataDir, customDataDir, facts });
      if (!linked) assertCloneFits(plan, def.name, freeBytesAt(dataDir), path.dirname(dataDir));
      writeIntent(this.paths, {
        op: 'define',
        id: plan.id,
        at: new Date().toISOString(),
        ...this.#customDir(plan.id, dataDir),
      });
      this.#pendingClones.set(plan.id, name);
      return { plan, qemuImg };
    });
    const files = vmFiles(this.paths, plan.id, plan.dataDir);
    let marked = false;
    try {
      // 2. The files. A linked clone marks its base first: from then on the base cannot change
      // (it opens read-only, and the mark refuses a base that runs).
      makePrivateDir(files.dataDir, this.paths);
      let def: VmDefinition;
      if (linked) {
        const targets = plan.disks.map((d) => d.source.target);
        def = (await src.setLinkedClone(plan.id, true, targets)).definition!;
        marked = true;
        assertSameDisks(src.name, def, plan);
        progress(0, 0, `Making the overlays on "${src.name}"`);
        await makeCloneFiles(plan, { qemuImg, signal: abort.signal });
      } else {
        def = await src.job.run('be cloned', async (job) => {
          const now = this.#cloneSource(src);
          assertSameDisks(src.name, now, plan);
          // A force off of the source cancels the copy, as it cancels any other long job.
          const onJob = () => abort.abort(job.signal.reason);
          job.signal.addEventListener('abort', onJob);
          try {
            const meter = new ProgressMeter(planBytes(plan), progress);
            await makeCloneFiles(plan, { qemuImg, signal: abort.signal, meter });
            meter.finish(`Copied ${plan.disks.length} disk${plan.disks.length === 1 ? '' : 's'}`);
          } finally {
            job.signal.removeEventListener('abort', onJob);
          }
          return now;
        });
      }
      // 3. The definition, last: the clone exists from here on.
      return await this.#registry.run('clone', async () => {
        abort.signal.throwIfAborted();
        this.#pendingClones.delete(plan.id);
        this.#assertNameFree(plan.name);
        const { def: made, dropped } = cloneDefinition(def, plan);
        const stamp = this.#store.save(made);
        clearIntent(this.paths, plan.id);
        const vm = VmInstance.load(
          { ok: true, id: plan.id, file: this.#store.fileFor(plan.id), definition: made, stamp },
          this.#ctx,
        );
        this.#vms.set(plan.id, vm);
        vm.log.write(`cloned from "${src.name}" (${src.id}): ${linked ? 'linked' : 'full'} clone`);
        if (linked) progress(0, 0, 'Done');
        const summary = vm.summary();
        this.events.emit('vm.changed', summary);
        return dropped.length > 0 ? { ...summary, notice: `The clone is made; ${dropped.join('; ')}.` } : summary;
      });
    } catch (err) {
      // Nothing of the clone stays: its folder, a definition saved just before a failure, the mark.
      this.#pendingClones.delete(plan.id);
      if (!this.#vms.has(plan.id)) {
        removePath(files.dataDir, { recursive: true, paths: this.paths });
        removePath(files.logDir, { recursive: true, paths: this.paths });
        removePath(files.definition, { paths: this.paths });
        clearIntent(this.paths, plan.id);
        if (marked)
          await src
            .setLinkedClone(plan.id, false)
            .catch((e: unknown) =>
              src.log.write(`releasing the cancelled clone ${plan.id} failed: ${(e as Error).message}`),
            );
      }
      if (abort.signal.aborted)
        throw new VmdeskError(
          'cancelled',
          `Cloning "${src.name}" as "${plan.name}" was cancelled; nothing of the clone was kept.`,
          {
            jobId,
          },
        );
      throw err;
    }
  }

  /**
   * job.cancel: stops the job and waits until what it made is removed. `cancelled` is false when
   * no such job runs (it ended already, or never was).
   */
  async cancelJob(p: CallParams<'job.cancel'>): Promise<CallResults['job.cancel']> {
    const job = this.#jobs.get(p.jobId);
    if (!job) return { cancelled: false };
    job.abort.abort(new VmdeskError('cancelled', 'Cancelled.'));
    return { cancelled: (await job.settled) === 'cancelled' };
  }

  /** The definition of a VM that can be cloned now: readable, and not running. */
  #cloneSource(vm: VmInstance): VmDefinition {
    const def = vm.definition;
    if (!def)
      throw new VmdeskError(
        'vm-broken',
        `"${vm.name}" cannot be cloned: its file cannot be read (${vm.summary().reason ?? 'broken'}). Repair it first.`,
        { vm: vm.id },
      );
    if (vm.runtimeDir !== undefined || (vm.state !== 'stopped' && vm.state !== 'crashed'))
      throw new VmdeskError(
        'invalid-state',
        `"${vm.name}" is ${vm.state}. Shut it down first: a clone is made from a VM that is off, so its disks do not change under the copy.`,
        { state: vm.state },
      );
    return def;
  }

  #assertNameFree(name: string): void {
    if ([...this.#vms.values()].some((vm) => sameVmName(vm.name, name)))
      throw new VmdeskError('name-taken', `A VM named "${name}" already exists. Choose another name.`, {
        field: 'name',
      });
    this.#assertNotBeingCloned(name);
  }

  #assertNotBeingCloned(name: string): void {
    if ([...this.#pendingClones.values()].some((n) => sameVmName(n, name)))
      throw new VmdeskError(
        'name-taken',
        `A VM named "${name}" is being made by a clone right now. Choose another name.`,
        {
          field: 'name',
        },
      );
  }

  /** Refuses to delete a VM whose disks linked clones read through, naming them. */
  #assertNoLinkedClones(vm: VmInstance): void {
    const disks = (vm.definition?.disks ?? []).filter((d) => (d.linkedClones?.length ?? 0) > 0);
    const ids = [...new Set(disks.flatMap((d) => d.linkedClones!))];
    if (ids.length === 0) return;
    const names = ids.map((id) => `"${this.#vms.get(id)?.name ?? this.#pendingClones.get(id) ?? id}"`);
    const many = ids.length > 1;
    throw new VmdeskError(
      'invalid-state',
      `"${vm.name}" cannot be deleted: the linked clone${many ? 's' : ''} ${names.join(', ')} read${many ? '' : 's'} through its disk${disks.length > 1 ? 's' : ''} ${disks.map((d) => d.target).join(', ')}. Delete ${many ? 'them' : 'it'} first, or make ${many ? 'them' : 'it'} independent with a full clone (vmdesk clone ${names[0]} NEW) and delete the linked one.`,
      { clones: ids },
    );
  }

  /** A linked clone is gone: the disks it read through are writable again (from their next start). */
  async #releaseBasesOf(cloneId: string): Promise<void> {
    for (const base of this.#vms.values()) {
      if (!base.definition?.disks.some((d) => d.linkedClones?.includes(cloneId))) continue;
      await base
        .setLinkedClone(cloneId, false)
        .catch((e: unknown) =>
          base.log.write(`releasing the deleted clone ${cloneId} failed: ${(e as Error).message}`),
        );
    }
  }

  /**
   * Marks left by a clone that never came to be (the driver died between marking the base and
   * saving the clone; its intent removed the files): the base is writable again.
   */
  async #releaseDanglingBases(): Promise<void> {
    const marks = [...this.#vms.values()].flatMap(
      (vm) => vm.definition?.disks.flatMap((d) => d.linkedClones ?? []) ?? [],
    );
    for (const id of new Set(marks)) {
      if (this.#vms.has(id)) continue;
      this.driverLog.write(`the linked clone ${id} does not exist: its base is released`);
      await this.#releaseBasesOf(id);
    }
  }

  /** Deletes a VM, a broken one too (see VmInstance.remove); answers what was removed and kept. */
  async delete(p: CallParams<'vm.delete'>): Promise<CallResults['vm.delete']> {
    const lv = this.hosts.find(p.vm);
    if (lv) return lv.delete();
    return this.#registry.run('delete', async () => {
      const vm = this.resolve(p.vm);
      this.#assertNoLinkedClones(vm);
      const { removed, kept, note } = await vm.remove(p.keepDisks);
      this.#vms.delete(vm.id);
      await this.#releaseBasesOf(vm.id);
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

  async convertDisk(p: CallParams<'vm.convertDisk'>): Promise<VmSummary> {
    return this.resolve(p.vm).convertDisk(p.target);
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

  /** host.usbDevices: the host's USB devices, with a check and its fix for each one the user cannot open. */
  async usbDevices(): Promise<{ devices: UsbDevice[]; checks: UsbCheck[] }> {
    return usbReport(await this.#ctx.usbDevices());
  }

  async usbAttach(p: CallParams<'vm.usbAttach'>): Promise<VmSummary> {
    const { vm, ...rest } = p;
    const target = this.resolve(vm);
    // In the registry's job: two VMs never both take one device between the check and the plug-in.
    return this.#registry.run('attach a USB device', () => target.usbAttach(rest, this.#vms));
  }

  async usbDetach(p: CallParams<'vm.usbDetach'>): Promise<VmSummary> {
    const { vm, ...rest } = p;
    return this.resolve(vm).usbDetach(rest);
  }

  async start(p: CallParams<'vm.start'>): Promise<VmSummary> {
    return this.hosts.find(p.vm)?.start(p) ?? this.resolve(p.vm).start(p, this.#vms);
  }

  async shutdown(p: CallParams<'vm.shutdown'>): Promise<VmSummary> {
    return this.hosts.find(p.vm)?.shutdown(p) ?? this.resolve(p.vm).shutdown(p);
  }

  async stop(p: CallParams<'vm.stop'>): Promise<VmSummary> {
    return this.hosts.find(p.vm)?.stop() ?? this.resolve(p.vm).stop();
  }

  async reboot(p: CallParams<'vm.reboot'>): Promise<VmSummary> {
    return this.hosts.find(p.vm)?.reboot() ?? this.resolve(p.vm).reboot();
  }

  async pause(p: CallParams<'vm.pause'>): Promise<VmSummary> {
    return this.hosts.find(p.vm)?.pause() ?? this.resolve(p.vm).pause();
  }

  async resume(p: CallParams<'vm.resume'>): Promise<VmSummary> {
    return this.hosts.find(p.vm)?.resume() ?? this.resolve(p.vm).resume();
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
    return (this.hosts.find(ref) ?? this.resolve(ref)).serialHub();
  }

  /** The VM's VNC server as a byte stream (a local VM's socket, or a libvirt domain's display). */
  vncStream(ref: string): ByteStream {
    const lv = this.hosts.find(ref);
    return lv ? lv.vncStream() : proxyVnc(this.resolve(ref).vncSocket());
  }

  /** vm.thumbnail: a running VM's screen (read through its VNC server, rate-limited per VM), or
   * the last picture of a paused or stopped one. */
  thumbnail(ref: string): Promise<CallResults['vm.thumbnail']> {
    const lv = this.hosts.find(ref);
    if (lv)
      return this.screens.get({
        id: lv.id,
        running: lv.state === 'running',
        file: undefined,
        capture: () => captureRfb(lv.vncStream()),
      });
    const vm = this.resolve(ref);
    return this.screens.get({
      id: vm.id,
      running: vm.state === 'running' && vm.definition?.display !== 'none',
      file: vm.files.screenThumb,
      capture: () => captureRfb(proxyVnc(vm.vncSocket())),
    });
  }

  /** The VM as libvirt domain XML (libvirt/domain-xml.ts), with what libvirt cannot say. */
  async exportXml(p: CallParams<'vm.exportXml'>): Promise<CallResults['vm.exportXml']> {
    if (this.hosts.find(p.vm))
      throw new VmdeskError(
        'invalid-argument',
        `"${p.vm}" is already a libvirt domain: its XML is what virsh dumpxml prints on its host.`,
      );
    const vm = this.resolve(p.vm);
    vm.refresh();
    const def = vm.definition;
    if (!def || vm.state === 'broken')
      throw new VmdeskError(
        'invalid-state',
        `"${vm.name}" cannot be exported: its definition file cannot be read (${vm.summary().reason ?? 'broken'}). Fix or delete it first.`,
      );
    const host = this.#ctx.host;
    const notes: string[] = [];
    let domainType: DomainFacts['domainType'] = def.accel === 'tcg' ? 'qemu' : 'kvm';
    if (def.accel === 'auto') {
      // What vmdesk would start it with here (VMDESK_ACCEL included): KVM where it works, else TCG.
      try {
        const chosen = await host.chooseAccel('auto', await host.qemuCaps(def.arch));
        domainType = chosen.accel === 'kvm' ? 'kvm' : 'qemu';
      } catch (err) {
        notes.push(
          `The domain type is kvm: vmdesk could not check this host's accelerators (${(err as Error).message}).`,
        );
      }
    } else if (def.accel === 'hvf') {
      domainType = 'qemu';
      notes.push('The VM uses HVF (macOS), which libvirt does not offer: the domain runs under TCG (type qemu).');
    }
    const uefi =
      def.firmware === 'uefi' || def.arch === 'aarch64'
        ? await host.uefiFirmware(def.arch, { secureBoot: def.secureBoot })
        : undefined;
    const out = domainXmlFromDefinition(def, {
      domainType,
      ...(uefi ? { uefi: { code: uefi.code, smm: uefi.smm } } : {}),
      // The same search as QEMU's own binaries (absolute PATH entries, the usual dirs).
      passt: (await findBinary(nodeHostFs, 'passt', candidatePaths('passt', process.env), process.env, 'VMDESK_PASST'))
        .found,
    });
    return { xml: out.xml, notes: [...notes, ...out.notes] };
  }

  /**
   * A new VM from libvirt domain XML: given, or read from a libvirt host. It goes through define()
   * (checks, name, intents); `disks: 'copy'` copies the disks into the new VM's folder first (into
   * a staging folder under an intent, so a failure or a killed driver leaves nothing), and the VM
   * then owns them. The domain's UEFI variables come along when they fit the firmware vmdesk uses.
   */
  async importXml(p: CallParams<'vm.importXml'>): Promise<CallResults['vm.importXml']> {
    if ((p.xml === undefined) === (p.from === undefined))
      throw new VmdeskError(
        'invalid-argument',
        'Give either the domain XML (xml) or the libvirt host and domain to read it from (from).',
        { field: 'xml' },
      );
    if (p.from && !isLocalLibvirtUri(p.from.uri))
      throw new VmdeskError(
        'invalid-argument',
        `The domain "${p.from.domain}" lives on another computer (${p.from.uri}): its disks are files there, not here. Copy them to this computer, save its XML (virsh -c '${p.from.uri}' dumpxml '${p.from.domain}' > FILE.xml), change the disk paths in it, and run vmdesk import FILE.xml.`,
        { field: 'from' },
      );
    const xml = p.xml ?? (await this.hosts.domainXml(p.from!.uri, p.from!.domain));
    const parsed = parseDomainXml(xml, p.name === undefined ? {} : { name: p.name });
    const problem = vmNameProblem(normalizeVmName(parsed.input.name));
    if (problem)
      throw new VmdeskError(
        'invalid-argument',
        `The domain's name "${parsed.input.name}" cannot be a vmdesk VM name: ${problem} Give the VM another name with --name NAME.`,
        { field: 'name' },
      );
    const dropped = [...parsed.dropped];
    const sources = [
      ...(parsed.input.disk?.path ? [parsed.input.disk.path] : []),
      ...(parsed.input.moreDisks ?? []).map((d) => d.path),
    ];
    const copy = p.disks === 'copy' && sources.length > 0;
    const stagingId = crypto.randomUUID();
    // Staged beside where the VM's folder will be, so the copies move into it by a rename.
    // One reading of the setting for the copies and the VM: a change meanwhile cannot split them
    // over two file systems (the copies move into the VM's folder by a rename).
    const vmFolder = this.#settings().vmFolder;
    const staging = this.#newDataDir(stagingId, 'import', vmFolder);
    let input = parsed.input;
    let summary: VmSummary;
    try {
      if (copy) input = await this.#stageImportedDisks(input, sources, stagingId, staging);
      summary = await this.define(input, vmFolder);
    } catch (err) {
      if (copy) {
        removePath(staging, { recursive: true, paths: this.paths });
        clearIntent(this.paths, stagingId);
      }
      throw err;
    }
    const vm = this.resolve(summary.id);
    if (copy) {
      try {
        await vm.job.run('take its imported disks', async () => {
          const def = vm.definition!;
          // A VM with only the staged copies as disks has no data folder yet.
          makePrivateDir(vm.files.dataDir, this.paths);
          const disks = def.disks.map((d, i) => {
            if (!d.path.startsWith(staging + path.sep)) return d;
            const to = ownedDiskPath(vm.files.dataDir, i, d.format);
            fs.renameSync(d.path, to);
            return { ...d, path: to, owned: true };
          });
          this.#store.save({ ...def, disks });
          vm.refresh();
        });
      } catch (err) {
        // Nothing half-imported stays: the VM (with the copies moved into its folder) and the rest.
        await this.delete({ vm: vm.id }).catch(() => undefined);
        removePath(staging, { recursive: true, paths: this.paths });
        clearIntent(this.paths, stagingId);
        throw err;
      }
      removePath(staging, { recursive: true, paths: this.paths });
      clearIntent(this.paths, stagingId);
      vm.log.write(`imported from libvirt domain XML; disks copied from ${sources.join(', ')}`);
    } else vm.log.write(`imported from libvirt domain XML; disks used in place: ${sources.join(', ') || 'none'}`);
    const nvramNote = this.#takeDomainNvram(vm.definition!, parsed.nvram);
    if (nvramNote) dropped.push(nvramNote);
    return { vm: { ...vm.summary(), ...(summary.notice ? { notice: summary.notice } : {}) }, dropped };
  }

  /** Copies the import's disks into a staging folder (under a define intent) and points `input` at the copies. */
  async #stageImportedDisks(
    input: DefineVmInput,
    sources: string[],
    stagingId: string,
    dir: string,
  ): Promise<DefineVmInput> {
    writeIntent(this.paths, {
      op: 'define',
      id: stagingId,
      at: new Date().toISOString(),
      ...this.#customDir(stagingId, dir),
    });
    makePrivateDir(dir, this.paths);
    const copies: string[] = [];
    for (const [i, from] of sources.entries()) {
      let st: fs.Stats;
      try {
        st = fs.statSync(from);
      } catch {
        throw new VmdeskError(
          'invalid-argument',
          `The disk ${from} does not exist (or is not readable by you). Check the path.`,
          { field: 'disk' },
        );
      }
      if (!st.isFile())
        throw new VmdeskError(
          'invalid-argument',
          `The disk ${from} is not a regular file: vmdesk copies image files only.`,
          { field: 'disk' },
        );
      // A qcow2 overlay's copy would be its top layer only, still reading through (or, with a
      // relative path, losing) the image under it.
      const facts = await imageInfo(await this.#ctx.host.qemuImg(), from);
      if (facts.backing.length > 0)
        throw new VmdeskError(
          'invalid-argument',
          `The disk ${from} is a qcow2 overlay on ${facts.backing[0]!.file}: a copy would hold only its top layer. Import it in place, or flatten it first (qemu-img convert -O qcow2 ${from} FLAT.qcow2) and import that.`,
          { field: 'disk' },
        );
      const free = freeBytesAt(dir);
      if (st.size > free)
        throw new VmdeskError(
          'insufficient-resources',
          `Copying the disk ${from} needs ${Math.ceil(st.size / 2 ** 20)} MiB; ${Math.floor(free / 2 ** 20)} MiB are free in ${path.dirname(dir)}. Free space, or import with the disks in place.`,
        );
      const to = path.join(dir, `import${i}${path.extname(from) || '.img'}`);
      await copyImageFile(from, to).catch((err: unknown) => {
        throw new VmdeskError(
          'storage',
          `Copying the disk ${from} into ${path.dirname(dir)} failed: ${(err as Error).message}. Nothing was imported; free space or fix the permissions, or import with the disks in place.`,
        );
      });
      copies.push(to);
    }
    const [first, ...more] = copies;
    return {
      ...input,
      ...(input.disk ? { disk: { ...input.disk, path: first! } } : {}),
      ...(input.moreDisks ? { moreDisks: input.moreDisks.map((d, i) => ({ ...d, path: more[i]! })) } : {}),
    };
  }

  /**
   * The domain's UEFI variables (boot entries, enrolled keys) over the new VM's fresh store, when
   * the file is readable and the same size (the same firmware build); otherwise the sentence for
   * `dropped`.
   */
  #takeDomainNvram(def: VmDefinition, from: string | undefined): string | undefined {
    if (!from || !def.nvram) return undefined;
    try {
      if (fs.statSync(from).size !== fs.statSync(def.nvram).size)
        return `the UEFI variables in ${from}: they belong to another firmware build than vmdesk's, so the VM starts with fresh ones (a guest without the fallback loader \\EFI\\BOOT\\BOOTX64.EFI needs its boot entry made again).`;
      fs.copyFileSync(from, def.nvram);
      return undefined;
    } catch (err) {
      return `the UEFI variables in ${from} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): the VM starts with fresh ones (a guest without the fallback loader \\EFI\\BOOT\\BOOTX64.EFI needs its boot entry made again).`;
    }
  }

  /** VM directories that belong to no VM: shown to the user, never deleted by vmdesk. */
  orphans(): OrphanDir[] {
    return findOrphans(this.paths);
  }

  /** Stops listening and closes connections; running VMs keep running (the next driver adopts them). */
  async detachAll(): Promise<void> {
    for (const vm of this.#vms.values()) vm.detach();
    await this.hosts.closeAll();
  }
}

/** Refuses a clone whose source's disks changed between the plan and the copy (a disk added meanwhile). */
function assertSameDisks(name: string, def: VmDefinition, plan: ClonePlan): void {
  const key = (ds: readonly { path: string; target: string; format: string }[]) =>
    JSON.stringify(ds.map((d) => [d.path, d.target, d.format]));
  if (key(def.disks) !== key(plan.disks.map((s) => s.source)))
    throw new VmdeskError('invalid-state', `The disks of "${name}" changed while it was being cloned. Clone it again.`);
}
