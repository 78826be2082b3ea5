/**
 * The one contract between the driver and everything that drives it (the window over Electron
 * IPC, `vmdesk web` over a WebSocket, the CLI over the control socket). Each call has a params
 * schema (validated by the dispatcher before anything runs) and a result type.
 */
import * as v from 'valibot';
import {
  forwardListSchema,
  MAX_DISKS,
  MAX_MDEVS,
  MAX_CDROMS,
  MAX_PATH_CHARS,
  DISK_BUSES,
  NIC_MODELS,
  MAX_SHARES,
  MAX_USB,
  ShareTagSchema,
  UsbIdSchema,
  BootOrderSchema,
  MdevAssignmentSchema,
  RequestedCpusSchema as CpusSchema,
  RequestedMemoryMiBSchema as MemoryMiBSchema,
  PortForwardSchema,
  SysfsNameSchema as SysfsName,
  UuidSchema as Uuid,
  type VmSummary,
} from './vm-types.js';
import type { HostReport } from './host-types.js';
import { LibvirtUriSchema, type HostConnection } from './connection-types.js';
import { snapshotNameProblem } from './names.js';
import type { IsoPlan } from './iso-types.js';
import type { MdevCheckReport, MdevDevice, MdevInventory, MdevParent, MdevPrivilegedResult } from './mdev-types.js';
import type { UsbCheck, UsbDevice } from './usb-types.js';
import { SettingsChangeSchema, type SettingsReport } from './settings-types.js';

/** A VM is named by its id or its name. */
const VmRef = v.pipe(v.string(), v.minLength(1), v.maxLength(1024));
const FilePath = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(MAX_PATH_CHARS, `a path can have at most ${MAX_PATH_CHARS} characters`),
);
/** Bytes of a new disk: a whole number, at least 1 MiB, at most 1 PiB (qcow2's own limit is 64 PiB). */
const NewDiskBytes = v.pipe(
  v.number('The disk size must be a number of bytes.'),
  v.check((n: number) => Number.isFinite(n), 'The disk size must be a finite number.'),
  v.check(
    (n: number) => Number.isInteger(n),
    (issue) => `The disk size must be a whole number of bytes, not ${String(issue.input)}.`,
  ),
  v.check((n: number) => n >= 2 ** 20, 'A new disk must be at least 1 MiB (e.g. --disk-size 20G).'),
  v.check((n: number) => n <= 2 ** 50, 'A new disk can be at most 1 PiB.'),
);
const DiskGiB = v.pipe(
  v.number('The disk size must be a number of GiB.'),
  v.check((n: number) => Number.isFinite(n), 'The disk size must be a finite number of GiB.'),
  v.check((n: number) => n >= 0, 'The disk size must be 0 (no disk) or more GiB.'),
  v.check((n: number) => n <= 2 ** 20, 'The disk size can be at most 1048576 GiB (1 PiB).'),
);
const DiskTarget = v.pipe(
  v.string(),
  v.regex(/^vd[a-z]$/, 'a disk target is vd and a letter, as `vmdesk list --json` shows (e.g. vdb)'),
);
const CdromDrive = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_CDROMS - 1));
const JobId = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'a job id is 1 to 64 letters, digits, _ or -'));
const SnapshotName = v.pipe(
  v.string(),
  v.check(
    (x: string) => snapshotNameProblem(x) === undefined,
    (issue) => snapshotNameProblem(issue.input) ?? '',
  ),
);
const SnapshotDescription = v.pipe(v.string(), v.maxLength(1000, 'a description can have at most 1000 characters'));
/** A host USB device as `vmdesk usb list` names it: VENDOR:PRODUCT or BUS-PORT. */
const USB_SELECTOR = /^([0-9a-fA-F]{4}:[0-9a-fA-F]{4}|\d{1,3}-\d{1,3}(\.\d{1,3}){0,6})$/;
const UsbSelector = v.pipe(
  v.string(),
  v.check(
    (s: string) => USB_SELECTOR.test(s),
    (issue) =>
      `"${String(issue.input).slice(0, 80)}" does not name a USB device: give VENDOR:PRODUCT (four hex digits each, like 046d:c52b) or BUS-PORT (like 1-1.2), as \`vmdesk usb list\` shows them.`,
  ),
);
/** For a detach: a selector, or the id the device has in the VM (usb1, as VmSummary.usb says). */
const UsbSelectorOrId = v.pipe(
  v.string(),
  v.check(
    (s: string) => USB_SELECTOR.test(s) || /^usb\d{1,3}$/.test(s),
    (issue) =>
      `"${String(issue.input).slice(0, 80)}" does not name a USB device: give VENDOR:PRODUCT (like 046d:c52b), BUS-PORT (like 1-1.2), or its id in the VM (like usb1).`,
  ),
);
const TimeoutMs = v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(24 * 3600 * 1000)));

/** What makes a VM ready for a given guest OS (Windows: Secure Boot, TPM, SATA + e1000e, local time). */
const GuestSettings = v.strictObject({
  /** UEFI Secure Boot (implies UEFI firmware). */
  secureBoot: v.optional(v.boolean()),
  /** A TPM 2.0 (swtpm runs beside QEMU). */
  tpm: v.optional(v.boolean()),
  diskBus: v.optional(v.picklist(DISK_BUSES, 'the disk bus is virtio or sata')),
  nic: v.optional(v.picklist(NIC_MODELS, 'the network card is virtio or e1000e')),
  clock: v.optional(v.picklist(['utc', 'localtime'], 'the clock is utc or localtime')),
  hyperv: v.optional(v.boolean()),
  /** A sound card played through the host's sound server. */
  sound: v.optional(v.boolean()),
  /** The clipboard shared with the screen's viewer (QEMU's vdagent; the guest runs spice-vdagent). */
  clipboard: v.optional(v.boolean()),
  /** Host USB devices (vendor:product) plugged in at every start; all of them. */
  usb: v.optional(
    v.pipe(
      v.array(v.strictObject({ vendorId: UsbIdSchema, productId: UsbIdSchema })),
      v.maxLength(MAX_USB, `a VM can have at most ${MAX_USB} USB devices`),
    ),
  ),
});

/** Shared folders as a request gives them (read-write unless said). */
const SharesInput = v.pipe(
  v.array(v.strictObject({ path: FilePath, tag: ShareTagSchema, readOnly: v.optional(v.boolean()) })),
  v.maxLength(MAX_SHARES, `a VM can have at most ${MAX_SHARES} shared folders`),
  v.check(
    (ss: { path: string; tag: string; readOnly?: boolean }[]) => new Set(ss.map((s) => s.tag)).size === ss.length,
    'two shared folders have one tag',
  ),
);

export const DefineVmInputSchema = v.strictObject({
  name: v.pipe(v.string(), v.maxLength(4096)),
  memoryMiB: MemoryMiBSchema,
  cpus: CpusSchema,
  arch: v.optional(v.picklist(['x86_64', 'aarch64'])),
  accel: v.optional(v.picklist(['auto', 'kvm', 'hvf', 'tcg'])),
  firmware: v.optional(v.picklist(['bios', 'uefi'])),
  display: v.optional(v.picklist(['std', 'virtio', 'none'])),
  /** An existing disk image (`path`, format read from its header unless given), or a new qcow2 of `sizeBytes`. */
  disk: v.optional(
    v.strictObject({
      path: v.optional(FilePath),
      format: v.optional(v.picklist(['qcow2', 'raw'])),
      sizeBytes: v.optional(NewDiskBytes),
    }),
  ),
  /** More existing disk images, after `disk` (`vmdesk define --disk A --disk B`). */
  moreDisks: v.optional(
    v.pipe(
      v.array(v.strictObject({ path: FilePath, format: v.optional(v.picklist(['qcow2', 'raw'])) })),
      v.maxLength(MAX_DISKS - 1, `a VM can have at most ${MAX_DISKS} disks`),
    ),
  ),
  cdrom: v.optional(FilePath),
  /** More discs, in drives after the first (a driver disc such as virtio-win.iso). */
  moreCdroms: v.optional(
    v.pipe(v.array(FilePath), v.maxLength(MAX_CDROMS - 1, `a VM can have at most ${MAX_CDROMS} CD-ROM drives`)),
  ),
  ...GuestSettings.entries,
  /** Host directories the guest can mount. */
  shares: v.optional(SharesInput),
  /** The OS it is made for (the create wizard's recognition). */
  os: v.optional(
    v.strictObject({ id: v.pipe(v.string(), v.maxLength(200)), name: v.pipe(v.string(), v.maxLength(200)) }),
  ),
  // The address lands inside QEMU's -netdev option string: only a plain IPv4 address may pass.
  forwards: v.optional(
    forwardListSchema(
      v.strictObject({ ...PortForwardSchema.entries, hostAddr: v.optional(v.pipe(v.string(), v.ipv4())) }),
    ),
  ),
});
export type DefineVmInput = v.InferOutput<typeof DefineVmInputSchema>;

const vmOnly = v.strictObject({ vm: VmRef });
/** The wizard's proposal, checked instead of the VM's saved devices. */
const Proposal = v.optional(v.pipe(v.array(MdevAssignmentSchema), v.maxLength(MAX_MDEVS)));
const vmWait = v.strictObject({ vm: VmRef, wait: v.optional(v.boolean()), timeoutMs: TimeoutMs });

export const CALLS = {
  /** Every VM of every connected host; `host`: only that host's (`local`, or a connection's id). */
  'vm.list': { params: v.strictObject({ host: v.optional(v.pipe(v.string(), v.maxLength(1024))) }) },
  'vm.get': { params: vmOnly },
  /** A small recent picture of the VM's screen (PNG, base64): taken while it runs, at most one
   * capture per VM every few seconds whoever asks; paused and stopped VMs give their last one. */
  'vm.thumbnail': { params: vmOnly },
  'vm.define': { params: DefineVmInputSchema },
  /** Resolves once the guest runs; `timeoutMs`: how long QEMU may take to become ready
   * (default 30 s) before the start is rolled back. */
  'vm.start': { params: v.strictObject({ vm: VmRef, timeoutMs: TimeoutMs }) },
  /** ACPI power button; with `wait`, returns once stopped and forces off after `timeoutMs`. */
  'vm.shutdown': { params: vmWait },
  /** Force off (quit → SIGTERM → SIGKILL); resolves once QEMU is gone. */
  'vm.stop': { params: vmOnly },
  'vm.reboot': { params: vmOnly },
  'vm.pause': { params: vmOnly },
  'vm.resume': { params: vmOnly },
  /** `keepDisks` unset: a VM's own disks go, but a broken VM's data folder stays (its disks are
   * unknown); `note` then says so. */
  'vm.delete': { params: v.strictObject({ vm: VmRef, keepDisks: v.optional(v.boolean()) }) },
  'vm.logPaths': { params: vmOnly },
  /** VM directories (disks, logs) that belong to no VM: vmdesk shows them and never deletes them. */
  'vm.orphans': { params: v.strictObject({}) },
  /** What an installer image is and the VM the wizard proposes for it (nothing is created). */
  'iso.inspect': { params: v.strictObject({ path: FilePath }) },
  /**
   * Create a VM from an installer image with the recognised OS's defaults (each overridable):
   * a new qcow2 disk, UEFI vars when needed, booting from the ISO; optionally start it.
   */
  'vm.create': {
    params: v.strictObject({
      iso: FilePath,
      name: v.optional(v.pipe(v.string(), v.maxLength(4096))),
      memoryMiB: v.optional(MemoryMiBSchema),
      cpus: v.optional(CpusSchema),
      diskGiB: v.optional(DiskGiB),
      firmware: v.optional(v.picklist(['bios', 'uefi'])),
      accel: v.optional(v.picklist(['auto', 'kvm', 'hvf', 'tcg'])),
      start: v.optional(v.boolean()),
      ...GuestSettings.entries,
      /** A virtio driver disc for a second drive (virtio-win.iso); `null`: none, even if one is
       * found. Unset: the one the plan found, if any. With one, the VM gets virtio devices. */
      drivers: v.optional(v.nullable(FilePath)),
    }),
  },
  /** Take the disc out of a CD-ROM drive (the first unless `drive` is given), running or not. */
  'vm.eject': { params: v.strictObject({ vm: VmRef, drive: v.optional(CdromDrive) }) },
  /**
   * Put an ISO in a CD-ROM drive (the first unless `drive` is given; a second install disc, a
   * driver ISO): at once in a running VM that has the drive, else from its next start.
   */
  'vm.insertCdrom': { params: v.strictObject({ vm: VmRef, iso: FilePath, drive: v.optional(CdromDrive) }) },
  /**
   * Adds a disk: a new qcow2 of `sizeBytes` in the VM's folder, or an existing image at `path`
   * (its format read once from its header and stored). A running VM gets it at once (hot-plug).
   */
  'vm.addDisk': {
    params: v.strictObject({
      vm: VmRef,
      sizeBytes: v.optional(NewDiskBytes),
      path: v.optional(FilePath),
      format: v.optional(v.picklist(['qcow2', 'raw'])),
    }),
  },
  /** Detaches a disk by target (`vdb`); `deleteFile` deletes it too, only if vmdesk made it. */
  'vm.removeDisk': { params: v.strictObject({ vm: VmRef, target: DiskTarget, deleteFile: v.optional(v.boolean()) }) },
  /**
   * Converts a stopped VM's raw disk to qcow2 (what snapshots need): a new qcow2 in the VM's
   * folder takes the disk's place; the raw file is kept, and the answer's `notice` says where.
   */
  'vm.convertDisk': { params: v.strictObject({ vm: VmRef, target: DiskTarget }) },
  /** Grows a disk to `sizeBytes` (qemu-img stopped, block_resize running); shrinking is refused. */
  'vm.resizeDisk': { params: v.strictObject({ vm: VmRef, target: DiskTarget, sizeBytes: NewDiskBytes }) },
  /**
   * A copy of a stopped VM named `name`: new id, new MAC, NVRAM copied. Full: every disk copied
   * (`job.progress` events under `jobId`; `job.cancel` stops it and leaves nothing). Linked: each
   * qcow2 disk becomes the base of an overlay, and stays read-only while the clone exists.
   */
  'vm.clone': {
    params: v.strictObject({
      vm: VmRef,
      name: v.pipe(v.string(), v.maxLength(4096)),
      linked: v.optional(v.boolean()),
      jobId: v.optional(JobId),
    }),
  },
  /** Cancels a running job (a clone, a snapshot); what it made so far is removed. */
  'job.cancel': { params: v.strictObject({ jobId: JobId }) },
  /** The VM's snapshots, parents before children, the current one marked. */
  'snapshot.list': { params: vmOnly },
  /**
   * Takes a snapshot: of a running or paused VM with its memory (internal qcow2 snapshots through
   * QMP snapshot-save; the guest pauses while its memory is written), of a stopped one (or with
   * `diskOnly`) of its disks alone. Progress as `job.progress` under `jobId`; `job.cancel` leaves
   * no half snapshot.
   */
  'snapshot.create': {
    params: v.strictObject({
      vm: VmRef,
      name: SnapshotName,
      description: v.optional(SnapshotDescription),
      diskOnly: v.optional(v.boolean()),
      jobId: v.optional(JobId),
    }),
  },
  /**
   * Goes back to a snapshot: disks, and for one with memory the guest's memory and devices, in the
   * state it was taken in (running or paused). A disk-only snapshot needs the VM off.
   */
  'snapshot.revert': { params: v.strictObject({ vm: VmRef, name: SnapshotName, jobId: v.optional(JobId) }) },
  /** Deletes a snapshot, one in the middle of the tree too (its children move to its parent). */
  'snapshot.delete': { params: v.strictObject({ vm: VmRef, name: SnapshotName }) },
  /** Renames a snapshot or changes its description. */
  'snapshot.update': {
    params: v.strictObject({
      vm: VmRef,
      name: SnapshotName,
      newName: v.optional(SnapshotName),
      description: v.optional(SnapshotDescription),
    }),
  },
  /** The screen at the moment of the snapshot, as a small PNG (base64); none for a headless VM. */
  'snapshot.thumbnail': { params: v.strictObject({ vm: VmRef, name: SnapshotName }) },
  /**
   * Change a VM's settings: only the fields given. `revision` is the VmSummary.revision the
   * change was made against; when the VM changed since (another window, an editor), the call is
   * refused and nothing is written. A running VM keeps running as it is: the summary's `pending`
   * lists what applies at its next start. `name` renames (the id and files stay).
   */
  'vm.update': {
    params: v.strictObject({
      vm: VmRef,
      revision: v.optional(v.pipe(v.string(), v.maxLength(200))),
      name: v.optional(v.pipe(v.string(), v.maxLength(4096))),
      memoryMiB: v.optional(MemoryMiBSchema),
      cpus: v.optional(CpusSchema),
      boot: v.optional(BootOrderSchema),
      display: v.optional(v.picklist(['std', 'virtio', 'none'])),
      accel: v.optional(v.picklist(['auto', 'kvm', 'hvf', 'tcg'])),
      /** Switching to UEFI gives the VM a fresh variable store; back to BIOS keeps it (unused). */
      firmware: v.optional(v.picklist(['bios', 'uefi'])),
      network: v.optional(v.picklist(['user', 'none'])),
      /** How many CD-ROM drives (0 to MAX_CDROMS); fewer drops the last ones with their discs. */
      cdromDrives: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_CDROMS))),
      /** Secure Boot on switches to a variable store with keys enrolled (a UEFI VM); off back to
       * the plain one. Each store keeps its boot entries. */
      ...GuestSettings.entries,
      /** The shared folders, all of them (an empty list removes every share); from the next start. */
      shares: v.optional(SharesInput),
      /** Start the VM when a long-running vmdesk (the app, `vmdesk web`, `vmdesk driver`) starts,
       * once per login session. vmdesk's own setting: it changes at once, also while the VM runs. */
      autostart: v.optional(v.boolean()),
    }),
  },
  /**
   * Adds a port forward: stored, and on a running VM listening at once (QEMU's user network).
   * Refused when the host socket is taken (by this VM, another VM, or another program).
   */
  'vm.addForward': {
    params: v.strictObject({
      vm: VmRef,
      forward: v.strictObject({ ...PortForwardSchema.entries, hostAddr: v.optional(v.pipe(v.string(), v.ipv4())) }),
    }),
  },
  /** Removes the forward on a host socket (a running VM stops listening there at once). */
  'vm.removeForward': {
    params: v.strictObject({
      vm: VmRef,
      proto: v.picklist(['tcp', 'udp']),
      hostAddr: v.optional(v.pipe(v.string(), v.ipv4())),
      hostPort: PortForwardSchema.entries.hostPort,
    }),
  },
  /** The installer images vmdesk keeps (uploads from the browser): size, OS, which VMs use them. */
  'iso.list': { params: v.strictObject({}) },
  /** Deletes an image of the ISO library that no VM uses. */
  'iso.remove': { params: v.strictObject({ path: FilePath }) },
  /** Accelerators with reasons and fixes, QEMU binaries and versions, firmware, memlock. */
  'host.info': { params: v.strictObject({}) },
  /** The host's USB devices (names, speed, class, whether the user may open them), with a check
   * and its fix for each one the user cannot open. */
  'host.usbDevices': { params: v.strictObject({}) },
  /** Installs the udev rule that opens USB devices vendor:product to the user at this computer
   * (one administrator prompt, through the same helper as the vGPU fixes). */
  'host.usbFix': { params: v.strictObject({ vendorId: UsbIdSchema, productId: UsbIdSchema }) },
  /**
   * Plugs a host USB device into a running (or paused) VM, under the VM's job lock; `persist`: also
   * into its definition (vendor:product), so it comes back at every start. A VM that is off takes
   * only `persist` (the definition); one without a display has no USB controller and is refused.
   * Refused: no such device (not-found), several devices with these ids (name the port), a device
   * another running VM has, a device the user cannot open (the error's `details.fix` opens it).
   */
  'vm.usbAttach': { params: v.strictObject({ vm: VmRef, device: UsbSelector, persist: v.optional(v.boolean()) }) },
  /** Unplugs a host USB device from a running VM; `persist`: also from its definition (off too). */
  'vm.usbDetach': {
    params: v.strictObject({ vm: VmRef, device: UsbSelectorOrId, persist: v.optional(v.boolean()) }),
  },
  /** The hosts vmdesk shows VMs of: this computer's session driver first, then libvirt connections. */
  'host.connections': { params: v.strictObject({}) },
  /**
   * Connects to a libvirt host (libvirt's client library; SSH with the user's own config, agent
   * and known_hosts). Already connected: answers at once. `remember`: kept in settings and
   * connected again at start. Refused with libvirt's message and what to do (auth, host key,
   * no libvirt here).
   */
  'host.connect': { params: v.strictObject({ uri: LibvirtUriSchema, remember: v.optional(v.boolean()) }) },
  /** Closes a connection (by id or URI); `forget`: also out of settings. Its VMs go from the list. */
  'host.disconnect': {
    params: v.strictObject({
      connection: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)),
      forget: v.optional(v.boolean()),
    }),
  },
  /** The VM as libvirt domain XML (what `virsh define` takes), and what libvirt cannot say of it. */
  'vm.exportXml': { params: vmOnly },
  /**
   * A new local VM from libvirt domain XML: given (`xml`), or a domain of a libvirt host (`from`).
   * Disks are used where they are (`in-place`, the default) or copied into the VM's folder
   * (`copy`). The answer lists what could not be carried over.
   */
  'vm.importXml': {
    params: v.strictObject({
      xml: v.optional(v.pipe(v.string(), v.maxLength(512 * 1024, 'domain XML can be at most 512 KiB'))),
      from: v.optional(
        v.strictObject({ uri: LibvirtUriSchema, domain: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)) }),
      ),
      name: v.optional(v.pipe(v.string(), v.maxLength(4096))),
      disks: v.optional(v.picklist(['in-place', 'copy'], 'disks are used in-place or copied (copy)')),
    }),
  },
  /** Mediated-device parents, their types, existing devices, mdevctl definitions, hardware notes. */
  'mdev.list': { params: v.strictObject({}) },
  'mdev.types': { params: v.strictObject({ parent: v.optional(SysfsName) }) },
  /** The doctor for a VM (or for `assignments`, the wizard's proposal): verdicts with their fixes. */
  'mdev.check': { params: v.strictObject({ vm: VmRef, assignments: Proposal }) },
  /**
   * Root steps go through pkexec and the desktop's polkit agent (one prompt each); without pkexec
   * the result is `{outcome: 'manual', command}`, the exact command to paste.
   */
  'mdev.create': {
    params: v.strictObject({
      parent: SysfsName,
      type: SysfsName,
      uuid: v.optional(Uuid),
      persistent: v.optional(v.boolean()),
    }),
  },
  'mdev.remove': { params: v.strictObject({ uuid: Uuid, persistent: v.optional(v.boolean()) }) },
  /** Every fix the helper can make for the VM (or the proposal) in one prompt; returns the checks after.
   * `persistent`: devices it creates are also defined in mdevctl (they come back after a reboot). */
  'mdev.applyFixes': {
    params: v.strictObject({ vm: VmRef, assignments: Proposal, persistent: v.optional(v.boolean()) }),
  },
  /** Adds a mediated device to a stopped VM (a new UUID unless given; the device need not exist yet). */
  'mdev.assign': {
    params: v.strictObject({
      vm: VmRef,
      parent: SysfsName,
      type: SysfsName,
      uuid: v.optional(Uuid),
      display: v.optional(v.boolean()),
    }),
  },
  'mdev.unassign': { params: v.strictObject({ vm: VmRef, uuid: Uuid }) },
  /** The app's settings in force, where each comes from (file, environment, default), and notes
   * (a damaged file, an environment value not understood). */
  'settings.get': { params: v.strictObject({}) },
  /** Changes settings (null: back to the default) in settings.json; answers as settings.get. An
   * environment variable still wins over what is set here. */
  'settings.set': { params: v.strictObject({ values: SettingsChangeSchema }) },
} as const;

export type CallName = keyof typeof CALLS;

/**
 * Calls that put an administrator password prompt on this computer's desktop. `vmdesk web` takes
 * them only from a browser on the same computer: a remote one would prompt someone who did not ask.
 */
export const ROOT_PROMPT_CALLS: readonly CallName[] = ['mdev.create', 'mdev.remove', 'mdev.applyFixes', 'host.usbFix'];
export type CallParams<C extends CallName> = v.InferOutput<(typeof CALLS)[C]['params']>;

export interface LogPaths {
  qemu: string;
  serial: string;
  driver: string;
}

/** An image in the ISO library (`$XDG_DATA_HOME/vmdesk/isos/`). */
export interface IsoLibraryEntry {
  path: string;
  name: string;
  sizeBytes: number;
  /** When it was stored (mtime), ISO 8601. */
  storedAt: string;
  /** The recognised OS ("Debian 12"), when there is one. */
  os?: string;
  /** VMs whose CD-ROM is this file: id and name. */
  usedBy: { id: string; name: string }[];
}

/** A VM's data or log directory with no definition: left by something vmdesk cannot explain. */
export interface OrphanDir {
  id: string;
  kind: 'data' | 'logs';
  path: string;
}

export interface CallResults {
  'vm.list': VmSummary[];
  'vm.get': VmSummary;
  /** `png`: null when none was ever taken (never ran, headless); `takenAt`: ISO time of the capture. */
  'vm.thumbnail': { png: string | null; takenAt: string | null };
  'vm.define': VmSummary;
  'vm.start': VmSummary;
  'vm.shutdown': VmSummary;
  'vm.stop': VmSummary;
  'vm.reboot': VmSummary;
  'vm.pause': VmSummary;
  'vm.resume': VmSummary;
  /** `removed`: every file and directory deleted; `kept`: what stayed (disks kept on request,
   * disks that were never vmdesk's). */
  'vm.delete': { id: string; removed: string[]; kept: string[]; note?: string };
  'vm.logPaths': LogPaths;
  'vm.orphans': OrphanDir[];
  'host.info': HostReport;
  'iso.inspect': IsoPlan;
  'vm.create': VmSummary;
  'vm.eject': VmSummary;
  'vm.update': VmSummary;
  'vm.insertCdrom': VmSummary;
  'vm.addForward': VmSummary;
  'vm.removeForward': VmSummary;
  'vm.addDisk': VmSummary;
  'vm.removeDisk': VmSummary;
  'vm.resizeDisk': VmSummary;
  'vm.convertDisk': VmSummary;
  /** The new VM. */
  'vm.clone': VmSummary;
  'job.cancel': { cancelled: boolean };
  'snapshot.list': SnapshotInfo[];
  'snapshot.create': SnapshotInfo;
  'snapshot.revert': VmSummary;
  /** The snapshots left. */
  'snapshot.delete': SnapshotInfo[];
  'snapshot.update': SnapshotInfo;
  'snapshot.thumbnail': { png: string | null };
  'iso.list': IsoLibraryEntry[];
  'iso.remove': { path: string };
  /** `checks`: one per device the user cannot open, with its fix. */
  'host.usbDevices': { devices: UsbDevice[]; checks: UsbCheck[] };
  /** `manual`: no prompt could be shown here; `command` is what to run in a terminal. */
  'host.usbFix': MdevPrivilegedResult<undefined>;
  'vm.usbAttach': VmSummary;
  'vm.usbDetach': VmSummary;
  'host.connections': HostConnection[];
  'host.connect': HostConnection;
  /** The connections left. */
  'host.disconnect': HostConnection[];
  /** `notes`: what the XML leaves out (said by `vmdesk export`, one line each). */
  'vm.exportXml': { xml: string; notes: string[] };
  /** `dropped`: what the domain had that vmdesk did not carry over, one sentence each. */
  'vm.importXml': { vm: VmSummary; dropped: string[] };
  'mdev.list': MdevInventory;
  'mdev.types': MdevParent[];
  'mdev.check': MdevCheckReport;
  'mdev.create': MdevPrivilegedResult<MdevDevice>;
  'mdev.remove': MdevPrivilegedResult<{ uuid: string; stillAssignedTo: string[] }>;
  'mdev.applyFixes': MdevPrivilegedResult<MdevCheckReport>;
  'mdev.assign': VmSummary;
  'mdev.unassign': VmSummary;
  'settings.get': SettingsReport;
  'settings.set': SettingsReport;
}

export interface ContractEvents {
  'vm.changed': VmSummary;
  'vm.removed': { id: string };
  /** A long job's progress (a full clone's copy), about once a second and at the end. */
  'job.progress': JobProgress;
  /** A VM's snapshots changed (taken, reverted to, renamed, deleted): all of them, as now. */
  'snapshot.changed': { vm: string; snapshots: SnapshotInfo[] };
  /** A host connection connected, dropped, failed, was added or removed (`removed`: it is gone). */
  'host.connectionChanged': HostConnection & { removed?: boolean };
}

/** One snapshot of a VM. */
export interface SnapshotInfo {
  name: string;
  description?: string;
  createdAt: string;
  /** What the VM was when taken: running or paused (memory saved), or stopped (disks only). */
  state: 'running' | 'paused' | 'stopped';
  /** Memory and device state saved with the disks (a live snapshot). */
  withMemory: boolean;
  /** The snapshot this one was taken after (null: the first). */
  parent: string | null;
  /** The VM's disks are this snapshot plus what changed since: it is where the VM stands. */
  current: boolean;
  /** Bytes the snapshot's saved memory takes in the VM's first disk. */
  vmStateBytes?: number;
  /** A screen thumbnail exists (snapshot.thumbnail). */
  thumbnail: boolean;
}

export interface JobProgress {
  jobId: string;
  /** The VM the job works on. */
  vm: string;
  /** What it does now, as a sentence ("Copying disk.qcow2"). */
  what: string;
  doneBytes: number;
  totalBytes: number;
}
export type EventName = keyof ContractEvents;

/** Byte streams. Consoles are bidirectional; `log.tail` only sends. */
export const LOG_NAMES = ['qemu', 'serial', 'driver'] as const;
export type LogName = (typeof LOG_NAMES)[number];
export const STREAMS = {
  /** The guest's serial port: recent history first (replay), then live bytes; input = keystrokes. */
  'console.serial': { params: vmOnly },
  /** Raw RFB bytes of the VM's VNC server (the graphical console), for noVNC. */
  'console.vnc': { params: vmOnly },
  /** The last `lines` lines of a log, then whatever is appended (follow). */
  'log.tail': {
    params: v.strictObject({
      vm: VmRef,
      which: v.picklist(LOG_NAMES),
      lines: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100_000))),
    }),
  },
} as const;
export type StreamName = keyof typeof STREAMS;
export type StreamParams<S extends StreamName> = v.InferOutput<(typeof STREAMS)[S]['params']>;

export function isCallName(s: unknown): s is CallName {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(CALLS, s);
}
export function isStreamName(s: unknown): s is StreamName {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(STREAMS, s);
}
