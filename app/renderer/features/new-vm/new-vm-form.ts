/** The New VM form: its values, turning them into vm.define input, and placing driver errors. */
import type { CallParams } from '../../../main/common/contract.js';
import { VmdeskError } from '../../../main/common/errors.js';
import { vmNameProblem } from '../../../main/common/names.js';

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

/** Input for vm.define, or the errors that can be told without asking the driver. */
export function toDefineInput(f: NewVmForm): { input: CallParams<'vm.define'> } | { errors: FormErrors } {
  const errors: FormErrors = {};
  const memoryMiB = number(f.memory);
  const cpus = number(f.cpus);
  const diskGiB = number(f.disk);
  // The driver's own rule, so the form says at once what the driver would refuse.
  const nameProblem = vmNameProblem(f.name);
  if (nameProblem) errors.name = nameProblem;
  if (!Number.isFinite(memoryMiB)) errors.memory = 'Enter the memory in MiB, e.g. 2048.';
  if (!Number.isFinite(cpus)) errors.cpus = 'Enter a number of CPUs, e.g. 2.';
  if (!Number.isFinite(diskGiB) || diskGiB < 0) errors.disk = 'Enter a size in GiB, or 0 for no disk.';
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
