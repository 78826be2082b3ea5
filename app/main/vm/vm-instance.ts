/**
 * One VM: its definition (and the file it lives in), its state with the reason, its QEMU run if
 * it has one, and a job lock that serialises what is done to it. Every state change goes through
 * the transition table (transitions.ts); every failure rolls back to a true state and ends what
 * it started. State comes from QMP events and the process's end, never from polling.
 *
 * `load` and `adopt` are the two ways to get one: a VM from its definition alone (stopped, or
 * broken when the file cannot be used), or a VM whose QEMU an earlier driver left running.
 *
 * MUST NOT write a definition file that changed on disk since it was read without re-reading it
 * first, and MUST NOT write one that became unreadable (the VM is then `broken`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import type { CallParams, CallResults, SnapshotInfo } from '../common/contract.js';
import { isUuid, normalizeVmName, sameVmName } from '../common/names.js';
import {
  forwardLabel,
  forwardsOverlap,
  forwardsProblem,
  MAX_FORWARDS,
  MAX_MDEVS,
  diskIsReadOnly,
  MAX_SATA_DISKS,
  MAX_USB,
  type DiskSpec,
  type MdevAssignment,
  type PortForward,
  type VmDefinition,
  type VmState,
  type VmSummary,
} from '../common/vm-types.js';
import type { AppPaths } from '../paths/app-paths.js';
import { makePrivateDir, removePath, withStorageErrors } from '../paths/storage-errors.js';
import { defaultDataDir, nvramPath, shareFiles, vmFiles, type VmFiles } from '../paths/vm-files.js';
import { qemuSandbox, sandboxInArgv, type QemuSandbox } from '../qemu/argv.js';
import type { QemuLauncher } from '../qemu/launcher.js';
import { readCmdline } from '../qemu/process.js';
import {
  attachUsb,
  detachUsb,
  findHostUsb,
  listAttachedUsb,
  nextUsbHostId,
  parseUsbSelector,
  usbSelectorOf,
  type UsbQmp,
} from '../qemu/usb.js';
import type { AttachedUsb, UsbDevice, UsbHostMatch } from '../common/usb-types.js';
import type { DefinitionEntry, DefinitionStore } from './definition-store.js';
import { stampOf } from './definition-store.js';
import { DriverLog } from './driver-log.js';
import type { ExitVerdict } from './exit-reason.js';
import { stateFromQmpStatus } from './exit-reason.js';
import type { HostServices } from './host-services.js';
import { clearIntent, ownMachineState, removeVmFiles, writeIntent } from './intents.js';
import { applySettings, autostartDiff, settingsDiff } from './settings.js';
import { mountCommand, type SharePlan } from './shares.js';
import { GuestWatch } from './guest-watch.js';
import { JobLock, type Job } from './job-lock.js';
import {
  assertNameFree,
  assertSnapshottable,
  assertSpaceFor,
  deleteSnapshot,
  findSnapshot,
  revertToSnapshot,
  snapshotInfos,
  SnapshotStore,
  takeSnapshot,
  type SnapshotTarget,
} from './snapshots.js';
import { checkReadableFile, formatMiB, memoryNotice } from './define-vm.js';
import {
  assertGrows,
  convertToQcow2,
  findDisk,
  freeTarget,
  hostUsage,
  imageInfo,
  plugDisk,
  prepareDisk,
  resizeImage,
  resizeLive,
  unplugDisk,
  virtualSize,
} from './disks.js';
import {
  assertDisksFree,
  assertForwardsFree,
  assertForwardsUnclaimed,
  planLaunch,
  prepareRunFiles,
  tcgHint,
  type Launch,
  type LaunchContext,
} from './launch.js';
import { QemuRun, type RunContext, type SpawnFailure, type SpawnPlan } from './qemu-run.js';
import type { RunRecord } from './run-record.js';
import { cleanupRuntime, realpath } from './runtime-files.js';
import { assertTransition, LIVE_STATES } from './transitions.js';
import type { VmEvents } from './vm-events.js';

export interface VmTuning {
  /** How long an ACPI shutdown may take before the VM is forced off. */
  shutdownTimeoutMs: number;
  /** Each forcing rung (quit, SIGTERM, SIGKILL) waits this long for the process to go. */
  rungTimeoutMs: number;
  /** How long QEMU may take to open its control socket after it was spawned. */
  startTimeoutMs: number;
  logCapBytes: number;
  /** How long a second operation on a VM waits for the one in front of it. */
  jobWaitMs: number;
  /** How long a running guest gets to let go of a disk being removed (PCI hot-unplug). */
  unplugTimeoutMs: number;
  /** During a shutdown, how long the power button gets before the guest agent is asked (at most
   * half the shutdown timeout). */
  agentShutdownAfterMs: number;
}

/** What every VM shares with its registry: handed down once, at construction. */
export interface InstanceContext {
  paths: AppPaths;
  host: HostServices;
  launcher: QemuLauncher;
  store: DefinitionStore;
  events: VmEvents;
  tuning: VmTuning;
  /** The host's USB devices now (sysfs; a fixture in tests). */
  usbDevices(): Promise<UsbDevice[]>;
}

/** A VM as its peers see it when one of them starts (disk and vGPU conflicts). */
export interface PeerView {
  readonly id: string;
  readonly name: string;
  readonly live: boolean;
  /** Real paths of the disks it has open read-write, or is about to open (a start in flight). */
  readonly disksInUse: readonly string[];
  readonly mdevs: readonly MdevAssignment[];
  /** The host ports its QEMU listens on while it runs (none when it does not). */
  readonly forwardsInUse: readonly PortForward[];
}

export class VmInstance {
  readonly id: string;
  readonly file: string;
  /** Its files: the data folder is the definition's (dataDir), so a definition re-read while
   * no QEMU runs may move them (#syncFiles). */
  #files: VmFiles;
  get files(): VmFiles {
    return this.#files;
  }
  readonly log: DriverLog;
  readonly job: JobLock;
  #def: VmDefinition | undefined;
  #brokenReason: string | undefined;
  #stamp: string | undefined;
  #state: VmState;
  #reason: string | undefined;
  #logTail: string[] | undefined;
  #run: QemuRun | undefined;
  /** The current run's guest agent and what it said (guests without one never answer). */
  #guest: GuestWatch | undefined;
  /** Whether the current run's QEMU is inside its seccomp sandbox (unknown for an adopted QEMU
   * whose command line cannot be read). */
  #sandbox: QemuSandbox | undefined;
  /** How the current run serves its shared folders (virtio-fs or 9p, and why). */
  #runShares: SharePlan[] = [];
  /** The current run's host USB devices, as QEMU said after its start, an attach or a detach. */
  #runUsb: AttachedUsb[] = [];
  /** Their names, from the host's devices at the same moment. */
  #runUsbNames = new Map<string, string>();
  /** Disks a start in flight is about to open: peers starting meanwhile see them. */
  #claimedDisks: string[] = [];
  /** The host ports the current run listens on (unset for a QEMU adopted from an earlier driver:
   * then the definition's), and whether a start in flight claims them already. */
  #runForwards: readonly PortForward[] | undefined;
  #claimingForwards = false;
  /** The definition the current run was started with (for a QEMU adopted from an earlier driver:
   * the one read at adoption): what differs from it now applies at the next start. */
  #runDef: VmDefinition | undefined;
  #shutdownDeadline: ReturnType<typeof setTimeout> | undefined;
  /** During a shutdown: when the guest agent is asked, if the power button did nothing by then. */
  #agentShutdown: ReturnType<typeof setTimeout> | undefined;
  /** Why the current run is being ended by us (e.g. the shutdown deadline), for its summary. */
  #endReason: string | undefined;
  #deleted = false;
  /**
   * The pid of a QEMU an earlier driver started for this VM, left alone because the VM's file
   * could not be read at takeover. While it lives, this driver neither starts nor deletes the VM.
   */
  #untouchedQemu: number | undefined;
  #snapshots: SnapshotStore;
  /** The last count read from snapshots.json, with the file's identity then (#snapshotCount). */
  #snapshotCountCache: { key: string; value: { count: number; vmStateBytes: number } } | undefined;
  /** When its QEMU last ended (files.lastRun): read once, when first asked. */
  #lastRunAt: string | null | undefined;

  private constructor(
    entry: DefinitionEntry,
    private readonly ctx: InstanceContext,
  ) {
    this.id = entry.id;
    this.file = entry.file;
    this.#files = vmFiles(ctx.paths, entry.id, entry.ok ? entry.definition.dataDir : undefined);
    this.log = new DriverLog(this.files.driverLog, ctx.tuning.logCapBytes);
    this.#snapshots = new SnapshotStore(this.files.dataDir);
    this.#stamp = entry.stamp;
    if (entry.ok) {
      this.#def = entry.definition;
      this.#state = 'stopped';
    } else {
      this.#brokenReason = entry.reason;
      this.#state = 'broken';
      this.#reason = entry.reason;
    }
    this.job = new JobLock(() => this.name, ctx.tuning.jobWaitMs);
  }

  /** A VM from its definition alone: stopped, or broken when the file cannot be used. */
  static load(entry: DefinitionEntry, ctx: InstanceContext): VmInstance {
    return new VmInstance(entry, ctx);
  }

  /**
   * A VM whose run record says an earlier driver started QEMU for it: takes that QEMU over, or
   * settles one that ended meanwhile (crashed, or stopped as the user asked). `keepRuntimeDir`:
   * a live QEMU left alone (its definition is unreadable) whose sockets the orphan sweep MUST keep.
   */
  static async adopt(
    entry: DefinitionEntry,
    record: RunRecord,
    ctx: InstanceContext,
  ): Promise<{ vm: VmInstance; keepRuntimeDir?: string }> {
    const vm = new VmInstance(entry, ctx);
    const { launcher } = ctx;
    if (!entry.ok) {
      if (record.pid && launcher.pidExists(record.pid) && launcher.isOurQemu(record.pid, vm.id)) {
        vm.#untouchedQemu = record.pid;
        return { vm, keepRuntimeDir: record.runtimeDir };
      }
      cleanupRuntime(record);
      fs.rmSync(vm.files.runRecord, { force: true });
      return { vm };
    }
    const found = await QemuRun.adopt(record, vm.id, vm.#runContext());
    if (found.kind === 'gone') {
      // Where this VM starts out, not a change: it ended while no driver watched.
      vm.#state = found.verdict.state;
      vm.#reason = found.verdict.reason;
      vm.#logTail = found.verdict.logTail;
      return { vm };
    }
    vm.#own(found.run);
    vm.#guest?.probe();
    vm.#sandbox = adoptedSandbox(found.run.pid);
    // An adopted run's shares: virtio-fs where it has a virtiofsd for the share's socket.
    const served = new Set((found.run.record.helpers ?? []).filter((h) => h.kind === 'virtiofsd').map((h) => h.socket));
    vm.#runShares = (vm.#def?.shares ?? []).map((share, i) => ({
      share,
      mode: served.has(shareFiles(vm.files, i).socket) ? 'virtiofs' : '9p',
    }));
    if (vm.#sandbox?.reason) vm.log.write(`the adopted QEMU runs without its seccomp sandbox: ${vm.#sandbox.reason}`);
    if (found.kind === 'unreachable') {
      vm.#state = 'crashed';
      vm.#reason = `${found.reason} Force it off with \`vmdesk stop ${vm.name}\`.`;
      return { vm };
    }
    vm.#state = stateFromQmpStatus(found.status);
    // Devices attached by the earlier driver are QEMU's to tell (they need not be in the definition).
    if (found.run.qmp) await vm.#readUsb(found.run.qmp).catch(() => undefined);
    if (record.intent === 'stop') {
      // The previous driver died while forcing this VM off: finish what the user asked for.
      void vm.stop().catch((err: unknown) => vm.log.write(`finishing the force off failed: ${(err as Error).message}`));
    }
    return { vm };
  }

  get name(): string {
    return this.#def?.name ?? this.id;
  }

  get state(): VmState {
    return this.#state;
  }

  /** The persistent definition; undefined while the file is unusable. */
  get definition(): VmDefinition | undefined {
    return this.#brokenReason ? undefined : this.#def;
  }

  /** The runtime dir of a QEMU this VM owns (the orphan sweep keeps it). */
  get runtimeDir(): string | undefined {
    return this.#run?.record.runtimeDir;
  }

  /** What a peer's start needs to know about this VM. */
  get peerView(): PeerView {
    return {
      id: this.id,
      name: this.name,
      live: LIVE_STATES.includes(this.#state),
      disksInUse: this.#run ? this.#run.record.disks : this.#claimedDisks,
      mdevs: this.#def?.mdevs ?? [],
      forwardsInUse: this.#run || this.#claimingForwards ? (this.#runForwards ?? activeForwards(this.#def)) : [],
    };
  }

  summary(): VmSummary {
    const f = this.files;
    const s: VmSummary = { id: this.id, name: this.name, state: this.#state, file: this.file };
    if (this.#reason) s.reason = this.#reason;
    if (this.#logTail && (this.#logTail.length > 0 || this.#state === 'crashed')) s.logTail = this.#logTail;
    if (this.definition) {
      s.definition = this.definition;
      if (this.#stamp) s.revision = this.#stamp;
      const sizes = this.definition.disks.flatMap((d) => {
        const n = virtualSize(d);
        return n === undefined ? [] : [[d.target, n] as const];
      });
      if (sizes.length > 0) s.diskSizes = Object.fromEntries(sizes);
      const used = this.definition.disks.flatMap((d) => {
        const n = hostUsage(d);
        return n === undefined ? [] : [[d.target, n] as const];
      });
      if (used.length > 0) s.diskUsage = Object.fromEntries(used);
      const snaps = this.#snapshotCount();
      if (snaps.count > 0) s.snapshots = snaps;
    }
    const lastRunAt = this.#lastRun();
    if (lastRunAt) s.lastRunAt = lastRunAt;
    const rec = this.#run?.record;
    const logs = { qemuLog: f.qemuLog, serialLog: f.serialLog, driverLog: f.driverLog };
    if (rec) {
      s.pid = rec.pid;
      s.accel = { accel: rec.accel, reason: rec.accelReason };
      s.startedAt = rec.startedAt;
      s.paths = { qmp: rec.qmpSocket, serial: rec.serialSocket, vnc: rec.vncSocket, ...logs };
      if (this.#sandbox) s.sandbox = this.#sandbox;
      if (this.#guest) s.guest = this.#guest.state;
      if (this.#runUsb.length > 0)
        s.usb = this.#runUsb.map((u) => {
          const name = this.#runUsbNames.get(u.id);
          return {
            id: u.id,
            device: u.match ? usbSelectorOf(u.match) : '',
            ...(name ? { name } : {}),
            attached: u.attached,
          };
        });
      if (this.#runShares.length > 0)
        s.shares = this.#runShares.map((p) => ({
          ...p.share,
          mode: p.mode,
          ...(p.reason ? { reason: p.reason } : {}),
          mount: mountCommand(p),
        }));
      if (this.#runDef)
        s.live = {
          disks: this.#runDef.disks.map((d) => ({ target: d.target, path: d.path })),
          cdromDrives: this.#runDef.cdroms.length,
        };
      const pending = this.#runDef && this.#def ? settingsDiff(this.#runDef, this.#def) : [];
      if (pending.length > 0) s.pending = pending;
    } else if (this.#def) {
      s.paths = { qmp: f.qmpSocket, serial: f.serialSocket, vnc: f.vncSocket, ...logs };
    }
    return s;
  }

  /**
   * Re-reads the definition file when it changed on disk since it was read or written (an
   * editor, another tool). A file that became unusable makes a VM without QEMU `broken`; a
   * repaired one makes a broken VM `stopped` again. Cheap (one stat) when nothing changed.
   */
  refresh(): void {
    if (this.#deleted) return;
    const stamp = stampOf(this.file);
    if (stamp === this.#stamp) return;
    const entry = stamp === undefined ? undefined : this.ctx.store.load(this.file);
    this.#stamp = entry?.stamp;
    if (entry?.ok) {
      const was = this.#brokenReason;
      this.#def = entry.definition;
      this.#brokenReason = undefined;
      this.log.write('the definition file changed outside vmdesk: re-read');
      this.#syncFiles();
      if (was && this.#state === 'broken') this.#transition('stopped');
      else this.#emit();
      return;
    }
    // The last good definition stays (a running VM keeps its name), but nothing uses or writes it.
    this.#brokenReason = entry ? entry.reason : `The file ${this.file} was removed outside vmdesk.`;
    this.log.write(`the definition file became unusable: ${this.#brokenReason}`);
    // A VM with a QEMU (even a crashed, unreachable one) stays what it is until that QEMU is gone.
    if (!this.#run && (this.#state === 'stopped' || this.#state === 'crashed')) {
      this.#transition('broken', this.#brokenReason);
    } else this.#emit();
  }

  /** `registry`: every VM of this driver (read when the start checks disks and vGPUs, after
   * it waited for its turn, so a VM started meanwhile counts). */
  async start(p: CallParams<'vm.start'>, registry: ReadonlyMap<string, VmInstance>): Promise<VmSummary> {
    const peers = (): PeerView[] => [...registry.values()].filter((o) => o !== this).map((o) => o.peerView);
    return this.job.run('start', async (job) => {
      const def = this.#usable();
      if (this.#state !== 'stopped' && this.#state !== 'crashed') {
        throw new VmdeskError(
          'invalid-state',
          `"${def.name}" is ${this.#state}; it can only be started when stopped.`,
          { state: this.#state },
        );
      }
      if (this.#run) {
        throw new VmdeskError(
          'invalid-state',
          `"${def.name}" still has a QEMU process (pid ${this.#run.pid}). Force it off first: vmdesk stop "${def.name}".`,
        );
      }
      this.#assertNoUntouchedQemu(def.name);
      const disks = def.disks.filter((d) => !diskIsReadOnly(d)).map((d) => realpath(d.path));
      assertDisksFree(disks, peers());
      assertForwardsUnclaimed(def, forwardsOf(peers()));
      this.#claimedDisks = disks;
      // Claimed while the start is in flight, so a peer starting meanwhile sees them too.
      this.#runForwards = activeForwards(def);
      this.#claimingForwards = true;
      try {
        await this.#start(def, disks, p.timeoutMs ?? this.ctx.tuning.startTimeoutMs, peers, job);
      } finally {
        this.#claimedDisks = [];
        this.#claimingForwards = false;
      }
      return this.summary();
    });
  }

  async #start(
    def: VmDefinition,
    disks: string[],
    connectTimeoutMs: number,
    peers: () => readonly PeerView[],
    job: Job,
  ): Promise<void> {
    const files = this.files;
    const others = () => peers().map((o) => ({ id: o.id, name: o.name, running: o.live, mdevs: [...o.mdevs] }));
    const planCtx = { paths: this.ctx.paths, host: this.ctx.host, others };
    const fileCtx = { paths: this.ctx.paths, logCapBytes: this.ctx.tuning.logCapBytes };
    let launch: Launch;
    let early: EarlyLaunch | undefined;
    try {
      await assertForwardsFree(def, forwardsOf(peers()));
      early = await this.#launchEarly(def, disks, connectTimeoutMs, job, planCtx, fileCtx);
      launch = await planLaunch(def, files, planCtx);
      // The file may have broken while the host was probed (the VM is then `broken`).
      this.#usable();
      if (job.signal.aborted) throw job.signal.reason;
      if (!early) prepareRunFiles(def, files, launch, fileCtx);
    } catch (err) {
      if (early)
        await early.run.then(
          (r) => r.abandon(),
          () => undefined,
        );
      fs.rmSync(files.runtimeDir, { recursive: true, force: true });
      if (this.#state === 'starting') {
        this.#transition('stopped');
        // The file broke while the early QEMU waited (refresh left a `starting` VM as it was).
        if (this.#brokenReason) this.#transition('broken', this.#brokenReason);
      }
      throw couldNotStart(err, def.name, files);
    }
    const { caps, shares, audio } = launch;
    if (audio) this.log.write(`sound ${audio}`);
    const sandbox = qemuSandbox(caps);
    // Said before the spawn, so the log has it whatever QEMU then does.
    if (sandbox.reason) this.log.write(`QEMU runs without its seccomp sandbox: ${sandbox.reason}`);
    let run: QemuRun | undefined;
    try {
      run = early ? await this.#keepEarly(early, launch, def, fileCtx, job.signal) : undefined;
      if (!run) {
        if (this.#state !== 'starting') this.#beginStart();
        run = await QemuRun.spawn(
          this.#spawnPlan(def, disks, launch, connectTimeoutMs),
          this.#runContext(),
          job.signal,
        );
      }
      this.#own(run);
      this.#sandbox = sandbox;
      this.#runShares = shares;
      const ended = run.ended.then(() => {
        throw new VmdeskError('qemu-failed', `QEMU exited while starting "${def.name}".`);
      });
      ended.catch(() => undefined);
      await Promise.race([run.qmp!.execute('cont'), ended]);
      if (job.signal.aborted) throw job.signal.reason;
      // What became of the definition's USB devices (a missing one waits; QEMU starts anyway).
      if ((def.usb ?? []).length > 0)
        await this.#readUsb(run.qmp!).catch((err: unknown) =>
          this.log.write(`could not read the USB devices: ${(err as Error).message}`),
        );
      if (this.#state === 'starting') this.#transition('running');
    } catch (err) {
      // Back to a true state: whatever runs is ended (its end moves the state), and a start
      // that never got a process is `stopped` again with nothing left behind.
      if (run && this.#run === run) await run.abandon();
      if (!run) fs.rmSync(files.runtimeDir, { recursive: true, force: true });
      // A QEMU that ended by itself during the spawn (crashed) says so; one we ended is stopped.
      const exit = (err as SpawnFailure).exit;
      if (this.#state === 'starting') this.#transition(exit?.state ?? 'stopped', exit?.reason, exit?.logTail);
      if (job.signal.aborted) throw new VmdeskError('cancelled', `Starting "${def.name}" was cancelled.`);
      throw couldNotStart(err, def.name, files);
    }
  }

  /** Into `starting`, with the last run's end forgotten. */
  #beginStart(): void {
    this.#endReason = undefined;
    this.#logTail = undefined;
    this.#transition('starting');
  }

  #spawnPlan(def: VmDefinition, disks: string[], launch: Launch, connectTimeoutMs: number): SpawnPlan {
    const files = this.files;
    const { caps, accel, argv, helpers } = launch;
    const record: RunRecord = {
      id: def.id,
      pid: 0,
      binary: caps.binary,
      accel: accel.accel,
      accelReason: accel.reason,
      runtimeDir: files.runtimeDir,
      qmpSocket: files.qmpSocket,
      serialSocket: files.serialSocket,
      vncSocket: files.vncSocket,
      pidfile: files.pidfile,
      disks,
      startedAt: new Date().toISOString(),
      ...(helpers.length > 0 ? { helpers: helpers.map((h) => h.record) } : {}),
    };
    return {
      binary: caps.binary,
      argv,
      record,
      connectTimeoutMs,
      hint: tcgHint(accel.accel),
      vmName: def.name,
      helpers: helpers.map((h) => ({ binary: h.binary, argv: h.argv, logFile: h.logFile })),
    };
  }

  /**
   * A driver's first start, while its first probe of QEMU runs (nothing cached): QEMU is launched
   * paused on assumed capabilities (HostServices.provisional) instead of waiting ~30 ms for the
   * probe, which runs meanwhile. Not for a VM with helpers (swtpm, virtiofsd) or vGPUs, whose
   * start has more side effects than a QEMU that runs nothing. Undefined when nothing is assumed;
   * a plan on the assumed caps that fails is left to the real plan to report.
   */
  async #launchEarly(
    def: VmDefinition,
    disks: string[],
    connectTimeoutMs: number,
    job: Job,
    planCtx: LaunchContext,
    fileCtx: { paths: AppPaths; logCapBytes: number },
  ): Promise<EarlyLaunch | undefined> {
    if (def.tpm || def.shares?.length || def.mdevs?.length) return undefined;
    const host = await this.ctx.host.provisional?.(def.arch);
    if (!host) return undefined;
    const launch = await planLaunch(def, this.files, { ...planCtx, host }).catch(() => undefined);
    if (!launch || launch.helpers.length > 0) return undefined;
    this.#usable();
    if (job.signal.aborted) throw job.signal.reason;
    prepareRunFiles(def, this.files, launch, fileCtx);
    this.#beginStart();
    const run = QemuRun.spawn(this.#spawnPlan(def, disks, launch, connectTimeoutMs), this.#runContext(), job.signal);
    run.catch(() => undefined); // #keepEarly reads the outcome
    return { launch, run };
  }

  /** The early QEMU when the probed capabilities give the same command line and it came up;
   * otherwise it is ended (it ran nothing) and undefined says: spawn again on `launch`. */
  async #keepEarly(
    early: EarlyLaunch,
    launch: Launch,
    def: VmDefinition,
    fileCtx: { paths: AppPaths; logCapBytes: number },
    signal: AbortSignal,
  ): Promise<QemuRun | undefined> {
    const same = sameLaunch(early.launch, launch);
    const run = await early.run.catch((err: unknown) => {
      // A force off (or quit) cancelled that spawn: nothing is to be started again.
      if (signal.aborted) throw err;
      // The probed caps give that same command line: a second QEMU would fail the same way
      // (a locked disk, a QEMU that never opens its socket) after as long again.
      if (same) throw err;
      this.log.write(
        `QEMU, started before its capabilities were known, refused the command line (${(err as Error).message}); starting it again with the probed ones`,
      );
      return undefined;
    });
    // It may have ended while the probe ran (killed): a finished run has no QMP left to `cont`.
    if (run && same && !run.finished) return run;
    if (run) {
      this.log.write(
        run.finished
          ? `QEMU, started before its capabilities were known, ended while they were probed; starting it again`
          : `the probed QEMU capabilities change the command line: starting QEMU again with them`,
      );
      await run.abandon();
    }
    if (signal.aborted) throw signal.reason;
    prepareRunFiles(def, this.files, launch, fileCtx);
    return undefined;
  }

  /** ACPI power button. With `wait`: resolves when stopped; forces off after the timeout. */
  async shutdown(p: CallParams<'vm.shutdown'>): Promise<VmSummary> {
    const timeoutMs = p.timeoutMs ?? this.ctx.tuning.shutdownTimeoutMs;
    const run = await this.job.run('shutdown', async () => {
      const def = this.#usable();
      if (this.#state === 'paused') {
        throw new VmdeskError(
          'invalid-state',
          `"${def.name}" is paused and cannot react to the power button. Resume it first, or force it off with \`vmdesk stop\`.`,
        );
      }
      const run = this.#run;
      if (this.#state !== 'running' || !run?.qmp)
        throw new VmdeskError('invalid-state', `"${def.name}" is ${this.#state}, not running.`, { state: this.#state });
      this.#transition('stopping');
      run.setIntent('shutdown');
      try {
        await run.qmp.execute('system_powerdown');
      } catch (err) {
        run.clearIntent();
        if (this.#run === run && (this.#state as VmState) === 'stopping') this.#transition('running');
        throw err;
      }
      this.log.write('sent ACPI power button');
      // A guest that ignores ACPI (no acpid, an installer, a locked Windows screen) but runs a
      // guest agent is asked through the agent halfway to the deadline (at most 15 s in).
      this.#agentShutdown = setTimeout(
        () => {
          const guest = this.#guest;
          if (this.#run !== run || this.#state !== 'stopping' || !guest?.state.connected) return;
          this.log.write('the guest has not reacted to the power button: asking its guest agent to shut it down');
          guest.agent
            .shutdown()
            .catch((err: unknown) => this.log.write(`the guest agent did not shut it down: ${(err as Error).message}`));
        },
        Math.min(timeoutMs / 2, this.ctx.tuning.agentShutdownAfterMs),
      );
      this.#shutdownDeadline = setTimeout(() => {
        if (this.#run !== run) return;
        this.log.write(`guest did not power off within ${timeoutMs} ms: forcing off`);
        this.#endReason = `The guest did not shut down within ${Math.round(timeoutMs / 1000)} s, so it was forced off.`;
        void this.stop().catch((err: unknown) => this.log.write(`forcing off failed: ${(err as Error).message}`));
      }, timeoutMs);
      return run;
    });
    if (p.wait) await run.ended;
    return this.summary();
  }

  /** Force off: cancels whatever the VM is doing, then quit → SIGTERM → SIGKILL. */
  async stop(): Promise<VmSummary> {
    // A start that has not spawned yet has no run, but is cancelled like one that has.
    if (!this.#run && this.#state !== 'starting' && this.job.current !== 'start')
      throw new VmdeskError('invalid-state', `"${this.name}" is not running.`, { state: this.#state });
    this.job.cancelAll('the VM is being forced off.');
    return this.job.run('stop', async () => {
      const run = this.#run;
      // The job we aborted (a start) may already have ended this run while rolling back.
      if (!run) return this.summary();
      if (this.#state !== 'stopping') this.#transition('stopping');
      run.setIntent('stop');
      await run.forceOff();
      await run.ended;
      return this.summary();
    });
  }

  reboot(): Promise<VmSummary> {
    return this.#qmpJob('system_reset', ['running', 'paused'], 'reset');
  }

  pause(): Promise<VmSummary> {
    return this.#qmpJob('stop', ['running'], 'paused', 'paused');
  }

  resume(): Promise<VmSummary> {
    return this.#qmpJob('cont', ['paused'], 'resumed', 'running');
  }

  async #qmpJob(command: string, allowed: VmState[], verb: string, after?: VmState): Promise<VmSummary> {
    return this.job.run(command, async () => {
      const def = this.#usable();
      const qmp = this.#run?.qmp;
      if (!allowed.includes(this.#state) || !qmp) {
        throw new VmdeskError(
          'invalid-state',
          `"${def.name}" is ${this.#state}; it can be ${verb} only when ${allowed.join(' or ')}.`,
          { state: this.#state },
        );
      }
      await qmp.execute(command);
      this.log.write(verb);
      // QEMU's STOP/RESUME event may have arrived first; either way the state is `after` now.
      // (Unless the guest went on meanwhile: a SHUTDOWN during a pause makes it `stopping`.)
      if (after && allowed.includes(this.#state) && this.#run?.qmp === qmp) this.#transition(after);
      return this.summary();
    });
  }

  /** Takes the disc out of CD-ROM drive `drive` (from the running VM too); the drive stays. */
  async eject(drive = 0): Promise<VmSummary> {
    return this.job.run('eject', async () => {
      const def = this.#usable();
      assertDrive(def, drive);
      const iso = def.cdroms[drive];
      if (!iso)
        throw new VmdeskError('invalid-state', `CD-ROM drive ${drive} of "${def.name}" is already empty.`, {
          field: 'drive',
        });
      const qmp = this.#run?.qmp;
      const live = qmp?.state === 'running' && this.#runDef !== undefined && drive < this.#runDef.cdroms.length;
      if (live) {
        await takeOutDisc(qmp, drive);
        this.#runDef = { ...this.#runDef!, cdroms: withDisc(this.#runDef!.cdroms, drive, null) };
      }
      return this.#saveDefinition((d) => ({ ...d, cdroms: withDisc(d.cdroms, drive, null) }), `ejected ${iso}`);
    });
  }

  /**
   * Puts `iso` in CD-ROM drive `drive`. A running VM that has the drive gets the medium at once
   * (QMP blockdev-change-medium, format given: QEMU never probes); a drive added since it started
   * exists from its next start, and `pending` says so.
   */
  async insertCdrom(iso: string, drive = 0): Promise<VmSummary> {
    return this.job.run('insert an ISO', async () => {
      const def = this.#usable();
      assertDrive(def, drive);
      const file = checkReadableFile(iso, 'iso', 'ISO image');
      const qmp = this.#run?.qmp;
      const live = qmp?.state === 'running' && this.#runDef !== undefined && drive < this.#runDef.cdroms.length;
      if (live) {
        if (this.#runDef!.cdroms[drive]) await takeOutDisc(qmp, drive);
        await qmp.execute('blockdev-change-medium', {
          id: `cdrom${drive}`,
          filename: file,
          format: 'raw',
          'read-only-mode': 'read-only',
        });
        this.#runDef = { ...this.#runDef!, cdroms: withDisc(this.#runDef!.cdroms, drive, file) };
      }
      return this.#saveDefinition(
        (d) => ({ ...d, cdroms: withDisc(d.cdroms, drive, file) }),
        `inserted ${file} in CD-ROM drive ${drive}${live ? '' : this.#run ? ' (the running QEMU has no such drive: at its next start)' : ''}`,
      );
    });
  }

  /**
   * Adds a disk (vm.addDisk): a new qcow2 in the VM's folder, or an existing image whose format
   * and backing chain qemu-img reads once (stored; QEMU never probes). A running VM gets it at
   * once in a hot-plug port; `others`: every other VM (a file belongs to one VM).
   */
  async addDisk(p: Omit<CallParams<'vm.addDisk'>, 'vm'>, others: () => readonly VmDefinition[]): Promise<VmSummary> {
    return this.job.run('add a disk', async () => {
      const def = this.#usable();
      if (def.devices.disk === 'sata' && def.disks.length >= MAX_SATA_DISKS)
        throw new VmdeskError(
          'invalid-state',
          `"${def.name}" has ${def.disks.length} SATA disks, as many as its controller takes. Remove one first, or switch its disk bus to virtio.`,
          { field: 'diskBus' },
        );
      const target = freeTarget(def, this.#runDef);
      const disk = await prepareDisk(p, def, target, others(), {
        qemuImg: await this.ctx.host.qemuImg(),
        paths: this.ctx.paths,
      });
      const qmp = this.#run?.qmp;
      let note = '';
      // SATA (AHCI) takes no disk while it runs: only virtio disks go into a hot-plug port.
      if (this.#run && !this.#run.finished && this.#runDef?.devices.disk === 'sata')
        note = ' (at its next start: SATA disks cannot be plugged in while the VM runs)';
      else if (qmp?.state === 'running' && this.#run && !this.#run.finished) {
        try {
          await plugDisk(qmp, disk);
          this.#runDef = { ...this.#runDef!, disks: [...this.#runDef!.disks, disk] };
          this.#run.record.disks.push(realpath(disk.path));
          note = ' (plugged into the running VM)';
        } catch (err) {
          note = ` (at its next start: ${(err as Error).message})`;
        }
      }
      return this.#saveDefinition(
        (d) => ({ ...d, disks: [...d.disks, disk] }),
        `disk ${target} added: ${disk.path}${note}`,
      );
    });
  }

  /**
   * Detaches a disk (vm.removeDisk); with `deleteFile`, deletes it too, only when vmdesk made it
   * and no QEMU has it open. A running VM's boot disk stays; another disk is unplugged at once
   * when the guest lets it go, else at the next start.
   */
  async removeDisk(p: Omit<CallParams<'vm.removeDisk'>, 'vm'>): Promise<VmSummary> {
    return this.job.run('remove a disk', async () => {
      const def = this.#usable();
      const disk = findDisk(def, p.target);
      if (p.deleteFile && !disk.owned)
        throw new VmdeskError(
          'invalid-argument',
          `vmdesk did not create ${disk.path}, so it does not delete it. Remove the disk without deleting the file, and delete the file yourself if you mean to.`,
          { field: 'deleteFile' },
        );
      if ((disk.linkedClones?.length ?? 0) > 0)
        throw new VmdeskError(
          'invalid-state',
          `${disk.target} of "${def.name}" is the base of ${disk.linkedClones!.length} linked clone(s), which read through it. Delete those clones first.`,
          { field: 'target' },
        );
      const qmp = this.#run?.qmp;
      const live = this.#run && !this.#run.finished && this.#runDef?.disks.some((d) => d.target === disk.target);
      let unplugged = false;
      if (live) {
        const bootDisk = this.#runDef!.boot.includes('disk') && this.#runDef!.disks[0]?.target === disk.target;
        if (bootDisk)
          throw new VmdeskError(
            'invalid-state',
            `${disk.target} is the disk "${def.name}" booted from, and it is ${this.#state}. Shut it down first, then remove it.`,
            { field: 'target' },
          );
        if (qmp?.state === 'running' && this.#runDef?.devices.disk !== 'sata')
          unplugged = await unplugDisk(qmp, disk, this.ctx.tuning.unplugTimeoutMs);
        if (unplugged) {
          this.#runDef = { ...this.#runDef!, disks: this.#runDef!.disks.filter((d) => d.target !== disk.target) };
          const real = realpath(disk.path);
          this.#run!.record.disks = this.#run!.record.disks.filter((d) => d !== real);
        } else if (p.deleteFile)
          throw new VmdeskError(
            'invalid-state',
            `The guest has not let go of ${disk.target} yet, so its file cannot be deleted. Remove it without deleting the file, or shut "${def.name}" down first.`,
            { field: 'target' },
          );
      }
      const deleted = p.deleteFile && (!live || unplugged);
      const saved = this.#saveDefinition(
        (d) => ({ ...d, disks: d.disks.filter((k) => k.target !== disk.target) }),
        `disk ${disk.target} removed${deleted ? ' and deleted' : ''}: ${disk.path}${live && !unplugged ? ' (the guest still has it until its next start)' : ''}`,
      );
      if (deleted) removePath(disk.path, { paths: this.ctx.paths });
      return saved;
    });
  }

  /** Converts a raw disk of the stopped VM to qcow2 (vm.convertDisk); the raw file stays. */
  async convertDisk(target: string): Promise<VmSummary> {
    return this.job.run('convert a disk', async () => {
      const def = this.#usable();
      const disk = findDisk(def, target);
      if (disk.format !== 'raw')
        throw new VmdeskError('invalid-argument', `${disk.target} of "${def.name}" is qcow2 already.`, {
          field: 'target',
        });
      if (this.#run)
        throw new VmdeskError(
          'invalid-state',
          `"${def.name}" is ${this.#state}: its disk is converted while it is off. Shut it down first.`,
          { state: this.#state },
        );
      const copy = await convertToQcow2(await this.ctx.host.qemuImg(), def, disk, this.ctx.paths);
      const done = this.#saveDefinition(
        (d) => ({ ...d, disks: d.disks.map((k) => (k.target === target ? copy : k)) }),
        `disk ${target} converted to qcow2: ${copy.path} (the raw ${disk.path} is kept)`,
      );
      return {
        ...done,
        notice: `${disk.target} is now ${copy.path} (qcow2). The raw file ${disk.path} is kept as it was: delete it once the VM works from the copy.`,
      };
    });
  }

  /** Grows a disk (vm.resizeDisk): qemu-img when no QEMU has it open, QMP block_resize when one does. */
  async resizeDisk(p: Omit<CallParams<'vm.resizeDisk'>, 'vm'>): Promise<VmSummary> {
    return this.job.run('grow a disk', async () => {
      const def = this.#usable();
      const disk = findDisk(def, p.target);
      if (diskIsReadOnly(disk))
        throw new VmdeskError(
          'invalid-state',
          (disk.linkedClones?.length ?? 0) > 0
            ? `${disk.target} of "${def.name}" is the base of linked clones, which would break if it changed. Delete them first.`
            : `${disk.target} of "${def.name}" is read-only.`,
          { field: 'target' },
        );
      const qemuImg = await this.ctx.host.qemuImg();
      const qmp = this.#run?.qmp;
      const live = this.#run && !this.#run.finished && this.#runDef?.disks.some((d) => d.target === disk.target);
      if (live && qmp?.state !== 'running')
        throw new VmdeskError('invalid-state', `"${def.name}" is ${this.#state}; wait for it to run or stop.`);
      const { virtualSize } = await imageInfo(qemuImg, disk.path, Boolean(live));
      assertGrows(def.name, disk, virtualSize, p.sizeBytes);
      if (live) await resizeLive(qmp!, disk, p.sizeBytes);
      else await resizeImage(qemuImg, disk, p.sizeBytes);
      const size = formatMiB(Math.round(p.sizeBytes / 2 ** 20));
      this.log.write(`disk ${disk.target} grown to ${size}${live ? ' (live)' : ''}`);
      this.#emit();
      return this.summary();
    });
  }

  /**
   * Records that the linked clone `cloneId` reads through disks `targets` of this VM (`on`), or
   * no longer reads through any (`!on`, the clone was deleted). Marked disks open read-only from
   * the next start: a write would corrupt every overlay on them. Marking needs the VM off (its
   * QEMU would keep writing); unmarking does not.
   */
  async setLinkedClone(cloneId: string, on: boolean, targets: readonly string[] = []): Promise<VmSummary> {
    return this.job.run(on ? 'lend its disks to a linked clone' : 'release a linked clone', () => {
      const def = this.#usable();
      if (on && this.#run)
        throw new VmdeskError(
          'invalid-state',
          `"${def.name}" is ${this.#state}; a linked clone needs it shut down (its disks must not change under the clone).`,
          { state: this.#state },
        );
      const mark = (d: DiskSpec): DiskSpec => {
        const ids = (d.linkedClones ?? []).filter((id) => id !== cloneId);
        if (on && targets.includes(d.target)) ids.push(cloneId);
        const { linkedClones: _old, ...rest } = d;
        return ids.length > 0 ? { ...rest, linkedClones: ids } : rest;
      };
      return this.#saveDefinition(
        (d) => ({ ...d, disks: d.disks.map(mark) }),
        on
          ? `disks ${targets.join(', ')} are the base of linked clone ${cloneId}: read-only while it exists`
          : `linked clone ${cloneId} is gone`,
      );
    });
  }

  /** The VM's snapshots, parents before children (snapshots.json in its folder). */
  snapshotList(): SnapshotInfo[] {
    this.#usable();
    return snapshotInfos(this.#snapshots.read());
  }

  /**
   * Takes a snapshot (snapshot.create): with memory while QEMU runs or is paused, of the disks
   * alone while the VM is off. Refused, saying what to do, for disks that cannot hold one, a vGPU,
   * too little space, or a disk-only snapshot of a running VM (its file systems are mid-write).
   */
  async snapshotCreate(p: Omit<CallParams<'snapshot.create'>, 'vm'>, o: { jobId: string; signal?: AbortSignal }) {
    return this.job.run('take a snapshot', async () => {
      const def = this.#usable();
      const target = await this.#snapshotTarget(o);
      const agent = this.#guest;
      const frozen = p.diskOnly && target.state === 'running' && agent?.state.connected;
      if (target.state !== 'stopped' && p.diskOnly && !frozen)
        throw new VmdeskError(
          'invalid-state',
          `"${def.name}" is ${this.#state}${target.state === 'running' ? ' and no guest agent answers' : ''}: a snapshot of its disks alone would catch its file systems mid-write. Take one with its memory, ${target.state === 'running' ? 'install qemu-guest-agent in the guest (it freezes the file systems for such a snapshot), ' : ''}or shut it down first.`,
          { field: 'diskOnly' },
        );
      if (frozen) {
        target.agent = agent.agent;
        target.log = (line) => this.log.write(line);
      }
      assertSnapshottable(def, target.state !== 'stopped' && !p.diskOnly);
      assertNameFree(this.#snapshots.read(), p.name, def.name);
      const free = fs.statfsSync(path.dirname(def.disks[0]!.path));
      const diskBytes = def.disks.reduce((n, d) => n + (virtualSize(d) ?? 0), 0);
      assertSpaceFor(def, target.state !== 'stopped' && !p.diskOnly, diskBytes, free.bavail * free.bsize);
      await takeSnapshot(target, {
        name: p.name,
        ...(p.description ? { description: p.description } : {}),
        ...(p.diskOnly ? { diskOnly: true } : {}),
      });
      this.log.write(
        `snapshot "${p.name}" taken (${target.state === 'stopped' ? 'disks only' : p.diskOnly ? 'disks only, file systems frozen by the guest agent' : `with memory, ${target.state}`})`,
      );
      return this.#snapshotsChanged().find((x) => sameVmName(x.name, p.name))!;
    });
  }

  /**
   * Goes back to a snapshot (snapshot.revert). One with memory needs QEMU running (the manager
   * starts a stopped VM first); one of the disks alone needs the VM off.
   */
  async snapshotRevert(name: string, o: { jobId: string; signal?: AbortSignal }): Promise<VmSummary> {
    return this.job.run('go back to a snapshot', async () => {
      const target = await this.#snapshotTarget(o);
      const after = await revertToSnapshot(target, name);
      // The definition the QEMU runs with is what the snapshot's disks go with from now on.
      this.log.write(`went back to snapshot "${name}" (${after})`);
      if (after === 'running' && this.#state === 'paused') this.#transition('running');
      if (after === 'paused' && this.#state === 'running') this.#transition('paused');
      this.#snapshotsChanged();
      return this.summary();
    });
  }

  async snapshotDelete(name: string): Promise<SnapshotInfo[]> {
    return this.job.run('delete a snapshot', async () => {
      this.#usable();
      await deleteSnapshot(await this.#snapshotTarget({ jobId: `delete-${Date.now()}` }), name);
      this.log.write(`snapshot "${name}" deleted`);
      return this.#snapshotsChanged();
    });
  }

  /** Renames a snapshot or changes its description (snapshot.update); the disks keep their tags. */
  async snapshotUpdate(p: Omit<CallParams<'snapshot.update'>, 'vm'>): Promise<SnapshotInfo> {
    return this.job.run('change a snapshot', () => {
      const def = this.#usable();
      const f = this.#snapshots.read();
      const s = findSnapshot(f, p.name, def.name);
      const newName = p.newName === undefined ? undefined : normalizeVmName(p.newName);
      if (newName !== undefined && !sameVmName(newName, s.name)) assertNameFree(f, newName, def.name);
      const changed = {
        ...s,
        ...(newName !== undefined ? { name: newName } : {}),
        ...(p.description !== undefined ? { description: p.description } : {}),
      };
      this.#snapshots.write({ ...f, snapshots: f.snapshots.map((x) => (x === s ? changed : x)) });
      return this.#snapshotsChanged().find((x) => x.name === changed.name)!;
    });
  }

  /** The snapshot's screen thumbnail as base64 PNG, or null when it has none. */
  snapshotThumbnail(name: string): string | null {
    const def = this.#usable();
    const s = findSnapshot(this.#snapshots.read(), name, def.name);
    return s.thumbnail ? fs.readFileSync(this.#snapshots.path(s.thumbnail)).toString('base64') : null;
  }

  async #snapshotTarget(o: { jobId: string; signal?: AbortSignal }): Promise<SnapshotTarget> {
    const def = this.#usable();
    const live = this.#run && !this.#run.finished && (this.#state === 'running' || this.#state === 'paused');
    if (this.#run && !live)
      throw new VmdeskError('invalid-state', `"${def.name}" is ${this.#state}; wait until it runs or is off.`, {
        state: this.#state,
      });
    return {
      // While QEMU runs, its disks are the ones it started with (or plugged in since).
      def: live ? { ...def, disks: this.#runDef!.disks } : def,
      store: this.#snapshots,
      qemuImg: await this.ctx.host.qemuImg(),
      qmp: live ? this.#run!.qmp : undefined,
      state: live ? (this.#state as 'running' | 'paused') : 'stopped',
      runtimeDir: this.#run?.record.runtimeDir,
      jobId: o.jobId,
      ...(o.signal ? { signal: o.signal } : {}),
      onProgress: (what, done, total) =>
        this.ctx.events.emit('job.progress', { jobId: o.jobId, vm: this.id, what, doneBytes: done, totalBytes: total }),
    };
  }

  /**
   * How many snapshots and the memory they keep; nothing when the records cannot be read. Read
   * again only after vmdesk wrote the records or snapshots.json is another file than last time
   * (device, inode, size, mtime and ctime in ns: a change by hand): a summary goes out on every
   * `list`, and parsing the records each time costs more than the rest of it.
   */
  #snapshotCount(): { count: number; vmStateBytes: number } {
    let key = `${this.#snapshots.writes}:none`;
    try {
      // Most VMs have no snapshots file: no exception for that (a list of 200 asks 200 times).
      const st = fs.statSync(this.#snapshots.file, { bigint: true, throwIfNoEntry: false });
      if (st) key = `${this.#snapshots.writes}:${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch {
      // unreadable: counted as none, as below
    }
    if (this.#snapshotCountCache?.key === key) return this.#snapshotCountCache.value;
    let value = { count: 0, vmStateBytes: 0 };
    try {
      const f = this.#snapshots.read();
      value = { count: f.snapshots.length, vmStateBytes: f.snapshots.reduce((n, x) => n + (x.vmStateBytes ?? 0), 0) };
    } catch {
      // unreadable records count as none; `vmdesk snapshot list` says why
    }
    this.#snapshotCountCache = { key, value };
    return value;
  }

  /** Tells every window about the snapshots as they are now (and the summary's count); returns them. */
  #snapshotsChanged(): SnapshotInfo[] {
    const snapshots = snapshotInfos(this.#snapshots.read());
    this.ctx.events.emit('snapshot.changed', { vm: this.id, snapshots });
    this.#emit();
    return snapshots;
  }

  /**
   * Changes the VM's settings (vm.update). Refused when `revision` is not the file's current one
   * (another window or an editor changed it meanwhile). A running VM is not touched: the summary's
   * `pending` says what its next start changes. `others`: the other VMs' definitions (names).
   */
  async update(p: CallParams<'vm.update'>, others: () => readonly VmDefinition[]): Promise<VmSummary> {
    return this.job.run('change settings', async () => {
      const def = this.#usable();
      if (p.revision !== undefined && p.revision !== this.#stamp)
        throw new VmdeskError(
          'invalid-state',
          `"${def.name}" was changed since you opened it (in another window or in its file). Look at it again and make your change once more.`,
          { field: 'revision' },
        );
      const { vm: _vm, revision: _revision, ...change } = p;
      let next = applySettings(def, change, others(), this.ctx.host);
      if (next === def) return this.summary();
      if (
        next.firmware === 'uefi' &&
        (next.secureBoot !== def.secureBoot || !(next.nvram && fs.existsSync(next.nvram)))
      ) {
        // Secure Boot has its own store (keys enrolled), the plain one is kept for switching
        // back; a store that does not exist yet is a fresh copy of the firmware's template
        // (UEFI then forgets any boot entries an earlier one had).
        const nvram = await variableStore(this.ctx, next);
        next = { ...next, nvram };
      }
      const what = [
        ...(next.name !== def.name ? [`Name: ${def.name} → ${next.name}`] : []),
        ...settingsDiff(def, next),
        ...autostartDiff(def, next),
      ];
      const done = this.#saveDefinition(() => next, `settings changed: ${what.join('; ')}`);
      const notice = next.memoryMiB !== def.memoryMiB ? memoryNotice(next.memoryMiB, this.ctx.host) : undefined;
      return notice ? { ...done, notice } : done;
    });
  }

  /**
   * Adds a port forward (vm.addForward): checked against this VM's forwards and every other VM's
   * (as define does), and on a running VM against what listens now; then QEMU's user network
   * listens at once (HMP `hostfwd_add`, the only interface QEMU has for it) and it is stored.
   */
  async addForward(f: CallParams<'vm.addForward'>['forward'], registry: ReadonlyMap<string, VmInstance>) {
    const forward: PortForward = { ...f, hostAddr: f.hostAddr ?? '127.0.0.1' };
    const peers = [...registry.values()].filter((o) => o !== this);
    return this.job.run('add a port forward', async () => {
      const def = this.#usable();
      if (def.network.mode === 'none')
        throw new VmdeskError('invalid-state', `"${def.name}" has no network, so nothing can be forwarded to it.`);
      const forwards = [...def.network.forwards, forward];
      if (forwards.length > MAX_FORWARDS)
        throw new VmdeskError('invalid-argument', `A VM can have at most ${MAX_FORWARDS} port forwards.`, {
          field: 'forward',
        });
      const own = forwardsProblem(forwards);
      if (own) throw new VmdeskError('invalid-argument', own, { field: 'forward' });
      const other = peers.find((o) => o.definition?.network.forwards.some((g) => forwardsOverlap(forward, g)));
      if (other)
        throw new VmdeskError(
          'invalid-argument',
          `Host port ${forwardLabel(forward)} is already forwarded by the VM "${other.name}" (0.0.0.0 covers every address). Pick another host port.`,
          { field: 'forward' },
        );
      const qmp = this.#run?.qmp;
      if (qmp && this.#run && !this.#run.finished) {
        const probe = { name: def.name, network: { mode: def.network.mode, forwards: [forward] } };
        await assertForwardsFree(probe, forwardsOf(peers.map((o) => o.peerView)));
        await hmp(
          qmp,
          `hostfwd_add net0 ${forward.proto}:${forward.hostAddr}:${forward.hostPort}-:${forward.guestPort}`,
        );
        this.#runForwards = [...(this.#runForwards ?? activeForwards(this.#runDef)), forward];
      }
      return this.#saveDefinition(
        (d) => ({ ...d, network: { ...d.network, forwards: [...d.network.forwards, forward] } }),
        `port forward added: ${forwardLabel(forward)} → guest ${forward.guestPort}${qmp ? ' (listening now)' : ''}`,
      );
    });
  }

  /** Removes the forward on a host socket (vm.removeForward); a running VM stops listening there. */
  async removeForward(p: Omit<CallParams<'vm.removeForward'>, 'vm'>): Promise<VmSummary> {
    const key = { proto: p.proto, hostAddr: p.hostAddr ?? '127.0.0.1', hostPort: p.hostPort };
    return this.job.run('remove a port forward', async () => {
      const def = this.#usable();
      const found = def.network.forwards.find(
        (f) => f.proto === key.proto && f.hostAddr === key.hostAddr && f.hostPort === key.hostPort,
      );
      if (!found)
        throw new VmdeskError(
          'not-found',
          `"${def.name}" forwards nothing on ${forwardLabel(key)}. \`vmdesk forward list ${def.name}\` shows its forwards.`,
          { field: 'forward' },
        );
      const qmp = this.#run?.qmp;
      const listening = (this.#runForwards ?? activeForwards(this.#runDef)).some((f) => forwardsOverlap(f, key));
      if (qmp && this.#run && !this.#run.finished && listening) {
        await hmp(
          qmp,
          `hostfwd_remove net0 ${key.proto}:${key.hostAddr}:${key.hostPort}`,
          /^host forwarding rule for .* removed$/,
        );
        this.#runForwards = (this.#runForwards ?? activeForwards(this.#runDef)).filter((f) => !forwardsOverlap(f, key));
      }
      return this.#saveDefinition(
        (d) => ({ ...d, network: { ...d.network, forwards: d.network.forwards.filter((f) => f !== found) } }),
        `port forward removed: ${forwardLabel(key)}`,
      );
    });
  }

  /** The host USB devices this VM's QEMU has or waits for: a peer's attach must not take them. */
  get usbInUse(): readonly AttachedUsb[] {
    return this.#run ? this.#runUsb : [];
  }

  /**
   * Plugs a host USB device in (vm.usbAttach): into the running or paused QEMU (usb-host on its
   * xHCI controller), and with `persist` into the definition (vendor:product) as well. A VM that
   * is off takes only `persist`. `registry`: every VM of this driver (a device has one VM at a time).
   */
  async usbAttach(
    p: Omit<CallParams<'vm.usbAttach'>, 'vm'>,
    registry: ReadonlyMap<string, VmInstance>,
  ): Promise<VmSummary> {
    return this.job.run('attach a USB device', async () => {
      const def = this.#usable();
      const match = parseUsbSelector(p.device);
      const qmp = this.#liveQmp();
      assertUsbBus(qmp && this.#runDef ? this.#runDef : def);
      if (!qmp) {
        if (!p.persist)
          throw new VmdeskError(
            'invalid-state',
            `"${def.name}" is ${this.#state}, so no USB device can be plugged into it now. Start it first, or keep the device in its definition for its next start: vmdesk usb attach "${def.name}" ${p.device} --persist.`,
            { state: this.#state },
          );
        return this.#persistUsb(await this.#usbIds(match, p.device), true);
      }
      const dev = onlyUsbDevice(findHostUsb(await this.ctx.usbDevices(), match), p.device, def.name);
      const takes = (u: AttachedUsb) => u.match !== undefined && findHostUsb([dev], u.match).length > 0;
      for (const o of registry.values()) {
        const theirs = o === this ? undefined : o.usbInUse.find(takes);
        if (theirs)
          throw new VmdeskError(
            'invalid-state',
            `The USB device ${p.device} (${dev.name}) is plugged into the VM "${o.name}" (as ${theirs.id}); a device can be in one VM at a time. Detach it there first: vmdesk usb detach "${o.name}" ${theirs.id}.`,
            { vm: o.id, id: theirs.id },
          );
      }
      const attached = await listAttachedUsb(qmp);
      const mine = attached.find(takes);
      if (mine)
        throw new VmdeskError(
          'invalid-state',
          `"${def.name}" has the USB device ${p.device} (${dev.name}) already, as ${mine.id}${mine.attached ? '' : ', waiting for QEMU to take it'}. To plug it in again, detach it first: vmdesk usb detach "${def.name}" ${mine.id}.`,
          { id: mine.id },
        );
      const id = nextUsbHostId(attached.map((u) => u.id));
      const r = await attachUsb(qmp, { id, match, host: dev });
      await this.#readUsb(qmp);
      this.log.write(
        `USB device ${p.device} (${dev.name}) plugged in as ${id}${r.attached ? '' : ' (QEMU takes it when the VM runs)'}`,
      );
      if (p.persist) return this.#persistUsb({ vendorId: dev.vendorId, productId: dev.productId }, true);
      this.#emit();
      return this.summary();
    });
  }

  /**
   * Unplugs a host USB device (vm.usbDetach) named by its selector or its id in the VM (usb1) from
   * the running QEMU, and with `persist` takes it out of the definition as well (a VM that is off:
   * only that).
   */
  async usbDetach(p: Omit<CallParams<'vm.usbDetach'>, 'vm'>): Promise<VmSummary> {
    const byId = /^usb\d+$/.test(p.device);
    return this.job.run('detach a USB device', async () => {
      const def = this.#usable();
      const qmp = this.#liveQmp();
      if (!qmp) {
        if (!p.persist)
          throw new VmdeskError(
            'invalid-state',
            `"${def.name}" is ${this.#state}, so no USB device is plugged into it. To take ${p.device} out of its definition: vmdesk usb detach "${def.name}" ${p.device} --persist.`,
            { state: this.#state },
          );
        const listed = (def.usb ?? []).map((u) => `${u.vendorId}:${u.productId}`);
        if (byId)
          throw new VmdeskError(
            'invalid-argument',
            `"${def.name}" is not running, so its USB devices have no ids; name the device as its definition does (${listed.join(', ') || 'it has none'}).`,
          );
        const ids = await this.#usbIds(parseUsbSelector(p.device), p.device);
        if (!listed.includes(`${ids.vendorId}:${ids.productId}`))
          throw new VmdeskError(
            'not-found',
            `"${def.name}" does not plug in ${ids.vendorId}:${ids.productId} at its start; it plugs in ${listed.join(', ') || 'no USB device'}.`,
          );
        return this.#persistUsb(ids, false);
      }
      const attached = await listAttachedUsb(qmp);
      let host: UsbDevice[] = [];
      let hits: AttachedUsb[];
      if (byId) hits = attached.filter((u) => u.id === p.device);
      else {
        const match = parseUsbSelector(p.device);
        host = findHostUsb(await this.ctx.usbDevices(), match);
        const sel = usbSelectorOf(match);
        hits = attached.filter(
          (u) =>
            u.match !== undefined &&
            (usbSelectorOf(u.match) === sel || host.some((d) => findHostUsb([d], u.match!).length > 0)),
        );
      }
      const has = attached.map((u) => `${u.id} (${u.match ? usbSelectorOf(u.match) : '?'})`).join(', ');
      if (hits.length === 0)
        throw new VmdeskError(
          'not-found',
          `"${def.name}" has no host USB device ${p.device}; it has ${has || 'none'}.`,
          { id: p.device },
        );
      if (hits.length > 1)
        throw new VmdeskError(
          'invalid-argument',
          `${p.device} names ${hits.length} USB devices of "${def.name}" (${has}): name one by its id, like vmdesk usb detach "${def.name}" ${hits[0]!.id}.`,
        );
      const hit = hits[0]!;
      await detachUsb(qmp, hit.id);
      const name = this.#runUsbNames.get(hit.id);
      await this.#readUsb(qmp);
      this.log.write(`USB device ${hit.id}${name ? ` (${name})` : ''} unplugged`);
      if (p.persist) {
        const ids =
          hit.match?.kind === 'vendor'
            ? hit.match
            : hit.match && findHostUsb(host.length ? host : await this.ctx.usbDevices(), hit.match)[0];
        if (ids) return this.#persistUsb({ vendorId: ids.vendorId, productId: ids.productId }, false);
      }
      this.#emit();
      return this.summary();
    });
  }

  /**
   * Changes the VM's mediated devices: `change` gets the current list (from the definition as it
   * is on disk now) and returns the new one. Only while the VM is off: QEMU's devices are fixed
   * at spawn. Nothing on the host changes here.
   */
  async updateMdevs(
    change: (current: readonly MdevAssignment[], vm: { id: string; name: string }) => MdevAssignment[],
  ): Promise<VmSummary> {
    return this.job.run('change vGPUs', () => {
      const def = this.#usable();
      if (this.#run || (this.#state !== 'stopped' && this.#state !== 'crashed')) {
        throw new VmdeskError(
          'invalid-state',
          `"${def.name}" is ${this.#state}; shut it down before changing its mediated devices.`,
          { state: this.#state },
        );
      }
      let summary = '';
      const result = this.#saveDefinition(
        (fresh) => {
          const mdevs = change(fresh.mdevs ?? [], { id: fresh.id, name: fresh.name }).map((m) => ({
            ...m,
            uuid: m.uuid.toLowerCase(),
          }));
          const uuids = mdevs.map((m) => m.uuid);
          const dup = uuids.find((u, i) => uuids.indexOf(u) !== i);
          if (dup)
            throw new VmdeskError(
              'invalid-argument',
              `${dup} is already assigned to "${fresh.name}"; a mediated device can be assigned to a VM once.`,
              { field: 'uuid' },
            );
          if (mdevs.length > MAX_MDEVS)
            throw new VmdeskError(
              'invalid-argument',
              `"${fresh.name}" already has ${fresh.mdevs?.length ?? 0} mediated devices; a VM can have at most ${MAX_MDEVS}. Unassign one first.`,
              { field: 'uuid' },
            );
          summary = mdevs.length ? mdevs.map((m) => `${m.uuid} (${m.type} on ${m.parent})`).join(', ') : 'none';
          return { ...fresh, mdevs };
        },
        () => `mediated devices: ${summary}`,
      );
      return result;
    });
  }

  /**
   * Removes the VM's files, its definition last, behind an intent a later driver finishes if this
   * one dies mid-way, and says what it removed and what it kept. Refused while QEMU runs. A
   * definition that cannot be read is deleted too (with the VM's own dirs: its data dir holds
   * only what vmdesk made, and a disk elsewhere is never vmdesk's to delete). After it the
   * instance answers nothing.
   */
  async remove(keepDisksAsked?: boolean): Promise<Omit<CallResults['vm.delete'], 'id'>> {
    return this.job.run('delete', () => {
      if (this.#deleted) throw new VmdeskError('not-found', `"${this.name}" was deleted.`, { vm: this.id });
      this.refresh();
      const name = this.name;
      this.#assertNoUntouchedQemu(name);
      if (this.#run) {
        throw new VmdeskError(
          'invalid-state',
          `"${name}" is ${this.#state}. Shut it down or force it off before deleting it.`,
          { state: this.#state },
        );
      }
      // The definition as vmdesk last read it is not trusted once the file broke: the disk list
      // only names what is kept, and a broken VM's data dir goes whole (or stays whole).
      const def = this.#brokenReason ? undefined : this.#def;
      if (!isUuid(this.id)) {
        // Not a file vmdesk wrote (every VM it defines has a UUID), so it made no dirs for it.
        const removed = fs.existsSync(this.file) ? [this.file] : [];
        removePath(this.file, { paths: this.ctx.paths });
        this.#deleted = true;
        return { removed, kept: [] };
      }
      // A broken VM's disks cannot be listed: its data folder goes only when asked for.
      const keepDisks = keepDisksAsked ?? this.#brokenReason !== undefined;
      // The folder its files are in (a VM folder of Preferences), also for a VM broken since.
      const ownFolder =
        this.files.dataDir === defaultDataDir(this.ctx.paths, this.id) ? {} : { dataDir: this.files.dataDir };
      const machineState = def ? ownMachineState(this.ctx.paths, this.id, this.files.dataDir) : [];
      const plan = deletePlan(this.files, def, keepDisks, machineState);
      if (keepDisksAsked === undefined && this.#brokenReason && plan.kept.includes(this.files.dataDir))
        plan.note = `The VM's file could not be read, so vmdesk cannot tell which of the files in ${this.files.dataDir} are its disks: the folder is kept. Remove it yourself if you do not need it${this.files.dataDir === defaultDataDir(this.ctx.paths, this.id) ? ' (`vmdesk list` shows it as belonging to no VM)' : ''}.`;
      const intent = {
        op: 'delete' as const,
        id: this.id,
        at: new Date().toISOString(),
        ...ownFolder,
        keepDisks,
        nvram: def?.nvram ?? null,
        machineState,
      };
      writeIntent(this.ctx.paths, intent);
      try {
        removeVmFiles(this.ctx.paths, intent);
      } catch (err) {
        // This driver lives on and the definition may still be there: do not let a later takeover
        // finish a delete the user was told failed.
        if (fs.existsSync(this.file)) clearIntent(this.ctx.paths, this.id);
        // A storage error (full disk, read-only mount) keeps its code and its advice.
        const code = err instanceof VmdeskError ? err.code : 'internal';
        const details = err instanceof VmdeskError ? err.details : undefined;
        throw new VmdeskError(code, `Deleting "${name}" failed part-way: ${(err as Error).message}`, details, {
          cause: err,
        });
      }
      clearIntent(this.ctx.paths, this.id);
      this.#deleted = true;
      return plan;
    });
  }

  /** The console hub of a running VM (the CLI and the UI attach viewers to it). */
  serialHub() {
    const serial = this.#run?.serial;
    if (!serial || !this.#hasConsoles()) {
      throw new VmdeskError(
        'invalid-state',
        `"${this.name}" is ${this.#state}; its console is available while it runs.`,
        { state: this.#state },
      );
    }
    return serial;
  }

  /** The VNC socket of a running VM with a display (the graphical console proxies to it). */
  vncSocket(): string {
    const rec = this.#run?.record;
    if (!rec || !this.#hasConsoles()) {
      throw new VmdeskError(
        'invalid-state',
        `"${this.name}" is ${this.#state}; its screen is available while it runs.`,
        { state: this.#state },
      );
    }
    if (this.#def?.display === 'none') throw new VmdeskError('unsupported', `"${this.name}" has no display.`);
    return rec.vncSocket;
  }

  /** Stops listening and closes connections; QEMU keeps running (the next driver adopts it). */
  detach(): void {
    this.job.cancelAll('vmdesk is quitting.');
    this.#guest?.close();
    clearTimeout(this.#shutdownDeadline);
    clearTimeout(this.#agentShutdown);
    this.#run?.detach();
  }

  // ——— inside ———

  /** The QMP client of a QEMU that runs or is paused (devices can be plugged in), else undefined. */
  #liveQmp(): UsbQmp | undefined {
    const run = this.#run;
    const qmp = run?.qmp;
    if (!run || run.finished || !qmp || qmp.state !== 'running') return undefined;
    return this.#state === 'running' || this.#state === 'paused' ? qmp : undefined;
  }

  /** Reads the run's usb-host devices from QEMU, with the names of the host devices they take. */
  async #readUsb(qmp: UsbQmp): Promise<void> {
    const attached = await listAttachedUsb(qmp);
    const host = attached.length > 0 ? await this.ctx.usbDevices().catch(() => []) : [];
    this.#runUsb = attached;
    this.#runUsbNames = new Map(
      attached.flatMap((u) => {
        const dev = u.match ? findHostUsb(host, u.match)[0] : undefined;
        return dev ? [[u.id, dev.name] as const] : [];
      }),
    );
  }

  /** The vendor:product a selector names: its own, or that of the device at the port. */
  async #usbIds(match: UsbHostMatch, selector: string): Promise<{ vendorId: string; productId: string }> {
    if (match.kind === 'vendor') return match;
    const dev = onlyUsbDevice(findHostUsb(await this.ctx.usbDevices(), match), selector, this.name);
    return { vendorId: dev.vendorId, productId: dev.productId };
  }

  /** Adds or drops vendor:product in the definition's USB list (and in the run's, which QEMU has now). */
  #persistUsb(ids: { vendorId: string; productId: string }, add: boolean): VmSummary {
    const key = `${ids.vendorId}:${ids.productId}`;
    const same = (u: { vendorId: string; productId: string }) => `${u.vendorId}:${u.productId}` === key;
    const change = (list: readonly { vendorId: string; productId: string }[]) =>
      add
        ? list.some(same)
          ? [...list]
          : [...list, { vendorId: ids.vendorId, productId: ids.productId }]
        : list.filter((u) => !same(u));
    const def = this.#usable();
    const list = def.usb ?? [];
    if (add && !list.some(same) && list.length >= MAX_USB)
      throw new VmdeskError(
        'invalid-argument',
        `"${def.name}" plugs in ${list.length} USB devices at its start, as many as a VM can have. Detach one first: vmdesk usb detach "${def.name}" VENDOR:PRODUCT --persist.`,
        { field: 'usb' },
      );
    if (add === list.some(same)) {
      this.#emit();
      return this.summary();
    }
    if (this.#run && this.#runDef) this.#runDef = { ...this.#runDef, usb: change(this.#runDef.usb ?? []) };
    return this.#saveDefinition(
      (d) => ({ ...d, usb: change(d.usb ?? []) }),
      `USB device ${key} ${add ? 'added to' : 'taken out of'} the definition`,
    );
  }

  /** Refuses while a QEMU this driver left alone (see #untouchedQemu) still runs. */
  #assertNoUntouchedQemu(name: string): void {
    const pid = this.#untouchedQemu;
    if (pid === undefined) return;
    if (!this.ctx.launcher.isOurQemu(pid, this.id)) {
      this.#untouchedQemu = undefined;
      return;
    }
    throw new VmdeskError(
      'invalid-state',
      `"${name}" still has the QEMU process (pid ${pid}) that ran while its file was unreadable. Restart vmdesk to take it over, then shut it down or force it off.`,
      { pid },
    );
  }

  #hasConsoles(): boolean {
    return this.#state === 'running' || this.#state === 'paused' || this.#state === 'stopping';
  }

  #runContext(): RunContext {
    const { launcher, tuning } = this.ctx;
    return {
      launcher,
      files: this.files,
      log: this.log,
      logCapBytes: tuning.logCapBytes,
      rungTimeoutMs: tuning.rungTimeoutMs,
    };
  }

  /**
   * Its files follow the definition's data folder (a VM read while its file was broken, then
   * repaired; a dataDir edited by hand), but never under a running QEMU: its TPM and snapshots
   * stay where that QEMU has them until it ends.
   */
  #syncFiles(): void {
    if (this.#run || !this.#def) return;
    const next = vmFiles(this.ctx.paths, this.id, this.#def.dataDir);
    if (next.dataDir === this.#files.dataDir) return;
    this.log.write(`its data folder is now ${next.dataDir} (was ${this.#files.dataDir})`);
    this.#files = next;
    this.#snapshots = new SnapshotStore(next.dataDir);
    this.#snapshotCountCache = undefined;
  }

  #lastRun(): string | null {
    if (this.#lastRunAt === undefined) {
      let text = '';
      try {
        text = fs.readFileSync(this.files.lastRun, 'utf8').trim();
      } catch {
        // never ran here (or its logs were removed): no time
      }
      this.#lastRunAt = Number.isFinite(Date.parse(text)) ? text : null;
    }
    return this.#lastRunAt;
  }

  /** Keeps when this run ended, for the list's "last used" order; losing it loses only that. */
  #noteRunEnded(): void {
    const at = new Date().toISOString();
    this.#lastRunAt = at;
    try {
      fs.writeFileSync(this.files.lastRun, at + '\n', { mode: 0o600 });
    } catch (e) {
      this.log.write(`could not note when the VM stopped in ${this.files.lastRun}: ${(e as Error).message}`);
    }
  }

  /** Takes `run` as this VM's QEMU: its QMP events and its end drive the state from now on. */
  #own(run: QemuRun): void {
    this.#run = run;
    this.#runDef = this.#def;
    const guest = new GuestWatch(
      this.files.qgaSocket,
      () => {
        if (this.#guest === guest) this.#emit();
      },
      (line) => this.log.write(line),
    );
    this.#guest = guest;
    run.qmp?.onEvent((e) => {
      if (this.#run !== run) return;
      guest.onQmpEvent(e);
      if (e.event === 'STOP' && this.#state === 'running') this.#transition('paused');
      else if (e.event === 'RESUME' && this.#state === 'paused') this.#transition('running');
      else if (e.event === 'SHUTDOWN') {
        // QEMU exits right after (no -no-shutdown): the exit is expected, whoever asked.
        run.expectingExit = true;
        if (this.#state !== 'stopping' && this.#state !== 'starting') this.#transition('stopping');
      }
    });
    void run.ended.then((verdict) =>
      this.#guarded('the end of QEMU', () => {
        guest.close();
        if (this.#run !== run) return;
        this.#run = undefined;
        this.#guest = undefined;
        this.#runDef = undefined;
        this.#sandbox = undefined;
        this.#runShares = [];
        this.#runUsb = [];
        this.#runUsbNames.clear();
        clearTimeout(this.#shutdownDeadline);
        clearTimeout(this.#agentShutdown);
        this.#noteRunEnded();
        this.#syncFiles();
        this.#settle(verdict);
      }),
    );
    void run.lostControl.then((reason) =>
      this.#guarded('a lost control socket', () => {
        // While we end it (stopping) the forcing ladder deals with an unresponsive QEMU.
        if (this.#run === run && !run.finished && (this.#state === 'running' || this.#state === 'paused'))
          this.#transition('crashed', reason);
      }),
    );
  }

  /** What QEMU's events and end do runs outside any caller: a bug there is logged, never thrown
   * into the void (an unhandled rejection ends the driver). */
  #guarded(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.write(`internal error while handling ${what}: ${(err as Error).stack ?? String(err)}`);
    }
  }

  #settle(verdict: ExitVerdict): void {
    const endReason = this.#endReason;
    this.#endReason = undefined;
    if (this.#state === 'stopping') {
      // An end we asked for (or the guest announced) is stopped, whatever QEMU died of on the way.
      this.#transition('stopped', endReason);
    } else {
      this.#transition(verdict.state, verdict.reason ?? endReason, verdict.logTail);
    }
    // Its file broke while it ran: now that it is off, that is what the user must see and fix.
    if (this.#brokenReason) this.#transition('broken', this.#brokenReason);
  }

  /** The definition, when the VM can be used at all; throws vm-broken or not-found otherwise. */
  #usable(): VmDefinition {
    if (this.#deleted) throw new VmdeskError('not-found', `"${this.name}" was deleted.`, { vm: this.id });
    this.refresh();
    if (!this.#def || this.#brokenReason)
      throw new VmdeskError('vm-broken', `The VM file ${this.file} cannot be used: ${this.#brokenReason}`, {
        file: this.file,
      });
    return this.#def;
  }

  /**
   * A changed definition: `change` runs on the file's current content (re-read when it changed
   * on disk), then on disk first, in memory, the driver log, and every window.
   */
  #saveDefinition(change: (fresh: VmDefinition) => VmDefinition, logLine: string | (() => string)): VmSummary {
    const updated = change(this.#usable());
    this.#stamp = this.ctx.store.save(updated);
    this.#def = updated;
    this.log.write(typeof logLine === 'string' ? logLine : logLine());
    this.#emit();
    return this.summary();
  }

  #transition(to: VmState, reason?: string, logTail?: string[]): void {
    assertTransition(this.#state, to, this.name);
    const changed = this.#state !== to || this.#reason !== reason;
    this.#state = to;
    this.#reason = reason;
    if (logTail !== undefined || to !== 'crashed') this.#logTail = logTail;
    if (changed) {
      this.log.write(`state ${to}${reason ? `: ${reason}` : ''}`);
      this.#emit();
    }
  }

  #emit(): void {
    if (!this.#deleted) this.ctx.events.emit('vm.changed', this.summary());
  }
}

/** A start that failed before or while QEMU ran, in words that say what to do. */
function couldNotStart(err: unknown, name: string, files: VmFiles): VmdeskError {
  if (err instanceof VmdeskError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOSPC' || e.code === 'EDQUOT') {
    return new VmdeskError(
      'insufficient-resources',
      `"${name}" could not start: no space left to write its files (${e.message}). Free space where ${files.logDir} and ${files.runRecord} live, then start it again.`,
      { code: e.code },
      { cause: err },
    );
  }
  return new VmdeskError('qemu-failed', `"${name}" could not start: ${e.message}`, { code: e.code }, { cause: err });
}

/**
 * What `removeVmFiles` (intents.ts) will remove and what stays, in its order (definition last),
 * from what exists now. `def`: the VM's readable definition, undefined for a broken one.
 */
/**
 * Opens the tray and takes the disc out of the running QEMU's drive, and closes the ISO: the
 * disc it was started with is a named node (-blockdev cd0) that outlives its removal from the
 * drive until deleted; a disc inserted later is anonymous and goes with its removal.
 */
async function takeOutDisc(qmp: NonNullable<QemuRun['qmp']>, drive: number): Promise<void> {
  // force: the guest may have locked the tray (an installer that is reading the disc).
  await qmp.execute('blockdev-open-tray', { id: `cdrom${drive}`, force: true }).catch(() => undefined);
  await qmp.execute('blockdev-remove-medium', { id: `cdrom${drive}` });
  await qmp.execute('blockdev-del', { 'node-name': `cd${drive}` }).catch(() => undefined);
}

/**
 * The variable store of a UEFI VM with or without Secure Boot: the one it had for that, or a
 * private copy of the firmware's template (with keys enrolled for Secure Boot). Throws, naming the
 * package, when the host has no such firmware, before anything changes.
 */
async function variableStore(ctx: InstanceContext, def: VmDefinition): Promise<string> {
  const fw = await ctx.host.uefiFirmware(def.arch, { secureBoot: def.secureBoot });
  const nvram = nvramPath(vmFiles(ctx.paths, def.id, def.dataDir).dataDir, def.secureBoot);
  if (fs.existsSync(nvram)) return nvram;
  makePrivateDir(path.dirname(nvram), ctx.paths);
  withStorageErrors(nvram, () => fs.copyFileSync(fw.varsTemplate, nvram), ctx.paths);
  fs.chmodSync(nvram, 0o600);
  return nvram;
}

/** A VM without a display has no xHCI controller (argv.ts adds one with the display). */
function assertUsbBus(def: VmDefinition): void {
  if (def.display !== 'none') return;
  throw new VmdeskError(
    'unsupported',
    `"${def.name}" has no display, and so no USB controller to plug a device into. Give it one (vmdesk set "${def.name}" --display std) and start it again.`,
    { field: 'display' },
  );
}

/** The one host device a selector names; refuses none (not plugged in) and several (identical devices). */
function onlyUsbDevice(found: readonly UsbDevice[], selector: string, vm: string): UsbDevice {
  if (found.length === 0)
    throw new VmdeskError(
      'not-found',
      `No USB device ${selector} is plugged into this host. \`vmdesk usb list\` shows the devices it has.`,
      { device: selector },
    );
  if (found.length > 1)
    throw new VmdeskError(
      'invalid-argument',
      `${found.length} USB devices are ${selector} (at ports ${found.map((d) => d.port).join(', ')}): name one by its port, like vmdesk usb attach "${vm}" ${found[0]!.port}.`,
      { device: selector },
    );
  return found[0]!;
}

/** Refuses a CD-ROM drive number the VM does not have, saying which it has. */
function assertDrive(def: VmDefinition, drive: number): void {
  if (drive < def.cdroms.length) return;
  const has = def.cdroms.length;
  throw new VmdeskError(
    'invalid-argument',
    has === 0
      ? `"${def.name}" has no CD-ROM drive. Add one first: vmdesk set "${def.name}" --cdrom-drives 1.`
      : `"${def.name}" has ${has} CD-ROM drive${has === 1 ? '' : 's'} (numbered from 0), so there is no drive ${drive}.`,
    { field: 'drive' },
  );
}

function withDisc(cdroms: readonly (string | null)[], drive: number, iso: string | null): (string | null)[] {
  return cdroms.map((c, i) => (i === drive ? iso : c));
}

/**
 * A human-monitor command through QMP (`hostfwd_add` has no QMP command in QEMU 7.2). HMP answers
 * errors as text, not as a QMP error: output other than `success` is QEMU refusing, in its words.
 */
async function hmp(qmp: NonNullable<QemuRun['qmp']>, command: string, success?: RegExp): Promise<void> {
  const out = await qmp.execute('human-monitor-command', { 'command-line': command });
  const text = typeof out === 'string' ? out.trim() : '';
  if (text && !success?.test(text)) throw new VmdeskError('qemu-failed', `QEMU refused \`${command}\`: ${text}`);
}

/** The host ports the peers listen on (or claim for a start in flight), with the VM's name. */
function forwardsOf(peers: readonly PeerView[]): { vm: string; forward: PortForward }[] {
  return peers.flatMap((o) => o.forwardsInUse.map((forward) => ({ vm: o.name, forward })));
}

/** The host ports a VM's QEMU listens on: its forwards, unless it has no network. */
function activeForwards(def: VmDefinition | undefined): readonly PortForward[] {
  return def && def.network.mode !== 'none' ? def.network.forwards : [];
}

function deletePlan(
  files: VmFiles,
  def: VmDefinition | undefined,
  keepDisks: boolean,
  machineState: readonly string[],
): Omit<CallResults['vm.delete'], 'id'> {
  const removed: string[] = [];
  const kept: string[] = [];
  const exists = (p: string) => fs.existsSync(p);
  const inDataDir = (p: string) => p.startsWith(files.dataDir + path.sep);
  if (!keepDisks) {
    if (exists(files.dataDir)) {
      const inside = fs.readdirSync(files.dataDir).sort();
      removed.push(...inside.map((n) => path.join(files.dataDir, n)), files.dataDir);
    }
  } else if (def) {
    removed.push(...machineState);
  } else if (exists(files.dataDir)) {
    kept.push(files.dataDir);
  }
  for (const d of def?.disks ?? [])
    if (exists(d.path) && !removed.includes(d.path) && (keepDisks || !inDataDir(d.path))) kept.push(d.path);
  for (const p of [files.logDir, files.runRecord, files.definition]) if (exists(p)) removed.push(p);
  return { removed, kept };
}

/** Whether a QEMU an earlier driver started runs sandboxed, from its own command line. */
function adoptedSandbox(pid: number): QemuSandbox | undefined {
  const argv = readCmdline(pid);
  if (!argv?.length) return undefined;
  if (sandboxInArgv(argv)) return { on: true };
  return {
    on: false,
    reason: `QEMU (pid ${pid}) was started without -sandbox. Start the VM again with a QEMU built with seccomp to confine it.`,
  };
}

/** A QEMU launched during the first probe, on assumed capabilities, and the plan it ran. */
interface EarlyLaunch {
  launch: Launch;
  run: Promise<QemuRun>;
}

/** Two plans start the same QEMU: same binary, argv, accelerator (and its reason), helpers, shares. */
function sameLaunch(a: Launch, b: Launch): boolean {
  const comparable = (l: Launch) => JSON.stringify({ ...l, caps: l.caps.binary });
  return comparable(a) === comparable(b);
}
