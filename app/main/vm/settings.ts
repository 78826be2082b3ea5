/**
 * Changing a VM's settings after it is made (`vm.update`): the new definition from a partial
 * change, checked like a define (the name rule and uniqueness, the host's memory and CPUs), and
 * what of it waits for the next start of a running VM.
 */
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import type { CallParams } from '../common/contract.js';
import { normalizeVmName, sameVmName, vmNameProblem } from '../common/names.js';
import type { VmDefinition } from '../common/vm-types.js';
import { assertFitsHost, formatMiB } from './define-vm.js';
import type { HostServices } from './host-services.js';

export type SettingsChange = Omit<CallParams<'vm.update'>, 'vm' | 'revision'>;

/**
 * `def` with `change` applied, or `def` itself when nothing differs. `others`: the other VMs'
 * definitions (a name must stay unique). Throws with the field the problem is about.
 */
export function applySettings(
  def: VmDefinition,
  change: SettingsChange,
  others: readonly VmDefinition[],
  host: HostServices,
): VmDefinition {
  const next: VmDefinition = { ...def };
  if (change.name !== undefined) {
    const name = normalizeVmName(change.name);
    const problem = vmNameProblem(name);
    if (problem) throw new VmdeskError('invalid-argument', problem, { field: 'name' });
    const taken = others.find((o) => o.id !== def.id && sameVmName(o.name, name));
    if (taken)
      throw new VmdeskError('name-taken', `A VM named "${name}" already exists. Choose another name.`, {
        field: 'name',
      });
    next.name = name;
  }
  assertFitsHost(
    {
      ...(change.memoryMiB !== undefined && change.memoryMiB !== def.memoryMiB ? { memoryMiB: change.memoryMiB } : {}),
      ...(change.cpus !== undefined && change.cpus !== def.cpus ? { cpus: change.cpus } : {}),
    },
    host,
  );
  if (change.memoryMiB !== undefined) next.memoryMiB = change.memoryMiB;
  if (change.cpus !== undefined) next.cpus = change.cpus;
  if (change.boot !== undefined) {
    if (change.boot === 'cdrom' && !def.cdrom)
      throw new VmdeskError(
        'invalid-argument',
        `"${def.name}" has no ISO inserted, so it cannot boot from its CD-ROM. Insert one first.`,
        { field: 'boot' },
      );
    next.boot = change.boot;
  }
  if (change.display !== undefined) next.display = change.display;
  if (change.accel !== undefined) next.accel = change.accel;
  return settingsDiff(def, next).length === 0 && next.name === def.name ? def : next;
}

const BOOT = { disk: 'disk', cdrom: 'CD-ROM' } as const;

/** Each setting that differs between `before` and `after`, as "Memory: 1 GiB → 2 GiB". */
export function settingsDiff(before: VmDefinition, after: VmDefinition): string[] {
  const out: string[] = [];
  if (before.memoryMiB !== after.memoryMiB)
    out.push(`Memory: ${formatMiB(before.memoryMiB)} → ${formatMiB(after.memoryMiB)}`);
  if (before.cpus !== after.cpus) out.push(`CPUs: ${before.cpus} → ${after.cpus}`);
  if (before.boot !== after.boot) out.push(`Boot from: ${BOOT[before.boot]} → ${BOOT[after.boot]}`);
  if (before.display !== after.display) out.push(`Display: ${before.display} → ${after.display}`);
  if (before.accel !== after.accel) out.push(`Accelerator: ${before.accel} → ${after.accel}`);
  if (before.cdrom !== after.cdrom)
    out.push(
      `CD-ROM: ${before.cdrom ? path.basename(before.cdrom) : 'none'} → ${after.cdrom ? path.basename(after.cdrom) : 'none'}`,
    );
  return out;
}
