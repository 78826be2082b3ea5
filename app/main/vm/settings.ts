/**
 * Changing a VM's settings after it is made (`vm.update`): the new definition from a partial
 * change, checked like a define (the name rule and uniqueness, the host's memory and CPUs), and
 * what of it waits for the next start of a running VM.
 */
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import type { CallParams } from '../common/contract.js';
import { normalizeVmName, sameVmName, vmNameProblem } from '../common/names.js';
import { bootOrderText, MAX_SATA_DISKS, type BootDevice, type VmDefinition } from '../common/vm-types.js';
import { assertFitsHost, formatMiB } from './define-vm.js';
import { checkedShares } from './shares.js';
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
  if (change.cdromDrives !== undefined && change.cdromDrives !== def.cdroms.length) {
    next.cdroms =
      change.cdromDrives < def.cdroms.length
        ? def.cdroms.slice(0, change.cdromDrives)
        : [...def.cdroms, ...Array<null>(change.cdromDrives - def.cdroms.length).fill(null)];
  }
  if (change.network !== undefined) next.network = { ...def.network, mode: change.network };
  const usable = (b: BootDevice) =>
    b === 'cdrom' ? next.cdroms.length > 0 : b === 'network' ? next.network.mode === 'user' : true;
  if (change.boot !== undefined) {
    const bad = change.boot.find((b) => !usable(b));
    if (bad)
      throw new VmdeskError(
        'invalid-argument',
        bad === 'cdrom'
          ? `"${def.name}" has no CD-ROM drive to boot from. Add a drive first, or leave cdrom out of the boot order.`
          : `"${def.name}" has no network to boot from. Turn its network on first, or leave network out of the boot order.`,
        { field: 'boot' },
      );
    next.boot = [...change.boot];
  } else if (!def.boot.every(usable)) {
    // The last drive went, or the network: the boot order loses it rather than refusing the change.
    const kept = def.boot.filter(usable);
    next.boot = kept.length > 0 ? kept : ['disk'];
  }
  if (change.firmware !== undefined) {
    if (def.arch === 'aarch64' && change.firmware === 'bios')
      throw new VmdeskError('invalid-argument', 'An aarch64 VM always boots UEFI: there is no BIOS for it.', {
        field: 'firmware',
      });
    next.firmware = change.firmware;
    // BIOS has no Secure Boot: it goes with UEFI (and comes back only when asked for).
    if (change.firmware === 'bios') next.secureBoot = false;
  }
  if (change.secureBoot !== undefined) {
    if (change.secureBoot && next.firmware !== 'uefi')
      throw new VmdeskError(
        'invalid-argument',
        `Secure Boot is part of UEFI, and "${def.name}" boots with BIOS. Switch it to UEFI as well (an OS installed with BIOS will not boot that way).`,
        { field: 'secureBoot' },
      );
    if (change.secureBoot && def.arch === 'aarch64')
      throw new VmdeskError(
        'invalid-argument',
        'vmdesk offers Secure Boot for x86_64 VMs only (no aarch64 firmware ships with keys enrolled).',
        { field: 'secureBoot' },
      );
    next.secureBoot = change.secureBoot;
  }
  if (change.tpm !== undefined) next.tpm = change.tpm;
  if (change.diskBus !== undefined || change.nic !== undefined)
    next.devices = { disk: change.diskBus ?? def.devices.disk, nic: change.nic ?? def.devices.nic };
  if (next.devices.disk === 'sata' && next.disks.length > MAX_SATA_DISKS)
    throw new VmdeskError(
      'invalid-argument',
      `"${def.name}" has ${next.disks.length} disks, and SATA takes at most ${MAX_SATA_DISKS}. Remove disks first, or keep virtio.`,
      { field: 'diskBus' },
    );
  if (change.shares !== undefined) next.shares = checkedShares(change.shares);
  if (change.sound !== undefined) next.sound = change.sound;
  if (change.clipboard !== undefined) next.clipboard = change.clipboard;
  if (change.usb !== undefined) next.usb = change.usb.map((u) => ({ ...u }));
  if ((next.usb ?? []).length > 0 && next.display === 'none')
    throw new VmdeskError(
      'invalid-argument',
      `"${def.name}" has no display, and so no USB controller: give it a display (vmdesk set "${def.name}" --display std) to plug in USB devices.`,
      { field: 'usb' },
    );
  if (change.clock !== undefined) next.clock = change.clock;
  if (change.hyperv !== undefined) next.hyperv = change.hyperv;
  if (change.display !== undefined) next.display = change.display;
  if (change.accel !== undefined) next.accel = change.accel;
  if (change.autostart !== undefined) {
    // Stored only when on, so a definition that never had it is not rewritten by "off".
    if (change.autostart) next.autostart = true;
    else delete next.autostart;
  }
  return settingsDiff(def, next).length === 0 && next.name === def.name && autostartDiff(def, next).length === 0
    ? def
    : next;
}

/**
 * The "Start with vmdesk" change between two definitions, as one line (or none). Kept out of
 * `settingsDiff`: that one lists what a running QEMU waits for, and this applies at once.
 */
export function autostartDiff(before: VmDefinition, after: VmDefinition): string[] {
  const [was, now] = [!!before.autostart, !!after.autostart];
  return was === now ? [] : [`Start with vmdesk: ${was ? 'on' : 'off'} → ${now ? 'on' : 'off'}`];
}

const shareText = (ss: readonly { tag: string; readOnly: boolean }[]) =>
  ss.length ? ss.map((s) => `${s.tag}${s.readOnly ? ' (read-only)' : ''}`).join(', ') : 'none';

const discName = (iso: string | null) => (iso ? path.basename(iso) : 'empty');

/** Each setting that differs between `before` and `after`, as "Memory: 1 GiB → 2 GiB". */
export function settingsDiff(before: VmDefinition, after: VmDefinition): string[] {
  const out: string[] = [];
  if (before.memoryMiB !== after.memoryMiB)
    out.push(`Memory: ${formatMiB(before.memoryMiB)} → ${formatMiB(after.memoryMiB)}`);
  if (before.cpus !== after.cpus) out.push(`CPUs: ${before.cpus} → ${after.cpus}`);
  if (before.boot.join() !== after.boot.join())
    out.push(`Boot order: ${bootOrderText(before.boot)} → ${bootOrderText(after.boot)}`);
  if (before.firmware !== after.firmware) out.push(`Firmware: ${before.firmware} → ${after.firmware}`);
  if (before.display !== after.display) out.push(`Display: ${before.display} → ${after.display}`);
  if (before.accel !== after.accel) out.push(`Accelerator: ${before.accel} → ${after.accel}`);
  if (before.network.mode !== after.network.mode) out.push(`Network: ${before.network.mode} → ${after.network.mode}`);
  const onOff = (b: boolean) => (b ? 'on' : 'off');
  if (before.secureBoot !== after.secureBoot)
    out.push(`Secure Boot: ${onOff(before.secureBoot)} → ${onOff(after.secureBoot)}`);
  if (before.tpm !== after.tpm) out.push(`TPM: ${onOff(before.tpm)} → ${onOff(after.tpm)}`);
  if (before.devices.disk !== after.devices.disk) out.push(`Disk bus: ${before.devices.disk} → ${after.devices.disk}`);
  if (before.devices.nic !== after.devices.nic) out.push(`Network card: ${before.devices.nic} → ${after.devices.nic}`);
  if (before.clock !== after.clock) out.push(`Clock: ${before.clock} → ${after.clock}`);
  if (!!before.sound !== !!after.sound) out.push(`Sound: ${onOff(!!before.sound)} → ${onOff(!!after.sound)}`);
  if (!!before.clipboard !== !!after.clipboard)
    out.push(`Shared clipboard: ${onOff(!!before.clipboard)} → ${onOff(!!after.clipboard)}`);
  const usbText = (us: readonly { vendorId: string; productId: string }[]) =>
    us.length ? us.map((u) => `${u.vendorId}:${u.productId}`).join(', ') : 'none';
  if (usbText(before.usb ?? []) !== usbText(after.usb ?? []))
    out.push(`USB devices: ${usbText(before.usb ?? [])} → ${usbText(after.usb ?? [])}`);
  const [sharesWas, sharesNow] = [before.shares ?? [], after.shares ?? []];
  if (JSON.stringify(sharesWas) !== JSON.stringify(sharesNow))
    out.push(`Shared folders: ${shareText(sharesWas)} → ${shareText(sharesNow)}`);
  if (before.hyperv !== after.hyperv)
    out.push(`Hyper-V enlightenments: ${onOff(before.hyperv)} → ${onOff(after.hyperv)}`);
  if (before.cdroms.length !== after.cdroms.length)
    out.push(`CD-ROM drives: ${before.cdroms.length} → ${after.cdroms.length}`);
  for (let i = 0; i < Math.min(before.cdroms.length, after.cdroms.length); i++)
    if (before.cdroms[i] !== after.cdroms[i])
      out.push(`CD-ROM ${i + 1}: ${discName(before.cdroms[i]!)} → ${discName(after.cdroms[i]!)}`);
  const was = new Map(before.disks.map((d) => [d.target, d]));
  const now = new Map(after.disks.map((d) => [d.target, d]));
  for (const [t, d] of now) if (was.get(t)?.path !== d.path) out.push(`Disk ${t}: added ${path.basename(d.path)}`);
  for (const [t, d] of was) if (now.get(t)?.path !== d.path) out.push(`Disk ${t}: removed ${path.basename(d.path)}`);
  return out;
}
