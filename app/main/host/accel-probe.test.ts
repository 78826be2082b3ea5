import { describe, expect, it } from 'vitest';
import type { AccelHostStates } from './accel-probe.js';
import { accelStatusesFor } from './accel-probe.js';
import { macHostArch, probeHvfHost } from './hvf-probe.js';
import { fakeQemuCaps, type QemuCapsOverrides } from './testing/caps.js';
import { FakeNative } from './testing/fakes.js';
import type { AccelStatus, QemuBinaryReport, QemuCaps } from '../common/host-types.js';

const ok = (c: QemuCaps, hvfEntitled?: boolean): QemuBinaryReport => ({
  arch: c.arch,
  status: 'ok',
  caps: c,
  fromCache: false,
  ...(hvfEntitled !== undefined ? { hvfEntitled } : {}),
});
const missing: QemuBinaryReport = {
  arch: 'aarch64',
  status: 'missing',
  reason: 'no qemu-system-aarch64 in PATH',
  fix: 'sudo apt install qemu-system-arm qemu-utils',
  searched: [],
};

const linuxKvm: AccelHostStates = {
  kvm: { usable: true, detail: '/dev/kvm is usable (API 12)' },
  hvf: { usable: false, reason: 'HVF (Hypervisor.framework) exists only on macOS' },
};
const macHvf: AccelHostStates = {
  kvm: { usable: false, reason: 'KVM exists only on Linux' },
  hvf: { usable: true, detail: 'Hypervisor.framework is supported (kern.hv_support=1)' },
};

const status = (list: AccelStatus[], accel: AccelStatus['accel']): AccelStatus => list.find((s) => s.accel === accel)!;

describe('accelStatusesFor: KVM', () => {
  it('is available when /dev/kvm works and QEMU has kvm-accel', () => {
    const s = status(
      accelStatusesFor('x86_64', { hosts: linuxKvm, hostArch: 'x86_64', qemu: ok(fakeQemuCaps()) }),
      'kvm',
    );
    expect(s).toMatchObject({ available: true, reason: expect.stringMatching(/API 12.*supports KVM/) });
  });

  it('passes the host diagnosis and its fix through', () => {
    const hosts: AccelHostStates = {
      ...linuxKvm,
      kvm: {
        usable: false,
        reason: '/dev/kvm is not writable',
        fix: 'sudo usermod -aG kvm $USER, then log out and in',
      },
    };
    const s = status(accelStatusesFor('x86_64', { hosts, hostArch: 'x86_64', qemu: ok(fakeQemuCaps()) }), 'kvm');
    expect(s).toEqual({
      accel: 'kvm',
      available: false,
      reason: '/dev/kvm is not writable',
      fix: 'sudo usermod -aG kvm $USER, then log out and in',
    });
  });

  it('says when QEMU was built without KVM', () => {
    const s = status(
      accelStatusesFor('x86_64', { hosts: linuxKvm, hostArch: 'x86_64', qemu: ok(fakeQemuCaps({ accels: ['tcg'] })) }),
      'kvm',
    );
    expect(s).toMatchObject({
      available: false,
      reason: '/usr/bin/qemu-system-x86_64 (QEMU 7.2.22) was built without KVM support',
      fix: expect.stringMatching(/distribution's QEMU/),
    });
  });

  it('never accelerates a foreign architecture, and offers no fix for it', () => {
    const s = status(
      accelStatusesFor('aarch64', { hosts: linuxKvm, hostArch: 'x86_64', qemu: ok(fakeQemuCaps({ arch: 'aarch64' })) }),
      'kvm',
    );
    expect(s).toEqual({
      accel: 'kvm',
      available: false,
      reason: 'KVM runs only x86_64 guests on this x86_64 host; aarch64 guests are emulated (TCG)',
    });
  });
});

describe('accelStatusesFor: HVF', () => {
  const arm = (c: QemuCapsOverrides) =>
    fakeQemuCaps({ arch: 'aarch64', binary: '/opt/homebrew/bin/qemu-system-aarch64', accels: ['hvf', 'tcg'], ...c });

  it('is available on a Mac with kern.hv_support=1, a QEMU with HVF and the entitlement', () => {
    const s = status(
      accelStatusesFor('aarch64', { hosts: macHvf, hostArch: 'aarch64', qemu: ok(arm({}), true) }),
      'hvf',
    );
    expect(s.available).toBe(true);
  });

  it('says when QEMU was built without HVF', () => {
    const s = status(
      accelStatusesFor('aarch64', { hosts: macHvf, hostArch: 'aarch64', qemu: ok(arm({ accels: ['tcg'] })) }),
      'hvf',
    );
    expect(s).toMatchObject({
      available: false,
      reason: expect.stringMatching(/built without HVF/),
      fix: expect.stringMatching(/brew install qemu/),
    });
  });

  it('says when the QEMU binary lacks the hypervisor entitlement, with the codesign command', () => {
    const s = status(
      accelStatusesFor('aarch64', { hosts: macHvf, hostArch: 'aarch64', qemu: ok(arm({}), false) }),
      'hvf',
    );
    expect(s.reason).toMatch(/not signed with the com\.apple\.security\.hypervisor entitlement/);
    expect(s.fix).toMatch(
      /codesign -s - --entitlements entitlements\.plist --force \/opt\/homebrew\/bin\/qemu-system-aarch64/,
    );
  });
});

describe('probeHvfHost', () => {
  it('says HVF is macOS-only elsewhere, without a fix', () => {
    expect(probeHvfHost(new FakeNative(), 'linux', false)).toEqual({
      usable: false,
      reason: 'HVF (Hypervisor.framework) exists only on macOS',
    });
  });

  it('says the Mac offers no virtualisation when kern.hv_support is 0', () => {
    const native = new FakeNative();
    native.sysctls.set('kern.hv_support', 0);
    expect(probeHvfHost(native, 'darwin', false)).toMatchObject({
      usable: false,
      reason: expect.stringMatching(/kern\.hv_support is 0/),
    });
  });

  it('is usable when kern.hv_support is 1', () => {
    const native = new FakeNative();
    native.sysctls.set('kern.hv_support', 1);
    expect(probeHvfHost(native, 'darwin', false)).toMatchObject({ usable: true });
  });

  it('sees an Apple Silicon Mac through Rosetta with hw.optional.arm64', () => {
    const native = new FakeNative();
    native.sysctls.set('hw.optional.arm64', 1);
    expect(macHostArch(native, 'x64')).toEqual({ arch: 'aarch64', rosetta: true });
    expect(macHostArch(new FakeNative(), 'x64')).toEqual({ arch: 'x86_64', rosetta: false });
  });
});

describe('accelStatusesFor: TCG', () => {
  it('is always available, with the warning that it is slow', () => {
    const s = status(
      accelStatusesFor('x86_64', { hosts: linuxKvm, hostArch: 'x86_64', qemu: ok(fakeQemuCaps()) }),
      'tcg',
    );
    expect(s).toMatchObject({ available: true, reason: expect.stringMatching(/slower/) });
  });

  it('is unavailable in a QEMU built without TCG (RHEL qemu-kvm)', () => {
    const s = status(
      accelStatusesFor('x86_64', {
        hosts: linuxKvm,
        hostArch: 'x86_64',
        qemu: ok(fakeQemuCaps({ binary: '/usr/libexec/qemu-kvm', accels: ['kvm'] })),
      }),
      'tcg',
    );
    expect(s).toMatchObject({ available: false, reason: expect.stringMatching(/qemu-kvm was built without TCG/) });
  });

  it('is unavailable with the install command when there is no QEMU for the architecture', () => {
    const s = status(accelStatusesFor('aarch64', { hosts: linuxKvm, hostArch: 'x86_64', qemu: missing }), 'tcg');
    expect(s).toEqual({
      accel: 'tcg',
      available: false,
      reason: 'qemu-system-aarch64 is not usable: no qemu-system-aarch64 in PATH',
      fix: 'sudo apt install qemu-system-arm qemu-utils',
    });
  });
});
