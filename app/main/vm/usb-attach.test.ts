/**
 * Host USB devices in a VM, through the registry (vm.usbAttach / vm.usbDetach) with the typed fake
 * QEMU (qemu/testing/fake-launcher.ts). The host's devices are the sysfs fixture of
 * host/fixtures/usb; the fake stands in for QEMU because no host USB device exists on the test
 * machines, so a real QEMU can never hold one (e2e/usb.int.test.ts runs the not-found path on it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import type { UsbDevice } from '../common/usb-types.js';
import { listUsbDevices } from '../host/usb.js';
import { tempAppPaths } from '../paths/testing/temp-paths.js';
import { FakeQemuLauncher } from '../qemu/testing/fake-launcher.js';
import { FakeHost } from './testing/fake-host.js';
import { VmManager } from './vm-manager.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), '../host/fixtures/usb');
const fixture = await listUsbDevices({
  sysRoot: path.join(FIXTURE, 'sys'),
  devRoot: '/nonexistent-dev',
  idsPaths: [path.join(FIXTURE, 'usb.ids')],
});
/** The fixture's devices, each openable unless its port is in `denied`. */
const hostUsb = (denied: string[] = []): UsbDevice[] =>
  fixture.map((d) => ({
    ...d,
    access: denied.includes(d.port)
      ? { usable: false, missing: false, reason: `${d.node} is root:root 0664, so you cannot open it read-write.` }
      : { usable: true },
  }));

let roots: string[] = [];
let managers: VmManager[] = [];
afterEach(async () => {
  for (const m of managers) await m.detachAll();
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  roots = [];
  managers = [];
});

async function setup(devices: () => UsbDevice[] = () => hostUsb()) {
  // Short: the VM's sockets live under it and must fit in 108 bytes.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vu-'));
  roots.push(root);
  const paths = tempAppPaths(root);
  const launcher = new FakeQemuLauncher();
  const m = new VmManager(paths, new FakeHost(), {
    launcher,
    rungTimeoutMs: 200,
    startTimeoutMs: 2000,
    usbDevices: async () => devices(),
  });
  managers.push(m);
  await m.init();
  await m.define({ name: 'vm1', memoryMiB: 64, cpus: 1 });
  return { m, launcher };
}

async function refusal(p: Promise<unknown>): Promise<VmdeskError> {
  const err = await p.then(
    () => new Error('expected a refusal'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VmdeskError);
  return err as VmdeskError;
}

const deviceAdds = (launcher: FakeQemuLauncher) =>
  launcher.last.calls.filter((c) => c.execute === 'device_add').map((c) => c.arguments);

describe('attaching a host USB device to a running VM', () => {
  it('plugs it in by vendor:product, lists it in the summary, and unplugs it by its id', async () => {
    const { m, launcher } = await setup();
    launcher.script = { usbHostFound: true };
    await m.start({ vm: 'vm1' });
    const s = await m.usbAttach({ vm: 'vm1', device: '046d:c52b' });
    expect(deviceAdds(launcher)).toEqual([
      { driver: 'usb-host', bus: 'usb.0', vendorid: 0x046d, productid: 0xc52b, id: 'usb1' },
    ]);
    expect(s.usb).toEqual([{ id: 'usb1', device: '046d:c52b', name: 'Logitech USB Receiver', attached: true }]);
    expect(s.definition!.usb).toEqual([]); // not persisted
    expect(m.get('vm1').usb).toEqual(s.usb);

    const after = await m.usbDetach({ vm: 'vm1', device: 'usb1' });
    expect(after.usb).toBeUndefined();
    expect(launcher.last.usbHosts.size).toBe(0);
  });

  it('with persist, plugs it in by its port and keeps its vendor:product in the definition, with nothing pending', async () => {
    const { m, launcher } = await setup();
    launcher.script = { usbHostFound: true };
    await m.start({ vm: 'vm1' });
    const s = await m.usbAttach({ vm: 'vm1', device: '1-1.2', persist: true });
    expect(deviceAdds(launcher)).toEqual([
      { driver: 'usb-host', bus: 'usb.0', hostbus: 1, hostport: '1.2', id: 'usb1' },
    ]);
    expect(s.usb).toEqual([{ id: 'usb1', device: '1-1.2', name: 'Logitech USB Receiver', attached: true }]);
    expect(s.definition!.usb).toEqual([{ vendorId: '046d', productId: 'c52b' }]);
    expect(s.pending).toBeUndefined();

    // Named by vendor:product, the port-plugged device is found through the host device it holds.
    const after = await m.usbDetach({ vm: 'vm1', device: '046d:c52b', persist: true });
    expect(after.usb).toBeUndefined();
    expect(after.definition!.usb).toEqual([]);
    expect(after.pending).toBeUndefined();
  });

  it("plugs the definition's devices in at start, as usb1.., and shows them", async () => {
    const { m, launcher } = await setup();
    await m.usbAttach({ vm: 'vm1', device: '0bda:8153', persist: true });
    const s = await m.start({ vm: 'vm1' });
    expect(launcher.last.argv.join(' ')).toContain('usb-host,bus=usb.0,vendorid=0x0bda,productid=0x8153,id=usb1');
    // No device QEMU could hold on this fake host: it waits for one (QEMU starts anyway).
    expect(s.usb).toEqual([
      {
        id: 'usb1',
        device: '0bda:8153',
        name: 'Realtek Semiconductor Corp. RTL8153 Gigabit Ethernet Adapter',
        attached: false,
      },
    ]);
    // A second one gets the next free id.
    launcher.last.script.usbHostFound = true;
    const more = await m.usbAttach({ vm: 'vm1', device: '1-4' });
    expect(more.usb!.map((u) => [u.id, u.device])).toEqual([
      ['usb1', '0bda:8153'],
      ['usb2', '1-4'],
    ]);
  });

  it('refuses a device that is not plugged in, without touching QEMU', async () => {
    const { m, launcher } = await setup();
    await m.start({ vm: 'vm1' });
    const err = await refusal(m.usbAttach({ vm: 'vm1', device: 'dead:beef' }));
    expect(err.code).toBe('not-found');
    expect(err.message).toBe(
      'No USB device dead:beef is plugged into this host. `vmdesk usb list` shows the devices it has.',
    );
    expect(deviceAdds(launcher)).toEqual([]);
  });

  it('takes the device back out when QEMU cannot hold it, leaving nothing attached', async () => {
    const { m, launcher } = await setup();
    await m.start({ vm: 'vm1' }); // usbHostFound unset: QEMU's `attached` stays false
    const err = await refusal(m.usbAttach({ vm: 'vm1', device: '046d:c52b' }));
    expect(err.code).toBe('not-found');
    expect(err.message).toMatch(/QEMU could not take the USB device 046d:c52b \(Logitech USB Receiver\)/);
    expect(launcher.last.commands).toContain('device_del');
    expect(launcher.last.usbHosts.size).toBe(0);
    expect(m.get('vm1').usb).toBeUndefined();
  });

  it('asks for the port when two plugged-in devices have the ids', async () => {
    const twin: UsbDevice = { ...hostUsb()[0]!, port: '1-3', address: 9 };
    const { m, launcher } = await setup(() => [...hostUsb().filter((d) => d.port !== '1-3'), twin]);
    launcher.script = { usbHostFound: true };
    await m.start({ vm: 'vm1' });
    const err = await refusal(m.usbAttach({ vm: 'vm1', device: '046d:c52b' }));
    expect(err.code).toBe('invalid-argument');
    expect(err.message).toBe(
      '2 USB devices are 046d:c52b (at ports 1-1.2, 1-3): name one by its port, like vmdesk usb attach "vm1" 1-1.2.',
    );
    expect((await m.usbAttach({ vm: 'vm1', device: '1-3' })).usb).toEqual([
      { id: 'usb1', device: '1-3', name: 'Logitech USB Receiver', attached: true },
    ]);
  });

  it('refuses a device another running VM has, naming that VM and how to free it', async () => {
    const { m, launcher } = await setup();
    launcher.script = { usbHostFound: true };
    await m.define({ name: 'vm2', memoryMiB: 64, cpus: 1 });
    await m.start({ vm: 'vm1' });
    await m.start({ vm: 'vm2' });
    await m.usbAttach({ vm: 'vm1', device: '1-1.2' });
    const err = await refusal(m.usbAttach({ vm: 'vm2', device: '046d:c52b' }));
    expect(err.code).toBe('invalid-state');
    expect(err.message).toBe(
      'The USB device 046d:c52b (Logitech USB Receiver) is plugged into the VM "vm1" (as usb1); a device can be in one VM at a time. Detach it there first: vmdesk usb detach "vm1" usb1.',
    );
    const again = await refusal(m.usbAttach({ vm: 'vm1', device: '046d:c52b' }));
    expect(again.message).toMatch(/^"vm1" has the USB device 046d:c52b \(Logitech USB Receiver\) already, as usb1\./);
  });

  it('refuses a device the user cannot open, with the udev rule that fixes it', async () => {
    const { m, launcher } = await setup(() => hostUsb(['1-1.2']));
    await m.start({ vm: 'vm1' });
    const err = await refusal(m.usbAttach({ vm: 'vm1', device: '046d:c52b' }));
    expect(err.code).toBe('unsupported');
    expect(err.message).toMatch(/^You cannot use the USB device 046d:c52b \(Logitech USB Receiver\): /);
    expect(err.message).toContain('/etc/udev/rules.d/70-vmdesk-usb-046d-c52b.rules');
    expect(err.details).toMatchObject({
      fix: { privileged: true, action: { kind: 'usb-rule', vendorId: '046d', productId: 'c52b' } },
    });
    expect(deviceAdds(launcher)).toEqual([]);
    expect((await m.usbDevices()).checks).toEqual([
      expect.objectContaining({ id: 'usb-access', status: 'fail', device: '1-1.2' }),
    ]);
  });

  it('refuses a VM without a display: it has no USB controller', async () => {
    const { m } = await setup();
    await m.update({ vm: 'vm1', display: 'none' });
    await m.start({ vm: 'vm1' });
    const err = await refusal(m.usbAttach({ vm: 'vm1', device: '046d:c52b' }));
    expect(err.code).toBe('unsupported');
    expect(err.message).toBe(
      '"vm1" has no display, and so no USB controller to plug a device into. Give it one (vmdesk set "vm1" --display std) and start it again.',
    );
  });

  it('says what is attached when asked to detach a device the VM does not have', async () => {
    const { m, launcher } = await setup();
    launcher.script = { usbHostFound: true };
    await m.start({ vm: 'vm1' });
    await m.usbAttach({ vm: 'vm1', device: '1-4' });
    const err = await refusal(m.usbDetach({ vm: 'vm1', device: '046d:c52b' }));
    expect(err.code).toBe('not-found');
    expect(err.message).toBe('"vm1" has no host USB device 046d:c52b; it has usb1 (1-4).');
  });
});

describe('a VM that is off', () => {
  it('refuses an attach without persist, saying to start it or use persist', async () => {
    const { m, launcher } = await setup();
    const err = await refusal(m.usbAttach({ vm: 'vm1', device: '046d:c52b' }));
    expect(err.code).toBe('invalid-state');
    expect(err.message).toBe(
      '"vm1" is stopped, so no USB device can be plugged into it now. Start it first, or keep the device in its definition for its next start: vmdesk usb attach "vm1" 046d:c52b --persist.',
    );
    expect(launcher.spawnCount).toBe(0);
  });

  it('with persist, changes only its definition (a port is stored as the vendor:product there)', async () => {
    const { m, launcher } = await setup();
    expect((await m.usbAttach({ vm: 'vm1', device: '1-1.10', persist: true })).definition!.usb).toEqual([
      { vendorId: '0bda', productId: '8153' },
    ]);
    // Not plugged in now is fine for the definition: QEMU takes it when it appears.
    expect((await m.usbAttach({ vm: 'vm1', device: 'dead:beef', persist: true })).definition!.usb).toEqual([
      { vendorId: '0bda', productId: '8153' },
      { vendorId: 'dead', productId: 'beef' },
    ]);
    expect((await m.usbDetach({ vm: 'vm1', device: 'dead:beef', persist: true })).definition!.usb).toEqual([
      { vendorId: '0bda', productId: '8153' },
    ]);
    const err = await refusal(m.usbDetach({ vm: 'vm1', device: '046d:c52b', persist: true }));
    expect(err.message).toBe('"vm1" does not plug in 046d:c52b at its start; it plugs in 0bda:8153.');
    expect(launcher.spawnCount).toBe(0);
  });
});
