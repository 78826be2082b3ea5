/** What the driver knows about the host and its QEMU binaries. Produced by the capability probe
 * (app/main/host/), consumed by the pure argv builder and the VmManager. */

export type Arch = 'x86_64' | 'aarch64';
export type Accel = 'kvm' | 'hvf' | 'tcg';
export type AccelChoice = Accel | 'auto';

/** Capabilities of one QEMU system binary, from one probe (cached by path + size + mtime). */
export interface QemuCaps {
  arch: Arch;
  /** Absolute path of the qemu-system-* binary. */
  binary: string;
  /** e.g. "7.2.19" */
  version: string;
  /** Accelerators compiled into this binary (from its QOM types `kvm-accel`, `hvf-accel`, `tcg-accel`). */
  accels: Accel[];
  /** Machine type names, e.g. ["pc-q35-7.2", "q35", "virt", ...]. */
  machines: string[];
  /** CPU model names this binary knows (without "host"/"max" pseudo models when absent). */
  cpuModels: string[];
  /** Device type names of interest that exist in this binary. */
  devices: {
    vfioPci: boolean;
    virtioGpuPci: boolean;
    virtioVga: boolean;
    ramfb: boolean;
    vga: boolean;
    virtioNetPci: boolean;
    virtioBlkPci: boolean;
    qemuXhci: boolean;
    usbTablet: boolean;
  };
  /** `-sandbox` is available (QEMU built with seccomp). */
  sandbox: boolean;
}

/** Whether an accelerator can be used on this host right now, and if not, why and how to fix it. */
export interface AccelStatus {
  accel: Accel;
  available: boolean;
  /** Human sentence: why it is (un)available. */
  reason: string;
  /** Exact fix the user can apply, when there is one. */
  fix?: string;
}
