/**
 * Host USB devices and their use by VMs, as the contract carries them (`host.usbDevices`,
 * `vm.usbAttach`, `vm.usbDetach`): plain JSON-serialisable types with no imports. Produced by
 * app/main/host/usb.ts (listing, access, the udev-rule fix) and app/main/qemu/usb.ts (usb-host).
 */

/** USB speeds by what sysfs `speed` says (Mbit/s). */
export type UsbSpeed = 'low' | 'full' | 'high' | 'super' | 'super-plus' | 'unknown';

export interface UsbDevice {
  /**
   * The sysfs name, which is the port path: "1-1.2" = bus 1, root port 1, port 2 of the hub there.
   * Stable while the device stays in the same socket, unlike `address`.
   */
  port: string;
  /** Bus number (sysfs busnum), as QEMU's hostbus. */
  bus: number;
  /** Address on the bus (sysfs devnum), as QEMU's hostaddr: a new one each time the device is plugged in. */
  address: number;
  /** Four lowercase hex digits, no 0x. */
  vendorId: string;
  productId: string;
  /** The device's own manufacturer string, else the vendor's name in usb.ids. */
  vendorName?: string;
  /** The device's own product string, else the product's name in usb.ids. */
  productName?: string;
  /** For a person: "Logitech, Inc. Unifying Receiver"; the ids stand in for a missing name. */
  name: string;
  serial?: string;
  speed: UsbSpeed;
  /** As sysfs says it: 1.5, 12, 480, 5000, 10000, 20000. */
  speedMbps?: number;
  /** bDeviceClass, two lowercase hex digits ("00": each interface says its own class). */
  deviceClass?: string;
  /**
   * A word for the class: 'hub' for 09, 'vendor-specific' for ff...; for class 00 the interfaces'
   * classes joined with '+' ('hid', 'audio+hid'). Undefined when unknown.
   */
  className?: string;
  /** The node QEMU opens: <devRoot>/bus/usb/BBB/DDD. */
  node: string;
  access: UsbAccess;
}

/** Whether the user (the QEMU that vmdesk spawns as the user) can open the node read-write. */
export type UsbAccess = { usable: true } | { usable: false; missing: boolean; reason: string };

/**
 * What the privileged helper would apply (the same shape as the mdev fixes' actions, for one
 * `apply-fix` prompt): write usbRuleFile(v, p) with usbRuleLine(v, p), then usbRuleApply(v, p).
 */
export interface UsbRuleAction {
  kind: 'usb-rule';
  vendorId: string;
  productId: string;
}

/** Shaped like MdevFix (common/mdev-types.ts), so the same CLI and wizard code can show it. */
export interface UsbFix {
  text: string;
  command?: string;
  privileged: boolean;
  action?: UsbRuleAction;
}

export interface UsbCheck {
  id: 'usb-access';
  title: string;
  status: 'pass' | 'fail';
  detail: string;
  fix?: UsbFix;
  /** The port path of the device the check is about. */
  device: string;
}

/**
 * Which host device a usb-host takes:
 * - `vendor`: any device with these ids, wherever and whenever it is plugged in (the choice for a
 *   VM's definition: survives replugging and reboots; ambiguous with two identical devices);
 * - `port`: whatever is plugged into this socket ("1-1.2" = bus 1, port "1.2"; survives the
 *   device re-enumerating, as phones and firmware updaters do);
 * - `address`: exactly this device now (its address changes at every plug-in).
 */
export type UsbHostMatch =
  | { kind: 'vendor'; vendorId: string; productId: string }
  | { kind: 'port'; bus: number; port: string }
  | { kind: 'address'; bus: number; address: number };

export interface AttachedUsb {
  id: string;
  match: UsbHostMatch | undefined;
  /** QEMU holds a host device for it now (false: waiting for one to match, or the VM is paused). */
  attached: boolean;
}
