/**
 * Rows 1 and 2: start → running-and-responsive, and force off → process gone, for vmdesk
 * (in-process with a warm and a cold capability cache, and through the CLI), raw QEMU with the
 * same argv, and libvirt's session mode, like against like: vmdesk in-process against libvirt's C
 * API on an open connection, `vmdesk define` + `start` (a driver running) against `virsh define`
 * + `start` (the session daemon running). Under a root bench the session-mode rows run as nobody
 * (for root, qemu:///session is the system daemon); each row says which user ran it. Runs are
 * interleaved; each run gets fresh XDG dirs and ends with nothing of its VM left running.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildQemuArgv } from '../../app/main/qemu/argv.js';
import { vmFiles } from '../../app/main/paths/vm-files.js';
import { createHostServices, type RealHostServices } from '../../app/main/vm/host-adapter.js';
import { VmManager } from '../../app/main/vm/vm-manager.js';
import type { BenchContext } from './context.js';
import {
  asSessionUser,
  LibvirtApi,
  LibvirtSession,
  ownBySessionUser,
  sessionUserName,
  sessionUserPrefix,
  type DomainSpec,
} from './libvirt.js';
import { startRawQemu, stopRawQemu } from './raw-qemu.js';
import { benchDefinition, BenchSandbox, VMDESK } from './sandbox.js';
import { interleave, median, stopwatch, type Contender, type Figure } from './stats.js';

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

/** The user this bench process runs as (the in-process and raw rows). */
const benchUser = () => (process.getuid?.() === 0 ? 'root' : os.userInfo().username);

/** `vmdesk ARGS` in `sb` as the session user (nobody under a root bench); ms = spawn → exit. */
function cliAsSessionUser(sb: BenchSandbox, args: string[]): Promise<number> {
  const t0 = performance.now();
  const [cmd, argv] = asSessionUser(process.execPath, [VMDESK, ...args]);
  return new Promise((resolve, reject) =>
    execFile(cmd, argv, { env: sb.env, timeout: 120_000, encoding: 'utf8' }, (err, _out, stderr) =>
      err
        ? reject(new Error(`vmdesk ${args[0]} failed: ${(stderr || err.message).trim()}`))
        : resolve(performance.now() - t0),
    ),
  );
}

/** `node -e 0` in `sb` as the session user, spawned as cliAsSessionUser spawns vmdesk. */
function nodeAsSessionUser(sb: BenchSandbox): Promise<number> {
  const t0 = performance.now();
  const [cmd, argv] = asSessionUser(process.execPath, ['-e', '0']);
  return new Promise((resolve, reject) =>
    execFile(cmd, argv, { env: sb.env, timeout: 60_000 }, (err) =>
      err ? reject(err) : resolve(performance.now() - t0),
    ),
  );
}

interface InProcessResult {
  startMs: number;
  stopMs: number;
  phases: Record<string, number>;
}

/**
 * One vmdesk run in this process, set up as a driver is (ipc/driver-link.ts openDriver): the
 * host probe starts (`report()`, the prewarm) before the VMs load, then init, define, and start()
 * and stop() are timed.
 * - warm: the capability cache on disk is filled and the prewarm has finished, as for every start
 *   a driver makes after its first (it keeps the report for its life).
 * - cold: the cache is empty (the first start ever); the prewarm probes QEMU while init and define
 *   run, and the start waits for whatever of the probe is left.
 */
async function vmdeskInProcess(
  ctx: BenchContext,
  warm: boolean,
  extra: { tpm?: boolean; share?: boolean } = {},
): Promise<InProcessResult> {
  const sb = new BenchSandbox();
  try {
    if (warm) sb.seedCache(ctx.cacheTemplate);
    let capsAt = 0;
    const host = createHostServices(sb.paths);
    const prewarmAt = performance.now();
    const prewarm = host.report();
    let probedAt = 0;
    prewarm.then(
      () => (probedAt = performance.now()),
      () => undefined,
    );
    if (warm) await prewarm;
    const m = new VmManager(
      sb.paths,
      markCaps(host, () => (capsAt = performance.now())),
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
    const headStart = performance.now() - prewarmAt;
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
    const phases: Record<string, number> = {
      'caps lookup (wait for the probe)': capsAt - t0,
      'prepare files': (seen.starting ?? Number.NaN) - capsAt,
      'spawn + run record (driver.log clock, ±1 ms)': spawned - (seen.starting ?? Number.NaN),
      'QMP connect + serial + cont': (seen.running ?? Number.NaN) - spawned,
      'after running': t0 + startMs - (seen.running ?? Number.NaN),
    };
    if (!warm) {
      // Untimed: how long the probe ran before start() was called, and how long it took in all.
      phases['probe head start (init + define, untimed)'] = headStart;
      phases['whole host probe (from the prewarm)'] = probedAt - prewarmAt;
    }
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
    cliDefineStart: { samples: [] as number[], phases: {} as Phases },
    cliStartOver: { samples: [] as number[], phases: {} as Phases },
    stopCli: [] as number[],
    libvirtApi: { samples: [] as number[], phases: {} as Phases },
    stopLibvirtApi: [] as number[],
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
  const domain = (name: string): DomainSpec => ({
    name,
    uuid: crypto.randomUUID(),
    iso: ctx.iso,
    emulator: ctx.caps.binary,
    accel: ctx.accel,
  });
  // libvirt's C API from a process holding one connection (LibvirtApi), in the same session.
  let api: LibvirtApi | undefined;
  // CLI against CLI: a `vmdesk driver` kept running as the session user (as libvirt's session
  // daemon is kept), with the capability cache its first start filled; `vmdesk define` + `start`.
  const cliSb = ctx.virsh ? new BenchSandbox().seedCache(ctx.cacheTemplate) : undefined;
  let cliDriverUp = false;
  const sessionUser = sessionUserName();

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
        const startMs = await libvirt!.start(domain(name));
        const stopMs = await libvirt!.destroy(name);
        libvirtNames.pop(); // gone and undefined: nothing left for close() to clean up
        if (round < 0) return;
        f.libvirt.push(startMs);
        f.stopLibvirt.push(stopMs);
      },
    },
    {
      name: 'vmdesk CLI define + start (driver running)',
      skip: !cliSb,
      async run(round) {
        if (!cliDriverUp) {
          ownBySessionUser(cliSb!.root);
          await cliSb!.startDriver(undefined, sessionUserPrefix());
          cliDriverUp = true;
        }
        const name = `bench-${round < 0 ? 'warmup' : round + 1}`;
        const defineMs = await cliAsSessionUser(cliSb!, [
          'define',
          '--name',
          name,
          '--memory',
          '256M',
          '--cpus',
          '1',
          '--cdrom',
          ctx.iso,
          '--sound',
          'off',
          '--clipboard',
          'off',
        ]);
        const startMs = await cliAsSessionUser(cliSb!, ['start', name]);
        const stopMs = await cliAsSessionUser(cliSb!, ['stop', name]);
        await cliAsSessionUser(cliSb!, ['delete', name]);
        // Bare Node as the same user, the same way (setpriv under a root bench), this round.
        const nodeMs = await nodeAsSessionUser(cliSb!);
        if (round < 0) return;
        f.cliDefineStart.samples.push(defineMs + startMs);
        push(f.cliDefineStart.phases, '`vmdesk define`', defineMs);
        push(f.cliDefineStart.phases, '`vmdesk start`', startMs);
        f.stopCli.push(stopMs);
        // Issue 22: `vmdesk start` ≤ bare Node + the in-process start + 20 ms. The in-process
        // warm start of this round ran just before (the first contender).
        const inProcess = f.warm.samples[round];
        if (inProcess !== undefined) {
          f.cliStartOver.samples.push(startMs - nodeMs - inProcess);
          push(f.cliStartOver.phases, '`vmdesk start` CLI', startMs);
          push(f.cliStartOver.phases, 'bare Node (`node -e 0`, same user)', nodeMs);
          push(f.cliStartOver.phases, 'in-process warm start (same round)', inProcess);
        }
      },
    },
    {
      name: 'libvirt API (connection open)',
      skip: !libvirt,
      async run(round) {
        api ??= await LibvirtApi.open(libvirtSb!);
        const name = `vmdesk-api-${process.pid}-${round < 0 ? 'warmup' : round + 1}`;
        libvirtNames.push(name);
        const defineMs = await api.define(libvirt!.writeDomain(domain(name)).xml);
        const startMs = await api.start(name);
        const stopMs = await api.destroy(name);
        await api.undefine(name);
        libvirtNames.pop();
        if (round < 0) return;
        f.libvirtApi.samples.push(startMs);
        push(f.libvirtApi.phases, 'virDomainDefineXML (untimed)', defineMs);
        f.stopLibvirtApi.push(stopMs);
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
    await api?.close();
    cliSb?.cleanup();
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
  const me = benchUser();
  const as = `as ${sessionUser}`;
  const figures = [
    row(
      'start.vmdesk.warm',
      `start → running: vmdesk in-process, caps cached and prewarmed (every start but a driver's first; as ${me})`,
      f.warm.samples,
      0,
      f.warm.phases,
    ),
    row(
      'start.vmdesk.cold',
      `start → running: vmdesk in-process, first start ever (empty caps cache, prewarm from driver start; as ${me})`,
      f.cold.samples,
      1,
      f.cold.phases,
    ),
    row(
      'start.vmdesk.tpm',
      'start → running: vmdesk in-process with a TPM (swtpm first), warm caps',
      f.tpm.samples,
      7,
      f.tpm.phases,
    ),
    row('start.vmdesk.share', 'start → running: vmdesk in-process with a shared folder (virtiofsd or 9p)', f.share, 8),
    row(
      'start.vmdesk.cli',
      `start → running: \`vmdesk start\` CLI, no driver running (incl. Node start-up; as ${me})`,
      f.cli,
      2,
    ),
    row(
      'start.raw',
      `start → running: raw QEMU, same argv (spawn → cont reply; as ${me})`,
      f.raw.samples,
      3,
      f.raw.phases,
    ),
    row(
      'start.vmdesk.cli.define',
      `define + start → running: \`vmdesk define\` + \`vmdesk start\` CLI, \`vmdesk driver\` running (${as})`,
      f.cliDefineStart.samples,
      5,
      f.cliDefineStart.phases,
    ),
    row(
      'start.vmdesk.cli.overnode',
      `\`vmdesk start\` CLI, \`vmdesk driver\` running (${as}), above bare Node + the in-process start of the same round`,
      f.cliStartOver.samples,
      5,
      f.cliStartOver.phases,
    ),
    row(
      'start.libvirt',
      `define + start → running: \`virsh define\` + \`virsh start\` CLI, qemu:///session daemon running (${as})`,
      f.libvirt,
      4,
    ),
    row(
      'start.libvirt.api',
      `start → running: libvirt API virDomainCreate, connection open (qemu:///session, ${as})`,
      f.libvirtApi.samples,
      6,
      f.libvirtApi.phases,
    ),
    row('stop.vmdesk', `force off → gone: vmdesk \`stop\` in-process (QMP quit → exit; as ${me})`, f.stopVmdesk, 0),
    row('stop.vmdesk.tpm', 'force off → gone: vmdesk `stop` of a VM with a TPM (and its swtpm)', f.stopTpm, 7),
    row('stop.vmdesk.share', 'force off → gone: vmdesk `stop` of a VM with a shared folder', f.stopShare, 8),
    row('stop.raw', `force off → gone: raw QEMU SIGTERM → exit event (as ${me})`, f.stopRaw, 3),
    row('stop.vmdesk.cli', `force off → gone: \`vmdesk stop\` CLI, driver running (${as})`, f.stopCli, 5),
    row('stop.libvirt', `force off → gone: \`virsh destroy\` CLI (${as})`, f.stopLibvirt, 4),
    row(
      'stop.libvirt.api',
      `force off → gone: libvirt API virDomainDestroy, connection open (${as})`,
      f.stopLibvirtApi,
      6,
    ),
  ];
  // The like-for-like ratios (table.ts judges the rest): CLI against CLI, API against in-process.
  const ratio = (id: string, over: string, what: string) => {
    const a = figures.find((x) => x.id === id);
    const b = figures.find((x) => x.id === over);
    if (!a || !b || a.absent || b.absent || !a.samples.length || !b.samples.length) return;
    a.ratio = `${(median(a.samples) / median(b.samples)).toFixed(2)}× ${what}`;
  };
  ratio('start.libvirt.api', 'start.vmdesk.warm', 'vmdesk in-process');
  ratio('stop.libvirt.api', 'stop.vmdesk', 'vmdesk in-process');
  ratio('stop.vmdesk.cli', 'stop.libvirt', 'virsh destroy');
  ratio('start.vmdesk.cli.define', 'start.libvirt', 'virsh define + start');
  return figures;
}
