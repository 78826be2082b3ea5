/**
 * A typed QemuCaps for tests, so a change to QemuCaps breaks the tests at compile time instead
 * of hiding behind `as unknown as QemuCaps`. The defaults are Debian 12's QEMU 7.2 (the x86_64
 * one matches the captured probe in ../fixtures/qemu-7.2-x86_64.qmp.json) with every device
 * vmdesk uses; `arch: 'aarch64'` gives the aarch64 binary's defaults. Override what a test is
 * about: `devices` merges, so `{ devices: { vfioPci: false } }` changes one device.
 */
import type { Arch, QemuCaps } from '../../common/host-types.js';

export type QemuCapsOverrides = Partial<Omit<QemuCaps, 'devices'>> & { devices?: Partial<QemuCaps['devices']> };

const ALL_DEVICES: QemuCaps['devices'] = {
  vfioPci: true,
  virtioVga: true,
};

const DEFAULTS: Record<Arch, QemuCaps> = {
  x86_64: {
    arch: 'x86_64',
    binary: '/usr/bin/qemu-system-x86_64',
    version: '7.2.22',
    accels: ['kvm', 'tcg'],
    machines: ['pc-q35-7.2', 'q35', 'pc-i440fx-7.2', 'pc'],
    devices: ALL_DEVICES,
    sandbox: true,
  },
  aarch64: {
    arch: 'aarch64',
    binary: '/usr/bin/qemu-system-aarch64',
    version: '7.2.22',
    accels: ['kvm', 'tcg'],
    machines: ['virt-7.2', 'virt'],
    // No VGA on aarch64's virt machine: virtio-gpu-pci and ramfb are its displays.
    devices: { ...ALL_DEVICES, virtioVga: false },
    sandbox: true,
  },
};

export function fakeQemuCaps(overrides: QemuCapsOverrides = {}): QemuCaps {
  const base = structuredClone(DEFAULTS[overrides.arch ?? 'x86_64']);
  const { devices, ...rest } = overrides;
  return { ...base, ...rest, devices: { ...base.devices, ...devices } };
}
