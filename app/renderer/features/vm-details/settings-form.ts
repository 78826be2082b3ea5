/**
 * The Settings view's form: its values from a VM, the vm.update input made of only what changed,
 * where a refusal shows, and how the driver's `pending` list reads.
 */
import type { CallParams } from '../../../main/common/contract.js';
import { VmdeskError } from '../../../main/common/errors.js';
import { vmNameProblem } from '../../../main/common/names.js';
import type { VmDefinition, VmState, VmSummary } from '../../../main/common/vm-types.js';
import { formatMiB } from './format.js';

export type UpdateInput = CallParams<'vm.update'>;
export type Boot = NonNullable<UpdateInput['boot']>;
export type Display = NonNullable<UpdateInput['display']>;
export type Accel = NonNullable<UpdateInput['accel']>;
export type SettingsFieldId = 'name' | 'memory' | 'cpus' | 'boot' | 'display' | 'accel';

/** What the inputs hold: numbers as typed, so a half-typed "20" is not turned into something else. */
export interface SettingsForm {
  name: string;
  memory: string;
  cpus: string;
  boot: Boot;
  display: Display;
  accel: Accel;
}

/** The form as loaded from one version of the definition, with that version's revision. */
export interface SettingsBase {
  form: SettingsForm;
  revision?: string;
}

/** `stale`: the VM changed since the form was loaded (another window, an editor); reload it. */
export type SettingsErrors = Partial<Record<SettingsFieldId | 'form' | 'stale', string>>;

export const FIELD_LABELS: Record<SettingsFieldId, string> = {
  name: 'Name',
  memory: 'Memory',
  cpus: 'CPUs',
  boot: 'Boot device',
  display: 'Display',
  accel: 'Accelerator',
};

/** The fields a running QEMU keeps as it started with; the name is vmdesk's own and changes at once. */
export const AT_NEXT_START: readonly SettingsFieldId[] = ['memory', 'cpus', 'boot', 'display', 'accel'];

/** QEMU is there (or on its way): changes to its hardware wait for the next start. */
export function runsNow(state: VmState): boolean {
  return state === 'starting' || state === 'running' || state === 'paused' || state === 'stopping';
}

/** The form for a VM's current definition; undefined for a broken VM (its file could not be read). */
export function settingsBase(vm: VmSummary): SettingsBase | undefined {
  const d = vm.definition;
  if (!d) return undefined;
  return {
    form: {
      name: vm.name,
      memory: String(d.memoryMiB),
      cpus: String(d.cpus),
      boot: d.boot,
      display: d.display,
      accel: d.accel,
    },
    revision: vm.revision,
  };
}

function number(text: string): number {
  return text.trim() === '' ? Number.NaN : Number(text);
}

/** The fields whose value differs from the loaded one ("2048 " is the same memory as "2048"). */
export function changedFields(base: SettingsForm, form: SettingsForm): SettingsFieldId[] {
  const same: Record<SettingsFieldId, boolean> = {
    name: form.name === base.name,
    memory: number(form.memory) === number(base.memory),
    cpus: number(form.cpus) === number(base.cpus),
    boot: form.boot === base.boot,
    display: form.display === base.display,
    accel: form.accel === base.accel,
  };
  return (Object.keys(same) as SettingsFieldId[]).filter((k) => !same[k]);
}

/**
 * Input for vm.update: the VM, the revision the form was loaded from and only the changed fields;
 * or the errors that can be told without asking the driver (its own name rule, unreadable
 * numbers); or `unchanged` when there is nothing to send.
 */
export function toUpdateInput(
  vmId: string,
  base: SettingsBase,
  form: SettingsForm,
): { input: UpdateInput } | { errors: SettingsErrors } | { unchanged: true } {
  const changed = changedFields(base.form, form);
  if (changed.length === 0) return { unchanged: true };
  const errors: SettingsErrors = {};
  const memoryMiB = number(form.memory);
  const cpus = number(form.cpus);
  if (changed.includes('name')) {
    const problem = vmNameProblem(form.name);
    if (problem) errors.name = problem;
  }
  if (changed.includes('memory') && !Number.isFinite(memoryMiB)) errors.memory = 'Enter the memory in MiB, e.g. 2048.';
  if (changed.includes('cpus') && !Number.isFinite(cpus)) errors.cpus = 'Enter a number of CPUs, e.g. 2.';
  if (Object.keys(errors).length > 0) return { errors };
  const input: UpdateInput = { vm: vmId };
  if (base.revision !== undefined) input.revision = base.revision;
  for (const k of changed) {
    if (k === 'name') input.name = form.name;
    else if (k === 'memory') input.memoryMiB = memoryMiB;
    else if (k === 'cpus') input.cpus = cpus;
    else if (k === 'boot') input.boot = form.boot;
    else if (k === 'display') input.display = form.display;
    else input.accel = form.accel;
  }
  return { input };
}

/** The driver's `details.field` (and the contract's own names, when its schema refuses first). */
const DRIVER_FIELDS: Record<string, SettingsFieldId> = {
  name: 'name',
  memory: 'memory',
  memoryMiB: 'memory',
  cpus: 'cpus',
  boot: 'boot',
  display: 'display',
  accel: 'accel',
  VMDESK_ACCEL: 'accel',
};

/** Where a failed vm.update shows its message: next to its field, as a stale form, or above the form. */
export function placeSettingsError(err: unknown): SettingsErrors {
  const message = err instanceof Error ? err.message : String(err);
  if (!(err instanceof VmdeskError)) return { form: message };
  const field = typeof err.details?.field === 'string' ? DRIVER_FIELDS[err.details.field] : undefined;
  if (field) return { [field]: message };
  // The revision check's refusal: what is on screen is not what is on disk any more.
  if (err.code === 'invalid-state') return { stale: message };
  return { form: message };
}

export const DISPLAY_LABELS: Record<Display, string> = {
  std: 'Standard VGA',
  virtio: 'Virtio GPU',
  none: 'None (serial console only)',
};

/** A setting's stored value as the form's choices name it. */
function valueLabel(field: SettingsFieldId, d: VmDefinition): string {
  if (field === 'name') return d.name;
  if (field === 'memory') return formatMiB(d.memoryMiB);
  if (field === 'cpus') return String(d.cpus);
  if (field === 'boot') return d.boot === 'cdrom' ? 'CD-ROM' : 'Disk';
  if (field === 'display') return DISPLAY_LABELS[d.display];
  return d.accel === 'auto' ? 'Automatic' : d.accel.toUpperCase();
}

const PENDING_FIELDS: Record<string, SettingsFieldId> = {
  name: 'name',
  memory: 'memory',
  memoryMiB: 'memory',
  cpus: 'cpus',
  boot: 'boot',
  display: 'display',
  accel: 'accel',
};

/**
 * Settings as a person reads them (the driver's `pending` entries, the fields changed meanwhile):
 * a field name becomes its label and its value in `d` ("Memory: 8 GiB"); anything else (a
 * sentence) is shown as it is.
 */
export function describeSettings(entries: readonly string[] | undefined, d: VmDefinition | undefined): string[] {
  return (entries ?? []).map((p) => {
    const field = PENDING_FIELDS[p];
    if (!field) return p;
    return d ? `${FIELD_LABELS[field]}: ${valueLabel(field, d)}` : FIELD_LABELS[field];
  });
}
