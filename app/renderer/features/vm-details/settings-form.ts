/**
 * The Settings view's form: its values from a VM, the vm.update input made of only what changed,
 * where a refusal shows, and how the driver's `pending` list reads.
 */
import type { CallParams } from '../../../main/common/contract.js';
import { VmdeskError } from '../../../main/common/errors.js';
import { vmNameProblem } from '../../../main/common/names.js';
import type { BootDevice, VmDefinition, VmSummary } from '../../../main/common/vm-types.js';
import { BOOT_DEVICES, bootOrderText, runsNow } from './device-model.js';
import { formatMiB } from './format.js';

export type UpdateInput = CallParams<'vm.update'>;
export type Display = NonNullable<UpdateInput['display']>;
export type Accel = NonNullable<UpdateInput['accel']>;
export type Firmware = NonNullable<UpdateInput['firmware']>;
export type NetworkMode = NonNullable<UpdateInput['network']>;
export type DiskBus = NonNullable<UpdateInput['diskBus']>;
export type NicModel = NonNullable<UpdateInput['nic']>;
export type Clock = NonNullable<UpdateInput['clock']>;
export type SettingsFieldId =
  | 'name'
  | 'memory'
  | 'cpus'
  | 'accel'
  | 'firmware'
  | 'secureBoot'
  | 'tpm'
  | 'boot'
  | 'display'
  | 'network'
  | 'diskBus'
  | 'nic'
  | 'clock'
  | 'hyperv'
  | 'shares'
  | 'sound'
  | 'clipboard'
  | 'usb'
  | 'autostart';

/** A shared folder as the form holds it. */
export interface ShareEntry {
  path: string;
  tag: string;
  readOnly: boolean;
}

/** A USB device (vendor:product) plugged in at every start. */
export interface UsbEntry {
  vendorId: string;
  productId: string;
}

/** One line of the boot-order editor: every device is listed, in order; `on` ones are booted. */
export interface BootEntry {
  device: BootDevice;
  on: boolean;
}

/** What the inputs hold: numbers as typed, so a half-typed "20" is not turned into something else. */
export interface SettingsForm {
  name: string;
  memory: string;
  cpus: string;
  accel: Accel;
  firmware: Firmware;
  secureBoot: boolean;
  tpm: boolean;
  boot: BootEntry[];
  display: Display;
  network: NetworkMode;
  diskBus: DiskBus;
  nic: NicModel;
  clock: Clock;
  hyperv: boolean;
  shares: ShareEntry[];
  sound: boolean;
  clipboard: boolean;
  usb: UsbEntry[];
  /** Start with vmdesk (vmdesk's own setting: applies at once, also to a running VM). */
  autostart: boolean;
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
  accel: 'Accelerator',
  firmware: 'Firmware',
  secureBoot: 'Secure Boot',
  tpm: 'TPM 2.0',
  boot: 'Boot order',
  display: 'Display',
  network: 'Network',
  diskBus: 'Disk bus',
  nic: 'Network card',
  clock: 'Clock',
  hyperv: 'Hyper-V enlightenments',
  shares: 'Shared folders',
  sound: 'Sound',
  clipboard: 'Shared clipboard',
  usb: 'USB devices',
  autostart: 'Start with vmdesk',
};

/** The one line under the "Start with vmdesk" checkbox. */
export const AUTOSTART_NOTE =
  'Starts this VM when vmdesk starts (the app, vmdesk web or vmdesk driver), once per login: a VM you stop stays stopped until you log in again.';

/** The fields a running QEMU keeps as it started with; the name is vmdesk's own and changes at once. */
export const AT_NEXT_START: readonly SettingsFieldId[] = [
  'memory',
  'cpus',
  'accel',
  'firmware',
  'secureBoot',
  'tpm',
  'boot',
  'display',
  'network',
  'diskBus',
  'nic',
  'clock',
  'hyperv',
  'shares',
  'sound',
  'clipboard',
  'usb',
];

export { runsNow };

/** The editor's list for a stored boot order: the booted devices in order, then the others. */
export function bootEntries(boot: readonly BootDevice[]): BootEntry[] {
  return [
    ...boot.map((device) => ({ device, on: true })),
    ...BOOT_DEVICES.filter((d) => !boot.includes(d)).map((device) => ({ device, on: false })),
  ];
}

/** The boot order the driver stores: the devices switched on, in the editor's order. */
export function bootOrder(entries: readonly BootEntry[]): BootDevice[] {
  return entries.filter((e) => e.on).map((e) => e.device);
}

/** The list with entry `i` moved one place up (-1) or down (+1); unchanged at either end. */
export function moveBootEntry(entries: readonly BootEntry[], i: number, by: -1 | 1): BootEntry[] {
  const j = i + by;
  if (i < 0 || i >= entries.length || j < 0 || j >= entries.length) return [...entries];
  const next = [...entries];
  [next[i], next[j]] = [next[j]!, next[i]!];
  return next;
}

/** The list with `device` switched on or off. */
export function toggleBootEntry(entries: readonly BootEntry[], device: BootDevice, on: boolean): BootEntry[] {
  return entries.map((e) => (e.device === device ? { ...e, on } : e));
}

/**
 * The form with another network mode. Turning the network off takes it out of the boot order as
 * well (the driver refuses to boot from a network that is not there), keeping at least the disk.
 */
export function withNetwork(form: SettingsForm, network: NetworkMode): SettingsForm {
  if (network === 'user') return { ...form, network };
  let boot = toggleBootEntry(form.boot, 'network', false);
  if (bootOrder(boot).length === 0) boot = toggleBootEntry(boot, 'disk', true);
  return { ...form, network, boot };
}

/**
 * Why a boot device cannot be switched on, or undefined when it can: a CD-ROM needs a drive, a
 * network boot needs the network on.
 */
export function bootDeviceProblem(device: BootDevice, form: SettingsForm, cdromDrives: number): string | undefined {
  if (device === 'cdrom' && cdromDrives === 0) return 'No CD-ROM drive: add one under CD-ROM drives first.';
  if (device === 'network' && form.network === 'none') return 'The network is off: choose user-mode NAT first.';
  return undefined;
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
      accel: d.accel,
      firmware: d.firmware,
      secureBoot: d.secureBoot,
      tpm: d.tpm,
      boot: bootEntries(d.boot),
      display: d.display,
      network: d.network.mode,
      diskBus: d.devices.disk,
      nic: d.devices.nic,
      clock: d.clock,
      hyperv: d.hyperv,
      shares: (d.shares ?? []).map((x) => ({ path: x.path, tag: x.tag, readOnly: x.readOnly })),
      sound: d.sound ?? false,
      clipboard: d.clipboard ?? false,
      usb: (d.usb ?? []).map((u) => ({ vendorId: u.vendorId, productId: u.productId })),
      autostart: d.autostart ?? false,
    },
    revision: vm.revision,
  };
}

function number(text: string): number {
  return text.trim() === '' ? Number.NaN : Number(text);
}

/** Whether the user typed or chose anything (text as typed: "2048 " is an edit, not a change). */
export function formEdited(base: SettingsForm, form: SettingsForm): boolean {
  return (Object.keys(form) as (keyof SettingsForm)[]).some((k) =>
    Array.isArray(form[k]) ? JSON.stringify(form[k]) !== JSON.stringify(base[k]) : form[k] !== base[k],
  );
}

/** The fields whose value differs from the loaded one ("2048 " is the same memory as "2048"). */
export function changedFields(base: SettingsForm, form: SettingsForm): SettingsFieldId[] {
  const same: Record<SettingsFieldId, boolean> = {
    name: form.name === base.name,
    memory: number(form.memory) === number(base.memory),
    cpus: number(form.cpus) === number(base.cpus),
    accel: form.accel === base.accel,
    firmware: form.firmware === base.firmware,
    secureBoot: form.secureBoot === base.secureBoot,
    tpm: form.tpm === base.tpm,
    // Only the booted devices and their order count; where an unused one sits does not.
    boot: bootOrder(form.boot).join() === bootOrder(base.boot).join(),
    display: form.display === base.display,
    network: form.network === base.network,
    diskBus: form.diskBus === base.diskBus,
    nic: form.nic === base.nic,
    clock: form.clock === base.clock,
    hyperv: form.hyperv === base.hyperv,
    shares: JSON.stringify(form.shares) === JSON.stringify(base.shares),
    sound: form.sound === base.sound,
    clipboard: form.clipboard === base.clipboard,
    usb: JSON.stringify(form.usb) === JSON.stringify(base.usb),
    autostart: form.autostart === base.autostart,
  };
  return (Object.keys(same) as SettingsFieldId[]).filter((k) => !same[k]);
}

/**
 * The base a draft is saved against now that the VM is `fresh`. The disks, CD-ROM drives and
 * forwards are changed by their own buttons, each a new revision: when none of the form's own
 * fields changed meanwhile, the draft moves to the fresh revision (vm.update sends only the
 * changed fields, so nothing done meanwhile is undone). A change to one of its fields keeps the
 * old base, and the save is refused as stale.
 */
export function rebase(draftBase: SettingsBase, fresh: SettingsBase): SettingsBase {
  if (draftBase.revision === fresh.revision) return draftBase;
  return changedFields(draftBase.form, fresh.form).length === 0
    ? { ...draftBase, revision: fresh.revision }
    : draftBase;
}

/**
 * Input for vm.update: the VM, the revision the form was loaded from and only the changed fields;
 * or the errors that can be told without asking the driver (its own name rule, unreadable
 * numbers, an empty boot order); or `unchanged` when there is nothing to send.
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
  if (changed.includes('boot') && bootOrder(form.boot).length === 0)
    errors.boot = 'Switch on at least one device to boot from (usually the disk).';
  if (Object.keys(errors).length > 0) return { errors };
  const input: UpdateInput = { vm: vmId };
  if (base.revision !== undefined) input.revision = base.revision;
  for (const k of changed) {
    if (k === 'name') input.name = form.name;
    else if (k === 'memory') input.memoryMiB = memoryMiB;
    else if (k === 'cpus') input.cpus = cpus;
    else if (k === 'accel') input.accel = form.accel;
    else if (k === 'firmware') input.firmware = form.firmware;
    else if (k === 'secureBoot') input.secureBoot = form.secureBoot;
    else if (k === 'tpm') input.tpm = form.tpm;
    else if (k === 'boot') input.boot = bootOrder(form.boot);
    else if (k === 'display') input.display = form.display;
    else if (k === 'network') input.network = form.network;
    else if (k === 'diskBus') input.diskBus = form.diskBus;
    else if (k === 'nic') input.nic = form.nic;
    else if (k === 'clock') input.clock = form.clock;
    else if (k === 'shares') input.shares = form.shares.map((x) => ({ ...x }));
    else if (k === 'sound') input.sound = form.sound;
    else if (k === 'clipboard') input.clipboard = form.clipboard;
    else if (k === 'usb') input.usb = form.usb.map((u) => ({ ...u }));
    else if (k === 'autostart') input.autostart = form.autostart;
    else input.hyperv = form.hyperv;
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
  firmware: 'firmware',
  network: 'network',
  secureBoot: 'secureBoot',
  tpm: 'tpm',
  diskBus: 'diskBus',
  nic: 'nic',
  clock: 'clock',
  hyperv: 'hyperv',
  shares: 'shares',
  sound: 'sound',
  clipboard: 'clipboard',
  usb: 'usb',
  autostart: 'autostart',
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

export const FIRMWARE_LABELS: Record<Firmware, string> = { bios: 'BIOS (SeaBIOS)', uefi: 'UEFI (OVMF)' };

export const NETWORK_LABELS: Record<NetworkMode, string> = {
  user: 'User-mode NAT',
  none: 'None (no network card)',
};

export const BOOT_LABELS: Record<BootDevice, string> = { disk: 'Disk', cdrom: 'CD-ROM', network: 'Network (PXE)' };

export const DISK_BUS_LABELS: Record<DiskBus, string> = { virtio: 'Virtio (fastest)', sata: 'SATA (AHCI)' };

export const NIC_LABELS: Record<NicModel, string> = { virtio: 'Virtio (fastest)', e1000e: 'Intel e1000e' };

export const CLOCK_LABELS: Record<Clock, string> = { utc: 'UTC', localtime: 'Local time' };

/** What the network card needs in the guest. */
export function nicNote(nic: NicModel): string {
  return nic === 'e1000e'
    ? 'Windows has its driver built in; so do Linux and the BSDs.'
    : 'Linux has its driver built in; Windows needs NetKVM from the virtio-win disc.';
}

/** The form with another firmware: BIOS has no Secure Boot, so it turns Secure Boot off (as the driver does). */
export function withFirmware(form: SettingsForm, firmware: Firmware): SettingsForm {
  return firmware === 'bios' ? { ...form, firmware, secureBoot: false } : { ...form, firmware };
}

/**
 * Why Secure Boot can or cannot be switched on now, and what switching does: it needs UEFI (a
 * BIOS VM switches firmware too), x86_64, and a guest whose boot loader is signed.
 */
export function secureBootNote(
  d: Pick<VmDefinition, 'arch' | 'firmware' | 'secureBoot'>,
  form: Pick<SettingsForm, 'firmware' | 'secureBoot'>,
): { enabled: boolean; text: string } {
  if (d.arch !== 'x86_64')
    return {
      enabled: false,
      text: 'vmdesk offers Secure Boot for x86_64 VMs only (no firmware for other architectures ships with keys enrolled).',
    };
  if (form.firmware === 'bios')
    return {
      enabled: false,
      text:
        d.firmware === 'bios'
          ? 'Secure Boot is part of UEFI: choose UEFI as the firmware first. A guest installed with BIOS does not boot with UEFI until it has a UEFI boot loader.'
          : d.secureBoot
            ? 'BIOS has no Secure Boot: it goes off with UEFI.'
            : 'BIOS has no Secure Boot: it comes with UEFI only.',
    };
  if (form.secureBoot && !d.secureBoot)
    return {
      enabled: true,
      text: 'The VM gets a UEFI variable store with Microsoft’s keys enrolled: only signed boot loaders start (Windows; Linux with a signed shim). The store without keys is kept for switching back.',
    };
  if (!form.secureBoot && d.secureBoot)
    return {
      enabled: true,
      text: 'Back to the variable store without keys: any boot loader starts. The one with keys is kept for switching back. Windows 11 needs Secure Boot for its updates.',
    };
  return {
    enabled: true,
    text: form.secureBoot
      ? 'Only signed boot loaders start (Windows; Linux with a signed shim).'
      : 'Any boot loader starts. Windows 11 wants Secure Boot on.',
  };
}

/** What the TPM does, or what switching it means for a guest that used it. */
export function tpmNote(d: Pick<VmDefinition, 'tpm'>, tpm: boolean): string {
  if (tpm && !d.tpm)
    return 'A TPM 2.0 emulated by swtpm, started with the VM; its state lives in the VM’s folder. Windows 11 requires one.';
  if (!tpm && d.tpm)
    return 'Without it, what the guest sealed in its TPM (BitLocker keys, Windows Hello PINs) cannot be read: have the BitLocker recovery key at hand. Its state stays in the VM’s folder.';
  return tpm
    ? 'A TPM 2.0 emulated by swtpm, started with the VM; its state lives in the VM’s folder.'
    : 'No TPM. Windows 11, BitLocker and measured boot need one.';
}

/** What changing the disk bus under an installed guest does. */
export function diskBusNote(d: Pick<VmDefinition, 'devices' | 'os'>, bus: DiskBus): string {
  const windows = d.os ? /windows/i.test(d.os.name) : false;
  if (bus === 'virtio' && d.devices.disk === 'sata')
    return windows
      ? 'Windows installed on SATA stops with INACCESSIBLE_BOOT_DEVICE on virtio until the virtio storage driver (viostor, from the virtio-win disc) is installed in it.'
      : 'Linux has virtio drivers built in; other guests may need one.';
  if (bus === 'sata' && d.devices.disk === 'virtio')
    return 'SATA works with every OS, a little slower; it takes at most 6 disks.';
  return bus === 'sata'
    ? 'An AHCI controller with up to 6 disks: every OS has a driver.'
    : 'Fastest; Windows needs the viostor driver from the virtio-win disc.';
}

/**
 * What choosing `next` firmware does to the VM's UEFI variable store (NVRAM), said before the
 * user saves: the driver makes a fresh store when it switches to UEFI without one (the boot
 * entries an earlier store had are gone), and keeps the store, unused, when it goes back to BIOS.
 */
export function firmwareNote(d: Pick<VmDefinition, 'firmware' | 'nvram' | 'arch'>, next: Firmware): string {
  if (d.arch === 'aarch64') return 'An aarch64 VM always boots UEFI: there is no BIOS for it.';
  if (d.firmware === 'bios' && next === 'uefi')
    return d.nvram
      ? 'Switching to UEFI uses the UEFI variable store this VM kept from before. A guest installed under BIOS usually needs a UEFI boot loader to start.'
      : 'Switching to UEFI gives the VM a fresh, empty UEFI variable store (NVRAM): it has no boot entries, so the firmware looks for a bootable disk or CD on its own. A guest installed under BIOS usually needs a UEFI boot loader to start.';
  if (d.firmware === 'uefi' && next === 'bios')
    return 'Back to BIOS: the UEFI variable store (its boot entries) is kept, unused, so switching back to UEFI finds them again. A guest installed under UEFI does not boot under BIOS.';
  if (next === 'uefi') return 'The UEFI boot entries and settings live in the VM’s own variable store (NVRAM).';
  return 'Legacy BIOS boot. Choose UEFI for Secure Boot-era installers and guests installed in UEFI mode.';
}

/** A setting's stored value as the form's choices name it. */
function valueLabel(field: SettingsFieldId, d: VmDefinition): string {
  if (field === 'name') return d.name;
  if (field === 'memory') return formatMiB(d.memoryMiB);
  if (field === 'cpus') return String(d.cpus);
  if (field === 'boot') return bootOrderText(d.boot);
  if (field === 'display') return DISPLAY_LABELS[d.display];
  if (field === 'firmware') return FIRMWARE_LABELS[d.firmware];
  if (field === 'network') return NETWORK_LABELS[d.network.mode];
  if (field === 'secureBoot') return d.secureBoot ? 'On' : 'Off';
  if (field === 'tpm') return d.tpm ? 'On' : 'Off';
  if (field === 'hyperv') return d.hyperv ? 'On' : 'Off';
  if (field === 'sound') return d.sound ? 'On' : 'Off';
  if (field === 'clipboard') return d.clipboard ? 'On' : 'Off';
  if (field === 'autostart') return d.autostart ? 'On' : 'Off';
  if (field === 'shares')
    return (d.shares ?? []).map((x) => `${x.tag}${x.readOnly ? ' (read-only)' : ''}`).join(', ') || 'none';
  if (field === 'usb') return (d.usb ?? []).map((u) => `${u.vendorId}:${u.productId}`).join(', ') || 'none';
  if (field === 'diskBus') return d.devices.disk === 'sata' ? 'SATA' : 'Virtio';
  if (field === 'nic') return d.devices.nic === 'e1000e' ? 'Intel e1000e' : 'Virtio';
  if (field === 'clock') return d.clock === 'localtime' ? 'Local time' : 'UTC';
  return d.accel === 'auto' ? 'Automatic' : d.accel.toUpperCase();
}

const PENDING_FIELDS: Record<string, SettingsFieldId> = { ...DRIVER_FIELDS };

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

export { MAX_SHARES, MAX_USB } from '../../../main/common/devices.js';

/** A tag the guest can mount by, from a folder's name ("My Projects" → "My_Projects"), not one of `taken`. */
export function defaultShareTag(path: string, taken: readonly string[]): string {
  const base = path.replace(/\/+$/, '').split('/').pop() ?? '';
  let tag =
    base
      .replace(/[^A-Za-z0-9_.-]+/g, '_')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 30) || 'share';
  const stem = tag;
  for (let n = 2; taken.includes(tag); n++) tag = `${stem}${n}`;
  return tag;
}

/** The tag rule the driver checks (common/vm-types.ts ShareTagSchema), as a sentence. */
const TAG_RULE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,35}$/;

/**
 * Why a new shared folder cannot be added as typed, by field; undefined when it can. The driver
 * checks again (that the folder exists, on the host it runs on).
 */
export function shareProblem(
  draft: ShareEntry,
  shares: readonly ShareEntry[],
  max: number,
): { path?: string; tag?: string } | undefined {
  const path = draft.path.trim();
  const tag = draft.tag.trim();
  if (shares.length >= max) return { path: `A VM can have at most ${max} shared folders: remove one first.` };
  if (!path) return { path: 'Enter the folder to share, e.g. /home/you/projects.' };
  if (!path.startsWith('/')) return { path: 'Give the folder’s full path, starting with / (e.g. /home/you/projects).' };
  if (shares.some((x) => x.path === path)) return { path: 'This folder is shared already.' };
  if (!TAG_RULE.test(tag))
    return { tag: 'A tag is 1 to 36 letters, digits, _ . or -, starting with a letter or digit.' };
  if (shares.some((x) => x.tag === tag)) return { tag: `Another shared folder has the tag “${tag}”: choose another.` };
  return undefined;
}

/** What the guest needs to mount shared folders, by what the VM was made for. */
export function sharesNote(d: Pick<VmDefinition, 'os'>): string {
  const windows = d.os ? /windows/i.test(d.os.name) : false;
  return windows
    ? 'Windows mounts shared folders through virtio-fs: install WinFsp and the virtio-fs driver and service from the virtio-win disc. Each folder appears as a drive.'
    : 'Linux mounts them with mount -t virtiofs TAG /mnt/TAG (the Overview shows the command while the VM runs). Where the host cannot run virtiofsd, vmdesk uses 9p and says so.';
}
