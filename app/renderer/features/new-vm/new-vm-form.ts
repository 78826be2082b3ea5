/** The New VM form: its values, turning them into vm.define input, and placing driver errors. */
import type { CallParams } from '../../../main/common/contract.js';
import { VmdeskError } from '../../../main/common/errors.js';
import { normalizeVmName, sameVmName, vmNameProblem } from '../../../main/common/names.js';

/**
 * The contract's limits (vm-types.ts MIN_MEMORY_MIB and MAX_CPUS; the renderer may import no
 * values from vm-types, which carries valibot): new-vm-form.test.ts keeps them equal.
 */
export const MIN_MEMORY_MIB = 16;
export const MAX_CPUS = 255;

export type FieldId = 'name' | 'memory' | 'cpus' | 'disk' | 'iso' | 'accel';
export type Accel = NonNullable<CallParams<'vm.define'>['accel']>;

export interface NewVmForm {
  name: string;
  memory: string;
  cpus: string;
  disk: string;
  iso: string;
  accel: Accel;
}

export const DEFAULT_FORM: NewVmForm = { name: '', memory: '1024', cpus: '1', disk: '20', iso: '', accel: 'auto' };

/** The driver's `details.field` → the input it is about. */
const DRIVER_FIELDS: Record<string, FieldId> = {
  name: 'name',
  memory: 'memory',
  // The contract's own field names, when its schema refuses a value before the driver looks.
  memoryMiB: 'memory',
  'disk.sizeBytes': 'disk',
  cpus: 'cpus',
  diskSize: 'disk',
  disk: 'disk',
  cdrom: 'iso',
  accel: 'accel',
  VMDESK_ACCEL: 'accel',
};

export type FormErrors = Partial<Record<FieldId | 'form', string>>;

function number(text: string): number {
  return text.trim() === '' ? Number.NaN : Number(text);
}

/**
 * Input for vm.define, or every error that can be told without asking the driver, all at once
 * (the driver stops at its first refusal): its own name rule, a name one of `takenNames` (this
 * computer's VMs) has, and the contract's limits on memory, CPUs and a new disk's size.
 */
export function toDefineInput(
  f: NewVmForm,
  takenNames: readonly string[] = [],
): { input: CallParams<'vm.define'> } | { errors: FormErrors } {
  const errors: FormErrors = {};
  const memoryMiB = number(f.memory);
  const cpus = number(f.cpus);
  const diskGiB = number(f.disk);
  // The driver's own rules, so the form says at once what the driver would refuse.
  const nameProblem = vmNameProblem(f.name);
  if (nameProblem) errors.name = nameProblem;
  else if (takenNames.some((n) => sameVmName(n, f.name)))
    errors.name = `A VM named "${normalizeVmName(f.name)}" already exists. Choose another name.`;
  if (!Number.isFinite(memoryMiB)) errors.memory = 'Enter the memory in MiB, e.g. 2048.';
  else if (!Number.isInteger(memoryMiB)) errors.memory = 'Enter a whole number of MiB, e.g. 2048.';
  else if (memoryMiB < MIN_MEMORY_MIB)
    errors.memory = `Give the VM at least ${MIN_MEMORY_MIB} MiB of memory, e.g. 1024.`;
  if (!Number.isFinite(cpus)) errors.cpus = 'Enter a number of CPUs, e.g. 2.';
  else if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS)
    errors.cpus = `Give the VM from 1 to ${MAX_CPUS} CPUs.`;
  if (!Number.isFinite(diskGiB) || diskGiB < 0) errors.disk = 'Enter a size in GiB, or 0 for no disk.';
  else if (diskGiB > 0 && diskGiB * 1024 < 1)
    errors.disk = 'A new disk must be at least 1 MiB: enter a size in GiB such as 20, or 0 for no disk.';
  if (Object.keys(errors).length > 0) return { errors };
  const iso = f.iso.trim();
  const input: CallParams<'vm.define'> = { name: f.name, memoryMiB, cpus, accel: f.accel };
  if (diskGiB > 0) input.disk = { sizeBytes: Math.round(diskGiB * 2 ** 30) };
  if (iso !== '') input.cdrom = iso;
  return { input };
}

/** Where a failed vm.define shows its message: next to its field, or above the form. */
export function placeError(err: unknown): FormErrors {
  const message = err instanceof Error ? err.message : String(err);
  const field =
    err instanceof VmdeskError && typeof err.details?.field === 'string' ? DRIVER_FIELDS[err.details.field] : undefined;
  return field ? { [field]: message } : { form: message };
}
