/** QMP probe replies → QemuCaps (pure), and the schema that guards cached caps. */
import * as v from 'valibot';
import type { ProbeCommand, QmpProbeReplies } from './qmp-probe.js';
import type { Accel, Arch, QemuCaps } from '../common/host-types.js';

const ACCEL_TYPES: Record<string, Accel> = { 'kvm-accel': 'kvm', 'hvf-accel': 'hvf', 'tcg-accel': 'tcg' };

/** QOM type name of each device QemuCaps reports. */
const DEVICE_TYPES: Record<keyof QemuCaps['devices'], string> = {
  vfioPci: 'vfio-pci',
  virtioGpuPci: 'virtio-gpu-pci',
  virtioVga: 'virtio-vga',
  ramfb: 'ramfb',
  vga: 'VGA',
  virtioNetPci: 'virtio-net-pci',
  virtioBlkPci: 'virtio-blk-pci',
  qemuXhci: 'qemu-xhci',
  usbTablet: 'usb-tablet',
};

export const ARCHES: readonly Arch[] = ['x86_64', 'aarch64'];

export const qemuCapsSchema = v.strictObject({
  arch: v.picklist(ARCHES),
  binary: v.string(),
  version: v.pipe(v.string(), v.regex(/^\d+\.\d+\.\d+$/)),
  accels: v.array(v.picklist(['kvm', 'hvf', 'tcg'] as const)),
  machines: v.array(v.string()),
  cpuModels: v.array(v.string()),
  devices: v.strictObject({
    vfioPci: v.boolean(),
    virtioGpuPci: v.boolean(),
    virtioVga: v.boolean(),
    ramfb: v.boolean(),
    vga: v.boolean(),
    virtioNetPci: v.boolean(),
    virtioBlkPci: v.boolean(),
    qemuXhci: v.boolean(),
    usbTablet: v.boolean(),
  }),
  sandbox: v.boolean(),
});

/** The probe answered, but not with what every QEMU since 2.x answers. */
export class QemuCapsParseError extends Error {
  override readonly name = 'QemuCapsParseError';
}

const namedList = v.array(v.looseObject({ name: v.string() }));
const machineList = v.array(v.looseObject({ name: v.string(), alias: v.optional(v.string()) }));
const versionReply = v.looseObject({
  qemu: v.looseObject({ major: v.number(), minor: v.number(), micro: v.number() }),
});
const targetReply = v.looseObject({ arch: v.string() });
const optionList = v.array(v.looseObject({ option: v.string() }));

/** The `return` of a command, checked against `schema`; undefined when QEMU returned an error
 * (e.g. a build without that command). A malformed success is a parse error. */
function returned<T>(probe: QmpProbeReplies, cmd: ProbeCommand, schema: v.GenericSchema<unknown, T>): T | undefined {
  const reply = probe.replies[cmd];
  if (!('return' in reply)) return undefined;
  const parsed = v.safeParse(schema, reply.return);
  if (!parsed.success)
    throw new QemuCapsParseError(`unexpected ${cmd} reply: ${v.summarize(parsed.issues).split('\n')[0]}`);
  return parsed.output;
}

/** Builds QemuCaps from one probe. Throws QemuCapsParseError when the version or target is unusable. */
export function parseQemuCaps(binary: string, probe: QmpProbeReplies): QemuCaps {
  const version = returned(probe, 'query-version', versionReply);
  if (!version) throw new QemuCapsParseError('query-version failed');
  const target = returned(probe, 'query-target', targetReply)?.arch;
  if (target !== 'x86_64' && target !== 'aarch64')
    throw new QemuCapsParseError(`the binary emulates ${target ?? 'an unknown target'}, not x86_64 or aarch64`);

  const types = new Set((returned(probe, 'qom-list-types', namedList) ?? []).map((t) => t.name));
  const machines = new Set<string>();
  for (const m of returned(probe, 'query-machines', machineList) ?? []) {
    machines.add(m.name);
    if (m.alias) machines.add(m.alias);
  }
  const cpuModels = (returned(probe, 'query-cpu-definitions', namedList) ?? []).map((c) => c.name);
  const options = (returned(probe, 'query-command-line-options', optionList) ?? []).map((o) => o.option);

  const devices = Object.fromEntries(
    Object.entries(DEVICE_TYPES).map(([key, type]) => [key, types.has(type)]),
  ) as QemuCaps['devices'];
  const { major, minor, micro } = version.qemu;
  return {
    arch: target,
    binary,
    version: `${major}.${minor}.${micro}`,
    accels: Object.entries(ACCEL_TYPES)
      .filter(([type]) => types.has(type))
      .map(([, accel]) => accel),
    machines: [...machines].sort(),
    cpuModels: [...new Set(cpuModels)].sort(),
    devices,
    sandbox: options.includes('sandbox'),
  };
}
