import { describe, expect, it } from 'vitest';
import type { HostReport, QemuBinaryReport, QemuCaps } from '../common/host-types.js';
import { fakeQemuCaps } from '../host/testing/caps.js';
import { explainQemuEntitlement } from './entitlement.js';

const caps = (arch: QemuCaps['arch'], binary: string): QemuCaps =>
  fakeQemuCaps({ arch, binary, version: '9.2.0', accels: ['hvf', 'tcg'] });
const ok = (arch: QemuCaps['arch'], binary: string, hvfEntitled?: boolean): QemuBinaryReport => ({
  arch,
  status: 'ok',
  caps: caps(arch, binary),
  fromCache: false,
  ...(hvfEntitled === undefined ? {} : { hvfEntitled }),
});
const missing: QemuBinaryReport = {
  arch: 'x86_64',
  status: 'missing',
  reason: 'not found',
  fix: 'brew install qemu',
  searched: [],
};

function report(platform: string, qemu: HostReport['qemu']): Pick<HostReport, 'platform' | 'qemu'> {
  return { platform, qemu };
}

describe('explainQemuEntitlement', () => {
  it('explains an unsigned QEMU on macOS, with the fix', () => {
    const text = explainQemuEntitlement(
      report('darwin', { x86_64: missing, aarch64: ok('aarch64', '/usr/local/bin/qemu-system-aarch64', false) }),
    );
    expect(text).toContain(
      '/usr/local/bin/qemu-system-aarch64 is not signed with the com.apple.security.hypervisor entitlement',
    );
    expect(text).toContain(
      'codesign -s - --entitlements entitlements.plist --force /usr/local/bin/qemu-system-aarch64',
    );
  });

  it('says nothing when the binaries are signed, unchecked, or not on macOS', () => {
    expect(
      explainQemuEntitlement(
        report('darwin', {
          x86_64: ok('x86_64', '/opt/homebrew/bin/qemu-system-x86_64', true),
          aarch64: ok('aarch64', '/opt/homebrew/bin/qemu-system-aarch64'),
        }),
      ),
    ).toBeNull();
    expect(
      explainQemuEntitlement(
        report('linux', { x86_64: ok('x86_64', '/usr/bin/qemu-system-x86_64', false), aarch64: missing }),
      ),
    ).toBeNull();
  });
});
