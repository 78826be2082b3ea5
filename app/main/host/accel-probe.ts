/** Accelerator statuses per guest architecture: the host side (kvm-probe, hvf-probe) combined
 * with what each QEMU binary was built with. Pure once the host states are known. */
import type { NativeHost } from '../../native/index.js';
import type { HostFs } from './host-io.js';
import type { HvfHostState } from './hvf-probe.js';
import { probeHvfHost } from './hvf-probe.js';
import type { KvmHostState } from './kvm-probe.js';
import { probeKvmHost } from './kvm-probe.js';
import type { AccelStatus, Arch, QemuBinaryReport } from '../common/host-types.js';

export interface AccelHostStates {
  kvm: KvmHostState;
  hvf: HvfHostState;
}

export async function probeAccelHosts(opts: {
  fs: HostFs;
  native: NativeHost;
  platform: string;
  hostArch: string;
  rosetta: boolean;
}): Promise<AccelHostStates> {
  const kvm: KvmHostState =
    opts.platform === 'linux' ? await probeKvmHost(opts) : { usable: false, reason: 'KVM exists only on Linux' };
  return { kvm, hvf: probeHvfHost(opts.native, opts.platform, opts.rosetta) };
}

export interface AccelInputs {
  hosts: AccelHostStates;
  hostArch: string;
  /** The report of the qemu-system binary for the guest architecture being evaluated. */
  qemu: QemuBinaryReport;
}

/** TCG is slow; saying how slow sets expectations better than "not recommended". */
export const TCG_WARNING =
  'software emulation: works everywhere, but guests run several times (often 10×) slower than with KVM/HVF';

function unavailable(accel: AccelStatus['accel'], reason: string, fix?: string): AccelStatus {
  return fix === undefined ? { accel, available: false, reason } : { accel, available: false, reason, fix };
}

/** Hardware accelerator (kvm or hvf): the host's own architecture only, host state, then the binary. */
function hardwareStatus(
  accel: 'kvm' | 'hvf',
  host: KvmHostState | HvfHostState,
  arch: Arch,
  inputs: AccelInputs,
): AccelStatus {
  const name = accel.toUpperCase();
  if (!host.usable) return unavailable(accel, host.reason, host.fix);
  // No fix: nothing can make KVM/HVF run a foreign instruction set.
  if (arch !== inputs.hostArch)
    return unavailable(
      accel,
      `${name} runs only ${inputs.hostArch} guests on this ${inputs.hostArch} host; ${arch} guests are emulated (TCG)`,
    );
  const q = inputs.qemu;
  if (q.status !== 'ok')
    return unavailable(accel, `${host.detail}, but qemu-system-${arch} is not usable: ${q.reason}`, q.fix);
  if (!q.caps.accels.includes(accel)) {
    const fix =
      accel === 'kvm'
        ? "install your distribution's QEMU package (it is built with KVM)"
        : "brew install qemu (Homebrew's QEMU is built with HVF)";
    return unavailable(accel, `${q.caps.binary} (QEMU ${q.caps.version}) was built without ${name} support`, fix);
  }
  if (accel === 'hvf' && q.hvfEntitled === false) {
    return unavailable(
      accel,
      `${q.caps.binary} is not signed with the com.apple.security.hypervisor entitlement, so macOS refuses it HVF`,
      `write an entitlements.plist with com.apple.security.hypervisor = true, then: codesign -s - --entitlements entitlements.plist --force ${q.caps.binary} (or use Homebrew's qemu, which is signed)`,
    );
  }
  return { accel, available: true, reason: `${host.detail}; ${q.caps.binary} supports ${name}` };
}

function tcgStatus(arch: Arch, q: QemuBinaryReport): AccelStatus {
  if (q.status !== 'ok') return unavailable('tcg', `qemu-system-${arch} is not usable: ${q.reason}`, q.fix);
  if (!q.caps.accels.includes('tcg')) {
    return unavailable(
      'tcg',
      `${q.caps.binary} was built without TCG (RHEL's qemu-kvm is), so it cannot emulate`,
      'use KVM, or install a QEMU build with TCG (e.g. from Fedora or upstream)',
    );
  }
  return { accel: 'tcg', available: true, reason: `TCG is ${TCG_WARNING}` };
}

/** Statuses of kvm, hvf and tcg, in that order, for guests of `arch`. */
export function accelStatusesFor(arch: Arch, inputs: AccelInputs): AccelStatus[] {
  return [
    hardwareStatus('kvm', inputs.hosts.kvm, arch, inputs),
    hardwareStatus('hvf', inputs.hosts.hvf, arch, inputs),
    tcgStatus(arch, inputs.qemu),
  ];
}
