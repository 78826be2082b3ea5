/** What every section of the benchmark gets from the entry point. */
import type { Accel, QemuCaps } from '../../app/main/common/host-types.js';

export interface BenchContext {
  /** The tiny test guest (e2e/guest/build-guest.sh). */
  iso: string;
  /** Repetitions per figure. */
  runs: number;
  /** x86_64 QEMU capabilities from one probe made before any timing. */
  caps: QemuCaps;
  /** The accelerator vmdesk chose for this host (VMDESK_ACCEL honoured): raw QEMU and libvirt use it too. */
  accel: Accel;
  /** A capability cache dir filled by that probe; copied into a run's sandbox to make it warm. */
  cacheTemplate: string;
  /** Absolute path of virsh when libvirt is installed. */
  virsh?: string;
  /** One progress line on stderr (stdout carries only the results). */
  progress(line: string): void;
}
