/**
 * `vmdesk usb` through the real CLI, driver and QEMU (TCG). This machine has no USB at all, so
 * the plug-in path that reaches QEMU runs against the sysfs fixture of app/main/host/fixtures/usb
 * (VMDESK_SYSFS_ROOT / VMDESK_DEV_ROOT): vmdesk sees a receiver at port 1-1.2 that it may open,
 * and the real QEMU's usb-host finds no such device on the real host, as it would after an unplug.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { guestIso, Sandbox } from './support/cli.js';

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../app/main/host/fixtures/usb');

let s: Sandbox;

beforeAll(async () => {
  s = new Sandbox();
  // /dev/bus/usb/001/005 of the fixture's receiver, openable by anyone.
  const dev = path.join(s.root, 'devroot');
  fs.mkdirSync(path.join(dev, 'dev/bus/usb/001'), { recursive: true });
  fs.writeFileSync(path.join(dev, 'dev/bus/usb/001/005'), '');
  fs.chmodSync(path.join(dev, 'dev/bus/usb/001/005'), 0o666);
  await s.startDriver({
    VMDESK_SYSFS_ROOT: FIXTURE,
    VMDESK_DEV_ROOT: dev,
    VMDESK_USB_IDS: path.join(FIXTURE, 'usb.ids'),
  });
  await s.json(['define', '--name', 'usbvm', '--memory', '128M', '--disk-size', '16M', '--cdrom', guestIso()]);
  const vm = await s.json<VmSummary>(['start', 'usbvm']);
  expect(vm.state).toBe('running');
}, 180_000);

afterAll(async () => {
  if (s) await s.run(['stop', 'usbvm']);
  s?.cleanup();
});

describe('vmdesk usb on a running VM', () => {
  it('refuses a device that is not plugged in, clearly, and leaves nothing attached', async () => {
    const r = await s.run(['usb', 'attach', 'usbvm', 'dead:beef']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'vmdesk: No USB device dead:beef is plugged into this host. `vmdesk usb list` shows the devices it has.\n',
    );
    const vm = await s.json<VmSummary>(['info', 'usbvm']);
    expect(vm.usb).toBeUndefined();
    expect(vm.definition!.usb).toEqual([]);
  }, 60_000);

  it("takes a device back out when the real QEMU's usb-host cannot hold it, and says so", async () => {
    const r = await s.run(['usb', 'attach', 'usbvm', '1-1.2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^vmdesk: QEMU could not take the USB device port 1-1\.2 \(Logitech USB Receiver\): it is plugged in and .*001\/005 can be opened/,
    );
    // QEMU was asked (device_add, then device_del): nothing is left in it.
    const vm = await s.json<VmSummary>(['info', 'usbvm']);
    expect(vm.usb).toBeUndefined();
    const qemuLog = fs.readFileSync(vm.paths!.qemuLog, 'utf8');
    expect(qemuLog).not.toMatch(/usb-host.*error/i);
  }, 60_000);

  it('lists the devices the driver sees, as JSON and as a table', async () => {
    const json = await s.json<{ devices: { port: string }[]; checks: unknown[] }>(['usb', 'list']);
    expect(json.devices.map((d) => d.port)).toEqual(['1-1.2', '1-1.10', '1-3', '1-4', '2-1']);
    const table = await s.run(['usb', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^PORT +ID +NAME +SPEED +CLASS +USABLE$/);
  }, 60_000);
});

describe('vmdesk usb list on this machine', () => {
  it('works, and this machine has no USB devices', async () => {
    const own = new Sandbox();
    try {
      const r = await own.run(['usb', 'list', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ devices: [], checks: [] });
      expect((await own.run(['usb', 'list'])).stdout).toBe(
        'This host has no USB devices a VM could take (hubs are not listed).\n',
      );
    } finally {
      own.cleanup();
    }
  }, 60_000);
});
