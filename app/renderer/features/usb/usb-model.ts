/**
 * The host's USB devices as the Screen tab's USB menu and the Settings card show them: which are
 * in the VM now, how a device is named to the driver, and what stops one from being used.
 */
import type { UsbCheck, UsbDevice, UsbHostMatch } from '../../../main/common/usb-types.js';
import type { VmSummary } from '../../../main/common/vm-types.js';

/** One USB device a running VM has (`VmSummary.usb`), as the driver reports it. */
export interface VmUsbEntry {
  id: string;
  /** How it was asked for: "046d:c52b" or a port path "1-1.2". */
  device?: string;
  match?: UsbHostMatch;
  name?: string;
  /** QEMU holds a host device for it now (false: waiting for one to be plugged in). */
  attached: boolean;
}

/** The VM's USB devices while it runs (none when stopped, or from a driver that does not report them). */
export function vmUsb(vm: VmSummary): VmUsbEntry[] {
  return vm.usb ?? [];
}

export const usbIds = (d: { vendorId: string; productId: string }): string => `${d.vendorId}:${d.productId}`;

/** Whether a VM's entry takes this host device. */
export function entryTakes(e: VmUsbEntry, d: UsbDevice): boolean {
  const m = e.match;
  if (m?.kind === 'vendor') return m.vendorId === d.vendorId && m.productId === d.productId;
  if (m?.kind === 'port') return m.bus === d.bus && m.port === d.port;
  if (m?.kind === 'address') return m.bus === d.bus && m.address === d.address;
  return e.device === usbIds(d) || e.device === d.port;
}

/**
 * How to name `d` to vm.usbAttach: by vendor:product, which survives replugging and is what a
 * definition keeps ("Keep for next start"); by its port when another plugged-in device has the
 * same ids and the choice is for now only (vendor:product would take either).
 */
export function deviceRef(d: UsbDevice, all: readonly UsbDevice[], persist: boolean): string {
  const twins = all.filter((o) => o.vendorId === d.vendorId && o.productId === d.productId).length;
  return twins > 1 && !persist ? d.port : usbIds(d);
}

export interface UsbRow {
  device: UsbDevice;
  /** In the VM now. */
  attached: boolean;
  /** Asked for but waiting (the driver holds an entry, QEMU has no device yet). */
  waiting: boolean;
  /** Why it cannot be used; undefined when it can. */
  problem?: string;
  /** What fixes that (the doctor's text, and a command when there is one); `action`: the
   * administrator helper can install the fix with one password prompt (host.usbFix). */
  fix?: { text: string; command?: string; action?: boolean };
}

/** Hubs are plumbing, not something to hand to a guest. */
const isHub = (d: UsbDevice) => d.className === 'hub' || d.deviceClass === '09';

/** The menu's rows: the host's devices (hubs left out), each with its state in the VM and its access problem. */
export function usbRows(devices: readonly UsbDevice[], checks: readonly UsbCheck[], entries: readonly VmUsbEntry[]) {
  return devices
    .filter((d) => !isHub(d))
    .map((device): UsbRow => {
      const mine = entries.filter((e) => entryTakes(e, device));
      const row: UsbRow = {
        device,
        attached: mine.some((e) => e.attached),
        waiting: mine.length > 0 && !mine.some((e) => e.attached),
      };
      if (!device.access.usable) {
        row.problem = device.access.reason;
        const fix = checks.find((c) => c.device === device.port && c.status === 'fail')?.fix;
        row.fix = fix
          ? {
              text: fix.text,
              ...(fix.command ? { command: fix.command } : {}),
              ...(fix.action ? { action: true } : {}),
            }
          : undefined;
      }
      return row;
    });
}

/** "Logitech Unifying Receiver (046d:c52b, port 1-1.2)". */
export function usbLabel(d: UsbDevice): string {
  return `${d.name} (${usbIds(d)}, port ${d.port})`;
}

/** A stored vendor:product with the name of a plugged-in device that has those ids, when one is plugged in. */
export function storedUsbLabel(u: { vendorId: string; productId: string }, devices: readonly UsbDevice[]): string {
  const d = devices.find((x) => x.vendorId === u.vendorId && x.productId === u.productId);
  return d ? `${usbIds(u)} — ${d.name}` : `${usbIds(u)} (not plugged in now)`;
}
