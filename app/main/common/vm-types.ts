/**
 * VM definitions and summaries: the DTOs every transport carries. Plain TS + valibot, shared by
 * the driver, the CLI and the renderer.
 */
import * as v from 'valibot';
import { isSysfsName, isUuid, vmNameProblem } from './names.js';

/** The definition file format this build writes. Files with a higher version are `broken`
 * (from a newer vmdesk) and left untouched. */
export const DEFINITION_VERSION = 1;

export const VM_STATES = ['stopped', 'starting', 'running', 'paused', 'stopping', 'crashed', 'broken'] as const;
export type VmState = (typeof VM_STATES)[number];

export const MAX_CPUS = 255;
/** 16 MiB is the smallest guest anyone can boot; it keeps `--memory 1` (meaning 1 MiB) an error. */
export const MIN_MEMORY_MIB = 16;

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
  v.check((s) => s.startsWith('/'), 'must be an absolute path'),
);
const port = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535));

export const PortForwardSchema = v.object({
  proto: v.picklist(['tcp', 'udp']),
  hostPort: port,
  guestPort: port,
  /** Host address the forward listens on; 127.0.0.1 unless the user asks for more. */
  hostAddr: v.optional(v.pipe(v.string(), v.ipv4()), '127.0.0.1'),
});
export type PortForward = v.InferOutput<typeof PortForwardSchema>;

export const DiskSchema = v.object({
  path: absPath,
  /** Always explicit: QEMU never probes formats for us (a raw disk could pretend to be qcow2). */
  format: v.picklist(['qcow2', 'raw']),
  /** Created by vmdesk inside the VM's data dir, so deleting the VM deletes it (unless kept). */
  owned: v.boolean(),
  readOnly: v.optional(v.boolean(), false),
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

export const VmDefinitionSchema = v.object({
  version: v.literal(DEFINITION_VERSION),
  id: UuidSchema,
  name: VmNameSchema,
  arch: v.picklist(['x86_64', 'aarch64']),
  memoryMiB: v.pipe(v.number(), v.integer(), v.minValue(MIN_MEMORY_MIB)),
  cpus: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_CPUS)),
  accel: v.picklist(['auto', 'kvm', 'hvf', 'tcg']),
  firmware: v.picklist(['bios', 'uefi']),
  disks: v.array(DiskSchema),
  cdrom: v.nullable(absPath),
  /** Which device the firmware tries first. */
  boot: v.picklist(['cdrom', 'disk']),
  network: v.object({
    mode: v.picklist(['user', 'none']),
    forwards: v.array(PortForwardSchema),
  }),
  display: v.picklist(['std', 'virtio', 'none']),
  /** UEFI variable store for this VM (a copy of the firmware's template). */
  nvram: v.optional(v.nullable(absPath), null),
  /** Mediated devices (vGPUs); started only after the mdev doctor passes. */
  mdevs: v.optional(v.array(MdevAssignmentSchema), []),
  createdAt: v.pipe(v.string(), v.isoTimestamp()),
});
export type VmDefinition = v.InferOutput<typeof VmDefinitionSchema>;

/** What lists and events carry: the definition plus live state. Always the full object. */
export interface VmSummary {
  id: string;
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
  /** While QEMU runs: whether it runs inside its seccomp sandbox (`-sandbox on`), and if not, why. */
  sandbox?: { on: boolean; reason?: string };
}
