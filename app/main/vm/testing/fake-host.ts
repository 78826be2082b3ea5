/** HostServices for VM-layer tests that start VMs with the fake launcher: TCG, BIOS, no probing. */
import { VmdeskError } from '../../common/errors.js';
import type { Accel, Arch, QemuCaps, VirtiofsdReport } from '../../common/host-types.js';
import { fakeQemuCaps } from '../../host/testing/caps.js';
import type { HostServices, LaunchHost, UefiFirmware } from '../host-services.js';

export class FakeHost implements HostServices {
  /** Runs while a start probes the host (a test acts in that window). */
  whileProbing: (() => Promise<void> | void) | undefined;
  /** Set: the driver's first probe of QEMU is under way and a start may launch QEMU on these
   * caps meanwhile (HostServices.provisional); `whileProbing` holds the probe's answer. */
  assumedCaps: QemuCaps | undefined;
  constructor(private readonly binary = '/nonexistent/qemu-system-x86_64') {}
  async provisional(): Promise<LaunchHost | undefined> {
    const caps = this.assumedCaps;
    if (!caps) return undefined;
    return {
      qemuCaps: async () => caps,
      chooseAccel: () => this.chooseAccel(),
      uefiFirmware: (arch, opts) => this.uefiFirmware(arch, opts),
      virtiofsd: () => this.virtiofsd(),
      swtpm: () => this.swtpm(),
    };
  }
  async qemuCaps(): Promise<QemuCaps> {
    await this.whileProbing?.();
    return fakeQemuCaps({ binary: this.binary, accels: ['tcg'], sandbox: false });
  }
  async chooseAccel(): Promise<{ accel: Accel; reason: string }> {
    return { accel: 'tcg', reason: 'chosen by the test' };
  }
  async uefiFirmware(_arch?: Arch, _opts?: { secureBoot?: boolean }): Promise<UefiFirmware> {
    throw new VmdeskError('no-firmware', 'No UEFI firmware in this test.');
  }
  async virtiofsd(): Promise<VirtiofsdReport> {
    return { path: null };
  }
  async swtpm(): Promise<string> {
    throw new VmdeskError('no-swtpm', 'No swtpm in this test.');
  }
  async qemuImg(): Promise<string> {
    return '/usr/bin/qemu-img';
  }
  hostMemoryMiB(): number {
    return 4096;
  }
  hostCpus(): number {
    return 2;
  }
}
