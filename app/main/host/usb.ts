/**
 * The host's USB devices, as QEMU's `usb-host` can take them: read from sysfs
 * (`/sys/bus/usb/devices/<port path>`), named from the device's own strings or usb.ids, and checked
 * against `/dev/bus/usb/BBB/DDD`, which QEMU opens read-write (libusb) to pass a device through.
 *
 * Skipped: interfaces (`1-1:1.0`), root hubs (`usb1`), and hubs (class 09) unless asked for —
 * QEMU's usb-host never takes a hub by vendor or port (hw/usb/host-libusb.c usb_host_auto_check
 * skips LIBUSB_CLASS_HUB), and passing a hub would not pass what is plugged into it.
 *
 * A device can vanish between two reads (unplugged mid-listing): a directory whose bus number,
 * address or ids cannot be read is left out; the other files are optional.
 */
import { constants } from 'node:fs';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import type { UsbAccess, UsbCheck, UsbDevice, UsbFix, UsbSpeed } from '../common/usb-types.js';
import { createHwIdsLookup, type HwIdsLookup } from './hw-ids.js';

export type { UsbAccess, UsbCheck, UsbDevice, UsbFix, UsbRuleAction, UsbSpeed } from '../common/usb-types.js';

/** Where usbutils' database lives on Debian/Ubuntu (usb.ids package), older usbutils, Fedora (hwdata). */
export const USB_IDS_PATHS = ['/usr/share/misc/usb.ids', '/var/lib/usbutils/usb.ids', '/usr/share/hwdata/usb.ids'];

export interface ListUsbOptions {
  /** Where sysfs is mounted (default /sys); devices are read from <sysRoot>/bus/usb/devices. */
  sysRoot?: string;
  /** Where devtmpfs is mounted (default /dev); nodes are <devRoot>/bus/usb/BBB/DDD. */
  devRoot?: string;
  /** usb.ids candidates, first readable wins; read only when a device lacks its own names. */
  idsPaths?: readonly string[];
  /**
   * Whose access to check. Default: this process, through access(2), which also honours the ACL
   * that udev's `uaccess` tag adds. With `uid` given, the verdict is from owner, group and mode
   * alone (an ACL is not seen).
   */
  uid?: number;
  /** With `uid`: the user's groups, primary included. Default: this process's groups. */
  gids?: readonly number[];
  /** List hubs too (class 09); root hubs are never listed. */
  includeHubs?: boolean;
}

/**
 * Where the driver reads USB devices: the real host, or a fixture named by the same variables as
 * the mdev layer's (prefixes: VMDESK_SYSFS_ROOT=/t reads /t/sys/bus/usb, VMDESK_DEV_ROOT=/t opens
 * /t/dev/bus/usb), and VMDESK_USB_IDS for the names database. Relative values are ignored.
 */
export function usbListOptionsFromEnv(env: NodeJS.ProcessEnv): ListUsbOptions {
  const abs = (v: string | undefined) => (v && path.isAbsolute(v) ? v : undefined);
  const sys = abs(env.VMDESK_SYSFS_ROOT);
  const dev = abs(env.VMDESK_DEV_ROOT);
  const ids = abs(env.VMDESK_USB_IDS);
  return {
    ...(sys ? { sysRoot: path.join(sys, 'sys') } : {}),
    ...(dev ? { devRoot: path.join(dev, 'dev') } : {}),
    ...(ids ? { idsPaths: [ids] } : {}),
  };
}

/** What `host.usbDevices` answers: the devices, and a check with its fix for each one the user cannot open. */
export function usbReport(devices: UsbDevice[]): { devices: UsbDevice[]; checks: UsbCheck[] } {
  return { devices, checks: devices.filter((d) => !d.access.usable).map(checkUsbAccess) };
}

const CLASS_NAMES: Record<string, string> = {
  '00': 'per-interface',
  '01': 'audio',
  '02': 'communications',
  '03': 'hid',
  '06': 'image',
  '07': 'printer',
  '08': 'mass-storage',
  '09': 'hub',
  '0a': 'cdc-data',
  '0b': 'smart-card',
  '0e': 'video',
  '0f': 'health',
  '10': 'audio-video',
  dc: 'diagnostic',
  e0: 'wireless',
  ef: 'misc',
  fe: 'application-specific',
  ff: 'vendor-specific',
};

/** A device directory: "1-1", "1-1.2.4", "3-2"; not "usb1" (a root hub) nor "1-1:1.0" (an interface). */
const DEVICE_DIR = /^\d+-\d+(\.\d+)*$/;
/** An interface directory "1-1.2:1.0" (configuration 1, interface 0) → its device "1-1.2". */
const INTERFACE_DIR = /^(\d+-\d+(?:\.\d+)*):\d+\.\d+$/;
const HEX4 = /^[0-9a-f]{4}$/;

/** Every USB device of the host, sorted by bus, then port path (numerically: 1-1.2 before 1-1.10). */
export async function listUsbDevices(opts: ListUsbOptions = {}): Promise<UsbDevice[]> {
  const sysRoot = opts.sysRoot ?? '/sys';
  const devRoot = opts.devRoot ?? '/dev';
  const dir = path.join(sysRoot, 'bus', 'usb', 'devices');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return []; // no USB at all (a VM, a container without /sys/bus/usb)
  }
  const ids = createHwIdsLookup(opts.idsPaths ?? USB_IDS_PATHS);
  const who = opts.uid === undefined ? undefined : { uid: opts.uid, gids: opts.gids ?? processGids() };
  const interfaces = new Map<string, string[]>();
  for (const n of names) {
    const m = INTERFACE_DIR.exec(n);
    if (m) interfaces.set(m[1]!, [...(interfaces.get(m[1]!) ?? []), path.join(dir, n)]);
  }
  const found = await Promise.all(
    names
      .filter((n) => DEVICE_DIR.test(n))
      .map((n) => readDevice(path.join(dir, n), n, interfaces.get(n) ?? [], devRoot, ids, who)),
  );
  return found
    .filter((d): d is UsbDevice => d !== undefined && (opts.includeHubs === true || d.deviceClass !== '09'))
    .sort(comparePorts);
}

async function readDevice(
  dir: string,
  port: string,
  interfaceDirs: readonly string[],
  devRoot: string,
  ids: HwIdsLookup,
  who: { uid: number; gids: readonly number[] } | undefined,
): Promise<UsbDevice | undefined> {
  const read = (f: string) => readFile(path.join(dir, f), 'utf8').then(clean, () => undefined);
  const [busnum, devnum, idVendor, idProduct, manufacturer, product, serial, speed, bDeviceClass] = await Promise.all(
    ['busnum', 'devnum', 'idVendor', 'idProduct', 'manufacturer', 'product', 'serial', 'speed', 'bDeviceClass'].map(
      read,
    ),
  );
  const bus = Number(busnum);
  const address = Number(devnum);
  const vendorId = idVendor?.toLowerCase();
  const productId = idProduct?.toLowerCase();
  if (!(bus > 0) || !(address > 0) || !vendorId || !productId || !HEX4.test(vendorId) || !HEX4.test(productId))
    return undefined; // half-unplugged, or not a device directory after all
  let vendorName = manufacturer;
  let productName = product;
  if (!vendorName || !productName) {
    const db = await ids.lookup(vendorId, productId);
    vendorName ||= db.vendorName;
    productName ||= db.deviceName;
  }
  const deviceClass = hexClass(bDeviceClass);
  // Class 00: each interface says what it is (a receiver's two HID interfaces, a stick's storage).
  const ifaceClasses =
    deviceClass === '00'
      ? (
          await Promise.all(
            [...interfaceDirs].sort().map((d) =>
              readFile(path.join(d, 'bInterfaceClass'), 'utf8').then(
                (s) => hexClass(clean(s)),
                () => undefined,
              ),
            ),
          )
        ).filter((c): c is string => c !== undefined)
      : [];
  const className =
    ifaceClasses.length > 0
      ? [...new Set(ifaceClasses.map((c) => CLASS_NAMES[c] ?? `class-${c}`))].join('+')
      : deviceClass && CLASS_NAMES[deviceClass];
  const node = path.join(devRoot, 'bus', 'usb', pad3(bus), pad3(address));
  const speedMbps = speed !== undefined && Number.isFinite(Number(speed)) && speed !== '' ? Number(speed) : undefined;
  return {
    port,
    bus,
    address,
    vendorId,
    productId,
    ...(vendorName ? { vendorName } : {}),
    ...(productName ? { productName } : {}),
    name: deviceName(vendorId, productId, vendorName, productName),
    ...(serial ? { serial } : {}),
    speed: speedOf(speedMbps),
    ...(speedMbps !== undefined ? { speedMbps } : {}),
    ...(deviceClass ? { deviceClass } : {}),
    ...(className ? { className } : {}),
    node,
    access: await nodeAccess(node, who),
  };
}

/** sysfs strings end with a newline; some devices pad theirs with spaces or NULs. */
const clean = (s: string): string | undefined => s.replace(/\0/g, '').trim() || undefined;

const pad3 = (n: number) => String(n).padStart(3, '0');

const hexClass = (s: string | undefined) => (s && /^[0-9a-f]{2}$/i.test(s) ? s.toLowerCase() : undefined);

function deviceName(vendorId: string, productId: string, vendor?: string, product?: string): string {
  if (vendor && product) return product.startsWith(vendor) ? product : `${vendor} ${product}`;
  if (product) return `${product} (${vendorId}:${productId})`;
  if (vendor) return `${vendor} device ${productId}`;
  return `USB device ${vendorId}:${productId}`;
}

function speedOf(mbps: number | undefined): UsbSpeed {
  if (mbps === undefined) return 'unknown';
  if (mbps <= 1.5) return 'low';
  if (mbps <= 12) return 'full';
  if (mbps <= 480) return 'high';
  if (mbps <= 5000) return 'super';
  return 'super-plus';
}

function comparePorts(a: UsbDevice, b: UsbDevice): number {
  const pa = a.port.split(/[-.]/).map(Number);
  const pb = b.port.split(/[-.]/).map(Number);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return pa.length - pb.length;
}

function processGids(): number[] {
  return [...new Set([process.getegid?.() ?? -1, ...(process.getgroups?.() ?? [])])].filter((g) => g >= 0);
}

/** The few stat fields the verdict reads. */
export interface NodeStat {
  mode: number;
  uid: number;
  gid: number;
}

/**
 * Whether `uid` (in `gids`) may open a node with this owner and mode read-write, by the kernel's
 * rule: root always; the owner by the owner bits alone; a group member by the group bits; others
 * by the other bits. ACLs are not seen here.
 */
export function canOpenReadWrite(st: NodeStat, uid: number, gids: readonly number[]): boolean {
  if (uid === 0) return true;
  const rw = (shift: number) => ((st.mode >> shift) & 0o6) === 0o6;
  if (st.uid === uid) return rw(6);
  if (gids.includes(st.gid)) return rw(3);
  return rw(0);
}

async function nodeAccess(node: string, who: { uid: number; gids: readonly number[] } | undefined): Promise<UsbAccess> {
  let st: NodeStat;
  try {
    st = await stat(node);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      usable: false,
      missing: code === 'ENOENT',
      reason:
        code === 'ENOENT'
          ? `${node} does not exist: the device was unplugged just now, or /dev/bus/usb is not available here (in a container, pass the host's /dev/bus/usb through).`
          : `${node} cannot be examined (${code ?? (err as Error).message}).`,
    };
  }
  let usable: boolean;
  if (who) usable = canOpenReadWrite(st, who.uid, who.gids);
  else
    usable = await access(node, constants.R_OK | constants.W_OK).then(
      () => true,
      () => false,
    );
  if (usable) return { usable: true };
  const user = who ? `user ${who.uid}` : `you (user ${process.getuid?.() ?? '?'})`;
  return {
    usable: false,
    missing: false,
    reason: `${node} is ${owner(st.uid)}:${owner(st.gid)} ${(st.mode & 0o777).toString(8).padStart(4, '0')}, so ${user} cannot open it read-write, and QEMU needs that to pass the device through.`,
  };
}

const owner = (id: number) => (id === 0 ? 'root' : String(id));

// ---------------------------------------------------------------------------------------------
// The doctor's fix: a udev rule for exactly this vendor:product.

function assertIds(vendorId: string, productId: string): void {
  // Goes into a file under /etc and a shell command: nothing but four hex digits, ever.
  if (!HEX4.test(vendorId) || !HEX4.test(productId))
    throw new VmdeskError(
      'invalid-argument',
      `"${vendorId}:${productId}" is not a USB vendor:product pair: give four lowercase hex digits each, like 046d:c52b (as \`vmdesk usb list\` shows them).`,
    );
}

/** /etc/udev/rules.d/70-vmdesk-usb-046d-c52b.rules: before 73-seat-late.rules, which acts on `uaccess`. */
export function usbRuleFile(vendorId: string, productId: string): string {
  assertIds(vendorId, productId);
  return `/etc/udev/rules.d/70-vmdesk-usb-${vendorId}-${productId}.rules`;
}

/**
 * The rule: the device node stays root's (0660, no group given away), and `uaccess` makes
 * systemd-logind add an ACL for the user logged in at the seat, as it does for sound cards.
 */
export function usbRuleLine(vendorId: string, productId: string): string {
  assertIds(vendorId, productId);
  return `SUBSYSTEM=="usb", ATTR{idVendor}=="${vendorId}", ATTR{idProduct}=="${productId}", MODE="0660", TAG+="uaccess"`;
}

/** Reloads the rules and replays "change" for matching devices only (interfaces have no idVendor). */
export function usbRuleApply(vendorId: string, productId: string): string {
  assertIds(vendorId, productId);
  return `udevadm control --reload && udevadm trigger --attr-match=idVendor=${vendorId} --attr-match=idProduct=${productId}`;
}

/** The fix for a device the user cannot open: one command to paste, and the helper action. */
export function usbAccessFix(dev: Pick<UsbDevice, 'vendorId' | 'productId' | 'name'>): UsbFix {
  const { vendorId, productId } = dev;
  const file = usbRuleFile(vendorId, productId);
  const rule = usbRuleLine(vendorId, productId);
  const apply = usbRuleApply(vendorId, productId).replace(/udevadm/g, 'sudo udevadm');
  return {
    text: [
      `create ${file} containing`,
      `    ${rule}`,
      `and apply it: ${apply}`,
      `The rule is for ${vendorId}:${productId} devices only (${dev.name}); uaccess gives them to the user logged in at this computer's screen, not to a remote (ssh) session.`,
      'If a VM tried this device already, detach it and attach it again: QEMU stops retrying a device after three failed opens.',
    ].join('\n'),
    command: `printf '%s\\n' '${rule}' | sudo tee ${file} >/dev/null && ${apply}`,
    privileged: true,
    action: { kind: 'usb-rule', vendorId, productId },
  };
}

/** The doctor's verdict on one device, with the fix when a rule would help. */
export function checkUsbAccess(dev: UsbDevice): UsbCheck {
  const title = `USB device ${dev.vendorId}:${dev.productId} (${dev.name}) at ${dev.port}`;
  if (dev.access.usable)
    return {
      id: 'usb-access',
      title,
      status: 'pass',
      detail: `${dev.node} can be opened read-write.`,
      device: dev.port,
    };
  if (dev.access.missing)
    return {
      id: 'usb-access',
      title,
      status: 'fail',
      detail: dev.access.reason,
      fix: {
        text: 'Plug the device in again and run `vmdesk usb list`; in a container, give it the host /dev/bus/usb.',
        privileged: false,
      },
      device: dev.port,
    };
  return {
    id: 'usb-access',
    title,
    status: 'fail',
    detail: `${dev.access.reason} A udev rule for this device opens it to you.`,
    fix: usbAccessFix(dev),
    device: dev.port,
  };
}
