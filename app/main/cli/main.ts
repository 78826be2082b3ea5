/**
 * `vmdesk` — the command line. Every command goes through the same contract as the window:
 * through the owning driver's control socket when one runs, or by becoming the owner for the
 * length of the command.
 *
 * Exit codes: 0 success; 1 a problem the user can fix (the message says how); 2 internal error.
 */
import { isUserError, serializeError, VmdeskError } from '../common/errors.js';
import type { CallParams, DefineVmInput } from '../common/contract.js';
import path from 'node:path';
import type { VmSummary } from '../common/vm-types.js';
import { appPathsFromProcess } from '../paths/app-paths.js';
import { asStorageError } from '../paths/storage-errors.js';
import { getNative } from '../../native/index.js';
import { openDriver, type DriverLink } from '../ipc/driver-link.js';
import { managerOptionsFromEnv } from '../vm/vm-manager.js';
import { createHostServices } from '../vm/host-adapter.js';
import { ACCEL_ENV, formatHostReport } from '../host/index.js';
import { formatMiB, parseForward, parseSize } from '../vm/define-vm.js';
import { firmwareText, formatConnections, formatDeleted, formatInfo, formatList } from './format.js';
import { followLog, printLog } from './log-command.js';
import { tailLog } from '../consoles/log-tail.js';
import { attachConsole } from './console-command.js';
import { runWeb } from './web-command.js';
import { runMdev } from './mdev-command.js';
import { runUsb } from './usb-command.js';
import { runIsoInspect, runIsoLibrary } from './iso-command.js';
import { runEditCommand } from './edit-commands.js';
import { runClone } from './clone-command.js';
import { runSnapshot } from './snapshot-command.js';
import { runSettings } from './settings-command.js';
import { runInterop } from './interop-command.js';
import {
  DESKTOP_OPTIONS,
  desktopFlags,
  GUEST_FLAG_OPTIONS,
  guestFlags,
  intArg,
  memoryMiB,
  oneVm,
  parse,
  usageError,
} from './args.js';

const USAGE = `vmdesk — session-mode virtual machines on QEMU, as your own user

Usage:
  vmdesk list [--json]
  vmdesk define --name NAME [--memory 1G] [--cpus 1] [--disk-size 20G] [--disk PATH]...
                [--cdrom ISO] [--accel auto|kvm|hvf|tcg] [--firmware bios|uefi] [--secure-boot] [--tpm]
                [--disk-bus virtio|sata] [--nic virtio|e1000e] [--clock utc|localtime] [--hyperv]
                [--share HOSTDIR[:TAG][:ro]]... [--sound on|off] [--clipboard on|off]
                [--forward tcp:HOST:GUEST]... [--json]
  vmdesk create --iso PATH [--name N] [--memory ..] [--cpus N] [--disk-size ..] [--firmware bios|uefi]
                [--[no-]secure-boot] [--[no-]tpm] [--drivers virtio-win.iso|none] [--accel ..] [--start]
                [--json]     (defaults from the OS the ISO installs: Windows 11 gets Secure Boot and a TPM)
  vmdesk set VM [--name N] [--memory 2G] [--cpus 4] [--boot cdrom,disk,network] [--firmware bios|uefi]
                [--display std|virtio|none] [--accel ..] [--network user|none] [--cdrom-drives N]
                [--secure-boot on|off] [--tpm on|off] [--disk-bus ..] [--nic ..] [--clock ..] [--hyperv on|off]
                [--share HOSTDIR[:TAG][:ro]]... | --share none   (the shared folders, all of them)
                [--sound on|off] [--clipboard on|off]
                [--autostart on|off]   (start it when the app, vmdesk web or vmdesk driver starts; once per login)
  vmdesk disk list|add|remove|resize|convert VM ...   (add --size 10G | --file PATH; remove TARGET
                               [--delete-file]; resize TARGET 40G, live on a running VM; convert TARGET: raw → qcow2)
  vmdesk cdrom list|insert|eject VM [ISO] [--drive N]   (change a disc; at once in a running VM)
  vmdesk eject VM [--drive N]  (take the disc out)
  vmdesk forward list|add|remove VM [tcp:[ADDR:]HOST[:GUEST]]  (port forwards; live on a running VM)
  vmdesk snapshot list|create|revert|delete|rename VM [NAME] [--description T] [--disk-only] [--json]
                               (with memory while it runs, of the disks while it is off; --disk-only
                               while it runs needs a guest agent, which freezes its file systems)
  vmdesk clone VM NEW [--linked] [--progress] [--json]  (a copy of a stopped VM; --linked: overlays on its
                               disks, which stay read-only while the clone exists)
  vmdesk start|shutdown|stop|reboot|pause|resume VM [--wait] [--timeout S]
  vmdesk info VM [--json]
  vmdesk log VM [--serial | --driver] [--follow] [--lines N]
  vmdesk console VM            (Ctrl+] detaches)
  vmdesk delete VM [--keep-disks | --delete-disks]  (a broken VM's data folder goes only with --delete-disks)
  vmdesk iso inspect PATH [--json]    (what an ISO is: boot modes, architecture, the OS, suggested VM)
  vmdesk iso list [--json]             (the ISO library: uploaded images, their OS, which VMs use them)
  vmdesk iso rm PATH|NAME [--json]     (remove an image of the library no VM uses)
  vmdesk mdev list|types [--json]      (mediated devices / vGPUs on this host)
  vmdesk mdev create|remove ... [--json] (through pkexec; see vmdesk mdev --help)
  vmdesk mdev check VM [--json] [--fix] (is this VM ready for its vGPU? each failure with its fix)
  vmdesk mdev assign|unassign VM ...    (give a stopped VM a vGPU, or take it off)
  vmdesk usb list [--json]     (the host's USB devices, and whether you may use them, with the fix)
  vmdesk usb attach|detach VM VENDOR:PRODUCT|BUS-PORT [--persist]
                               (plug one into a running VM; --persist: also at every start)
  vmdesk usb fix VENDOR:PRODUCT (the udev rule that opens it to you, one password prompt)
  vmdesk host [--json]         (accelerators, QEMU, firmware and Secure Boot, swtpm, memlock: what works and
                               how to fix what doesn't)
  vmdesk web [--port N] [--open] [--listen ADDR] [--new-token]
                               (the UI in your browser, served on 127.0.0.1)
  vmdesk settings [get] [KEY] [--json]   (the app's settings, where each comes from: file, environment, default)
  vmdesk settings set KEY VALUE|default  (in $XDG_CONFIG_HOME/vmdesk/settings.json; VMDESK_ACCEL,
                               VMDESK_LOG_LEVEL and VMDESK_LOG_CAP_BYTES win over it)
  vmdesk driver                (run the driver in the foreground until Ctrl+C)
  vmdesk export VM --libvirt [--json]   (libvirt domain XML on stdout, what it leaves out on stderr:
                               vmdesk export VM --libvirt > vm.xml && virsh define vm.xml)
  vmdesk import FILE.xml [--name N] [--copy-disks | --in-place] [--json]
  vmdesk import --from URI DOMAIN [--name N] [--copy-disks | --in-place] [--json]
                               (a new VM from a libvirt domain, listing what it left out; asks whether to
                               copy the disks, in place when there is no terminal)
  vmdesk connections [--json]  (this computer and the libvirt hosts the driver is connected to or remembers)
  vmdesk connect URI [--remember]   (connect the running window or vmdesk web to a libvirt host;
                               --remember: also at every start)
  vmdesk disconnect URI|ID [--forget]
  vmdesk --connect URI list|info|start|shutdown|stop|reboot|pause|resume|delete|console|snapshot ...
                               (the VMs of a libvirt host, like virsh -c: qemu:///system, qemu:///session,
                               qemu+ssh://user@host/system; SSH uses your own keys, agent and known_hosts)

VM is a name or an id. shutdown presses the ACPI power button; stop forces the VM off.
Environment: VMDESK_ACCEL=tcg forces TCG for every VM; XDG_* directories are honoured.
`;

const LIFECYCLE = ['start', 'shutdown', 'stop', 'reboot', 'pause', 'resume'] as const;
/** What `vmdesk --connect URI` can do with a libvirt host's VMs. */
const ON_HOST_COMMANDS = ['list', 'info', ...LIFECYCLE, 'delete', 'console', 'snapshot'];

/**
 * A link whose calls and streams work on one libvirt host: `vm.list` lists its VMs, and a VM
 * given by name or UUID is that host's (`HOST/NAME`).
 */
function onHost(link: DriverLink, hostId: string): DriverLink {
  const scoped = <P>(params: P): P => {
    const p = params as { vm?: unknown };
    return typeof p.vm === 'string' && !p.vm.includes('/') ? ({ ...p, vm: `${hostId}/${p.vm}` } as P) : params;
  };
  return {
    ...link,
    call: (method, params) =>
      link.call(method, method === 'vm.list' ? ({ ...params, host: hostId } as typeof params) : scoped(params)),
    openStream: (name, params) => link.openStream(name, scoped(params)),
    subscribe: (l) => link.subscribe(l),
    close: () => link.close(),
  };
}
type Lifecycle = (typeof LIFECYCLE)[number];

export interface CliIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** What only the entry point knows about the running program. */
export interface CliProgram {
  /** The directory of the program's own files (dist/cli): the mdev helper is found from it. */
  programDir: string | undefined;
}

export async function runCli(argv: string[], io: CliIo, program: CliProgram): Promise<number> {
  // `vmdesk --connect URI COMMAND ...` (like `virsh -c`): the command works on that libvirt host.
  let connectUri: string | undefined;
  if (argv[0] === '--connect' || argv[0] === '-c') {
    connectUri = argv[1];
    argv = argv.slice(2);
  } else if (argv[0]?.startsWith('--connect=')) {
    connectUri = argv[0].slice('--connect='.length);
    argv = argv.slice(1);
  }
  const [command, ...rest] = argv;
  let json = false;
  let link: DriverLink | undefined;
  /** A host this command connected the running driver to: disconnected when it is done. */
  let leaveAfter: string | undefined;
  const getLink = async () => {
    if (link) return link;
    link = await openDriver({
      paths: appPathsFromProcess(),
      kind: command === 'driver' ? 'driver' : command === 'web' ? 'web' : 'cli',
      host: createHostServices(appPathsFromProcess()),
      native: getNative(),
      managerOptions: managerOptionsFromEnv(process.env),
      programDir: program.programDir,
    });
    if (connectUri !== undefined) {
      // Like virsh -c, a command leaves no connection behind in a driver that runs on (the
      // window's, `vmdesk web`'s) unless that driver had it already.
      const had =
        link.mode === 'client' &&
        (await link.call('host.connections', {})).some((c) => c.uri === connectUri && c.state === 'connected');
      const conn = await link.call('host.connect', { uri: connectUri });
      if (link.mode === 'client' && !had) leaveAfter = conn.id;
      link = onHost(link, conn.id);
    }
    return link;
  };
  try {
    if (!command || command === '--help' || command === '-h' || command === 'help') {
      io.out.write(USAGE);
      return command ? 0 : 1;
    }
    if (command === '--version') {
      io.out.write('vmdesk 0.1.0\n');
      return 0;
    }
    if (connectUri !== undefined && (!connectUri || connectUri.startsWith('-')))
      throw usageError('--connect takes a libvirt URI, like qemu:///system or qemu+ssh://user@host/system.');
    if (connectUri !== undefined && !ON_HOST_COMMANDS.includes(command))
      throw usageError(
        `\`vmdesk ${command}\` works on this computer's VMs only; with --connect use ${ON_HOST_COMMANDS.join(', ')}.`,
      );
    switch (command) {
      case 'list': {
        const a = parse(rest, {});
        json = !!a.values.json;
        const link = await getLink();
        const vms = await link.call('vm.list', {});
        if (connectUri !== undefined && !json && vms.length === 0) {
          io.out.write(`No VMs on ${connectUri}.\n`);
          return 0;
        }
        io.out.write(json ? JSON.stringify(vms, null, 2) + '\n' : formatList(vms) + '\n');
        const orphans = json || connectUri !== undefined ? [] : await link.call('vm.orphans', {});
        if (orphans.length > 0) {
          io.out.write(
            `\nThese directories belong to no VM (vmdesk never deletes them; remove them if you do not need them):\n${orphans.map((o) => `  ${o.path}`).join('\n')}\n`,
          );
        }
        return 0;
      }
      case 'define': {
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
        json = !!a.values.json;
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
            throw new VmdeskError(
              'invalid-argument',
              `"${v['disk-size']}" is not a disk size. Write e.g. --disk-size 20G.`,
              { field: 'diskSize' },
            );
          input.disk = { sizeBytes: size };
        }
        if (typeof v.cdrom === 'string') input.cdrom = v.cdrom;
        if (Array.isArray(v.forward)) input.forwards = v.forward.map((f) => parseForward(String(f)));
        Object.assign(input, desktopFlags(v));
        const vm = await (await getLink()).call('vm.define', input);
        if (vm.notice) io.err.write(`vmdesk: warning: ${vm.notice}\n`);
        io.out.write(
          json
            ? JSON.stringify(vm, null, 2) + '\n'
            : `Defined "${vm.name}" (${vm.id}). Start it with: vmdesk start "${vm.name}"\n`,
        );
        return 0;
      }
      case 'create': {
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
        json = !!a.values.json;
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
            throw new VmdeskError(
              'invalid-argument',
              `--accel must be auto, kvm, hvf or tcg, not "${String(v.accel)}".`,
              { field: 'accel' },
            );
          params.accel = v.accel as CallParams<'vm.create'>['accel'];
        }
        Object.assign(params, guestFlags(v, false));
        if (typeof v.drivers === 'string') params.drivers = v.drivers === 'none' ? null : path.resolve(v.drivers);
        const vm = await (await getLink()).call('vm.create', params);
        const d = vm.definition!;
        if (vm.notice) io.err.write(`vmdesk: warning: ${vm.notice}\n`);
        io.out.write(
          json
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
      case 'set':
      case 'cdrom':
      case 'disk':
      case 'forward':
      case 'eject':
        json = rest.includes('--json');
        return await runEditCommand(command, rest, io, async (call, params) => (await getLink()).call(call, params));
      case 'info': {
        const a = parse(rest, {});
        json = !!a.values.json;
        const vm = await (await getLink()).call('vm.get', { vm: oneVm(a.positionals, command) });
        io.out.write(json ? JSON.stringify(vm, null, 2) + '\n' : formatInfo(vm) + '\n');
        return 0;
      }
      case 'log': {
        const a = parse(rest, {
          serial: { type: 'boolean' },
          driver: { type: 'boolean' },
          follow: { type: 'boolean', short: 'f' },
          lines: { type: 'string', short: 'n' },
        });
        const vm = oneVm(a.positionals, command);
        const lines = intArg(a.values.lines as string | undefined, 'lines', 50);
        if (lines < 0) throw new VmdeskError('invalid-argument', '--lines must be 0 or more.');
        const which = a.values.serial ? 'serial' : a.values.driver ? 'driver' : 'qemu';
        if (!a.values.follow) {
          printLog((await (await getLink()).call('vm.logPaths', { vm }))[which], lines, io.out);
          return 0;
        }
        const stop = new AbortController();
        process.once('SIGINT', () => stop.abort());
        let from: Pick<DriverLink, 'openStream'> = await getLink();
        if (link?.mode === 'owner') {
          // This command became the driver only to answer it: following a file must not hold the
          // VMs (a window or `vmdesk web` started meanwhile would depend on this terminal).
          const file = (await link.call('vm.logPaths', { vm }))[which];
          await link.close();
          link = undefined;
          from = { openStream: async () => tailLog(file, lines) };
        }
        // The tail's file watch does not keep a process alive by itself (the driver's sockets do).
        const alive = setInterval(() => {}, 1 << 30);
        const ended = await followLog(from, vm, which, lines, io.out, stop.signal).finally(() => clearInterval(alive));
        if (ended) io.err.write(`${ended}\n`);
        return 0;
      }
      case 'console': {
        const a = parse(rest, {});
        return await attachConsole(await getLink(), oneVm(a.positionals, command), io);
      }
      case 'clone':
        json = rest.includes('--json');
        return await runClone(
          rest,
          io,
          async (call, params) => (await getLink()).call(call, params),
          async (listener) => (await getLink()).subscribe(listener),
        );
      case 'export':
      case 'import':
        json = rest.includes('--json');
        return await runInterop(command, rest, io, async (call, params) => (await getLink()).call(call, params));
      case 'settings':
        json = rest.includes('--json');
        return await runSettings(rest, io, async (call, params) => (await getLink()).call(call, params));
      case 'snapshot':
        json = rest.includes('--json');
        return await runSnapshot(
          rest,
          io,
          async (call, params) => (await getLink()).call(call, params),
          async (listener) => (await getLink()).subscribe(listener),
        );
      case 'delete': {
        const a = parse(rest, { 'keep-disks': { type: 'boolean' }, 'delete-disks': { type: 'boolean' } });
        json = !!a.values.json;
        const vm = oneVm(a.positionals, command);
        if (a.values['keep-disks'] && a.values['delete-disks'])
          throw usageError('Give --keep-disks or --delete-disks, not both.');
        // Neither: the driver's default (a VM's own disks go; a broken VM's data folder stays).
        const keepDisks = a.values['keep-disks'] ? true : a.values['delete-disks'] ? false : undefined;
        const r = await (await getLink()).call('vm.delete', { vm, ...(keepDisks === undefined ? {} : { keepDisks }) });
        io.out.write(json ? JSON.stringify(r) + '\n' : formatDeleted(vm, r));
        return 0;
      }
      case 'connections': {
        const a = parse(rest, {});
        json = !!a.values.json;
        if (a.positionals.length > 0) throw usageError(`Unexpected argument "${a.positionals[0]}".`);
        const conns = await (await getLink()).call('host.connections', {});
        io.out.write(json ? JSON.stringify(conns, null, 2) + '\n' : formatConnections(conns) + '\n');
        return 0;
      }
      case 'connect': {
        const a = parse(rest, { remember: { type: 'boolean' } });
        json = !!a.values.json;
        if (a.positionals.length !== 1)
          throw usageError(
            '`vmdesk connect` takes one libvirt URI, like qemu:///system or qemu+ssh://user@host/system.',
          );
        const link = await getLink();
        const conn = await link.call('host.connect', { uri: a.positionals[0]!, remember: !!a.values.remember });
        io.out.write(
          json
            ? JSON.stringify(conn, null, 2) + '\n'
            : `Connected to ${conn.label}${conn.hypervisor ? ` (${conn.hypervisor.hostname}, libvirt ${conn.hypervisor.libvirtVersion})` : ''}.${conn.remembered ? ' vmdesk connects to it again when it starts.' : ''}\n` +
                (link.mode === 'owner'
                  ? 'No vmdesk window or `vmdesk web` runs: the connection ended with this command. Use vmdesk --connect URI COMMAND, or --remember.\n'
                  : ''),
        );
        return 0;
      }
      case 'disconnect': {
        const a = parse(rest, { forget: { type: 'boolean' } });
        json = !!a.values.json;
        if (a.positionals.length !== 1) throw usageError('`vmdesk disconnect` takes one connection: its URI or id.');
        const left = await (
          await getLink()
        ).call('host.disconnect', { connection: a.positionals[0]!, forget: !!a.values.forget });
        io.out.write(json ? JSON.stringify(left, null, 2) + '\n' : formatConnections(left) + '\n');
        return 0;
      }
      case 'host': {
        // A fact about the machine, not about the VMs: probed here, no driver needed.
        const a = parse(rest, {});
        json = !!a.values.json;
        if (a.positionals.length > 0) throw usageError(`Unexpected argument "${a.positionals[0]}".`);
        const report = await createHostServices(appPathsFromProcess()).report();
        io.out.write(json ? JSON.stringify(report, null, 2) + '\n' : formatHostReport(report, process.env[ACCEL_ENV]));
        return 0;
      }
      case 'web': {
        const a = parse(rest, {
          port: { type: 'string' },
          open: { type: 'boolean' },
          listen: { type: 'string' },
          'new-token': { type: 'boolean' },
        });
        if (a.positionals.length > 0) throw usageError(`Unexpected argument "${a.positionals[0]}".`);
        const port = a.values.port === undefined ? undefined : intArg(a.values.port as string, 'port', 0);
        if (port !== undefined && (port < 1 || port > 65535))
          throw new VmdeskError('invalid-argument', '--port takes a number from 1 to 65535.', { field: 'port' });
        const l = await getLink();
        await runWeb(
          l,
          appPathsFromProcess(),
          {
            port,
            listen: a.values.listen as string | undefined,
            open: !!a.values.open,
            newToken: !!a.values['new-token'],
          },
          io.err,
          io.out,
        );
        return 0;
      }
      case 'iso':
        if (rest[0] === 'inspect') return await runIsoInspect(rest.slice(1), io);
        if (rest[0] === 'list' || rest[0] === 'rm')
          return await runIsoLibrary(rest[0], rest.slice(1), io, {
            list: async () => (await getLink()).call('iso.list', {}),
            remove: async (file) => (await getLink()).call('iso.remove', { path: file }),
          });
        throw usageError('Use `vmdesk iso inspect PATH`, `vmdesk iso list` or `vmdesk iso rm PATH|NAME`.');
      case 'mdev':
        return await runMdev(rest, io, {
          programDir: program.programDir,
          env: process.env,
          native: getNative(),
          listVms: async () => (await getLink()).call('vm.list', {}),
          getVm: async (vm) => (await getLink()).call('vm.get', { vm }),
          assign: async (p) => (await getLink()).call('mdev.assign', p),
          unassign: async (p) => (await getLink()).call('mdev.unassign', p),
          check: async (p) => (await getLink()).call('mdev.check', p),
          qemuCaps: (arch) => createHostServices(appPathsFromProcess()).qemuCaps(arch),
        });
      case 'usb':
        json = rest.includes('--json');
        return await runUsb(rest, io, {
          programDir: program.programDir,
          call: async (call, params) => (await getLink()).call(call, params),
        });
      case 'driver': {
        const l = await getLink();
        if (l.mode !== 'owner')
          throw new VmdeskError(
            'owner-elsewhere',
            `Another vmdesk (pid ${l.owner.pid}, ${l.owner.kind}) already manages these VMs.`,
          );
        io.err.write(
          `vmdesk driver running (pid ${process.pid}); control socket ${l.owner.controlSocket}. Ctrl+C stops the driver; VMs keep running.\n`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        return 0;
      }
      default:
        if ((LIFECYCLE as readonly string[]).includes(command))
          return await lifecycle(command as Lifecycle, rest, io, getLink);
        throw usageError(`Unknown command "${command}".`);
    }
  } catch (err) {
    const e = serializeError(asStorageError(err));
    io.err.write(`vmdesk: ${e.message}\n`);
    if (json) io.out.write(JSON.stringify({ error: e }) + '\n');
    return isUserError(e.code) ? 1 : 2;
  } finally {
    if (leaveAfter) await link?.call('host.disconnect', { connection: leaveAfter }).catch(() => undefined);
    await link?.close();
  }
}

async function lifecycle(
  command: Lifecycle,
  rest: string[],
  io: CliIo,
  getLink: () => Promise<DriverLink>,
): Promise<number> {
  const a = parse(rest, { wait: { type: 'boolean' }, timeout: { type: 'string' } });
  const vm = oneVm(a.positionals, command);
  const json = !!a.values.json;
  const timeout = a.values.timeout as string | undefined;
  const seconds = timeout === undefined ? undefined : Number(timeout);
  if (seconds !== undefined && (!Number.isFinite(seconds) || seconds < 0))
    throw new VmdeskError('invalid-argument', `--timeout takes seconds, e.g. --timeout 30, not "${timeout}".`);
  const timeoutMs = seconds === undefined ? undefined : Math.round(seconds * 1000);
  const link = await getLink();
  const wait = !!a.values.wait;
  let result: VmSummary;
  switch (command) {
    case 'start':
      result = await withTimeout(link.call('vm.start', { vm }), timeoutMs, `Starting "${vm}"`);
      break;
    case 'shutdown':
      result = await link.call('vm.shutdown', { vm, wait, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
      break;
    case 'stop':
      result = await link.call('vm.stop', { vm });
      break;
    case 'reboot':
      result = await link.call('vm.reboot', { vm });
      break;
    case 'pause':
      result = await link.call('vm.pause', { vm });
      break;
    case 'resume':
      result = await link.call('vm.resume', { vm });
      break;
  }
  if (json) io.out.write(JSON.stringify(result, null, 2) + '\n');
  else
    io.out.write(
      `${result.name}: ${result.state}${result.reason ? ` (${result.reason})` : ''}${command === 'start' && result.accel ? ` with ${result.accel.accel}` : ''}\n`,
    );
  return 0;
}

function withTimeout<T>(p: Promise<T>, ms: number | undefined, what: string): Promise<T> {
  if (ms === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new VmdeskError('timeout', `${what} took longer than ${ms / 1000} s.`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
