/**
 * `vmdesk mdev list|types|create|remove|check`: what the host offers, creating and removing
 * mediated devices (one pkexec prompt each), and the doctor's verdicts for a VM with the fixes
 * (`--fix` applies every fix the helper can make with one prompt).
 *
 * Exit codes as the rest of the CLI: 0 success, 1 a problem the user can fix, 2 internal.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { isUserError, serializeError, VmdeskError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import type { RunCommand } from '../host/host-io.js';
import { nodeRunCommand } from '../host/node-host-io.js';
import type { Arch, QemuCaps } from '../host/types.js';
import type { NativeHost } from '../../native/index.js';
import {
  applyFixArgs, checkMdev, discoverMdev, etcGroupLookup, findPkexec, findType, fixActions, helperArgs, interactiveRunner,
  locateHelper, nodeMdevFs, rootsFromEnv, runPrivileged,
  type GroupLookup, type MdevCheck, type MdevFs, type MdevInventory, type PrivilegedDeps, type PrivilegedOutcome,
} from '../mdev/index.js';
import { createPciNames } from '../mdev/pci-ids.js';
import { formatChecks, formatInventory, formatTypes } from '../mdev/format.js';
import { UUID_RE } from '../mdev/privileged.js';

export interface MdevCliIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** What `vmdesk mdev` needs from the rest of vmdesk; main.ts adapts the driver link to it. */
export interface MdevCliDeps {
  /** VMDESK_SYSFS_ROOT / VMDESK_DEV_ROOT are read from here. */
  env: NodeJS.ProcessEnv;
  native: NativeHost;
  listVms(): Promise<VmSummary[]>;
  /** By name or id; MUST throw VmdeskError('not-found') for an unknown VM. */
  getVm(ref: string): Promise<VmSummary>;
  /** MUST throw VmdeskError('no-qemu') when there is no QEMU for `arch`. */
  qemuCaps(arch: Arch): Promise<QemuCaps>;
  fs?: MdevFs;
  /** Runs mdevctl. */
  run?: RunCommand;
  privileged?: PrivilegedDeps;
  user?: string;
  kernelRelease?: string;
  cpuVendor?: 'intel' | 'amd';
  groups?: GroupLookup;
  pciIdsPaths?: string[];
  newUuid?: () => string;
}

const USAGE = `Usage:
  vmdesk mdev list [--json]                    parents, existing devices, mdevctl definitions
  vmdesk mdev types [PARENT] [--json]          the types a parent offers, with their details
  vmdesk mdev create --parent PARENT --type TYPE [--uuid UUID] [--persistent] [--json]
  vmdesk mdev remove UUID [--persistent] [--json]
  vmdesk mdev check VM [--fix] [--json]        is the host ready for the VM's mediated devices?
Creating and removing needs root: vmdesk asks through pkexec (one password prompt).
`;

type Values = Record<string, string | boolean | undefined>;

function parse(args: string[], options: Record<string, { type: 'string' | 'boolean' }>): { values: Values; positionals: string[] } {
  try {
    return parseArgs({ args, options: { json: { type: 'boolean' }, ...options }, allowPositionals: true, strict: true }) as { values: Values; positionals: string[] };
  } catch (err) {
    throw new VmdeskError('invalid-argument', `${(err as Error).message}\n${USAGE}`);
  }
}

function noExtra(positionals: string[], max: number): void {
  if (positionals.length > max) throw new VmdeskError('invalid-argument', `Unexpected argument "${positionals[max]}".\n${USAGE}`);
}

async function cpuVendorOf(fs: MdevFs): Promise<'intel' | 'amd' | undefined> {
  const text = await fs.readText('/proc/cpuinfo').catch(() => '');
  return /GenuineIntel/.test(text) ? 'intel' : /AuthenticAMD/.test(text) ? 'amd' : undefined;
}

export async function runMdev(args: string[], io: MdevCliIo, deps: MdevCliDeps): Promise<number> {
  const [sub, ...rest] = args;
  let json = false;
  const fs = deps.fs ?? nodeMdevFs;
  const roots = rootsFromEnv(deps.env);
  const inventory = async (): Promise<MdevInventory> => {
    const vms = (await deps.listVms()).flatMap((v) => (v.definition ? [v.definition] : []));
    return discoverMdev({ fs, roots, vms, run: deps.run ?? nodeRunCommand, pciNames: createPciNames(fs, deps.pciIdsPaths) });
  };
  const privileged = (): PrivilegedDeps => deps.privileged ?? { helper: locateHelper(), pkexec: findPkexec(), run: interactiveRunner };
  const print = (value: unknown, text: string) => io.out.write(json ? JSON.stringify(value, null, 2) + '\n' : text);
  try {
    switch (sub) {
      case undefined:
      case 'help':
      case '--help':
        io.out.write(USAGE);
        return sub ? 0 : 1;
      case 'list': {
        const a = parse(rest, {});
        json = !!a.values.json;
        noExtra(a.positionals, 0);
        const inv = await inventory();
        print(inv, formatInventory(inv));
        return 0;
      }
      case 'types': {
        const a = parse(rest, {});
        json = !!a.values.json;
        noExtra(a.positionals, 1);
        const inv = await inventory();
        const parent = a.positionals[0];
        if (parent && !inv.parents.some((p) => p.name === parent)) {
          throw new VmdeskError('not-found', `No mdev parent named ${parent}. The parents here: ${inv.parents.map((p) => p.name).join(', ') || 'none'}.`);
        }
        print(inv.parents.filter((p) => !parent || p.name === parent), formatTypes(inv, parent));
        return 0;
      }
      case 'create': {
        const a = parse(rest, { parent: { type: 'string' }, type: { type: 'string' }, uuid: { type: 'string' }, persistent: { type: 'boolean' } });
        json = !!a.values.json;
        noExtra(a.positionals, 0);
        const parent = a.values.parent as string | undefined;
        const type = a.values.type as string | undefined;
        if (!parent || !type) throw new VmdeskError('invalid-argument', `\`vmdesk mdev create\` needs --parent and --type (see \`vmdesk mdev types\`).`);
        const uuid = ((a.values.uuid as string | undefined) ?? (deps.newUuid ?? randomUUID)()).toLowerCase();
        const inv = await inventory();
        preflightCreate(inv, parent, type, uuid);
        const outcome = await runPrivileged(privileged(), helperArgs({ kind: 'create', parent, type, uuid, persistent: !!a.values.persistent }));
        settle(outcome, `create ${uuid}`);
        const dev = (await inventory()).devices.find((d) => d.uuid === uuid);
        if (!dev) throw new VmdeskError('internal', `The helper reported success but ${uuid} does not appear in /sys/bus/mdev/devices.`);
        print(dev, `Created ${uuid} (${type} on ${parent}, IOMMU group ${dev.iommuGroup ?? '?'}).\n`);
        return 0;
      }
      case 'remove': {
        const a = parse(rest, { persistent: { type: 'boolean' } });
        json = !!a.values.json;
        noExtra(a.positionals, 1);
        const uuid = a.positionals[0]?.toLowerCase();
        if (!uuid || !UUID_RE.test(uuid)) throw new VmdeskError('invalid-argument', `\`vmdesk mdev remove\` takes the UUID of a device (see \`vmdesk mdev list\`)${uuid ? `, not "${uuid}"` : ''}.`);
        const inv = await inventory();
        const dev = inv.devices.find((d) => d.uuid === uuid);
        const defined = inv.mdevctl.definitions.some((d) => d.uuid === uuid);
        if (!dev && !(a.values.persistent && defined)) throw new VmdeskError('not-found', `There is no mediated device ${uuid}.`);
        const running = (await deps.listVms()).find((v) => v.state !== 'stopped' && v.state !== 'broken' && v.state !== 'crashed' && v.definition?.mdevs.some((m) => m.uuid.toLowerCase() === uuid));
        if (running) throw new VmdeskError('invalid-state', `${uuid} is in use by "${running.name}" (${running.state}). Shut it down first.`);
        settle(await runPrivileged(privileged(), helperArgs({ kind: 'remove', uuid, persistent: !!a.values.persistent })), `remove ${uuid}`);
        print({ uuid }, `Removed ${uuid}.${dev?.usedBy.length ? ` It is still assigned to ${dev.usedBy.map((v) => `"${v.name}"`).join(', ')}, which cannot start until it gets a device again.` : ''}\n`);
        return 0;
      }
      case 'check': {
        const a = parse(rest, { fix: { type: 'boolean' } });
        json = !!a.values.json;
        noExtra(a.positionals, 1);
        if (!a.positionals[0]) throw new VmdeskError('invalid-argument', '`vmdesk mdev check` takes a VM (a name or an id).');
        const vm = await deps.getVm(a.positionals[0]);
        let checks = await runChecks(vm);
        if (a.values.fix) {
          const actions = fixActions(checks);
          if (actions.length > 0) {
            settle(await runPrivileged(privileged(), applyFixArgs(actions)), 'apply the fixes');
            checks = await runChecks(vm);
          } else if (!json) io.err.write('Nothing here can be fixed by vmdesk itself; the fixes below say what to do.\n');
        }
        const none = vm.definition?.mdevs.length === 0 ? `"${vm.name}" has no mediated devices assigned; these are the host's checks only.\n` : '';
        print({ vm: vm.name, ready: !checks.some((c) => c.status === 'fail'), checks }, none + formatChecks(vm.name, checks) + hint(vm.name, checks, !!a.values.fix));
        return checks.some((c) => c.status === 'fail') ? 1 : 0;
      }
      default:
        throw new VmdeskError('invalid-argument', `Unknown mdev command "${sub}".\n${USAGE}`);
    }
  } catch (err) {
    const e = serializeError(err);
    io.err.write(`vmdesk: ${e.message}\n`);
    if (json) io.out.write(JSON.stringify({ error: e }) + '\n');
    return isUserError(e.code) ? 1 : 2;
  }

  async function runChecks(vm: VmSummary): Promise<MdevCheck[]> {
    const def = vm.definition;
    if (!def) throw new VmdeskError('vm-broken', `"${vm.name}" cannot be read: ${vm.reason ?? 'broken definition'}.`);
    const all = await deps.listVms();
    const caps = await deps.qemuCaps(def.arch).catch((err: unknown) => ({ error: (err as Error).message }));
    return checkMdev({
      fs, roots, native: deps.native, groups: deps.groups ?? etcGroupLookup(fs), user: deps.user ?? os.userInfo().username,
      kernelRelease: deps.kernelRelease ?? os.release(), cpuVendor: deps.cpuVendor ?? (await cpuVendorOf(fs)),
      vm: def, caps, inventory: await inventory(),
      others: all.flatMap((v) => (v.definition && v.id !== def.id ? [{ id: v.id, name: v.name, running: !['stopped', 'broken', 'crashed'].includes(v.state), mdevs: v.definition.mdevs }] : [])),
    });
  }
}

function hint(vmName: string, checks: readonly MdevCheck[], fixed: boolean): string {
  if (!checks.some((c) => c.status === 'fail')) return '';
  const fixable = fixActions(checks).length;
  if (fixable === 0 || fixed) return '';
  return `\nApply the fixes vmdesk can make (${fixable}) with one password prompt: vmdesk mdev check "${vmName}" --fix\n`;
}

/** Refuses a create the kernel would refuse, with the reason, before any password prompt. */
function preflightCreate(inv: MdevInventory, parent: string, type: string, uuid: string): void {
  if (!UUID_RE.test(uuid)) throw new VmdeskError('invalid-argument', `"${uuid}" is not a UUID.`);
  const p = inv.parents.find((x) => x.name === parent);
  if (!p) throw new VmdeskError('not-found', `No mdev parent named ${parent}. The parents here: ${inv.parents.map((x) => x.name).join(', ') || 'none'}.`);
  const t = findType(inv, parent, type);
  if (!t) throw new VmdeskError('not-found', `${parent} has no type ${type}; it offers ${p.types.map((x) => x.id).join(', ') || 'none'}.`);
  if (!t.canCreate) throw new VmdeskError('unsupported', `${type} on ${parent} has no create file, so the kernel cannot create it.`);
  if (t.availableInstances === 0) throw new VmdeskError('insufficient-resources', `No ${type} instances are left on ${parent}. Remove an unused device (vmdesk mdev list) or pick a smaller type.`);
  if (inv.devices.some((d) => d.uuid === uuid)) throw new VmdeskError('invalid-argument', `A mediated device ${uuid} already exists.`);
}

/** Turns a helper outcome into success or a user error naming what to do. */
function settle(o: PrivilegedOutcome, what: string): void {
  if (o.status === 'done') return;
  if (o.status === 'manual') throw new VmdeskError('unsupported', `pkexec is not installed, so vmdesk cannot ask for the password to ${what}. Run this yourself:\n  ${o.command}`);
  if (o.status === 'cancelled') throw new VmdeskError('cancelled', o.message);
  throw new VmdeskError('unsupported', `Could not ${what}: ${o.message}`, { command: o.command });
}
