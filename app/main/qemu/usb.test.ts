// The usb-host pieces, first against a scripted QMP peer, which stands in for QEMU only for what
// this machine's QEMU cannot show (there is no host USB device here: an attach that succeeds, an
// open refused for permissions); then the same calls against the real QEMU (the last describe).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import { listUsbDevices, type UsbDevice } from '../host/usb.js';
import { QmpClient } from './qmp-client.js';
import { QmpCommandError, type QmpEvent } from './qmp-types.js';
import {
  attachUsb,
  describeUsbMatch,
  detachUsb,
  findHostUsb,
  listAttachedUsb,
  nextUsbHostId,
  parseUsbSelector,
  usbAttachError,
  usbHostDeviceArgs,
  usbHostProps,
  usbMatchOf,
  type UsbQmp,
} from './usb.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, '../host/fixtures/usb');

type Reply = unknown | QmpCommandError | ((args: Record<string, unknown> | undefined) => unknown);

/** A typed QMP peer: replies per command (a value, an error to throw, or a function of the args). */
class ScriptedQmp implements UsbQmp {
  readonly calls: string[] = [];
  readonly #listeners = new Set<(e: QmpEvent) => void>();
  constructor(readonly replies: Record<string, Reply>) {}

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    this.calls.push(args ? `${command} ${JSON.stringify(args)}` : command);
    const r = command in this.replies ? this.replies[command] : {};
    if (r instanceof QmpCommandError) return Promise.reject(r);
    const value = typeof r === 'function' ? (r as (a: typeof args) => unknown)(args) : r;
    return Promise.resolve(value as T);
  }

  onEvent(listener: (e: QmpEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  emit(event: string, data: Record<string, unknown>): void {
    for (const l of this.#listeners) l({ event, data, timestamp: { seconds: 0, microseconds: 0 } });
  }
}

const refused = (command: string, desc: string, cls = 'GenericError') => new QmpCommandError(command, cls, desc);

const devices = await listUsbDevices({
  sysRoot: path.join(FIXTURE, 'sys'),
  devRoot: '/nonexistent-dev',
  idsPaths: [path.join(FIXTURE, 'usb.ids')],
});
const receiver = devices.find((d) => d.port === '1-1.2')!;
const usable: UsbDevice = { ...receiver, access: { usable: true } };
const denied: UsbDevice = {
  ...receiver,
  access: { usable: false, missing: false, reason: '/dev/bus/usb/001/005 is root:root 0664, so you cannot open it.' },
};

async function rejection(p: Promise<unknown>): Promise<VmdeskError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VmdeskError);
  return err as VmdeskError;
}

describe('naming a host USB device', () => {
  it('reads VENDOR:PRODUCT and BUS-PORT as `vmdesk usb list` prints them', () => {
    expect(parseUsbSelector('046D:c52b')).toEqual({ kind: 'vendor', vendorId: '046d', productId: 'c52b' });
    expect(parseUsbSelector(' 1-1.2 ')).toEqual({ kind: 'port', bus: 1, port: '1.2' });
    expect(parseUsbSelector('3-2')).toEqual({ kind: 'port', bus: 3, port: '2' });
  });

  it('refuses anything else, saying the two forms', () => {
    for (const bad of ['046d', '046d:c52', 'usb1', '1-1:1.0', '0-1', '1-', 'x-1.2', '001/005']) {
      expect(() => parseUsbSelector(bad)).toThrow(/does not name a USB device: give VENDOR:PRODUCT .* or BUS-PORT/);
    }
  });

  it('matches a listed device by socket, ids or address, and finds it again', () => {
    expect(usbMatchOf(receiver)).toEqual({ kind: 'port', bus: 1, port: '1.2' });
    expect(usbMatchOf(receiver, 'vendor')).toEqual({ kind: 'vendor', vendorId: '046d', productId: 'c52b' });
    expect(usbMatchOf(receiver, 'address')).toEqual({ kind: 'address', bus: 1, address: 5 });
    for (const by of ['port', 'vendor', 'address'] as const)
      expect(findHostUsb(devices, usbMatchOf(receiver, by)).map((d) => d.port)).toEqual(['1-1.2']);
    expect(findHostUsb(devices, parseUsbSelector('1-1.1'))).toEqual([]);
    expect(describeUsbMatch(usbMatchOf(receiver))).toBe('port 1-1.2');
  });

  it('gives ids usb1, usb2... skipping those taken', () => {
    expect(nextUsbHostId([])).toBe('usb1');
    expect(nextUsbHostId(['usb', 'usb1', 'usb3'])).toBe('usb2');
  });
});

describe('usbHostDeviceArgs', () => {
  it('puts the device on the xHCI bus by ids, socket or address', () => {
    expect(usbHostDeviceArgs({ kind: 'vendor', vendorId: '046d', productId: 'c52b' }, 'usb1')).toEqual([
      '-device',
      'usb-host,bus=usb.0,vendorid=0x046d,productid=0xc52b,id=usb1',
    ]);
    expect(usbHostDeviceArgs({ kind: 'port', bus: 1, port: '1.2' }, 'usb2')).toEqual([
      '-device',
      'usb-host,bus=usb.0,hostbus=1,hostport=1.2,id=usb2',
    ]);
    expect(usbHostDeviceArgs({ kind: 'address', bus: 3, address: 17 }, 'usb3')).toEqual([
      '-device',
      'usb-host,bus=usb.0,hostbus=3,hostaddr=17,id=usb3',
    ]);
  });

  it('gives QMP the same properties, ids as numbers', () => {
    expect(usbHostProps({ kind: 'vendor', vendorId: '0781', productId: '5583' }, 'usb1')).toEqual({
      driver: 'usb-host',
      bus: 'usb.0',
      vendorid: 0x0781,
      productid: 0x5583,
      id: 'usb1',
    });
  });

  it('refuses what would smuggle options into the device string', () => {
    const cases: [Parameters<typeof usbHostProps>[0], string, RegExp][] = [
      [{ kind: 'port', bus: 1, port: '1,hostdevice=/etc/shadow' }, 'usb1', /is not a USB port path/],
      [{ kind: 'vendor', vendorId: '46d', productId: 'c52b' }, 'usb1', /is not a USB vendor:product pair/],
      [{ kind: 'address', bus: 1, address: 128 }, 'usb1', /not a USB device address \(1 to 127\)/],
      [{ kind: 'address', bus: 0, address: 1 }, 'usb1', /not a USB bus number/],
      [{ kind: 'port', bus: 1, port: '2' }, 'usb1,bus=x', /not a device id QEMU accepts/],
    ];
    for (const [match, id, why] of cases) expect(() => usbHostDeviceArgs(match, id)).toThrow(why);
  });
});

describe('attachUsb', () => {
  const port = { kind: 'port', bus: 1, port: '1.2' } as const;

  it('plugs the device in and reports it attached when QEMU holds it', async () => {
    const qmp = new ScriptedQmp({ 'query-status': { running: true, status: 'running' }, 'qom-get': true });
    expect(await attachUsb(qmp, { id: 'usb1', match: port, host: usable })).toEqual({ id: 'usb1', attached: true });
    expect(qmp.calls).toEqual([
      'device_add {"driver":"usb-host","bus":"usb.0","hostbus":1,"hostport":"1.2","id":"usb1"}',
      'query-status',
      'qom-get {"path":"/machine/peripheral/usb1","property":"attached"}',
    ]);
  });

  it('on a paused VM leaves the device for QEMU to attach when the VM continues', async () => {
    const qmp = new ScriptedQmp({ 'query-status': { running: false, status: 'paused' } });
    expect(await attachUsb(qmp, { id: 'usb1', match: port })).toEqual({ id: 'usb1', attached: false });
    expect(qmp.calls.some((c) => c.startsWith('qom-get'))).toBe(false);
  });

  it('refuses a device the user cannot open before asking QEMU, with the udev rule as the fix', async () => {
    const qmp = new ScriptedQmp({});
    const err = await rejection(attachUsb(qmp, { id: 'usb1', match: port, host: denied }));
    expect(qmp.calls).toEqual([]);
    expect(err.code).toBe('unsupported');
    expect(err.message).toMatch(/^You cannot use the USB device 046d:c52b \(Logitech USB Receiver\): .*0664/);
    expect(err.message).toMatch(/\nFix: printf .*70-vmdesk-usb-046d-c52b\.rules.*udevadm trigger/);
    expect(err.details?.['fix']).toMatchObject({ action: { kind: 'usb-rule', vendorId: '046d', productId: 'c52b' } });
  });

  it('takes the device back out and says so when nothing matching is plugged into a running VM', async () => {
    const qmp = new ScriptedQmp({
      'query-status': { running: true },
      'qom-get': false,
      device_del: (a: Record<string, unknown> | undefined) => {
        setImmediate(() => qmp.emit('DEVICE_DELETED', { device: a?.['id'], path: `/machine/peripheral/${a?.['id']}` }));
        return {};
      },
    });
    const err = await rejection(attachUsb(qmp, { id: 'usb4', match: parseUsbSelector('dead:beef') }));
    expect(err.code).toBe('not-found');
    expect(err.message).toBe(
      'No USB device dead:beef is plugged into this host (or QEMU cannot open it): run `vmdesk usb list` to see the devices and whether you can use them.',
    );
    expect(qmp.calls.at(-1)).toBe('device_del {"id":"usb4"}');
  });

  it("leaves it waiting for the device with ifAbsent 'keep'", async () => {
    const qmp = new ScriptedQmp({ 'query-status': { running: true }, 'qom-get': false });
    const r = await attachUsb(qmp, { id: 'usb1', match: parseUsbSelector('dead:beef') }, { ifAbsent: 'keep' });
    expect(r).toEqual({ id: 'usb1', attached: false });
    expect(qmp.calls.some((c) => c.startsWith('device_del'))).toBe(false);
  });
});

describe("QEMU's refusals, said clearly", () => {
  const spec = { id: 'usb1', match: { kind: 'address', bus: 1, address: 5 } } as const;
  const cases: [string, string, RegExp][] = [
    ['unsupported', "Bus 'usb.0' not found", /no USB controller .*only when it has a display.*--display std/],
    ['not-found', 'failed to find host usb device 1:5', /No USB device is at bus 1 address 5 .*new address each time/],
    [
      'unsupported',
      'failed to open host usb device 1:5',
      /could not open the USB device at bus 1 address 5.*udev rule/,
    ],
    ['invalid-state', "Duplicate device ID 'usb1'", /already has a device "usb1"/],
    ['unsupported', "'usb-host' is not a valid device model name", /built without USB passthrough/],
    ['unsupported', 'failed to init libusb', /could not start libusb/],
    ['qemu-failed', 'something new', /could not attach the USB device bus 1 address 5: something new$/],
  ];
  it.each(cases)('%s ← %s', (code, desc, message) => {
    const err = usbAttachError(refused('device_add', desc), spec);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect(err.details?.['qemu']).toBe(desc);
  });

  it('names the fix when QEMU cannot open a device the user picked from the list', () => {
    const err = usbAttachError(refused('device_add', 'failed to open host usb device 1:5'), { ...spec, host: usable });
    expect(err.code).toBe('unsupported');
    expect(err.message).toMatch(/QEMU could not open .*001\/005 read-write.*\nFix: printf/);
  });

  it('runs device_add through the translation', async () => {
    const qmp = new ScriptedQmp({ device_add: refused('device_add', "Bus 'usb.0' not found") });
    expect((await rejection(attachUsb(qmp, spec))).message).toMatch(/no USB controller/);
  });
});

describe('detachUsb and listAttachedUsb', () => {
  const peripherals = [
    { name: 'type', type: 'string' },
    { name: 'usb', type: 'child<qemu-xhci>' },
    { name: 'usb2', type: 'child<usb-host>' },
    { name: 'usb1', type: 'child<usb-host>' },
  ];
  const props: Record<string, Record<string, unknown>> = {
    usb1: { hostbus: 1, hostaddr: 0, hostport: '1.2', vendorid: 0, productid: 0, attached: true },
    usb2: { hostbus: 0, hostaddr: 0, hostport: null, vendorid: 0xdead, productid: 0xbeef, attached: false },
  };
  const qom = (): Record<string, Reply> => ({
    'qom-list': peripherals,
    'qom-get': (a: Record<string, unknown> | undefined) =>
      props[String(a?.['path']).split('/').pop()!]![String(a?.['property'])],
  });

  it("lists the VM's usb-host devices with what they match", async () => {
    expect(await listAttachedUsb(new ScriptedQmp(qom()))).toEqual([
      { id: 'usb1', match: { kind: 'port', bus: 1, port: '1.2' }, attached: true },
      { id: 'usb2', match: { kind: 'vendor', vendorId: 'dead', productId: 'beef' }, attached: false },
    ]);
  });

  it('unplugs by id and waits for DEVICE_DELETED', async () => {
    const qmp: ScriptedQmp = new ScriptedQmp({
      ...qom(),
      device_del: () => {
        qmp.emit('DEVICE_DELETED', { device: 'usb2' }); // before the reply, as QEMU may
        return {};
      },
    });
    await detachUsb(qmp, 'usb2');
    expect(qmp.calls.at(-1)).toBe('device_del {"id":"usb2"}');
  });

  it('refuses an id that is not a host USB device (the controller, a disk) without unplugging it', async () => {
    for (const id of ['usb', 'usb7', 'virtio-disk1']) {
      const qmp = new ScriptedQmp(qom());
      const err = await rejection(detachUsb(qmp, id));
      expect(err.code).toBe('not-found');
      expect(err.message).toBe(`This VM has no host USB device "${id}"; it has usb1, usb2.`);
      expect(qmp.calls.some((c) => c.startsWith('device_del'))).toBe(false);
    }
  });

  it('says when QEMU does not confirm the unplug in time', async () => {
    const qmp = new ScriptedQmp(qom());
    const err = await rejection(detachUsb(qmp, 'usb1', { timeoutMs: 20 }));
    expect(err.code).toBe('timeout');
    expect(err.message).toMatch(/did not confirm within 20 ms that USB device "usb1" was unplugged/);
  });
});

// ---------------------------------------------------------------------------------------------
// Against this machine's real QEMU (TCG, q35, no disk, no guest): nothing boots beyond the firmware's
// "no bootable device" loop, so it stays a unit test like host/qemu-real.test.ts. The host has no
// USB device QEMU could take (and needs none): each test names one that does not exist and checks
// what QEMU really does with it.

const QEMU = 'qemu-system-x86_64';
const haveQemu = spawnSync(QEMU, ['--version']).status === 0;
if (!haveQemu) console.warn(`[usb-real.test] no ${QEMU} on this machine: skipping the real-QEMU USB tests`);

interface Vm {
  qmp: QmpClient;
  child: ChildProcess;
  exited: Promise<void>;
}
const running: Vm[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const vm of running.splice(0)) {
    vm.child.kill('SIGKILL');
    await vm.exited;
    await vm.qmp.close();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Paused (-S) q35 with an xHCI controller as argv.ts gives a VM with a display, or without one. */
async function startQemu(xhci = true): Promise<Vm> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vmdesk-usb-qemu-'));
  dirs.push(dir);
  const sock = path.join(dir, 'qmp.sock');
  const argv = ['-accel', 'tcg', '-machine', 'q35', '-m', '64', '-display', 'none', '-nodefaults'];
  if (xhci) argv.push('-device', 'qemu-xhci,id=usb');
  argv.push('-qmp', `unix:${sock},server=on,wait=off`, '-S');
  const child = spawn(QEMU, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const qmp = new QmpClient(sock, { connectRetryMs: 10_000 });
  const vm = { qmp, child, exited };
  running.push(vm);
  await qmp.connect();
  return vm;
}

describe.skipIf(!haveQemu)('host USB devices in a real QEMU', () => {
  it('refuses a bus and address where no device is, with a clear error, and keeps nothing', async () => {
    const { qmp } = await startQemu();
    const err = await rejection(attachUsb(qmp, { id: 'usb1', match: { kind: 'address', bus: 99, address: 99 } }));
    expect(err.code).toBe('not-found');
    expect(err.message).toMatch(/^No USB device is at bus 99 address 99 on this host: .*`vmdesk usb list`/);
    expect(err.details?.['qemu']).toBe('failed to find host usb device 99:99');
    expect(await listAttachedUsb(qmp)).toEqual([]);
  });

  it('on a running VM, takes back a vendor:product nothing matches and says it is not plugged in', async () => {
    const { qmp } = await startQemu();
    await qmp.execute('cont');
    const err = await rejection(attachUsb(qmp, { id: 'usb1', match: parseUsbSelector('dead:beef') }));
    expect(err.code).toBe('not-found');
    expect(err.message).toMatch(/^No USB device dead:beef is plugged into this host/);
    expect(await listAttachedUsb(qmp)).toEqual([]);
  });

  it('on a paused VM, adds the device for QEMU to attach once it runs; detach takes it out', async () => {
    const { qmp } = await startQemu();
    const r = await attachUsb(qmp, { id: 'usb1', match: parseUsbSelector('1-4.3') });
    expect(r).toEqual({ id: 'usb1', attached: false });
    expect(await listAttachedUsb(qmp)).toEqual([
      { id: 'usb1', match: { kind: 'port', bus: 1, port: '4.3' }, attached: false },
    ]);
    // The same id twice
    const dup = await rejection(attachUsb(qmp, { id: 'usb1', match: parseUsbSelector('dead:beef') }));
    expect(dup.code).toBe('invalid-state');
    await detachUsb(qmp, 'usb1');
    expect(await listAttachedUsb(qmp)).toEqual([]);
  });

  it("keeps waiting for the device with ifAbsent 'keep' on a running VM", async () => {
    const { qmp } = await startQemu();
    await qmp.execute('cont');
    const r = await attachUsb(qmp, { id: 'usb2', match: parseUsbSelector('DEAD:BEEF') }, { ifAbsent: 'keep' });
    expect(r).toEqual({ id: 'usb2', attached: false });
    expect(await listAttachedUsb(qmp)).toEqual([
      { id: 'usb2', match: { kind: 'vendor', vendorId: 'dead', productId: 'beef' }, attached: false },
    ]);
  });

  it('says the VM has no USB controller when it has no xHCI (no display)', async () => {
    const { qmp } = await startQemu(false);
    const err = await rejection(attachUsb(qmp, { id: 'usb1', match: parseUsbSelector('dead:beef') }));
    expect(err.code).toBe('unsupported');
    expect(err.message).toMatch(/^This VM has no USB controller to plug the device into/);
  });

  it('refuses to detach an id it did not attach, and never unplugs the controller', async () => {
    const { qmp } = await startQemu();
    for (const id of ['nosuch', 'usb']) {
      const err = await rejection(detachUsb(qmp, id));
      expect(err.code).toBe('not-found');
      expect(err.message).toBe(`This VM has no host USB device "${id}"; it has none.`);
    }
    const children = await qmp.execute<{ name: string }[]>('qom-list', { path: '/machine/peripheral' });
    expect(children.map((c) => c.name)).toContain('usb');
  });
});
