/**
 * What vmdesk learns from an installer image and which OS it takes it for. Plain JSON (dates as
 * ISO strings, no undefined-vs-missing distinctions), so both cross IPC and print as `--json`.
 * Produced by app/main/iso/, carried by the contract (`iso.inspect`).
 */
import type { Arch } from './host-types.js';

export type BootPlatform = 'bios' | 'efi' | 'powerpc' | 'mac' | 'other';
export type BootEmulation = 'none' | 'floppy-1.2M' | 'floppy-1.44M' | 'floppy-2.88M' | 'hard-disk' | 'other';

/** One El Torito boot catalogue entry (the default entry or a section entry). */
export interface BootEntry {
  platform: BootPlatform;
  /** The raw platform id: 0x00 x86 BIOS, 0x01 PowerPC, 0x02 Mac, 0xEF UEFI. */
  platformId: number;
  /** Boot indicator 0x88; a 0x00 entry is listed but not bootable. */
  bootable: boolean;
  emulation: BootEmulation;
  /** Where the boot image starts, in 2048-byte sectors. */
  loadRba: number;
  /** Its length as the catalogue states it, in 512-byte sectors (often 0, 1 or 4 for no-emulation images). */
  sectorCount: number;
}

export interface WindowsMedia {
  /** The install image's path as found, e.g. "sources/install.wim". */
  installImage: string;
  /** Which filesystem it was found in: real Windows media carry it only in UDF. */
  foundIn: 'iso9660' | 'udf';
  /** From the image's XML: the build of its first edition (22000 and later are Windows 11). */
  build: number | null;
  /** "Client" or "Server" (INSTALLATIONTYPE), when the XML says. */
  installationType: string | null;
  /** Edition names, e.g. ["Windows 11 Home", "Windows 11 Pro"] (at most 32). */
  editions: string[];
  arch: Arch | 'x86' | 'other' | null;
}

export interface IsoInfo {
  /** The path as given, made absolute. */
  path: string;
  /** Bytes in the file. */
  sizeBytes: number;
  /** What the volume descriptors say the volume occupies (sectors x block size); null for UDF-only. */
  volumeSizeBytes: number | null;
  /** Which filesystems the image carries. Windows media are "iso9660+udf" (a UDF bridge). */
  format: 'iso9660' | 'iso9660+udf' | 'udf';
  /** ISO 9660 primary volume descriptor fields (UDF's volume identifier for a UDF-only image), trimmed. */
  volumeId: string;
  systemId: string;
  publisher: string;
  dataPreparer: string;
  applicationId: string;
  volumeSetId: string;
  /** Volume creation/modification dates as ISO strings (UTC); null when unset or invalid. */
  created: string | null;
  modified: string | null;
  /** Joliet supplementary descriptor (long Unicode names for Windows), when present. */
  joliet: { volumeId: string } | null;
  /** Rock Ridge (POSIX names and permissions) seen on the root directory. */
  rockRidge: boolean;
  udf: boolean;
  /**
   * A guess from what was read: 1 when all names seen are 8.3, 2 when longer, 3 when a file has
   * several extents (over 4 GiB), 4 for an ISO 9660:1999 enhanced descriptor; null for UDF-only.
   */
  isoLevel: 1 | 2 | 3 | 4 | null;
  /** A partition table in the first sectors (isohybrid images that also boot from USB sticks). */
  hybrid: 'mbr' | 'gpt' | null;
  /** Can a VM boot this disc: via legacy BIOS, via UEFI. */
  bootable: { bios: boolean; uefi: boolean };
  bootEntries: BootEntry[];
  /** Architectures of the UEFI boot files found (BOOTX64.EFI → x86_64, BOOTAA64.EFI → aarch64). */
  efiArchs: Arch[];
  /**
   * The UEFI boot files found, as "esp:/EFI/BOOT/BOOTX64.EFI" (in the El Torito EFI image) or
   * "iso:/EFI/BOOT/BOOTX64.EFI".
   */
  efiBootFiles: string[];
  /** Windows installation media: where sources/install.wim|esd is and what it holds. */
  windows: WindowsMedia | null;
  /** Things a person may want to know: not bootable, damaged parts skipped, 32-bit-only UEFI... */
  warnings: string[];
}

export type OsFamily = 'linux' | 'windows' | 'bsd' | 'darwin' | 'solaris' | 'other';

export interface OsResources {
  memoryMiB: number;
  diskGiB: number;
  cpus: number;
}

/** Which OS an image installs, and a VM shape that suits it. */
export interface OsMatch {
  /** The osinfo id, e.g. "http://debian.org/debian/12"; "" for a generic match. */
  id: string;
  /** For people: "Debian 12", "Microsoft Windows 11", or the volume id made readable. */
  name: string;
  version: string;
  family: OsFamily;
  /** osinfo's distro ("debian", "win", "fedora"...); "" when unknown. */
  distro: string;
  vendor: string;
  arch: Arch | null;
  recommended: OsResources;
  minimum: OsResources;
  firmware: 'uefi' | 'bios' | 'either';
  /** The guest has in-box virtio drivers (disk and network), so virtio devices can be used. */
  virtio: boolean;
  /** The installer requires a TPM 2.0 (Windows 11). */
  tpm: boolean;
  source: 'osinfo-db' | 'table' | 'generic';
  /**
   * exact: an osinfo media entry matched; newer-release: the volume id names a release newer than
   * this osinfo data knows, so its newest release's requirements are used; none: generic.
   */
  confidence: 'exact' | 'newer-release' | 'none';
  /** Why the match is what it is, when that is not obvious (ambiguity, guesses). */
  notes: string[];
}

/** An installer image, the OS it installs, and the VM vmdesk proposes for it. */
export interface IsoPlan {
  info: IsoInfo;
  os: OsMatch;
  /** What the wizard shows prefilled; the name is unique among the existing VMs. */
  defaults: {
    name: string;
    arch: Arch;
    memoryMiB: number;
    cpus: number;
    diskGiB: number;
    firmware: 'bios' | 'uefi';
    secureBoot: boolean;
    tpm: boolean;
    /** Devices the guest has drivers for: virtio, or (Windows without a driver disc) SATA + e1000e. */
    diskBus: 'virtio' | 'sata';
    nic: 'virtio' | 'e1000e';
    clock: 'utc' | 'localtime';
    hyperv: boolean;
    /** A virtio driver disc found on this computer (virtio-win.iso) to put in a second drive;
     * with it the VM gets virtio devices. null when none was found or the OS needs none. */
    drivers: string | null;
  };
  /** For a Windows guest, where vmdesk looked for virtio-win.iso (so the wizard can say so). */
  driverSearch?: string[];
  /** Things to tell the user that do not stop the create (not bootable, no TPM for Windows 11...). */
  warnings: string[];
}
