/**
 * Everything a start does before spawning QEMU, in two steps. `planLaunch`: the host's answers
 * (caps, accelerator, firmware), the checks, the mdev doctor for VMs with vGPUs, and the argv;
 * nothing is made or started, so a first start may plan twice (on assumed caps, then on the
 * probed ones). `prepareRunFiles`: a fresh runtime dir, log markers, the TPM state. Both throw
 * with the user's words.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { hostAudio } from '../host/audio.js';
import { portOwner } from '../host/port-owner.js';
import { VmdeskError } from '../common/errors.js';
import {
  forwardLabel,
  forwardsOverlap,
  forwardsProblem,
  type PortForward,
  type VmDefinition,
} from '../common/vm-types.js';
import type { Accel, QemuCaps } from '../common/host-types.js';
import { prepareMdevStart } from '../mdev/start.js';
import type { OtherVm } from '../mdev/doctor.js';
import { ensureRuntimeDir, type AppPaths } from '../paths/app-paths.js';
import { makePrivateDir, removePath, withStorageErrors } from '../paths/storage-errors.js';
import { assertSocketPathFits, shareFiles, type VmFiles } from '../paths/vm-files.js';
import type { HelperRecord } from './helper-process.js';
import { planShares, virtiofsdHelper, type SharePlan } from './shares.js';
import { prepareTpmState, swtpmHelper } from './swtpm.js';
import { buildQemuArgv } from '../qemu/argv.js';
import { getNative } from '../../native/index.js';
import { startMarker } from './exit-reason.js';
import type { LaunchHost } from './host-services.js';
import { capLogFile } from './log-cap.js';

export interface LaunchContext {
  paths: AppPaths;
  /** The real host, or during a driver's first probe the provisional one (assumed QEMU caps). */
  host: LaunchHost;
  /** The other VMs as they are now (the mdev doctor checks that no running one uses our devices). */
  others(): readonly OtherVm[];
}

export interface Launch {
  caps: QemuCaps;
  accel: { accel: Accel; reason: string };
  argv: string[];
  /** The processes to start before QEMU (swtpm, one virtiofsd per virtio-fs share), in order. */
  helpers: { binary: string; argv: string[]; record: HelperRecord; logFile: string }[];
  /** How each shared folder is served. */
  shares: SharePlan[];
  /** Where a VM with sound plays it, as "plays through …" (for the log). */
  audio?: string;
}

/** The host's answers, the checks and the argv of a start of `def`. Makes nothing (a VM with
 * vGPUs has its memlock soft limit raised, which a second plan does again harmlessly). The host ports
 * it forwards are the caller's to check (assertForwardsFree): a QEMU launched on a first plan
 * already listens on them when the second is made. */
export async function planLaunch(def: VmDefinition, files: VmFiles, ctx: LaunchContext): Promise<Launch> {
  const caps = await ctx.host.qemuCaps(def.arch);
  const accel = await ctx.host.chooseAccel(def.accel, caps);
  const uefi =
    def.firmware === 'uefi' || def.arch === 'aarch64'
      ? await ctx.host.uefiFirmware(def.arch, { secureBoot: def.secureBoot })
      : undefined;
  // Before anything else is made: a TPM VM on a host without swtpm is refused naming the package.
  const swtpm = def.tpm ? await ctx.host.swtpm() : undefined;
  for (const s of def.shares ?? [])
    if (!fs.statSync(s.path, { throwIfNoEntry: false })?.isDirectory())
      throw new VmdeskError(
        'invalid-argument',
        `The shared folder ${s.path} (tag ${s.tag}) of "${def.name}" is not a directory any more. Put it back, or remove the share: vmdesk set "${def.name}" --share none.`,
        { field: 'shares' },
      );
  const audio = def.sound ? hostAudio(process.env, process.platform) : undefined;
  const virtiofsd = def.shares?.length ? await ctx.host.virtiofsd() : { path: null };
  const shares = planShares(def.shares ?? [], virtiofsd, process.getuid?.() === 0);
  const helpers: Launch['helpers'] = [];
  if (swtpm) helpers.push({ binary: swtpm, ...swtpmHelper(files) });
  shares.forEach((p, i) => {
    if (p.mode === 'virtiofs' && virtiofsd.path && virtiofsd.flavour)
      helpers.push({
        binary: virtiofsd.path,
        ...virtiofsdHelper(files, p.share, i, { path: virtiofsd.path, flavour: virtiofsd.flavour }),
      });
  });
  const sockets = [files.qmpSocket, files.serialSocket, files.vncSocket, files.qgaSocket];
  for (const s of [...sockets, ...helpers.map((h) => h.record.socket)]) assertSocketPathFits(s, ctx.paths.platform);
  for (const d of def.disks)
    if (!fs.existsSync(d.path))
      throw new VmdeskError(
        'invalid-argument',
        `The disk ${d.path} of "${def.name}" is missing. Restore it or delete the VM.`,
      );
  for (const iso of def.cdroms)
    if (iso && !fs.existsSync(iso))
      throw new VmdeskError('invalid-argument', `The ISO ${iso} of "${def.name}" is missing. Put it back or eject it.`);

  // A VM with vGPUs: the mdev doctor runs first and stops the start with its own words (and
  // fixes) instead of QEMU's VFIO errors; it also raises the memlock soft limit.
  const mdevPlan = def.mdevs?.length ? await prepareMdevStart(def, caps, ctx.others(), { native: getNative() }) : {};
  const argv = buildQemuArgv(def, caps, files, {
    accel: accel.accel,
    uefi: uefi && def.nvram ? { code: uefi.code, vars: def.nvram, smm: uefi.smm } : undefined,
    ...(mdevPlan.renderNode ? { mdevRenderNode: mdevPlan.renderNode } : {}),
    shares: shares.map((p, i) => ({ ...p.share, mode: p.mode, socket: shareFiles(files, i).socket })),
    ...(audio ? { audio } : {}),
  });
  return { caps, accel, argv, helpers, shares, ...(audio ? { audio: audio.reason } : {}) };
}

/**
 * The files of a run, made fresh: the runtime dir (emptied of an earlier run's sockets), the log
 * dir, the logs capped, a start marker in the QEMU and serial logs (so a later driver replays and
 * reports only this run's output), and the TPM state of a VM with a TPM.
 */
export function prepareRunFiles(
  def: VmDefinition,
  files: VmFiles,
  launch: Pick<Launch, 'helpers'>,
  ctx: { paths: AppPaths; logCapBytes: number },
): void {
  ensureRuntimeDir(ctx.paths.runtime, process.getuid?.() ?? 0);
  removePath(files.runtimeDir, { recursive: true, paths: ctx.paths });
  withStorageErrors(files.runtimeDir, () => fs.mkdirSync(files.runtimeDir, { mode: 0o700 }), ctx.paths);
  makePrivateDir(files.logDir, ctx.paths);
  capLogFile(files.qemuLog, ctx.logCapBytes);
  capLogFile(files.serialLog, ctx.logCapBytes);
  for (const h of launch.helpers) capLogFile(h.logFile, ctx.logCapBytes);
  if (def.tpm) prepareTpmState(files, ctx.paths);
  const marker = startMarker(new Date());
  withStorageErrors(files.qemuLog, () => fs.appendFileSync(files.qemuLog, marker, { mode: 0o600 }), ctx.paths);
  // The same marker in the serial log lets a later driver replay only this run's output.
  withStorageErrors(files.serialLog, () => fs.appendFileSync(files.serialLog, marker, { mode: 0o600 }), ctx.paths);
}

/**
 * Every host port the VM forwards can be listened on now: not by a running VM (named), not by
 * another program, not a port this user may not open. Otherwise QEMU would fail with its own
 * words ("Could not set up host forwarding rule"). A probe binds and closes each port; something
 * may still take it in the moment before QEMU does, and then QEMU's words are what the user gets.
 */
export async function assertForwardsFree(
  def: Pick<VmDefinition, 'name' | 'network'>,
  inUse: readonly { vm: string; forward: PortForward }[],
): Promise<void> {
  if (def.network.mode === 'none') return;
  assertForwardsUnclaimed(def, inUse);
  for (const f of def.network.forwards) {
    const code = await probeListen(f);
    if (code === 'EADDRINUSE') {
      const owner = portOwner(f.proto, f.hostPort);
      throw new VmdeskError(
        'invalid-state',
        owner
          ? `Host port ${forwardLabel(f)} is in use by another program (${owner.command}, pid ${owner.pid}). Stop it, or give "${def.name}" another host port.`
          : `Host port ${forwardLabel(f)} is in use by another program. Stop it (see \`ss -ltnup | grep :${f.hostPort}\`), or give "${def.name}" another host port.`,
        { field: 'forward', ...(owner ? { pid: owner.pid } : {}) },
      );
    }
    if (code === 'EACCES')
      throw new VmdeskError(
        'invalid-argument',
        `Host port ${forwardLabel(f)} is below 1024, which only root may listen on. Forward a port from 1024 up instead (e.g. 2222 for SSH).`,
        { field: 'forward' },
      );
    if (code === 'EADDRNOTAVAIL')
      throw new VmdeskError(
        'invalid-argument',
        `Host address ${f.hostAddr} of the forward ${forwardLabel(f)} is not an address of this computer. Use 127.0.0.1, 0.0.0.0 or one of this computer's addresses.`,
        { field: 'forward' },
      );
  }
}

/**
 * The part of assertForwardsFree that needs no waiting: two forwards of this VM on one host
 * socket, or one that a running VM (or one whose start is in flight) listens on. A start runs it
 * before claiming its own ports, in the same tick, so two VMs starting at once cannot both pass.
 */
export function assertForwardsUnclaimed(
  def: Pick<VmDefinition, 'name' | 'network'>,
  inUse: readonly { vm: string; forward: PortForward }[],
): void {
  if (def.network.mode === 'none') return;
  const own = forwardsProblem(def.network.forwards);
  if (own) throw new VmdeskError('invalid-argument', `"${def.name}" cannot start: ${own}`, { field: 'forward' });
  for (const f of def.network.forwards) {
    const taken = inUse.find((u) => forwardsOverlap(f, u.forward));
    if (taken)
      throw new VmdeskError(
        'invalid-state',
        `Host port ${forwardLabel(f)} is forwarded by the running VM "${taken.vm}". Stop that VM first, or give "${def.name}" another host port.`,
        { field: 'forward' },
      );
  }
}

/** Binds the forward's host socket and closes it; the error code when that fails. */
function probeListen(f: PortForward): Promise<string | undefined> {
  const host = f.hostAddr ?? '127.0.0.1';
  return new Promise((resolve) => {
    if (f.proto === 'udp') {
      const sock = dgram.createSocket('udp4');
      sock.once('error', (err: NodeJS.ErrnoException) => {
        sock.close();
        resolve(err.code);
      });
      sock.bind({ port: f.hostPort, address: host, exclusive: true }, () => sock.close(() => resolve(undefined)));
      return;
    }
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
    server.listen({ port: f.hostPort, host, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** What a failed start under KVM/HVF adds: this host's hardware acceleration may be the problem. */
export function tcgHint(accel: Accel): string {
  return accel === 'tcg'
    ? ''
    : ` It ran with ${accel.toUpperCase()}; if hardware acceleration is unreliable on this host, try TCG: set VMDESK_ACCEL=tcg, or define the VM with --accel tcg.`;
}

/** Two running VMs never write one disk: refused with the VM that has it. `mine`: real paths
 * of the disks this VM opens read-write. */
export function assertDisksFree(
  mine: readonly string[],
  others: Iterable<{ name: string; disksInUse: readonly string[] }>,
): void {
  for (const other of others) {
    const shared = other.disksInUse.find((d) => mine.includes(d));
    if (shared) {
      throw new VmdeskError(
        'disk-in-use',
        `The disk ${shared} is in use by the running VM "${other.name}". Stop that VM first, or give this VM its own disk.`,
        { disk: shared },
      );
    }
  }
}
