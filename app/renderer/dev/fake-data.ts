/** Sample VMs, host report and log text for the demo fake (`#demo`). */
import type { CallResults } from '../../main/common/contract.js';
import type { VmDefinition, VmSummary } from '../../main/common/vm-types.js';

type HostReport = CallResults['host.info'];

const HOME = '/home/ada';
const RUN = '/run/user/1000/vmdesk';

export function sampleDefinition(id: string, name: string, over: Partial<VmDefinition> = {}): VmDefinition {
  return {
    version: 2,
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
    nvram: `${HOME}/.local/share/vmdesk/vms/${id}/OVMF_VARS.fd`,
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
  const win = sampleDefinition('c7d4e2a0-5b3f-4c1d-8e9a-0f1b2c3d4e5f', 'windows-build', {
    memoryMiB: 6144,
    cpus: 4,
    firmware: 'uefi',
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
    cpuModels: ['max'],
    devices: {
      vfioPci: true,
      virtioGpuPci: true,
      virtioVga: arch === 'x86_64',
      ramfb: true,
      vga: arch === 'x86_64',
      virtioNetPci: true,
      virtioBlkPci: true,
      qemuXhci: true,
      usbTablet: true,
    },
    sandbox: true,
  });
  return {
    schema: 1,
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
    firmware: {
      images: [
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
