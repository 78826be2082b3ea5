/** QMP probe replies → QemuCaps (pure), and the schema that guards cached caps. */
import * as v from 'valibot';
import type { PROBED_ACCEL_TYPES, PROBED_DEVICE_TYPES } from './qmp-probe.js';
import { typeProbeId, type QmpProbeReplies } from './qmp-probe.js';
import type { Accel, Arch, QemuCaps } from '../common/host-types.js';

const ACCEL_TYPES: Record<(typeof PROBED_ACCEL_TYPES)[number], Accel> = {
  'kvm-accel': 'kvm',
  'hvf-accel': 'hvf',
  'tcg-accel': 'tcg',
};

/** QOM type name of each device QemuCaps reports (each one the probe asks about). */
const DEVICE_TYPES: Record<keyof QemuCaps['devices'], (typeof PROBED_DEVICE_TYPES)[number]> = {
  vfioPci: 'vfio-pci',
  virtioVga: 'virtio-vga',
};

export const ARCHES: readonly Arch[] = ['x86_64', 'aarch64'];

export const qemuCapsSchema = v.strictObject({
  arch: v.picklist(ARCHES),
  binary: v.string(),
  version: v.pipe(v.string(), v.regex(/^\d+\.\d+\.\d+$/)),
  accels: v.array(v.picklist(['kvm', 'hvf', 'tcg'] as const)),
  machines: v.array(v.string()),
  devices: v.strictObject({
    vfioPci: v.boolean(),
    virtioVga: v.boolean(),
  }),
  sandbox: v.boolean(),
});

/** The probe answered, but not with what every QEMU since 2.x answers. */
export class QemuCapsParseError extends Error {
  override readonly name = 'QemuCapsParseError';
}

const machineList = v.array(v.looseObject({ name: v.string(), alias: v.optional(v.string()) }));
const versionReply = v.looseObject({
  qemu: v.looseObject({ major: v.number(), minor: v.number(), micro: v.number() }),
});
const targetReply = v.looseObject({ arch: v.string() });
const optionList = v.array(v.looseObject({ option: v.string() }));

/** The `return` of a command, checked against `schema`; undefined when QEMU returned an error
 * (e.g. a build without that command). A malformed success is a parse error. */
function returned<T>(probe: QmpProbeReplies, cmd: string, schema: v.GenericSchema<unknown, T>): T | undefined {
  const reply = probe.replies[cmd];
  if (!reply || !('return' in reply)) return undefined;
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

  const machines = new Set<string>();
  for (const m of returned(probe, 'query-machines', machineList) ?? []) {
    machines.add(m.name);
    if (m.alias) machines.add(m.alias);
  }
  // A type QEMU has is described (its property list); one it lacks is an error reply.
  const has = (type: string): boolean => {
    const reply = probe.replies[typeProbeId(type)];
    return reply !== undefined && 'return' in reply;
  };
  const options = (returned(probe, 'query-command-line-options', optionList) ?? []).map((o) => o.option);

  const devices = Object.fromEntries(
    Object.entries(DEVICE_TYPES).map(([key, type]) => [key, has(type)]),
  ) as QemuCaps['devices'];
  const { major, minor, micro } = version.qemu;
  return {
    arch: target,
    binary,
    version: `${major}.${minor}.${micro}`,
    accels: Object.entries(ACCEL_TYPES)
      .filter(([type]) => has(type))
      .map(([, accel]) => accel),
    machines: [...machines].sort(),
    devices,
    sandbox: options.includes('sandbox'),
  };
}

/**
 * What a first start assumes of the host's QEMU while its probe runs: what every QEMU vmdesk
 * supports has on `platform` (a distribution's or Homebrew's build: the hardware accelerator of
 * the platform and TCG, seccomp on Linux, every device vmdesk uses). A start launched on these
 * caps runs nothing (QEMU waits paused) until the probe's caps give the same command line; a
 * QEMU that lacks one of them refuses the command line, and the start is made again on the
 * probed caps.
 */
export function assumedQemuCaps(arch: Arch, binary: string, platform: string): QemuCaps {
  return {
    arch,
    binary,
    version: '0.0.0',
    accels: platform === 'darwin' ? ['hvf', 'tcg'] : ['kvm', 'tcg'],
    machines: [],
    // Every device vmdesk uses; VFIO (vGPUs) only on Linux.
    devices: {
      ...(Object.fromEntries(Object.keys(DEVICE_TYPES).map((key) => [key, true])) as QemuCaps['devices']),
      vfioPci: platform === 'linux',
    },
    sandbox: platform === 'linux',
  };
}
