import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { probeHost } from '../host/probe-host.js';
import type { Arch, HostReport, QemuBinaryReport } from '../common/host-types.js';
import {
  distroFromOsRelease,
  firstRunMarkerPath,
  firstRunNotice,
  firstRunShownBefore,
  markFirstRunShown,
  missingComponents,
  readOsRelease,
  type FirstRunFacts,
  type FirstRunInput,
} from './first-run.js';

const missingQemu = (arch: Arch): QemuBinaryReport => ({
  arch,
  status: 'missing',
  reason: `no qemu-system-${arch}`,
  fix: 'install it',
  searched: [],
});

/** A fresh x86_64 host with nothing installed (the facts as the host report states them). */
const bare: FirstRunFacts = {
  hostArch: 'x86_64',
  qemu: { x86_64: missingQemu('x86_64'), aarch64: missingQemu('aarch64') },
  qemuImg: { status: 'missing', reason: 'no qemu-img in PATH', fix: 'install it', searched: [] },
  firmware: {
    images: [],
    missing: [
      { arch: 'x86_64', reason: 'no UEFI firmware for x86_64 guests', fix: 'install it' },
      { arch: 'aarch64', reason: 'no UEFI firmware for aarch64 guests', fix: 'install it' },
    ],
    problems: [],
    searchedDirs: [],
  },
  swtpm: { path: null, reason: 'no swtpm in PATH', fix: 'install it' },
  virtiofsd: { path: null, fix: 'install it' },
};

/** The same host once QEMU, qemu-img and OVMF are there, without swtpm and virtiofsd. */
const basics: FirstRunFacts = {
  ...bare,
  qemu: {
    x86_64: {
      arch: 'x86_64',
      status: 'ok',
      fromCache: true,
      caps: {
        arch: 'x86_64',
        binary: '/usr/bin/qemu-system-x86_64',
        version: '7.2.22',
        accels: ['kvm', 'tcg'],
        machines: ['q35'],
        devices: {
          vfioPci: true,
          virtioVga: true,
        },
        sandbox: true,
      },
    },
    aarch64: missingQemu('aarch64'),
  },
  qemuImg: { status: 'ok', path: '/usr/bin/qemu-img', version: '7.2.22', fromCache: true },
  firmware: { ...bare.firmware, missing: [bare.firmware.missing[1]!] },
};

const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n';
const appImage = { APPIMAGE: '/home/me/Applications/vmdesk-0.1.0.AppImage' };
const input = (over: Partial<FirstRunInput>): FirstRunInput => ({
  facts: bare,
  env: appImage,
  platform: 'linux',
  osRelease: DEBIAN,
  shownBefore: false,
  ...over,
});

describe('distroFromOsRelease', () => {
  it.each([
    ['ID=debian', 'debian'],
    ['ID=ubuntu\nID_LIKE=debian', 'debian'],
    ['ID=pop\nID_LIKE="ubuntu debian"', 'debian'],
    ['ID=fedora', 'fedora'],
    ['ID="rocky"\nID_LIKE="rhel centos fedora"', 'fedora'],
    ['ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"', 'opensuse'],
    ['ID=sles\nID_LIKE="suse"', 'opensuse'],
    ['ID=arch', 'arch'],
    ['ID=manjaro\nID_LIKE=arch', 'arch'],
    ['ID=nixos', 'unknown'],
  ] as const)('%j is %s', (text, distro) => {
    expect(distroFromOsRelease(text)).toBe(distro);
  });

  it('reads ID before ID_LIKE, and survives no os-release at all', () => {
    expect(distroFromOsRelease('ID_LIKE=debian\nID=fedora')).toBe('fedora');
    expect(distroFromOsRelease(undefined)).toBe('unknown');
  });

  it("reads this machine's os-release", () => {
    const text = readOsRelease();
    expect(text).toMatch(/^ID=/m);
    expect(readOsRelease(() => fs.readFileSync('/nonexistent/os-release', 'utf8'))).toBeUndefined();
  });
});

describe('firstRunNotice', () => {
  it('says nothing outside an AppImage (deb, rpm, source) or outside Linux', () => {
    expect(firstRunNotice(input({ env: {} }))).toBeUndefined();
    expect(firstRunNotice(input({ platform: 'darwin' }))).toBeUndefined();
  });

  it('names every missing package and the apt command on Debian', () => {
    const n = firstRunNotice(input({}))!;
    expect(n.blocking).toBe(true);
    expect(n.missing.map((m) => m.component)).toEqual(['qemu', 'qemu-img', 'firmware', 'swtpm', 'virtiofsd']);
    // virtiofsd is no package of its own on Debian 12: apt would refuse the whole command.
    expect(n.command).toBe('sudo apt install qemu-system-x86 qemu-utils ovmf swtpm');
    expect(n.message).toContain('on Debian 12 and Ubuntu 22.04 it comes with QEMU (qemu-system-common)');
    expect(n.message).toContain('vmdesk cannot start VMs until these system packages are installed:');
    expect(n.message).toContain(n.command!);
    expect(n.title).toBe('vmdesk needs some system packages');
  });

  it.each([
    ['ID=fedora', 'sudo dnf install qemu-system-x86-core qemu-img edk2-ovmf swtpm virtiofsd'],
    [
      'ID="opensuse-leap"\nID_LIKE="suse opensuse"',
      'sudo zypper install qemu-x86 qemu-tools qemu-ovmf-x86_64 swtpm virtiofsd',
    ],
    ['ID=arch', 'sudo pacman -S --needed qemu-system-x86 qemu-img edk2-ovmf swtpm virtiofsd'],
  ])('gives the command of the distribution (%j)', (osRelease, command) => {
    expect(firstRunNotice(input({ osRelease }))?.command).toBe(command);
  });

  it('names the aarch64 packages on an arm64 host', () => {
    const arm: FirstRunFacts = { ...bare, hostArch: 'aarch64' };
    expect(firstRunNotice(input({ facts: arm }))?.command).toBe(
      'sudo apt install qemu-system-arm qemu-utils qemu-efi-aarch64 swtpm',
    );
  });

  it('lists the names for each family when the distribution is unknown', () => {
    const n = firstRunNotice(input({ osRelease: 'ID=nixos' }))!;
    expect(n.command).toBeUndefined();
    expect(n.message).toContain('Debian/Ubuntu: sudo apt install qemu-system-x86 qemu-utils ovmf swtpm');
    expect(n.message).toContain('Fedora/RHEL: sudo dnf install qemu-system-x86-core');
    expect(n.message).toContain('openSUSE: sudo zypper install qemu-x86');
    expect(n.message).toContain('Arch: sudo pacman -S --needed qemu-system-x86');
  });

  it('shows again at every start while something required is missing', () => {
    expect(firstRunNotice(input({ shownBefore: true }))?.blocking).toBe(true);
  });

  it('shows the optional packages once, and then no more', () => {
    const first = firstRunNotice(input({ facts: basics }))!;
    expect(first.blocking).toBe(false);
    expect(first.title).toBe('Welcome to vmdesk');
    expect(first.message).toContain('Missing, needed only by some VMs: swtpm (a TPM for Windows 11 guests), virtiofsd');
    expect(first.command).toBe('sudo apt install swtpm');
    expect(firstRunNotice(input({ facts: basics, shownBefore: true }))).toBeUndefined();
  });

  it('counts only the host architecture: a missing aarch64 QEMU on an x86_64 host is fine', () => {
    expect(missingComponents(basics).map((m) => m.component)).toEqual(['swtpm', 'virtiofsd']);
  });

  it('does not offer to install what is installed but broken (the host report says why)', () => {
    const broken: FirstRunFacts = {
      ...basics,
      qemuImg: { status: 'broken', reason: 'qemu-img --version failed', fix: 'reinstall', searched: [] },
    };
    expect(missingComponents(broken).map((m) => m.component)).not.toContain('qemu-img');
  });
});

describe('the first-run marker', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-first-run-'));
    dirs.push(d);
    return d;
  };

  it('is absent on a fresh config dir and present once written (creating the dir, private)', () => {
    const config = path.join(tmp(), 'config', 'vmdesk');
    expect(firstRunShownBefore(config)).toBe(false);
    markFirstRunShown(config);
    expect(firstRunShownBefore(config)).toBe(true);
    expect(fs.statSync(firstRunMarkerPath(config)).mode & 0o777).toBe(0o600);
  });

  it('does not throw when it cannot be written (the notice just shows again)', () => {
    const file = path.join(tmp(), 'not-a-dir');
    fs.writeFileSync(file, '');
    expect(() => markFirstRunShown(file)).not.toThrow();
    expect(firstRunShownBefore(file)).toBe(false);
  });
});

describe('on this machine', () => {
  it('finds everything the deb would install, so an AppImage says so once and then never again', async () => {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-first-run-cache-'));
    try {
      const report: HostReport = await probeHost({ cacheDir, probeTimeoutMs: 60_000 });
      const osRelease = readOsRelease();
      const first = firstRunNotice({ facts: report, env: appImage, platform: 'linux', osRelease, shownBefore: false });
      expect(first?.missing).toEqual([]);
      expect(first?.message).toContain('all of them are here');
      expect(
        firstRunNotice({ facts: report, env: appImage, platform: 'linux', osRelease, shownBefore: true }),
      ).toBeUndefined();
    } finally {
      fs.rmSync(cacheDir, { recursive: true, force: true });
    }
  }, 120_000);
});
