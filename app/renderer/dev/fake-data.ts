/** Sample VMs, host report and log text for the demo fake (`#demo`). */
import type { HostConnection } from '../../main/common/connection-types.js';
import type { CallResults, SnapshotInfo } from '../../main/common/contract.js';
import type { UsbCheck, UsbDevice } from '../../main/common/usb-types.js';
import type { VmDefinition, VmSummary } from '../../main/common/vm-types.js';
import { PLAIN_GUEST } from '../../main/common/devices.js';

type HostReport = CallResults['host.info'];

const HOME = '/home/ada';
const RUN = '/run/user/1000/vmdesk';

export function sampleDefinition(id: string, name: string, over: Partial<VmDefinition> = {}): VmDefinition {
  return {
    version: 3,
    ...PLAIN_GUEST,
    id,
    name,
    arch: 'x86_64',
    memoryMiB: 2048,
    cpus: 2,
    accel: 'auto',
    firmware: 'uefi',
    disks: [
      {
        path: `${HOME}/.local/share/vmdesk/vms/${id}/disk0.qcow2`,
        target: 'vda',
        format: 'qcow2',
        owned: true,
        readOnly: false,
      },
    ],
    cdroms: [null],
    boot: ['disk'],
    network: { mode: 'user', forwards: [] },
    display: 'std',
    nvram: `${HOME}/.local/share/vmdesk/vms/${id}/efivars.fd`,
    mdevs: [],
    createdAt: '2025-11-20T09:14:03.000Z',
    ...over,
  };
}

export function samplePaths(id: string): NonNullable<VmSummary['paths']> {
  const short = id.slice(0, 8);
  const logs = `${HOME}/.local/state/vmdesk/logs/${id}`;
  return {
    qmp: `${RUN}/${short}/qmp.sock`,
    serial: `${RUN}/${short}/serial.sock`,
    vnc: `${RUN}/${short}/vnc.sock`,
    qemuLog: `${logs}/qemu.log`,
    serialLog: `${logs}/serial.log`,
    driverLog: `${logs}/driver.log`,
  };
}

function summary(def: VmDefinition, live: Partial<VmSummary>): VmSummary {
  return {
    id: def.id,
    name: def.name,
    state: 'stopped',
    definition: def,
    file: `${HOME}/.config/vmdesk/vms/${def.id}.json`,
    paths: samplePaths(def.id),
    ...live,
  };
}

export function sampleVms(): VmSummary[] {
  const web = sampleDefinition('3f2a9c41-7d1e-4b8a-9f0c-2e6d5b7a1c90', 'debian-web', {
    memoryMiB: 4096,
    cpus: 4,
    display: 'virtio',
    shares: [
      { path: `${HOME}/projects`, tag: 'projects', readOnly: false },
      { path: `${HOME}/Pictures`, tag: 'pictures', readOnly: true },
    ],
    sound: true,
    clipboard: true,
    usb: [{ vendorId: '0781', productId: '5583' }],
    cdroms: [`${HOME}/Downloads/debian-12.8.0-amd64-netinst.iso`, null],
    boot: ['cdrom', 'disk'],
    network: {
      mode: 'user',
      forwards: [
        { proto: 'tcp', hostPort: 2222, guestPort: 22, hostAddr: '127.0.0.1' },
        { proto: 'tcp', hostPort: 8080, guestPort: 80, hostAddr: '127.0.0.1' },
      ],
    },
  });
  const fedora = sampleDefinition('8b1e0f57-2c4d-4e6f-a1b3-9d8c7e6f5a41', 'fedora-41-workstation', {
    memoryMiB: 8192,
    cpus: 4,
  });
  // Made from a Windows 11 ISO without a driver disc: what the wizard proposes for it.
  const win = sampleDefinition('c7d4e2a0-5b3f-4c1d-8e9a-0f1b2c3d4e5f', 'windows-build', {
    memoryMiB: 6144,
    cpus: 4,
    firmware: 'uefi',
    nvram: `${HOME}/.local/share/vmdesk/vms/c7d4e2a0-5b3f-4c1d-8e9a-0f1b2c3d4e5f/efivars-secure.fd`,
    secureBoot: true,
    tpm: true,
    devices: { disk: 'sata', nic: 'e1000e' },
    clock: 'localtime',
    hyperv: true,
    os: { id: 'http://microsoft.com/win/11', name: 'Microsoft Windows 11' },
    disks: [
      {
        path: `${HOME}/.local/share/vmdesk/vms/c7d4e2a0-5b3f-4c1d-8e9a-0f1b2c3d4e5f/disk0.qcow2`,
        target: 'vda',
        format: 'qcow2',
        owned: true,
        readOnly: false,
      },
      { path: `${HOME}/images/build-cache.raw`, target: 'vdb', format: 'raw', owned: false, readOnly: false },
    ],
  });
  const arm = sampleDefinition('e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b', 'alpine-arm64', {
    arch: 'aarch64',
    memoryMiB: 512,
    cpus: 1,
    accel: 'tcg',
    display: 'none',
    disks: [],
  });
  return [
    summary(web, {
      state: 'running',
      pid: 48213,
      startedAt: new Date(Date.now() - 3 * 3600_000).toISOString(),
      sandbox: { on: true },
      accel: {
        accel: 'kvm',
        reason: 'KVM is usable: /dev/kvm is readable and writable by you and the host CPU is x86_64.',
      },
      shares: [
        {
          tag: 'projects',
          path: `${HOME}/projects`,
          readOnly: false,
          mode: 'virtiofs',
          mount: 'sudo mount -t virtiofs projects /mnt/projects',
        },
        {
          tag: 'pictures',
          path: `${HOME}/Pictures`,
          readOnly: true,
          mode: 'virtiofs',
          mount: 'sudo mount -t virtiofs pictures /mnt/pictures',
        },
      ],
      usb: [{ id: 'usb1', device: '0781:5583', name: 'SanDisk Corp. Ultra Fit', attached: true }],
      // What qemu-ga in a Debian 12 guest answers (guest-get-host-name, guest-get-osinfo,
      // guest-network-get-interfaces), loopback and link-local left out.
      guest: {
        connected: true,
        info: {
          hostname: 'web01',
          os: {
            name: 'Debian GNU/Linux',
            id: 'debian',
            version: '12 (bookworm)',
            kernel: '6.1.0-28-amd64',
            prettyName: 'Debian GNU/Linux 12 (bookworm)',
          },
          addresses: [
            { iface: 'enp0s2', address: '10.0.2.15', prefix: 24, family: 'ipv4' },
            { iface: 'enp0s2', address: 'fec0::5054:ff:fe12:3456', prefix: 64, family: 'ipv6' },
          ],
          at: new Date(Date.now() - 20_000).toISOString(),
        },
      },
    }),
    summary(fedora, { state: 'stopped' }),
    summary(win, {
      state: 'crashed',
      reason:
        'QEMU exited with status 1 while starting: it could not lock the disk /home/ada/images/build-cache.raw (another process holds it). Close the other program or use a copy of the disk.',
      logTail: [
        'qemu-system-x86_64: -blockdev {"driver":"file","filename":"/home/ada/images/build-cache.raw","node-name":"disk1-file"}: Failed to get "write" lock',
        'Is another process using the image [/home/ada/images/build-cache.raw]?',
        '2025-11-21T17:42:10.118Z vmdesk: QEMU exited with status 1 after 0.4 s',
      ],
    }),
    summary(arm, {
      state: 'paused',
      pid: 50122,
      startedAt: new Date(Date.now() - 25 * 60_000).toISOString(),
      // A QEMU built by hand without libseccomp: the Overview warns about it.
      sandbox: {
        on: false,
        reason:
          "QEMU /usr/local/bin/qemu-system-aarch64 9.2.1 was built without seccomp: the guest's QEMU runs without -sandbox. Install a QEMU built with seccomp to confine it.",
      },
      accel: {
        accel: 'tcg',
        reason:
          'Forced by the VM definition (accel: tcg). TCG emulates every instruction: expect it to be 10–50× slower than KVM.',
      },
    }),
  ];
}

export function sampleHostReport(): HostReport {
  const caps = (arch: 'x86_64' | 'aarch64', binary: string) => ({
    arch,
    binary,
    version: '9.2.1',
    accels: arch === 'x86_64' ? ['kvm' as const, 'tcg' as const] : ['tcg' as const],
    machines: arch === 'x86_64' ? ['pc-q35-9.2', 'q35', 'pc'] : ['virt-9.2', 'virt'],
    devices: {
      vfioPci: true,
      virtioVga: arch === 'x86_64',
    },
    sandbox: true,
  });
  return {
    schema: 3,
    platform: 'linux',
    hostArch: 'x86_64',
    qemu: {
      x86_64: { arch: 'x86_64', status: 'ok', caps: caps('x86_64', '/usr/bin/qemu-system-x86_64'), fromCache: true },
      aarch64: {
        arch: 'aarch64',
        status: 'missing',
        reason: 'No qemu-system-aarch64 on PATH (/usr/local/bin:/usr/bin:/bin) or in /usr/libexec.',
        fix: 'sudo apt install qemu-system-arm',
        searched: [
          '/usr/local/bin/qemu-system-aarch64',
          '/usr/bin/qemu-system-aarch64',
          '/usr/libexec/qemu-system-aarch64',
        ],
      },
    },
    qemuImg: { status: 'ok', path: '/usr/bin/qemu-img', version: '9.2.1', fromCache: true },
    accels: {
      x86_64: [
        { accel: 'kvm', available: true, reason: '/dev/kvm is readable and writable by you (group kvm).' },
        { accel: 'tcg', available: true, reason: 'Software emulation is always available (slow).' },
      ],
      aarch64: [
        { accel: 'kvm', available: false, reason: 'KVM runs guests of the host architecture only (x86_64).' },
        {
          accel: 'tcg',
          available: false,
          reason: 'qemu-system-aarch64 is not installed.',
          fix: 'sudo apt install qemu-system-arm',
        },
      ],
    },
    swtpm: { path: '/usr/bin/swtpm' },
    virtiofsd: { path: '/usr/libexec/virtiofsd', flavour: 'rust' },
    firmware: {
      // Debian's ovmf package: its three descriptors, best first.
      images: [
        {
          arch: 'x86_64',
          source: '/usr/share/qemu/firmware/40-edk2-x86_64-secure-enrolled.json',
          description: 'UEFI firmware for x86_64, with Secure Boot and SMM, SB enabled, MS certs enrolled',
          code: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
          varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
          format: 'raw',
          machines: ['pc-q35-*'],
          secureBoot: true,
          enrolledKeys: true,
          requiresSmm: true,
          features: ['acpi-s3', 'amd-sev', 'enrolled-keys', 'requires-smm', 'secure-boot', 'verbose-dynamic'],
        },
        {
          arch: 'x86_64',
          source: '/usr/share/qemu/firmware/50-edk2-x86_64-secure.json',
          description: 'UEFI firmware for x86_64, with Secure Boot and SMM, empty varstore',
          code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
          varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd',
          format: 'raw',
          machines: ['pc-q35-*'],
          secureBoot: true,
          enrolledKeys: false,
          requiresSmm: true,
          features: ['acpi-s3', 'amd-sev', 'requires-smm', 'secure-boot', 'verbose-dynamic'],
        },
        {
          arch: 'x86_64',
          source: '/usr/share/qemu/firmware/60-edk2-x86_64.json',
          description: 'UEFI firmware for x86_64',
          code: '/usr/share/OVMF/OVMF_CODE_4M.fd',
          varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd',
          format: 'raw',
          machines: ['pc-q35-*'],
          secureBoot: false,
          enrolledKeys: false,
          requiresSmm: false,
          features: ['acpi-s3', 'verbose-dynamic'],
        },
      ],
      missing: [
        {
          arch: 'aarch64',
          reason: 'No UEFI firmware for aarch64 guests was found.',
          fix: 'sudo apt install qemu-efi-aarch64',
        },
      ],
      problems: [],
      searchedDirs: ['/usr/share/qemu/firmware', '/etc/qemu/firmware', `${HOME}/.config/qemu/firmware`],
    },
    memlock: {
      soft: 8 * 2 ** 20,
      hard: 8 * 2 ** 20,
      source: 'native',
      note: 'Enough for ordinary VMs; device assignment (VFIO) needs the guest memory size.',
    },
    native: { implementation: 'koffi', loaded: true },
    notes: [],
    probeMs: 412,
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Plausible log lines; deterministic so screenshots compare. */
export function sampleLog(which: 'qemu' | 'serial' | 'driver', vmName: string, lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const t = `2025-11-21T${pad(9 + (Math.floor(i / 3600) % 12))}:${pad(Math.floor(i / 60) % 60)}:${pad(i % 60)}.${String((i * 37) % 1000).padStart(3, '0')}Z`;
    if (which === 'driver')
      out.push(
        `${t} ${vmName}: ${['qmp connected', 'state running', 'event RTC_CHANGE', 'serial viewer attached', 'vnc viewer attached', 'event NIC_RX_FILTER_CHANGED', 'serial viewer detached'][i % 7]}`,
      );
    else if (which === 'qemu')
      out.push(
        `${t} qemu-system-x86_64: ${["warning: host doesn't support requested feature: CPUID.80000001H:ECX.svm [bit 2]", 'vnc: client connected', 'vnc: client disconnected', 'terminating on signal 15 from pid 1234 (vmdesk)'][i % 4]}`,
      );
    else
      out.push(
        `[${(i * 0.137).toFixed(6).padStart(12)}] ${['systemd[1]: Started session-2.scope - Session 2 of User ada.', 'kernel: virtio_net virtio1 enp0s2: renamed from eth0', 'sshd[812]: Accepted publickey for ada from 10.0.2.2 port 51822', 'kernel: EXT4-fs (vda1): mounted filesystem with ordered data mode', 'systemd[1]: Reached target multi-user.target - Multi-User System.'][i % 5]}`,
      );
  }
  return out.join('\n') + '\n';
}

/** The demo's snapshots, by VM id: a tree with a branch on the running VM, one disk-only on a stopped one. */
/** The demo's libvirt connections: the system daemon here (connected) and a server that is down. */
export const SAMPLE_SYSTEM_ID = 'lv-5e1c0a7d';
export function sampleConnections(): HostConnection[] {
  return [
    { id: 'local', uri: 'local', label: 'This computer', kind: 'local', state: 'connected', remembered: true },
    {
      id: SAMPLE_SYSTEM_ID,
      uri: 'qemu:///system',
      label: 'qemu:///system',
      kind: 'libvirt',
      state: 'connected',
      remembered: true,
      hypervisor: { hostname: 'ada-laptop', libvirtVersion: '9.0.0' },
    },
    {
      id: 'lv-b7f30e21',
      uri: 'qemu+ssh://ada@build-server/system',
      label: 'ada@build-server (system)',
      kind: 'libvirt',
      state: 'error',
      remembered: true,
      error: 'Cannot recv data: ssh: connect to host build-server port 22: No route to host: Connection reset by peer',
      fix: 'Check that build-server is up and that `ssh ada@build-server` works from this computer, then reconnect.',
    },
  ];
}

/** The VMs libvirt has on qemu:///system in the demo: a running router and a stopped test box. */
export function sampleLibvirtVms(): VmSummary[] {
  const host = (domain: string) => ({ id: SAMPLE_SYSTEM_ID, label: 'qemu:///system', uri: 'qemu:///system', domain });
  const router = sampleDefinition('0d9a6c3e-51f4-4b7e-9c2a-6e8f1d3b5a70', 'openwrt-router', {
    memoryMiB: 256,
    cpus: 1,
    firmware: 'bios',
    nvram: null,
    disks: [
      { path: '/var/lib/libvirt/images/openwrt.qcow2', target: 'vda', format: 'qcow2', owned: false, readOnly: false },
    ],
  });
  const lab = sampleDefinition('6b2e8f14-0a3c-4d5e-8f7a-1c2b3d4e5f60', 'ubuntu-lab', {
    memoryMiB: 4096,
    cpus: 2,
    disks: [
      {
        path: '/var/lib/libvirt/images/ubuntu-lab.qcow2',
        target: 'vda',
        format: 'qcow2',
        owned: false,
        readOnly: false,
      },
    ],
    nvram: '/var/lib/libvirt/qemu/nvram/ubuntu-lab_VARS.fd',
  });
  return [
    {
      ...summary(router, {
        state: 'running',
        pid: 2911,
        startedAt: new Date(Date.now() - 26 * 3600_000).toISOString(),
        accel: { accel: 'kvm', reason: 'libvirt runs this domain with KVM.' },
      }),
      id: `${SAMPLE_SYSTEM_ID}/${router.id}`,
      host: host('openwrt-router'),
      file: '/etc/libvirt/qemu/openwrt-router.xml',
      paths: undefined,
    },
    {
      ...summary(lab, { state: 'stopped' }),
      id: `${SAMPLE_SYSTEM_ID}/${lab.id}`,
      host: host('ubuntu-lab'),
      file: '/etc/libvirt/qemu/ubuntu-lab.xml',
      paths: undefined,
    },
  ];
}

export function sampleSnapshots(): Record<string, SnapshotInfo[]> {
  const MiB = 2 ** 20;
  return {
    '3f2a9c41-7d1e-4b8a-9f0c-2e6d5b7a1c90': [
      {
        name: 'Fresh install',
        description: 'Debian 12 right after the installer, before any update.',
        createdAt: '2025-11-20T09:31:12.000Z',
        state: 'stopped',
        withMemory: false,
        parent: null,
        current: false,
        thumbnail: false,
      },
      {
        name: 'Updated, before nginx',
        description: 'apt full-upgrade done; ssh keys in place.',
        createdAt: '2025-11-20T14:02:40.000Z',
        state: 'running',
        withMemory: true,
        parent: 'Fresh install',
        current: false,
        vmStateBytes: 412 * MiB,
        thumbnail: true,
      },
      {
        name: 'Trying PHP 8.3',
        createdAt: '2025-11-20T16:45:05.000Z',
        state: 'paused',
        withMemory: true,
        parent: 'Updated, before nginx',
        current: false,
        vmStateBytes: 455 * MiB,
        thumbnail: true,
      },
      {
        name: 'nginx + certbot',
        description: 'Serves the test site on :80; the certificate is a staging one.',
        createdAt: '2025-11-21T11:20:51.000Z',
        state: 'running',
        withMemory: true,
        parent: 'Updated, before nginx',
        current: true,
        vmStateBytes: 468 * MiB,
        thumbnail: true,
      },
    ],
    '8b1e0f57-2c4d-4e6f-a1b3-9d8c7e6f5a41': [
      {
        name: 'Clean',
        createdAt: '2025-11-19T08:00:00.000Z',
        state: 'stopped',
        withMemory: false,
        parent: null,
        current: true,
        thumbnail: false,
      },
    ],
  };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A small screen-like PNG (160×100, RGB) for the demo's snapshot thumbnails: a desktop in a
 * colour taken from `seed`, a panel, a window with lines of "text". Stored (uncompressed) deflate
 * blocks keep the encoder a few lines; it is about 48 KB.
 */
export function fakeScreenPng(seed: string): string {
  const w = 160;
  const h = 100;
  let hash = 7;
  for (const ch of seed) hash = (Math.imul(hash, 31) + ch.charCodeAt(0)) >>> 0;
  const hue = hash % 360;
  const hsl = (hh: number, s: number, l: number): [number, number, number] => {
    const a = s * Math.min(l, 1 - l);
    const f = (n: number) => {
      const k = (n + hh / 30) % 12;
      return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
    };
    return [f(0), f(8), f(4)];
  };
  const bg = hsl(hue, 0.45, 0.42);
  const raw = new Uint8Array(h * (w * 3 + 1));
  const lines = 4 + (hash % 4);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0; // filter: none
    for (let x = 0; x < w; x++) {
      let px = bg;
      if (y < 8) px = [32, 32, 38];
      else if (x >= 20 && x < 140 && y >= 18 && y < 88) {
        px = y < 26 ? [215, 215, 222] : [248, 248, 250];
        const row = Math.floor((y - 32) / 7);
        const len = 30 + ((hash >>> (row % 16)) % 70);
        if (y >= 32 && (y - 32) % 7 < 3 && row < lines && x >= 28 && x < 28 + len) px = [70, 70, 82];
      }
      raw.set(px, y * (w * 3 + 1) + 1 + x * 3);
    }
  }
  // zlib: header, stored blocks of at most 65535 bytes, Adler-32.
  const blocks: number[] = [0x78, 0x01];
  for (let i = 0; i < raw.length; i += 65535) {
    const part = raw.subarray(i, i + 65535);
    const last = i + 65535 >= raw.length ? 1 : 0;
    blocks.push(last, part.length & 0xff, part.length >>> 8, ~part.length & 0xff, (~part.length >>> 8) & 0xff);
    for (const b of part) blocks.push(b);
  }
  let a = 1;
  let b = 0;
  for (const x of raw) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  const adler = ((b << 16) | a) >>> 0;
  blocks.push(adler >>> 24, (adler >>> 16) & 0xff, (adler >>> 8) & 0xff, adler & 0xff);
  const be32 = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  const chunk = (type: string, data: ArrayLike<number>) => {
    const body = new Uint8Array([...[...type].map((c) => c.charCodeAt(0)), ...Array.from(data)]);
    return [...be32(data.length), ...body, ...be32(crc32(body))];
  };
  const png = new Uint8Array([
    0x89,
    0x50,
    0x4e,
    0x47,
    0x0d,
    0x0a,
    0x1a,
    0x0a,
    ...chunk('IHDR', [...be32(w), ...be32(h), 8, 2, 0, 0, 0]),
    ...chunk('IDAT', blocks),
    ...chunk('IEND', []),
  ]);
  let bin = '';
  for (const x of png) bin += String.fromCharCode(x);
  return btoa(bin);
}

/**
 * The demo host's USB devices, as app/main/host/usb.ts reads them from sysfs: a hub (not listed),
 * a receiver and a stick the user may open, and a security key whose node is root's only.
 */
export function sampleUsbDevices(): { devices: UsbDevice[]; checks: UsbCheck[] } {
  const dev = (
    port: string,
    address: number,
    vendorId: string,
    productId: string,
    name: string,
    extra: Partial<UsbDevice> = {},
  ): UsbDevice => ({
    port,
    bus: 1,
    address,
    vendorId,
    productId,
    name,
    speed: 'high',
    speedMbps: 480,
    node: `/dev/bus/usb/001/${String(address).padStart(3, '0')}`,
    access: { usable: true },
    ...extra,
  });
  const key = dev('1-4', 9, '1050', '0407', 'Yubico.com Yubikey 4/5 OTP+U2F+CCID', {
    speed: 'full',
    speedMbps: 12,
    className: 'hid',
    access: {
      usable: false,
      missing: false,
      reason: '/dev/bus/usb/001/009 belongs to root (mode 0600): QEMU, running as you, cannot open it.',
    },
  });
  return {
    devices: [
      dev('1-1', 2, '05e3', '0610', 'Genesys Logic, Inc. Hub', { className: 'hub', deviceClass: '09' }),
      dev('1-1.2', 5, '046d', 'c52b', 'Logitech, Inc. Unifying Receiver', {
        speed: 'full',
        speedMbps: 12,
        className: 'hid',
      }),
      dev('1-1.3', 7, '0781', '5583', 'SanDisk Corp. Ultra Fit', {
        speed: 'super',
        speedMbps: 5000,
        className: 'mass-storage',
      }),
      key,
    ],
    checks: [
      {
        id: 'usb-access',
        title: 'Yubico.com Yubikey 4/5 OTP+U2F+CCID can be opened',
        status: 'fail',
        detail: key.access.usable ? '' : key.access.reason,
        device: '1-4',
        fix: {
          text: 'Install a udev rule that gives the logged-in user this device (1050:0407) only; vmdesk asks once for the administrator password.',
          command:
            'echo \'SUBSYSTEM=="usb", ATTR{idVendor}=="1050", ATTR{idProduct}=="0407", TAG+="uaccess"\' | sudo tee /etc/udev/rules.d/70-vmdesk-usb-1050-0407.rules && sudo udevadm trigger --attr-match=idVendor=1050',
          privileged: true,
        },
      },
    ],
  };
}
