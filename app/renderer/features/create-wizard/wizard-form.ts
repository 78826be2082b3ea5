/**
 * The create wizard's form: prefilled from an IsoPlan, turned into vm.create params, and the
 * sentences it shows about the plan (what the OS is, how the disc boots, why this firmware).
 */
import type { CallParams } from '../../../main/common/contract.js';
import { VmdeskError } from '../../../main/common/errors.js';
import { vmNameProblem } from '../../../main/common/names.js';
import type { IsoPlan } from '../../store/store.js';

export type Firmware = 'bios' | 'uefi';
export interface WizardForm {
  name: string;
  memory: string;
  cpus: string;
  disk: string;
  firmware: Firmware;
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
    firmware: d.firmware,
  };
}

function number(text: string): number {
  return text.trim() === '' ? Number.NaN : Number(text);
}

/** vm.create params for what the form shows (every value is sent: the user saw them all). */
export function toCreateParams(
  f: WizardForm,
  iso: string,
  start: boolean,
): { params: CallParams<'vm.create'> } | { errors: WizardErrors } {
  const errors: WizardErrors = {};
  const memoryMiB = number(f.memory);
  const cpus = number(f.cpus);
  const diskGiB = number(f.disk);
  if (f.name.trim() === '') errors.name = 'Give the VM a name.';
  else errors.name = vmNameProblem(f.name);
  if (!Number.isInteger(memoryMiB) || memoryMiB <= 0) errors.memory = 'Enter the memory in MiB, e.g. 2048.';
  if (!Number.isInteger(cpus) || cpus < 1) errors.cpus = 'Enter a number of CPUs, e.g. 2.';
  if (!Number.isFinite(diskGiB) || diskGiB < 0) errors.disk = 'Enter a size in GiB, or 0 for no disk.';
  if (Object.values(errors).some((e) => e !== undefined)) return { errors };
  return { params: { iso, name: f.name, memoryMiB, cpus, diskGiB, firmware: f.firmware, start } };
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
};

export function placeCreateError(err: unknown): WizardErrors {
  const message = err instanceof Error ? err.message : String(err);
  const field =
    err instanceof VmdeskError && typeof err.details?.field === 'string' ? DRIVER_FIELDS[err.details.field] : undefined;
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
  if (chosen === 'bios' && !bios && uefi) return 'This disc boots only with UEFI: with BIOS it will not start.';
  if (chosen === 'uefi' && !uefi && bios) return 'This disc boots only with BIOS: with UEFI it will not start.';
  if (plan.os.tpm && chosen === 'uefi') return `${name} requires UEFI with Secure Boot and a TPM 2.0.`;
  if (chosen === 'bios' && bios && !uefi) return 'The disc boots only with BIOS.';
  if (chosen === 'uefi' && uefi && !bios) return 'The disc boots only with UEFI.';
  if (plan.os.firmware === chosen) return `${name} expects ${chosen === 'uefi' ? 'UEFI' : 'BIOS'}.`;
  if (plan.os.firmware === 'either')
    return `The disc boots both ways; ${chosen === 'uefi' ? 'UEFI is the modern choice' : 'BIOS is the simplest'}.`;
  return `${name} expects ${plan.os.firmware === 'uefi' ? 'UEFI' : 'BIOS'}; ${chosen === 'uefi' ? 'UEFI' : 'BIOS'} may work too.`;
}
