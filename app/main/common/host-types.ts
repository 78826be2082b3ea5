/**
 * What the driver knows about the host and its QEMU binaries. Produced by the capability probe
 * (app/main/host/), consumed by the pure argv builder and the VM layer, and carried by the
 * contract (`host.info`), so it lives in common: plain JSON-serialisable types, no imports.
 */

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
  /**
   * The devices whose presence changes what vmdesk does: vfio-pci (vGPUs) and virtio-vga (the
   * `virtio` display on x86). Devices every QEMU vmdesk supports has (VGA, virtio-net, xHCI...)
   * are not asked about: a QEMU without one refuses the command line and says which.
   */
  devices: {
    vfioPci: boolean;
    virtioVga: boolean;
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

// ---------------------------------------------------------------------------------------------
// The host report: everything `probeHost()` found out, as a plain JSON-serialisable object (it
// crosses IPC and is printed by `vmdesk host`). No undefined-vs-missing distinctions matter, no
// Infinity, no bigint: limits use 'unlimited'.

/** One qemu-system-* binary: usable (with caps), not found, or found but the probe failed. */
export type QemuBinaryReport =
  | {
      arch: Arch;
      status: 'ok';
      caps: QemuCaps;
      /** True when the caps came from the on-disk cache (binary unchanged since the last probe). */
      fromCache: boolean;
      /** macOS only: the binary carries the com.apple.security.hypervisor entitlement
       * (`codesign -d --entitlements -`); absent when not checked or unknown. */
      hvfEntitled?: boolean;
    }
  | {
      arch: Arch;
      status: 'missing' | 'broken';
      /** Human sentence: what was searched, or how the probe failed. */
      reason: string;
      /** Exact command(s) to install or repair it. */
      fix: string;
      /** Where we looked, in order (env override, PATH entries, usual places). */
      searched: string[];
    };

export type QemuImgReport =
  | { status: 'ok'; path: string; /** e.g. "7.2.22" */ version: string; fromCache: boolean }
  | { status: 'missing' | 'broken'; reason: string; fix: string; searched: string[] };

/** One UEFI firmware build usable with pflash (code + optional vars template). */
export interface FirmwareImage {
  arch: Arch;
  /** The descriptor file it came from, or "well-known path" for the fallback list. */
  source: string;
  description: string;
  /** Read-only code image (pflash0). */
  code: string;
  /** NVRAM template copied per VM (pflash1); absent for stateless/combined builds. */
  varsTemplate?: string;
  /** Block format of both files, explicit on the command line. */
  format: 'raw' | 'qcow2';
  /** Machine type globs from the descriptor ("pc-q35-*", "virt-*"); matched against canonical
   * machine names, not aliases. */
  machines: string[];
  secureBoot: boolean;
  enrolledKeys: boolean;
  /** Needs `-machine smm=on` (x86 secure boot builds). */
  requiresSmm: boolean;
  /** All descriptor features, for anything not broken out above. */
  features: string[];
}

export interface FirmwareMissing {
  arch: Arch;
  reason: string;
  /** The package that provides it on this OS (e.g. `sudo apt install ovmf`). */
  fix: string;
}

export interface FirmwareReport {
  /** Usable images, best first (descriptor precedence, then the well-known fallbacks). */
  images: FirmwareImage[];
  /** Architectures with no usable image at all. */
  missing: FirmwareMissing[];
  /** Descriptors that were skipped: malformed JSON, wrong shape, files that do not exist. */
  problems: string[];
  /** Descriptor directories consulted, general to specific. */
  searchedDirs: string[];
}

/** swtpm, the TPM emulator a VM with a TPM needs: where it is, or why not and how to install it. */
export interface SwtpmReport {
  path: string | null;
  reason?: string;
  fix?: string;
}

/** virtiofsd, which serves shared folders over virtio-fs: QEMU's own (C; root only, no
 * read-only shares) or the Rust one (runs as the user). Without it shares use 9p. */
export interface VirtiofsdReport {
  path: string | null;
  flavour?: 'qemu' | 'rust';
  fix?: string;
}

export type MemlockValue = number | 'unlimited';

export interface MemlockReport {
  /** RLIMIT_MEMLOCK in bytes; null when it could not be read. */
  soft: MemlockValue | null;
  hard: MemlockValue | null;
  source: 'native' | 'proc' | 'unknown';
  /** Why the value is unknown, or a remark (e.g. how vmdesk raises it). */
  note?: string;
}

export interface NativeLayerStatus {
  implementation: 'koffi' | 'fallback';
  loaded: boolean;
  loadError?: string;
}

export interface HostReport {
  /** Bumped when the shape changes. */
  schema: 3;
  /** process.platform and the host CPU as QEMU names it ('x86_64', 'aarch64', or Node's name). */
  platform: string;
  hostArch: string;
  qemu: Record<Arch, QemuBinaryReport>;
  qemuImg: QemuImgReport;
  /** Per guest architecture: KVM/HVF apply only to the host's own architecture. */
  accels: Record<Arch, AccelStatus[]>;
  firmware: FirmwareReport;
  swtpm: SwtpmReport;
  virtiofsd: VirtiofsdReport;
  memlock: MemlockReport;
  native: NativeLayerStatus;
  /** Non-fatal trouble met while probing (unwritable cache dir, corrupt cache file rebuilt...). */
  notes: string[];
  /** Wall time of the probe in milliseconds. */
  probeMs: number;
}
