import { describe, expect, it } from 'vitest';
import { AccelOverrideError, AccelUnavailableError, chooseAccel } from './choose-accel.js';
import type { AccelStatus } from '../common/host-types.js';

const kvmOk: AccelStatus = { accel: 'kvm', available: true, reason: '/dev/kvm is usable (API 12)' };
const kvmDenied: AccelStatus = {
  accel: 'kvm',
  available: false,
  reason: '/dev/kvm is not writable by user alice',
  fix: 'sudo usermod -aG kvm $USER, then log out and in',
};
const hvfOtherOs: AccelStatus = {
  accel: 'hvf',
  available: false,
  reason: 'HVF (Hypervisor.framework) exists only on macOS',
};
const hvfOk: AccelStatus = { accel: 'hvf', available: true, reason: 'Hypervisor.framework is supported' };
const kvmOtherOs: AccelStatus = { accel: 'kvm', available: false, reason: 'KVM exists only on Linux' };
const tcgOk: AccelStatus = { accel: 'tcg', available: true, reason: 'TCG is slow' };
const tcgMissing: AccelStatus = {
  accel: 'tcg',
  available: false,
  reason: 'qemu-system-aarch64 is not usable',
  fix: 'sudo apt install qemu-system-arm',
};

const linuxGood = [kvmOk, hvfOtherOs, tcgOk];
const linuxDenied = [kvmDenied, hvfOtherOs, tcgOk];
const mac = [kvmOtherOs, hvfOk, tcgOk];

describe('chooseAccel', () => {
  it('auto picks KVM on a Linux host where it works', () => {
    expect(chooseAccel('auto', linuxGood)).toEqual({
      accel: 'kvm',
      reason: 'auto picked KVM: /dev/kvm is usable (API 12)',
    });
  });

  it('auto picks HVF on a Mac', () => {
    expect(chooseAccel('auto', mac).accel).toBe('hvf');
  });

  it('auto falls back to TCG, says it is slow and how to get KVM, but not that HVF is macOS-only', () => {
    const d = chooseAccel('auto', linuxDenied);
    expect(d.accel).toBe('tcg');
    expect(d.reason).toMatch(/fell back to TCG, which is slow/);
    expect(d.reason).toMatch(
      /KVM is unavailable: \/dev\/kvm is not writable by user alice \(fix: sudo usermod -aG kvm \$USER/,
    );
    expect(d.reason).not.toMatch(/HVF/);
  });

  it('honours an explicit available choice', () => {
    expect(chooseAccel('tcg', linuxGood)).toEqual({ accel: 'tcg', reason: 'the VM asks for it: TCG is slow' });
  });

  it('refuses an explicit unavailable choice with the reason and the fix', () => {
    const attempt = (): unknown => chooseAccel('kvm', linuxDenied);
    expect(attempt).toThrow(AccelUnavailableError);
    expect(attempt).toThrow(expect.objectContaining({ accel: 'kvm', reason: kvmDenied.reason, fix: kvmDenied.fix }));
    expect(attempt).toThrow(
      'KVM is not available: /dev/kvm is not writable by user alice. Fix: sudo usermod -aG kvm $USER, then log out and in',
    );
  });

  it('forces TCG for every VM when VMDESK_ACCEL=tcg, and says it overrode the VM', () => {
    expect(chooseAccel('kvm', linuxGood, 'tcg')).toEqual({
      accel: 'tcg',
      reason: "VMDESK_ACCEL=tcg overrides the VM's choice (kvm): TCG is slow",
    });
    expect(chooseAccel('auto', linuxGood, ' TCG ').accel).toBe('tcg');
  });

  it('treats an empty or auto VMDESK_ACCEL as no override', () => {
    expect(chooseAccel('auto', linuxGood, '').accel).toBe('kvm');
    expect(chooseAccel('auto', linuxGood, 'auto').accel).toBe('kvm');
  });

  it('refuses a VMDESK_ACCEL that forces an unavailable accelerator', () => {
    expect(() => chooseAccel('auto', linuxDenied, 'kvm')).toThrow(/KVM is not available: .*VMDESK_ACCEL=kvm/);
  });

  it('refuses a VMDESK_ACCEL it does not understand', () => {
    expect(() => chooseAccel('auto', linuxGood, 'whpx')).toThrow(AccelOverrideError);
    expect(() => chooseAccel('auto', linuxGood, 'whpx')).toThrow(
      'VMDESK_ACCEL=whpx is not understood: use kvm, hvf, tcg or auto (or unset it)',
    );
  });

  it('says nothing can run the guest when even TCG is unavailable, with the install fix', () => {
    const attempt = (): unknown => chooseAccel('auto', [kvmOtherOs, hvfOtherOs, tcgMissing]);
    expect(attempt).toThrow(
      /^No accelerator can run this guest: KVM: KVM exists only on Linux; .*Fix: sudo apt install qemu-system-arm$/,
    );
    expect(attempt).toThrow(expect.objectContaining({ accel: 'auto', fix: 'sudo apt install qemu-system-arm' }));
  });
});
