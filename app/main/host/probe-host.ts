/** The one entry point: everything the driver and the user need to know about this host. */
import { performance } from 'node:perf_hooks';
import type { NativeHost } from '../../native/index.js';
import { getNative } from '../../native/index.js';
import { accelStatusesFor, probeAccelHosts } from './accel-probe.js';
import { probeFirmware } from './firmware.js';
import type { HostIo } from './host-io.js';
import { macHostArch } from './hvf-probe.js';
import { detectOsFamily, swtpmInstallHint, virtiofsdInstallHint } from './install-hints.js';
import { findSwtpm, findVirtiofsd, virtiofsdFlavour } from './qemu-discovery.js';
import { readMemlock } from './memlock.js';
import { nodeHostIo } from './node-host-io.js';
import { probeQemuImg, probeQemuSystem } from './qemu-binaries.js';
import type { QemuProbeContext } from './qemu-binaries.js';
import type { Env } from './qemu-discovery.js';
import type { Arch, HostReport, SwtpmReport, VirtiofsdReport } from '../common/host-types.js';

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
  // The QEMU of the host's own architecture goes first: a first start waits for its probe, and
  // the other lookups (dozens of file reads on libuv's pool, a qemu-img spawn) queued ahead of it
  // delayed its spawn by 4-14 ms on a loaded 2-core machine. The rest starts once that QEMU is
  // spawned, or its answer came from the cache.
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
  const firstProbe = probeQemuSystem(ctx, first);
  await Promise.race([firstProbe, firstSpawn]);
  const other = first === 'x86_64' ? probeQemuSystem(ctx, 'aarch64') : probeQemuSystem(ctx, 'x86_64');

  const [x86_64, aarch64, qemuImg, firmware, swtpm, virtiofsd, hosts] = await Promise.all([
    first === 'x86_64' ? firstProbe : other,
    first === 'aarch64' ? firstProbe : other,
    probeQemuImg(ctx),
    probeFirmware({ fs: io.fs, env, osFamily }),
    findSwtpm(io.fs, env).then((found): SwtpmReport =>
      found.found ? { path: found.path } : { path: null, reason: found.reason, fix: swtpmInstallHint(osFamily) },
    ),
    findVirtiofsd(io.fs, env).then((found): VirtiofsdReport =>
      found.found
        ? { path: found.path, flavour: virtiofsdFlavour(found.path) }
        : { path: null, fix: virtiofsdInstallHint(osFamily) },
    ),
    probeAccelHosts({ fs: io.fs, native, platform, hostArch, rosetta: mac?.rosetta ?? false }),
  ]);

  return {
    schema: 1,
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
