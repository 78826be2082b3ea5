/** Can this Mac run Hypervisor.framework guests (host side, before a QEMU binary is considered). */
import type { NativeHost } from '../../native/index.js';

export type HvfHostState = { usable: true; detail: string } | { usable: false; reason: string; fix?: string };

/** The CPU the Mac really has: an x64 Node under Rosetta still reports process.arch 'x64', but
 * hw.optional.arm64 is 1 on Apple Silicon whatever the calling process is. */
export function macHostArch(native: NativeHost, nodeArch: string): { arch: string; rosetta: boolean } {
  const arm64 = native.sysctlInt('hw.optional.arm64');
  if (arm64.ok && arm64.value === 1) return { arch: 'aarch64', rosetta: nodeArch !== 'arm64' };
  return { arch: nodeArch === 'arm64' ? 'aarch64' : nodeArch === 'x64' ? 'x86_64' : nodeArch, rosetta: false };
}

export function probeHvfHost(native: NativeHost, platform: string, rosetta: boolean): HvfHostState {
  if (platform !== 'darwin') return { usable: false, reason: 'HVF (Hypervisor.framework) exists only on macOS' };
  const hv = native.sysctlInt('kern.hv_support');
  if (!hv.ok)
    return {
      usable: false,
      reason: `cannot read kern.hv_support: ${hv.reason}`,
      fix: 'run `sysctl kern.hv_support` in Terminal: 1 means HVF works',
    };
  if (hv.value !== 1) {
    return {
      usable: false,
      reason:
        'kern.hv_support is 0: this Mac offers no hardware virtualisation to Hypervisor.framework (a very old CPU, or macOS itself runs in a VM)',
      fix: 'if macOS runs in a VM, enable nested virtualisation for it on the outer host',
    };
  }
  const note = rosetta
    ? '; note: vmdesk runs under Rosetta, so QEMU must be the arm64 build (Homebrew in /opt/homebrew)'
    : '';
  return { usable: true, detail: `Hypervisor.framework is supported (kern.hv_support=1)${note}` };
}
