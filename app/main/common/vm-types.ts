/**
 * VM definitions and summaries: the DTOs every transport carries. Plain TS + valibot, shared by
 * the driver, the CLI and the renderer.
 */
import * as v from 'valibot';
import { forwardsProblem, MAX_FORWARDS, type ForwardKey } from './forwards.js';
import type { VmHost } from './connection-types.js';
import { isSysfsName, isUuid, vmNameProblem } from './names.js';
import {
  BOOT_DEVICES,
  DISK_BUSES,
  MAX_CDROMS,
  MAX_DISKS,
  MAX_SHARES,
  MAX_USB,
  NIC_MODELS,
  type BootDevice,
} from './devices.js';

export {
  BOOT_DEVICES,
  bootOrderText,
  diskIsReadOnly,
  diskSlot,
  diskTarget,
  MAX_CDROMS,
  MAX_DISKS,
  DISK_BUSES,
  NIC_MODELS,
  MAX_SATA_DISKS,
  MAX_SHARES,
  MAX_USB,
  PLAIN_GUEST,
  type BootDevice,
  type DiskBus,
  type NicModel,
} from './devices.js';

/** The definition file format this build writes. Files with a higher version are `broken`
 * (from a newer vmdesk) and left untouched. */
export const DEFINITION_VERSION = 3;

export const VM_STATES = ['stopped', 'starting', 'running', 'paused', 'stopping', 'crashed', 'broken'] as const;
export type VmState = (typeof VM_STATES)[number];

export const MAX_CPUS = 255;
/** 16 MiB is the smallest guest anyone can boot; it keeps `--memory 1` (meaning 1 MiB) an error. */
export const MIN_MEMORY_MIB = 16;
/** 16 TiB: more than any host has; the host's own size is checked when the VM is defined. */
export const MAX_MEMORY_MIB = 16 * 1024 * 1024;

// The limits below keep every definition the contract accepts far under the loader's size limit
// (definition-store.ts; a test builds the largest one), so nothing valid to define is unloadable.
/** Mediated devices per VM. */
export const MAX_MDEVS = 8;
/** Paths, in UTF-16 units (Linux's PATH_MAX is 4096 bytes). */
export const MAX_PATH_CHARS = 4096;

/**
 * A whole number with a sentence for each way it can be wrong: not a number, not finite (JSON's
 * 1e400 parses as Infinity), not whole, too small, too large. The sentences name `what` and its
 * unit, so "128.5" is told it must be whole, not that it is too small.
 */
export function wholeNumberSchema(what: string, unit: string, min: number, max: number, unitOfOne = unit) {
  const of = unit ? ` of ${unit}` : '';
  const n = (x: number) => (unit ? `${x} ${x === 1 ? unitOfOne : unit}` : `${x}`);
  return v.pipe(
    v.number(`${what} must be a number${of}.`),
    v.check((x: number) => Number.isFinite(x), `${what} must be a finite number${of}.`),
    v.check(
      (x: number) => Number.isInteger(x),
      (issue) => `${what} must be a whole number${of}, not ${String(issue.input)}.`,
    ),
    v.check((x: number) => x >= min, `${what} must be at least ${n(min)}.`),
    v.check((x: number) => x <= max, `${what} can be at most ${n(max)}.`),
  );
}

/** In a definition file. */
export const MemoryMiBSchema = wholeNumberSchema('Memory', 'MiB', MIN_MEMORY_MIB, MAX_MEMORY_MIB);
export const CpusSchema = wholeNumberSchema('The CPU count', 'CPUs', 1, MAX_CPUS, 'CPU');
/** In a request: the upper bound is the host's, which the driver checks with a sentence naming it. */
export const RequestedMemoryMiBSchema = wholeNumberSchema('Memory', 'MiB', MIN_MEMORY_MIB, Number.MAX_SAFE_INTEGER);
export const RequestedCpusSchema = wholeNumberSchema('The CPU count', 'CPUs', 1, Number.MAX_SAFE_INTEGER, 'CPU');

/** A valid VM name (common/names.ts); the issue's message is vmNameProblem's sentence. */
export const VmNameSchema = v.pipe(
  v.string(),
  v.check(
    (s: string) => vmNameProblem(s) === undefined,
    (issue) => vmNameProblem(issue.input) ?? 'not a valid VM name',
  ),
);
export const UuidSchema = v.pipe(
  v.string(),
  v.check((s: string) => isUuid(s), 'not a UUID (like 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001)'),
);
export const SysfsNameSchema = v.pipe(
  v.string(),
  v.check((s: string) => isSysfsName(s), 'a parent or type name (letters, digits, _ . : -)'),
);

const absPath = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(MAX_PATH_CHARS, `a path can have at most ${MAX_PATH_CHARS} characters`),
  v.check((s) => s.startsWith('/'), 'must be an absolute path'),
);
const port = wholeNumberSchema('A port', '', 1, 65535);

export const PortForwardSchema = v.object({
  proto: v.picklist(['tcp', 'udp']),
  hostPort: port,
  guestPort: port,
  /** Host address the forward listens on; 127.0.0.1 unless the user asks for more. */
  hostAddr: v.optional(v.pipe(v.string(), v.ipv4()), '127.0.0.1'),
});
export type PortForward = v.InferOutput<typeof PortForwardSchema>;

export { forwardLabel, forwardsOverlap, forwardsProblem, MAX_FORWARDS } from './forwards.js';

/** A list of at most `max`, refused with a sentence that says how many it has. */
function atMost<T>(max: number, what: string) {
  return v.check(
    (list: T[]) => list.length <= max,
    (issue) => `A VM can have at most ${max} ${what}; this one has ${(issue.input as unknown[]).length}.`,
  );
}

/** A VM's forwards: at most MAX_FORWARDS, no two on one host socket. `entry` is the item schema. */
export function forwardListSchema<T extends v.GenericSchema<unknown, ForwardKey>>(entry: T) {
  return v.pipe(
    v.array(entry),
    v.check(
      (fs: v.InferOutput<T>[]) => fs.length <= MAX_FORWARDS,
      (issue) =>
        `A VM can have at most ${MAX_FORWARDS} port forwards; this asks for ${(issue.input as unknown[]).length}.`,
    ),
    v.check(
      (fs: v.InferOutput<T>[]) => forwardsProblem(fs) === undefined,
      (issue) => forwardsProblem(issue.input as ForwardKey[]) ?? 'overlapping port forwards',
    ),
  );
}

/** The order the firmware tries devices in: each at most once; ones not listed are not booted. */
export const BootOrderSchema = v.pipe(
  v.array(v.picklist(BOOT_DEVICES, 'a boot device is disk, cdrom or network')),
  v.minLength(1, 'the boot order needs at least one device (disk, cdrom or network)'),
  v.check((b: BootDevice[]) => new Set(b).size === b.length, 'the boot order names a device twice'),
);

export const DiskSchema = v.object({
  path: absPath,
  /** vda, vdb, …: how the CLI and the window name the disk; kept when other disks go. */
  target: v.pipe(v.string(), v.regex(/^vd[a-p]$/, 'a disk target from vda to vdp')),
  /** Always explicit: QEMU never probes formats for us (a raw disk could pretend to be qcow2). */
  format: v.picklist(['qcow2', 'raw']),
  /** Created by vmdesk inside the VM's data dir, so deleting the VM deletes it (unless kept). */
  owned: v.boolean(),
  readOnly: v.optional(v.boolean(), false),
  /** A linked clone's overlay: the image it reads through (another VM's disk, kept read-only). */
  backing: v.optional(absPath),
  /** The VMs (ids) whose linked-clone overlays read through this disk: while there are any, it is
   * opened read-only, since a write would corrupt them. */
  linkedClones: v.optional(v.array(UuidSchema)),
});

export type DiskSpec = v.InferOutput<typeof DiskSchema>;

/** A mediated device (vGPU) assigned to the VM. libvirt-style hostdev data, so it can be exported. */
export const MdevAssignmentSchema = v.object({
  uuid: UuidSchema,
  /** The mdev type id, e.g. "i915-GVTg_V5_4", "nvidia-63", "mtty-2". */
  type: SysfsNameSchema,
  /** The parent device (a PCI address such as 0000:00:02.0, or a sample driver's name). */
  parent: SysfsNameSchema,
  /** The type has a display (GVT-g, mdpy, mbochs): shown in the VM's console. */
  display: v.boolean(),
});
export type MdevAssignment = v.InferOutput<typeof MdevAssignmentSchema>;

/** A USB vendor or product id: four lowercase hex digits (as sysfs and lsusb write it). */
export const UsbIdSchema = v.pipe(v.string(), v.regex(/^[0-9a-f]{4}$/, 'a USB id is four hex digits, like 046d'));

/** How the guest names a share when it mounts it: `mount -t virtiofs TAG /mnt`. */
export const ShareTagSchema = v.pipe(
  v.string(),
  v.regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]{0,35}$/,
    'a share tag is 1 to 36 letters, digits, _ . or -, starting with a letter or digit',
  ),
);

/** A host directory the guest mounts (virtio-fs, or 9p where virtiofsd cannot serve it). */
export const ShareSchema = v.object({
  path: absPath,
  tag: ShareTagSchema,
  readOnly: v.boolean(),
});
export type ShareSpec = v.InferOutput<typeof ShareSchema>;

export const VmDefinitionSchema = v.object({
  version: v.literal(DEFINITION_VERSION),
  id: UuidSchema,
  name: VmNameSchema,
  arch: v.picklist(['x86_64', 'aarch64']),
  memoryMiB: MemoryMiBSchema,
  cpus: CpusSchema,
  accel: v.picklist(['auto', 'kvm', 'hvf', 'tcg']),
  firmware: v.picklist(['bios', 'uefi']),
  disks: v.pipe(
    v.array(DiskSchema),
    atMost<DiskSpec>(MAX_DISKS, 'disks'),
    v.check((ds: DiskSpec[]) => new Set(ds.map((d) => d.target)).size === ds.length, 'two disks have one target'),
  ),
  /** The CD-ROM drives, in order, each with the ISO in it or empty (null). */
  cdroms: v.pipe(v.array(v.nullable(absPath)), atMost<string | null>(MAX_CDROMS, 'CD-ROM drives')),
  boot: BootOrderSchema,
  network: v.object({
    mode: v.picklist(['user', 'none']),
    // Counted, but overlaps are not checked here: a file an older vmdesk wrote with two forwards
    // on one host socket still loads (and is refused at start, in a sentence); new ones can't be made.
    forwards: v.pipe(v.array(PortForwardSchema), atMost<PortForward>(MAX_FORWARDS, 'port forwards')),
  }),
  display: v.picklist(['std', 'virtio', 'none']),
  /** UEFI variable store for this VM (a copy of the firmware's template: the one with Microsoft's
   * keys enrolled when `secureBoot`). */
  nvram: v.optional(v.nullable(absPath), null),
  /** Where its disks, UEFI variables, TPM state and snapshots are when it was made while
   * Preferences named a VM folder (`<folder>/<name>-<id8>`); absent: `$XDG_DATA_HOME/vmdesk/vms/<id>`.
   * Set once, at creation: changing the setting later moves nothing. */
  dataDir: v.optional(absPath),
  /** UEFI Secure Boot: firmware that boots only signed code, with Microsoft's keys enrolled. */
  secureBoot: v.boolean(),
  /** A TPM 2.0 (swtpm, started with QEMU; its state lives in the VM's folder). */
  tpm: v.boolean(),
  /** The devices the guest has drivers for: virtio (Linux, or Windows with virtio-win), or SATA
   * disks and an e1000e NIC (Windows out of the box). */
  devices: v.object({ disk: v.picklist(DISK_BUSES), nic: v.picklist(NIC_MODELS) }),
  /** What the real-time clock keeps: UTC (Unix guests), or local time (Windows). */
  clock: v.picklist(['utc', 'localtime']),
  /** Hyper-V enlightenments for Windows guests (used under KVM; TCG and HVF ignore them). */
  hyperv: v.boolean(),
  /** Host directories the guest can mount. */
  shares: v.optional(
    v.pipe(
      v.array(ShareSchema),
      atMost<ShareSpec>(MAX_SHARES, 'shared folders'),
      v.check((ss: ShareSpec[]) => new Set(ss.map((s) => s.tag)).size === ss.length, 'two shared folders have one tag'),
    ),
    [],
  ),
  /** Sound: an Intel HD Audio card played through the host's sound server (PulseAudio or
   * PipeWire's Pulse service; CoreAudio on macOS). Off: no sound card at all. */
  sound: v.optional(v.boolean(), false),
  /** The clipboard shared with the screen's viewer through QEMU's vdagent (a guest with
   * spice-vdagent copies and pastes with the host). */
  clipboard: v.optional(v.boolean(), false),
  /** Host USB devices (vendor:product) plugged in at every start. */
  usb: v.optional(
    v.pipe(
      v.array(v.object({ vendorId: UsbIdSchema, productId: UsbIdSchema })),
      atMost<{ vendorId: string; productId: string }>(MAX_USB, 'USB devices'),
    ),
    [],
  ),
  /** The OS the VM was made for (osinfo id and name), when known. */
  os: v.optional(v.object({ id: v.pipe(v.string(), v.maxLength(200)), name: v.pipe(v.string(), v.maxLength(200)) })),
  /** Started by a long-running driver owner (the desktop app, `vmdesk web`, `vmdesk driver`) when
   * it starts, once per login session (vm/autostart.ts). Absent (older files): off. vmdesk's own
   * setting: nothing QEMU sees, so never "pending" on a running VM. */
  autostart: v.optional(v.boolean()),
  /** Mediated devices (vGPUs); started only after the mdev doctor passes. */
  mdevs: v.optional(v.pipe(v.array(MdevAssignmentSchema), atMost<MdevAssignment>(MAX_MDEVS, 'mediated devices')), []),
  createdAt: v.pipe(v.string(), v.isoTimestamp()),
});
export type VmDefinition = v.InferOutput<typeof VmDefinitionSchema>;

/** What the QEMU guest agent in a running guest says about it (qemu/guest-agent.ts reads it). */
export interface GuestAgentInfo {
  hostname?: string;
  os?: { name: string; id?: string; version?: string; kernel?: string; prettyName?: string };
  /** Not loopback, not link-local. */
  addresses: { iface: string; address: string; prefix: number; family: 'ipv4' | 'ipv6' }[];
  /** When it was read (ISO time). */
  at: string;
}

/** What lists and events carry: the definition plus live state. Always the full object. */
export interface VmSummary {
  /** A local VM's UUID; a libvirt VM's `HOST/UUID` (host: the connection's id). */
  id: string;
  /** The libvirt host the VM lives on; absent for a VM of this computer's session driver. */
  host?: VmHost;
  name: string;
  state: VmState;
  /** Why the VM is broken/crashed, or what the last failure was. */
  reason?: string;
  /** Last lines of qemu.log when the VM crashed. */
  logTail?: string[];
  pid?: number;
  /** The accelerator the running QEMU uses, and why it was chosen. */
  accel?: { accel: 'kvm' | 'hvf' | 'tcg'; reason: string };
  /** Absent for broken VMs (their file could not be read). */
  definition?: VmDefinition;
  /** Definition file path (also for broken VMs, so the user can look at it). */
  file: string;
  paths?: { qmp: string; serial: string; vnc: string; qemuLog: string; serialLog: string; driverLog: string };
  startedAt?: string;
  /** When its QEMU last ended, as this vmdesk saw it end (ISO time); absent if it never ran here. */
  lastRunAt?: string;
  /** The definition file's version as read (changes whenever the file does); vm.update takes it back. */
  revision?: string;
  /** While QEMU runs: the settings changed since it started, which apply at its next start. */
  pending?: string[];
  /** Only in the answer to the call that made a change: a warning about it (memory close to the
   * host's), said once. */
  notice?: string;
  /** How many snapshots the VM has and the memory they keep in its disks (bytes). */
  snapshots?: { count: number; vmStateBytes: number };
  /** The size the guest sees of each disk, by target (bytes; absent when its file cannot be read). */
  diskSizes?: Record<string, number>;
  /** The space each disk's file takes on the host, by target (bytes; absent when it cannot be read). */
  diskUsage?: Record<string, number>;
  /** While QEMU runs: the devices it has now (disk targets, CD-ROM drive count), which insert,
   * eject, grow and remove reach at once; the definition's others wait for its next start. */
  live?: { disks: { target: string; path: string }[]; cdromDrives: number };
  /** While QEMU runs: whether a guest agent answers on the VM's agent channel, and what it said
   * (`connected: false` until one does; guests without qemu-ga never do, and nothing else changes). */
  guest?: { connected: boolean; info?: GuestAgentInfo };
  /** While QEMU runs: how each shared folder is served (virtio-fs, or 9p and why), and the
   * command that mounts it in the guest. */
  shares?: { tag: string; path: string; readOnly: boolean; mode: 'virtiofs' | '9p'; reason?: string; mount: string }[];
  /** While QEMU runs: the host USB devices it has (usb-host, as QEMU says after each start, attach
   * and detach). `device`: the selector (vendor:product or bus-port); `name`: the host device it
   * names, when one is plugged in; `attached`: QEMU holds it (false: waiting for it to appear, or
   * the VM is paused). Absent when there are none. */
  usb?: { id: string; device: string; name?: string; attached: boolean }[];
  /** While QEMU runs: whether it runs inside its seccomp sandbox (`-sandbox on`), and if not, why. */
  sandbox?: { on: boolean; reason?: string };
}
