/** HostServices for tests that never start a VM: every probe refuses with a clear error. */
import { VmdeskError } from '../../common/errors.js';
import type { Accel, QemuCaps, VirtiofsdReport } from '../../common/host-types.js';
import type { HostServices, UefiFirmware } from '../host-services.js';

export class NoQemuHost implements HostServices {
  async qemuCaps(): Promise<QemuCaps> {
    throw new VmdeskError('no-qemu', 'No QEMU in this test.');
  }
  async chooseAccel(): Promise<{ accel: Accel; reason: string }> {
    throw new VmdeskError('accel-unavailable', 'No accelerator in this test.');
  }
  async uefiFirmware(): Promise<UefiFirmware> {
    throw new VmdeskError('no-firmware', 'No firmware in this test.');
  }
  async virtiofsd(): Promise<VirtiofsdReport> {
    return { path: null };
  }
  async swtpm(): Promise<string> {
    throw new VmdeskError('no-swtpm', 'No swtpm in this test.');
  }
  async qemuImg(): Promise<string> {
    throw new VmdeskError('no-qemu', 'No qemu-img in this test.');
  }
  hostMemoryMiB(): number {
    return 4096;
  }
  hostCpus(): number {
    return 4;
  }
}
