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

/** QOM type name suffix of a CPU model: `Skylake-Client` is the type `Skylake-Client-x86_64-cpu`
 * (target/i386/cpu.h X86_CPU_TYPE_SUFFIX), `cortex-a72` is `cortex-a72-arm-cpu` (target/arm).
 * The non-abstract types with it are exactly what `query-cpu-definitions` lists, which costs a
 * third of the probe because it instantiates every model. */
const CPU_TYPE_SUFFIX: Record<Arch, string> = { x86_64: '-x86_64-cpu', aarch64: '-arm-cpu' };

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

const typeList = v.array(v.looseObject({ name: v.string(), abstract: v.optional(v.boolean()) }));
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

  const typeReplies = (returned(probe, 'qom-list-types', typeList) ?? []).filter((t) => !t.abstract);
  const types = new Set(typeReplies.map((t) => t.name));
  const machines = new Set<string>();
  for (const m of returned(probe, 'query-machines', machineList) ?? []) {
    machines.add(m.name);
    if (m.alias) machines.add(m.alias);
  }
  const suffix = CPU_TYPE_SUFFIX[target];
  const cpuModels = [...types].filter((t) => t.endsWith(suffix)).map((t) => t.slice(0, -suffix.length));
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
