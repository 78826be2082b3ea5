/**
 * From an installer image to a VM proposal: what the ISO is, which OS, and the defaults the
 * create wizard and `vmdesk create` use. Checks that this host can run it before anything is made.
 */
import type { Arch } from '../common/host-types.js';
import { inspectIso, loadOsinfoDb, recognizeOs, suggestVmName, type IsoInfo, type OsMatch } from '../iso/index.js';
import type { IsoPlan } from '../common/iso-types.js';

import { VmdeskError } from '../common/errors.js';
import type { CallParams, DefineVmInput } from '../common/contract.js';
import { sameVmName } from '../common/names.js';
import type { HostServices } from './host-services.js';

export type { IsoPlan };

/** Which guest architecture boots this image. */
export function isoArch(info: IsoInfo, os: OsMatch): Arch {
  if (info.efiArchs.includes('x86_64') || info.bootable.bios) return 'x86_64';
  if (info.efiArchs.includes('aarch64')) return 'aarch64';
  return os.arch ?? 'x86_64';
}

/** UEFI when the image boots only through EFI or the OS needs it; aarch64 is always UEFI. */
export function isoFirmware(info: IsoInfo, os: OsMatch, arch: Arch): 'bios' | 'uefi' {
  if (arch === 'aarch64' || os.firmware === 'uefi') return 'uefi';
  if (info.bootable.uefi && !info.bootable.bios) return 'uefi';
  return 'bios';
}

export function uniqueName(base: string, existing: readonly string[]): string {
  if (!existing.some((n) => sameVmName(n, base))) return base;
  for (let i = 2; ; i++) {
    const candidate = `${base.slice(0, 60)} ${i}`;
    if (!existing.some((n) => sameVmName(n, candidate))) return candidate;
  }
}

/**
 * MUST throw a clear VmdeskError for a file that is not an installer image, and for an image
 * whose architecture no installed QEMU runs (the message names the package to install).
 */
export async function planFromIso(
  path: string,
  host: HostServices,
  existingNames: readonly string[],
): Promise<IsoPlan> {
  const info = await inspectIso(path);
  const os = recognizeOs(info, await loadOsinfoDb());
  const arch = isoArch(info, os);
  await host.qemuCaps(arch); // throws no-qemu with the install command for this architecture
  const warnings = [...info.warnings];
  if (!info.bootable.bios && !info.bootable.uefi)
    warnings.push('This image is not bootable (a data disc?): the VM will not start from it, but you can attach it.');
  if (os.tpm)
    warnings.push(
      `${os.name} wants a TPM 2.0, which vmdesk does not provide yet: its installer may refuse to continue.`,
    );
  const hostMiB = host.hostMemoryMiB();
  return {
    info,
    os,
    defaults: {
      name: uniqueName(suggestVmName(os, info), existingNames),
      arch,
      // Never propose more than half the host's memory or more CPUs than it has.
      memoryMiB: Math.max(256, Math.min(os.recommended.memoryMiB, Math.floor(hostMiB / 2 / 256) * 256)),
      cpus: Math.max(1, Math.min(os.recommended.cpus, host.hostCpus())),
      diskGiB: Math.max(1, os.recommended.diskGiB),
      firmware: isoFirmware(info, os, arch),
    },
    warnings,
  };
}

/** vm.create's request on top of the plan's defaults (each overridable): what define() gets. */
export function defineInputFromPlan(plan: IsoPlan, p: CallParams<'vm.create'>): DefineVmInput {
  const d = plan.defaults;
  const diskGiB = p.diskGiB ?? d.diskGiB;
  if (!Number.isFinite(diskGiB) || diskGiB < 0)
    throw new VmdeskError('invalid-argument', 'The disk size must be 0 (no disk) or more GiB.', { field: 'diskGiB' });
  const input: DefineVmInput = {
    name: p.name ?? d.name,
    memoryMiB: p.memoryMiB ?? d.memoryMiB,
    cpus: p.cpus ?? d.cpus,
    arch: d.arch,
    firmware: p.firmware ?? d.firmware,
    cdrom: plan.info.path,
  };
  if (p.accel) input.accel = p.accel;
  if (diskGiB > 0) input.disk = { sizeBytes: Math.round(diskGiB * 2 ** 30) };
  return input;
}
