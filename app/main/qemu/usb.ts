/**
 * A host USB device in a VM: QEMU's `usb-host` (libusb) on the VM's xHCI controller, on the
 * command line at start or through QMP `device_add` / `device_del` while it runs.
 *
 * What QEMU 7.2 does (hw/usb/host-libusb.c usb_host_realize, checked against the real binary in
 * usb-real.test.ts):
 * - hostbus + hostaddr alone: opened at once; `device_add` fails with "failed to find host usb
 *   device B:A" (no such device) or "failed to open host usb device B:A" (cannot open the node).
 * - any other match (vendorid/productid, hostbus + hostport): `device_add` always succeeds; the
 *   device joins a watch list that QEMU scans at realize and every 2 s *while the VM runs*, and it
 *   attaches when a matching device can be opened, up to three failed opens per plug-in. So the
 *   only sign of "nothing matches" is the device's QOM property `attached` staying false.
 * Hubs are never matched by the scan. USB unplug needs no guest cooperation: DEVICE_DELETED follows
 * `device_del` at once.
 */
import { VmdeskError } from '../common/errors.js';
import type { AttachedUsb, UsbDevice, UsbHostMatch } from '../common/usb-types.js';
import { checkUsbAccess } from '../host/usb.js';
import type { QmpClient } from './qmp-client.js';
import { QmpCommandError } from './qmp-types.js';

export type { AttachedUsb, UsbHostMatch } from '../common/usb-types.js';

/** The bus of the xHCI controller argv.ts adds to every VM with a display (`qemu-xhci,id=usb`). */
export const USB_BUS = 'usb.0';
/** How long detachUsb waits for DEVICE_DELETED (QEMU sends it right after device_del for USB). */
export const USB_DETACH_TIMEOUT_MS = 5000;

/** What the QMP client must offer; QmpClient does. */
export type UsbQmp = Pick<QmpClient, 'execute' | 'onEvent'>;

const HEX4 = /^[0-9a-f]{4}$/;
const PORT_PATH = /^\d{1,3}(\.\d{1,3}){0,6}$/;
/** QEMU's id rule (qemu/id.c id_wellformed): a letter, then letters, digits, '-', '.', '_'. */
const QEMU_ID = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/;

const SELECTOR_HELP =
  'give VENDOR:PRODUCT (four hex digits each, like 046d:c52b) or BUS-PORT (like 1-1.2), as `vmdesk usb list` shows them';

/** "046d:c52b" → vendor match; "1-1.2" → port match (bus 1, port "1.2"). */
export function parseUsbSelector(text: string): UsbHostMatch {
  const s = text.trim();
  const ids = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$/.exec(s);
  if (ids) return { kind: 'vendor', vendorId: ids[1]!.toLowerCase(), productId: ids[2]!.toLowerCase() };
  const port = /^(\d{1,3})-(\d{1,3}(?:\.\d{1,3}){0,6})$/.exec(s);
  if (port && Number(port[1]) > 0) return { kind: 'port', bus: Number(port[1]), port: port[2]! };
  throw new VmdeskError('invalid-argument', `"${text}" does not name a USB device: ${SELECTOR_HELP}.`);
}

/** How a listed device is matched: by its socket (default), its ids, or its address right now. */
export function usbMatchOf(dev: UsbDevice, by: UsbHostMatch['kind'] = 'port'): UsbHostMatch {
  if (by === 'vendor') return { kind: 'vendor', vendorId: dev.vendorId, productId: dev.productId };
  if (by === 'address') return { kind: 'address', bus: dev.bus, address: dev.address };
  return { kind: 'port', bus: dev.bus, port: dev.port.slice(dev.port.indexOf('-') + 1) };
}

/** The listed devices a match takes (several for vendor:product when identical devices are plugged in). */
export function findHostUsb(devices: readonly UsbDevice[], match: UsbHostMatch): UsbDevice[] {
  return devices.filter((d) =>
    match.kind === 'vendor'
      ? d.vendorId === match.vendorId && d.productId === match.productId
      : match.kind === 'port'
        ? d.bus === match.bus && d.port === `${match.bus}-${match.port}`
        : d.bus === match.bus && d.address === match.address,
  );
}

/** As `vmdesk usb` takes it back: "046d:c52b", "1-1.2" (an address match, never typed: "bus 1 address 5"). */
export function usbSelectorOf(match: UsbHostMatch): string {
  if (match.kind === 'vendor') return `${match.vendorId}:${match.productId}`;
  if (match.kind === 'port') return `${match.bus}-${match.port}`;
  return describeUsbMatch(match);
}

/** For a person: "046d:c52b", "port 1-1.2", "bus 1 address 5". */
export function describeUsbMatch(match: UsbHostMatch): string {
  if (match.kind === 'vendor') return `${match.vendorId}:${match.productId}`;
  if (match.kind === 'port') return `port ${match.bus}-${match.port}`;
  return `bus ${match.bus} address ${match.address}`;
}

function checkMatch(match: UsbHostMatch, id: string): void {
  const bad = (why: string) => {
    throw new VmdeskError('invalid-argument', why);
  };
  if (!QEMU_ID.test(id))
    bad(`"${id}" is not a device id QEMU accepts (a letter, then letters, digits, - . _; like usb1).`);
  if (match.kind === 'vendor') {
    if (!HEX4.test(match.vendorId) || !HEX4.test(match.productId))
      bad(`"${match.vendorId}:${match.productId}" is not a USB vendor:product pair: ${SELECTOR_HELP}.`);
    return;
  }
  // Linux numbers buses from 1; an address is 1..127 (USB 2.0 spec 9.4.6).
  if (!Number.isInteger(match.bus) || match.bus < 1 || match.bus > 255)
    bad(`${match.bus} is not a USB bus number (1 to 255).`);
  if (match.kind === 'port' && !PORT_PATH.test(match.port))
    bad(`"${match.port}" is not a USB port path (like 1 or 1.2.4): ${SELECTOR_HELP}.`);
  if (match.kind === 'address' && (!Number.isInteger(match.address) || match.address < 1 || match.address > 127))
    bad(`${match.address} is not a USB device address (1 to 127).`);
}

/** The properties of `usb-host` for this match, as QMP `device_add` takes them (ids as numbers). */
export function usbHostProps(match: UsbHostMatch, id: string): Record<string, string | number> {
  checkMatch(match, id);
  const where: Record<string, string | number> =
    match.kind === 'vendor'
      ? { vendorid: parseInt(match.vendorId, 16), productid: parseInt(match.productId, 16) }
      : match.kind === 'port'
        ? { hostbus: match.bus, hostport: match.port }
        : { hostbus: match.bus, hostaddr: match.address };
  return { driver: 'usb-host', bus: USB_BUS, ...where, id };
}

/** `-device usb-host,bus=usb.0,vendorid=0x046d,productid=0xc52b,id=usb1` (or hostbus=1,hostport=1.2). */
export function usbHostDeviceArgs(match: UsbHostMatch, id: string): string[] {
  const props = usbHostProps(match, id);
  const text = (k: string, v: string | number) =>
    (k === 'vendorid' || k === 'productid') && typeof v === 'number' ? `0x${v.toString(16).padStart(4, '0')}` : v;
  const { driver, ...rest } = props;
  return ['-device', [driver, ...Object.entries(rest).map(([k, v]) => `${k}=${text(k, v)}`)].join(',')];
}

/** usb1, usb2...: the first not in `taken` (the ids of the VM's devices). */
export function nextUsbHostId(taken: Iterable<string>): string {
  const used = new Set(taken);
  for (let n = 1; ; n++) if (!used.has(`usb${n}`)) return `usb${n}`;
}

export interface UsbAttachSpec {
  /** The QEMU id, like usb1 (see nextUsbHostId). */
  id: string;
  match: UsbHostMatch;
  /** The device as listUsbDevices found it, when known: its access is checked first, and errors name it. */
  host?: UsbDevice;
}

export interface UsbAttachOptions {
  /**
   * When the VM runs and nothing matching could be opened: `fail` (default) takes the device back
   * out and throws; `keep` leaves it waiting, and QEMU attaches it when a matching device appears.
   */
  ifAbsent?: 'fail' | 'keep';
  /** For taking it back out after a failed attach. */
  timeoutMs?: number;
}

export interface UsbAttachResult {
  id: string;
  /**
   * QEMU holds the host device now. False while the VM is paused (QEMU scans for the device only
   * while it runs, and attaches it when the VM continues) or with ifAbsent 'keep'.
   */
  attached: boolean;
}

/**
 * Plugs a host USB device into the running (or paused) VM's xHCI controller. MUST be called with a
 * QMP client in `running` state. Throws VmdeskError: `invalid-argument` (a bad match or id),
 * `unsupported` (the user cannot open the device — the message ends with the fix, `details.fix` is
 * it; the VM has no USB controller; this QEMU has no usb-host), `not-found` (no such device),
 * `invalid-state` (the id is taken), `qemu-failed` (anything else QEMU said).
 */
export async function attachUsb(
  qmp: UsbQmp,
  spec: UsbAttachSpec,
  options: UsbAttachOptions = {},
): Promise<UsbAttachResult> {
  const props = usbHostProps(spec.match, spec.id);
  if (spec.host && !spec.host.access.usable) throw accessError(spec.host, spec.match);
  try {
    await qmp.execute('device_add', props);
  } catch (err) {
    throw usbAttachError(err, spec);
  }
  if (spec.match.kind === 'address') return { id: spec.id, attached: true };
  const status = await qmp.execute<{ running?: boolean }>('query-status');
  if (!status.running) return { id: spec.id, attached: false };
  if (await qmp.execute<boolean>('qom-get', { path: peripheral(spec.id), property: 'attached' }))
    return { id: spec.id, attached: true };
  if (options.ifAbsent === 'keep') return { id: spec.id, attached: false };
  await removeDevice(qmp, spec.id, options.timeoutMs ?? USB_DETACH_TIMEOUT_MS).catch(() => undefined);
  const what = describeUsbMatch(spec.match);
  throw new VmdeskError(
    'not-found',
    spec.host
      ? `QEMU could not take the USB device ${what} (${spec.host.name}): it is plugged in and ${spec.host.node} can be opened, so another program (or VM) may hold it; qemu.log may say more.`
      : `No USB device ${what} is plugged into this host (or QEMU cannot open it): run \`vmdesk usb list\` to see the devices and whether you can use them.`,
    { id: spec.id, match: spec.match },
  );
}

/**
 * Unplugs a usb-host device by id and waits for QEMU's DEVICE_DELETED (up to `timeoutMs`). Throws
 * VmdeskError `not-found` when the VM has no usb-host with that id (any other device — a disk, the
 * controller — is refused rather than unplugged), `timeout` when QEMU does not confirm.
 */
export async function detachUsb(qmp: UsbQmp, id: string, options: { timeoutMs?: number } = {}): Promise<void> {
  const attached = await listAttachedUsb(qmp);
  if (!attached.some((d) => d.id === id)) {
    const ids = attached.map((d) => d.id);
    throw new VmdeskError(
      'not-found',
      `This VM has no host USB device "${id}"; ${ids.length ? `it has ${ids.join(', ')}` : 'it has none'}.`,
      { id },
    );
  }
  await removeDevice(qmp, id, options.timeoutMs ?? USB_DETACH_TIMEOUT_MS);
}

/** The VM's usb-host devices (those with an id), from QOM: what to show, and to adopt after a driver restart. */
export async function listAttachedUsb(qmp: UsbQmp): Promise<AttachedUsb[]> {
  const children = await qmp.execute<{ name: string; type: string }[]>('qom-list', { path: '/machine/peripheral' });
  const ids = children
    .filter((c) => c.type === 'child<usb-host>')
    .map((c) => c.name)
    .sort();
  return Promise.all(
    ids.map(async (id) => {
      const get = <T>(property: string) => qmp.execute<T>('qom-get', { path: peripheral(id), property });
      const [hostbus, hostaddr, hostport, vendorid, productid, attached] = await Promise.all([
        get<number>('hostbus'),
        get<number>('hostaddr'),
        get<string | null>('hostport'),
        get<number>('vendorid'),
        get<number>('productid'),
        get<boolean>('attached'),
      ]);
      const hex = (n: number) => n.toString(16).padStart(4, '0');
      const match: UsbHostMatch | undefined =
        vendorid > 0 && productid > 0
          ? { kind: 'vendor', vendorId: hex(vendorid), productId: hex(productid) }
          : hostbus > 0 && hostport
            ? { kind: 'port', bus: hostbus, port: hostport }
            : hostbus > 0 && hostaddr > 0
              ? { kind: 'address', bus: hostbus, address: hostaddr }
              : undefined;
      return { id, match, attached };
    }),
  );
}

const peripheral = (id: string) => `/machine/peripheral/${id}`;

/** device_del, then DEVICE_DELETED for this id (subscribed first: QEMU may send it before the reply). */
async function removeDevice(qmp: UsbQmp, id: string, timeoutMs: number): Promise<void> {
  let off = (): void => undefined;
  let timer: NodeJS.Timeout | undefined;
  const deleted = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    off = qmp.onEvent((e) => {
      if (e.event === 'DEVICE_DELETED' && (e.data as { device?: unknown }).device === id) resolve(true);
    });
  });
  try {
    try {
      await qmp.execute('device_del', { id });
    } catch (err) {
      if (err instanceof QmpCommandError && err.errorClass === 'DeviceNotFound')
        throw new VmdeskError('not-found', `This VM has no device "${id}" (any more).`, { id });
      throw new VmdeskError('qemu-failed', `QEMU could not unplug USB device "${id}": ${(err as Error).message}`, {
        id,
      });
    }
    if (!(await deleted))
      throw new VmdeskError(
        'timeout',
        `QEMU did not confirm within ${timeoutMs} ms that USB device "${id}" was unplugged; \`vmdesk usb list\` shows whether it still is.`,
        { id },
      );
  } finally {
    clearTimeout(timer);
    off();
  }
}

function accessError(host: UsbDevice, match: UsbHostMatch): VmdeskError {
  const check = checkUsbAccess(host);
  if (host.access.usable === false && host.access.missing)
    return new VmdeskError(
      'not-found',
      `The USB device ${describeUsbMatch(match)} (${host.name}) is gone: ${check.detail}`,
      {
        match,
      },
    );
  const fix = check.fix;
  return new VmdeskError(
    'unsupported',
    `You cannot use the USB device ${host.vendorId}:${host.productId} (${host.name}): ${check.detail}\nFix: ${fix?.command ?? fix?.text ?? ''}`,
    { match, fix },
  );
}

/** QEMU's words for a refused device_add, as a VmdeskError that says what to do. Exported for tests. */
export function usbAttachError(err: unknown, spec: UsbAttachSpec): VmdeskError {
  if (!(err instanceof QmpCommandError))
    return err instanceof VmdeskError
      ? err
      : new VmdeskError('qemu-failed', `QEMU could not attach the USB device: ${(err as Error).message}`);
  const desc = err.desc;
  const what = describeUsbMatch(spec.match);
  const details = { id: spec.id, match: spec.match, qemu: desc };
  if (/^Bus '[^']*' not found|No '[^']*' bus found/.test(desc))
    return new VmdeskError(
      'unsupported',
      'This VM has no USB controller to plug the device into: vmdesk gives a VM its xHCI controller only when it has a display. Give it one (`vmdesk set VM --display std`) and start it again.',
      details,
    );
  if (/^failed to find host usb device/.test(desc))
    return new VmdeskError(
      'not-found',
      `No USB device is at ${what} on this host: it was unplugged, or plugged in again (a device gets a new address each time). Run \`vmdesk usb list\`.`,
      details,
    );
  if (/^failed to open (host usb device|.*Permission denied)/.test(desc)) {
    if (spec.host) return accessError({ ...spec.host, access: deniedOr(spec.host) }, spec.match);
    return new VmdeskError(
      'unsupported',
      `QEMU could not open the USB device at ${what}: its node under /dev/bus/usb is not read-write for you. \`vmdesk usb list\` shows the device and the udev rule that opens it to you.`,
      details,
    );
  }
  if (/^Duplicate device ID/.test(desc))
    return new VmdeskError('invalid-state', `This VM already has a device "${spec.id}": pick another id.`, details);
  if (/'usb-host' is not a valid device model name/.test(desc))
    return new VmdeskError(
      'unsupported',
      'This QEMU was built without USB passthrough (no usb-host device): install a QEMU with libusb support (Debian/Ubuntu: qemu-system-x86 has it).',
      details,
    );
  if (/failed to init libusb/.test(desc))
    return new VmdeskError(
      'unsupported',
      'QEMU could not start libusb, so it cannot reach the host USB devices (in a container, give it /dev/bus/usb and /sys/bus/usb).',
      details,
    );
  return new VmdeskError('qemu-failed', `QEMU could not attach the USB device ${what}: ${desc}`, details);
}

/** QEMU could not open a device vmdesk found usable: report it as denied all the same. */
function deniedOr(host: UsbDevice): UsbDevice['access'] {
  return host.access.usable
    ? { usable: false, missing: false, reason: `QEMU could not open ${host.node} read-write.` }
    : host.access;
}
