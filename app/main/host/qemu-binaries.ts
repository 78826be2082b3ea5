/** Finds each QEMU binary and describes it: caps from one (cached) QMP probe, or why not. */
import * as v from 'valibot';
import type { HostIo } from './host-io.js';
import type { OsFamily } from './install-hints.js';
import { qemuImgInstallHint, qemuInstallHint } from './install-hints.js';
import { cachedProbe } from './probe-cache.js';
import { parseQemuCaps, qemuCapsSchema } from './qemu-caps.js';
import type { BinaryLookup, Env } from './qemu-discovery.js';
import { findQemuImg, findQemuSystem, QEMU_ENV } from './qemu-discovery.js';
import { QMP_PROBE_ARGS, runQmpProbe } from './qmp-probe.js';
import type { Arch, QemuBinaryReport, QemuCaps, QemuImgReport } from '../common/host-types.js';

export interface QemuProbeContext {
  io: HostIo;
  env: Env;
  platform: string;
  /** QEMU's name for the host CPU ('x86_64', 'aarch64'), or Node's for anything else. */
  hostArch: string;
  cacheDir: string;
  osFamily: OsFamily;
  /** Non-fatal trouble is appended here (cache problems). */
  notes: string[];
  /** Per-binary probe timeout. */
  probeTimeoutMs?: number;
}

/** What is cached per qemu-system binary. */
const systemEntrySchema = v.strictObject({ caps: qemuCapsSchema, hvfEntitled: v.optional(v.boolean()) });
type SystemEntry = { caps: QemuCaps; hvfEntitled?: boolean };
const imgEntrySchema = v.strictObject({ version: v.pipe(v.string(), v.regex(/^\d+\.\d+\.\d+$/)) });

/** The entitlement QEMU needs to use Hypervisor.framework; without it, `-accel hvf` fails with
 * HV_DENIED. Homebrew's bottle is signed with it; a self-built QEMU is not. */
export const HVF_ENTITLEMENT = 'com.apple.security.hypervisor';

/** True/false from `codesign -d --entitlements -`; undefined when codesign itself is unavailable. */
export async function hasHvfEntitlement(io: HostIo, binary: string): Promise<boolean | undefined> {
  const r = await io.run('codesign', ['-d', '--entitlements', '-', binary], { timeoutMs: 5000 });
  if (r.error) return undefined;
  // Unsigned binaries exit 1 ("code object is not signed at all"): that is a definite no.
  return r.code === 0 && `${r.stdout}\n${r.stderr}`.includes(HVF_ENTITLEMENT);
}

function manualProbeCommand(binary: string): string {
  return [binary, ...QMP_PROBE_ARGS].join(' ');
}

/** `lookup`: the binary search's answer when the caller made it already. */
export async function probeQemuSystem(
  ctx: QemuProbeContext,
  arch: Arch,
  lookup?: BinaryLookup,
): Promise<QemuBinaryReport> {
  const install = qemuInstallHint(ctx.osFamily, arch);
  const found = lookup ?? (await findQemuSystem(ctx.io.fs, ctx.env, arch, ctx.hostArch));
  if (!found.found) {
    const fix = found.envVar
      ? `unset ${found.envVar} or point it at a qemu-system-${arch} binary; or install QEMU: ${install}`
      : install;
    return { arch, status: 'missing', reason: found.reason, fix, searched: found.searched };
  }
  const binary = found.path;
  try {
    const { value, fromCache } = await cachedProbe<SystemEntry>(
      ctx.io.fs,
      ctx.cacheDir,
      'qemu-system',
      binary,
      systemEntrySchema,
      async () => {
        const replies = await runQmpProbe(
          ctx.io.spawnQmp,
          binary,
          ctx.probeTimeoutMs !== undefined ? { timeoutMs: ctx.probeTimeoutMs } : {},
        );
        const caps = parseQemuCaps(binary, replies);
        if (ctx.platform !== 'darwin') return { caps };
        const hvfEntitled = await hasHvfEntitlement(ctx.io, binary);
        return hvfEntitled === undefined ? { caps } : { caps, hvfEntitled };
      },
      ctx.notes,
    );
    if (value.caps.arch !== arch) {
      return {
        arch,
        status: 'broken',
        reason: `${binary} emulates ${value.caps.arch}, not ${arch}`,
        fix: ctx.env[QEMU_ENV[arch]]
          ? `point ${QEMU_ENV[arch]} at a qemu-system-${arch} binary`
          : `install qemu-system-${arch}: ${install}`,
        searched: found.searched,
      };
    }
    return {
      arch,
      status: 'ok',
      caps: value.caps,
      fromCache,
      ...(value.hvfEntitled !== undefined ? { hvfEntitled: value.hvfEntitled } : {}),
    };
  } catch (err) {
    return {
      arch,
      status: 'broken',
      reason: `${binary} failed the capability probe: ${(err as Error).message}`,
      fix: `run \`${manualProbeCommand(binary)}\` to see the error; reinstall if it is a broken install (${install})`,
      searched: found.searched,
    };
  }
}

/** "qemu-img version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)" → "7.2.22" */
export function parseQemuImgVersion(stdout: string): string | undefined {
  return /version (\d+\.\d+\.\d+)/.exec(stdout)?.[1];
}

export async function probeQemuImg(ctx: QemuProbeContext): Promise<QemuImgReport> {
  const install = qemuImgInstallHint(ctx.osFamily);
  const found = await findQemuImg(ctx.io.fs, ctx.env);
  if (!found.found) {
    const fix = found.envVar ? `unset ${found.envVar} or point it at qemu-img; or install it: ${install}` : install;
    return { status: 'missing', reason: found.reason, fix, searched: found.searched };
  }
  const binary = found.path;
  try {
    const { value, fromCache } = await cachedProbe(
      ctx.io.fs,
      ctx.cacheDir,
      'qemu-img',
      binary,
      imgEntrySchema,
      async () => {
        const r = await ctx.io.run(binary, ['--version'], { timeoutMs: ctx.probeTimeoutMs ?? 15_000 });
        const version = parseQemuImgVersion(r.stdout);
        if (r.code !== 0 || !version)
          throw new Error(r.error ?? (r.stderr.trim() || `unexpected output: ${r.stdout.trim().slice(0, 200)}`));
        return { version };
      },
      ctx.notes,
    );
    return { status: 'ok', path: binary, version: value.version, fromCache };
  } catch (err) {
    return {
      status: 'broken',
      reason: `\`${binary} --version\` failed: ${(err as Error).message}`,
      fix: `reinstall it: ${install}`,
      searched: found.searched,
    };
  }
}
