/**
 * What the mdev layer reports: the host's mediated-device parents, their types, the devices that
 * exist, mdevctl's persistent definitions, and the doctor's verdicts. Produced by app/main/mdev/,
 * carried by the contract (`mdev.*`): plain JSON-serialisable TS with no imports.
 */

/** How a type's display reaches the VM console (QEMU hw/vfio/display.c probes in this order). */
export type MdevDisplayKind =
  /** VFIO_GFX_PLANE_TYPE_DMABUF (GVT-g, mbochs): QEMU needs an OpenGL display (egl-headless). */
  | 'dmabuf'
  /** VFIO_GFX_PLANE_TYPE_REGION (mdpy): a plain framebuffer region, works with VNC alone. */
  | 'region'
  /** No display through QEMU (NVIDIA GRID, mtty, anything unknown). */
  | 'none';

/** Which kind of parent this is; decides display handling and the hardware explanations. */
export type MdevVendor = 'intel-gvtg' | 'nvidia' | 'mtty' | 'mdpy' | 'mbochs' | 'other';

/** Fields parsed out of a type's description where its format is known. The verbatim text is
 * always kept in MdevType.description; a field is absent when the description does not say. */
export interface MdevTypeDetails {
  /** "1920x1200" (GVT-g `resolution`, NVIDIA `max_resolution`, mdpy framebuffer size). */
  resolution?: string;
  /** NVIDIA `framebuffer`, mbochs `memory`, in MiB. */
  framebufferMiB?: number;
  /** NVIDIA `num_heads`: displays the guest driver may drive. */
  heads?: number;
  /** NVIDIA `max_instance`: instances of this type one physical GPU can hold. */
  maxInstances?: number;
  /** NVIDIA `frl_config`: frame rate limit in fps. */
  frameRateLimit?: number;
  /** GVT-g aperture (`low_gm_size`) and hidden (`high_gm_size`) graphics memory, in MiB. */
  lowGmMiB?: number;
  highGmMiB?: number;
  /** GVT-g fence registers and scheduling weight. */
  fence?: number;
  weight?: number;
}

export interface MdevType {
  /** The directory name under mdev_supported_types, e.g. "i915-GVTg_V5_4", "nvidia-63", "mtty-2". */
  id: string;
  parent: string;
  /** The `name` attribute ("GVTg_V5_4", "GRID P4-1Q"); absent when missing or unreadable. */
  name?: string;
  /** The `description` attribute, verbatim (trailing newline removed). */
  description?: string;
  details: MdevTypeDetails;
  /** The details in one line for tables ("1920x1200, 512 MiB framebuffer, 4 heads"); "" when none are known. */
  summary: string;
  /** The `device_api` attribute; vmdesk can only assign "vfio-pci". */
  deviceApi?: string;
  /** The `available_instances` attribute; absent when missing or unreadable. */
  availableInstances?: number;
  /** A `create` file exists (without it nothing can be created, whatever the count says). */
  canCreate: boolean;
  /** UUIDs of the existing instances of this type (the type's `devices/` directory). */
  instances: string[];
  display: MdevDisplayKind;
  /** Attribute files that were missing or unreadable, as sentences. */
  problems: string[];
}

export interface MdevParent {
  /** The name under /sys/class/mdev_bus: a PCI address ("0000:00:02.0") or a sample driver's name. */
  name: string;
  /** Basename of the `driver` symlink ("i915", "nvidia"); the sample drivers' own name when they have none. */
  driver?: string;
  vendor: MdevVendor;
  /** PCI ids as "8086" / "3e92" (no 0x), with names from pci.ids when it has them. */
  pci?: { vendorId: string; deviceId: string; vendorName?: string; deviceName?: string };
  /** False when the parent has no mdev_supported_types directory at all. */
  hasTypesDir: boolean;
  types: MdevType[];
  problems: string[];
}

export interface MdevDevice {
  uuid: string;
  /** From the `mdev_type` symlink; absent when it cannot be read. */
  type?: string;
  parent?: string;
  /** The IOMMU group number (the `iommu_group` symlink), which names /dev/vfio/<group>. */
  iommuGroup?: string;
  /** Ids and names of the vmdesk VMs whose definition assigns this device. */
  usedBy: { id: string; name: string }[];
  problems: string[];
}

/** One of mdevctl's persistent definitions (`mdevctl list --defined --dumpjson`). */
export interface MdevctlDefinition {
  uuid: string;
  parent: string;
  type: string;
  /** "auto": created at boot (or when the parent appears); "manual": only by `mdevctl start`. */
  start: 'auto' | 'manual' | string;
  /** The device exists right now. */
  active: boolean;
}

export type MdevNoteId =
  'no-parents' | 'gvtg-unsupported-gpu' | 'gvtg-disabled' | 'nvidia-vendor-vfio' | 'mdevctl-failed';

/** A hardware or setup fact explained rather than left as an empty list. */
export interface MdevNote {
  id: MdevNoteId;
  /** The PCI address or parent name the note is about. */
  device?: string;
  text: string;
  fix?: MdevFix;
}

export interface MdevInventory {
  parents: MdevParent[];
  devices: MdevDevice[];
  mdevctl: { installed: boolean; definitions: MdevctlDefinition[]; error?: string };
  notes: MdevNote[];
}

/** Something the privileged helper can do; `apply-fix` takes a list of these in one prompt. */
export type MdevFixAction =
  | { kind: 'create'; parent: string; type: string; uuid: string; persistent?: boolean }
  | { kind: 'remove'; uuid: string; persistent?: boolean }
  /** /etc/udev/rules.d/99-vmdesk-vfio.rules (mediated devices' VFIO groups only, via is-mdev-group;
   * closes groups the old broad rule opened), then udevadm reload + trigger. */
  | { kind: 'udev-rule' }
  /** /etc/security/limits.d/90-vmdesk-memlock-USER.conf with hard and soft `memlock` in KiB. */
  | { kind: 'memlock'; user: string; kib: number }
  /** /etc/modules-load.d/vmdesk-vfio.conf, then modprobe of the same modules. */
  | { kind: 'modules' }
  /** /etc/udev/rules.d/70-vmdesk-usb-VVVV-PPPP.rules: USB devices with these ids (four lowercase hex
   * digits each) get MODE 0660 and TAG+="uaccess" (the seat's user); then udevadm reload + trigger
   * of those devices. The same shape as UsbRuleAction in usb-types.ts. */
  | { kind: 'usb-rule'; vendorId: string; productId: string };

export interface MdevFix {
  /** What to do, for a person; may span lines. */
  text: string;
  /** One command to paste into a terminal, when there is one. */
  command?: string;
  /** The command (or the edit) needs root. */
  privileged: boolean;
  /** When the helper can apply it: what to pass to `apply-fix`. */
  action?: MdevFixAction;
}

export type MdevCheckStatus = 'pass' | 'fail' | 'warn';

export type MdevCheckId =
  | 'parent'
  | 'iommu'
  | 'vfio-modules'
  | 'vfio-container'
  | 'vfio-group'
  /** vmdesk's udev rule: opens only mediated devices' groups (the old rule opened every group). */
  | 'vfio-rule'
  | 'memlock'
  | 'instances'
  | 'device'
  | 'qemu-vfio'
  | 'display';

export interface MdevCheck {
  id: MdevCheckId;
  title: string;
  status: MdevCheckStatus;
  /** What was found, as a sentence a person can act on. */
  detail: string;
  fix?: MdevFix;
  /** The assignment (UUID) the check is about; absent for host-wide checks. */
  device?: string;
}

/** The doctor's verdicts for one VM, as `vmdesk mdev check --json` prints them and the wizard shows them. */
export interface MdevCheckReport {
  vm: string;
  ready: boolean;
  checks: MdevCheck[];
  /** What "Fix with administrator rights" (`--fix`) would apply, in one prompt. */
  fixActions: MdevFixAction[];
  /** The VM has no mediated devices: only the host-wide checks ran. */
  hostOnly: boolean;
}

/** A privileged step either ran, or (no pkexec) comes back as the command to paste. */
export type MdevPrivilegedResult<T> = { outcome: 'done'; result: T } | { outcome: 'manual'; command: string };
