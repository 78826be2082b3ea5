/**
 * `vmdesk` — the command line. Every command goes through the same contract as the window:
 * through the owning driver's control socket when one runs, or by becoming the owner for the
 * length of the command.
 *
 * Exit codes: 0 success; 1 a problem the user can fix (the message says how); 2 internal error.
 */
import { isUserError, serializeError, VmdeskError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import type { ReadOnlyCall } from '../ipc/control-client.js';
import type { DriverLink } from '../ipc/driver-link.js';
import type { OwnerInfo } from '../vm/owner-lock.js';
import { appPathsFromProcess } from '../paths/app-paths.js';
import { asStorageError } from '../paths/storage-errors.js';
import { intArg, oneVm, parse, usageError } from './args.js';
import { connectRunningDriver } from './client-link.js';
import type { Call, Subscribe } from './clone-command.js';

// Only what every command needs is imported above: a command of a running driver (list, start,
// info, ...) loads these few modules and talks to the driver's socket. Everything else is an
// `await import()` in the command that needs it (each its own module in dist/cli), and the
// driver itself comes from own-driver.ts only when no driver answers. client-entry.test.ts
// fails when a heavy module becomes statically reachable from the entry again.

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

/** How the command prints, as far as it got: with --json an error is also printed on stdout, as JSON. */
export interface CliOutput {
  json: boolean;
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
  const out: CliOutput = { json: false };
  let link: DriverLink | undefined;
  /** A host this command connected the running driver to: disconnected when it is done. */
  let leaveAfter: string | undefined;
  const kind: OwnerInfo['kind'] = command === 'driver' ? 'driver' : command === 'web' ? 'web' : 'cli';
  /** The long way: becomes the owner, or waits for one; loads the driver's code. */
  const openOwn = async () =>
    (await import('./own-driver.js')).openOwnDriver(appPathsFromProcess(), kind, program.programDir);
  /** `first`: the command's first call, when it changes nothing (see ControlClient.connect). */
  const getLink = async (first?: ReadOnlyCall) => {
    if (link) return link;
    // A command of a running driver goes straight to its socket; `vmdesk driver` and `vmdesk web`
    // mean to be the owner, and for them (long-lived) a few ms of start-up do not matter.
    // With --connect the calls are rewritten for the host (onHost): no early call then.
    const early = connectUri === undefined ? first : undefined;
    link =
      (kind === 'cli' ? await connectRunningDriver(appPathsFromProcess(), openOwn, { first: early }) : undefined) ??
      (await openOwn());
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
  const call: Call = async (method, params) => (await getLink()).call(method, params);
  const subscribe: Subscribe = async (listener) => (await getLink()).subscribe(listener);
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
        out.json = !!a.values.json;
        const link = await getLink({ method: 'vm.list', params: {} });
        const listed = link.call('vm.list', {});
        // Loaded while the driver answers (and only for people: --json needs no formatting).
        const format = out.json ? undefined : import('./list-format.js');
        const vms = await listed;
        if (connectUri !== undefined && !out.json && vms.length === 0) {
          io.out.write(`No VMs on ${connectUri}.\n`);
          return 0;
        }
        io.out.write(out.json ? JSON.stringify(vms, null, 2) + '\n' : (await format!).formatList(vms) + '\n');
        const orphans = out.json || connectUri !== undefined ? [] : await link.call('vm.orphans', {});
        if (orphans.length > 0) {
          io.out.write(
            `\nThese directories belong to no VM (vmdesk never deletes them; remove them if you do not need them):\n${orphans.map((o) => `  ${o.path}`).join('\n')}\n`,
          );
        }
        return 0;
      }
      case 'define':
        return await (await import('./define-commands.js')).runDefine(rest, io, out, call);
      case 'create':
        return await (await import('./define-commands.js')).runCreate(rest, io, out, call);
      case 'set':
      case 'cdrom':
      case 'disk':
      case 'forward':
      case 'eject':
        out.json = rest.includes('--json');
        return await (await import('./edit-commands.js')).runEditCommand(command, rest, io, call);
      case 'info': {
        const a = parse(rest, {});
        out.json = !!a.values.json;
        const ref = oneVm(a.positionals, command);
        const vm = await (await getLink({ method: 'vm.get', params: { vm: ref } })).call('vm.get', { vm: ref });
        io.out.write(
          out.json ? JSON.stringify(vm, null, 2) + '\n' : (await import('./format.js')).formatInfo(vm) + '\n',
        );
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
        const { followLog, printLog } = await import('./log-command.js');
        if (!a.values.follow) {
          printLog((await (await getLink()).call('vm.logPaths', { vm }))[which], lines, io.out);
          return 0;
        }
        const stop = new AbortController();
        process.once('SIGINT', () => stop.abort());
        // `vmdesk log VM -f | head`: a reader that went away (bin.ts) ends the follow too.
        io.out.once('close', () => stop.abort());
        let from: Pick<DriverLink, 'openStream'> = await getLink();
        if (link?.mode === 'owner') {
          // This command became the driver only to answer it: following a file must not hold the
          // VMs (a window or `vmdesk web` started meanwhile would depend on this terminal).
          const file = (await link.call('vm.logPaths', { vm }))[which];
          await link.close();
          link = undefined;
          const { tailLog } = await import('../consoles/log-tail.js');
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
        const vm = oneVm(a.positionals, command);
        const { attachConsole } = await import('./console-command.js');
        return await attachConsole(await getLink(), vm, io);
      }
      case 'clone':
        out.json = rest.includes('--json');
        return await (await import('./clone-command.js')).runClone(rest, io, call, subscribe);
      case 'export':
      case 'import':
        out.json = rest.includes('--json');
        return await (await import('./interop-command.js')).runInterop(command, rest, io, call);
      case 'settings':
        out.json = rest.includes('--json');
        return await (await import('./settings-command.js')).runSettings(rest, io, call);
      case 'snapshot':
        out.json = rest.includes('--json');
        return await (await import('./snapshot-command.js')).runSnapshot(rest, io, call, subscribe);
      case 'delete': {
        const a = parse(rest, { 'keep-disks': { type: 'boolean' }, 'delete-disks': { type: 'boolean' } });
        out.json = !!a.values.json;
        const vm = oneVm(a.positionals, command);
        if (a.values['keep-disks'] && a.values['delete-disks'])
          throw usageError('Give --keep-disks or --delete-disks, not both.');
        // Neither: the driver's default (a VM's own disks go; a broken VM's data folder stays).
        const keepDisks = a.values['keep-disks'] ? true : a.values['delete-disks'] ? false : undefined;
        const r = await call('vm.delete', { vm, ...(keepDisks === undefined ? {} : { keepDisks }) });
        io.out.write(out.json ? JSON.stringify(r) + '\n' : (await import('./format.js')).formatDeleted(vm, r));
        return 0;
      }
      case 'connections': {
        const a = parse(rest, {});
        out.json = !!a.values.json;
        if (a.positionals.length > 0) throw usageError(`Unexpected argument "${a.positionals[0]}".`);
        const conns = await call('host.connections', {});
        io.out.write(
          out.json
            ? JSON.stringify(conns, null, 2) + '\n'
            : (await import('./list-format.js')).formatConnections(conns) + '\n',
        );
        return 0;
      }
      case 'connect': {
        const a = parse(rest, { remember: { type: 'boolean' } });
        out.json = !!a.values.json;
        if (a.positionals.length !== 1)
          throw usageError(
            '`vmdesk connect` takes one libvirt URI, like qemu:///system or qemu+ssh://user@host/system.',
          );
        const link = await getLink();
        const conn = await link.call('host.connect', { uri: a.positionals[0]!, remember: !!a.values.remember });
        io.out.write(
          out.json
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
        out.json = !!a.values.json;
        if (a.positionals.length !== 1) throw usageError('`vmdesk disconnect` takes one connection: its URI or id.');
        const left = await call('host.disconnect', { connection: a.positionals[0]!, forget: !!a.values.forget });
        io.out.write(
          out.json
            ? JSON.stringify(left, null, 2) + '\n'
            : (await import('./list-format.js')).formatConnections(left) + '\n',
        );
        return 0;
      }
      case 'host': {
        // A fact about the machine, not about the VMs: probed here, no driver needed.
        const a = parse(rest, {});
        out.json = !!a.values.json;
        if (a.positionals.length > 0) throw usageError(`Unexpected argument "${a.positionals[0]}".`);
        const [{ createHostServices }, { ACCEL_ENV, formatHostReport }] = await Promise.all([
          import('../vm/host-adapter.js'),
          import('../host/index.js'),
        ]);
        const report = await createHostServices(appPathsFromProcess()).report();
        io.out.write(
          out.json ? JSON.stringify(report, null, 2) + '\n' : formatHostReport(report, process.env[ACCEL_ENV]),
        );
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
        const { runWeb } = await import('./web-command.js');
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
      case 'iso': {
        const { runIsoInspect, runIsoLibrary } = await import('./iso-command.js');
        if (rest[0] === 'inspect') return await runIsoInspect(rest.slice(1), io);
        if (rest[0] === 'list' || rest[0] === 'rm')
          return await runIsoLibrary(rest[0], rest.slice(1), io, {
            list: async () => call('iso.list', {}),
            remove: async (file) => call('iso.remove', { path: file }),
          });
        throw usageError('Use `vmdesk iso inspect PATH`, `vmdesk iso list` or `vmdesk iso rm PATH|NAME`.');
      }
      case 'mdev': {
        const [{ runMdev }, { getNative }, { createHostServices }] = await Promise.all([
          import('./mdev-command.js'),
          import('../../native/index.js'),
          import('../vm/host-adapter.js'),
        ]);
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
      }
      case 'usb':
        out.json = rest.includes('--json');
        return await (await import('./usb-command.js')).runUsb(rest, io, { programDir: program.programDir, call });
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
    if (out.json) io.out.write(JSON.stringify({ error: e }) + '\n');
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
