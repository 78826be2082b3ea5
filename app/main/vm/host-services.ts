/**
 * What the VmManager needs from the host. The real implementation sits on the capability probe
 * (app/main/host); tests may pass their own.
 */
import type { Accel, AccelChoice, Arch, QemuCaps, VirtiofsdReport } from '../common/host-types.js';

export interface UefiFirmware {
  code: string;
  varsTemplate: string;
  /** The build requires SMM (Secure Boot builds): QEMU needs smm=on and a secure flash. */
  smm: boolean;
}

export interface HostServices {
  /** Capabilities of the QEMU for `arch`. MUST throw VmdeskError('no-qemu') saying how to install it. */
  qemuCaps(arch: Arch): Promise<QemuCaps>;
  /** Resolves `auto`, an explicit choice, and the VMDESK_ACCEL override. MUST throw
   * VmdeskError('accel-unavailable') with the reason and fix when an explicit choice cannot run. */
  chooseAccel(requested: AccelChoice, caps: QemuCaps): Promise<{ accel: Accel; reason: string }>;
  /** UEFI code + vars template for `arch` (with `secureBoot`: a Secure Boot build with keys
   * enrolled; `smm` when it requires SMM). MUST throw naming the package that provides it. */
  uefiFirmware(arch: Arch, opts?: { secureBoot?: boolean }): Promise<UefiFirmware>;
  /** Absolute path of swtpm. MUST throw VmdeskError('no-swtpm') saying how to install it. */
  swtpm(): Promise<string>;
  /** Which virtiofsd this host has (shared folders use 9p without one). Never throws. */
  virtiofsd(): Promise<VirtiofsdReport>;
  /** Absolute path of qemu-img. MUST throw VmdeskError('no-qemu') saying how to install it. */
  qemuImg(): Promise<string>;
  hostMemoryMiB(): number;
  hostCpus(): number;
  /**
   * Only while a driver's first probe of QEMU runs (no capabilities cached yet): the answers a
   * start needs, with QEMU's capabilities assumed to be what every QEMU vmdesk supports has on
   * this platform (the binary found, the firmware and accelerators of the host are real). A
   * first start launches QEMU paused on them during the probe and keeps it only if the probed
   * capabilities give the same command line. Resolves undefined once the probe has answered,
   * when the caps came from the cache, or when the host has no QEMU for `arch`.
   */
  provisional?(arch: Arch): Promise<LaunchHost | undefined>;
}

/** What planning a start asks of the host. */
export type LaunchHost = Pick<HostServices, 'qemuCaps' | 'chooseAccel' | 'uefiFirmware' | 'swtpm' | 'virtiofsd'>;
