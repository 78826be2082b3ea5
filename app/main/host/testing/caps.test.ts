import { describe, expect, it } from 'vitest';
import { fakeQemuCaps } from './caps.js';

describe('fakeQemuCaps', () => {
  it('is a Debian 12 x86_64 QEMU with every device by default', () => {
    const c = fakeQemuCaps();
    expect(c).toMatchObject({
      arch: 'x86_64',
      binary: '/usr/bin/qemu-system-x86_64',
      accels: ['kvm', 'tcg'],
      sandbox: true,
    });
    expect(Object.values(c.devices).every(Boolean)).toBe(true);
  });

  it('takes the aarch64 defaults for arch aarch64 (no VGA on virt)', () => {
    const c = fakeQemuCaps({ arch: 'aarch64' });
    expect(c).toMatchObject({ binary: '/usr/bin/qemu-system-aarch64', machines: expect.arrayContaining(['virt']) });
    expect(c.devices).toEqual({ vfioPci: true, virtioVga: false });
  });

  it('merges device overrides and never shares arrays between calls', () => {
    const a = fakeQemuCaps({ devices: { vfioPci: false } });
    expect(a.devices).toEqual({ vfioPci: false, virtioVga: true });
    a.accels.push('hvf');
    expect(fakeQemuCaps().accels).toEqual(['kvm', 'tcg']);
  });
});
