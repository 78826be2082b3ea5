/**
 * `vmdesk define` and `vmdesk create`: a new VM from options, or from what an installer ISO
 * says it needs. Loaded only by these two commands (main.ts imports it dynamically).
 */
import path from 'node:path';
import type { CallParams, DefineVmInput } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import { formatMiB, parseSize } from '../common/sizes.js';
import { parseForward } from '../vm/define-vm.js';
import {
  DESKTOP_OPTIONS,
  desktopFlags,
  GUEST_FLAG_OPTIONS,
  guestFlags,
  intArg,
  memoryMiB,
  parse,
  usageError,
} from './args.js';
import type { Call } from './edit-commands.js';
import { firmwareText } from './format.js';
import type { CliIo, CliOutput } from './main.js';

export async function runDefine(rest: string[], io: CliIo, out: CliOutput, call: Call): Promise<number> {
  const a = parse(rest, {
    name: { type: 'string' },
    memory: { type: 'string' },
    cpus: { type: 'string' },
    disk: { type: 'string', multiple: true },
    'disk-size': { type: 'string' },
    cdrom: { type: 'string' },
    accel: { type: 'string' },
    forward: { type: 'string', multiple: true },
    firmware: { type: 'string' },
    ...DESKTOP_OPTIONS,
    ...GUEST_FLAG_OPTIONS,
  });
  out.json = !!a.values.json;
  const v = a.values;
  if (a.positionals.length > 0) throw usageError(`Unexpected argument "${a.positionals[0]}".`);
  if (typeof v.name !== 'string') throw usageError('`vmdesk define` needs --name NAME.');
  const accel = v.accel as string | undefined;
  if (accel !== undefined && !['auto', 'kvm', 'hvf', 'tcg'].includes(accel))
    throw new VmdeskError('invalid-argument', `--accel must be auto, kvm, hvf or tcg, not "${accel}".`, {
      field: 'accel',
    });
  const input: DefineVmInput = {
    name: v.name,
    memoryMiB: memoryMiB(v.memory as string | undefined),
    cpus: intArg(v.cpus as string | undefined, 'cpus', 1),
  };
  if (accel) input.accel = accel as DefineVmInput['accel'];
  const firmware = v.firmware as string | undefined;
  if (firmware !== undefined && firmware !== 'bios' && firmware !== 'uefi')
    throw new VmdeskError('invalid-argument', `--firmware must be bios or uefi, not "${firmware}".`, {
      field: 'firmware',
    });
  if (firmware) input.firmware = firmware;
  Object.assign(input, guestFlags(v, false));
  // Every --disk is kept, in order (the first boots); with --disk-size the new disk comes first.
  const given = ((v.disk as string[] | undefined) ?? []).map((p) => ({ path: p }));
  if (given.length > 0 && typeof v['disk-size'] !== 'string') input.disk = given.shift()!;
  if (given.length > 0) input.moreDisks = given;
  if (typeof v['disk-size'] === 'string') {
    const size = parseSize(v['disk-size'], 'G');
    if (size === undefined)
      throw new VmdeskError('invalid-argument', `"${v['disk-size']}" is not a disk size. Write e.g. --disk-size 20G.`, {
        field: 'diskSize',
      });
    input.disk = { sizeBytes: size };
  }
  if (typeof v.cdrom === 'string') input.cdrom = v.cdrom;
  if (Array.isArray(v.forward)) input.forwards = v.forward.map((f) => parseForward(String(f)));
  Object.assign(input, desktopFlags(v));
  const vm = await call('vm.define', input);
  if (vm.notice) io.err.write(`vmdesk: warning: ${vm.notice}\n`);
  io.out.write(
    out.json
      ? JSON.stringify(vm, null, 2) + '\n'
      : `Defined "${vm.name}" (${vm.id}). Start it with: vmdesk start "${vm.name}"\n`,
  );
  return 0;
}

export async function runCreate(rest: string[], io: CliIo, out: CliOutput, call: Call): Promise<number> {
  const a = parse(rest, {
    iso: { type: 'string' },
    name: { type: 'string' },
    memory: { type: 'string' },
    cpus: { type: 'string' },
    'disk-size': { type: 'string' },
    firmware: { type: 'string' },
    accel: { type: 'string' },
    start: { type: 'boolean' },
    drivers: { type: 'string' },
    ...GUEST_FLAG_OPTIONS,
  });
  out.json = !!a.values.json;
  const v = a.values;
  if (a.positionals.length > 0)
    throw usageError(`Unexpected argument "${a.positionals[0]}". Give the image with --iso PATH.`);
  if (typeof v.iso !== 'string') throw usageError('`vmdesk create` needs --iso PATH (an installer image).');
  const params: CallParams<'vm.create'> = { iso: path.resolve(v.iso), start: !!v.start };
  if (typeof v.name === 'string') params.name = v.name;
  if (typeof v.memory === 'string') params.memoryMiB = memoryMiB(v.memory);
  if (typeof v.cpus === 'string') params.cpus = intArg(v.cpus, 'cpus', 1);
  if (typeof v['disk-size'] === 'string') {
    const size = parseSize(v['disk-size'], 'G');
    if (size === undefined)
      throw new VmdeskError(
        'invalid-argument',
        `"${v['disk-size']}" is not a disk size. Write e.g. --disk-size 20G (0 for no disk).`,
        { field: 'diskSize' },
      );
    params.diskGiB = size / 2 ** 30;
  }
  if (v.firmware !== undefined) {
    if (v.firmware !== 'bios' && v.firmware !== 'uefi')
      throw new VmdeskError('invalid-argument', `--firmware must be bios or uefi, not "${String(v.firmware)}".`, {
        field: 'firmware',
      });
    params.firmware = v.firmware;
  }
  if (v.accel !== undefined) {
    if (!['auto', 'kvm', 'hvf', 'tcg'].includes(String(v.accel)))
      throw new VmdeskError('invalid-argument', `--accel must be auto, kvm, hvf or tcg, not "${String(v.accel)}".`, {
        field: 'accel',
      });
    params.accel = v.accel as CallParams<'vm.create'>['accel'];
  }
  Object.assign(params, guestFlags(v, false));
  if (typeof v.drivers === 'string') params.drivers = v.drivers === 'none' ? null : path.resolve(v.drivers);
  const vm = await call('vm.create', params);
  const d = vm.definition!;
  if (vm.notice) io.err.write(`vmdesk: warning: ${vm.notice}\n`);
  io.out.write(
    out.json
      ? JSON.stringify(vm, null, 2) + '\n'
      : `Created "${vm.name}": ${formatMiB(d.memoryMiB)}, ${d.cpus} CPU${d.cpus > 1 ? 's' : ''}, ${d.disks.length ? `disk ${d.disks[0]!.path}` : 'no disk'}, ${firmwareText(d)}${d.tpm ? ', TPM 2.0' : ''}, booting from ${d.cdroms[0] ?? 'its disk'}.\n` +
          (d.cdroms[1]
            ? `The driver disc ${d.cdroms[1]} is in the second CD-ROM drive: where Windows Setup finds no disk, "Load driver" from it (viostor).\n`
            : '') +
          (vm.state === 'running'
            ? `It is running${vm.accel ? ` with ${vm.accel.accel}` : ''}. Watch it: vmdesk console "${vm.name}" (serial) or vmdesk web (screen).\n`
            : `Start it with: vmdesk start "${vm.name}"\n`),
  );
  return 0;
}
