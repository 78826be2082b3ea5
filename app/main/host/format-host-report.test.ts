import { describe, expect, it } from 'vitest';
import { formatHostReport } from './format-host-report.js';
import type { FirmwareImage, HostReport } from '../common/host-types.js';

/** A host where everything that can go wrong did. */
const troubled: HostReport = {
  schema: 3,
  platform: 'linux',
  hostArch: 'x86_64',
  qemu: {
    x86_64: {
      arch: 'x86_64',
      status: 'broken',
      reason: '/usr/bin/qemu-system-x86_64 failed the capability probe: exited with code 127',
      fix: 'run `/usr/bin/qemu-system-x86_64 -machine none` to see the error',
      searched: ['/usr/bin/qemu-system-x86_64'],
    },
    aarch64: {
      arch: 'aarch64',
      status: 'missing',
      reason: 'no qemu-system-aarch64 in PATH',
      fix: 'sudo dnf install qemu-system-aarch64 qemu-img',
      searched: [],
    },
  },
  qemuImg: { status: 'missing', reason: 'no qemu-img in PATH', fix: 'sudo dnf install qemu-img', searched: [] },
  accels: {
    x86_64: [
      {
        accel: 'kvm',
        available: false,
        reason: '/dev/kvm is missing: hardware virtualisation is off',
        fix: 'enable Intel VT-x or AMD-V (SVM) in the BIOS/UEFI setup, then reboot',
      },
      { accel: 'hvf', available: false, reason: 'HVF (Hypervisor.framework) exists only on macOS' },
      {
        accel: 'tcg',
        available: false,
        reason: 'qemu-system-x86_64 is not usable',
        fix: 'sudo dnf install qemu-kvm qemu-img',
      },
    ],
    aarch64: [
      { accel: 'kvm', available: false, reason: 'KVM runs only x86_64 guests on this x86_64 host' },
      { accel: 'hvf', available: false, reason: 'HVF (Hypervisor.framework) exists only on macOS' },
      {
        accel: 'tcg',
        available: false,
        reason: 'qemu-system-aarch64 is not usable',
        fix: 'sudo dnf install qemu-system-aarch64 qemu-img',
      },
    ],
  },
  firmware: {
    images: [],
    missing: [
      { arch: 'x86_64', reason: 'no UEFI firmware for x86_64 guests', fix: 'sudo dnf install edk2-ovmf' },
      { arch: 'aarch64', reason: 'no UEFI firmware for aarch64 guests', fix: 'sudo dnf install edk2-aarch64' },
    ],
    problems: ['/etc/qemu/firmware/50-mine.json: malformed JSON (Unexpected end of JSON input)'],
    searchedDirs: ['/usr/share/qemu/firmware'],
  },
  swtpm: { path: null, reason: 'no swtpm in PATH or in /usr/bin', fix: 'sudo dnf install swtpm swtpm-tools' },
  virtiofsd: { path: null, fix: 'sudo dnf install virtiofsd' },
  memlock: { soft: null, hard: null, source: 'unknown', note: 'cannot read /proc/self/limits: EACCES' },
  native: { implementation: 'fallback', loaded: false, loadError: 'disabled by VMDESK_NATIVE=off' },
  notes: ['could not write the probe cache in /ro/cache (EROFS); every start will re-probe QEMU'],
  probeMs: 12.5,
};

describe('formatHostReport', () => {
  const text = formatHostReport(troubled);

  it('starts with the platform and how long the probe took', () => {
    expect(text.split('\n')[0]).toBe('vmdesk host report: linux x86_64, probed in 12.5 ms');
  });

  it('follows every problem with its fix on the next line', () => {
    const lines = text.split('\n');
    for (const marker of [
      'BROKEN: /usr/bin/qemu-system-x86_64',
      'MISSING: no qemu-img in PATH',
      'KVM  no     /dev/kvm is missing',
      'MISSING: no swtpm in PATH',
    ]) {
      const i = lines.findIndex((l) => l.includes(marker));
      expect(i, marker).toBeGreaterThanOrEqual(0);
      expect(lines[i + 1], marker).toMatch(/^ {14}fix: /);
    }
  });

  it('gives no fix line for an accelerator that cannot apply to this OS', () => {
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.includes('HVF  no'));
    expect(lines[i + 1]).not.toMatch(/fix:/);
  });

  it('says when no accelerator can run guests of an architecture', () => {
    expect(text).toContain('Accelerators for aarch64 guests (no accelerator can run these guests)');
  });

  it('lists skipped firmware descriptors, unknown limits, the native fallback and the notes', () => {
    expect(text).toContain('skipped     /etc/qemu/firmware/50-mine.json: malformed JSON');
    expect(text).toContain('soft unknown · hard unknown (via unknown)');
    expect(text).toContain('cannot read /proc/self/limits: EACCES');
    expect(text).toContain('pure-JS fallback: disabled by VMDESK_NATIVE=off');
    expect(text).toMatch(/Notes\n {2}- {11}could not write the probe cache/);
  });

  it('keeps lines within 100 columns except where a single path is longer', () => {
    for (const line of text.split('\n')) if (line.length > 100) expect(line.trim()).not.toContain(' ');
  });
});

describe('formatHostReport: firmware and Secure Boot', () => {
  const img = (file: string, over: Partial<FirmwareImage>): FirmwareImage => ({
    arch: 'x86_64',
    source: `/usr/share/qemu/firmware/${file}`,
    description: file,
    code: `/usr/share/OVMF/${file.replace('.json', '.fd')}`,
    varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd',
    format: 'raw',
    machines: ['pc-q35-*'],
    secureBoot: false,
    enrolledKeys: false,
    requiresSmm: false,
    features: [],
    ...over,
  });
  const debian: HostReport = {
    ...troubled,
    firmware: {
      ...troubled.firmware,
      missing: [],
      images: [
        img('40-secure-enrolled.json', { secureBoot: true, enrolledKeys: true, requiresSmm: true }),
        img('50-secure.json', { secureBoot: true, requiresSmm: true }),
        img('60-plain.json', {}),
      ],
    },
  };

  it('says which build offers Secure Boot with keys, and which one each kind of VM uses', () => {
    const text = formatHostReport(debian).replace(/\n {14}/g, ' ');
    expect(text).toContain(
      '40-secure-enrolled.fd [secure boot, keys enrolled, needs SMM, used by Secure Boot VMs] (40-secure-enrolled.json)',
    );
    expect(text).toContain('50-secure.fd [secure boot, needs SMM] (50-secure.json)');
    expect(text).toContain('60-plain.fd [no secure boot, used by UEFI VMs] (60-plain.json)');
  });
});
