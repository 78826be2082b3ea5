/**
 * `vmdesk usb list|attach|detach|fix`: the host's USB devices and whether you may use them, plugging
 * one into a VM (or its definition), and the udev rule that opens one to you (one pkexec prompt,
 * through the same administrator helper as the vGPU fixes).
 *
 * Exit codes as the rest of the CLI: 0 success, 1 a problem the user can fix, 2 internal.
 */
import { VmdeskError } from '../common/errors.js';
import { table } from '../common/text-table.js';
import type { CallResults } from '../common/contract.js';
import type { UsbDevice } from '../common/usb-types.js';
import type { VmSummary } from '../common/vm-types.js';
import { usbRuleFile } from '../host/usb.js';
import { findPkexec, interactiveRunner, locateHelper, type PrivilegedDeps } from '../mdev/index.js';
import { applyFixArgs, helperTrustProblem, runPrivileged } from '../mdev/privileged.js';
import { manualError } from '../mdev/service.js';
import { parse } from './args.js';
import type { Call } from './edit-commands.js';

export const USB_USAGE = `Usage:
  vmdesk usb list [--json]                     the host's USB devices, and whether you may use them
  vmdesk usb attach VM VENDOR:PRODUCT|BUS-PORT [--persist] [--json]
                                               plug one into a running VM (--persist: also at every start;
                                               a VM that is off takes only --persist)
  vmdesk usb detach VM VENDOR:PRODUCT|BUS-PORT|usbN [--persist] [--json]
                                               unplug it (--persist: also from the VM's definition)
  vmdesk usb fix VENDOR:PRODUCT                install the udev rule that opens these devices to you
                                               (one password prompt)
`;

const usage = (message: string) => new VmdeskError('invalid-argument', `${message}\n${USB_USAGE}`);

export interface UsbCliDeps {
  call: Call;
  /** Default: pkexec with this terminal (its text agent asks for the password here). */
  privileged?: PrivilegedDeps;
  /** Where the helper is looked for beside the program (locateHelper); from the CLI's entry. */
  programDir?: string;
}

export async function runUsb(
  args: string[],
  io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream },
  deps: UsbCliDeps,
): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case undefined:
    case 'help':
    case '--help':
      io.out.write(USB_USAGE);
      return sub ? 0 : 1;
    case 'list': {
      const a = parse(rest, {});
      if (a.positionals.length > 0) throw usage(`Unexpected argument "${a.positionals[0]}".`);
      const r = await deps.call('host.usbDevices', {});
      io.out.write(a.values.json ? JSON.stringify(r, null, 2) + '\n' : formatUsbList(r));
      return 0;
    }
    case 'attach':
    case 'detach': {
      const a = parse(rest, { persist: { type: 'boolean' } });
      if (a.positionals.length !== 2) throw usage(`\`vmdesk usb ${sub}\` takes a VM and a device.`);
      const [vm, device] = a.positionals as [string, string];
      const persist = !!a.values.persist;
      const s = await deps.call(sub === 'attach' ? 'vm.usbAttach' : 'vm.usbDetach', {
        vm,
        device,
        ...(persist ? { persist } : {}),
      });
      io.out.write(a.values.json ? JSON.stringify(s, null, 2) + '\n' : usbChanged(sub, s, device, persist));
      return 0;
    }
    case 'fix': {
      const a = parse(rest, {});
      const ids = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$/.exec(a.positionals[0] ?? '');
      if (!ids || a.positionals.length !== 1)
        throw usage(
          `\`vmdesk usb fix\` takes one VENDOR:PRODUCT (four hex digits each, like 046d:c52b), as \`vmdesk usb list\` shows it.`,
        );
      const vendorId = ids[1]!.toLowerCase();
      const productId = ids[2]!.toLowerCase();
      const privileged = deps.privileged ?? {
        helper: locateHelper(deps.programDir),
        pkexec: findPkexec(),
        run: interactiveRunner,
        trust: helperTrustProblem,
      };
      const r = await runPrivileged(privileged, applyFixArgs([{ kind: 'usb-rule', vendorId, productId }]));
      if (r.status === 'manual') throw manualError(r.command, `install the udev rule for ${vendorId}:${productId}`);
      if (r.status === 'cancelled') throw new VmdeskError('cancelled', r.message);
      if (r.status === 'failed')
        throw new VmdeskError(
          'unsupported',
          `The udev rule for ${vendorId}:${productId} was not installed: ${r.message}`,
        );
      io.out.write(
        `Installed ${usbRuleFile(vendorId, productId)}: ${vendorId}:${productId} devices are yours while you are logged in at this computer. A VM that tried one already: detach it and attach it again.\n`,
      );
      return 0;
    }
    default:
      throw usage(`Unknown \`vmdesk usb\` command "${sub}".`);
  }
}

/** The table of `vmdesk usb list`, then why each device you cannot use is so, and its fix. */
export function formatUsbList(r: CallResults['host.usbDevices']): string {
  if (r.devices.length === 0) return 'This host has no USB devices a VM could take (hubs are not listed).\n';
  const rows = r.devices.map((d) => [
    d.port,
    `${d.vendorId}:${d.productId}`,
    d.name,
    speedText(d),
    d.className ?? '',
    d.access.usable ? 'yes' : 'no',
  ]);
  const notes = r.checks.flatMap((c) => {
    const fix = c.fix ? (c.fix.command ?? c.fix.text) : undefined;
    const dev = r.devices.find((d) => d.port === c.device);
    const ids = dev ? ` (${dev.vendorId}:${dev.productId})` : '';
    return [
      '',
      `${c.device}${ids}: ${c.detail}`,
      ...(fix ? [`  fix: ${fix}`] : []),
      ...(c.fix?.action ? [`  or, with one password prompt: vmdesk usb fix ${dev?.vendorId}:${dev?.productId}`] : []),
    ];
  });
  return `${table([['PORT', 'ID', 'NAME', 'SPEED', 'CLASS', 'USABLE'], ...rows])}\n${notes.length ? notes.join('\n') + '\n' : ''}`;
}

function speedText(d: UsbDevice): string {
  if (d.speedMbps === undefined) return '';
  return d.speedMbps >= 1000 ? `${d.speedMbps / 1000} Gbit/s` : `${d.speedMbps} Mbit/s`;
}

/** What an attach or detach did, in one sentence. */
function usbChanged(sub: 'attach' | 'detach', s: VmSummary, device: string, persist: boolean): string {
  const sel = device.toLowerCase();
  if (sub === 'attach') {
    const live = s.usb?.find((u) => u.device === sel);
    if (!live) return `"${s.name}" plugs in ${sel} at its next start.\n`;
    const name = live.name ? ` (${live.name})` : '';
    const wait = live.attached ? '' : ' QEMU takes it when the VM runs again.';
    return `Attached ${sel}${name} to "${s.name}" as ${live.id}${persist ? ', and at every start' : ''}.${wait}\n`;
  }
  return `Detached ${sel} from "${s.name}"${persist ? ' (and from its definition)' : ''}.\n`;
}
