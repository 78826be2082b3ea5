import { describe, expect, it } from 'vitest';
import {
  detectOsFamily,
  firmwareInstallHint,
  parseOsRelease,
  qemuImgInstallHint,
  qemuInstallHint,
} from './install-hints.js';
import { findQemuImg, findQemuSystem, QemuNotFoundError, requireQemu, requireQemuImg } from './qemu-discovery.js';
import { FakeFs } from './testing/fakes.js';

describe('findQemuSystem', () => {
  it('takes the first qemu-system-x86_64 on PATH', async () => {
    const fs = new FakeFs().executable('/home/a/bin/qemu-system-x86_64').executable('/usr/bin/qemu-system-x86_64');
    const r = await findQemuSystem(fs, { PATH: '/home/a/bin:/usr/bin' }, 'x86_64', 'x86_64');
    expect(r).toMatchObject({ found: true, path: '/home/a/bin/qemu-system-x86_64' });
  });

  it("looks in the usual places when PATH lacks them (a desktop launcher's minimal PATH)", async () => {
    const fs = new FakeFs().executable('/opt/homebrew/bin/qemu-system-aarch64');
    const r = await findQemuSystem(fs, { PATH: '/usr/bin:/bin' }, 'aarch64', 'aarch64');
    expect(r).toMatchObject({ found: true, path: '/opt/homebrew/bin/qemu-system-aarch64' });
  });

  it("finds RHEL's /usr/libexec/qemu-kvm for the host architecture only", async () => {
    const fs = new FakeFs().executable('/usr/libexec/qemu-kvm');
    expect(await findQemuSystem(fs, { PATH: '/usr/bin' }, 'x86_64', 'x86_64')).toMatchObject({
      found: true,
      path: '/usr/libexec/qemu-kvm',
    });
    expect(await findQemuSystem(fs, { PATH: '/usr/bin' }, 'aarch64', 'x86_64')).toMatchObject({ found: false });
  });

  it('skips relative PATH entries so a qemu in the current directory is never run', async () => {
    const fs = new FakeFs().executable('bin/qemu-system-x86_64');
    const r = await findQemuSystem(fs, { PATH: 'bin::/usr/bin' }, 'x86_64', 'x86_64');
    expect(r.found).toBe(false);
    expect(r.searched.every((p) => p.startsWith('/'))).toBe(true);
  });

  it('skips files that are not executable', async () => {
    const fs = new FakeFs()
      .file('/usr/bin/qemu-system-x86_64', '', { mode: 0o644 })
      .executable('/usr/local/bin/qemu-system-x86_64');
    expect(await findQemuSystem(fs, { PATH: '/usr/bin' }, 'x86_64', 'x86_64')).toMatchObject({
      found: true,
      path: '/usr/local/bin/qemu-system-x86_64',
    });
  });

  it('uses VMDESK_QEMU_X86_64 instead of searching', async () => {
    const fs = new FakeFs().executable('/usr/bin/qemu-system-x86_64').executable('/srv/qemu/bin/qemu-system-x86_64');
    const r = await findQemuSystem(
      fs,
      { PATH: '/usr/bin', VMDESK_QEMU_X86_64: '/srv/qemu/bin/qemu-system-x86_64' },
      'x86_64',
      'x86_64',
    );
    expect(r).toEqual({
      found: true,
      path: '/srv/qemu/bin/qemu-system-x86_64',
      searched: ['/srv/qemu/bin/qemu-system-x86_64'],
    });
  });

  it('reports a broken VMDESK_QEMU_AARCH64 rather than silently using another binary', async () => {
    const fs = new FakeFs().executable('/usr/bin/qemu-system-aarch64');
    const r = await findQemuSystem(fs, { PATH: '/usr/bin', VMDESK_QEMU_AARCH64: '/nope/qemu' }, 'aarch64', 'x86_64');
    expect(r).toEqual({
      found: false,
      searched: ['/nope/qemu'],
      envVar: 'VMDESK_QEMU_AARCH64',
      reason: 'VMDESK_QEMU_AARCH64=/nope/qemu is not an executable file (ENOENT)',
    });
  });

  it('lists everything it searched when nothing is found', async () => {
    const r = await findQemuSystem(new FakeFs(), { PATH: '/usr/bin' }, 'x86_64', 'x86_64');
    expect(r).toMatchObject({
      found: false,
      reason: 'no qemu-system-x86_64 in PATH or in /usr/bin, /opt/homebrew/bin, /usr/local/bin, /opt/local/bin',
    });
    expect(r.searched).toEqual([
      '/usr/bin/qemu-system-x86_64',
      '/opt/homebrew/bin/qemu-system-x86_64',
      '/usr/local/bin/qemu-system-x86_64',
      '/opt/local/bin/qemu-system-x86_64',
      '/usr/libexec/qemu-kvm',
    ]);
  });
});

describe('findQemuImg', () => {
  it('finds qemu-img the same way, with VMDESK_QEMU_IMG as the override', async () => {
    const fs = new FakeFs().executable('/usr/bin/qemu-img').executable('/x/qemu-img');
    expect(await findQemuImg(fs, { PATH: '/usr/bin' })).toMatchObject({ found: true, path: '/usr/bin/qemu-img' });
    expect(await findQemuImg(fs, { PATH: '/usr/bin', VMDESK_QEMU_IMG: '/x/qemu-img' })).toMatchObject({
      found: true,
      path: '/x/qemu-img',
    });
  });
});

describe('install hints', () => {
  it('recognises Debian, Ubuntu, Fedora and RHEL from /etc/os-release', () => {
    expect(parseOsRelease('ID=debian\n')).toBe('debian');
    expect(parseOsRelease('ID=ubuntu\nID_LIKE=debian\n')).toBe('debian');
    expect(parseOsRelease('ID=fedora\n')).toBe('fedora');
    expect(parseOsRelease('ID="rocky"\nID_LIKE="rhel centos fedora"\n')).toBe('fedora');
    expect(parseOsRelease('ID=arch\n')).toBe('unknown');
  });

  it('detects macOS from the platform and Linux from os-release', async () => {
    expect(await detectOsFamily(new FakeFs(), 'darwin')).toBe('macos');
    expect(await detectOsFamily(new FakeFs().file('/etc/os-release', 'ID=debian\n'), 'linux')).toBe('debian');
    expect(await detectOsFamily(new FakeFs(), 'linux')).toBe('unknown');
  });

  it('names the exact packages per distribution and architecture', () => {
    expect(qemuInstallHint('debian', 'x86_64')).toBe('sudo apt install qemu-system-x86 qemu-utils');
    expect(qemuInstallHint('debian', 'aarch64')).toBe('sudo apt install qemu-system-arm qemu-utils');
    expect(qemuInstallHint('fedora', 'x86_64')).toBe('sudo dnf install qemu-kvm qemu-img');
    expect(qemuInstallHint('fedora', 'aarch64')).toBe('sudo dnf install qemu-system-aarch64 qemu-img');
    expect(qemuInstallHint('macos', 'aarch64')).toBe('brew install qemu');
    expect(qemuImgInstallHint('debian')).toBe('sudo apt install qemu-utils');
    expect(firmwareInstallHint('debian', 'x86_64')).toBe('sudo apt install ovmf');
    expect(firmwareInstallHint('fedora', 'aarch64')).toBe('sudo dnf install edk2-aarch64');
  });

  it('gives all three spellings when the distribution is unknown', () => {
    expect(qemuInstallHint('unknown', 'x86_64')).toBe(
      'Debian/Ubuntu: sudo apt install qemu-system-x86 qemu-utils · Fedora/RHEL: sudo dnf install qemu-kvm qemu-img · macOS: brew install qemu',
    );
  });
});

describe('QemuNotFoundError', () => {
  it('is thrown by requireQemu with how to install QEMU in the message', () => {
    const report = {
      qemu: {
        x86_64: {
          arch: 'x86_64' as const,
          status: 'missing' as const,
          reason: 'no qemu-system-x86_64 in PATH',
          fix: 'sudo apt install qemu-system-x86 qemu-utils',
          searched: [],
        },
        aarch64: { arch: 'aarch64' as const, status: 'missing' as const, reason: 'r', fix: 'f', searched: [] },
      },
    };
    expect(() => requireQemu(report, 'x86_64')).toThrow(QemuNotFoundError);
    expect(() => requireQemu(report, 'x86_64')).toThrow(
      'qemu-system-x86_64 is not usable: no qemu-system-x86_64 in PATH. Install it with: sudo apt install qemu-system-x86 qemu-utils',
    );
  });

  it('is thrown by requireQemuImg too', () => {
    expect(() =>
      requireQemuImg({ qemuImg: { status: 'missing', reason: 'no qemu-img', fix: 'brew install qemu', searched: [] } }),
    ).toThrow(/qemu-img is not usable: no qemu-img\. Install it with: brew install qemu/);
  });
});
