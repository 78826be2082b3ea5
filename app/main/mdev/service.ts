/**
 * The mdev operations behind both `vmdesk mdev` (in the CLI's own process, where pkexec's text
 * agent can use the terminal) and the contract's `mdev.*` calls (in the driver, where a desktop
 * polkit agent asks). One implementation, so the CLI and the wizard give the same verdicts.
 *
 * MUST NOT write anything itself: creating, removing and fixing go through the privileged helper.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { VmdeskError } from '../common/errors.js';
import { isUuid } from '../common/names.js';
import type { MdevAssignment, VmSummary } from '../common/vm-types.js';
import type { RunCommand } from '../host/host-io.js';
import { nodeRunCommand } from '../host/node-host-io.js';
import type { Arch, QemuCaps } from '../common/host-types.js';
import type { NativeHost } from '../../native/index.js';
import { discoverMdev, findType } from './discover.js';
import { checkMdev, fixActions } from './doctor.js';
import { etcGroupLookup, type GroupLookup } from './host-checks.js';
import { createPciNames } from './pci-ids.js';
import { applyFixArgs, helperArgs, runPrivileged, type PrivilegedDeps, type PrivilegedOutcome } from './privileged.js';
import { nodeMdevFs, rootsFromEnv, type MdevFs, type MdevRoots } from './sysfs-io.js';
import type {
  MdevCheckReport,
  MdevDevice,
  MdevFixAction,
  MdevInventory,
  MdevParent,
  MdevPrivilegedResult,
} from '../common/mdev-types.js';

export type { MdevCheckReport, MdevPrivilegedResult } from '../common/mdev-types.js';

export interface MdevServiceDeps {
  /** VMDESK_SYSFS_ROOT / VMDESK_DEV_ROOT are read from here. */
  env: NodeJS.ProcessEnv;
  native: NativeHost;
  listVms(): Promise<VmSummary[]>;
  /** By name or id; MUST throw VmdeskError('not-found') for an unknown VM. */
  getVm(ref: string): Promise<VmSummary>;
  /** MUST throw VmdeskError('no-qemu') when there is no QEMU for `arch`. */
  qemuCaps(arch: Arch): Promise<QemuCaps>;
  /** How root is asked: pkexec with the terminal (CLI) or with the desktop's agent (driver).
   * Called only when a privileged step is about to run; MAY throw a user error (an untrusted helper). */
  privileged(): PrivilegedDeps;
  /** The driver's VmManager.updateMdevs (assign and unassign change a definition the driver owns). */
  updateMdevs?(
    ref: string,
    change: (current: readonly MdevAssignment[], vm: { id: string; name: string }) => MdevAssignment[],
  ): VmSummary | Promise<VmSummary>;
  fs?: MdevFs;
  /** Runs mdevctl. */
  run?: RunCommand;
  user?: string;
  kernelRelease?: string;
  cpuVendor?: 'intel' | 'amd';
  groups?: GroupLookup;
  pciIdsPaths?: string[];
  newUuid?: () => string;
}

export interface MdevCreateRequest {
  parent: string;
  type: string;
  uuid?: string;
  persistent?: boolean;
}

/** What the wizard proposes before anything is saved: checked instead of the VM's own list. */
export type MdevProposal = readonly MdevAssignment[] | undefined;

export interface MdevService {
  inventory(): Promise<MdevInventory>;
  /** One parent's types, or every parent's; not-found for an unknown parent. */
  types(parent?: string): Promise<MdevParent[]>;
  check(vmRef: string, proposal?: MdevProposal): Promise<MdevCheckReport>;
  create(req: MdevCreateRequest): Promise<MdevPrivilegedResult<MdevDevice>>;
  remove(req: {
    uuid: string;
    persistent?: boolean;
  }): Promise<MdevPrivilegedResult<{ uuid: string; stillAssignedTo: string[] }>>;
  /**
   * Every fix the helper can make for the VM (or the proposal), in one prompt; then the checks
   * again. `persistent`: devices it creates are defined in mdevctl too (they come back at boot).
   */
  applyFixes(
    vmRef: string,
    proposal?: MdevProposal,
    options?: { persistent?: boolean },
  ): Promise<MdevPrivilegedResult<MdevCheckReport>>;
  /** Runs these helper actions (a report's fixActions, from wherever it was made) in one prompt. */
  applyActions(
    actions: readonly MdevFixAction[],
    options?: { persistent?: boolean },
  ): Promise<MdevPrivilegedResult<undefined>>;
  /**
   * Adds a device to a stopped VM: a new UUID unless given (it need not exist yet), with the display its type allows.
   */
  assign(vmRef: string, req: { parent: string; type: string; uuid?: string; display?: boolean }): Promise<VmSummary>;
  /** Takes a device off a stopped VM; the device itself stays on the host. */
  unassign(vmRef: string, uuid: string): Promise<VmSummary>;
}

const inactive = (s: VmSummary['state']) => s === 'stopped' || s === 'broken' || s === 'crashed';

export function createMdevService(deps: MdevServiceDeps): MdevService {
  const fs = deps.fs ?? nodeMdevFs;
  const roots: MdevRoots = rootsFromEnv(deps.env);
  const newUuid = deps.newUuid ?? randomUUID;
  // One administrator prompt at a time: a second request (another window, a web client) is
  // refused rather than stacking password dialogs on the desktop.
  let prompting = false;
  const asRoot = async (args: string[]): Promise<PrivilegedOutcome> => {
    if (prompting)
      throw new VmdeskError(
        'invalid-state',
        'An administrator password prompt from vmdesk is already open. Answer or dismiss it first.',
      );
    prompting = true;
    try {
      return await runPrivileged(deps.privileged(), args);
    } finally {
      prompting = false;
    }
  };

  const inventory = async (vms?: VmSummary[]): Promise<MdevInventory> => {
    const defs = (vms ?? (await deps.listVms())).flatMap((v) => (v.definition ? [v.definition] : []));
    return discoverMdev({
      fs,
      roots,
      vms: defs,
      run: deps.run ?? nodeRunCommand,
      pciNames: createPciNames(fs, deps.pciIdsPaths),
    });
  };

  /** The given helper actions (a report's fixActions) in one prompt. */
  async function applyActions(
    fix: readonly MdevFixAction[],
    options?: { persistent?: boolean },
  ): Promise<MdevPrivilegedResult<undefined>> {
    const actions = fix.map((a) => (a.kind === 'create' && options?.persistent ? { ...a, persistent: true } : a));
    // Whatever the kernel would refuse is refused here, before anyone types a password.
    const inv = await inventory();
    for (const a of actions) if (a.kind === 'create') preflightCreate(inv, a.parent, a.type, a.uuid);
    const outcome = await asRoot(applyFixArgs(actions));
    if (outcome.status === 'manual') return { outcome: 'manual', command: outcome.command };
    settle(outcome, 'apply the fixes');
    return { outcome: 'done', result: undefined };
  }

  async function check(vmRef: string, proposal?: MdevProposal): Promise<MdevCheckReport> {
    const vm = await deps.getVm(vmRef);
    const def = vm.definition;
    if (!def) throw new VmdeskError('vm-broken', `"${vm.name}" cannot be read: ${vm.reason ?? 'broken definition'}.`);
    const all = await deps.listVms();
    const caps = await deps.qemuCaps(def.arch).catch((err: unknown) => ({ error: (err as Error).message }));
    const checks = await checkMdev({
      fs,
      roots,
      native: deps.native,
      groups: deps.groups ?? etcGroupLookup(fs),
      user: deps.user ?? os.userInfo().username,
      kernelRelease: deps.kernelRelease ?? os.release(),
      cpuVendor: deps.cpuVendor ?? (await cpuVendorOf(fs)),
      vm: def,
      caps,
      inventory: await inventory(all),
      ...(proposal ? { assignments: proposal } : {}),
      others: all.flatMap((v) =>
        v.definition && v.id !== def.id
          ? [{ id: v.id, name: v.name, running: !inactive(v.state), mdevs: v.definition.mdevs }]
          : [],
      ),
    });
    return {
      vm: vm.name,
      ready: !checks.some((c) => c.status === 'fail'),
      checks,
      fixActions: fixActions(checks),
      hostOnly: (proposal ?? def.mdevs).length === 0,
    };
  }

  return {
    inventory: () => inventory(),

    async types(parent) {
      const inv = await inventory();
      return parent ? [requireParent(inv, parent)] : inv.parents;
    },

    check,

    async create(req) {
      const uuid = (req.uuid ?? newUuid()).toLowerCase();
      preflightCreate(await inventory(), req.parent, req.type, uuid);
      const outcome = await asRoot(
        helperArgs({ kind: 'create', parent: req.parent, type: req.type, uuid, persistent: !!req.persistent }),
      );
      if (outcome.status === 'manual') return { outcome: 'manual', command: outcome.command };
      settle(outcome, `create ${uuid}`);
      const dev = (await inventory()).devices.find((d) => d.uuid === uuid);
      if (!dev)
        throw new VmdeskError(
          'internal',
          `The helper reported success but ${uuid} does not appear in /sys/bus/mdev/devices.`,
        );
      return { outcome: 'done', result: dev };
    },

    async remove(req) {
      const uuid = req.uuid.toLowerCase();
      if (!isUuid(uuid))
        throw new VmdeskError(
          'invalid-argument',
          `"${req.uuid}" is not the UUID of a mediated device (see \`vmdesk mdev list\`).`,
        );
      const vms = await deps.listVms();
      const inv = await inventory(vms);
      const dev = inv.devices.find((d) => d.uuid === uuid);
      const defined = inv.mdevctl.definitions.some((d) => d.uuid === uuid);
      if (!dev && !(req.persistent && defined))
        throw new VmdeskError('not-found', `There is no mediated device ${uuid}.`);
      const running = vms.find(
        (v) => !inactive(v.state) && v.definition?.mdevs.some((m) => m.uuid.toLowerCase() === uuid),
      );
      if (running)
        throw new VmdeskError(
          'invalid-state',
          `${uuid} is in use by "${running.name}" (${running.state}). Shut it down first.`,
        );
      const outcome = await asRoot(helperArgs({ kind: 'remove', uuid, persistent: !!req.persistent }));
      if (outcome.status === 'manual') return { outcome: 'manual', command: outcome.command };
      settle(outcome, `remove ${uuid}`);
      return { outcome: 'done', result: { uuid, stillAssignedTo: dev?.usedBy.map((v) => v.name) ?? [] } };
    },

    async applyFixes(vmRef, proposal, options) {
      const before = await check(vmRef, proposal);
      if (before.fixActions.length === 0) return { outcome: 'done', result: before };
      const r = await applyActions(before.fixActions, options);
      return r.outcome === 'manual' ? r : { outcome: 'done', result: await check(vmRef, proposal) };
    },

    applyActions,

    async assign(vmRef, req) {
      const update = requireUpdate(deps);
      const inv = await inventory();
      const parent = requireParent(inv, req.parent);
      const type = findType(inv, req.parent, req.type);
      if (!type)
        throw new VmdeskError(
          'not-found',
          `${req.parent} has no type ${req.type}; it offers ${parent.types.map((t) => t.id).join(', ') || 'none'}.`,
        );
      if (type.deviceApi !== undefined && type.deviceApi !== 'vfio-pci') {
        throw new VmdeskError(
          'unsupported',
          `${req.type} is a ${type.deviceApi} device; vmdesk can only assign vfio-pci devices.`,
        );
      }
      const uuid = (req.uuid ?? newUuid()).toLowerCase();
      if (!isUuid(uuid)) throw new VmdeskError('invalid-argument', `"${req.uuid}" is not a UUID.`, { field: 'uuid' });
      const dev = inv.devices.find((d) => d.uuid === uuid);
      if (dev && (dev.type !== req.type || dev.parent !== req.parent)) {
        throw new VmdeskError(
          'invalid-argument',
          `${uuid} is a ${dev.type ?? '?'} on ${dev.parent ?? '?'}, not a ${req.type} on ${req.parent}.`,
          { field: 'uuid' },
        );
      }
      const a: MdevAssignment = {
        uuid,
        parent: req.parent,
        type: req.type,
        display: (req.display ?? true) && type.display !== 'none',
      };
      return update(vmRef, (current) => [...current, a]);
    },

    async unassign(vmRef, uuid) {
      const u = uuid.toLowerCase();
      return requireUpdate(deps)(vmRef, (current, vm) => {
        if (!current.some((a) => a.uuid === u))
          throw new VmdeskError('not-found', `"${vm.name}" has no mediated device ${u}.`);
        return current.filter((a) => a.uuid !== u);
      });
    },
  };
}

function requireUpdate(deps: MdevServiceDeps): NonNullable<MdevServiceDeps['updateMdevs']> {
  if (!deps.updateMdevs)
    throw new VmdeskError('internal', 'Assigning mediated devices needs the driver (updateMdevs is not wired here).');
  return deps.updateMdevs;
}

function requireParent(inv: MdevInventory, name: string): MdevParent {
  const p = inv.parents.find((x) => x.name === name);
  if (!p)
    throw new VmdeskError(
      'not-found',
      `No mdev parent named ${name}. The parents here: ${inv.parents.map((x) => x.name).join(', ') || 'none'}.`,
    );
  return p;
}

async function cpuVendorOf(fs: MdevFs): Promise<'intel' | 'amd' | undefined> {
  const text = await fs.readText('/proc/cpuinfo').catch(() => '');
  return /GenuineIntel/.test(text) ? 'intel' : /AuthenticAMD/.test(text) ? 'amd' : undefined;
}

/** Refuses a create the kernel would refuse, with the reason, before any password prompt. */
export function preflightCreate(inv: MdevInventory, parent: string, type: string, uuid: string): void {
  if (!isUuid(uuid)) throw new VmdeskError('invalid-argument', `"${uuid}" is not a UUID.`);
  const p = requireParent(inv, parent);
  const t = findType(inv, parent, type);
  if (!t)
    throw new VmdeskError(
      'not-found',
      `${parent} has no type ${type}; it offers ${p.types.map((x) => x.id).join(', ') || 'none'}.`,
    );
  if (!t.canCreate)
    throw new VmdeskError('unsupported', `${type} on ${parent} has no create file, so the kernel cannot create it.`);
  if (t.availableInstances === 0)
    throw new VmdeskError(
      'insufficient-resources',
      `No ${type} instances are left on ${parent}. Remove an unused device (vmdesk mdev list) or pick a smaller type.`,
    );
  if (inv.devices.some((d) => d.uuid === uuid))
    throw new VmdeskError('invalid-argument', `A mediated device ${uuid} already exists.`);
}

/** Turns a failed or cancelled helper run into a user error naming what to do. */
function settle(o: Exclude<PrivilegedOutcome, { status: 'manual' }>, what: string): void {
  if (o.status === 'done') return;
  if (o.status === 'cancelled') throw new VmdeskError('cancelled', o.message);
  throw new VmdeskError('unsupported', `Could not ${what}: ${o.message}`, { command: o.command });
}

/** The CLI's wording for a step that needs pasting (no pkexec). */
export function manualError(command: string, what: string): VmdeskError {
  return new VmdeskError(
    'unsupported',
    `pkexec is not installed, so vmdesk cannot ask for the password to ${what}. Run this yourself:\n  ${command}`,
  );
}
