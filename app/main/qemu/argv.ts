/**
 * `buildQemuArgv` turns a VM definition into QEMU's command line. Pure: no probing, no file
 * access, no environment — everything it needs comes in as arguments, so golden files pin it.
 */
import { diskIsReadOnly, diskSlot, type BootDevice, type VmDefinition } from '../common/vm-types.js';
import type { Accel, QemuCaps } from '../common/host-types.js';
import { mdevArgs } from '../mdev/argv.js';
import { usbHostDeviceArgs } from './usb.js';

/** The files QEMU is pointed at (a subset of VmFiles, so tests can pass short fixed paths). */
export interface ArgvPaths {
  qmpSocket: string;
  serialSocket: string;
  vncSocket: string;
  pidfile: string;
  serialLog: string;
  qgaSocket: string;
  /** swtpm's control socket (a VM with a TPM). */
  swtpmSocket: string;
}

export interface ArgvOptions {
  /** The accelerator already chosen (VMDESK_ACCEL and `auto` resolved by the caller). */
  accel: Accel;
  /** UEFI firmware: read-only code and this VM's writable vars copy. Required when def.firmware is
   * uefi. `smm`: the build requires SMM (Secure Boot builds: its variable store is then writable
   * only from SMM, so the guest OS cannot change the keys). */
  uefi?: { code: string; vars: string; smm?: boolean };
  /** The render node -display egl-headless uses for a dma-buf vGPU (from prepareMdevStart). */
  mdevRenderNode?: string;
  /** Where a VM with sound plays it: the host's sound server (PulseAudio, or PipeWire's Pulse
   * service), CoreAudio, or nowhere (`none`: the card is there, silent). */
  audio?: { driver: 'pa' | 'coreaudio' | 'none'; server?: string };
  /** The shared folders as served: virtio-fs through a virtiofsd's `socket`, or 9p by QEMU itself. */
  shares?: { path: string; tag: string; readOnly: boolean; mode: 'virtiofs' | '9p'; socket: string }[];
}

/** The virtio-serial port name qemu-ga looks for. */
export const GUEST_AGENT_PORT = 'org.qemu.guest_agent.0';

/** What virt-manager gives Windows guests under KVM (hv_vpindex before the flags that need it). */
export const HYPERV_FLAGS =
  'hv_relaxed,hv_vapic,hv_spinlocks=0x1fff,hv_vpindex,hv_runtime,hv_synic,hv_stimer,hv_reset,hv_frequencies,hv_time,hv_tlbflush,hv_ipi';

/** PCIe root ports left empty for disks plugged in while the VM runs (one disk each). */
export const HOTPLUG_PORTS = 4;

/** Whether a QEMU runs confined by its seccomp filter (`-sandbox on`), and if not, why. */
export interface QemuSandbox {
  on: boolean;
  reason?: string;
}

/** The `-sandbox` value: QEMU needs none of these after start-up; denying them contains a
 * compromised device model. */
const SANDBOX_VALUE = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

/** Whether `buildQemuArgv` with these caps runs QEMU sandboxed; the reason names the binary. */
export function qemuSandbox(caps: Pick<QemuCaps, 'binary' | 'version' | 'sandbox'>): QemuSandbox {
  if (caps.sandbox) return { on: true };
  return {
    on: false,
    reason:
      `QEMU ${caps.binary} ${caps.version} was built without seccomp: the guest's QEMU runs without -sandbox. ` +
      'Install a QEMU built with seccomp to confine it.',
  };
}

/** Whether a QEMU command line (e.g. an adopted process's) turns the sandbox on. */
export function sandboxInArgv(argv: readonly string[]): boolean {
  return argv.some((a, i) => a === '-sandbox' && /^(on|enable=on)(,|$)/.test(argv[i + 1] ?? ''));
}

/** QEMU option values use "," as a separator; a literal comma is written twice. */
export function qemuEscape(value: string): string {
  return value.replace(/,/g, ',,');
}

/** A stable locally administered MAC from the VM id (52:54:00 is QEMU's OUI). */
export function macFromId(id: string): string {
  const hex = id.replace(/-/g, '');
  const b = [hex.slice(-6, -4), hex.slice(-4, -2), hex.slice(-2)];
  return `52:54:00:${b.join(':')}`;
}

function blockdev(nodeName: string, format: 'qcow2' | 'raw', file: string, readOnly: boolean): string[] {
  // JSON syntax: file names need no comma escaping, and the format is always explicit so QEMU
  // never probes it (a guest could write a qcow2 header into a raw disk).
  return [
    '-blockdev',
    JSON.stringify({
      driver: format,
      'node-name': nodeName,
      'read-only': readOnly,
      file: { driver: 'file', filename: file, 'read-only': readOnly },
    }),
  ];
}

export function buildQemuArgv(def: VmDefinition, caps: QemuCaps, paths: ArgvPaths, opts: ArgvOptions): string[] {
  if (caps.arch !== def.arch) throw new Error(`buildQemuArgv: ${def.arch} VM given ${caps.arch} QEMU caps`);
  const x86 = def.arch === 'x86_64';
  const uefi = def.firmware === 'uefi' || !x86; // aarch64 virt has no BIOS: always UEFI
  if (uefi && !opts.uefi) throw new Error('buildQemuArgv: UEFI VM without firmware paths');

  const a: string[] = [];
  const add = (...xs: string[]) => a.push(...xs);

  add('-name', `guest=${qemuEscape(def.name)},debug-threads=on`);
  add('-uuid', def.id);
  add('-no-user-config', '-nodefaults');
  add('-msg', 'timestamp=on');
  if (qemuSandbox(caps).on) add('-sandbox', SANDBOX_VALUE);
  add('-S'); // start paused: the driver connects QMP and subscribes before the guest runs a cycle

  const machine = x86 ? 'q35' : 'virt';
  const machineProps = [machine];
  if (uefi) machineProps.push('pflash0=fw-code', 'pflash1=fw-vars');
  const smm = uefi && x86 && !!opts.uefi?.smm;
  if (smm) machineProps.push('smm=on');
  // virtio-fs: virtiofsd reads and writes the guest's buffers in its memory, so that memory is a
  // shared memfd (the machine's RAM backend) instead of QEMU's private anonymous memory.
  const virtiofs = !!opts.shares?.some((s) => s.mode === 'virtiofs');
  if (virtiofs) machineProps.push('memory-backend=mem');
  if (!x86) machineProps.push('gic-version=max');
  add('-machine', machineProps.join(','));
  add('-accel', opts.accel === 'tcg' ? 'tcg,thread=multi' : opts.accel);
  // host = the real CPU under hardware acceleration; under TCG `max` emulates every feature
  // QEMU knows, which modern guests expect.
  // Hyper-V enlightenments: Windows runs markedly better with them, and only KVM offers them.
  const hyperv = def.hyperv && x86 && opts.accel === 'kvm';
  add('-cpu', opts.accel === 'tcg' ? 'max' : hyperv ? `host,${HYPERV_FLAGS}` : 'host');
  add('-m', `size=${def.memoryMiB}M`);
  if (virtiofs) add('-object', `memory-backend-memfd,id=mem,size=${def.memoryMiB}M,share=on`);
  add('-smp', String(def.cpus));
  add('-rtc', def.clock === 'localtime' ? 'base=localtime' : 'base=utc');
  // Windows counts timer ticks: under KVM a late tick is delivered late rather than lost.
  if (hyperv) add('-global', 'kvm-pit.lost_tick_policy=delay');

  if (uefi && opts.uefi) {
    add(...blockdev('fw-code', 'raw', opts.uefi.code, true));
    add(...blockdev('fw-vars', 'raw', opts.uefi.vars, false));
    // The variable store answers only to SMM: what makes Secure Boot's keys tamper-proof.
    if (smm) add('-global', 'driver=cfi.pflash01,property=secure,value=on');
  }

  add('-pidfile', paths.pidfile);
  add('-chardev', `socket,id=qmp,path=${qemuEscape(paths.qmpSocket)},server=on,wait=off`);
  add('-mon', 'chardev=qmp,mode=control');
  // The serial log is written by QEMU itself so nothing is lost while no driver runs;
  // logappend=on opens it O_APPEND, which lets the driver cap it by copy-and-truncate.
  add(
    '-chardev',
    `socket,id=serial0,path=${qemuEscape(paths.serialSocket)},server=on,wait=off,logfile=${qemuEscape(paths.serialLog)},logappend=on`,
  );
  add('-serial', 'chardev:serial0');

  // A display vGPU (GVT-g, mbochs) needs egl-headless for its dma-buf screen, and VNC pinned to it.
  const mdev = mdevArgs(def.mdevs ?? [], '/', {
    headless: def.display === 'none',
    ...(opts.mdevRenderNode ? { renderNode: opts.mdevRenderNode } : {}),
  });
  if (mdev.displayArgs.length > 0) add(...mdev.displayArgs);
  else add('-display', 'none');
  if (def.display === 'none') {
    // Headless: no display device, no VNC server.
  } else {
    add('-vnc', `unix:${qemuEscape(paths.vncSocket)}${mdev.vncDisplay ? `,display=${mdev.vncDisplay}` : ''}`);
    if (mdev.dropEmulatedDisplay) {
      // ramfb on the vGPU shows the boot screen: no emulated card.
    } else if (x86) add('-device', def.display === 'virtio' && caps.devices.virtioVga ? 'virtio-vga' : 'VGA');
    else add('-device', 'virtio-gpu-pci');
  }
  // xHCI + tablet: absolute pointer, so the VNC cursor is where the user points. aarch64 virt has
  // no PS/2, so it also needs a USB keyboard.
  if (def.display !== 'none') {
    add('-device', 'qemu-xhci,id=usb');
    add('-device', 'usb-tablet,bus=usb.0');
    if (!x86) add('-device', 'usb-kbd,bus=usb.0');
    // Host USB devices by vendor:product: QEMU takes the device when it is plugged in.
    (def.usb ?? []).forEach((u, i) =>
      add(...usbHostDeviceArgs({ kind: 'vendor', vendorId: u.vendorId, productId: u.productId }, `usb${i + 1}`)),
    );
  }

  // Boot order through bootindex (the modern way; -boot order= does not cover all devices): the
  // devices of the first kind in def.boot first, in their own order; kinds not listed get none.
  let bootIndex = 0;
  const bootOf = new Map<string, string[]>();
  const bootAt = (kind: BootDevice, n: number) => {
    if (!def.boot.includes(kind)) return [];
    const list = bootOf.get(kind) ?? Array.from({ length: n }, () => '');
    bootOf.set(kind, list);
    return list;
  };
  const cdBoot = bootAt('cdrom', def.cdroms.length);
  const diskBoot = bootAt('disk', def.disks.length);
  const netBoot = bootAt('network', def.network.mode === 'user' ? 1 : 0);
  for (const kind of def.boot) {
    const list = bootOf.get(kind) ?? [];
    for (let i = 0; i < list.length; i++) list[i] = `,bootindex=${bootIndex++}`;
  }

  def.cdroms.forEach((iso, i) => {
    // Node cdN holds the medium; an empty drive has none (a disc goes in later over QMP).
    if (iso) add(...blockdev(`cd${i}`, 'raw', iso, true));
    if (!x86 && i === 0) add('-device', 'virtio-scsi-pci,id=scsi0');
    const drive = iso ? `drive=cd${i},` : '';
    // q35's AHCI has six ports, one device each: ide.0, ide.1, …
    if (x86) add('-device', `ide-cd,${drive}bus=ide.${i},id=cdrom${i}${cdBoot[i] ?? ''}`);
    else add('-device', `scsi-cd,${drive}bus=scsi0.0,id=cdrom${i}${cdBoot[i] ?? ''}`);
  });
  const sata = def.devices.disk === 'sata' && def.disks.length > 0;
  if (sata) add('-device', 'ahci,id=sata0');
  def.disks.forEach((disk, i) => {
    // Numbered by target (vdc → disk2), so a disk keeps its QEMU ids when an earlier one goes.
    const n = diskSlot(disk.target);
    add(...blockdev(`disk${n}`, disk.format, disk.path, diskIsReadOnly(disk)));
    // SATA: one AHCI port per disk, in the definition's order (six at most, see MAX_SATA_DISKS).
    if (sata) add('-device', `ide-hd,drive=disk${n},bus=sata0.${i},id=sata-disk${n}${diskBoot[i] ?? ''}`);
    else add('-device', `virtio-blk-pci,drive=disk${n},id=virtio-disk${n}${diskBoot[i] ?? ''}`);
  });

  if (def.network.mode === 'user') {
    const fwd = def.network.forwards
      .map((f) => `,hostfwd=${f.proto}:${f.hostAddr}:${f.hostPort}-:${f.guestPort}`)
      .join('');
    add('-netdev', `user,id=net0${fwd}`);
    const nic = def.devices.nic === 'e1000e' ? 'e1000e' : 'virtio-net-pci';
    add('-device', `${nic},netdev=net0,mac=${macFromId(def.id)},id=net0dev${netBoot[0] ?? ''}`);
  }
  add(...mdev.deviceArgs);
  if (def.tpm) {
    // swtpm (started before QEMU, see vm/swtpm.ts) emulates the TPM; QEMU's device forwards to it.
    add('-chardev', `socket,id=chrtpm,path=${qemuEscape(paths.swtpmSocket)}`);
    add('-tpmdev', 'emulator,id=tpm0,chardev=chrtpm');
    add('-device', x86 ? 'tpm-crb,tpmdev=tpm0' : 'tpm-tis-device,tpmdev=tpm0');
  }
  (opts.shares ?? []).forEach((s, i) => {
    if (s.mode === 'virtiofs') {
      add('-chardev', `socket,id=fs${i},path=${qemuEscape(s.socket)}`);
      add('-device', `vhost-user-fs-pci,queue-size=1024,chardev=fs${i},tag=${s.tag},id=share${i}`);
    } else {
      // 9p: QEMU serves the folder itself; mapped-xattr keeps the guest's owners and modes in
      // extended attributes, so files on the host stay the user's.
      add(
        '-fsdev',
        `local,id=fsdev${i},path=${qemuEscape(s.path)},security_model=mapped-xattr${s.readOnly ? ',readonly=on' : ''}`,
      );
      add('-device', `virtio-9p-pci,fsdev=fsdev${i},mount_tag=${s.tag},id=share${i}`);
    }
  });
  // The guest agent's channel, on every VM: a guest that runs qemu-ga answers on it (hostname,
  // addresses, a shutdown that does not depend on ACPI); one that does not costs nothing.
  add('-device', 'virtio-serial-pci,id=vser0');
  add('-chardev', `socket,id=qga0,path=${qemuEscape(paths.qgaSocket)},server=on,wait=off`);
  add('-device', `virtserialport,bus=vser0.0,chardev=qga0,name=${GUEST_AGENT_PORT},id=qga0port`);
  // The clipboard: QEMU's vdagent speaks to the guest's spice-vdagent on this port and to the
  // VNC viewer through VNC's clipboard messages.
  if (def.clipboard && def.display !== 'none') {
    add('-chardev', 'qemu-vdagent,id=vdagent0,clipboard=on');
    add('-device', 'virtserialport,bus=vser0.0,chardev=vdagent0,name=com.redhat.spice.0,id=vdagent0port');
  }
  if (def.sound) {
    const audio = opts.audio ?? { driver: 'none' };
    add('-audiodev', `${audio.driver},id=snd0${audio.server ? `,server=${qemuEscape(audio.server)}` : ''}`);
    add('-device', 'ich9-intel-hda,id=sound0');
    add('-device', 'hda-duplex,audiodev=snd0,bus=sound0.0');
  }
  // Empty PCIe root ports a disk can be plugged into while the VM runs (the root bus itself
  // takes no hot-plug). Last, at a fixed address, so the guest sees every other device where
  // it was before they were added.
  for (let i = 0; i < HOTPLUG_PORTS; i++)
    add(
      '-device',
      `pcie-root-port,id=hotplug${i},bus=pcie.0,chassis=${i + 1},addr=0x1c.${i}${i === 0 ? ',multifunction=on' : ''}`,
    );
  return a;
}
