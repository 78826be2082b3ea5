/** The one entry point: everything the driver and the user need to know about this host. */
import { performance } from 'node:perf_hooks';
import type { NativeHost } from '../../native/index.js';
import { getNative } from '../../native/index.js';
import { accelStatusesFor, probeAccelHosts } from './accel-probe.js';
import { probeFirmware } from './firmware.js';
import type { HostIo } from './host-io.js';
import { macHostArch } from './hvf-probe.js';
import { detectOsFamily, swtpmInstallHint, virtiofsdInstallHint } from './install-hints.js';
import { findQemuSystem, findSwtpm, findVirtiofsd, virtiofsdFlavour } from './qemu-discovery.js';
import { readMemlock } from './memlock.js';
import { nodeHostIo } from './node-host-io.js';
import { probeQemuImg, probeQemuSystem } from './qemu-binaries.js';
import type { QemuProbeContext } from './qemu-binaries.js';
import type { Env } from './qemu-discovery.js';
import { assumedQemuCaps } from './qemu-caps.js';
import type {
  AccelStatus,
  Arch,
  HostReport,
  QemuBinaryReport,
  SwtpmReport,
  VirtiofsdReport,
} from '../common/host-types.js';

export interface ProbeHostOptions {
  /** Where per-binary probe results are cached (AppPaths' capability cache dir). */
  cacheDir: string;
  /** Defaults: the real process, OS and native layer. Tests pass fakes. */
  env?: Env;
  platform?: string;
  /** Node's process.arch ('x64', 'arm64'). */
  nodeArch?: string;
  io?: HostIo;
  native?: NativeHost;
  /** Per-binary QMP probe timeout (default 15 s). */
  probeTimeoutMs?: number;
  /**
   * Called at most once, before the probe resolves, when everything a start needs is known but
   * the capabilities of the host's own QEMU, which are still being probed (not cached): those
   * are assumed (assumedQemuCaps), the rest is real. A first start can launch QEMU on it.
   */
  provisional?: (facts: ProvisionalHost) => void;
}

/** What planning a start reads of a HostReport. */
export type LaunchFacts = Pick<HostReport, 'qemu' | 'accels' | 'firmware' | 'swtpm' | 'virtiofsd'>;
/** LaunchFacts whose QEMU caps are assumed, for the one architecture `arch`. */
export interface ProvisionalHost extends LaunchFacts {
  arch: Arch;
}

/** QEMU's name for a Node arch; other arches pass through (and get TCG only). */
export function qemuArchOf(nodeArch: string): string {
  return nodeArch === 'x64' ? 'x86_64' : nodeArch === 'arm64' ? 'aarch64' : nodeArch;
}

/**
 * Probes QEMU binaries (cached per binary), accelerators, firmware, memlock and the native layer.
 * Never throws for a property of the host: everything missing is in the report with a reason and
 * a fix. With a warm cache it spawns nothing on Linux and takes a few milliseconds.
 */
export async function probeHost(opts: ProbeHostOptions): Promise<HostReport> {
  const started = performance.now();
  const env = opts.env ?? process.env;
  const platform = opts.platform ?? process.platform;
  const nodeArch = opts.nodeArch ?? process.arch;
  const io = opts.io ?? nodeHostIo;
  const native = opts.native ?? getNative();
  const notes: string[] = [];

  const mac = platform === 'darwin' ? macHostArch(native, nodeArch) : undefined;
  const hostArch = mac?.arch ?? qemuArchOf(nodeArch);
  const osFamily = await detectOsFamily(io.fs, platform);
  // What a start needs besides QEMU's caps is looked up first (a few file reads): a first start
  // launches QEMU on it while the caps are probed (`provisional`). The rest (the other QEMU, a
  // qemu-img spawn) starts once the host's QEMU is spawned, or its answer came from the cache:
  // queued ahead of it, it delayed that spawn by 4-14 ms on a loaded 2-core machine.
  const firmwareP = probeFirmware({ fs: io.fs, env, osFamily });
  const swtpmP = findSwtpm(io.fs, env).then((found): SwtpmReport =>
    found.found ? { path: found.path } : { path: null, reason: found.reason, fix: swtpmInstallHint(osFamily) },
  );
  const virtiofsdP = findVirtiofsd(io.fs, env).then((found): VirtiofsdReport =>
    found.found
      ? { path: found.path, flavour: virtiofsdFlavour(found.path) }
      : { path: null, fix: virtiofsdInstallHint(osFamily) },
  );
  const hostsP = probeAccelHosts({ fs: io.fs, native, platform, hostArch, rosetta: mac?.rosetta ?? false });
  let spawned!: () => void;
  const firstSpawn = new Promise<void>((resolve) => (spawned = resolve));
  const ctx: QemuProbeContext = {
    io: {
      ...io,
      spawnQmp: (binary, args) => {
        spawned();
        return io.spawnQmp(binary, args);
      },
    },
    env,
    platform,
    hostArch,
    cacheDir: opts.cacheDir,
    osFamily,
    notes,
    ...(opts.probeTimeoutMs !== undefined ? { probeTimeoutMs: opts.probeTimeoutMs } : {}),
  };
  const first: Arch = hostArch === 'aarch64' ? 'aarch64' : 'x86_64';
  const firstFound = await findQemuSystem(io.fs, env, first, hostArch);
  let firstDone = false;
  const firstProbe = probeQemuSystem(ctx, first, firstFound).finally(() => (firstDone = true));
  await Promise.race([firstProbe, firstSpawn]);
  const other = first === 'x86_64' ? probeQemuSystem(ctx, 'aarch64') : probeQemuSystem(ctx, 'x86_64');

  const { provisional } = opts;
  if (provisional && firstFound.found) {
    void Promise.all([firmwareP, swtpmP, virtiofsdP, hostsP]).then(
      ([firmware, swtpm, virtiofsd, hosts]) => {
        if (firstDone) return; // answered (from the cache, or probed): nothing to assume
        const assumed: QemuBinaryReport = {
          arch: first,
          status: 'ok',
          caps: assumedQemuCaps(first, firstFound.path, platform),
          fromCache: false,
        };
        const otherArch: Arch = first === 'x86_64' ? 'aarch64' : 'x86_64';
        const unknown: QemuBinaryReport = {
          arch: otherArch,
          status: 'missing',
          reason: `qemu-system-${otherArch} is still being probed`,
          fix: 'wait for the probe',
          searched: [],
        };
        const qemu = { [first]: assumed, [otherArch]: unknown } as Record<Arch, QemuBinaryReport>;
        const accels = {
          [first]: accelStatusesFor(first, { hosts, hostArch, qemu: assumed }),
          [otherArch]: accelStatusesFor(otherArch, { hosts, hostArch, qemu: unknown }),
        } as Record<Arch, AccelStatus[]>;
        provisional({ arch: first, qemu, accels, firmware, swtpm, virtiofsd });
      },
      () => undefined,
    );
  }

  const [x86_64, aarch64, qemuImg, firmware, swtpm, virtiofsd, hosts] = await Promise.all([
    first === 'x86_64' ? firstProbe : other,
    first === 'aarch64' ? firstProbe : other,
    probeQemuImg(ctx),
    firmwareP,
    swtpmP,
    virtiofsdP,
    hostsP,
  ]);

  return {
    schema: 3,
    platform,
    hostArch,
    qemu: { x86_64, aarch64 },
    qemuImg,
    accels: {
      x86_64: accelStatusesFor('x86_64', { hosts, hostArch, qemu: x86_64 }),
      aarch64: accelStatusesFor('aarch64', { hosts, hostArch, qemu: aarch64 }),
    },
    firmware,
    swtpm,
    virtiofsd,
    memlock: readMemlock(native),
    native: {
      implementation: native.implementation,
      loaded: native.loaded,
      ...(native.loadError !== undefined ? { loadError: native.loadError } : {}),
    },
    notes,
    probeMs: Math.round((performance.now() - started) * 10) / 10,
  };
}
