import { describe, expect, it } from 'vitest';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { sampleUsbDevices } from '../../dev/fake-data.js';
import { deviceRef, entryTakes, storedUsbLabel, usbRows, vmUsb } from './usb-model.js';

const { devices, checks } = sampleUsbDevices();
const receiver = devices.find((d) => d.port === '1-1.2')!;
const stick = devices.find((d) => d.port === '1-1.3')!;

describe('the USB menu rows', () => {
  it('leaves hubs out and ticks what the VM has, by the selector it was asked for', () => {
    const rows = usbRows(devices, checks, [
      { id: 'usb1', device: '0781:5583', attached: true },
      { id: 'usb2', device: '1-1.2', attached: false },
    ]);
    expect(rows.map((r) => r.device.port)).toEqual(['1-1.2', '1-1.3', '1-4']);
    expect(rows.map((r) => [r.attached, r.waiting])).toEqual([
      [false, true],
      [true, false],
      [false, false],
    ]);
  });

  it('greys a device the user cannot open, with the reason and the doctor’s fix for that device', () => {
    const key = usbRows(devices, checks, []).find((r) => r.device.port === '1-4')!;
    expect(key.problem).toMatch(/belongs to root/);
    expect(key.fix?.text).toMatch(/udev rule/);
    expect(key.fix?.command).toMatch(/70-vmdesk-usb-1050-0407\.rules/);
    expect(usbRows(devices, checks, []).find((r) => r.device.port === '1-1.2')!.problem).toBeUndefined();
  });

  it('matches an entry by what QEMU took: vendor, port or address', () => {
    expect(
      entryTakes({ id: 'a', match: { kind: 'vendor', vendorId: '046d', productId: 'c52b' }, attached: true }, receiver),
    ).toBe(true);
    expect(entryTakes({ id: 'a', match: { kind: 'port', bus: 1, port: '1-1.3' }, attached: true }, receiver)).toBe(
      false,
    );
    expect(entryTakes({ id: 'a', match: { kind: 'address', bus: 1, address: 7 }, attached: true }, stick)).toBe(true);
  });

  it('names a device by vendor:product, or by port when a twin is plugged in and the choice is for now only', () => {
    const twin = { ...receiver, port: '1-2', address: 11 };
    expect(deviceRef(receiver, devices, false)).toBe('046d:c52b');
    expect(deviceRef(receiver, [...devices, twin], false)).toBe('1-1.2');
    expect(deviceRef(receiver, [...devices, twin], true)).toBe('046d:c52b');
  });

  it('reads a stopped VM as having none, and names stored ids by a plugged-in device', () => {
    expect(vmUsb({ id: 'x', name: 'x', state: 'stopped', file: '/x' } as VmSummary)).toEqual([]);
    expect(storedUsbLabel({ vendorId: '0781', productId: '5583' }, devices)).toBe(
      '0781:5583 — SanDisk Corp. Ultra Fit',
    );
    expect(storedUsbLabel({ vendorId: '1234', productId: '5678' }, devices)).toBe('1234:5678 (not plugged in now)');
  });
});
