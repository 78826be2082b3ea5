/**
 * The create wizard's form: prefilled from an IsoPlan, turned into vm.create params, and the
 * sentences it shows about the plan (what the OS is, how the disc boots, why this firmware).
 */
import type { CallParams } from '../../../main/common/contract.js';
import type { DiskBus, NicModel } from '../../../main/common/devices.js';
import { VmdeskError } from '../../../main/common/errors.js';
import { vmNameProblem } from '../../../main/common/names.js';
import type { IsoPlan } from '../../store/store.js';

/** The firmware select's choices: Secure Boot is a kind of UEFI, so it is one of them. */
export type Firmware = 'bios' | 'uefi' | 'uefi-secure';
export const FIRMWARE_CHOICES: Record<Firmware, string> = {
  bios: 'BIOS',
  uefi: 'UEFI',
  'uefi-secure': 'UEFI with Secure Boot',
};

export interface WizardForm {
  name: string;
  memory: string;
  cpus: string;
  disk: string;
  firmware: Firmware;
  tpm: boolean;
  /** A virtio driver disc (virtio-win.iso) for a second CD-ROM drive, as typed; '' for none. */
  drivers: string;
}
export type WizardField = keyof WizardForm;
export type WizardErrors = Partial<Record<WizardField | 'form', string>>;

export function formFromPlan(plan: IsoPlan): WizardForm {
  const d = plan.defaults;
  return {
    name: d.name,
    memory: String(d.memoryMiB),
    cpus: String(d.cpus),
    disk: String(d.diskGiB),
    firmware: d.firmware === 'uefi' && d.secureBoot ? 'uefi-secure' : d.firmware,
    tpm: d.tpm,
    drivers: d.drivers ?? '',
  };
}

/** Whether the wizard sets the VM up for Windows (its devices, clock and driver disc). */
export function isWindows(plan: IsoPlan): boolean {
  return plan.os.family === 'windows';
}

/** Whether the wizard offers a virtio driver disc: Windows on x86_64 (virtio-win has no other builds here). */
export function offersDrivers(plan: IsoPlan): boolean {
  return isWindows(plan) && plan.defaults.arch === 'x86_64';
}

/**
 * The disk bus and network card for the plan, with or without a driver disc: with one, virtio
 * (Windows installs its drivers from the disc); Windows without one gets the devices it has
 * drivers for (SATA, e1000e); any other OS keeps what the plan proposes. (As the driver's
 * defineInputFromPlan does when these are not sent.)
 */
export function guestDevices(plan: IsoPlan, withDrivers: boolean): { diskBus: DiskBus; nic: NicModel } {
  if (withDrivers) return { diskBus: 'virtio', nic: 'virtio' };
  if (isWindows(plan)) return { diskBus: 'sata', nic: 'e1000e' };
  return { diskBus: plan.defaults.diskBus, nic: plan.defaults.nic };
}

function number(text: string): number {
  return text.trim() === '' ? Number.NaN : Number(text);
}

/** vm.create params for what the form shows (every value is sent: the user saw them all). */
export function toCreateParams(
  f: WizardForm,
  plan: IsoPlan,
  start: boolean,
): { params: CallParams<'vm.create'> } | { errors: WizardErrors } {
  const errors: WizardErrors = {};
  const memoryMiB = number(f.memory);
  const cpus = number(f.cpus);
  const diskGiB = number(f.disk);
  const drivers = f.drivers.trim();
  if (f.name.trim() === '') errors.name = 'Give the VM a name.';
  else errors.name = vmNameProblem(f.name);
  if (!Number.isInteger(memoryMiB) || memoryMiB <= 0) errors.memory = 'Enter the memory in MiB, e.g. 2048.';
  if (!Number.isInteger(cpus) || cpus < 1) errors.cpus = 'Enter a number of CPUs, e.g. 2.';
  if (!Number.isFinite(diskGiB) || diskGiB < 0) errors.disk = 'Enter a size in GiB, or 0 for no disk.';
  if (drivers !== '' && !drivers.startsWith('/'))
    errors.drivers =
      'Type the full path of the driver disc, e.g. /home/you/Downloads/virtio-win.iso, or leave it empty.';
  if (Object.values(errors).some((e) => e !== undefined)) return { errors };
  const d = plan.defaults;
  return {
    params: {
      iso: plan.info.path,
      name: f.name,
      memoryMiB,
      cpus,
      diskGiB,
      firmware: f.firmware === 'bios' ? 'bios' : 'uefi',
      secureBoot: f.firmware === 'uefi-secure',
      tpm: f.tpm,
      ...guestDevices(plan, drivers !== ''),
      clock: d.clock,
      hyperv: d.hyperv,
      drivers: drivers === '' ? null : drivers,
      start,
    },
  };
}

/** The driver's `details.field` → the input it is about (others show above the form). */
const DRIVER_FIELDS: Record<string, WizardField> = {
  name: 'name',
  memory: 'memory',
  memoryMiB: 'memory',
  cpus: 'cpus',
  diskGiB: 'disk',
  diskSize: 'disk',
  disk: 'disk',
  firmware: 'firmware',
  secureBoot: 'firmware',
  tpm: 'tpm',
  drivers: 'drivers',
};

/**
 * Where a vm.create refusal shows. `drivers`: the driver disc that was sent; the driver checks it
 * like any disc (`field: 'cdrom'`), so a refusal naming it belongs next to its input.
 */
export function placeCreateError(err: unknown, drivers = ''): WizardErrors {
  const message = err instanceof Error ? err.message : String(err);
  const named = err instanceof VmdeskError && typeof err.details?.field === 'string' ? err.details.field : undefined;
  const disc = drivers.trim();
  if (named === 'cdrom' && disc !== '' && message.includes(disc)) return { drivers: message };
  const field = named ? DRIVER_FIELDS[named] : undefined;
  return field ? { [field]: message } : { form: message };
}

/** "Recognised from osinfo-db" or why not. */
export function recognition(plan: IsoPlan): string {
  const os = plan.os;
  if (os.source === 'generic') return 'Not recognised: generic settings';
  const from = os.source === 'osinfo-db' ? 'osinfo-db' : "vmdesk's own table";
  return os.confidence === 'newer-release'
    ? `Recognised from ${from} (a newer release than it knows: settings of the newest one)`
    : `Recognised from ${from}`;
}

/** Whether a VM can start from this disc at all (BIOS or UEFI). */
export function discBoots(plan: IsoPlan): boolean {
  return plan.info.bootable.bios || plan.info.bootable.uefi;
}

export function bootModes(plan: IsoPlan): string {
  const { bios, uefi } = plan.info.bootable;
  if (bios && uefi) return 'BIOS and UEFI';
  if (bios) return 'BIOS only';
  if (uefi) return 'UEFI only';
  return 'Not bootable';
}

/** Why the proposed firmware, or what a change would mean. */
export function firmwareWhy(plan: IsoPlan, chosen: Firmware): string {
  const { bios, uefi } = plan.info.bootable;
  const name = plan.os.name || 'This OS';
  const kind = chosen === 'bios' ? 'bios' : 'uefi';
  if (!bios && !uefi)
    return 'This disc does not boot with either firmware: the VM needs another way to start (a disk with a system, or the network).';
  if (kind === 'bios' && !bios && uefi) return 'This disc boots only with UEFI: with BIOS it will not start.';
  if (kind === 'uefi' && !uefi && bios) return 'This disc boots only with BIOS: with UEFI it will not start.';
  if (chosen === 'uefi-secure' && plan.defaults.arch !== 'x86_64')
    return 'vmdesk offers Secure Boot for x86_64 VMs only (no firmware for other architectures ships with keys enrolled).';
  if (plan.os.tpm) {
    if (chosen === 'uefi-secure') return `${name} requires UEFI with Secure Boot and a TPM 2.0.`;
    return `${name} requires UEFI with Secure Boot: without it, its installer stops with “This PC can’t run Windows 11”.`;
  }
  if (chosen === 'uefi-secure')
    return isWindows(plan)
      ? `${name} boots with Secure Boot, as on a new PC: only signed boot loaders start.`
      : 'Only signed boot loaders start (Windows, and Linux with a signed shim: Debian, Ubuntu, Fedora…); others are refused.';
  if (kind === 'bios' && bios && !uefi) return 'The disc boots only with BIOS.';
  if (kind === 'uefi' && uefi && !bios) return 'The disc boots only with UEFI.';
  if (plan.os.firmware === kind) return `${name} expects ${kind === 'uefi' ? 'UEFI' : 'BIOS'}.`;
  if (plan.os.firmware === 'either')
    return `The disc boots both ways; ${kind === 'uefi' ? 'UEFI is the modern choice' : 'BIOS is the simplest'}.`;
  return `${name} expects ${plan.os.firmware === 'uefi' ? 'UEFI' : 'BIOS'}; ${kind === 'uefi' ? 'UEFI' : 'BIOS'} may work too.`;
}

/** What the TPM checkbox means for this OS. */
export function tpmWhy(plan: IsoPlan, tpm: boolean): string {
  const name = plan.os.name || 'This OS';
  if (plan.os.tpm && !tpm) return `${name}’s installer refuses to continue without a TPM 2.0.`;
  if (tpm)
    return 'Emulated by swtpm, which runs beside QEMU; its state (BitLocker keys, measured boot) stays in the VM’s folder.';
  return 'Windows 11, BitLocker and measured boot use one; most other guests do not need it.';
}

/**
 * The "Windows-ready" lines: the devices (and why), the clock, Hyper-V. `withDrivers`: a driver
 * disc goes in the second drive.
 */
export function windowsReadyLines(plan: IsoPlan, withDrivers: boolean): string[] {
  const lines = [
    withDrivers
      ? 'Virtio disk and network card, the fastest: Windows Setup installs their drivers from the driver disc.'
      : 'SATA disk and Intel e1000e network card: Windows has drivers for them, so Setup sees the disk and the network at once.',
    'The clock keeps local time, as Windows expects.',
  ];
  if (plan.defaults.hyperv) lines.push('Hyper-V enlightenments, so Windows runs faster under KVM (TCG ignores them).');
  return lines;
}

/** Where Setup finds the virtio disk driver on virtio-win's disc (viostor\w11\amd64). */
export function loadDriverHint(plan: IsoPlan): string {
  const major = /^(\d+)/.exec(plan.os.version)?.[1];
  const folder = major === '11' || major === '10' ? `viostor\\w${major}\\amd64` : 'viostor';
  return `Windows Setup lists no disk until you click Load driver and pick ${folder} on the driver disc.`;
}
