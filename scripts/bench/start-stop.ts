/**
 * Rows 1 and 2: start → running-and-responsive, and force off → process gone, for vmdesk
 * (in-process with a warm and a cold capability cache, and through the CLI), raw QEMU with the
 * same argv, and libvirt's session mode. Runs are interleaved; each run gets fresh XDG dirs and
 * ends with nothing of its VM left running.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildQemuArgv } from '../../app/main/qemu/argv.js';
import { vmFiles } from '../../app/main/paths/vm-files.js';
import { createHostServices, type RealHostServices } from '../../app/main/vm/host-adapter.js';
import { VmManager } from '../../app/main/vm/vm-manager.js';
import type { BenchContext } from './context.js';
import { LibvirtSession } from './libvirt.js';
import { startRawQemu, stopRawQemu } from './raw-qemu.js';
import { benchDefinition, BenchSandbox } from './sandbox.js';
import { interleave, stopwatch, type Contender, type Figure } from './stats.js';

type Phases = Record<string, number[]>;
const push = (p: Phases, key: string, ms: number) => (p[key] ??= []).push(ms);

/** The HostServices the driver uses, reporting when the capability lookup (the probe) is done. */
function markCaps(host: RealHostServices, onCaps: () => void): RealHostServices {
  return {
    ...host,
    qemuCaps: async (arch) => {
      const caps = await host.qemuCaps(arch);
      onCaps();
      return caps;
    },
  };
}

/** When the driver logged "spawned QEMU pid" (driver.log has ms timestamps), as performance.now(). */
function spawnedAt(driverLog: string, wallAtZero: number, perfAtZero: number): number | undefined {
  const line = fs
    .readFileSync(driverLog, 'utf8')
    .split('\n')
    .find((l) => l.includes('spawned QEMU pid'));
  const wall = line ? Date.parse(line.slice(0, line.indexOf(' '))) : Number.NaN;
  return Number.isFinite(wall) ? perfAtZero + (wall - wallAtZero) : undefined;
}

interface InProcessResult {
  startMs: number;
  stopMs: number;
  phases: Record<string, number>;
}

/** One vmdesk run in this process: init, define, then time start() and stop(). */
async function vmdeskInProcess(
  ctx: BenchContext,
  warm: boolean,
  extra: { tpm?: boolean; share?: boolean } = {},
): Promise<InProcessResult> {
  const sb = new BenchSandbox();
  try {
    if (warm) sb.seedCache(ctx.cacheTemplate);
    let capsAt = 0;
    const m = new VmManager(
      sb.paths,
      markCaps(createHostServices(sb.paths), () => (capsAt = performance.now())),
    );
    await m.init();
    const shareDir = path.join(sb.root, 'shared');
    if (extra.share) fs.mkdirSync(shareDir, { recursive: true });
    const vm = await m.define({
      name: 'bench',
      memoryMiB: 256,
      cpus: 1,
      cdrom: ctx.iso,
      // The raw QEMU row has neither sound nor the clipboard: the same machine here.
      sound: false,
      clipboard: false,
      ...(extra.tpm ? { tpm: true } : {}),
      ...(extra.share ? { shares: [{ path: shareDir, tag: 'bench' }] } : {}),
    });
    const seen: Record<string, number> = {};
    const off = m.events.on('vm.changed', (s) => {
      seen[s.state] ??= performance.now();
    });
    const wall0 = Date.now();
    const t0 = performance.now();
    const started = await m.start({ vm: vm.id });
    const startMs = performance.now() - t0;
    if (started.state !== 'running') throw new Error(`vmdesk start ended ${started.state}: ${started.reason ?? ''}`);
    const spawned = spawnedAt(vmFiles(sb.paths, vm.id).driverLog, wall0, t0) ?? Number.NaN;
    const phases = {
      'caps probe': capsAt - t0,
      'prepare files': (seen.starting ?? Number.NaN) - capsAt,
      'spawn + run record (driver.log clock, ±1 ms)': spawned - (seen.starting ?? Number.NaN),
      'QMP connect + serial + cont': (seen.running ?? Number.NaN) - spawned,
      'after running': t0 + startMs - (seen.running ?? Number.NaN),
    };
    const stop = stopwatch();
    const stopped = await m.stop({ vm: vm.id });
    const stopMs = stop();
    off();
    if (stopped.state !== 'stopped') throw new Error(`vmdesk stop ended ${stopped.state}`);
    await m.detachAll();
    return { startMs, stopMs, phases };
  } finally {
    await sb.killQemus();
    sb.cleanup();
  }
}

export async function benchStartStop(ctx: BenchContext): Promise<Figure[]> {
  const f = {
    warm: { samples: [] as number[], phases: {} as Phases },
    cold: { samples: [] as number[], phases: {} as Phases },
    cli: [] as number[],
    raw: { samples: [] as number[], phases: {} as Phases },
    libvirt: [] as number[],
    stopVmdesk: [] as number[],
    stopRaw: [] as number[],
    stopLibvirt: [] as number[],
    tpm: { samples: [] as number[], phases: {} as Phases },
    stopTpm: [] as number[],
    share: [] as number[],
    stopShare: [] as number[],
  };
  // virtio-fs as this user: QEMU 7.2's own virtiofsd needs root (else the share is 9p, no daemon).
  const virtiofsd = ['/usr/libexec/virtiofsd', '/usr/lib/qemu/virtiofsd'].some((p) => fs.existsSync(p));
  const swtpm = ['/usr/bin/swtpm', '/usr/local/bin/swtpm', '/opt/homebrew/bin/swtpm'].some((p) => fs.existsSync(p));
  const libvirtSb = ctx.virsh ? new BenchSandbox() : undefined;
  const libvirt = ctx.virsh && libvirtSb ? new LibvirtSession(ctx.virsh, libvirtSb) : undefined;
  const libvirtNames: string[] = [];

  const contenders: Contender[] = [
    {
      name: 'vmdesk in-process (warm caps)',
      async run(round) {
        const r = await vmdeskInProcess(ctx, true);
        if (round < 0) return;
        f.warm.samples.push(r.startMs);
        f.stopVmdesk.push(r.stopMs);
        for (const [k, v] of Object.entries(r.phases)) push(f.warm.phases, k, v);
      },
    },
    {
      name: 'vmdesk in-process (cold caps)',
      async run(round) {
        const r = await vmdeskInProcess(ctx, false);
        if (round < 0) return;
        f.cold.samples.push(r.startMs);
        for (const [k, v] of Object.entries(r.phases)) push(f.cold.phases, k, v);
      },
    },
    {
      name: 'vmdesk CLI',
      async run(round) {
        const sb = new BenchSandbox()
          .seedCache(ctx.cacheTemplate)
          .writeDefinitions([benchDefinition('bench', ctx.iso)]);
        try {
          const r = await sb.timedCli(['start', 'bench']);
          if (r.code !== 0) throw new Error(`vmdesk start exited ${r.code}: ${r.stderr.trim()}`);
          if (round >= 0) f.cli.push(r.ms);
        } finally {
          await sb.killQemus();
          sb.cleanup();
        }
      },
    },
    {
      name: 'raw QEMU',
      async run(round) {
        const sb = new BenchSandbox();
        try {
          const def = benchDefinition('bench', ctx.iso);
          const files = vmFiles(sb.paths, def.id);
          fs.mkdirSync(files.runtimeDir, { recursive: true, mode: 0o700 });
          fs.mkdirSync(files.logDir, { recursive: true, mode: 0o700 });
          const argv = buildQemuArgv(def, ctx.caps, files, { accel: ctx.accel });
          const q = await startRawQemu(ctx.caps.binary, argv, files.qemuLog, files.qmpSocket);
          const stopMs = await stopRawQemu(q);
          if (round < 0) return;
          f.raw.samples.push(q.phases.cont);
          f.stopRaw.push(stopMs);
          const p = q.phases;
          push(f.raw.phases, 'spawn', p.spawned);
          push(f.raw.phases, 'wait for QMP socket', p.connected - p.spawned);
          push(f.raw.phases, 'greeting', p.greeting - p.connected);
          push(f.raw.phases, 'qmp_capabilities', p.capabilities - p.greeting);
          push(f.raw.phases, 'cont', p.cont - p.capabilities);
        } finally {
          await sb.killQemus();
          sb.cleanup();
        }
      },
    },
    {
      name: 'libvirt session',
      skip: !libvirt,
      async run(round) {
        const name = `vmdesk-bench-${process.pid}-${round < 0 ? 'warmup' : round + 1}`;
        libvirtNames.push(name);
        const startMs = await libvirt!.start({
          name,
          uuid: crypto.randomUUID(),
          iso: ctx.iso,
          emulator: ctx.caps.binary,
          accel: ctx.accel,
        });
        const stopMs = await libvirt!.destroy(name);
        libvirtNames.pop(); // gone and undefined: nothing left for close() to clean up
        if (round < 0) return;
        f.libvirt.push(startMs);
        f.stopLibvirt.push(stopMs);
      },
    },
    {
      // The same VM with a TPM: swtpm is started (and its socket awaited) before QEMU, and ended
      // after it.
      name: 'vmdesk in-process with a TPM (warm caps)',
      skip: !swtpm,
      async run(round) {
        const r = await vmdeskInProcess(ctx, true, { tpm: true });
        if (round < 0) return;
        f.tpm.samples.push(r.startMs);
        f.stopTpm.push(r.stopMs);
        for (const [k, v] of Object.entries(r.phases)) push(f.tpm.phases, k, v);
      },
    },
    {
      // A shared folder: a virtiofsd started (and its socket awaited) before QEMU, RAM as memfd.
      name: 'vmdesk in-process with a shared folder (warm caps)',
      skip: !virtiofsd,
      async run(round) {
        const r = await vmdeskInProcess(ctx, true, { share: true });
        if (round < 0) return;
        f.share.push(r.startMs);
        f.stopShare.push(r.stopMs);
      },
    },
  ];
  try {
    await interleave(contenders, ctx.runs, ctx.progress);
  } finally {
    if (libvirt && libvirtSb) {
      await libvirt.close(libvirtNames);
      await libvirtSb.killQemus();
      libvirtSb.cleanup();
    }
  }

  const row = (id: string, label: string, samples: number[], i: number, phases?: Phases): Figure => {
    const { skip, error } = contenders[i]!;
    if (error) return { id, label, unit: 'ms', samples, absent: 'failed', note: error.message };
    // Skipped from the start (not after an error) means the system is not on this machine.
    if (skip) return { id, label, unit: 'ms', samples: [], absent: 'not installed' };
    return { id, label, unit: 'ms', samples, ...(phases ? { phases } : {}) };
  };
  return [
    row('start.vmdesk.warm', 'start → running: vmdesk in-process, warm caps cache', f.warm.samples, 0, f.warm.phases),
    row('start.vmdesk.cold', 'start → running: vmdesk in-process, cold caps cache', f.cold.samples, 1, f.cold.phases),
    row(
      'start.vmdesk.tpm',
      'start → running: vmdesk in-process with a TPM (swtpm first), warm caps',
      f.tpm.samples,
      5,
      f.tpm.phases,
    ),
    row('start.vmdesk.share', 'start → running: vmdesk in-process with a shared folder (virtiofsd or 9p)', f.share, 6),
    row('start.vmdesk.cli', 'start → running: `vmdesk start` CLI (incl. Node start-up)', f.cli, 2),
    row('start.raw', 'start → running: raw QEMU, same argv (spawn → cont reply)', f.raw.samples, 3, f.raw.phases),
    row('start.libvirt', 'start → running: libvirt `virsh define + start` (session)', f.libvirt, 4),
    row('stop.vmdesk', 'force off → gone: vmdesk `stop` (QMP quit → exit)', f.stopVmdesk, 0),
    row('stop.vmdesk.tpm', 'force off → gone: vmdesk `stop` of a VM with a TPM (and its swtpm)', f.stopTpm, 5),
    row('stop.vmdesk.share', 'force off → gone: vmdesk `stop` of a VM with a shared folder', f.stopShare, 6),
    row('stop.raw', 'force off → gone: raw QEMU SIGTERM → exit event', f.stopRaw, 3),
    row('stop.libvirt', 'force off → gone: libvirt `virsh destroy`', f.stopLibvirt, 4),
  ];
}
