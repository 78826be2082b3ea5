import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expectGolden } from '../testing/golden.js';
import {
  buildQemuArgv,
  HYPERV_FLAGS,
  macFromId,
  qemuEscape,
  qemuSandbox,
  sandboxInArgv,
  type ArgvOptions,
  type ArgvPaths,
} from './argv.js';
import type { VmDefinition } from '../common/vm-types.js';
import { fakeQemuCaps } from '../host/testing/caps.js';
import { PLAIN_GUEST } from '../common/vm-types.js';

// Golden files: one argument per line. Regenerate after an intended change with
//   UPDATE_GOLDENS=1 npx vitest run app/main/qemu/argv.test.ts
// and review the diff like code (testing/golden.ts).
const goldenDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden');

function expectArgvGolden(name: string, argv: string[]): void {
  expectGolden(path.join(goldenDir, `${name}.argv`), argv.join('\n') + '\n');
}

const x86Caps = fakeQemuCaps({ version: '7.2.19' });
const armCaps = fakeQemuCaps({
  arch: 'aarch64',
  binary: '/opt/homebrew/bin/qemu-system-aarch64',
  version: '9.1.0',
  accels: ['hvf', 'tcg'],
  sandbox: false,
});
const paths: ArgvPaths = {
  qmpSocket: '/run/user/1000/vmdesk/0f3c1a2b/qmp.sock',
  serialSocket: '/run/user/1000/vmdesk/0f3c1a2b/serial.sock',
  vncSocket: '/run/user/1000/vmdesk/0f3c1a2b/vnc.sock',
  pidfile: '/run/user/1000/vmdesk/0f3c1a2b/qemu.pid',
  serialLog: '/home/ada/.local/state/vmdesk/logs/0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b/serial.log',
  qgaSocket: '/run/user/1000/vmdesk/0f3c1a2b/qga.sock',
  swtpmSocket: '/run/user/1000/vmdesk/0f3c1a2b/swtpm.sock',
};
const base: VmDefinition = {
  version: 3,
  ...PLAIN_GUEST,
  id: '0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b',
  name: 'tiny',
  arch: 'x86_64',
  memoryMiB: 256,
  cpus: 1,
  accel: 'tcg',
  firmware: 'bios',
  disks: [],
  cdroms: [],
  boot: ['disk'],
  network: { mode: 'user', forwards: [] },
  display: 'std',
  nvram: null,
  mdevs: [],
  createdAt: '2026-11-22T00:00:00.000Z',
};
const tcg: ArgvOptions = { accel: 'tcg' };

describe('buildQemuArgv (golden)', () => {
  it('minimal x86_64 under TCG', () => {
    expectArgvGolden('x86_64-tcg-minimal', buildQemuArgv(base, x86Caps, paths, tcg));
  });

  it('KVM with a virtio qcow2 disk and a read-only cdrom booted first', () => {
    const def: VmDefinition = {
      ...base,
      name: 'Debian 12, installer',
      memoryMiB: 2048,
      cpus: 2,
      accel: 'kvm',
      boot: ['cdrom', 'disk'],
      cdroms: ['/home/ada/isos/debian-12.iso'],
      disks: [
        {
          target: 'vda',
          path: '/home/ada/.local/share/vmdesk/vms/0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b/disk0.qcow2',
          format: 'qcow2',
          owned: true,
          readOnly: false,
        },
      ],
    };
    expectArgvGolden('x86_64-kvm-disk-cdrom', buildQemuArgv(def, x86Caps, paths, { accel: 'kvm' }));
  });

  it('two disks (qcow2 + raw) and port forwards', () => {
    const def: VmDefinition = {
      ...base,
      name: 'web server',
      display: 'virtio',
      disks: [
        { target: 'vda', path: '/data/vm/system.qcow2', format: 'qcow2', owned: false, readOnly: false },
        { target: 'vdb', path: '/data/vm/scratch.img', format: 'raw', owned: false, readOnly: false },
      ],
      network: {
        mode: 'user',
        forwards: [
          { proto: 'tcp', hostPort: 2222, guestPort: 22, hostAddr: '127.0.0.1' },
          { proto: 'udp', hostPort: 5353, guestPort: 53, hostAddr: '0.0.0.0' },
        ],
      },
    };
    expectArgvGolden('x86_64-two-disks-forwards', buildQemuArgv(def, x86Caps, paths, tcg));
  });

  it('an installer and a driver disc, an empty drive, network boot last; a disk kept by target after another went', () => {
    const def: VmDefinition = {
      ...base,
      name: 'win11',
      cdroms: ['/isos/Win11_24H2.iso', '/isos/virtio-win-0.1.262.iso', null],
      boot: ['cdrom', 'disk', 'network'],
      disks: [
        { target: 'vda', path: '/data/vm/system.qcow2', format: 'qcow2', owned: true, readOnly: false },
        // vdb was removed: vdc keeps its QEMU ids (disk2, virtio-disk2).
        { target: 'vdc', path: '/data/vm/data.qcow2', format: 'qcow2', owned: true, readOnly: false },
        // The base of a linked clone: opened read-only whatever readOnly says.
        {
          target: 'vdd',
          path: '/data/vm/base.qcow2',
          format: 'qcow2',
          owned: true,
          readOnly: false,
          linkedClones: ['22222222-3333-4444-8555-666666666666'],
        },
      ],
    };
    const argv = buildQemuArgv(def, x86Caps, paths, tcg);
    expectArgvGolden('x86_64-three-cdroms-netboot', argv);
    // Every CD-ROM drive boots before the disks; the network last; the empty drive has no medium.
    expect(argv.filter((a) => a.includes('bootindex='))).toEqual([
      'ide-cd,drive=cd0,bus=ide.0,id=cdrom0,bootindex=0',
      'ide-cd,drive=cd1,bus=ide.1,id=cdrom1,bootindex=1',
      'ide-cd,bus=ide.2,id=cdrom2,bootindex=2',
      'virtio-blk-pci,drive=disk0,id=virtio-disk0,bootindex=3',
      'virtio-blk-pci,drive=disk2,id=virtio-disk2,bootindex=4',
      'virtio-blk-pci,drive=disk3,id=virtio-disk3,bootindex=5',
      `virtio-net-pci,netdev=net0,mac=${macFromId(def.id)},id=net0dev,bootindex=6`,
    ]);
    expect(argv.find((a) => a.includes('"node-name":"disk3"'))).toContain('"read-only":true');
  });

  // The VMs the create wizard makes for Windows 11 and 10 (iso-plan.ts windowsDevices) and for a
  // Linux disc that boots both ways.
  const windows = (over: Partial<VmDefinition>): VmDefinition => ({
    ...base,
    memoryMiB: 4096,
    cpus: 2,
    firmware: 'uefi',
    secureBoot: true,
    clock: 'localtime',
    hyperv: true,
    devices: { disk: 'sata', nic: 'e1000e' },
    boot: ['cdrom', 'disk'],
    disks: [{ target: 'vda', path: '/vms/w/disk0.qcow2', format: 'qcow2', owned: true, readOnly: false }],
    nvram: '/vms/w/efivars-secure.fd',
    ...over,
  });
  const secure = { code: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd', vars: '/vms/w/efivars-secure.fd', smm: true };

  it('Windows 11 under KVM: Secure Boot (SMM, secure flash), TPM, SATA, e1000e, local time, Hyper-V', () => {
    const def = windows({ name: 'Windows 11', tpm: true, cdroms: ['/isos/Win11_24H2_English_x64.iso'] });
    const argv = buildQemuArgv(def, x86Caps, paths, { accel: 'kvm', uefi: secure });
    expectArgvGolden('x86_64-windows11-kvm', argv);
    expect(argv).toContain('q35,pflash0=fw-code,pflash1=fw-vars,smm=on');
    expect(argv).toContain('driver=cfi.pflash01,property=secure,value=on');
    expect(argv).toContain('tpm-crb,tpmdev=tpm0');
    expect(argv).toContain(`host,${HYPERV_FLAGS}`);
    expect(argv).toContain('base=localtime');
  });

  it('Windows 11 under TCG: no Hyper-V flags (only KVM has them)', () => {
    const def = windows({ name: 'Windows 11', tpm: true, cdroms: ['/isos/Win11_24H2_English_x64.iso'] });
    const argv = buildQemuArgv(def, x86Caps, paths, { accel: 'tcg', uefi: secure });
    expect(argv.some((a) => a.includes('hv_'))).toBe(false);
    expect(argv).not.toContain('kvm-pit.lost_tick_policy=delay');
    expect(argv).toContain('tpm-crb,tpmdev=tpm0');
  });

  it('Windows 10 with the virtio-win disc: virtio devices, no TPM', () => {
    const def = windows({
      name: 'Windows 10',
      devices: { disk: 'virtio', nic: 'virtio' },
      cdroms: ['/isos/Win10_22H2_English_x64v1.iso', '/usr/share/virtio-win/virtio-win.iso'],
    });
    const argv = buildQemuArgv(def, x86Caps, paths, { accel: 'kvm', uefi: secure });
    expectArgvGolden('x86_64-windows10-virtio-win-kvm', argv);
    expect(argv.some((a) => a.startsWith('tpm') || a.includes('tpmdev'))).toBe(false);
  });

  it('a Linux disc that boots both ways: plain UEFI (no SMM), virtio, UTC, the agent channel', () => {
    const def: VmDefinition = {
      ...base,
      name: 'Debian 12',
      memoryMiB: 2048,
      firmware: 'uefi',
      nvram: '/vms/d/efivars.fd',
      cdroms: ['/isos/debian-12.9.0-amd64-netinst.iso'],
      boot: ['cdrom', 'disk'],
      disks: [{ target: 'vda', path: '/vms/d/disk0.qcow2', format: 'qcow2', owned: true, readOnly: false }],
    };
    const argv = buildQemuArgv(def, x86Caps, paths, {
      accel: 'tcg',
      uefi: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/vms/d/efivars.fd' },
    });
    expectArgvGolden('x86_64-linux-uefi-both-ways', argv);
    expect(argv.some((a) => a.includes('smm=on') || a.includes('property=secure'))).toBe(false);
    expect(argv).toContain('virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0,id=qga0port');
  });

  it('shared folders: virtio-fs (shared memfd RAM, vhost-user-fs) and 9p (read-only)', () => {
    const def: VmDefinition = {
      ...base,
      name: 'shares',
      shares: [
        { path: '/home/ada/docs', tag: 'docs', readOnly: false },
        { path: '/home/ada/pics,2024', tag: 'pics', readOnly: true },
      ],
    };
    const argv = buildQemuArgv(def, x86Caps, paths, {
      accel: 'tcg',
      shares: [
        { ...def.shares[0]!, mode: 'virtiofs', socket: '/run/user/1000/vmdesk/0f3c1a2b/fs0.sock' },
        { ...def.shares[1]!, mode: '9p', socket: '/run/user/1000/vmdesk/0f3c1a2b/fs1.sock' },
      ],
    });
    expectArgvGolden('x86_64-shares', argv);
    expect(argv).toContain('q35,memory-backend=mem');
    expect(argv).toContain('memory-backend-memfd,id=mem,size=256M,share=on');
    expect(argv).toContain('local,id=fsdev1,path=/home/ada/pics,,2024,security_model=mapped-xattr,readonly=on');
  });

  it('a desktop VM: sound through the host’s Pulse server, the shared clipboard, two host USB devices', () => {
    const def: VmDefinition = {
      ...base,
      name: 'desktop',
      sound: true,
      clipboard: true,
      usb: [
        { vendorId: '046d', productId: 'c52b' },
        { vendorId: '0781', productId: '5581' },
      ],
    };
    const argv = buildQemuArgv(def, x86Caps, paths, { accel: 'tcg', audio: { driver: 'pa' } });
    expectArgvGolden('x86_64-desktop-sound-clipboard-usb', argv);
    expect(argv).toContain('usb-host,bus=usb.0,vendorid=0x046d,productid=0xc52b,id=usb1');
    expect(argv).toContain('qemu-vdagent,id=vdagent0,clipboard=on');
    expect(argv).toContain('hda-duplex,audiodev=snd0,bus=sound0.0');
    // Headless: no clipboard (no viewer), no USB bus.
    const headless = buildQemuArgv({ ...def, display: 'none', usb: [] }, x86Caps, paths, { accel: 'tcg' });
    expect(headless.some((a) => a.includes('vdagent'))).toBe(false);
    expect(headless).toContain('none,id=snd0');
  });

  it('SATA disks boot in order, one AHCI port each', () => {
    const def = windows({
      disks: [
        { target: 'vda', path: '/a.qcow2', format: 'qcow2', owned: true, readOnly: false },
        { target: 'vdc', path: '/c.qcow2', format: 'qcow2', owned: true, readOnly: false },
      ],
      boot: ['disk'],
    });
    const argv = buildQemuArgv(def, x86Caps, paths, { accel: 'tcg', uefi: secure });
    expect(argv.filter((a) => a.startsWith('ide-hd'))).toEqual([
      'ide-hd,drive=disk0,bus=sata0.0,id=sata-disk0,bootindex=0',
      'ide-hd,drive=disk2,bus=sata0.1,id=sata-disk2,bootindex=1',
    ]);
  });

  it('aarch64 with a TPM uses tpm-tis-device (there is no CRB on virt)', () => {
    const def: VmDefinition = { ...base, arch: 'aarch64', firmware: 'uefi', tpm: true, nvram: '/v.fd' };
    const argv = buildQemuArgv(def, armCaps, paths, { accel: 'tcg', uefi: { code: '/c.fd', vars: '/v.fd' } });
    expect(argv).toContain('tpm-tis-device,tpmdev=tpm0');
  });

  it('boots only what the order lists', () => {
    const def: VmDefinition = {
      ...base,
      cdroms: ['/isos/a.iso'],
      boot: ['disk'],
      disks: [{ target: 'vda', path: '/d.qcow2', format: 'qcow2', owned: true, readOnly: false }],
    };
    const argv = buildQemuArgv(def, x86Caps, paths, tcg);
    expect(argv.filter((a) => a.includes('bootindex='))).toEqual([
      'virtio-blk-pci,drive=disk0,id=virtio-disk0,bootindex=0',
    ]);
  });

  it('aarch64 on HVF (Apple Silicon): virt, cpu host, edk2 pflash', () => {
    const def: VmDefinition = {
      ...base,
      arch: 'aarch64',
      accel: 'auto',
      firmware: 'uefi',
      memoryMiB: 4096,
      cpus: 4,
      boot: ['cdrom', 'disk'],
      cdroms: ['/Users/ada/Downloads/ubuntu-24.04-live-server-arm64.iso'],
      disks: [
        {
          target: 'vda',
          path: '/Users/ada/Library/Application Support/vmdesk/vms/0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b/disk0.qcow2',
          format: 'qcow2',
          owned: true,
          readOnly: false,
        },
      ],
      nvram: '/Users/ada/Library/Application Support/vmdesk/vms/0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b/efivars.fd',
    };
    const uefi = { code: '/opt/homebrew/share/qemu/edk2-aarch64-code.fd', vars: def.nvram! };
    expectArgvGolden(
      'aarch64-hvf-uefi',
      buildQemuArgv(
        def,
        armCaps,
        { ...paths, vncSocket: '/var/folders/x/T/vmdesk-501/0f3c1a2b/vnc.sock' },
        { accel: 'hvf', uefi },
      ),
    );
  });

  it('x86_64 UEFI, headless, no network', () => {
    const def: VmDefinition = {
      ...base,
      firmware: 'uefi',
      display: 'none',
      network: { mode: 'none', forwards: [] },
      nvram: '/d/efivars.fd',
    };
    expectArgvGolden(
      'x86_64-uefi-headless',
      buildQemuArgv(def, { ...x86Caps, sandbox: false }, paths, {
        accel: 'tcg',
        uefi: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/d/efivars.fd' },
      }),
    );
  });
});

describe('buildQemuArgv (rules)', () => {
  it('always names the disk format so QEMU never probes it', () => {
    const def: VmDefinition = {
      ...base,
      cdroms: ['/x.iso'],
      disks: [{ target: 'vda', path: '/a.img', format: 'raw', owned: false, readOnly: false }],
    };
    const blockdevs = buildQemuArgv(def, x86Caps, paths, tcg)
      .filter((_, i, a) => a[i - 1] === '-blockdev')
      .map((s) => JSON.parse(s) as { driver: string });
    expect(blockdevs.map((b) => b.driver)).toEqual(['raw', 'raw']);
  });

  it('escapes commas in names and socket paths', () => {
    const argv = buildQemuArgv({ ...base, name: 'a,b' }, x86Caps, { ...paths, qmpSocket: '/tmp/x,y/qmp.sock' }, tcg);
    expect(argv).toContain('guest=a,,b,debug-threads=on');
    expect(argv.some((s) => s.startsWith('socket,id=qmp,path=/tmp/x,,y/qmp.sock,'))).toBe(true);
    expect(qemuEscape(',,')).toBe(',,,,');
  });

  it('starts paused and without user config or default devices', () => {
    const argv = buildQemuArgv(base, x86Caps, paths, tcg);
    expect(argv).toEqual(expect.arrayContaining(['-S', '-no-user-config', '-nodefaults', '-pidfile', '-uuid']));
  });

  it('uses -sandbox only when the binary supports it', () => {
    expect(buildQemuArgv(base, x86Caps, paths, tcg)).toContain('-sandbox');
    expect(buildQemuArgv(base, { ...x86Caps, sandbox: false }, paths, tcg)).not.toContain('-sandbox');
  });

  it('says why QEMU runs unsandboxed: which binary and version lacks seccomp, and what to do', () => {
    expect(qemuSandbox(x86Caps)).toEqual({ on: true });
    const off = qemuSandbox({ ...x86Caps, sandbox: false });
    expect(off.on).toBe(false);
    expect(off.reason).toBe(
      "QEMU /usr/bin/qemu-system-x86_64 7.2.19 was built without seccomp: the guest's QEMU runs without -sandbox. " +
        'Install a QEMU built with seccomp to confine it.',
    );
  });

  it('reads the sandbox back from a command line, as a later driver sees an adopted QEMU', () => {
    expect(sandboxInArgv(buildQemuArgv(base, x86Caps, paths, tcg))).toBe(true);
    expect(sandboxInArgv(buildQemuArgv(base, { ...x86Caps, sandbox: false }, paths, tcg))).toBe(false);
    expect(sandboxInArgv(['qemu-system-x86_64', '-sandbox', 'off'])).toBe(false);
    expect(sandboxInArgv(['qemu-system-x86_64', '-name', 'guest=-sandbox'])).toBe(false);
  });

  it('derives a stable MAC from the id', () => {
    expect(macFromId(base.id)).toBe('52:54:00:5f:6a:7b');
  });

  it('refuses caps for the wrong architecture and UEFI without firmware', () => {
    expect(() => buildQemuArgv({ ...base, arch: 'aarch64' }, x86Caps, paths, tcg)).toThrow(/aarch64 VM given x86_64/);
    expect(() => buildQemuArgv({ ...base, firmware: 'uefi' }, x86Caps, paths, tcg)).toThrow(/UEFI VM without firmware/);
  });
});
