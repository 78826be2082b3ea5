/**
 * The commands that change a VM after it is made, each one call of the contract:
 *
 *   vmdesk set VM [--name N] [--memory 2G] [--cpus 4] [--boot cdrom,disk] [--firmware bios|uefi]
 *                 [--display ..] [--accel ..] [--network user|none] [--cdrom-drives N]
 *                 [--secure-boot on|off] [--tpm on|off] [--disk-bus ..] [--nic ..] [--clock ..] [--hyperv on|off]
 *                 [--autostart on|off]   (start it when the app, `vmdesk web` or `vmdesk driver` starts)
 *   vmdesk disk list VM | add VM --size 10G | add VM --file PATH [--format qcow2|raw]
 *             | remove VM TARGET [--delete-file] | resize VM TARGET SIZE | convert VM TARGET (raw → qcow2)
 *   vmdesk cdrom list VM | insert VM ISO [--drive N] | eject VM [--drive N]
 *   vmdesk eject VM [--drive N]
 *   vmdesk forward list|add|remove VM [tcp:[ADDR:]HOST[:GUEST]]
 *
 * All take --json (the VM summary after the change). What a running VM gets now and what waits
 * for its next start is said in words.
 */
import path from 'node:path';
import type { CallName, CallParams, CallResults } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import { BOOT_DEVICES, MAX_CDROMS, type BootDevice, type VmSummary } from '../common/vm-types.js';
import { parseForward, parseForwardHost, parseSize } from '../vm/define-vm.js';
import {
  GUEST_SET_OPTIONS,
  guestFlags,
  intArg,
  memoryMiB,
  oneOf,
  oneVm,
  parse,
  DESKTOP_OPTIONS,
  desktopFlags,
  usageError,
  type Parsed,
} from './args.js';
import { formatDisks, formatDrives, formatForwards, formatUpdated } from './format.js';

export type Call = <C extends CallName>(call: C, params: CallParams<C>) => Promise<CallResults[C]>;

export type EditCommand = 'set' | 'disk' | 'cdrom' | 'eject' | 'forward';

export async function runEditCommand(
  command: EditCommand,
  rest: string[],
  io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream },
  call: Call,
): Promise<number> {
  const [sub, ...args] = rest;
  let vm: VmSummary;
  let text: string;
  let json = false;
  switch (command) {
    case 'set': {
      const a = parse(rest, {
        name: { type: 'string' },
        memory: { type: 'string' },
        cpus: { type: 'string' },
        boot: { type: 'string' },
        firmware: { type: 'string' },
        display: { type: 'string' },
        accel: { type: 'string' },
        network: { type: 'string' },
        'cdrom-drives': { type: 'string' },
        autostart: { type: 'string' },
        ...DESKTOP_OPTIONS,
        ...GUEST_SET_OPTIONS,
      });
      json = !!a.values.json;
      const change = setChange(a.values);
      if (Object.keys(change).length === 0)
        throw usageError(
          'Say what to change: --name, --memory, --cpus, --boot, --firmware, --display, --accel, --network, --cdrom-drives, --secure-boot, --tpm, --disk-bus, --nic, --clock, --hyperv, --share, --sound, --clipboard or --autostart.',
        );
      vm = await call('vm.update', { vm: oneVm(a.positionals, command), ...change });
      text = formatUpdated(vm);
      break;
    }
    case 'disk': {
      const usage =
        'Use `vmdesk disk list VM`, `vmdesk disk add VM --size 10G`, `vmdesk disk add VM --file PATH`, `vmdesk disk remove VM TARGET [--delete-file]`, `vmdesk disk resize VM TARGET SIZE` or `vmdesk disk convert VM TARGET`.';
      const a = parse(args, {
        size: { type: 'string' },
        file: { type: 'string' },
        format: { type: 'string' },
        'delete-file': { type: 'boolean' },
      });
      json = !!a.values.json;
      const [vmRef, target, size, ...extra] = a.positionals;
      if (!vmRef || extra.length > 0) throw usageError(usage);
      const only = (n: number) => {
        if (a.positionals.length !== n) throw usageError(usage);
      };
      if (sub === 'list') {
        only(1);
        vm = await call('vm.get', { vm: vmRef });
        text = formatDisks(vm);
      } else if (sub === 'add') {
        only(1);
        const { size: sz, file, format } = a.values;
        if ((typeof sz === 'string') === (typeof file === 'string'))
          throw usageError('Give --size for a new disk or --file for an existing image (one of them).');
        if (format !== undefined && format !== 'qcow2' && format !== 'raw')
          throw new VmdeskError('invalid-argument', `--format must be qcow2 or raw, not "${String(format)}".`, {
            field: 'format',
          });
        vm = await call('vm.addDisk', {
          vm: vmRef,
          ...(typeof sz === 'string' ? { sizeBytes: diskBytes(sz) } : { path: path.resolve(file as string) }),
          ...(format ? { format } : {}),
        });
        const added = vm.definition?.disks.at(-1);
        const waits = vm.pending?.some((p) => added && p.startsWith(`Disk ${added.target}:`));
        text =
          `Added ${added?.target ?? 'the disk'} (${added?.path ?? ''}) to "${vm.name}"` +
          `${waits ? '; it is there from its next start.' : vm.state === 'running' ? ', plugged in now.' : '.'}\n`;
      } else if (sub === 'remove') {
        only(2);
        vm = await call('vm.removeDisk', { vm: vmRef, target: target!, deleteFile: !!a.values['delete-file'] });
        const waits = vm.pending?.some((p) => p.startsWith(`Disk ${target}:`));
        text = `Removed ${target} from "${vm.name}"${a.values['delete-file'] ? ' and deleted its file' : '; its file is kept'}${waits ? '. The running guest still has it until its next start.' : '.'}\n`;
      } else if (sub === 'convert') {
        only(2);
        vm = await call('vm.convertDisk', { vm: vmRef, target: target! });
        const now = vm.definition?.disks.find((d) => d.target === target);
        text = `${target} of "${vm.name}" is now a qcow2 disk (${now?.path ?? ''}), ready for snapshots.\n`;
      } else if (sub === 'resize') {
        only(3);
        const bytes = diskBytes(size!);
        vm = await call('vm.resizeDisk', { vm: vmRef, target: target!, sizeBytes: bytes });
        text = `${target} of "${vm.name}" is now ${size}${vm.state === 'running' ? ' (the guest sees the new size now; grow its partition and file system inside)' : ''}.\n`;
      } else throw usageError(usage);
      break;
    }
    case 'cdrom':
    case 'eject': {
      const usage =
        'Use `vmdesk cdrom list VM`, `vmdesk cdrom insert VM ISO [--drive N]` or `vmdesk cdrom eject VM [--drive N]`.';
      const a = parse(command === 'eject' ? rest : args, { drive: { type: 'string' } });
      json = !!a.values.json;
      const verb = command === 'eject' ? 'eject' : sub;
      const [vmRef, iso, ...extra] = a.positionals;
      if (!vmRef || extra.length > 0 || (verb === 'insert') !== (iso !== undefined)) throw usageError(usage);
      const drive = a.values.drive === undefined ? undefined : intArg(a.values.drive as string, 'drive', 0);
      const d = drive === undefined ? {} : { drive };
      if (verb === 'list') vm = await call('vm.get', { vm: vmRef });
      else if (verb === 'insert') vm = await call('vm.insertCdrom', { vm: vmRef, iso: path.resolve(iso!), ...d });
      else if (verb === 'eject') vm = await call('vm.eject', { vm: vmRef, ...d });
      else throw usageError(usage);
      text = verb === 'list' ? formatDrives(vm) : driveSentence(vm, verb, drive ?? 0);
      break;
    }
    case 'forward': {
      const a = parse(args, {});
      json = !!a.values.json;
      const [vmRef, spec, ...extra] = a.positionals;
      const usage =
        'Use `vmdesk forward list VM`, `vmdesk forward add VM tcp:[ADDR:]HOST:GUEST` or `vmdesk forward remove VM tcp:[ADDR:]HOST`.';
      if (!vmRef || extra.length > 0 || (sub === 'list') !== (spec === undefined)) throw usageError(usage);
      if (sub === 'list') vm = await call('vm.get', { vm: vmRef });
      else if (sub === 'add') vm = await call('vm.addForward', { vm: vmRef, forward: parseForward(spec!) });
      else if (sub === 'remove') vm = await call('vm.removeForward', { vm: vmRef, ...parseForwardHost(spec!) });
      else throw usageError(usage);
      text = formatForwards(vm);
      break;
    }
  }
  if (vm.notice) io.err.write(`vmdesk: warning: ${vm.notice}\n`);
  io.out.write(json ? JSON.stringify(vm, null, 2) + '\n' : text);
  return 0;
}

/** The vm.update change the `vmdesk set` options ask for. */
function setChange(v: Parsed['values']): Omit<CallParams<'vm.update'>, 'vm'> {
  const change: Omit<CallParams<'vm.update'>, 'vm'> = {};
  if (typeof v.name === 'string') change.name = v.name;
  if (typeof v.memory === 'string') change.memoryMiB = memoryMiB(v.memory);
  if (typeof v.cpus === 'string') change.cpus = intArg(v.cpus, 'cpus', 1);
  if (typeof v.boot === 'string') change.boot = bootOrder(v.boot);
  const firmware = oneOf('firmware', v.firmware, ['bios', 'uefi'] as const);
  const display = oneOf('display', v.display, ['std', 'virtio', 'none'] as const);
  const accel = oneOf('accel', v.accel, ['auto', 'kvm', 'hvf', 'tcg'] as const);
  const network = oneOf('network', v.network, ['user', 'none'] as const);
  if (firmware) change.firmware = firmware;
  if (display) change.display = display;
  if (accel) change.accel = accel;
  if (network) change.network = network;
  const autostart = oneOf('autostart', v.autostart, ['on', 'off'] as const);
  if (autostart) change.autostart = autostart === 'on';
  const drives = v['cdrom-drives'];
  if (typeof drives === 'string') {
    const n = intArg(drives, 'cdrom-drives', 1);
    if (n < 0 || n > MAX_CDROMS)
      throw new VmdeskError('invalid-argument', `--cdrom-drives must be 0 to ${MAX_CDROMS}, not ${n}.`, {
        field: 'cdrom-drives',
      });
    change.cdromDrives = n;
  }
  return { ...change, ...guestFlags(v, true), ...desktopFlags(v) };
}

/** "cdrom,disk" → ['cdrom', 'disk']; each name once. */
export function bootOrder(text: string): BootDevice[] {
  const items = text.split(',').map((s) => s.trim());
  const bad = items.find((s) => !(BOOT_DEVICES as readonly string[]).includes(s));
  if (bad !== undefined || items.length === 0)
    throw new VmdeskError(
      'invalid-argument',
      `--boot takes devices in order, separated by commas, from ${BOOT_DEVICES.join(', ')} (e.g. --boot cdrom,disk), not "${text}".`,
      { field: 'boot' },
    );
  if (new Set(items).size !== items.length)
    throw new VmdeskError('invalid-argument', `--boot names a device twice: "${text}". Name each once.`, {
      field: 'boot',
    });
  return items as BootDevice[];
}

/** "10G", "512M", "40GiB" → bytes; a bare number is GiB. */
function diskBytes(text: string): number {
  const bytes = /^\s*-/.test(text) ? undefined : parseSize(text, 'G');
  if (bytes === undefined)
    throw new VmdeskError('invalid-argument', `"${text}" is not a disk size. Write e.g. 10G or 512M.`, {
      field: 'size',
    });
  return bytes;
}

function driveSentence(vm: VmSummary, verb: string, drive: number): string {
  const iso = vm.definition?.cdroms[drive];
  const running = vm.state === 'running' || vm.state === 'paused';
  const waits = vm.pending?.some((p) => p.startsWith(`CD-ROM ${drive + 1}:`) || p.startsWith('CD-ROM drives:'));
  const name = (vm.definition?.cdroms.length ?? 0) > 1 ? `CD-ROM drive ${drive}` : 'its CD-ROM drive';
  if (verb === 'eject') return `Ejected the disc from ${name} of "${vm.name}"${running && !waits ? ', now' : ''}.\n`;
  return `"${vm.name}" has ${iso} in ${name}${waits ? ' from its next start (the running VM has no such drive)' : running ? ', now' : ''}.\n`;
}
