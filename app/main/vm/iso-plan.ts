/**
 * From an installer image to a VM proposal: what the ISO is, which OS, and the defaults the
 * create wizard and `vmdesk create` use. Checks that this host can run it before anything is made.
 */
import fs from 'node:fs';
import path from 'node:path';
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

/**
 * UEFI when the image boots only through EFI or the OS needs it (aarch64 always), and, as
 * virt-install does for new x86_64 VMs, when it boots both ways and this host has UEFI firmware.
 */
export function isoFirmware(info: IsoInfo, os: OsMatch, arch: Arch, hostHasUefi: boolean): 'bios' | 'uefi' {
  if (arch === 'aarch64' || os.firmware === 'uefi') return 'uefi';
  if (info.bootable.uefi && !info.bootable.bios) return 'uefi';
  if (info.bootable.uefi && info.bootable.bios && hostHasUefi) return 'uefi';
  return 'bios';
}

/** Where virtio-win.iso usually is: the virtio-win package (Fedora, RHEL; Debian has none), the
 * ISO library, the Downloads folder. */
export function driverSearchDirs(isoLibrary: string, home: string | undefined): string[] {
  return ['/usr/share/virtio-win', isoLibrary, ...(home ? [path.join(home, 'Downloads')] : [])];
}

/** The newest virtio-win*.iso in `dirs` whose volume id says it is one, or null. */
export async function findVirtioWin(dirs: readonly string[]): Promise<string | null> {
  const found: { file: string; mtime: number }[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      if (!/^virtio-win.*\.iso$/i.test(n)) continue;
      const file = path.join(dir, n);
      try {
        const st = fs.statSync(file);
        if (st.isFile()) found.push({ file, mtime: st.mtimeMs });
      } catch {
        // gone meanwhile
      }
    }
  }
  for (const { file } of found.sort((a, b) => b.mtime - a.mtime)) {
    const info = await inspectIso(file).catch(() => undefined);
    if (info && /^virtio[-_]win/i.test(info.volumeId)) return file;
  }
  return null;
}

/** Windows 11 (and later client releases) wants at least this much (Microsoft's requirements). */
const WIN11_FLOOR = { memoryMiB: 4096, cpus: 2, diskGiB: 64 };

/**
 * The guest settings an OS wants: Windows gets UEFI with Secure Boot (when this host has such
 * firmware), a TPM for Windows 11, local time, Hyper-V enlightenments, and devices it has drivers
 * for (SATA and e1000e, or virtio with the driver disc); everything else gets virtio and UTC.
 */
export function guestDefaults(
  os: OsMatch,
  arch: Arch,
  host: { secureBootFirmware: boolean; drivers: string | null },
): Pick<IsoPlan['defaults'], 'secureBoot' | 'tpm' | 'diskBus' | 'nic' | 'clock' | 'hyperv' | 'drivers'> {
  if (os.family !== 'windows')
    return {
      secureBoot: false,
      tpm: false,
      diskBus: 'virtio',
      nic: 'virtio',
      clock: 'utc',
      hyperv: false,
      drivers: null,
    };
  const virtio = host.drivers !== null;
  return {
    secureBoot: arch === 'x86_64' && host.secureBootFirmware,
    tpm: os.tpm,
    diskBus: virtio ? 'virtio' : 'sata',
    nic: virtio ? 'virtio' : 'e1000e',
    clock: 'localtime',
    hyperv: arch === 'x86_64',
    drivers: host.drivers,
  };
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
  isoPath: string,
  host: HostServices,
  existingNames: readonly string[],
  driverSearch: readonly string[] = [],
  /** Free bytes where new disks go (the VMs' data dir), when known. */
  freeBytes?: number,
): Promise<IsoPlan> {
  const info = await inspectIso(isoPath);
  const os = recognizeOs(info, await loadOsinfoDb());
  const arch = isoArch(info, os);
  await host.qemuCaps(arch); // throws no-qemu with the install command for this architecture
  const has = (p: Promise<unknown>) =>
    p.then(
      () => true,
      () => false,
    );
  const windows = os.family === 'windows';
  const [hostHasUefi, secureBootFirmware, swtpm, drivers] = await Promise.all([
    has(host.uefiFirmware(arch)),
    windows ? has(host.uefiFirmware(arch, { secureBoot: true })) : false,
    os.tpm ? has(host.swtpm()) : true,
    windows && arch === 'x86_64' ? findVirtioWin(driverSearch) : null,
  ]);
  const guest = guestDefaults(os, arch, { secureBootFirmware, drivers });
  // A disc that does not boot is already said so by inspectIso, with the reason (no El Torito
  // entry, no entry a PC firmware boots, UDF only): once is enough.
  const warnings = [...info.warnings];
  if (os.tpm && !swtpm)
    warnings.push(
      `${os.name} requires a TPM 2.0, which needs swtpm (the TPM emulator) on this computer: install it (Debian/Ubuntu: sudo apt install swtpm swtpm-tools; Fedora: sudo dnf install swtpm swtpm-tools; macOS: brew install swtpm) before you start the VM.`,
    );
  if (windows && arch === 'x86_64' && !secureBootFirmware)
    warnings.push(
      `No UEFI firmware with Secure Boot was found (vmdesk host lists what there is): ${os.name} is set up without it${os.tpm ? ', and its installer refuses to continue' : ''}. Install OVMF (Debian/Ubuntu: sudo apt install ovmf).`,
    );
  const hostMiB = host.hostMemoryMiB();
  const floor = os.tpm ? WIN11_FLOOR : { memoryMiB: 256, cpus: 1, diskGiB: 1 };
  const diskGiB = Math.max(floor.diskGiB, os.recommended.diskGiB);
  if (freeBytes !== undefined && diskGiB * 2 ** 30 > freeBytes)
    warnings.push(
      `${os.name} wants a ${diskGiB} GiB disk, and ${(freeBytes / 2 ** 30).toFixed(1)} GiB is free where vmdesk keeps disks: free space first${os.tpm ? ' (its installer refuses a disk under 64 GB)' : ', or choose a smaller disk'}.`,
    );
  return {
    info,
    os,
    defaults: {
      name: uniqueName(suggestVmName(os, info), existingNames),
      arch,
      // Never propose more than half the host's memory or more CPUs than it has (unless the OS's
      // own floor needs it: Windows 11's installer refuses less than 4 GiB and 2 CPUs).
      memoryMiB: Math.max(
        Math.min(floor.memoryMiB, hostMiB),
        Math.max(256, Math.min(os.recommended.memoryMiB, Math.floor(hostMiB / 2 / 256) * 256)),
      ),
      cpus: Math.max(Math.min(floor.cpus, host.hostCpus()), Math.min(os.recommended.cpus, host.hostCpus())),
      diskGiB,
      firmware: guest.secureBoot ? 'uefi' : isoFirmware(info, os, arch, hostHasUefi),
      ...guest,
    },
    ...(windows ? { driverSearch: [...driverSearch] } : {}),
    warnings,
  };
}

/**
 * The plan with the user's default firmware (the `defaultFirmware` setting) where the disc and the
 * OS allow it: BIOS only for an x86_64 disc that boots through BIOS and an OS that does not need
 * UEFI or Secure Boot; UEFI only for a disc that boots through UEFI on a host with UEFI firmware
 * (`hostHasUefi`). `auto`, or a preference the disc cannot follow, keeps vmdesk's choice.
 */
export function withFirmwarePreference(
  plan: IsoPlan,
  preferred: 'auto' | 'bios' | 'uefi',
  hostHasUefi: boolean,
): IsoPlan {
  const d = plan.defaults;
  if (preferred === 'auto' || d.firmware === preferred) return plan;
  const can =
    preferred === 'bios'
      ? d.arch === 'x86_64' && plan.info.bootable.bios && plan.os.firmware !== 'uefi' && !d.secureBoot
      : plan.info.bootable.uefi && hostHasUefi;
  return can ? { ...plan, defaults: { ...d, firmware: preferred } } : plan;
}

/** vm.create's request on top of the plan's defaults (each overridable): what define() gets. */
export function defineInputFromPlan(plan: IsoPlan, p: CallParams<'vm.create'>): DefineVmInput {
  const d = plan.defaults;
  const diskGiB = p.diskGiB ?? d.diskGiB;
  if (!Number.isFinite(diskGiB) || diskGiB < 0)
    throw new VmdeskError('invalid-argument', 'The disk size must be 0 (no disk) or more GiB.', { field: 'diskGiB' });
  const drivers = p.drivers === undefined ? d.drivers : p.drivers;
  // A driver disc means virtio devices (Windows installs their drivers from it), unless asked otherwise.
  const devices = drivers
    ? { diskBus: 'virtio' as const, nic: 'virtio' as const }
    : {
        diskBus: d.diskBus === 'virtio' && plan.os.family === 'windows' ? ('sata' as const) : d.diskBus,
        nic: d.nic === 'virtio' && plan.os.family === 'windows' ? ('e1000e' as const) : d.nic,
      };
  const firmware = p.firmware ?? d.firmware;
  // Secure Boot comes with UEFI only; asking for BIOS turns the proposal's Secure Boot off.
  const secureBoot = p.secureBoot ?? (firmware === 'uefi' && d.secureBoot);
  const input: DefineVmInput = {
    name: p.name ?? d.name,
    memoryMiB: p.memoryMiB ?? d.memoryMiB,
    cpus: p.cpus ?? d.cpus,
    arch: d.arch,
    firmware,
    cdrom: plan.info.path,
    ...(drivers ? { moreCdroms: [drivers] } : {}),
    secureBoot,
    tpm: p.tpm ?? d.tpm,
    diskBus: p.diskBus ?? devices.diskBus,
    nic: p.nic ?? devices.nic,
    clock: p.clock ?? d.clock,
    hyperv: p.hyperv ?? d.hyperv,
    ...(plan.os.id ? { os: { id: plan.os.id, name: plan.os.name } } : {}),
  };
  if (p.accel) input.accel = p.accel;
  if (diskGiB > 0) input.disk = { sizeBytes: Math.round(diskGiB * 2 ** 30) };
  return input;
}
